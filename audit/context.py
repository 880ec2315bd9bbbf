"""Who is acting: a context variable set per request (middleware) and per management command (manage.py).

Services record audit events without being handed the request: the recorder reads the actor from here. Celery
tasks and the reconciler run with no context and are recorded as the system.
"""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.core.exceptions import ObjectDoesNotExist


@dataclass
class AuditContext:
    source: str
    request: object | None = None
    command: str = ""
    recorded: list = field(default_factory=list)

    def actor(self) -> dict:
        """The acting identity as audit fields: actor, username, kind, token name, address, request."""
        if self.request is None:
            return {
                "actor": None,
                "actor_username": f"os:{_os_user()}" if self.command else "",
                "actor_kind": "system",
                "token_name": "",
                "ip": None,
                "request": self.command[:300],
            }
        user = getattr(self.request, "user", None)
        if user is None or not user.is_authenticated:
            user = None
        return {
            "actor": user,
            "actor_username": user.get_username() if user else "",
            "actor_kind": _kind(user),
            "token_name": str(getattr(getattr(self.request, "auth", None), "name", "") or "")[:100],
            "ip": self.request.META.get("REMOTE_ADDR") or None,
            "request": f"{self.request.method} {self.request.path}"[:300],
        }


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _kind(user) -> str:
    if user is None:
        return "system"
    cached = getattr(user, "_audit_kind", None)
    if cached is None:
        try:
            user.service_account  # noqa: B018  (a reverse one-to-one: raises when the user is a person)
            cached = "service_account"
        except ObjectDoesNotExist:
            cached = "user"
        user._audit_kind = cached
    return cached


_current: ContextVar[AuditContext | None] = ContextVar("audit_context", default=None)


def current() -> AuditContext | None:
    return _current.get()


@contextlib.contextmanager
def audit_context(*, source: str, request=None, command: str = "") -> Iterator[AuditContext]:
    """Run a block as one actor: every audit event recorded inside names it."""
    context = AuditContext(source=source, request=request, command=command)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
