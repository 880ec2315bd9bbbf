"""Writes for single sign-on: the user and their mapped memberships, from a verified token's claims."""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from core.exceptions import Conflict, ValidationError
from sso.conf import OIDCSettings
from sso.models import ExternalIdentity
from sso.selectors import Grants, group_grants
from tenancy.models import Membership

logger = logging.getLogger(__name__)
User = get_user_model()
FROM_GROUPS = {"source": "identity provider groups"}


def claim_groups(claims: dict, conf: OIDCSettings) -> list[str]:
    """The groups claim as a list of strings (a single string counts as one group)."""
    groups = claims.get(conf.claim_groups) or []
    if isinstance(groups, str):
        groups = [groups]
    return sorted({str(group) for group in groups})


def _username(claims: dict, conf: OIDCSettings) -> str:
    # A client-credentials token has no person behind it: its client id names the service account.
    for name in (conf.claim_username, "client_id", "azp", "sub"):
        value = claims.get(name)
        if value:
            return str(value)[:150]
    raise ValidationError({conf.claim_username: "The token names no user (no username claim and no sub)."})


def _user_for(*, issuer: str, claims: dict, conf: OIDCSettings) -> ExternalIdentity:
    subject = str(claims.get("sub") or "")
    if not subject:
        raise ValidationError({"sub": "The token has no subject."})
    identities = (
        ExternalIdentity.objects.select_for_update().select_related("user").filter(issuer=issuer, subject=subject)
    )
    identity = identities.first()
    username = _username(claims, conf)
    if identity is not None:
        user = identity.user
        if user.username != username and not User.objects.filter(username=username).exists():
            user.username = username
        return identity
    user = User.objects.filter(username=username).first()
    if user is not None and (identity := identities.first()) is not None:
        return identity  # a concurrent first sign-in of this subject committed between the two reads
    if user is None:
        user = User(username=username)
        user.set_unusable_password()
        user.save()
    elif not conf.link_existing_users or ExternalIdentity.objects.filter(user=user).exists():
        raise Conflict(
            f"A local account named {username!r} already exists; an administrator can link it "
            "(OIDC_LINK_EXISTING_USERS=true) or rename it."
        )
    return ExternalIdentity.objects.create(user=user, issuer=issuer, subject=subject)


def memberships_apply_grants(*, user, grants: Grants) -> dict:
    """Make the user's group-made memberships match `grants` (create, change, remove), each change in the audit
    trail; hand-made memberships are never touched, and where one exists it wins. Returns {"created", "changed",
    "removed"} tenant ids."""
    existing = {m.tenant_id: m for m in Membership.objects.filter(user=user).select_related("user", "tenant")}
    changes: dict = {"created": [], "changed": [], "removed": []}
    for tenant_id, role in grants.roles.items():
        membership = existing.get(tenant_id)
        if membership is None:
            membership = Membership.objects.create(
                user=user, tenant_id=tenant_id, role=role, source=Membership.Source.GROUPS
            )
            audit_record(action="create", obj=membership, after={"user": user.username, "role": role, **FROM_GROUPS})
            changes["created"].append(tenant_id)
        elif membership.source == Membership.Source.GROUPS and membership.role != role:
            Membership.objects.filter(pk=membership.pk).update(role=role)
            audit_record(action="update", obj=membership, before={"role": membership.role}, after={"role": role})
            changes["changed"].append(tenant_id)
    gone = [
        membership
        for tenant_id, membership in existing.items()
        if membership.source == Membership.Source.GROUPS and tenant_id not in grants.roles
    ]
    if gone:
        # The identity provider is the truth for these rows: a group removed is a role gone, last admin or not.
        Membership.objects.filter(pk__in=[membership.pk for membership in gone]).delete()
        for membership in gone:
            before = {"user": user.username, "role": membership.role, **FROM_GROUPS}
            audit_record(action="delete", obj=membership, before=before)
        changes["removed"] = [membership.tenant_id for membership in gone]
    return changes


def identity_sign_in(*, issuer: str, claims: dict, conf: OIDCSettings):
    """Create or update the user a verified token names (username, e-mail, name from the configured claims) and
    apply the group mappings to their memberships and superuser flag. Returns the user."""
    try:
        return _sign_in(issuer=issuer, claims=claims, conf=conf)
    except IntegrityError:
        # A concurrent first sign-in (a CI job's parallel requests with a new token) created the same user or
        # membership first; the second attempt finds and locks its identity.
        return _sign_in(issuer=issuer, claims=claims, conf=conf)


@transaction.atomic
def _sign_in(*, issuer: str, claims: dict, conf: OIDCSettings):
    identity = _user_for(issuer=issuer, claims=claims, conf=conf)
    user = identity.user
    groups = claim_groups(claims, conf)
    grants = group_grants(groups=groups)
    profile = {"email": conf.claim_email, "first_name": conf.claim_first_name, "last_name": conf.claim_last_name}
    for attr, claim in profile.items():
        if claim in claims:
            setattr(user, attr, str(claims[claim] or "")[: User._meta.get_field(attr).max_length])
    # Only a grant the groups made is revoked with them; a superuser made by hand stays one.
    was_superuser = user.is_superuser
    made_by_hand = was_superuser and not identity.superuser_from_groups
    if grants.superuser:
        user.is_superuser = user.is_staff = True
        identity.superuser_from_groups = not made_by_hand
    elif identity.superuser_from_groups:
        user.is_superuser = user.is_staff = False
        identity.superuser_from_groups = False
    user.save()
    if user.is_superuser != was_superuser:
        after = {"is_superuser": user.is_superuser, **FROM_GROUPS}
        audit_record(action="update", obj=user, before={"is_superuser": was_superuser}, after=after)
    changes = memberships_apply_grants(user=user, grants=grants)
    identity.groups = groups
    identity.last_login_at = timezone.now()
    identity.save(update_fields=["groups", "superuser_from_groups", "last_login_at"])
    if any(changes.values()):
        logger.info("sso: %s signed in with groups %s; memberships %s", user.username, groups, changes)
    return user
