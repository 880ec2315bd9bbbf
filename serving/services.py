"""Writes of the serving app: deployment keys (create, update, rotate, revoke), their use, and request counts."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from audit.services import audit_record
from core.exceptions import Conflict, ValidationError
from deployments.models import UseCaseDeployment
from deployments.state import DeploymentStatus
from serving.models import DEFAULT_PRIORITY, DeploymentKey, EndpointQueue, EndpointTraffic
from tenancy.selectors import require_write

SECRET_PREFIX = "ucfd_"  # "deployment key": tells it from an API token (ucf_) in a log or a secret scanner
PREFIX_LENGTH = len(SECRET_PREFIX) + 8
TRAFFIC_COLUMNS = ("served", "unauthorized", "throttled", "unavailable", "queued", "queue_full", "queue_timeout")
TRAFFIC_SUMS = ("dequeued", "queue_wait_ms")  # added to, like the columns above, but by any amount
TRAFFIC_MAXIMA = ("queue_wait_max_ms", "queue_length_max")  # the minute's largest value


def key_digest(secret: str) -> str:
    """The stored form of a secret. A secret is 256 random bits, so SHA-256 is enough and fast: there is no
    dictionary to try, and a slow password hash (PBKDF2) would put ~100 ms on every gateway request for nothing.
    The digest is the lookup key (a unique index), so checking a secret is one indexed query."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _check_writer(user, deployment: UseCaseDeployment) -> None:
    if user is not None:
        require_write(user, deployment.tenant_id)


def _facts(key: DeploymentKey) -> dict:
    return {
        "name": key.name,
        "prefix": key.prefix,
        "rate_limit": key.rate_limit,
        "priority": key.priority,
        "deployment": str(key.deployment_id),
    }


def _name_taken(deployment: UseCaseDeployment, name: str) -> ValidationError:
    return ValidationError({"name": [f"The deployment already has a live key named {name!r}."]})


def key_create(
    *, user, deployment: UseCaseDeployment, name: str, rate_limit: int | None = None, priority: int | None = None
) -> tuple[DeploymentKey, str]:
    """A new key for the deployment's endpoint; returns the key and its secret, which is never stored in clear and
    cannot be shown again."""
    _check_writer(user, deployment)
    if deployment.status in (DeploymentStatus.DELETING, DeploymentStatus.DELETED):
        raise Conflict("The deployment is being deleted: its endpoint takes no new keys.")
    secret = _new_secret()
    try:
        with transaction.atomic():
            key = DeploymentKey.objects.create(
                tenant_id=deployment.tenant_id,
                deployment=deployment,
                name=name,
                prefix=secret[:PREFIX_LENGTH],
                digest=key_digest(secret),
                rate_limit=rate_limit or settings.SERVING_DEFAULT_RATE_LIMIT,
                priority=DEFAULT_PRIORITY if priority is None else priority,
                created_by=user,
            )
            audit_record(action="create", obj=key, tenant_id=deployment.tenant_id, after=_facts(key))
    except IntegrityError:
        raise _name_taken(deployment, name) from None
    return key, secret


def key_update(
    *, user, key: DeploymentKey, name: str | None = None, rate_limit: int | None = None, priority: int | None = None
) -> DeploymentKey:
    """Rename a key or change its rate limit or queue priority (effective from the next request)."""
    _check_writer(user, key.deployment)
    if key.revoked_at is not None:
        raise Conflict("The key is revoked.")
    before = _facts(key)
    if name is not None:
        key.name = name
    if rate_limit is not None:
        key.rate_limit = rate_limit
    if priority is not None:
        key.priority = priority
    try:
        with transaction.atomic():
            key.save(update_fields=["name", "rate_limit", "priority"])
            audit_record(action="update", obj=key, tenant_id=key.tenant_id, before=before, after=_facts(key))
    except IntegrityError:
        raise _name_taken(key.deployment, key.name) from None
    return key


