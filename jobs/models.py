import uuid
from decimal import Decimal

from django.db import models
from django.utils import timezone

from core.crypto import EncryptedJSONField, EncryptedTextField
from core.exceptions import Conflict
from jobs.checkpoints import Progress, interval_seconds, progress_at, remaining_seconds
from jobs.pricing import cost_between


class Cluster(models.Model):
    """A pool of GPUs, CPU and memory that runs jobs through a driver (simulated now, Kubernetes later)."""

    class Driver(models.TextChoices):
        SIMULATED = "simulated"
        KUBERNETES = "kubernetes"

    class Status(models.TextChoices):
        ACTIVE = "ACTIVE"  # accepts and admits jobs
        DRAINING = "DRAINING"  # runs what it has, admits nothing new, refuses submissions
        OFFLINE = "OFFLINE"  # refuses submissions; nothing is admitted

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="clusters")
    name = models.CharField(max_length=200)
    driver = models.CharField(max_length=16, choices=Driver.choices, default=Driver.SIMULATED)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    inventory = models.JSONField(default=dict)  # {"gpus": {"H100-80GB": 8}, "cpu_cores": 256, "memory_gib": 2048}
    prices = models.JSONField(default=dict)  # {"gpu_hour": {...}, "cpu_hour": 0.02, "memory_gib_hour": 0.003}
    simulation = models.JSONField(default=dict)  # {"startup_seconds": {"default": 5}, "failure_rate": 0, "seed": 0}
    # The Kubernetes driver's connection: a kubeconfig (encrypted at rest, never returned by the API) or in-cluster
    # credentials, and how GPUs show on the nodes:
    # {"in_cluster": false, "gpu_resource": "nvidia.com/gpu", "gpu_label": "nvidia.com/gpu.product",
    #  "gpu_products": {"NVIDIA-H100-80GB-HBM3": "H100-80GB"}, "storage_class": null}
    # NULL when there is none: an encrypted empty string would tie every cluster row to the key of the day.
    kubeconfig = EncryptedTextField(blank=True, null=True, default=None)
    kubernetes = models.JSONField(default=dict, blank=True)
    # The last job number taken on this cluster, on SQLite only (jobs/sequences.py): each submission or requeue takes
    # the next, which orders the queue FIFO within a priority. PostgreSQL numbers jobs from a sequence and leaves it
    # at 0, so it is no count of anything and shown nowhere (the admin counts the cluster's jobs on read).
    sequence_counter = models.BigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="unique_cluster_name_per_tenant")]

    def __str__(self) -> str:
        return self.name


class ClusterSet(models.Model):
    """Several clusters of a tenant that take work as one, in the way of MultiKueue: a job or a deployment sent to
    the set goes to the member where it starts first, or costs least (`jobs.placement`)."""

    class Strategy(models.TextChoices):
        EARLIEST_START = "earliest_start"
        LOWEST_COST = "lowest_cost"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="cluster_sets")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    strategy = models.CharField(max_length=16, choices=Strategy.choices, default=Strategy.EARLIEST_START)
    clusters = models.ManyToManyField(Cluster, related_name="cluster_sets")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="unique_cluster_set_name_per_tenant")]

    def __str__(self) -> str:
        return self.name


