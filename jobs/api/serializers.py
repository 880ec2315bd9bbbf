from datetime import timedelta

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.fields import MoneyField, StrictFieldsMixin
from jobs.models import Cluster, Job
from jobs.resume import checkpoints_before_run
from jobs.services.submission import BULK_MAX
from tenancy.api.viewsets import FixedAfterCreateMixin, ScopedPrimaryKeyRelatedField, resolve_scoped_references
from tenancy.models import Project, Tenant


class ClusterSerializer(FixedAfterCreateMixin, StrictFieldsMixin, serializers.ModelSerializer):
    tenant_id = ScopedPrimaryKeyRelatedField(source="tenant", queryset=Tenant.objects.all(), tenant_field="id")
    inventory = serializers.JSONField(
        required=False,
        help_text='{"gpus": {"H100-80GB": 8}, "cpu_cores": 256, "memory_gib": 2048}. Required for a simulated '
        "cluster; a Kubernetes cluster's is read from its nodes by POST /clusters/{id}/check.",
    )
    kubeconfig = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Kubernetes driver: a kubeconfig (YAML). Write-only: stored encrypted, never returned.",
    )
    has_kubeconfig = serializers.SerializerMethodField(help_text="Whether a kubeconfig is stored.")
    kubernetes = serializers.JSONField(
        required=False,
        help_text='Kubernetes driver: {"in_cluster": false, "gpu_resource": "nvidia.com/gpu" | "amd.com/gpu", '
        '"gpu_label": "nvidia.com/gpu.product", "gpu_products": {"NVIDIA-H100-80GB-HBM3": "H100-80GB"}, '
        '"storage_class": null}',
    )
    prices = serializers.JSONField(
        required=False,
        help_text='{"gpu_hour": {"H100-80GB": 2.5}, "cpu_hour": 0.02, "memory_gib_hour": 0.003}. Set on creation; '
        "a change is a 400 on `prices`: prices change with an effective date through POST /api/v1/price-lists.",
    )
    simulation = serializers.JSONField(
        required=False,
        help_text='{"startup_seconds": {"default": 5, "helm": 20}, "failure_rate": 0.0, "seed": 0}',
    )

    class Meta:
        model = Cluster
        fields = [
            "id",
            "tenant_id",
            "name",
            "driver",
            "status",
            "inventory",
            "prices",
            "simulation",
            "kubeconfig",
            "has_kubeconfig",
            "kubernetes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators = []  # name uniqueness is a business rule answered by the service

    def get_has_kubeconfig(self, cluster) -> bool:
        return bool(cluster.kubeconfig)


class ClusterNodeSerializer(serializers.Serializer):
    name = serializers.CharField()
    gpu_type = serializers.CharField(allow_null=True)
    gpus = serializers.IntegerField()


class ClusterCheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField(help_text="The cluster was reached and offers GPUs.")
    driver = serializers.CharField()
    server = serializers.CharField(allow_null=True, help_text="The API server's address.")
    reason = serializers.ChoiceField(
        choices=["", "unreachable", "unauthorised", "forbidden", "misconfigured", "no_gpu_nodes", "error"],
        help_text="Why the cluster cannot be used (empty when ok).",
    )
    message = serializers.CharField()
    inventory = serializers.JSONField(help_text="GPUs per catalog type, CPU cores and memory of the ready nodes.")
    nodes = ClusterNodeSerializer(many=True)
    checked_at = serializers.DateTimeField()


@extend_schema_field(
    {"oneOf": [{"type": "integer"}, {"type": "string", "enum": ["LOW", "NORMAL", "HIGH", "CRITICAL"]}]}
)
class PriorityField(serializers.Field):
    """An integer 0..1000 or LOW / NORMAL / HIGH / CRITICAL (checked by the service)."""

    def to_internal_value(self, data):
        if not isinstance(data, (int, str)) or isinstance(data, bool):
            raise serializers.ValidationError("Must be an integer or a priority name.")
        return data

    def to_representation(self, value):
        return value


JOB_FIELDS = [
    "id",
    "name",
    "job_type",
    "source_type",
    "cluster_id",
    "tenant_id",
    "project_id",
    "usecase_deployment_id",
    "component_deployment_id",
    "attempt",
    "status",
    "status_message",
    "resources",
    "spec",
    "outputs",
    "labels",
    "priority",
    "cluster_queue_id",
    "preemptions",
    "duration_seconds",
    "checkpoint_interval_minutes",
    "progress",
    "work_done_seconds",
    "checkpoint_work_seconds",
    "last_checkpoint_at",
    "checkpoints",
    "resumes",
    "work_lost_seconds",
    "resume_history",
    "cluster_set_id",
    "placement",
    "queue_position",
    "predicted_start",
    "waiting_reason",
    "created_at",
    "updated_at",
    "queued_at",
    "admitted_at",
    "started_at",
    "completed_at",
    "hourly_rate",
    "estimated_cost",
    "actual_cost",
]


class JobSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A job; in a PATCH only `priority` and `labels` are writable."""

    cluster_id = serializers.UUIDField(read_only=True)
    tenant_id = serializers.UUIDField(read_only=True)
    project_id = serializers.UUIDField(read_only=True)
    cluster_queue_id = serializers.UUIDField(
        read_only=True, allow_null=True, help_text="The ClusterQueue whose quota it counts against (null: none)."
    )
    priority = PriorityField(required=False)
    labels = serializers.JSONField(required=False)
    queue_position = serializers.SerializerMethodField(help_text="Place among jobs waiting for the same resources.")
    predicted_start = serializers.SerializerMethodField(help_text="When a waiting job should start running.")
    waiting_reason = serializers.SerializerMethodField(help_text="Why a waiting job waits.")
    progress = serializers.SerializerMethodField(
        help_text="BATCH/TRAINING: the share of the duration done, 0..1 (up to now while it runs); null for a SERVICE."
    )
    work_done_seconds = serializers.SerializerMethodField(
        help_text="Seconds of work done in total, earlier runs' checkpointed work included."
    )
    checkpoint_work_seconds = serializers.SerializerMethodField(
        help_text="Seconds of work saved by the last checkpoint: where the job resumes from if interrupted now."
    )
    last_checkpoint_at = serializers.SerializerMethodField(help_text="When the last checkpoint was taken.")
    checkpoints = serializers.SerializerMethodField(help_text="Checkpoints taken, every run.")
    resume_history = serializers.JSONField(
        read_only=True,
        help_text='One entry per interruption: {"at", "kind": "failed" | "preempted" | "requeued", "reason", '
        '"work_seconds", "resumed_from_seconds", "lost_seconds", "checkpoints"}.',
    )
    cluster_set_id = serializers.UUIDField(read_only=True, allow_null=True, help_text="The set it was submitted to.")
    placement = serializers.JSONField(
        read_only=True,
        help_text='Submitted to a set: {"strategy", "at", "reason", "chosen", "runner_up", "candidates": '
        '[{"cluster_id", "name", "status", "predicted_start", "hourly_cost", "cost", "fits_now", "excluded"}], '
        '"replaced_from"}.',
    )
    actual_cost = MoneyField(
        source="cost_so_far",
        help_text="What the job has cost so far: up to now while it runs, up to completed_at once it ended.",
    )
    hourly_rate = MoneyField(help_text="Per hour, from the cluster's prices at submission.")
    estimated_cost = MoneyField(allow_null=True, help_text="One hour of a SERVICE; the whole run of a BATCH job.")

    class Meta:
        model = Job
        fields = JOB_FIELDS
        read_only_fields = [f for f in JOB_FIELDS if f not in ("priority", "labels")]

    def _forecast_item(self, job):
        if job.status not in (Job.Status.PENDING, Job.Status.QUEUED):
            return None
        forecast_for = self.context.get("forecast_for")
        return forecast_for(job) if forecast_for else None

    def get_queue_position(self, job) -> int | None:
        item = self._forecast_item(job)
        return item.queue_position if item and job.admitted_at is None else None

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_predicted_start(self, job):
        if job.started_at:
            return serializers.DateTimeField().to_representation(job.started_at)
        item = self._forecast_item(job)
        if item and item.predicted_start:
            return serializers.DateTimeField().to_representation(item.predicted_start)
        return None

    def get_waiting_reason(self, job) -> str:
        item = self._forecast_item(job)
        return item.reason if item and job.admitted_at is None else ""

    def _progress(self, job):
        if job.job_type == Job.JobType.SERVICE:
            return None
        if "now" not in self.context:
            self.context["now"] = timezone.now()
        return job.progress_at(self.context["now"])

    def get_progress(self, job) -> float | None:
        progress = self._progress(job)
        return round(progress.fraction, 4) if progress else None

    def get_work_done_seconds(self, job) -> float | None:
        progress = self._progress(job)
        return round(progress.work_seconds, 3) if progress else None

    def get_checkpoint_work_seconds(self, job) -> float | None:
        progress = self._progress(job)
        return round(progress.checkpoint_work_seconds, 3) if progress else None

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_last_checkpoint_at(self, job):
        progress = self._progress(job)
        moment = (progress and progress.last_checkpoint_at) or job.last_checkpoint_at
        return serializers.DateTimeField().to_representation(moment) if moment else None

    def get_checkpoints(self, job) -> int:
        progress = self._progress(job)
        return checkpoints_before_run(job) + progress.checkpoints_this_run if progress else 0


class JobCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=255)
    job_type = serializers.ChoiceField(choices=Job.JobType.choices)
    source_type = serializers.ChoiceField(choices=Job.SourceType.choices, default=Job.SourceType.DIRECT)
    project_id = ScopedPrimaryKeyRelatedField(source="project", queryset=Project.objects.all())
    resources = serializers.JSONField(help_text='{"gpu_type", "gpu_count", "cpu", "memory_gib", "replicas"}')
    spec = serializers.JSONField(
        help_text='What to run: {"kind": "helm", "repo", "chart", "version", "values"} | '
        '{"kind": "docker", "image", "tag", "env"} | {"kind": "model", "model_id", "image"}; plus "port", "namespace".'
    )
    priority = PriorityField(required=False, default=50)
    labels = serializers.JSONField(required=False, default=dict)
    duration_seconds = serializers.FloatField(required=False, allow_null=True, default=None)
    checkpoint_interval_minutes = serializers.FloatField(
        required=False,
        allow_null=True,
        default=None,
        help_text="BATCH/TRAINING: save the work every this many minutes; a failure or preemption then resumes "
        "from the last checkpoint, losing at most one interval.",
    )
    usecase_deployment_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    component_deployment_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    attempt = serializers.IntegerField(required=False, min_value=1, default=1)


class JobRequeueSerializer(StrictFieldsMixin, serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class JobBulkCreateSerializer(serializers.Serializer):
    """Many jobs for one cluster, recorded together (all or nothing) and admitted by one scheduling pass."""

    jobs = JobCreateSerializer(many=True, min_length=1, max_length=BULK_MAX)

    def to_internal_value(self, data):
        items = data.get("jobs") if isinstance(data, dict) else None
        if isinstance(items, list):  # every item's project_id in one query, not one per item
            ids = [item.get("project_id") for item in items if isinstance(item, dict) and item.get("project_id")]
            resolve_scoped_references(self, self.fields["jobs"].child.fields["project_id"], ids)
        return super().to_internal_value(data)


class JobBulkSerializer(serializers.Serializer):
    jobs = JobSerializer(many=True, help_text="In the order they were sent, as the pass left them.")


class UsageSerializer(serializers.Serializer):
    total = serializers.FloatField()
    used = serializers.FloatField()
    free = serializers.FloatField()
    utilisation = serializers.FloatField(help_text="used / total")


class UtilisationSerializer(serializers.Serializer):
    gpus = serializers.DictField(child=UsageSerializer(), help_text="Per GPU type.")
    cpu_cores = UsageSerializer()
    memory_gib = UsageSerializer()


class ScheduleJobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    status = serializers.CharField()
    job_type = serializers.CharField()
    source_type = serializers.CharField()
    priority = serializers.IntegerField()
    resources = serializers.JSONField()
    queue = serializers.CharField(source="queue_key")
    queued_at = serializers.DateTimeField(allow_null=True)
    admitted_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    queue_position = serializers.SerializerMethodField()
    predicted_start = serializers.SerializerMethodField()
    expected_end = serializers.SerializerMethodField(help_text="completed_at, or when a BATCH/TRAINING job should end.")
    estimated_cost = MoneyField(allow_null=True)
    actual_cost = MoneyField()

    def _item(self, job):
        return self.context["forecast"].jobs.get(job.pk)

    def get_queue_position(self, job) -> int | None:
        item = self._item(job)
        return item.queue_position if item and job.admitted_at is None else None

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_predicted_start(self, job):
        item = self._item(job)
        return item.predicted_start if item and not job.started_at and not job.is_terminal else None

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_expected_end(self, job):
        if job.completed_at:
            return job.completed_at
        if job.job_type == Job.JobType.SERVICE or job.duration_seconds is None:
            return None
        start = job.started_at or self.get_predicted_start(job)
        return start + timedelta(seconds=job.duration_seconds) if start else None


class ScheduleSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The cluster's id.")
    cluster_id = serializers.UUIDField()
    now = serializers.DateTimeField()
    start = serializers.DateTimeField(help_text="The window's start (`from`).")
    end = serializers.DateTimeField(help_text="The window's end (`to`).")
    truncated = serializers.BooleanField(help_text="More jobs overlap the window than `limit`.")
    utilisation = UtilisationSerializer()
    jobs = ScheduleJobSerializer(many=True)
