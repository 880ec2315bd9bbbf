"""Deployment keys (who may call a deployment's endpoint, how often) and the gateway's per-minute request counts."""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

MAX_RATE_LIMIT = 1_000_000  # requests per minute: far above what one key should ever be allowed


class DeploymentKey(models.Model):
    """An API key for one deployment's endpoint, stored as a SHA-256 digest; the secret is shown once.

    Rotation gives the same key (id, name, limit) a new secret and forgets the old digest, so the old secret is
    refused at once; revocation keeps the row (with revoked_at) for the record.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    deployment = models.ForeignKey(
        "deployments.UseCaseDeployment", on_delete=models.CASCADE, related_name="serving_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=20, help_text="The secret's first characters, to recognise it in lists.")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    rate_limit = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RATE_LIMIT)],
        help_text="Requests per minute (sliding window) this key may make; beyond it the gateway answers 429.",
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [models.Index(fields=["deployment", "-created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "name"],
                condition=Q(revoked_at__isnull=True),
                name="unique_live_key_name_per_deployment",
            ),
            models.CheckConstraint(
                condition=Q(rate_limit__gte=1, rate_limit__lte=MAX_RATE_LIMIT), name="key_rate_limit_in_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class EndpointTraffic(models.Model):
    """What the gateway did with one deployment's requests in one minute: served, refused and why.

    One row per (deployment, minute), incremented in place (`F() + 1`), so a minute costs one small row however
    busy the endpoint is; observability and the autoscaler read request rates from here.
    """

    id = models.BigAutoField(primary_key=True)
    deployment = models.ForeignKey(
        "deployments.UseCaseDeployment", on_delete=models.CASCADE, related_name="endpoint_traffic"
    )
    minute = models.DateTimeField()
    served = models.PositiveIntegerField(default=0)
    unauthorized = models.PositiveIntegerField(default=0, help_text="401: no, an unknown or a revoked key.")
    throttled = models.PositiveIntegerField(default=0, help_text="429: over the key's rate limit.")
    unavailable = models.PositiveIntegerField(default=0, help_text="503: no component serves (e.g. at zero).")

    class Meta:
        ordering = ["deployment", "minute"]
        constraints = [models.UniqueConstraint(fields=["deployment", "minute"], name="one_traffic_row_per_minute")]

    def __str__(self) -> str:
        return f"{self.deployment_id} @ {self.minute:%Y-%m-%d %H:%M}"
