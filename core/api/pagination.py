"""Limit/offset pagination: {count, next, previous, results}; default 50, at most 1000 per page."""

from rest_framework.pagination import LimitOffsetPagination as _LimitOffsetPagination


class LimitOffsetPagination(_LimitOffsetPagination):
    default_limit = 50
    max_limit = 1000
