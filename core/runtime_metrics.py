"""Counters shared by every process (web, workers, beat) through the Django cache (Redis in production), so the
control plane's `/metrics` shows the whole fleet's reconcile passes, not one process's.

A pass costs three atomic increments (count, duration in microseconds, its histogram bucket); a failure to reach
the cache never fails the pass that is being counted.
"""

from __future__ import annotations

import logging

from django.core.cache import cache

logger = logging.getLogger(__name__)

PREFIX = "ucf:metrics:"
# Upper bounds (seconds) of the reconcile pass duration histogram; the last bucket is +Inf.
PASS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
OUTCOMES = ("done", "skipped", "error")


def _incr(key: str, amount: int) -> None:
    full = PREFIX + key
    try:
        cache.add(full, 0, timeout=None)
        cache.incr(full, amount)
    except Exception:  # the cache being down must not fail a reconcile pass
        logger.warning("could not count %s", key, exc_info=True)


def reconcile_pass_observe(*, seconds: float, outcome: str) -> None:
    """Count one reconcile pass, its outcome and how long it took."""
    _incr(f"passes:{outcome}", 1)
    _incr("pass_us_sum", round(seconds * 1_000_000))
    bucket = next((str(b) for b in PASS_BUCKETS if seconds <= b), "inf")
    _incr(f"pass_bucket:{bucket}", 1)


def reconcile_pass_counts() -> dict:
    """{"passes": {outcome: n}, "buckets": [(upper bound, cumulative n)...], "sum": seconds, "count": n} in one read."""
    keys = [f"passes:{o}" for o in OUTCOMES] + ["pass_us_sum"] + [f"pass_bucket:{b}" for b in (*PASS_BUCKETS, "inf")]
    try:
        values = cache.get_many([PREFIX + k for k in keys])
    except Exception:
        logger.warning("could not read the pass counters", exc_info=True)
        values = {}
    got = {k: int(values.get(PREFIX + k) or 0) for k in keys}
    cumulative, buckets = 0, []
    for bound in (*PASS_BUCKETS, "inf"):
        cumulative += got[f"pass_bucket:{bound}"]
        buckets.append(("+Inf" if bound == "inf" else str(bound), cumulative))
    return {
        "passes": {o: got[f"passes:{o}"] for o in OUTCOMES},
        "buckets": buckets,
        "sum": got["pass_us_sum"] / 1_000_000,
        "count": cumulative,
    }
