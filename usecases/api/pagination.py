"""Pages of the catalog's list and search: a bounded count (exact, or an estimate flagged `count_exact: false`)."""

from rest_framework.response import Response

from core.api.pagination import LimitOffsetPagination
from usecases import selectors


class CatalogPagination(LimitOffsetPagination):
    """GET /api/usecases: limit (default 50, at most 1000) and offset; the rows are dicts (selectors.SearchPage)."""

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.limit = self.get_limit(request)
        self.offset = self.get_offset(request)
        page = selectors.usecase_search_page(queryset=queryset, limit=self.limit, offset=self.offset)
        self.count, self.count_exact = page.count, page.count_exact
        if self.count > self.limit and self.template is not None:
            self.display_page_controls = True
        return page.rows

    def get_paginated_response(self, data):
        return Response(
            {
                "count": self.count,
                "count_exact": self.count_exact,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        schema = super().get_paginated_response_schema(schema)
        properties = dict(schema["properties"])
        properties["count"] = {
            **properties["count"],
            "description": "The number of matches: exact when count_exact, otherwise PostgreSQL's estimate.",
        }
        schema["properties"] = {
            "count": properties.pop("count"),
            "count_exact": {
                "type": "boolean",
                "description": "False when the search matches more than USECASE_SEARCH_EXACT_COUNT use cases (and "
                "more than offset + limit): count is then an estimate, never below that bound.",
                "example": True,
            },
            **properties,
        }
        schema["required"] = ["count", "count_exact", "results"]
        return schema


class SearchPagination(CatalogPagination):
    """limit 1-1000 (default 100), offset >= 0; out-of-range values are a 400, not silently clamped."""

    default_limit = 100
    max_limit = selectors.SEARCH_LIMIT_MAX
    refuse_above_max = True
