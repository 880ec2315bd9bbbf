"""Autoscaling: per-deployment policy overrides and the autoscaler's decisions."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from autoscaling import decide
from autoscaling.policy import SIGNALS


class AutoscalingPolicy(models.Model):
    """A deployment's own policy for one component (set through the API or the console); without one, the
    template's `autoscaling:` block of the component applies."""

    class Signal(models.TextChoices):
        CONCURRENCY = SIGNALS[0]
        QUEUE_DEPTH = SIGNALS[1]
        GPU_UTILISATION = SIGNALS[2]
        SLO_TTFT = SIGNALS[3]
        SLO_ITL = SIGNALS[4]

    id = models.BigAutoField(primary_key=True)
    deployment = models.ForeignKey(
        "deployments.UseCaseDeployment", on_delete=models.CASCADE, related_name="autoscaling_policies"
    )
    component_key = models.CharField(max_length=100)
    min_replicas = models.PositiveIntegerField(help_text="0: the component scales to zero after the idle timeout.")
    max_replicas = models.PositiveIntegerField()
    signal = models.CharField(max_length=20, choices=Signal.choices)
    target = models.FloatField(null=True, blank=True, help_text="None with an SLO signal: the use case's target.")
    scale_up_window_s = models.PositiveIntegerField()
    scale_down_window_s = models.PositiveIntegerField()
    max_step = models.PositiveIntegerField()
    idle_timeout_s = models.PositiveIntegerField()
    enabled = models.BooleanField(default=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["deployment", "component_key"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "component_key"], name="one_policy_per_component"),
            models.CheckConstraint(condition=Q(min_replicas__lte=F("max_replicas")), name="policy_min_lte_max"),
            models.CheckConstraint(condition=Q(max_replicas__gte=1, max_step__gte=1), name="policy_max_and_step"),
        ]

    def __str__(self) -> str:
        return f"{self.deployment_id}/{self.component_key} {self.min_replicas}:{self.max_replicas}"


class ScalingDecision(models.Model):
    """One change the autoscaler made (or asked for and is waiting on), with its reason in words."""

    class Direction(models.TextChoices):
        UP = decide.UP
        DOWN = decide.DOWN
        TO_ZERO = decide.TO_ZERO, "to zero"
        WAKE = decide.WAKE

    class Outcome(models.TextChoices):
        APPLIED = "applied"  # the scale change started (its new replicas fit now)
        WAITING = "waiting"  # started, but the new replicas wait for capacity (see predicted_start)
        REFUSED = "refused"  # the scale service refused it (the reason says why)

    id = models.BigAutoField(primary_key=True)
    deployment = models.ForeignKey(
        "deployments.UseCaseDeployment", on_delete=models.CASCADE, related_name="scaling_decisions"
    )
    component_key = models.CharField(max_length=100)
    from_replicas = models.PositiveIntegerField()
    to_replicas = models.PositiveIntegerField()
    direction = models.CharField(max_length=10, choices=Direction.choices)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.APPLIED)
    signal = models.CharField(max_length=20, blank=True, default="")
    value = models.FloatField(null=True, blank=True)
    target = models.FloatField(null=True, blank=True)
    reason = models.TextField()
    revision = models.PositiveIntegerField(null=True, blank=True, help_text="The scale revision it started.")
    predicted_start = models.DateTimeField(null=True, blank=True, help_text="When waiting: the forecast start.")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["deployment", "-id"]), models.Index(fields=["deployment", "component_key"])]

    def __str__(self) -> str:
        return f"{self.component_key}: {self.reason}"


class WarmPool(models.Model):
    """Pre-warmed standby replicas on one cluster and GPU type: engines up with no model, each a running job (so
    its GPUs are held and its cost is metered like any job's). A wake takes one and the pool starts a new one. How
    many it keeps: `sizing` (see `autoscaling.pools`)."""

    class Sizing(models.TextChoices):
        FIXED = "fixed", "a fixed size"
        PER_ZERO = "per_zero", "per component at zero"
        WAKES_TOGETHER = "wakes_together", "by the wakes expected together"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="warm_pools")
    cluster = models.ForeignKey("jobs.Cluster", on_delete=models.PROTECT, related_name="warm_pools")
    project = models.ForeignKey(
        "tenancy.Project",
        on_delete=models.PROTECT,
        related_name="warm_pools",
        help_text="Whose bill the standby is on.",
    )
    gpu_type = models.CharField(max_length=50)
    gpu_count = models.PositiveIntegerField(default=1, help_text="GPUs per standby replica (the largest it serves).")
    sizing = models.CharField(max_length=16, choices=Sizing.choices, default=Sizing.FIXED)
    size = models.PositiveIntegerField(help_text="Standby replicas kept warm (sized otherwise: at most).")
    per_zero = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Standbys per component at zero on this cluster and GPU type (autoscaling.pooling); empty: `size`.",
    )
    min_size = models.PositiveIntegerField(
        default=1, help_text="Not fixed: standbys at least while any component of the type is at zero."
    )
    miss = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.010"),
        help_text="Sized by the wakes expected together: the chance a wake may find no standby ready.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["cluster", "gpu_type"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "gpu_type"], name="one_warm_pool_per_gpu_type"),
            models.CheckConstraint(
                condition=~Q(sizing="per_zero") | Q(per_zero__isnull=False), name="warm_pool_per_zero_has_ratio"
            ),
            models.CheckConstraint(condition=Q(miss__gt=0, miss__lt=1), name="warm_pool_miss_a_probability"),
        ]

    def __str__(self) -> str:
        return f"{self.cluster_id}/{self.gpu_type} x{self.size} ({self.sizing})"
