"""Permission classes: every member reads; admins and members write; viewers get 403 on writes."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from tenancy.selectors import tenant_of, user_can_write, writable_tenant_ids


class TenantWritePermission(BasePermission):
    """Reads for any authenticated member; writes only where the user's role allows them."""

    message = "Your role in this tenant is read-only."

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if request.method in SAFE_METHODS or request.user.is_superuser:
            return True
        return bool(writable_tenant_ids(request.user))

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return user_can_write(request.user, tenant_of(obj, getattr(view, "tenant_field", "tenant")))
