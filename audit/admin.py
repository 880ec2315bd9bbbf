from django.contrib import admin

from audit.models import AuditEvent
from core.admin import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read only: the trail cannot be changed or deleted, here or anywhere else in the product."""

    list_display = ["at", "actor_username", "actor_kind", "token_name", "source", "action", "object_type", "object_id"]
    list_filter = ["source", "actor_kind", "object_type"]
    search_fields = ["actor_username", "object_id", "object_repr", "token_name"]
    date_hierarchy = "at"
