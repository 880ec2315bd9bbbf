"""Admin for the group → role mappings (editable) and the identities sign-in made (read-only)."""

from django.contrib import admin

from sso.conf import configured_mappings
from sso.models import ExternalIdentity, GroupRoleMapping


@admin.register(GroupRoleMapping)
class GroupRoleMappingAdmin(admin.ModelAdmin):
    list_display = ["group", "tenant", "role", "is_superuser", "created_at"]
    list_filter = ["tenant", "role", "is_superuser"]
    search_fields = ["group", "tenant__name"]
    list_select_related = ["tenant"]
    autocomplete_fields = ["tenant"]

    def changelist_view(self, request, extra_context=None):
        # The mappings from OIDC_GROUP_ROLES apply too; they are listed so the table does not look like the whole.
        extra_context = {**(extra_context or {}), "configured_mappings": configured_mappings()}
        return super().changelist_view(request, extra_context)


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(admin.ModelAdmin):
    list_display = ["user", "subject", "issuer", "superuser_from_groups", "last_login_at"]
    search_fields = ["user__username", "subject"]
    list_select_related = ["user"]
    readonly_fields = ["user", "issuer", "subject", "groups", "superuser_from_groups", "last_login_at", "created_at"]

    def has_add_permission(self, request):
        return False
