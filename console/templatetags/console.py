"""Small presentation helpers for the console's templates."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from django import template
from django.utils.http import urlencode

from audit.selectors import audit_can_read

register = template.Library()

TONES = {
    "RUNNING": "ok",
    "SUCCEEDED": "ok",
    "ACTIVE": "ok",
    "DEPLOYING": "busy",
    "STARTING": "busy",
    "UPDATING": "busy",
    "QUEUED": "wait",
    "PENDING": "wait",
    "DEGRADED": "warn",
    "DRAINING": "warn",
    "DELETING": "warn",
    "STOPPING": "warn",
    "FAILED": "bad",
    "CANCELLED": "muted",
    "DELETED": "muted",
    "STOPPED": "muted",
    "SCALED_TO_ZERO": "muted",
    "OFFLINE": "muted",
}


@register.filter
def tone(status: str) -> str:
    """The colour family of a status badge."""
    return TONES.get(str(status).upper(), "muted")


@register.filter
def money(value, places: int = 2) -> str:
    """$1,234.56 from a Decimal, a number or a numeric string."""
    try:
        amount = Decimal(str(value if value not in (None, "") else 0))
    except InvalidOperation:
        return str(value)
    return f"${amount:,.{int(places)}f}"


@register.filter
def gpus(resources: dict) -> str:
    """ "2 x H100-80GB" (with a multiplication sign) for a component's resources, a dash without GPUs."""
    resources = resources or {}
    count = (resources.get("gpu_count") or 0) * (resources.get("replicas") or 1)
    return f"{count} \u00d7 {resources.get('gpu_type')}" if count else "\u2014"


@register.simple_tag
def query_with(query: str, **changes) -> str:
    """The current query string with some parameters replaced (for pagination links)."""
    base = f"{query}&" if query else ""
    return "?" + base + urlencode({k: v for k, v in changes.items() if v not in (None, "")})


@register.filter
def get(mapping, key):
    return (mapping or {}).get(key)


NAV_SECTIONS = {
    "quotas": "quotas",
    "quota-queue": "quotas",
    "warm-pools": "pools",
    "audit": "audit",
    "costs": "costs",
    "budgets": "costs",
    "usecases": "catalog",
    "usecase-detail": "catalog",
    "deploy": "catalog",
    "deployments": "deployments",
    "deployment-detail": "deployments",
    "deployment-delete": "deployments",
    "deployment-update": "deployments",
    "deployment-scale": "deployments",
    "deployment-rollback": "deployments",
    "components": "components",
    "component-detail": "components",
    "slo": "slo",
    "slo-detail": "slo",
    "slo-import": "slo",
    "alerts": "alerts",
}


@register.filter
def nav_section(url_name: str | None) -> str:
    """Which entry of the navigation bar a page belongs to."""
    return NAV_SECTIONS.get(url_name or "", "")


CHANGE_TONES = {"unchanged": "muted", "scaled": "busy", "replaced": "warn", "added": "ok", "removed": "bad"}


@register.filter
def change_tone(action: str) -> str:
    """The colour family of a component's action in a change plan."""
    return CHANGE_TONES.get(action, "muted")


@register.filter
def signed_money(value) -> str:
    """+$1.23 / -$1.23 for a change in cost."""
    try:
        amount = Decimal(str(value if value not in (None, "") else 0))
    except InvalidOperation:
        return str(value)
    return f"{'-' if amount < 0 else '+'}${abs(amount):,.2f}"


@register.filter
def revision_tone(status: str) -> str:
    return {"applied": "ok", "pending": "busy", "failed": "bad"}.get(status, "muted")


@register.filter
def as_json(value, pretty: str = "") -> str:
    """A value as a person would write it in a request: JSON (not Python's repr); `as_json:"pretty"` indents."""
    if isinstance(value, str) and not pretty:
        return value
    return json.dumps(value, indent=2 if pretty else None, ensure_ascii=False, default=str)


PARAMETER_TYPES = {
    "model_ref": "model",
    "string": "text",
    "secret": "secret",
    "integer": "whole number",
    "number": "number",
    "boolean": "yes / no",
    "list": "list",
    "array": "list",
}


@register.filter
def parameter_type(kind: str) -> str:
    """A parameter's type in words ("model", "whole number"), not the schema's spelling."""
    return PARAMETER_TYPES.get(kind or "", kind or "")


@register.filter
def can_read_audit(user) -> bool:
    """Whether the navigation shows the audit trail (tenant admins and superusers)."""
    return audit_can_read(user)


@register.filter
def split(value: str) -> list[str]:
    """Words of a string: a literal list in a template ({% for w in "5m 1h"|split %})."""
    return str(value).split()


@register.filter
def percent(value) -> str:
    """A share as a percentage, up to two decimals: 99.5%, 100%, -12%."""
    if value in (None, ""):
        return "—"
    number = float(value) * 100
    text = f"{number:.2f}".rstrip("0").rstrip(".") if abs(number) < 1000 else f"{number:.0f}"
    return f"{text}%"


@register.filter
def seconds(value) -> str:
    """A latency with a readable unit: 350 ms, 1.76 s."""
    if value in (None, ""):
        return "—"
    number = float(value)
    return f"{number * 1000:.4g} ms" if number < 1 else f"{number:.4g} s"


@register.filter
def duration(value) -> str:
    """Seconds as the step of a chart: 1 min, 10 min, 1 h."""
    number = int(value)
    if number % 3600 == 0:
        return f"{number // 3600} h"
    return f"{number // 60} min" if number % 60 == 0 else f"{number} s"
