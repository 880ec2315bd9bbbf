"""Pages of the catalog's list and search: a bounded count (exact, or an estimate flagged `count_exact: false`)."""

from rest_framework.response import Response

from core.api.pagination import LimitOffsetPagination
from core.renderers import RenderedJSON
from usecases import selectors
from usecases.api import rendering


class CatalogPagination(LimitOffsetPagination):
    """GET /api/usecases: limit (default 50, at most 1000) and offset; the rows are dicts (selectors.SearchPage)."""

    def paginate_queryset(self, queryset, request, view=None):
        """The page (selectors.SearchPage): written as JSON by PostgreSQL where rendering.page_json_applies, else
        as rows for usecases.api.serializers.usecase_rows_data."""
        self.request = request
        self.limit = self.get_limit(request)
        self.offset = self.get_offset(request)
        row_json = rendering.row_json_sql() if rendering.page_json_applies() else None
        page = selectors.usecase_search_page(queryset=queryset, limit=self.limit, offset=self.offset, row_json=row_json)
        self.count, self.count_exact = page.count, page.count_exact
        if self.count > self.limit and self.template is not None:
            self.display_page_controls = True
        return page

    def get_written_response(self, rows_json: str) -> Response:
        """get_paginated_response's answer around rows PostgreSQL wrote, as the bytes DRF's renderer would write."""
        return Response(
            RenderedJSON(
                rendering.envelope(
                    count=self.count,
                    count_exact=self.count_exact,
                    next_link=self.get_next_link(),
                    previous_link=self.get_previous_link(),
                    rows=rendering.finish_rows(rows_json),
                )
            )
        )

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
