"""Recording audit events (called by the services that write), and the retention purge."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from audit.context import current
from audit.models import AuditEvent
from core.secrets import SECRET_MASK, mask_secrets

MASK = SECRET_MASK
# Field names whose values never enter the trail, wherever they appear in a change.
SECRET_NAME = re.compile(r"password|secret|token|api_?key|kubeconfig|credential|digest|private", re.IGNORECASE)


SYSTEM_ACTOR = {
    "actor": None,
    "actor_username": "",
    "actor_kind": "system",
    "token_name": "",
    "ip": None,
    "request": "",
}


def _jsonable(value):
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, (uuid.UUID, Decimal)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(item) for item in value]
    return value


def snapshot(obj: models.Model, fields: Iterable[str]) -> dict:
    """The named fields of an object as JSON-ready values (foreign keys by id), for `before` / `after`."""
    return {name: _jsonable(getattr(obj, name)) for name in fields}


def _mask_names(value, name: str):
    """`value` with whatever sits under a secret-looking field name (at any depth) replaced by the mask."""
    if SECRET_NAME.search(name):
        return MASK if value not in (None, "", {}, []) else value
    if isinstance(value, dict):
        return {key: _mask_names(item, str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_names(item, name) for item in value]
    return value


def changes_between(before: dict, after: dict, *, secret_values: Iterable[str] = ()) -> dict:
    """{field: {"before", "after"}} for the fields whose value differs; secrets masked (by field name anywhere
    in the value, and every occurrence of the given secret values)."""
    secrets = list(secret_values)
    changed = {}
    for name in sorted(set(before) | set(after)):
        old, new = _jsonable(before.get(name)), _jsonable(after.get(name))
        if old != new:
            changed[name] = {
                "before": mask_secrets(_mask_names(old, name), secrets),
                "after": mask_secrets(_mask_names(new, name), secrets),
            }
    return changed


def _tenant_id(obj):
    if obj is None:
        return None
    if obj._meta.label_lower == "tenancy.tenant":
        return obj.pk
    for path in ("tenant_id", "project__tenant_id", "deployment__tenant_id"):
        head, _, rest = path.partition("__")
        if not rest:
            if hasattr(obj, head):
                return getattr(obj, head)
        elif hasattr(obj, head) and getattr(obj, head) is not None:
            return getattr(getattr(obj, head), rest)
    return None


def audit_record(
    *,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    tenant_id=None,
    before: dict | None = None,
    after: dict | None = None,
    secret_values: Iterable[str] = (),
) -> AuditEvent:
    """Record one write by the current actor (request, command, or the system). Call it inside the service's
    transaction, so a write that rolls back leaves no event."""
    context = current()
    fields = context.actor() if context else SYSTEM_ACTOR
    event = AuditEvent.objects.create(
        **fields,
        source=context.source if context else AuditEvent.Source.SYSTEM,
        action=action,
        object_type=object_type or (obj._meta.label_lower if obj is not None else ""),
        object_id=str(object_id or (obj.pk if obj is not None else ""))[:100],
        object_repr=str(obj)[:200] if obj is not None else "",
        tenant_id=tenant_id if tenant_id is not None else _tenant_id(obj),
        changes=changes_between(before or {}, after or {}, secret_values=secret_values),
    )
    if context:
        context.recorded.append(event.pk)
    return event


def audit_purge(*, now: datetime | None = None, retention_days: int | None = None) -> int:
    """Delete the events older than the retention (settings.AUDIT_RETENTION_DAYS); returns how many."""
    days = settings.AUDIT_RETENTION_DAYS if retention_days is None else retention_days
    cutoff = (now or timezone.now()) - timedelta(days=days)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL audit.purge = 'on'")
        return AuditEvent.objects.filter(at__lt=cutoff)._purge()
