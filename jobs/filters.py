import django_filters
from django.db import connections
from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import Exact

from core.exceptions import ValidationError
from core.filters import CreatedRangeFilterSet
from jobs.models import Cluster, ClusterQueue, ClusterSet, Job, LocalQueue


class ClusterFilterSet(CreatedRangeFilterSet):
    tenant_id = django_filters.UUIDFilter(field_name="tenant_id")
    status = django_filters.MultipleChoiceFilter(choices=Cluster.Status.choices)
    driver = django_filters.MultipleChoiceFilter(choices=Cluster.Driver.choices)
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains")
    name = django_filters.CharFilter(field_name="name", help_text="Exactly this name.")

    class Meta:
        model = Cluster
        fields = []


class ClusterSetFilterSet(CreatedRangeFilterSet):
    tenant_id = django_filters.UUIDFilter(field_name="tenant_id")
    strategy = django_filters.MultipleChoiceFilter(choices=ClusterSet.Strategy.choices)
    cluster_id = django_filters.UUIDFilter(field_name="clusters", help_text="Sets this cluster is a member of.")
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains")
    name = django_filters.CharFilter(field_name="name", help_text="Exactly this name.")

    class Meta:
        model = ClusterSet
        fields = []


class JobFilterSet(CreatedRangeFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Job.Status.choices)
    job_type = django_filters.MultipleChoiceFilter(choices=Job.JobType.choices)
    source_type = django_filters.MultipleChoiceFilter(choices=Job.SourceType.choices)
    project_id = django_filters.UUIDFilter(field_name="project_id")
    usecase_deployment_id = django_filters.UUIDFilter(field_name="usecase_deployment_id")
    component_deployment_id = django_filters.UUIDFilter(field_name="component_deployment_id")
    cluster_set_id = django_filters.UUIDFilter(field_name="cluster_set_id")
    label = django_filters.CharFilter(
        method="filter_label", help_text="`key=value` or `key` (has the label); repeat to require several."
    )
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains")

    class Meta:
        model = Job
        fields = []

    def filter_label(self, queryset, name, value):
        values = self.data.getlist("label") if hasattr(self.data, "getlist") else [value]
        # The key is a value, never part of a lookup path: `team__regex=(` looks for a label named "team__regex".
        contains = connections[queryset.db].features.supports_json_field_contains
        for item in values:
            key, sep, expected = item.partition("=")
            if not key or len(key) > 253:
                raise ValidationError({"label": f"{item!r}: use key=value or key, with a key of 1 to 253 characters."})
            if not sep:
                queryset = queryset.filter(labels__has_key=key)
            elif contains:
                queryset = queryset.filter(labels__contains={key: expected})
            else:  # SQLite: no JSON containment; compare the key's text value instead
                queryset = queryset.filter(Exact(KeyTextTransform(key, "labels"), expected))
        return queryset


class ClusterQueueFilterSet(CreatedRangeFilterSet):
    cluster_id = django_filters.UUIDFilter(field_name="cluster_id")
    tenant_id = django_filters.UUIDFilter(field_name="tenant_id")
    cohort = django_filters.CharFilter(field_name="cohort")
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains")

    class Meta:
        model = ClusterQueue
        fields = []


class LocalQueueFilterSet(CreatedRangeFilterSet):
    cluster_id = django_filters.UUIDFilter(field_name="cluster_id")
    cluster_queue_id = django_filters.UUIDFilter(field_name="cluster_queue_id")
    tenant_id = django_filters.UUIDFilter(field_name="tenant_id")
    project_id = django_filters.UUIDFilter(field_name="project_id")
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains")

    class Meta:
        model = LocalQueue
        fields = []
