import django_filters

from core.filters import CreatedRangeFilterSet
from tenancy.models import Membership, Project, Tenant


class TenantFilterSet(CreatedRangeFilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains")

    class Meta:
        model = Tenant
        fields = []


class ProjectFilterSet(CreatedRangeFilterSet):
    tenant_id = django_filters.UUIDFilter(field_name="tenant_id")
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains")
    name = django_filters.CharFilter(field_name="name", help_text="Exactly this name.")

    class Meta:
        model = Project
        fields = []


class MembershipFilterSet(django_filters.FilterSet):
    role = django_filters.MultipleChoiceFilter(choices=Membership.Role.choices)

    class Meta:
        model = Membership
        fields = []
