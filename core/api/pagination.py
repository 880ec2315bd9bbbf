"""Limit/offset pagination: {count, next, previous, results}; default 50, at most 1000 per page (a larger limit is
capped, as documented), offset >= 0. A limit below 1, a negative offset or a value that is not a whole number is a
400 naming the parameter, never silently ignored."""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination as _LimitOffsetPagination


class LimitOffsetPagination(_LimitOffsetPagination):
    default_limit = 50
    max_limit = 1000
    refuse_above_max = False  # True: a limit above max_limit is a 400 instead of capped

    def _bounded(self, request, name: str, default: int, low: int, high: int | None) -> int:
        raw = request.query_params.get(name)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ValidationError({name: ["A whole number is required."]}) from None
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"{low} or more"
            raise ValidationError({name: [f"Must be {bound}."]})
        return value

    def get_limit(self, request):
        high = self.max_limit if self.refuse_above_max else None
        return min(self._bounded(request, self.limit_query_param, self.default_limit, 1, high), self.max_limit)

    def get_offset(self, request):
        return self._bounded(request, self.offset_query_param, 0, 0, None)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"].update(minimum=1, default=self.default_limit)
                if self.refuse_above_max:
                    parameter["schema"]["maximum"] = self.max_limit
            elif parameter["name"] == self.offset_query_param:
                parameter["schema"].update(minimum=0, default=0)
        return parameters
