from rest_framework import serializers

from audit.models import AuditEvent

CSV_FIELDS = [
    "id",
    "at",
    "actor",
    "actor_kind",
    "token_name",
    "source",
    "ip",
    "request",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "tenant_id",
    "changes",
]


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_username", help_text="Username, or os:<user> for a command.")
    tenant_id = serializers.UUIDField(allow_null=True)
    changes = serializers.DictField(help_text="{field: {before, after}}, secrets masked.")

    class Meta:
        model = AuditEvent
        fields = [*CSV_FIELDS[:2], "actor_id", *CSV_FIELDS[2:]]
        read_only_fields = fields
