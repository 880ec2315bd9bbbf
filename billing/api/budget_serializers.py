from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.models import Budget, BudgetAlert
from tenancy.api.viewsets import ScopedPrimaryKeyRelatedField
from tenancy.models import Project, Tenant

AMOUNT = {"max_digits": 30, "decimal_places": 12, "read_only": True}


class BudgetStatusSerializer(serializers.Serializer):
    month = serializers.DateTimeField(read_only=True)
    spent = serializers.DecimalField(**AMOUNT, help_text="This month's usage so far (exact, not rounded).")
    burn_per_hour = serializers.DecimalField(**AMOUNT, help_text="Spend of the last 24 h per hour.")
    forecast = serializers.DecimalField(**AMOUNT, help_text="Spent plus the burn rate over the hours left.")
    percent = serializers.DecimalField(max_digits=12, decimal_places=1, read_only=True)
    forecast_percent = serializers.DecimalField(max_digits=12, decimal_places=1, read_only=True)


class BudgetAlertSerializer(serializers.ModelSerializer):
    class Meta:
        model = BudgetAlert
        fields = ["month", "threshold", "spent", "forecast", "fired_at"]
        read_only_fields = fields


class BudgetSerializer(serializers.ModelSerializer):
    tenant_id = ScopedPrimaryKeyRelatedField(
        queryset=Tenant.objects.all(),
        source="tenant",
        tenant_field="pk",
        required=False,
        help_text="Default: the project's tenant.",
    )
    project_id = ScopedPrimaryKeyRelatedField(
        queryset=Project.objects.all(),
        source="project",
        required=False,
        allow_null=True,
        help_text="None: a budget for the whole tenant.",
    )
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    status = serializers.SerializerMethodField()
    alerts = BudgetAlertSerializer(many=True, read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Budget
        fields = [
            "id",
            "tenant_id",
            "project_id",
            "name",
            "amount",
            "hard_cap",
            "status",
            "alerts",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "status", "alerts", "created_by", "created_at", "updated_at"]
        validators: list = []  # uniqueness of name and scope is the service's check, with field errors

    @extend_schema_field(BudgetStatusSerializer(allow_null=True))
    def get_status(self, budget) -> dict:
        status = self.context.get("statuses", {}).get(budget.pk)
        return BudgetStatusSerializer(status).data if status is not None else None

    def validate(self, attrs):
        if self.instance is None:
            project, tenant = attrs.get("project"), attrs.get("tenant")
            if tenant is None and project is None:
                raise serializers.ValidationError({"tenant_id": ["Give the tenant, or a project."]})
            if tenant is None:
                attrs["tenant"] = project.tenant
        elif "tenant" in attrs and attrs["tenant"].pk != self.instance.tenant_id:
            raise serializers.ValidationError({"tenant_id": ["A budget stays in its tenant."]})
        return attrs
