from django.utils import timezone
from rest_framework import serializers

from core.api.fields import StrictFieldsMixin
from security.models import ApiToken, ServiceAccount
from tenancy.api.viewsets import FixedAfterCreateMixin, ScopedPrimaryKeyRelatedField
from tenancy.models import Membership, Tenant

DEFAULT_EXPIRY_DAYS = 90


class ApiTokenSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    expires_in_days = serializers.IntegerField(
        write_only=True,
        required=False,
        allow_null=True,
        min_value=1,
        max_value=3650,
        default=DEFAULT_EXPIRY_DAYS,
        help_text=f"Days until the token expires (default {DEFAULT_EXPIRY_DAYS}); null: never.",
    )
    is_active = serializers.SerializerMethodField(help_text="Neither revoked nor expired.")

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "scope",
            "expires_in_days",
            "expires_at",
            "last_used_at",
            "last_used_ip",
            "revoked_at",
            "is_active",
            "created_at",
        ]
        read_only_fields = ["id", "prefix", "expires_at", "last_used_at", "last_used_ip", "revoked_at", "created_at"]
        validators = []  # a duplicate live name is a business rule: the service answers it per field

    def get_is_active(self, token) -> bool:
        return token.revoked_at is None and (token.expires_at is None or token.expires_at > timezone.now())


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    key = serializers.CharField(read_only=True, help_text="The secret key. Shown only in this response.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]


class ServiceAccountSerializer(FixedAfterCreateMixin, StrictFieldsMixin, serializers.ModelSerializer):
    fixed_after_create = ("tenant_id", "name")
    tenant_id = ScopedPrimaryKeyRelatedField(source="tenant", queryset=Tenant.objects.all(), tenant_field="id")
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = ServiceAccount
        fields = ["id", "tenant_id", "name", "description", "role", "username", "is_active", "created_at"]
        read_only_fields = ["id", "username", "is_active", "created_at"]
        validators = []
