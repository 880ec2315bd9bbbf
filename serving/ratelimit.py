"""Per-key rate limits on Django's cache (Redis in production and tests): a sliding-window counter.

Each key has one counter per clock minute. A request is counted first (an atomic INCR), then the rate is
estimated as `previous minute * (share of the previous minute still inside the last 60 s) + this minute`, the
approximation Cloudflare and nginx-style limiters use. It holds a limit without the fixed window's double burst
at a minute's edge (a fixed window lets 2 * limit through across 12:00:59-12:01:01), costs two cache round trips
and two small keys per key, and is exact when the traffic is even. Refused requests are counted too, so a client
that keeps hammering stays limited rather than getting a fresh budget each minute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.core.cache import cache

WINDOW = 60  # seconds


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    estimate: float  # requests in the last 60 s, estimated, this one included
    retry_after: int = 0  # seconds, when refused


def _counter(key_id, window_number: int) -> str:
    return f"serving:rate:{key_id}:{window_number}"


def _increment(name: str) -> int:
    try:
        return cache.incr(name)
    except ValueError:  # no counter yet for this minute
        if cache.add(name, 1, timeout=2 * WINDOW + 5):
            return 1
        return cache.incr(name)  # another request created it in between


def rate_limit_hit(*, key_id, limit: int, now: float) -> RateDecision:
    """Count one request of the key at `now` (a Unix time) and say whether it is within `limit` per minute."""
    window_number = int(now // WINDOW)
    elapsed = (now % WINDOW) / WINDOW
    current = _increment(_counter(key_id, window_number))
    previous = cache.get(_counter(key_id, window_number - 1)) or 0
    estimate = previous * (1 - elapsed) + current
    if estimate <= limit:
        return RateDecision(True, limit, estimate)
    return RateDecision(False, limit, estimate, _retry_after(previous, current, limit, elapsed))


def _retry_after(previous: int, current: int, limit: int, elapsed: float) -> int:
    """Seconds until one more request would be within the limit, if none is made meanwhile."""
    room = limit - current  # what the previous minute's share must shrink to, this minute unchanged
    if room >= 1 and previous > 0:
        needed = 1 - (room - 1) / previous  # elapsed share at which previous * (1 - share) + current + 1 <= limit
        return max(1, math.ceil((needed - elapsed) * WINDOW))
    return max(1, math.ceil((1 - elapsed) * WINDOW))
