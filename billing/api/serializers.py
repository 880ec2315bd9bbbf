from rest_framework import serializers

from billing.models import Invoice, InvoiceLine
from tenancy.api.viewsets import ScopedPrimaryKeyRelatedField
from tenancy.models import Project


class InvoiceLineSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = InvoiceLine
        fields = [
            "id",
            "kind",
            "project_id",
            "usecase_deployment_id",
            "deployment_name",
            "usecase",
            "template",
            "resource",
            "unit",
            "quantity",
            "amount",
            "reason",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class InvoiceSerializer(serializers.ModelSerializer):
    tenant_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = Invoice
        fields = [
            "id",
            "tenant_id",
            "month",
            "status",
            "number",
            "currency",
            "usage_total",
            "total",
            "checksum",
            "computed_at",
            "finalised_at",
        ]
        read_only_fields = fields


class InvoiceDetailSerializer(InvoiceSerializer):
    lines = InvoiceLineSerializer(many=True, read_only=True)

    class Meta(InvoiceSerializer.Meta):
        fields = [*InvoiceSerializer.Meta.fields, "lines"]
        read_only_fields = fields


class AdjustmentSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, help_text="Negative for a credit, in cents.")
    reason = serializers.CharField(max_length=2000)
    project_id = ScopedPrimaryKeyRelatedField(
        queryset=Project.objects.all(), source="project", required=False, allow_null=True
    )
