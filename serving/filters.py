import django_filters

from core.filters import CreatedRangeFilterSet
from serving.models import DeploymentKey


class DeploymentKeyFilterSet(CreatedRangeFilterSet):
    is_active = django_filters.BooleanFilter(
        field_name="revoked_at", lookup_expr="isnull", help_text="true: live keys only; false: revoked ones."
    )
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", help_text="Part of the key's name.")

    class Meta:
        model = DeploymentKey
        fields = ["is_active", "q"]
