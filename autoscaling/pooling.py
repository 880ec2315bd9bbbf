"""How many standbys a warm pool keeps (no Django): sized by how many deployments on its cluster and GPU type sit
at zero, since those are the ones whose next request waits for a cold start.

The rule: while at least one component on the cluster and GPU type is at zero, keep `ceil(ratio x at_zero)`
standbys, at least `floor` and at most `ceiling`; with none at zero, keep none (a running component scales up
from its own replicas, and a standby would only cost). A ratio of 1 gives every component at zero its own
standby (no wake ever starts cold, at the price of one replica per component at zero, which is what scaling to
zero was meant to save); 0.25-0.5 suits components that wake one at a time; the floor covers the first wake
after a quiet spell. `bench/autoscaling_replay.py` measures the trade-off (BENCHMARKS.md).
"""

from __future__ import annotations

import math


def pool_target(at_zero: int, *, ratio: float, floor: int = 1, ceiling: int | None = None) -> int:
    """Standbys to keep for `at_zero` components at zero on one cluster and GPU type."""
    if at_zero <= 0:
        return 0
    want = max(floor, math.ceil(ratio * at_zero - 1e-9))
    return want if ceiling is None else min(want, ceiling)


def wakes_together_target(wake_rates: list[float], *, refill_s: float, miss: float = 0.01, floor: int = 1) -> int:
    """Standbys for one cluster and GPU type sized by how many of its components at zero are expected to wake
    together, not one per component: `wake_rates` are their forecast wakes per second (from the load history: at
    zero every arrival is a wake). A wake finds the pool empty when k wakes came within one refill (`refill_s`, the
    time a new standby takes to start); keep the smallest k (at least `floor`) whose chance of that, for a Poisson
    stream at the summed rate, is at most `miss`. None at zero: none kept."""
    rates = [rate for rate in wake_rates if rate > 0]
    if not wake_rates:  # nothing at zero
        return 0
    mean = sum(rates) * refill_s
    k, term = 0, math.exp(-mean)
    below = term  # P(N <= k): with k + 1 standbys, the chance that a wake finds none is P(N >= k + 1)
    while 1 - below > miss:
        k += 1
        term *= mean / k
        below += term
    return max(floor, k + 1)
