from django.contrib import admin

from security.models import ApiToken, LoginAttempt, ServiceAccount


class ReadOnlyAdmin(admin.ModelAdmin):
    """Listed for review; changed only through the API and the services (keys are never shown again)."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ["name", "prefix", "user", "scope", "expires_at", "last_used_at", "revoked_at", "created_at"]
    list_filter = ["scope"]
    search_fields = ["name", "prefix", "user__username"]
    exclude = ["digest"]


@admin.register(ServiceAccount)
class ServiceAccountAdmin(ReadOnlyAdmin):
    list_display = ["name", "tenant", "is_active", "created_by", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "tenant__name"]


@admin.register(LoginAttempt)
class LoginAttemptAdmin(ReadOnlyAdmin):
    list_display = ["at", "username", "ip", "succeeded", "locked_out"]
    list_filter = ["succeeded", "locked_out"]
    search_fields = ["username", "ip"]
