import django_filters

from autoscaling.models import ScalingDecision


class ScalingDecisionFilterSet(django_filters.FilterSet):
    component = django_filters.CharFilter(field_name="component_key")
    direction = django_filters.MultipleChoiceFilter(choices=ScalingDecision.Direction.choices)
    outcome = django_filters.MultipleChoiceFilter(choices=ScalingDecision.Outcome.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = ScalingDecision
        fields = ["component", "direction", "outcome", "created_after", "created_before"]
