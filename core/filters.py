"""Filter names shared by every list endpoint: created_after / created_before."""

from datetime import UTC

import django_filters
from django import forms


class UtcDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 date-time, turned into UTC: any offset Python reads is fine (the database accepts only
    offsets up to ±15:59, so "0722-11-25T14:29:55-20:56" would otherwise fail in the query)."""

    def clean(self, value):
        parsed = super().clean(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError("Out of the supported range of dates.") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class CreatedRangeFilterSet(django_filters.FilterSet):
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")
