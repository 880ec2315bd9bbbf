"""Reads of the audit trail: tenant admins see their tenants' events, superusers every event."""

from __future__ import annotations

from django.db.models import QuerySet

from audit.models import AuditEvent
from tenancy.models import Membership
from tenancy.selectors import user_tenant_roles


def audit_admin_tenant_ids(user) -> list:
    """Tenants whose trail the user may read (superusers: every tenant, not listed)."""
    return [tenant_id for tenant_id, role in user_tenant_roles(user).items() if role == Membership.Role.ADMIN]


def audit_can_read(user) -> bool:
    return bool(user and user.is_authenticated and (user.is_superuser or audit_admin_tenant_ids(user)))


def audit_event_list(*, user) -> QuerySet[AuditEvent]:
    """Newest first, scoped to the tenants the user administers (events with no tenant: superusers only)."""
    queryset = AuditEvent.objects.all()
    if user.is_superuser:
        return queryset
    return queryset.filter(tenant_id__in=audit_admin_tenant_ids(user))
