import django_filters

from core.filters import CreatedRangeFilterSet
from observability.models import Alert, AlertRule, NotificationChannel


class AlertFilterSet(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=Alert.State.choices)
    severity = django_filters.MultipleChoiceFilter(field_name="rule__severity", choices=AlertRule.Severity.choices)
    deployment_id = django_filters.UUIDFilter(field_name="deployment_id")
    fired_after = django_filters.IsoDateTimeFilter(field_name="fired_at", lookup_expr="gte")
    fired_before = django_filters.IsoDateTimeFilter(field_name="fired_at", lookup_expr="lt")

    class Meta:
        model = Alert
        fields = ["state", "severity", "deployment_id"]


class AlertRuleFilterSet(CreatedRangeFilterSet):
    deployment_id = django_filters.UUIDFilter(field_name="deployment_id")
    kind = django_filters.MultipleChoiceFilter(choices=AlertRule.Kind.choices)

    class Meta:
        model = AlertRule
        fields = ["deployment_id", "kind", "enabled"]


class NotificationChannelFilterSet(CreatedRangeFilterSet):
    tenant_id = django_filters.UUIDFilter(field_name="tenant_id")
    kind = django_filters.MultipleChoiceFilter(choices=NotificationChannel.Kind.choices)

    class Meta:
        model = NotificationChannel
        fields = ["tenant_id", "kind", "enabled"]
