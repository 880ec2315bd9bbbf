import django_filters
from django.db.models import Q

from audit.models import AuditEvent
from core.filters import UtcDateTimeFilter


class AuditEventFilterSet(django_filters.FilterSet):
    """`actor` (username or user id), `object_type`, `object_id`, `from` / `to` (ISO times), and the rest."""

    actor = django_filters.CharFilter(method="filter_actor", help_text="Username or user id of who acted.")
    object_type = django_filters.CharFilter(help_text="app_label.model, e.g. deployments.usecasedeployment")
    object_id = django_filters.CharFilter()
    tenant_id = django_filters.UUIDFilter(field_name="tenant_id")
    action = django_filters.CharFilter()
    source = django_filters.MultipleChoiceFilter(choices=AuditEvent.Source.choices)
    to = UtcDateTimeFilter(field_name="at", lookup_expr="lt", help_text="Events before this time.")

    class Meta:
        model = AuditEvent
        fields = []

    def filter_actor(self, queryset, name, value):
        condition = Q(actor_username=value)
        if value.isdigit():
            condition |= Q(actor_id=int(value))
        return queryset.filter(condition)


# `from` is a Python keyword, so it cannot be declared in the class body.
AuditEventFilterSet.base_filters["from"] = UtcDateTimeFilter(
    field_name="at", lookup_expr="gte", help_text="Events at or after this time."
)
