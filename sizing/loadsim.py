"""Simulated traffic on a served LLM (no Django): a seeded load profile through the performance model, per window.

The arrival rate comes from the profile (constant, diurnal around a peak hour, or seeded bursts). Each replica runs
at the concurrency whose closed-loop throughput (`perf.Setup`) carries its share of the rate; past the replicas'
capacity the excess waits in the queue, so TTFT and end-to-end latency grow with the backlog and requests that wait
longer than the timeout fail. A window is summarised as counts, gauges and weighted latency draws (value, weight)
that the caller folds into quantile sketches: at most `DRAWS` draws per window stand for every request in it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime

from sizing.perf import Setup

KINDS = ("constant", "diurnal", "bursts")
# vLLM's default --max-num-seqs: a replica never runs more sequences at once, however much KV cache is free.
MAX_NUM_SEQS = 256
# A request that waits longer than this in the queue fails (the client's or the gateway's timeout).
REQUEST_TIMEOUT_S = 60.0
# Spread of per-request latencies around the model's mean (log-normal sigma): prompt-length and batch jitter.
TTFT_SIGMA = 0.25
ITL_SIGMA = 0.10
# Weighted draws per window and metric: the sketch's shape, not its counts, depends on them.
DRAWS = 256
# Diurnal profile: the trough is this share of the peak rate.
DIURNAL_TROUGH = 0.3
# Bursts: the chance that a minute is a burst, and how much busier it is.
BURST_PROBABILITY = 0.1


@dataclass(frozen=True)
class LoadProfile:
    """Requests per second over time; `seed` makes every window reproducible."""

    kind: str = "constant"
    requests_per_second: float = 1.0
    peak_hour: int = 14  # UTC hour of the diurnal peak
    burst_factor: float = 3.0
    seed: int = 0

    def rate_at(self, moment: datetime) -> float:
        base = max(0.0, float(self.requests_per_second))
        if self.kind == "diurnal":
            hours = moment.hour + moment.minute / 60 - self.peak_hour
            shape = (1 + math.cos(2 * math.pi * hours / 24)) / 2  # 1 at the peak hour, 0 twelve hours later
            return base * (DIURNAL_TROUGH + (1 - DIURNAL_TROUGH) * shape)
        if self.kind == "bursts":
            minute = int(moment.timestamp() // 60)
            if random.Random(f"{self.seed}:burst:{minute}").random() < BURST_PROBABILITY:
                return base * self.burst_factor
        return base


@dataclass(frozen=True)
class Serving:
    """One LLM component: the model on its GPUs (`setup`), its replicas and the use case's output-token range."""

    setup: Setup
    replicas: int
    output_tokens_min: int
    output_tokens_max: int


@dataclass
class Window:
    """What one component did in one window: counts, mean gauges and weighted latency draws in seconds."""

    start: datetime
    seconds: int
    requests: float = 0.0  # arrived, failed ones included
    errors: float = 0.0
    prompt_tokens: float = 0.0
    output_tokens: float = 0.0
    running: float = 0.0
    waiting: float = 0.0
    gpu_utilisation: float = 0.0
    kv_cache_usage: float = 0.0
    cpu_utilisation: float = 0.0
    replicas: int = 0
    ttft: list[tuple[float, float]] = field(default_factory=list)
    itl: list[tuple[float, float]] = field(default_factory=list)
    e2e: list[tuple[float, float]] = field(default_factory=list)


def operating_point(setup: Setup, rate_per_replica: float) -> tuple[int, float, float, float, float]:
    """(concurrency, TTFT, ITL, e2e, requests/s) of the lowest concurrency that carries the rate, or of the busiest."""
    top = max(1, min(setup.max_concurrency, MAX_NUM_SEQS))
    low, high = 1, top
    while low < high:
        mid = (low + high) // 2
        ttft, itl, e2e, _ = setup.latencies(mid)
        if mid / e2e >= rate_per_replica:
            high = mid
        else:
            low = mid + 1
    ttft, itl, e2e, _ = setup.latencies(low)
    return low, ttft, itl, e2e, low / e2e


