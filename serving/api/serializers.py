from __future__ import annotations

from rest_framework import serializers

from core.api.fields import StrictFieldsMixin
from serving.models import MAX_RATE_LIMIT, DeploymentKey


class DeploymentKeySerializer(StrictFieldsMixin, serializers.ModelSerializer):
    deployment_id = serializers.UUIDField(read_only=True)
    rate_limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_RATE_LIMIT,
        help_text="Requests per minute (sliding window); beyond it the gateway answers 429. Default: "
        "SERVING_DEFAULT_RATE_LIMIT.",
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
