import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.crypto import EncryptedJSONField
from deployments.state import ComponentStatus, DeploymentStatus

#: Where the request gateway (serving app) answers a deployment's endpoint: <prefix><endpoint_slug>/<path>.
ENDPOINT_PATH_PREFIX = "/serve/"


def endpoint_slug_for(name: str, pk: uuid.UUID) -> str:
    """A deployment's endpoint slug: its name (a DNS label) and the first 8 hex digits of its id, so it is unique
    across clusters and tenants, never names a revision's component, and is still one DNS label (≤ 49 chars)."""
    return f"{name}-{pk.hex[:8]}"


class UseCaseDeployment(models.Model):
    """A template deployed onto a cluster with parameters; the reconciler drives it to its desired state."""

    class Status(models.TextChoices):
        PENDING = DeploymentStatus.PENDING
        DEPLOYING = DeploymentStatus.DEPLOYING
        RUNNING = DeploymentStatus.RUNNING
        DEGRADED = DeploymentStatus.DEGRADED
        UPDATING = DeploymentStatus.UPDATING
        FAILED = DeploymentStatus.FAILED
        DELETING = DeploymentStatus.DELETING
        DELETED = DeploymentStatus.DELETED
        SCALED_TO_ZERO = DeploymentStatus.SCALED_TO_ZERO

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="deployments")
    project = models.ForeignKey("tenancy.Project", on_delete=models.PROTECT, related_name="deployments")
    cluster = models.ForeignKey("jobs.Cluster", on_delete=models.PROTECT, related_name="deployments")
    template = models.ForeignKey("templates_app.UseCaseTemplate", on_delete=models.PROTECT, related_name="deployments")
    template_version = models.CharField(max_length=50)
    name = models.CharField(max_length=200)
    # Full parameters (secrets included: the deployer needs them), so encrypted at rest; responses mask secrets.
    parameters = EncryptedJSONField(default=dict)
    plan = models.JSONField(default=dict, help_text="The resolved plan as deployed (templates_app.resolver.Plan).")
    usecase_id = models.CharField(
        max_length=100,
        blank=True,
        default="",
        db_index=True,
        help_text="The SLO catalog use case its LLMs were sized for (unique_id); empty when none.",
    )
    load = models.JSONField(
        default=dict, blank=True, help_text='The expected load sized for: {"concurrency"} or {"requests_per_second"}.'
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    status_message = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    idempotency_fingerprint = models.CharField(
        max_length=64, blank=True, default="", help_text="SHA-256 of who asked what with the Idempotency-Key."
    )
    scale = models.JSONField(
        default=dict, blank=True, help_text="Per-component scale overrides: {key: {replicas, resources}}."
    )
    revision = models.PositiveIntegerField(default=1, help_text="The revision the deployment runs now.")
    endpoint_slug = models.SlugField(
        max_length=63,
        unique=True,
        null=True,
        editable=False,
        help_text="The stable entry point's name (<name>-<id prefix>): the same through updates, rollbacks, scaling.",
    )
    pending_revision = models.ForeignKey(
        "deployments.DeploymentRevision",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The change being rolled out; a second change is refused (409) while it is set.",
    )
    last_reconciled_at = models.DateTimeField(null=True, blank=True)
    next_reconcile_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["tenant", "status"]),
            models.Index(fields=["status", "last_reconciled_at"]),
            models.Index(fields=["cluster", "status"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="unique_deployment_idempotency_key",
            ),
            # The name is part of every component's address on the cluster: two live deployments may not share it.
            models.UniqueConstraint(
                fields=["cluster", "name"],
                condition=~Q(status="DELETED"),
                name="unique_live_deployment_name_per_cluster",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        # The endpoint is named once, when the deployment is first saved, and never again (a rename keeps it).
        if self.endpoint_slug is None and self.name:
            self.endpoint_slug = endpoint_slug_for(self.name, self.pk)
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "endpoint_slug"}
        super().save(*args, **kwargs)

    @property
    def is_active(self) -> bool:
        return self.status in DeploymentStatus.ACTIVE

    @property
    def endpoint_path(self) -> str | None:
        """The path of the deployment's stable endpoint on the gateway (None for a row saved without a name)."""
        return f"{ENDPOINT_PATH_PREFIX}{self.endpoint_slug}/" if self.endpoint_slug else None


class ComponentDeployment(models.Model):
    """One attempt at running one component of a deployment: one row, at most one job.

    A retry makes a new row with the next attempt number and retires the failed one, so the history of every
    attempt stays and (deployment, key, attempt) identifies a job uniquely.
    """

    class Status(models.TextChoices):
        PENDING = ComponentStatus.PENDING
        QUEUED = ComponentStatus.QUEUED
        STARTING = ComponentStatus.STARTING
        RUNNING = ComponentStatus.RUNNING
        SUCCEEDED = ComponentStatus.SUCCEEDED
        FAILED = ComponentStatus.FAILED
        STOPPING = ComponentStatus.STOPPING
        STOPPED = ComponentStatus.STOPPED
        SCALED_TO_ZERO = ComponentStatus.SCALED_TO_ZERO

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    deployment = models.ForeignKey(UseCaseDeployment, on_delete=models.CASCADE, related_name="components")
    key = models.CharField(max_length=100, help_text="The template's component id, e.g. vector-db.")
    component = models.ForeignKey("components.ComponentDefinition", on_delete=models.PROTECT, related_name="+")
    component_version = models.CharField(max_length=50)
    attempt = models.PositiveIntegerField(default=1, help_text="The row's number among the component's rows.")
    try_number = models.PositiveIntegerField(
        default=1, help_text="Which try of this part: 1, then +1 per retry after a failure (not per change)."
    )
    generation = models.PositiveIntegerField(
        default=1, help_text="Bumped when the component is replaced with new config: a new job at a new address."
    )
    is_candidate = models.BooleanField(
        default=False, help_text="A replacement starting beside the serving row (new-before-old)."
    )
    is_extra_part = models.BooleanField(
        default=False,
        help_text="A candidate that only adds replicas: once running, the serving row's job absorbs it.",
    )
    replaces = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    revision = models.PositiveIntegerField(default=1, help_text="The deployment revision that created this row.")
    job_type = models.CharField(max_length=16, default="SERVICE")
    depends_on = models.JSONField(default=list)
    job = models.OneToOneField(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="component_deployment"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    status_message = models.TextField(blank=True, default="")
    # Rendered from the parameters, secrets included: encrypted at rest.
    planned = EncryptedJSONField(default=dict, help_text="The planned component, output references unrendered.")
    config = EncryptedJSONField(default=dict, help_text="Rendered config as deployed.")
    env = EncryptedJSONField(default=dict, help_text="Rendered env as deployed.")
    resources = models.JSONField(default=dict)
    outputs = models.JSONField(default=dict)
    has_run = models.BooleanField(default=False)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    running_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True, help_text="Set when a newer attempt took over.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["deployment", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "key", "attempt"], name="one_component_row_per_attempt"),
            models.UniqueConstraint(
                fields=["deployment", "key"],
                condition=Q(retired_at__isnull=True, is_candidate=False),
                name="one_current_component_per_key",
            ),
            models.UniqueConstraint(
                fields=["deployment", "key"],
                condition=Q(retired_at__isnull=True, is_candidate=True),
                name="one_candidate_per_key",
            ),
        ]
        indexes = [models.Index(fields=["deployment", "retired_at"])]

    def __str__(self) -> str:
        return f"{self.deployment_id}/{self.key}#{self.attempt}"


class DeploymentEvent(models.Model):
    """One row for every state change of a deployment or one of its components, in order."""

    class Kind(models.TextChoices):
        CREATED = "created"
        STATUS = "status"  # the deployment's status changed
        COMPONENT_STATUS = "component_status"
        COMPONENT_SUBMITTED = "component_submitted"
        COMPONENT_RETRY_SCHEDULED = "component_retry_scheduled"
        COMPONENT_SCALED = "component_scaled"
        REVISION_STARTED = "revision_started"
        REVISION_APPLIED = "revision_applied"
        REVISION_FAILED = "revision_failed"
        REVISION_CANCELLED = "revision_cancelled"
        AUTOSCALED = "autoscaled"  # the autoscaler changed a component's replicas (its reason in the message)
        BUDGET_ALERT = "budget_alert"  # the budget of its project (or tenant) reached 80% or 100% this month
        MOVED = "moved"  # its cluster went away and its cluster set placed it on another member
        STAYS = "stays"  # its cluster went away but it stays there (started there, or nowhere else to go)

    id = models.BigAutoField(primary_key=True)
    deployment = models.ForeignKey(UseCaseDeployment, on_delete=models.CASCADE, related_name="events")
    component = models.ForeignKey(
        ComponentDeployment, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(max_length=40, choices=Kind.choices)
    message = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["deployment", "id"])]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class DeploymentRevision(models.Model):
    """One numbered change to a deployment: what it asked for (parameters, template version, plan, scale)."""

    class Kind(models.TextChoices):
        CREATE = "create"
        UPDATE = "update"
        SCALE = "scale"
        ROLLBACK = "rollback"
        UPGRADE = "upgrade"

    class Status(models.TextChoices):
        PENDING = "pending"
        APPLIED = "applied"
        FAILED = "failed"
        CANCELLED = "cancelled"

    id = models.BigAutoField(primary_key=True)
    deployment = models.ForeignKey(UseCaseDeployment, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    status_message = models.TextField(blank=True, default="")
    parameters = EncryptedJSONField(default=dict)
    template_version = models.CharField(max_length=50)
    plan = models.JSONField(default=dict, help_text="The resolved plan it asked for (secrets masked).")
    scale = models.JSONField(default=dict, blank=True)
    components = models.JSONField(default=dict, help_text="Per component: replicas and resources asked for.")
    change = models.JSONField(default=dict, blank=True, help_text="The change plan that was applied.")
    rollback_of = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["deployment", "number"]
        constraints = [models.UniqueConstraint(fields=["deployment", "number"], name="unique_revision_number")]

    def __str__(self) -> str:
        return f"{self.deployment_id} r{self.number} ({self.kind}, {self.status})"