class Job(models.Model):
    """A workload on a cluster; the unit a driver admits, runs and bills."""

    class JobType(models.TextChoices):
        SERVICE = "SERVICE"
        BATCH = "BATCH"
        TRAINING = "TRAINING"

    class SourceType(models.TextChoices):
        DIRECT = "DIRECT"
        PIPELINE = "PIPELINE"
        USECASE = "USECASE"
        ENDPOINT = "ENDPOINT"
        POD = "POD"

    class Status(models.TextChoices):
        PENDING = "PENDING"  # submitted, or admitted and starting up (admitted_at set, capacity held)
        QUEUED = "QUEUED"  # waiting for capacity
        RUNNING = "RUNNING"
        SUCCEEDED = "SUCCEEDED"
        FAILED = "FAILED"
        CANCELLED = "CANCELLED"

    Status.TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})
    Status.ACTIVE = frozenset({Status.PENDING, Status.QUEUED, Status.RUNNING})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    job_type = models.CharField(max_length=16, choices=JobType.choices)
    source_type = models.CharField(max_length=16, choices=SourceType.choices, default=SourceType.DIRECT)
    cluster = models.ForeignKey(Cluster, on_delete=models.PROTECT, related_name="jobs")
    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="jobs")
    project = models.ForeignKey("tenancy.Project", on_delete=models.PROTECT, related_name="jobs")
    usecase_deployment_id = models.UUIDField(null=True, blank=True, db_index=True)
    component_deployment_id = models.UUIDField(null=True, blank=True)
    attempt = models.PositiveIntegerField(default=1)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    status_message = models.TextField(blank=True, default="")

    resources = models.JSONField(default=dict)  # {"gpu_type", "gpu_count", "cpu", "memory_gib", "replicas"}
    # The scheduling queue: the GPU type the job asks for, or "cpu"; jobs wait in line per queue.
    queue_key = models.CharField(max_length=100, default="cpu")
    # What the job holds while admitted (resources x replicas, in whole units), so the capacity held by services
    # that just run can be summed by the database instead of read job by job.
    demand_gpus = models.PositiveIntegerField(default=0)
    demand_millicores = models.BigIntegerField(default=0)
    demand_memory_mib = models.BigIntegerField(default=0)
    # The rendered workload, a deployment's secret parameters included: encrypted at rest.
    spec = EncryptedJSONField(default=dict)
    # The spec's kind ("helm", "docker", "model"), copied at submit: passes and forecasts read it (start-up times,
    # latencies) without decrypting the spec; "" for a spec without one.
    kind = models.CharField(max_length=16, blank=True, default="")
    outputs = models.JSONField(default=dict, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    # What a real driver created for the job and has seen of it ({"namespace", "name", "kind", "seen"}).
    driver_state = models.JSONField(default=dict, blank=True)
    priority = models.IntegerField(default=50)
    sequence = models.BigIntegerField(default=0, editable=False)  # submission order on the cluster
    # The quota the job is admitted under (from the LocalQueue of its tenant/project when it was submitted);
    # NULL: no quota, only the cluster's capacity limits it.
    cluster_queue = models.ForeignKey(
        "jobs.ClusterQueue", on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs"
    )
    preemptions = models.PositiveIntegerField(default=0)  # how many times it was stopped and put back to wait
    duration_seconds = models.FloatField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    admitted_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    # Copied from the cluster's prices at submission, so a later price change never rewrites a job's bill.
    hourly_rate = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    estimated_cost = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    actual_cost = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    # A resize changes the rate of a running job: what it cost before is kept, the rate applies from rate_since.
    cost_before_rate = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    rate_since = models.DateTimeField(null=True, blank=True)
    # The simulated driver decides at submission whether (and why) the job fails, so a later change of the
    # cluster's failure rate or of the job's labels never rewrites what already happened.
    simulated_failure = models.TextField(blank=True, default="")
    # Checkpointing (BATCH/TRAINING, `jobs.checkpoints`): the job saves its work every interval while it runs; an
    # interruption (failure, preemption) puts it back in the queue to resume from its last checkpoint.
    checkpoint_interval_minutes = models.FloatField(null=True, blank=True)
    work_resumed_from_seconds = models.FloatField(default=0)  # the work the current run started with
    checkpoint_work_seconds = models.FloatField(default=0)  # the work saved by the last checkpoint
    last_checkpoint_at = models.DateTimeField(null=True, blank=True)
    checkpoints = models.PositiveIntegerField(default=0)  # checkpoints recorded, every run
    resumes = models.PositiveIntegerField(default=0)
    work_lost_seconds = models.FloatField(default=0)  # thrown away by interruptions, in total
    # One entry per interruption: {"at", "kind": "failed"|"preempted"|"requeued", "reason", "work_seconds",
    # "resumed_from_seconds", "lost_seconds"}.
    resume_history = models.JSONField(default=list, blank=True)
    # Submitted to a cluster set: the set re-places the job while it waits if its cluster becomes unavailable.
    cluster_set = models.ForeignKey(
        ClusterSet, on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs", db_index=True
    )
    # Why the set chose this cluster: {"strategy", "at", "chosen": {...}, "runner_up": {...} | null, "candidates",
    # "replaced_from": {...} (when a cluster went away)}.
    placement = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status"], name="job_status_idx"),
            models.Index(fields=["source_type"], name="job_source_type_idx"),
            models.Index(fields=["cluster", "status"], name="job_cluster_status_idx"),
            # The scheduler reads waiting jobs line by line in admission order: an ordered scan of this index.
            models.Index(
                fields=["cluster", "queue_key", "-priority", "sequence", "id"],
                condition=models.Q(admitted_at__isnull=True, status__in=["PENDING", "QUEUED"]),
                name="job_waiting_order_idx",
            ),
            # The same lines, one per ClusterQueue: a pass reads each queue's line without scanning the others'.
            models.Index(
                fields=["cluster", "cluster_queue", "queue_key", "-priority", "sequence", "id"],
                condition=models.Q(admitted_at__isnull=True, status__in=["PENDING", "QUEUED"]),
                name="job_queue_waiting_order_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["component_deployment_id", "attempt"], name="one_job_per_attempt"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in Job.Status.TERMINAL

    def cost_until(self, end) -> Decimal:
        """What the job has cost from its start to `end`, at each rate it ran at."""
        if self.started_at is None:  # waiting, or resumed and not yet running again: what earlier runs cost
            return self.cost_before_rate or Decimal("0.0000")
        return self.cost_before_rate + cost_between(self.hourly_rate, self.rate_since or self.started_at, end)

    @property
    def cost_so_far(self) -> Decimal:
        """actual_cost, accrued up to this moment while the job runs (passes store it by the cent)."""
        if self.status == Job.Status.RUNNING:
            return self.cost_until(timezone.now())
        return self.actual_cost

    @property
    def remaining_seconds(self) -> float | None:
        """What the current run needs to finish: the duration less the work it resumed from."""
        return remaining_seconds(duration=self.duration_seconds, resumed_from=self.work_resumed_from_seconds)

    def progress_at(self, now) -> Progress:
        """The job's work at `now` (its checkpoints, and how far it got), by `jobs.checkpoints`."""
        end = self.completed_at if self.completed_at and self.completed_at < now else now
        return progress_at(
            duration=self.duration_seconds,
            interval=interval_seconds(self.checkpoint_interval_minutes),
            resumed_from=self.work_resumed_from_seconds,
            started_at=self.started_at,
            now=end,
        )

    @property
    def is_waiting(self) -> bool:
        """Not yet admitted: holds no capacity."""
        return self.status in (Job.Status.PENDING, Job.Status.QUEUED) and self.admitted_at is None


# The one place status transitions are allowed; services and the driver check against it.
# PENDING -> PENDING is admission (admitted_at is set, the status stays PENDING while the job starts up).
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    Job.Status.PENDING: frozenset(
        {Job.Status.PENDING, Job.Status.QUEUED, Job.Status.RUNNING, Job.Status.FAILED, Job.Status.CANCELLED}
    ),
    Job.Status.QUEUED: frozenset({Job.Status.PENDING, Job.Status.RUNNING, Job.Status.FAILED, Job.Status.CANCELLED}),
    # RUNNING -> QUEUED: interrupted (preempted, or failed with a checkpoint) and waiting to resume.
    Job.Status.RUNNING: frozenset({Job.Status.SUCCEEDED, Job.Status.FAILED, Job.Status.CANCELLED, Job.Status.QUEUED}),
    Job.Status.SUCCEEDED: frozenset(),
    Job.Status.FAILED: frozenset(),
    Job.Status.CANCELLED: frozenset(),
}


def check_transition(job: Job, target: str, *, before: str | None = None) -> None:
    """Refuse a status change the table above does not allow (a cancelled job cannot start, and so on)."""
    before = before or job.status
    if target not in ALLOWED_TRANSITIONS[before]:
        raise Conflict(f"Job {job.pk} is {before}; it cannot become {target}.")


class ClusterQueue(models.Model):
    """A quota on a cluster, in the way of Kueue's ClusterQueue: nominal quota per GPU type, CPU and memory; queues
    of one cohort borrow each other's unused quota within their borrowing and lending limits."""

    class ReclaimPolicy(models.TextChoices):
        NEVER = "Never"
        LOWER_PRIORITY = "LowerPriority"
        ANY = "Any"

    class WithinQueuePolicy(models.TextChoices):
        NEVER = "Never"
        LOWER_PRIORITY = "LowerPriority"
        LOWER_OR_NEWER_EQUAL_PRIORITY = "LowerOrNewerEqualPriority"

    class FairSharingPreemption(models.TextChoices):
        """Kueue's fair-sharing preemption strategies (jobs.quotas.preemption): whether this queue, below its fair
        share, may preempt the borrowers of queues above theirs."""

        NEVER = "Never"
        LESS_THAN_OR_EQUAL_TO_FINAL_SHARE = "LessThanOrEqualToFinalShare"
        LESS_THAN_INITIAL_SHARE = "LessThanInitialShare"  # after LessThanOrEqualToFinalShare, as Kueue's default

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="cluster_queues")
    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="cluster_queues")
    name = models.CharField(max_length=63)
    cohort = models.CharField(max_length=63, blank=True, default="")
    # A cluster inventory's shape: {"gpus": {"H100-80GB": 8}, "cpu_cores": 64, "memory_gib": 512}. A resource the
    # quota does not name is not limited by the queue; in the limits, a resource not named has no limit.
    nominal_quota = models.JSONField(default=dict)
    borrowing_limit = models.JSONField(default=dict, blank=True)
    lending_limit = models.JSONField(default=dict, blank=True)
    weight = models.DecimalField(max_digits=8, decimal_places=3, default=Decimal("1"))
    reclaim_within_cohort = models.CharField(max_length=16, choices=ReclaimPolicy.choices, default=ReclaimPolicy.ANY)
    within_cluster_queue = models.CharField(
        max_length=32, choices=WithinQueuePolicy.choices, default=WithinQueuePolicy.NEVER
    )
    fair_sharing_preemption = models.CharField(
        max_length=32, choices=FairSharingPreemption.choices, default=FairSharingPreemption.NEVER
    )
    # The recent average of the queue's dominant share (jobs.quotas.QuotaBook.history) and when it was taken:
    # written by the scheduling pass, so fair share remembers the last minutes from pass to pass.
    fair_share_history = models.FloatField(default=0, editable=False)
    fair_share_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["cluster_id", "cohort", "name"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "name"], name="unique_cluster_queue_name"),
            models.CheckConstraint(condition=models.Q(weight__gt=0), name="cluster_queue_weight_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class LocalQueue(models.Model):
    """Which ClusterQueue a tenant's jobs (or one project's) on a cluster are admitted under."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="local_queues")
    cluster_queue = models.ForeignKey(ClusterQueue, on_delete=models.CASCADE, related_name="local_queues")
    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="local_queues")
    project = models.ForeignKey(
        "tenancy.Project", on_delete=models.CASCADE, null=True, blank=True, related_name="local_queues"
    )
    name = models.CharField(max_length=63)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["cluster_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "name"], name="unique_local_queue_name"),
            models.UniqueConstraint(fields=["cluster", "tenant", "project"], name="one_local_queue_per_project"),
            models.UniqueConstraint(
                fields=["cluster", "tenant"],
                condition=models.Q(project__isnull=True),
                name="one_tenant_wide_local_queue",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class JobEvent(models.Model):
    """Something that happened to a job beyond its status (a preemption, on both sides), with the reason."""

    class Kind(models.TextChoices):
        PREEMPTED = "PREEMPTED"  # this job was stopped and put back to wait
        PREEMPTOR = "PREEMPTOR"  # this job's admission preempted another

    id = models.BigAutoField(primary_key=True)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    message = models.TextField()
    other_job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["job", "-created_at"], name="job_event_job_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.job_id}"
