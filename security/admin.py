from django.contrib import admin

from core.admin import ReadOnlyAdmin
from security.models import ApiToken, LoginAttempt, ServiceAccount


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