@transaction.atomic
def key_rotate(*, user, key: DeploymentKey) -> tuple[DeploymentKey, str]:
    """Give the key a new secret; the old one is refused from this moment. Returns the key and its new secret."""
    _check_writer(user, key.deployment)
    secret, now = _new_secret(), timezone.now()
    changed = DeploymentKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
        digest=key_digest(secret), prefix=secret[:PREFIX_LENGTH], rotated_at=now
    )
    if not changed:
        raise Conflict("The key is revoked: create a new one.")
    key.digest, key.prefix, key.rotated_at = key_digest(secret), secret[:PREFIX_LENGTH], now
    audit_record(action="rotate", obj=key, tenant_id=key.tenant_id, after={"prefix": key.prefix, "rotated_at": now})
    return key, secret


@transaction.atomic
def key_revoke(*, user, key: DeploymentKey) -> DeploymentKey:
    """Refuse the key from now on; the row stays (listed with revoked_at) for the record. Revoking twice is a no-op."""
    _check_writer(user, key.deployment)
    now = timezone.now()
    if DeploymentKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=now):
        key.revoked_at = now
        audit_record(action="revoke", obj=key, tenant_id=key.tenant_id, after={"revoked_at": now})
    return key


def key_touch(*, key: DeploymentKey, now: datetime) -> None:
    """Record the key's use, at most once per SERVING_LAST_USED_RESOLUTION seconds (not one write per request)."""
    resolution = timedelta(seconds=settings.SERVING_LAST_USED_RESOLUTION)
    if key.last_used_at is None or now - key.last_used_at >= resolution:
        DeploymentKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


def traffic_count(*, deployment_id, at: datetime, column: str = "", extra: dict[str, int] | None = None) -> None:
    """Count one request of the deployment's endpoint in its minute (`column`: one of TRAFFIC_COLUMNS, or "" for
    none), plus `extra` amounts (TRAFFIC_COLUMNS or TRAFFIC_SUMS: added; TRAFFIC_MAXIMA: kept if larger). One UPDATE
    in the common case; the minute's first request inserts the row."""
    amounts = dict(extra or {})
    if column:
        amounts[column] = amounts.get(column, 0) + 1
    unknown = set(amounts) - set(TRAFFIC_COLUMNS) - set(TRAFFIC_SUMS) - set(TRAFFIC_MAXIMA)
    if unknown or (column and column not in TRAFFIC_COLUMNS):
        raise ValueError(f"unknown traffic column {column or sorted(unknown)!r}")
    amounts = {name: int(value) for name, value in amounts.items() if value}
    if not amounts:
        return
    changes = {
        name: Greatest(F(name), value) if name in TRAFFIC_MAXIMA else F(name) + value for name, value in amounts.items()
    }
    minute = at.replace(second=0, microsecond=0)
    rows = EndpointTraffic.objects.filter(deployment_id=deployment_id, minute=minute)
    if rows.update(**changes):
        return
    try:
        with transaction.atomic():
            EndpointTraffic.objects.create(deployment_id=deployment_id, minute=minute, **amounts)
    except IntegrityError:  # another request inserted the minute's row in between
        rows.update(**changes)


QUEUE_FIELDS = ("max_length", "timeout_s", "priority_by", "concurrency_per_replica")


def queue_settings_set(*, user, deployment: UseCaseDeployment, **fields) -> EndpointQueue:
    """Set some of the endpoint queue's settings (the others keep their current or default values); effective from
    the next request. Entries already in the line keep their place; a shorter max length refuses new ones only."""
    _check_writer(user, deployment)
    if deployment.status in (DeploymentStatus.DELETING, DeploymentStatus.DELETED):
        raise Conflict("The deployment is being deleted.")
    with transaction.atomic():
        queue, _ = EndpointQueue.objects.select_for_update().get_or_create(
            deployment=deployment, defaults={"tenant_id": deployment.tenant_id}
        )
        before = {name: getattr(queue, name) for name in QUEUE_FIELDS}
        for name in QUEUE_FIELDS:
            if name in fields:
                setattr(queue, name, fields[name])
        queue.save()
        after = {name: getattr(queue, name) for name in QUEUE_FIELDS}
        audit_record(action="update", obj=queue, tenant_id=deployment.tenant_id, before=before, after=after)
    return queue
