"""Reads scoped to the tenants a user belongs to; superusers see everything."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Model, Q, QuerySet

from core.exceptions import PermissionDenied
from tenancy.models import WRITE_ROLES, Membership, Project, Tenant


def _cache(user) -> dict:
    # Memoised on the user object, which lives for one request: the role lookup is one query per request.
    cached = getattr(user, "_tenant_roles", None)
    if cached is None:
        cached = dict(Membership.objects.filter(user=user).values_list("tenant_id", "role"))
        user._tenant_roles = cached
    return cached


def user_tenant_roles(user) -> dict:
    """{tenant_id: role} for the user's memberships."""
    if not user or not user.is_authenticated:
        return {}
    return _cache(user)


def user_tenant_ids(user) -> list:
    """Ids of the tenants a user belongs to (superusers: not used, they are unscoped)."""
    return list(user_tenant_roles(user))


def user_role(user, tenant_id) -> str | None:
    """The user's role in a tenant, or None."""
    if user.is_superuser:
        return Membership.Role.ADMIN
    return user_tenant_roles(user).get(tenant_id)


def user_can_write(user, tenant_id) -> bool:
    """Admins and members write in their tenant; viewers only read."""
    return user.is_superuser or user_tenant_roles(user).get(tenant_id) in WRITE_ROLES


def require_write(user, tenant_id) -> None:
    """PermissionDenied unless the user writes in the tenant: what every write service checks first. `None` is the
    system acting on its own (the autoscaler, start-up code): what it does was allowed when its policy was set."""
    if user is None:
        return
    if not user_can_write(user, tenant_id):
        raise PermissionDenied("Your role in this tenant is read-only.")


def user_is_tenant_admin(user, tenant_id) -> bool:
    return user.is_superuser or user_tenant_roles(user).get(tenant_id) == Membership.Role.ADMIN


def require_admin(user, tenant_id, *, manages: str) -> None:
    """PermissionDenied unless the user is an admin of the tenant (`manages` names what, for the message); `None`
    is the system acting on its own, as for `require_write`."""
    if user is not None and not user_is_tenant_admin(user, tenant_id):
        raise PermissionDenied(f"Only the tenant's admins {manages}.")


def scope_to_user(queryset: QuerySet, user, *, tenant_field: str = "tenant", include_null: bool = False) -> QuerySet:
    """Restrict a queryset to the user's tenants (`include_null` also keeps rows with no tenant: system rows)."""
    if user.is_superuser:
        return queryset
    condition = Q(**{f"{tenant_field}__in": user_tenant_ids(user)})
    if include_null:
        condition |= Q(**{f"{tenant_field}__isnull": True})
    return queryset.filter(condition)


def tenant_list(*, user) -> QuerySet[Tenant]:
    return scope_to_user(Tenant.objects.all(), user, tenant_field="id")


def project_list(*, user) -> QuerySet[Project]:
    return scope_to_user(Project.objects.select_related("tenant"), user)


def membership_list(*, tenant: Tenant) -> QuerySet[Membership]:
    return Membership.objects.filter(tenant=tenant).select_related("user", "tenant")


def user_membership_list(*, user) -> QuerySet[Membership]:
    """The user's own memberships with their tenants (for "your tenants and roles")."""
    return Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name")


def tenant_loses_last_admin(*, tenant_id, losing: Iterable, gaining: bool = False) -> bool:
    """Whether demoting or removing the memberships `losing` (ids) leaves a tenant that has admins with none;
    `gaining`: another membership becomes an admin in the same change. The API, the services and the admin site
    all apply this rule: a tenant keeps at least one admin."""
    admins = set(
        Membership.objects.filter(tenant_id=tenant_id, role=Membership.Role.ADMIN).values_list("pk", flat=True)
    )
    lost = admins & set(losing)
    return bool(lost) and not gaining and not admins - lost


def removal_loses_last_admin(memberships: Iterable[Membership]) -> bool:
    """Whether removing these memberships (of any tenants) leaves one of their tenants without an admin."""
    by_tenant: dict = {}
    for membership in memberships:
        by_tenant.setdefault(membership.tenant_id, []).append(membership.pk)
    return any(tenant_loses_last_admin(tenant_id=tenant_id, losing=pks) for tenant_id, pks in by_tenant.items())


def tenant_of(obj: Model, tenant_field: str = "tenant") -> object:
    """The tenant id of an object, following a dotted/underscored path such as `project__tenant`."""
    value = obj
    for part in tenant_field.split("__"):
        value = getattr(value, part)
        if value is None:
            return None
    return getattr(value, "pk", value)


def writable_tenant_ids(user) -> list:
    """Ids of the tenants where the user may write."""
    return [tid for tid, role in user_tenant_roles(user).items() if role in WRITE_ROLES]
