"""API rate limits on Django's cache (Redis when REDIS_URL is set, so they hold across web processes).

Rates come from settings.API_THROTTLE_RATES, read per request (DRF's classes read theirs once, at import).
An endpoint that is expensive to answer (a preview, a sizing search, an import) is named in its view's
`expensive_actions` — action names for a viewset (`{"preview"}`), method names for an APIView (`{"post"}`) — and
is limited by `ExpensiveRateThrottle` on top of the per-user or per-address limit. A refused request is a 429
with Retry-After.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

EXPENSIVE = "expensive"


def view_action(view, request) -> str:
    """A viewset's action ("preview"), or an APIView's method ("post"): what `expensive_actions` and
    `read_only_actions` name."""
    return getattr(view, "action", None) or request.method.lower()


class _SettingsRateThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        return getattr(settings, "API_THROTTLE_RATES", {}).get(self.scope)

    def _ident(self, request) -> str:
        user = request.user
        return f"user-{user.pk}" if user and user.is_authenticated else f"ip-{self.get_ident(request)}"


class UserRateThrottle(_SettingsRateThrottle):
    """Per authenticated user (a person or a service account), all of their tokens and sessions together."""

    scope = "user"

    def get_cache_key(self, request, view) -> str | None:
        if not (request.user and request.user.is_authenticated):
            return None
        return self.cache_format % {"scope": self.scope, "ident": self._ident(request)}


class AnonRateThrottle(_SettingsRateThrottle):
    """Per client address, for requests that carry no valid credentials."""

    scope = "anon"

    def get_cache_key(self, request, view) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self._ident(request)}


class RefusedCallerThrottle(AnonRateThrottle):
    """The anonymous budget, also spent by every 401 (no or a wrong token): DRF checks permissions before
    throttles, so without this a caller could guess keys at any rate. Used by `RefusedCallerMiddleware`."""

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": f"ip-{self.get_ident(request)}"}

    def blocked_for(self, request) -> float | None:
        """Seconds to wait when the address has spent its budget, else None (nothing is recorded)."""
        if self.rate is None:
            return None
        self.key = self.get_cache_key(request, None)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        return self.wait() if len(self.history) >= self.num_requests else None

    def record(self, request) -> None:
        if self.rate is not None and self.blocked_for(request) is None:
            self.throttle_success()


class ExpensiveRateThrottle(_SettingsRateThrottle):
    """The stricter limit of the actions in a view's `expensive_actions`, per user or per address."""

    scope = EXPENSIVE

    def allow_request(self, request, view) -> bool:
        if view_action(view, request) not in getattr(view, "expensive_actions", ()):
            return True
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self._ident(request)}
