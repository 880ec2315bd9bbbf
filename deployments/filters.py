import uuid

import django_filters
from django.db.models import Q

from core.filters import CreatedRangeFilterSet
from deployments.models import UseCaseDeployment


class DeploymentFilterSet(CreatedRangeFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=UseCaseDeployment.Status.choices)
    template = django_filters.CharFilter(method="filter_template", label="Template id")
    template_id = django_filters.CharFilter(method="filter_template", label="Template id")
    project_id = django_filters.UUIDFilter(field_name="project_id")
    cluster_id = django_filters.UUIDFilter(field_name="cluster_id")
    project = django_filters.UUIDFilter(field_name="project_id")
    cluster = django_filters.UUIDFilter(field_name="cluster_id")
    usecase_id = django_filters.CharFilter(field_name="usecase_id", label="SLO catalog use case (unique_id)")
    q = django_filters.CharFilter(method="filter_q", label="Text in name")

    class Meta:
        model = UseCaseDeployment
        fields = []

    def filter_template(self, queryset, name, value):
        """A template's API id: a system template's slug, or a user template's UUID."""
        try:
            return queryset.filter(template_id=uuid.UUID(value))
        except ValueError:
            return queryset.filter(template__slug=value, template__tenant__isnull=True)

    def filter_q(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(status_message__icontains=value))
