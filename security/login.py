"""Sign-in protection for the console and the admin: repeated failures lock the username or the address.

Every attempt is a LoginAttempt row. A username is locked while it has LOGIN_FAILURE_LIMIT failures in the last
LOGIN_LOCKOUT_SECONDS (counting only failures after its last success); an address while it has
LOGIN_FAILURE_IP_LIMIT. A locked attempt is refused even with the right password, and recorded as locked out.
The page says only that the sign-in failed: it does not tell a guesser which usernames exist or are locked.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.db.models import Max
from django.utils import timezone

from security.models import LoginAttempt


def _window_start(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)


def login_locked(*, username: str, ip: str | None, now: datetime | None = None) -> bool:
    """Whether the username or the address has too many recent failures to try again now."""
    since = _window_start(now or timezone.now())
    recent = LoginAttempt.objects.filter(at__gte=since, succeeded=False)
    last_success = LoginAttempt.objects.filter(username=username, succeeded=True).aggregate(at=Max("at"))["at"]
    by_username = recent.filter(username=username)
    if last_success is not None:
        by_username = by_username.filter(at__gt=last_success)
    if by_username.count() >= settings.LOGIN_FAILURE_LIMIT:
        return True
    return bool(ip) and recent.filter(ip=ip).count() >= settings.LOGIN_FAILURE_IP_LIMIT


def login_attempt_record(*, request, username: str, succeeded: bool, locked_out: bool = False) -> LoginAttempt:
    """Record one sign-in attempt (the admin lists them under Security → Login attempts)."""
    meta = getattr(request, "META", {}) if request is not None else {}
    return LoginAttempt.objects.create(
        username=username[:150],
        ip=meta.get("REMOTE_ADDR") or None,
        user_agent=meta.get("HTTP_USER_AGENT", "")[:300],
        succeeded=succeeded,
        locked_out=locked_out,
    )


class LockoutModelBackend(ModelBackend):
    """Django's username/password backend, refusing locked usernames and addresses and recording attempts."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(self._username_field(), "")
        if username is None or password is None:
            return None
        ip = request.META.get("REMOTE_ADDR") if request is not None else None
        if login_locked(username=username, ip=ip):
            login_attempt_record(request=request, username=username, succeeded=False, locked_out=True)
            raise PermissionDenied("Too many failed sign-ins; try again later.")  # stops the other backends too
        user = super().authenticate(request, username=username, password=password, **kwargs)
        login_attempt_record(request=request, username=username, succeeded=user is not None)
        return user

    def _username_field(self) -> str:
        return get_user_model().USERNAME_FIELD
