"""Writes for tenants, projects and memberships."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from audit.services import audit_record, snapshot
from core.exceptions import Conflict, NotFound, PermissionDenied, ValidationError
from tenancy.models import Membership, Project, Tenant
from tenancy.selectors import removal_loses_last_admin, tenant_loses_last_admin, user_can_write, user_is_tenant_admin

User = get_user_model()


@transaction.atomic
def tenant_create(*, user, name: str) -> Tenant:
    """Create a tenant (superusers only); its creator becomes its first admin."""
    if not user.is_superuser:
        raise PermissionDenied("Only superusers create tenants.")
    if Tenant.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": "A tenant with this name already exists."})
    tenant = Tenant.objects.create(name=name)
    Membership.objects.create(user=user, tenant=tenant, role=Membership.Role.ADMIN)
    audit_record(action="create", obj=tenant, after={"name": name})
    return tenant


def tenant_update(*, user, tenant: Tenant, name: str | None = None) -> Tenant:
    """Rename a tenant (its admins); no name (an empty PATCH) changes nothing."""
    if not user_is_tenant_admin(user, tenant.pk):
        raise PermissionDenied("Only the tenant's admins can change it.")
    if name is None:
        return tenant
    if Tenant.objects.filter(name__iexact=name).exclude(pk=tenant.pk).exists():
        raise ValidationError({"name": "A tenant with this name already exists."})
    before = snapshot(tenant, ["name"])
    tenant.name = name
    tenant.save(update_fields=["name", "updated_at"])
    audit_record(action="update", obj=tenant, before=before, after={"name": name})
    return tenant


PROJECT_FIELDS = ["tenant", "name", "description"]


def project_create(*, user, tenant: Tenant, name: str, description: str = "") -> Project:
    """Create a project in a tenant where the user may write."""
    if not user_can_write(user, tenant.pk):
        raise PermissionDenied("Viewers cannot create projects.")
    try:
        with transaction.atomic():
            project = Project.objects.create(tenant=tenant, name=name, description=description)
            audit_record(action="create", obj=project, after=snapshot(project, PROJECT_FIELDS))
            return project
    except IntegrityError:
        raise ValidationError({"name": "A project with this name already exists in the tenant."}) from None


def project_update(*, user, project: Project, **fields) -> Project:
    """Rename or describe a project."""
    if not user_can_write(user, project.tenant_id):
        raise PermissionDenied("Viewers cannot change projects.")
    before = snapshot(project, PROJECT_FIELDS)
    for key, value in fields.items():
        setattr(project, key, value)
    try:
        with transaction.atomic():
            project.save()
            audit_record(action="update", obj=project, before=before, after=snapshot(project, PROJECT_FIELDS))
    except IntegrityError:
        raise ValidationError({"name": "A project with this name already exists in the tenant."}) from None
    return project


LAST_ADMIN = "A tenant keeps at least one admin."
MAPPED = "This membership comes from the identity provider's groups; change the group mapping or the groups instead."


def _require_manual(memberships: Iterable[Membership]) -> None:
    # Sign-in would undo a hand change to a group-made membership: refuse it instead of letting it silently revert.
    if any(membership.source == Membership.Source.GROUPS for membership in memberships):
        raise Conflict(MAPPED)


def _require_admin(user, tenant: Tenant) -> None:
    if not user_is_tenant_admin(user, tenant.pk):
        raise PermissionDenied("Only the tenant's admins manage its members.")


def _lock_admins(tenant_id) -> None:
    # Lock the tenant's admin rows so two concurrent demotions or removals cannot both pass the last-admin check.
    list(Membership.objects.select_for_update().filter(tenant_id=tenant_id, role=Membership.Role.ADMIN))


@transaction.atomic
def membership_add(*, user, tenant: Tenant, username: str, role: str) -> Membership:
    """Add an existing user to a tenant with a role."""
    _require_admin(user, tenant)
    member = User.objects.filter(username=username).first()
    if member is None:
        raise ValidationError({"username": f"No user named {username!r}."})
    if Membership.objects.filter(tenant=tenant, user=member).exists():
        raise ValidationError({"username": f"{username!r} is already a member of this tenant."})
    membership = Membership.objects.create(tenant=tenant, user=member, role=role)
    audit_record(action="create", obj=membership, after={"user": member.username, "role": role})
    return membership


def membership_get(*, tenant: Tenant, member_key: str) -> Membership:
    """A membership by the member's username; by user id only when no member has that username (`12345` is a
    valid username, and members are added by username)."""
    queryset = Membership.objects.select_related("user").filter(tenant=tenant)
    membership = queryset.filter(user__username=member_key).first()
    if membership is None and str(member_key).isdigit():
        membership = queryset.filter(user__pk=int(member_key)).first()
    if membership is None:
        raise NotFound("No such member.")
    return membership


@transaction.atomic
def membership_change_role(*, user, membership: Membership, role: str) -> Membership:
    """Change a member's role (the tenant's admins); the last admin cannot be demoted."""
    _require_admin(user, membership.tenant)
    return membership_set_role(membership=membership, role=role)


@transaction.atomic
def membership_set_role(*, membership: Membership, role: str) -> Membership:
    """Set a member's role with no caller check (the admin site, guarded by Django's permissions); the last admin
    cannot be demoted."""
    _require_manual([membership])
    _lock_admins(membership.tenant_id)
    # The stored role decides, not the instance's: an admin form has already written the new role onto it.
    if role != Membership.Role.ADMIN and tenant_loses_last_admin(
        tenant_id=membership.tenant_id, losing=[membership.pk]
    ):
        raise Conflict(LAST_ADMIN)
    before = {"role": Membership.objects.filter(pk=membership.pk).values_list("role", flat=True).first()}
    Membership.objects.filter(pk=membership.pk).update(role=role)
    membership.role = role
    audit_record(action="update", obj=membership, before=before, after={"role": role})
    return membership


@transaction.atomic
def membership_remove(*, user, membership: Membership) -> None:
    """Remove a member (the tenant's admins); the last admin cannot be removed."""
    _require_admin(user, membership.tenant)
    membership_delete(memberships=[membership])


@transaction.atomic
def membership_delete(*, memberships: Iterable[Membership]) -> None:
    """Remove memberships with no caller check (the admin site); refused when a tenant would lose its last admin."""
    memberships = list(memberships)
    _require_manual(memberships)
    for tenant_id in sorted({membership.tenant_id for membership in memberships}, key=str):
        _lock_admins(tenant_id)
    if removal_loses_last_admin(memberships):
        raise Conflict(LAST_ADMIN)
    Membership.objects.filter(pk__in=[membership.pk for membership in memberships]).delete()
    for membership in memberships:
        audit_record(
            action="delete", obj=membership, before={"user": membership.user.username, "role": membership.role}
        )
