"""Query parameters are checked like bodies: one an endpoint does not take, or an ordering by a field it cannot
sort on, is a 400 naming it, never silently ignored."""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend, OrderingFilter

ALWAYS_ALLOWED = frozenset({"format"})  # DRF's renderer choice (?format=json / api)


class StrictOrderingFilter(OrderingFilter):
    """`?ordering=a,-b` over the endpoint's ordering fields; another field is a 400 that lists the valid ones."""

    def valid_names(self, queryset, view, request) -> list[str]:
        return sorted(name for name, _ in self.get_valid_fields(queryset, view, {"request": request}))

    def get_ordering(self, request, queryset, view):
        raw = request.query_params.get(self.ordering_param)
        if raw:
            valid = set(self.valid_names(queryset, view, request))
            wrong = [term for term in (t.strip() for t in raw.split(",")) if term.lstrip("-") not in valid]
            if wrong:
                choices = ", ".join(sorted(valid)) or "none"
                raise ValidationError(
                    {self.ordering_param: [f"Cannot order by {', '.join(wrong)}. Order by one of: {choices}."]}
                )
        return super().get_ordering(request, queryset, view)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        fields = getattr(view, "ordering_fields", None)
        if isinstance(fields, list | tuple) and fields:
            terms = "|".join(fields)
            for parameter in parameters:
                parameter["schema"]["pattern"] = rf"^-?({terms})(,-?({terms}))*$"
                parameter["description"] = f"Comma-separated, '-' for descending; fields: {', '.join(fields)}."
        return parameters


def allowed_query_params(view, queryset) -> set[str]:
    """What the endpoint reads from the query string: its filters, ordering, pagination and declared extras."""
    extra = getattr(view, "extra_query_params", {})  # {action: (names)}: what an action reads by hand
    allowed = set(ALWAYS_ALLOWED) | set(extra.get(getattr(view, "action", None), ()))
    for backend in getattr(view, "filter_backends", ()):
        if issubclass(backend, DjangoFilterBackend):
            filterset = backend().get_filterset_class(view, queryset)
            if filterset is not None:
                allowed |= set(filterset.base_filters)
        elif issubclass(backend, OrderingFilter):
            allowed.add(backend.ordering_param)
    paginator = getattr(view, "paginator", None)
    if paginator is not None:
        allowed |= {
            getattr(paginator, name)
            for name in ("limit_query_param", "offset_query_param", "page_query_param", "page_size_query_param")
            if getattr(paginator, name, None)
        }
    return allowed


class KnownQueryParamsFilter(BaseFilterBackend):
    """A query parameter the endpoint does not read is a 400 ("Unknown query parameter."), as an unknown body
    field is. Runs for lists and for the object of a detail route (get_object filters too)."""

    def filter_queryset(self, request, queryset, view):
        unknown = sorted(set(request.query_params) - allowed_query_params(view, queryset))
        if unknown:
            raise ValidationError({name: ["Unknown query parameter."] for name in unknown})
        return queryset
