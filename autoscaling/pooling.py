"""How many standbys a warm pool keeps (no Django), in one of two ways: by how many deployments on its cluster and
GPU type sit at zero (`pool_target`), or by how many of those are expected to wake together (`wakes_together_wanted`,
from yesterday's load and the cluster's cold-start figures). The product's pools (`autoscaling.pools`) and the
replay (`bench/autoscaling_replay.py`) both size through these functions.

The rule: while at least one component on the cluster and GPU type is at zero, keep `ceil(ratio x at_zero)`
standbys, at least `floor` and at most `ceiling`; with none at zero, keep none (a running component scales up
from its own replicas, and a standby would only cost). A ratio of 1 gives every component at zero its own
standby (no wake ever starts cold, at the price of one replica per component at zero, which is what scaling to
zero was meant to save); 0.25-0.5 suits components that wake one at a time; the floor covers the first wake
after a quiet spell. `bench/autoscaling_replay.py` measures the trade-off (BENCHMARKS.md).
"""

from __future__ import annotations

import math

from autoscaling.coldstart import StartModel

HOUR_S = 3600
DAY_S = 24 * HOUR_S
MISS_DEFAULT = 0.01


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


def forecast_hour(now_s: float) -> tuple[float, float]:
    """The stretch of yesterday whose load forecasts the wakes now (epoch seconds, [start, end)): the same clock hour
    a day earlier, as the scheduled pre-warm reads yesterday (`autoscaling.prewarm`)."""
    start = (now_s // HOUR_S) * HOUR_S - DAY_S
    return start, start + HOUR_S


def refill_s(model: StartModel, *, image_cached: bool) -> float:
    """How long a new standby takes to be ready: the image (pulled, or in the node's cache) and the engine's warm-up;
    it loads no model."""
    return (model.image_cached_s if image_cached else model.image_pull_s) + model.engine_warmup_s


def wakes_together_wanted(
    hour_requests: list[float],
    *,
    model: StartModel,
    image_cached: bool,
    miss: float = MISS_DEFAULT,
    floor: int = 1,
    ceiling: int | None = None,
) -> int:
    """Standbys for one cluster and GPU type sized by the wakes expected together: `hour_requests` holds, for each
    component at zero there, its requests in the forecast hour (`forecast_hour`; at zero every arrival is a wake),
    the refill is the cluster's standby start (`refill_s`), and `miss` the chance a wake may find the pool empty.
    At most `ceiling` (the pool's size)."""
    rates = [requests / HOUR_S for requests in hour_requests]
    want = wakes_together_target(rates, refill_s=refill_s(model, image_cached=image_cached), miss=miss, floor=floor)
    return want if ceiling is None else min(want, ceiling)
