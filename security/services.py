"""Writes for API tokens and service accounts; the token check every API request makes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from core.exceptions import PermissionDenied, ValidationError
from security.models import ApiToken, ServiceAccount
from tenancy.models import Membership, Tenant
from tenancy.selectors import user_is_tenant_admin

User = get_user_model()

KEY_PREFIX = "ucf_"
# A token used again within this many seconds does not rewrite last_used_at: one write a minute, not per request.
LAST_USED_RESOLUTION = timedelta(seconds=60)
# A live token and its user are kept in the cache settings.TOKEN_CACHE_SECONDS after they were read (each minute's
# last-use write reads them again); every write that can end a token drops it at once (token_cache_drop, and
# security.apps' receivers). 0 (the default without Redis) reads the database on every request: a per-process cache
# would keep a token revoked by another process (a manage.py command, a worker) alive in this one.


class TokenInvalid(Exception):
    """The key matches no live token (unknown, revoked, expired, or its owner is inactive)."""


def token_digest(key: str) -> str:
    """The stored form of a key. Keys are 256 random bits, so a fast hash is safe (no dictionary to try)."""
    return hashlib.sha256(key.encode()).hexdigest()


def _require_token_manager(user, owner) -> None:
    if user.pk == owner.pk or user.is_superuser:
        return
    account = ServiceAccount.objects.filter(user=owner).first()
    if account is None or not user_is_tenant_admin(user, account.tenant_id):
        raise PermissionDenied("Only the owner, or a tenant admin for a service account, manages these tokens.")


def _expiry(expires_in_days: int | object | None) -> datetime | None:
    if expires_in_days is None:
        return None
    return timezone.now() + timedelta(days=int(expires_in_days))


def _insert_token(*, owner, name: str, key: str, scope: str, expires_at, created_by) -> ApiToken:
    try:
        with transaction.atomic():
            return ApiToken.objects.create(
                user=owner,
                name=name,
                prefix=key[: len(KEY_PREFIX) + 8],
                digest=token_digest(key),
                scope=scope,
                expires_at=expires_at,
                created_by=created_by,
            )
    except IntegrityError:
        raise ValidationError({"name": "A live token with this name already exists."}) from None


def _owner_tenant(owner):
    # A service account's tokens belong to its tenant's trail; a person's tokens to no tenant (superusers see them).
    return ServiceAccount.objects.filter(user=owner).values_list("tenant_id", flat=True).first()


def _token_facts(token: ApiToken) -> dict:
    return {"owner": token.user.username, "name": token.name, "scope": token.scope, "expires_at": token.expires_at}


def token_create(
    *, user, owner, name: str, scope: str = ApiToken.Scope.WRITE, expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    """Create a token for `owner` (the caller, or a service account the caller administers); returns the token
    and its clear key, which is never stored and cannot be shown again. `expires_in_days=None`: no expiry."""
    _require_token_manager(user, owner)
    if not owner.is_active:
        raise ValidationError({"owner": "The owner is deactivated."})
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = _insert_token(
        owner=owner, name=name, key=key, scope=scope, expires_at=_expiry(expires_in_days), created_by=user
    )
    audit_record(action="create", obj=token, tenant_id=_owner_tenant(owner), after=_token_facts(token))
    return token, key


def token_revoke(*, user, token: ApiToken) -> ApiToken:
    """Revoke a token at once; revoked tokens stay listed (with revoked_at) for the record."""
    _require_token_manager(user, token.user)
    if token.revoked_at is None:
        now = timezone.now()
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
        token_cache_drop(digests=[token.digest])
        token.revoked_at = now
        audit_record(action="revoke", obj=token, tenant_id=_owner_tenant(token.user), after={"revoked_at": now})
    return token


def _token_cache_key(digest: str) -> str:
    return f"security:token:{digest}"


def token_cache_drop(*, digests: Iterable[str]) -> None:
    """Forget cached tokens, now and again after commit (a request may cache the old row while the write is open)."""
    keys = [_token_cache_key(digest) for digest in digests]
    if keys:
        cache.delete_many(keys)
        transaction.on_commit(lambda: cache.delete_many(keys))


def user_token_cache_drop(*, user_id) -> None:
    """Forget the cached tokens of a user whose row changed (deactivated, made staff, ...)."""
    token_cache_drop(digests=ApiToken.objects.filter(user_id=user_id).values_list("digest", flat=True))


def token_authenticate(*, key: str, ip: str | None = None) -> ApiToken:
    """The live token for `key` with its user (from the cache, else one query), recording its use at most once a
    minute. Every check below runs on each request, on the cached row too."""
    digest = token_digest(key)
    cache_key = _token_cache_key(digest)
    timeout = settings.TOKEN_CACHE_SECONDS
    token = cache.get(cache_key) if timeout else None
    cached = token is not None
    if not cached:
        try:
            token = ApiToken.objects.select_related("user").get(digest=digest)
        except ApiToken.DoesNotExist:
            raise TokenInvalid("Invalid token.") from None
    now = timezone.now()
    if token.revoked_at is not None:
        raise TokenInvalid("Token revoked.")
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenInvalid("Token expired.")
    if not token.user.is_active:
        raise TokenInvalid("User inactive or deleted.")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip)
        token.last_used_at, token.last_used_ip = now, ip
        if cached:  # read the row again next time: what was cached is at most a minute old
            cache.delete(cache_key)
            return token
    if not cached and timeout:
        # The password hash never goes to the cache: without it in the instance's __dict__ the field is deferred, so
        # reading it loads it from the database and a save() writes only the loaded fields (never an empty hash).
        token.user.__dict__.pop("password", None)
        cache.set(cache_key, token, timeout)
    return token


def bootstrap_token_ensure(*, owner, name: str = "bootstrap") -> str | None:
    """The demo user's start-up token: a key derived from SECRET_KEY, so every `make run` prints the same working
    key without storing it in clear. None when that token was revoked (it is not brought back)."""
    key = (
        KEY_PREFIX
        + hmac.new(settings.SECRET_KEY.encode(), f"bootstrap-token:{owner.pk}".encode(), "sha256").hexdigest()
    )
    token = ApiToken.objects.filter(digest=token_digest(key)).first()
    if token is None:
        _insert_token(owner=owner, name=name, key=key, scope=ApiToken.Scope.WRITE, expires_at=None, created_by=owner)
    elif token.revoked_at is not None:
        return None
    return key


def _service_account_username(tenant: Tenant, name: str) -> str:
    return f"svc.{name}.{tenant.pk.hex[:12]}.{secrets.token_hex(3)}"


@transaction.atomic
def service_account_create(*, user, tenant: Tenant, name: str, role: str, description: str = "") -> ServiceAccount:
    """Create a service account in a tenant (its admins), with a role like a member's."""
    if not user_is_tenant_admin(user, tenant.pk):
        raise PermissionDenied("Only the tenant's admins manage its service accounts.")
    if ServiceAccount.objects.filter(tenant=tenant, name=name, is_active=True).exists():
        raise ValidationError({"name": "A service account with this name already exists in the tenant."})
    account_user = User(username=_service_account_username(tenant, name), email="")
    account_user.set_unusable_password()
    account_user.save()
    Membership.objects.create(user=account_user, tenant=tenant, role=role)
    account = ServiceAccount.objects.create(
        tenant=tenant, name=name, description=description, user=account_user, created_by=user
    )
    audit_record(action="create", obj=account, after={"name": name, "role": role, "description": description})
    return account


