"""Sets the audit context for every request, and records the writes no service recorded.

A service that writes records a detailed event (before / after). Any other successful write — an endpoint or
console page whose service does not record yet, an admin form — still leaves an event here: who, when, from
where, which view and object. So the trail has no holes, only coarser entries.
"""

from __future__ import annotations

import json

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models

from audit.context import audit_context
from audit.models import AuditEvent
from audit.services import audit_record

SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
ADMIN_ACTIONS = ("_add", "_change", "_delete")


def _source(path: str) -> str:
    if path.startswith("/api/"):
        return AuditEvent.Source.API
    if path.startswith("/admin/"):
        return AuditEvent.Source.ADMIN
    return AuditEvent.Source.CONSOLE


def _succeeded(request, response) -> bool:
    if response.status_code >= 400:
        return False
    # A console or admin form that is shown again (200) did not save; success redirects, or answers htmx.
    return (
        request.path.startswith("/api/") or response.status_code in (301, 302, 303) or "HX-Request" in request.headers
    )


def _writes_nothing(match, method: str) -> bool:
    """A POST a view declares read only (`read_only_actions`: a preview, a sizing search) is not a write."""
    if match is None:
        return False
    actions = getattr(match.func, "actions", None) or {}
    action = actions.get(method.lower(), method.lower())
    return action in getattr(getattr(match.func, "cls", None), "read_only_actions", ())


def _model_of(match) -> type[models.Model] | None:
    view_class = getattr(match.func, "cls", None) or getattr(match.func, "view_class", None)
    queryset = getattr(view_class, "queryset", None)
    if queryset is not None:
        return queryset.model
    serializer = getattr(view_class, "serializer_class", None)
    model = getattr(getattr(serializer, "Meta", None), "model", None)
    if model is not None:
        return model
    name = match.url_name or ""
    if match.namespace == "admin" and name.endswith(ADMIN_ACTIONS):
        app_label, _, rest = name.partition("_")
        try:
            return apps.get_model(app_label, rest.rsplit("_", 1)[0])
        except LookupError:
            return None
    return None


def _lookup(match) -> tuple[str, str]:
    """(model field, value) the URL names its object by, e.g. ("slug", "my-template"); ("pk", "") when none."""
    view_class = getattr(match.func, "cls", None)
    field = getattr(view_class, "lookup_field", "pk")
    value = match.kwargs.get(getattr(view_class, "lookup_url_kwarg", None) or field)
    for key in (field, "pk", "id", "object_id"):
        value = value or match.kwargs.get(key)
    return field if value and view_class else "pk", str(value or "")


def _object_id(match, response) -> str:
    _, value = _lookup(match)
    if value:
        return value
    try:
        body = json.loads(response.content) if response.get("Content-Type", "").startswith("application/json") else {}
    except ValueError:
        body = {}
    return str(body.get("id", "")) if isinstance(body, dict) else ""


def _record_request(request, response) -> None:
    match = request.resolver_match
    if match is None:
        return
    model = _model_of(match)
    object_id = _object_id(match, response)
    field, value = _lookup(match)
    obj = None
    if model is not None and object_id:
        try:
            obj = model._default_manager.filter(**{field: value or object_id}).first()
        except (ValueError, TypeError, DjangoValidationError):
            obj = None
    audit_record(
        action=f"{request.method.lower()}:{match.view_name}"[:50],
        obj=obj,
        object_type=model._meta.label_lower if model is not None else f"view:{match.view_name}"[:100],
        object_id=object_id,
    )


class AuditMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with audit_context(source=_source(request.path), request=request) as context:
            response = self.get_response(request)
            if (
                request.method not in SAFE_METHODS
                and not context.recorded
                and getattr(request, "user", None) is not None
                and request.user.is_authenticated
                and not request.path.startswith(tuple(settings.AUDIT_IGNORED_PATHS))
                and _succeeded(request, response)
                and not _writes_nothing(request.resolver_match, request.method)
            ):
                _record_request(request, response)
        return response
