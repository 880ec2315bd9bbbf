"""Deployment keys (who may call a deployment's endpoint, how often) and the gateway's per-minute request counts."""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

MAX_RATE_LIMIT = 1_000_000  # requests per minute: far above what one key should ever be allowed
MAX_PRIORITY = 9  # key priorities 0 (first in the queue) .. 9 (last)
DEFAULT_PRIORITY = 5
MAX_QUEUE_LENGTH = 5000  # per endpoint; a bound on what one atomic queue operation (a Redis script) handles
MAX_QUEUE_TIMEOUT = 3600  # seconds
MAX_CONCURRENCY_PER_REPLICA = 4096


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
    priority = models.PositiveSmallIntegerField(
        default=DEFAULT_PRIORITY,
        validators=[MaxValueValidator(MAX_PRIORITY)],
        help_text="Place in the endpoint's queue: 0 goes first, 9 last; FIFO among equal priorities.",
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
    queued = models.PositiveIntegerField(default=0, help_text="503 + ticket: joined the endpoint's request queue.")
    queue_full = models.PositiveIntegerField(default=0, help_text="429: the endpoint's queue was at max length.")
    queue_timeout = models.PositiveIntegerField(default=0, help_text="Dropped: waited in the queue past its timeout.")
    dequeued = models.PositiveIntegerField(default=0, help_text="Served with a queue ticket (left the queue).")
    queue_wait_ms = models.PositiveBigIntegerField(default=0, help_text="Summed queue wait of the dequeued, in ms.")
    queue_wait_max_ms = models.PositiveIntegerField(default=0, help_text="Longest queue wait served in the minute.")
    queue_length_max = models.PositiveIntegerField(default=0, help_text="Longest queue seen in the minute.")

    class Meta:
        ordering = ["deployment", "minute"]
        constraints = [models.UniqueConstraint(fields=["deployment", "minute"], name="one_traffic_row_per_minute")]

    def __str__(self) -> str:
        return f"{self.deployment_id} @ {self.minute:%Y-%m-%d %H:%M}"


class EndpointQueue(models.Model):
    """The request queue settings of one deployment's endpoint (absent: the defaults below).

    The queue itself lives in Redis (autoscaling.endpoint_queue), shared by every web process; this row says how long
    it may grow, how long an entry may wait, and whether callers are ordered by their key's priority or by arrival only.
    """

    class PriorityBy(models.TextChoices):
        KEY = "key", "The API key's priority, then arrival"
        ARRIVAL = "arrival", "Arrival only (FIFO)"

    DEFAULT_MAX_LENGTH = 100
    DEFAULT_TIMEOUT_S = 30

    id = models.BigAutoField(primary_key=True)
    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    deployment = models.OneToOneField(
        "deployments.UseCaseDeployment", on_delete=models.CASCADE, related_name="endpoint_queue"
    )
    max_length = models.PositiveIntegerField(
        default=DEFAULT_MAX_LENGTH, validators=[MinValueValidator(1), MaxValueValidator(MAX_QUEUE_LENGTH)]
    )
    timeout_s = models.PositiveIntegerField(
        default=DEFAULT_TIMEOUT_S, validators=[MinValueValidator(1), MaxValueValidator(MAX_QUEUE_TIMEOUT)]
    )
    priority_by = models.CharField(max_length=10, choices=PriorityBy.choices, default=PriorityBy.KEY)
    # Requests one running replica of the routed component takes at once; past replicas x this, requests queue.
    # Null: no limit (a running component takes every request).
    concurrency_per_replica = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_CONCURRENCY_PER_REPLICA)]
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(max_length__gte=1, max_length__lte=MAX_QUEUE_LENGTH), name="queue_max_length_in_range"
            ),
            models.CheckConstraint(
                condition=Q(timeout_s__gte=1, timeout_s__lte=MAX_QUEUE_TIMEOUT), name="queue_timeout_in_range"
            ),
        ]

    def __str__(self) -> str:
        return f"queue of {self.deployment_id}: {self.max_length} x {self.timeout_s} s"
