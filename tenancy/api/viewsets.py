"""Base viewsets and fields that scope every tenant-owned API to the caller's tenants."""

from __future__ import annotations

from rest_framework import serializers, viewsets
from rest_framework.permissions import IsAuthenticated

from tenancy.api.permissions import TenantWritePermission
from tenancy.selectors import scope_to_user


class TenantScopedMixin:
    """get_queryset() keeps only rows of the caller's tenants: another tenant's object is a 404."""

    tenant_field = "tenant"
    include_system_rows = False
    permission_classes = [IsAuthenticated, TenantWritePermission]

    def get_queryset(self):
        queryset = super().get_queryset()
        return scope_to_user(
            queryset, self.request.user, tenant_field=self.tenant_field, include_null=self.include_system_rows
        )


class TenantScopedViewSet(TenantScopedMixin, viewsets.ModelViewSet):
    """A model viewset scoped to the caller's tenants."""


class TenantScopedReadOnlyViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    """A read-only viewset scoped to the caller's tenants."""


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A reference (`project_id`, `cluster_id`, ...) that only resolves inside the caller's tenants."""

    def __init__(self, *, tenant_field: str = "tenant", **kwargs):
        self.tenant_field = tenant_field
        super().__init__(**kwargs)

    def get_queryset(self):
        queryset = super().get_queryset()
        request = self.context.get("request")
        if request is None:
            return queryset.none()
        return scope_to_user(queryset, request.user, tenant_field=self.tenant_field)
