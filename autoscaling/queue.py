"""The request queue in front of an endpoint (no Django): bounded, per-request timeout, priority classes.

Requests are kept as (priority, arrival second, count) buckets, so a simulated day of millions of requests costs
one entry per class and second, not one per request. Lower priority numbers are served first, FIFO inside a class;
a request that finds the queue full, or waits past the timeout, is rejected (the gateway's 429) and counted.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class QueueSettings:
    max_length: int = 1000
    timeout_s: float = 30.0


@dataclass
class QueueStats:
    admitted: float = 0.0
    served: float = 0.0
    rejected_full: float = 0.0
    rejected_timeout: float = 0.0
    waits: list[tuple[float, float]] = field(default_factory=list)  # (seconds waited, requests) of those served

    @property
    def rejected(self) -> float:
        return self.rejected_full + self.rejected_timeout


class RequestQueue:
    """One endpoint's queue; `offer` at arrival, `serve` as capacity frees, `expire` drops what waited too long."""

    def __init__(self, settings: QueueSettings) -> None:
        self.settings = settings
        self.classes: dict[int, deque[list[float]]] = {}
        self.length = 0.0
        self.stats = QueueStats()

    def offer(self, *, now: float, count: float, priority: int = 1) -> float:
        """Queue up to `count` requests arriving at `now`; returns how many were rejected because it was full."""
        room = max(0.0, self.settings.max_length - self.length)
        admitted = min(count, room)
        rejected = count - admitted
        if admitted > 0:
            bucket = self.classes.setdefault(priority, deque())
            if bucket and bucket[-1][0] == now:
                bucket[-1][1] += admitted
            else:
                bucket.append([now, admitted])
            self.length += admitted
            self.stats.admitted += admitted
        self.stats.rejected_full += rejected
        return rejected

    def expire(self, *, now: float) -> float:
        """Reject what has waited longer than the timeout; returns how many."""
        dropped = 0.0
        for bucket in self.classes.values():
            while bucket and now - bucket[0][0] > self.settings.timeout_s:
                dropped += bucket.popleft()[1]
        self.length -= dropped
        self.stats.rejected_timeout += dropped
        return dropped

    def serve(self, *, now: float, capacity: float) -> float:
        """Hand up to `capacity` requests to the replicas, best priority and oldest first; returns how many."""
        served = 0.0
        for priority in sorted(self.classes):
            bucket = self.classes[priority]
            while bucket and served < capacity:
                arrived, count = bucket[0]
                take = min(count, capacity - served)
                self.stats.waits.append((now - arrived, take))
                served += take
                if take == count:
                    bucket.popleft()
                else:
                    bucket[0][1] = count - take
        self.length -= served
        self.stats.served += served
        return served

    def oldest_wait(self, *, now: float) -> float:
        heads = [bucket[0][0] for bucket in self.classes.values() if bucket]
        return now - min(heads) if heads else 0.0


def weighted_quantile(values: list[tuple[float, float]], q: float) -> float | None:
    """The q-quantile of (value, weight) pairs; None when empty."""
    items = sorted((v, w) for v, w in values if w > 0)
    total = sum(w for _, w in items)
    if not total:
        return None
    goal, seen = q * total, 0.0
    for value, weight in items:
        seen += weight
        if seen >= goal:
            return value
    return items[-1][0]
