from django.contrib import admin

from serving.models import DeploymentKey, EndpointTraffic


@admin.register(DeploymentKey)
class DeploymentKeyAdmin(admin.ModelAdmin):
    """Read-only: keys are created, rotated and revoked through the services (API, console), which audit them."""

    list_display = ["name", "prefix", "deployment", "rate_limit", "last_used_at", "revoked_at", "created_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "deployment__name"]
    exclude = ["digest"]
    list_select_related = ["deployment"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(EndpointTraffic)
class EndpointTrafficAdmin(admin.ModelAdmin):
    list_display = ["deployment", "minute", "served", "unauthorized", "throttled", "unavailable"]
    list_select_related = ["deployment"]
    date_hierarchy = "minute"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
