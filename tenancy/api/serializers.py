from rest_framework import serializers

from core.api.fields import StrictFieldsMixin
from tenancy.api.viewsets import FixedAfterCreateMixin, ScopedPrimaryKeyRelatedField
from tenancy.models import Membership, Project, Tenant
from tenancy.selectors import user_role


class TenantSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="The caller's role in this tenant.")

    class Meta:
        model = Tenant
        fields = ["id", "name", "role", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def get_role(self, tenant) -> str | None:
        return user_role(self.context["request"].user, tenant.pk)


class ProjectSerializer(FixedAfterCreateMixin, StrictFieldsMixin, serializers.ModelSerializer):
    tenant_id = ScopedPrimaryKeyRelatedField(source="tenant", queryset=Tenant.objects.all(), tenant_field="id")

    class Meta:
        model = Project
        fields = ["id", "tenant_id", "name", "description", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators = []  # uniqueness is a business rule: the service answers it per field


class MembershipSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    user_id = serializers.IntegerField(source="user.pk", read_only=True)
    tenant_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = Membership
        fields = ["user_id", "username", "tenant_id", "role", "source", "created_at"]
        read_only_fields = ["source", "created_at"]


class MembershipRoleSerializer(StrictFieldsMixin, serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices)
