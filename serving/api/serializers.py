from __future__ import annotations

from rest_framework import serializers

from core.api.fields import StrictFieldsMixin
from serving.models import (
    MAX_CONCURRENCY_PER_REPLICA,
    MAX_PRIORITY,
    MAX_QUEUE_LENGTH,
    MAX_QUEUE_TIMEOUT,
    MAX_RATE_LIMIT,
    DeploymentKey,
    EndpointQueue,
)


class DeploymentKeySerializer(StrictFieldsMixin, serializers.ModelSerializer):
    deployment_id = serializers.UUIDField(read_only=True)
    rate_limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_RATE_LIMIT,
        help_text="Requests per minute (sliding window); beyond it the gateway answers 429. Default: "
        "SERVING_DEFAULT_RATE_LIMIT.",
    )
    priority = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_PRIORITY,
        help_text="Place in the endpoint's request queue: 0 goes first, 9 last (default 5); FIFO among equals. "
        "Used when the queue's priority_by is `key`.",
    )
    is_active = serializers.BooleanField(read_only=True, help_text="Not revoked: the gateway accepts it.")
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)

    class Meta:
        model = DeploymentKey
        fields = [
            "id",
            "deployment_id",
            "name",
            "prefix",
            "rate_limit",
            "priority",
            "is_active",
            "last_used_at",
            "rotated_at",
            "revoked_at",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["id", "prefix", "last_used_at", "rotated_at", "revoked_at", "created_at"]
        validators: list = []  # a duplicate live name is a business rule: the service answers it on `name`


class DeploymentKeySecretSerializer(DeploymentKeySerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="The key's secret, for `Authorization: Bearer <secret>` on the endpoint. Shown only in this "
        "response: it is stored as a SHA-256 digest and cannot be shown again (rotate for a new one).",
    )

    class Meta(DeploymentKeySerializer.Meta):
        fields = [*DeploymentKeySerializer.Meta.fields, "secret"]


class EndpointQueueSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """The endpoint's request queue: its settings (PUT/PATCH any of them) and its length now."""

    deployment_id = serializers.UUIDField(read_only=True)
    max_length = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_QUEUE_LENGTH,
        help_text="Requests that may wait at once; one more is refused with 429 (counted as queue_full).",
    )
    timeout_s = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_QUEUE_TIMEOUT,
        help_text="Seconds a request may wait; past it, it is dropped (counted as queue_timeout) and its ticket "
        "answers 429.",
    )
    priority_by = serializers.ChoiceField(
        required=False,
        choices=EndpointQueue.PriorityBy.choices,
        help_text="`key`: callers are ordered by their key's priority, then arrival; `arrival`: FIFO.",
    )
    concurrency_per_replica = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_CONCURRENCY_PER_REPLICA,
        help_text="Requests one running replica takes at once; past running replicas x this, requests queue. "
        "null: no limit.",
    )
    length = serializers.IntegerField(read_only=True, help_text="Requests waiting now.")

    class Meta:
        model = EndpointQueue
        fields = [
            "deployment_id",
            "max_length",
            "timeout_s",
            "priority_by",
            "concurrency_per_replica",
            "length",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]
