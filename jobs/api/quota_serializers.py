from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.fields import StrictFieldsMixin
from jobs.models import Cluster, ClusterQueue, JobEvent, LocalQueue
from tenancy.api.viewsets import ScopedPrimaryKeyRelatedField
from tenancy.models import Project

QUOTA_HELP = (
    '{"gpus": {"H100-80GB": 8}, "cpu_cores": 64, "memory_gib": 512}: every GPU type one the cluster has. In the '
    "nominal quota a resource left out is not limited by the queue; in a limit, it has no limit."
)


class ResourceUsageSerializer(serializers.Serializer):
    resource = serializers.CharField(help_text='A GPU type, "cpu" (cores) or "memory" (GiB).')
    nominal = serializers.FloatField()
    used = serializers.FloatField(help_text="Held by the queue's admitted jobs now.")
    borrowed = serializers.FloatField(help_text="Used beyond the nominal quota (lent by the cohort).")
    available = serializers.FloatField(help_text="What the queue may still take now, borrowing included.")
    lendable = serializers.FloatField(help_text="Of the nominal quota, what the cohort may borrow.")


class QueueUsageSerializer(serializers.Serializer):
    resources = ResourceUsageSerializer(many=True)
    admitted = serializers.IntegerField(help_text="Jobs admitted (starting or running).")
    waiting = serializers.IntegerField(help_text="Jobs waiting in the queue.")
    share = serializers.FloatField(help_text="Weighted dominant share of the cohort's pool it borrows now.")


class ClusterQueueSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    cluster_id = ScopedPrimaryKeyRelatedField(source="cluster", queryset=Cluster.objects.all())
    tenant_id = serializers.UUIDField(read_only=True)
    cohort = serializers.CharField(
        required=False, allow_blank=True, help_text="Queues of a cohort lend each other their unused quota."
    )
    nominal_quota = serializers.JSONField(help_text=QUOTA_HELP)
    borrowing_limit = serializers.JSONField(
        required=False, help_text="How much beyond its nominal quota it may borrow."
    )
    lending_limit = serializers.JSONField(required=False, help_text="How much of its nominal quota others may borrow.")
    weight = serializers.DecimalField(
        max_digits=8, decimal_places=3, required=False, help_text="Fair-share weight within the cohort (above 0)."
    )
    usage = serializers.SerializerMethodField()

    class Meta:
        model = ClusterQueue
        fields = [
            "id",
            "cluster_id",
            "tenant_id",
            "name",
            "cohort",
            "nominal_quota",
            "borrowing_limit",
            "lending_limit",
            "weight",
            "reclaim_within_cohort",
            "within_cluster_queue",
            "fair_sharing_preemption",
            "usage",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "tenant_id", "created_at", "updated_at"]
        validators = []  # a duplicate name is the service's 409, as for every write that clashes

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        single = self.instance is not None and not isinstance(self.instance, list | tuple)
        if single and getattr(self.instance, "pk", None):  # a queue stays on its cluster
            self.fields["cluster_id"].read_only = True

    @extend_schema_field(QueueUsageSerializer)
    def get_usage(self, queue):
        usage = self.context.get("usage", {}).get(queue.pk)
        return QueueUsageSerializer(usage).data if usage else None


class LocalQueueSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    cluster_queue_id = ScopedPrimaryKeyRelatedField(source="cluster_queue", queryset=ClusterQueue.objects.all())
    project_id = ScopedPrimaryKeyRelatedField(
        source="project",
        queryset=Project.objects.all(),
        required=False,
        allow_null=True,
        help_text="Only this project's jobs (it wins over the tenant-wide queue); null: every job of the tenant.",
    )
    cluster_id = serializers.UUIDField(read_only=True)
    tenant_id = serializers.UUIDField(read_only=True)
    cluster_queue_name = serializers.CharField(source="cluster_queue.name", read_only=True)

    class Meta:
        model = LocalQueue
        fields = [
            "id",
            "name",
            "cluster_queue_id",
            "cluster_queue_name",
            "project_id",
            "cluster_id",
            "tenant_id",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        validators = []


class GpuHoursSerializer(serializers.Serializer):
    gpu_type = serializers.CharField()
    gpu_hours = serializers.FloatField()
    series = serializers.ListField(child=serializers.FloatField(), help_text="GPU-hours per step from `start`.")


class QueueHistorySerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    step_hours = serializers.IntegerField()
    gpu_types = GpuHoursSerializer(many=True)


class JobEventSerializer(serializers.ModelSerializer):
    other_job_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = JobEvent
        fields = ["id", "kind", "message", "other_job_id", "data", "created_at"]
        read_only_fields = fields