@transaction.atomic
def service_account_update(
    *, user, account: ServiceAccount, role: str | None = None, description: str | None = None
) -> ServiceAccount:
    """Change a service account's role or description (the tenant's admins)."""
    if not user_is_tenant_admin(user, account.tenant_id):
        raise PermissionDenied("Only the tenant's admins manage its service accounts.")
    membership = Membership.objects.filter(user=account.user, tenant=account.tenant)
    before = {"role": membership.values_list("role", flat=True).first(), "description": account.description}
    if role is not None:
        membership.update(role=role)
    if description is not None:
        account.description = description
        account.save(update_fields=["description"])
    after = {"role": role or before["role"], "description": account.description}
    audit_record(action="update", obj=account, before=before, after=after)
    return account


@transaction.atomic
def service_account_deactivate(*, user, account: ServiceAccount) -> None:
    """Retire a service account: its tokens are revoked, its role removed, its user deactivated; the row stays."""
    if not user_is_tenant_admin(user, account.tenant_id):
        raise PermissionDenied("Only the tenant's admins manage its service accounts.")
    ApiToken.objects.filter(user=account.user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    Membership.objects.filter(user=account.user).delete()
    User.objects.filter(pk=account.user_id).update(is_active=False)
    user_token_cache_drop(user_id=account.user_id)
    ServiceAccount.objects.filter(pk=account.pk).update(is_active=False)
    account.is_active = False
    audit_record(action="deactivate", obj=account, before={"is_active": True}, after={"is_active": False})