def simulate_llm(*, profile: LoadProfile, serving: Serving, start: datetime, seconds: int, key: str) -> Window:
    """One window of an LLM component under the profile's load."""
    window = Window(start=start, seconds=seconds, replicas=serving.replicas)
    rng = random.Random(f"{profile.seed}:{key}:{int(start.timestamp())}")
    replicas = max(1, serving.replicas)
    rate = profile.rate_at(start)
    arrived = _poisson(rng, rate * seconds)
    setup = serving.setup
    if serving.replicas < 1 or setup.problem or setup.max_concurrency < 1:
        window.requests = window.errors = float(arrived)
        return window
    per_replica = rate / replicas
    c, ttft, itl, e2e, capacity = operating_point(setup, per_replica)
    # The closed-loop model's concurrency carries `capacity`; at a lower rate the batch is only partly full.
    load = per_replica / capacity if capacity else math.inf
    running = c * min(1.0, load)
    mean_wait = 0.0
    backlog = 0.0
    if load > 1:  # the excess arrives into a queue that starts the window empty and grows linearly through it
        backlog = (per_replica - capacity) * seconds / 2
        mean_wait = backlog / capacity
    failed_share = 0.0
    if mean_wait > 0:  # waits spread evenly over [0, 2 x mean]: those past the timeout fail
        failed_share = max(0.0, 1 - REQUEST_TIMEOUT_S / (2 * mean_wait))
    window.requests = float(arrived)
    window.errors = round(arrived * failed_share)
    served = arrived - window.errors
    window.running = running * replicas
    window.waiting = backlog * replicas
    window.gpu_utilisation = min(1.0, load)
    window.kv_cache_usage = min(1.0, running / setup.max_concurrency)
    window.prompt_tokens = float(served * setup.n_in)
    if served <= 0:
        return window
    draws = min(DRAWS, served)
    weight = served / draws
    lo, hi = serving.output_tokens_min, max(serving.output_tokens_min, serving.output_tokens_max)
    outputs = 0.0
    for _ in range(draws):
        wait = rng.uniform(0, 2 * mean_wait) if mean_wait else 0.0
        if wait > REQUEST_TIMEOUT_S:
            wait = rng.uniform(0, REQUEST_TIMEOUT_S)  # the ones that were served waited less than the timeout
        first = ttft * _jitter(rng, TTFT_SIGMA) + wait
        step = itl * _jitter(rng, ITL_SIGMA)
        tokens = rng.randint(max(1, lo), max(1, hi))
        outputs += tokens
        window.ttft.append((first, weight))
        window.itl.append((step, weight))
        window.e2e.append((first + (tokens - 1) * step, weight))
    window.output_tokens = outputs * weight
    del e2e  # the end-to-end latency is drawn per request from its TTFT, ITL and length
    return window


def simulate_service(*, profile: LoadProfile, start: datetime, seconds: int, key: str, latency_s: float) -> Window:
    """One window of a non-LLM component (vector DB, API): request rate, latency and CPU use."""
    rng = random.Random(f"{profile.seed}:{key}:{int(start.timestamp())}")
    arrived = _poisson(rng, profile.rate_at(start) * seconds)
    window = Window(start=start, seconds=seconds, requests=float(arrived), replicas=1)
    window.cpu_utilisation = min(1.0, 0.05 + arrived / seconds * latency_s)
    draws = min(DRAWS, arrived)
    for _ in range(draws):
        window.e2e.append((latency_s * _jitter(rng, TTFT_SIGMA), arrived / draws))
    return window


def _jitter(rng: random.Random, sigma: float) -> float:
    """A log-normal factor with mean 1."""
    return math.exp(rng.gauss(-sigma * sigma / 2, sigma))


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:  # normal approximation: exact enough, and constant time
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k
