"""API rate limits on Django's cache (Redis when REDIS_URL is set, so they hold across web processes).

Rates come from settings.API_THROTTLE_RATES, read per request (DRF's classes read theirs once, at import).
An endpoint that is expensive to answer (a preview, a sizing search, an import) is named in its view's
`expensive_actions` — action names for a viewset (`{"preview"}`), method names for an APIView (`{"post"}`) — and
is limited by `ExpensiveRateThrottle` on top of the per-user or per-address limit. A refused request is a 429
with Retry-After.

On Redis (core.cache.RedisCache) the per-user limit is one round trip: a script keeps the user's sliding window as a
Redis list of request times (newest first, as DRF's history), drops the expired ones, and counts and records the
request at once. DRF's own way, elsewhere, reads the whole pickled history and writes it back: two round trips and
a list as long as the rate (1,200 times a minute) sent both ways per request.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import SimpleRateThrottle

from core.cache import RedisCache

EXPENSIVE = "expensive"

# KEYS[1]: the window (a list of request times, newest first); ARGV: now, duration (s), allowed requests.
# Returns {1} when the request is counted, else {0, requests in the window, the oldest one's time as text}.
SLIDING_WINDOW_HIT = """
local key, now, duration, allowed = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
while true do
    local oldest = redis.call('LINDEX', key, -1)
    if not oldest or tonumber(oldest) > now - duration then break end
    redis.call('RPOP', key)
end
local count = redis.call('LLEN', key)
if count >= allowed then
    return {0, count, redis.call('LINDEX', key, -1)}
end
redis.call('LPUSH', key, ARGV[1])
redis.call('EXPIRE', key, math.ceil(duration))
return {1}
"""


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

    def allow_request(self, request, view) -> bool:
        backend = caches["default"]
        if self.rate is None or not isinstance(backend, RedisCache):
            return super().allow_request(request, view)
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = backend.make_and_validate_key(f"{self.key}:window")
        reply = backend.script(SLIDING_WINDOW_HIT)(
            keys=[window], args=[repr(self.now), self.duration, self.num_requests]
        )
        if reply[0] == 1:
            return True
        self._window = (int(reply[1]), float(reply[2]) if len(reply) > 2 else None)  # none in it for "0/minute"
        return self.throttle_failure()

    def wait(self) -> float | None:
        if getattr(self, "_window", None) is None:
            return super().wait()
        # DRF's wait() of a history of `count` requests whose oldest was at `oldest`.
        count, oldest = self._window
        remaining = self.duration if oldest is None else self.duration - (self.now - oldest)
        available = self.num_requests - count + 1
        return None if available <= 0 else remaining / float(available)

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
