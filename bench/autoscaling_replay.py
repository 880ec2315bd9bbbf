"""A day, replayed (issue 18): 24 simulated hours of several LLM deployments under a diurnal load with bursts and
quiet nights, served statically for their peak, autoscaled with scale to zero (idle timeouts of 300 s and 60 s),
and autoscaled with scale to zero plus pre-warmed pools sized by the deployments at zero (one run per sizing ratio)
— through the request queue and the cold-start model; the pools' standby-seconds are billed into their run's cost.

    python bench/autoscaling_replay.py            # the day, every deployment, every way (8-30 minutes loaded)
    python bench/autoscaling_replay.py --pool-ratios 1,0.75 --pool-idle 60
    python bench/autoscaling_replay.py --hours 6  # a shorter day
    python bench/autoscaling_replay.py --quick    # a smoke run (3 hours)

Pure Python (no Django, no database), one-second steps in accelerated time, seeded. What runs is the product's
own code: the autoscaler's decision (`autoscaling.decide.decide`, every 15 s on per-minute samples plus the queue's
length at that tick, as the beat task does; scale-ups and wakes take a pool standby while one is free, as
`autoscaling.services` does), the request queue (`autoscaling.queue.RequestQueue`: bounded, 30 s timeout, 429s
counted), the cold start model (`autoscaling.coldstart`, the default cluster figures) and the performance model
(`sizing.perf`) for what a replica carries and its latency at a load. What it leaves out: the database, the job
layer and its scheduling (capacity is assumed free), draining (a replica removed by a scale-down stops at once),
and network time. A request is within its SLO when its queue wait plus the replica's TTFT at that load is within
the use case's TTFT target; a rejected request counts as outside.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autoscaling.coldstart import StartModel, cold_start  # noqa: E402
from autoscaling.decide import TO_ZERO, LastChange, Sample, decide  # noqa: E402
from autoscaling.policy import Policy  # noqa: E402
from autoscaling.pooling import DAY_S, forecast_hour, pool_target, wakes_together_wanted  # noqa: E402
from autoscaling.prewarm import Window, windows  # noqa: E402
from autoscaling.queue import QueueSettings, RequestQueue, weighted_quantile  # noqa: E402
from sizing.loadsim import operating_point  # noqa: E402
from sizing.perf import Setup  # noqa: E402
from sizing.reference import PRECISION_BYTES, catalog  # noqa: E402

TICK_S = 15  # the beat task's period
TOKENS = (512, 256)
TROUGH = 0.1  # the diurnal trough's share of the peak
NIGHT = (1, 6)  # UTC hours of the quiet night: a request now and then
NIGHT_GAP_S = 1200  # mean seconds between two night requests
BURSTS_PER_DAY = 8
BURST_MINUTES = 3
BURST_FACTOR = 2.0
# The autoscaler's target: each replica at this share of the concurrency that meets the SLO (two policies compared).
HEADROOMS = (0.7, 0.5)
POOL_RATIOS = (1.0,)  # standbys per deployment at zero on a GPU type (`autoscaling.pooling.pool_target`)
POOL_FLOOR = 1  # at least this many while any deployment of the type is at zero
IDLE_TIMEOUT_S = 300  # the policy's idle timeout before zero
POOL_IDLE_TIMEOUT_S = 60  # the same with a pool: wakes take seconds there, so zero comes sooner
WAKE_MISS = 0.01  # a pool sized by wakes together: the chance a wake finds it empty (`pooling.wakes_together_target`)
QUEUE = QueueSettings(max_length=5000, timeout_s=30.0)


@dataclass(frozen=True)
class Spec:
    name: str
    model_id: str
    gpu: str
    tp: int
    precision: str
    ttft_s: float  # the use case's TTFT target
    itl_s: float  # the use case's ITL target: caps the concurrency a replica runs at
    peak_rps: float
    peak_hour: int
    seed: int


BASE = (
    Spec("support-chat", "meta-llama/Llama-3.1-8B-Instruct", "A100-80GB", 1, "bf16", 1.0, 0.03, 40, 14, 1),
    Spec("rag-assistant", "Qwen/Qwen2.5-7B-Instruct", "L40S", 1, "fp8", 1.5, 0.03, 25, 10, 2),
    Spec("code-helper", "Qwen/Qwen2.5-32B-Instruct", "H100-80GB", 2, "fp8", 0.8, 0.03, 20, 16, 3),
    Spec("summariser", "meta-llama/Llama-3.1-70B-Instruct", "H100-80GB", 2, "fp8", 3.0, 0.05, 8, 11, 4),
    Spec("internal-qa", "mistralai/Mistral-7B-Instruct-v0.3", "L4", 1, "fp8", 2.0, 0.05, 3, 15, 5),
    Spec("voice-ivr", "meta-llama/Llama-3.1-8B-Instruct", "L40S", 1, "fp8", 0.5, 0.025, 15, 13, 6),
)
# The same six use cases for a second team whose day peaks three hours later and at 60% of the load.
SPECS = BASE + tuple(
    replace(s, name=f"{s.name}-b", peak_rps=s.peak_rps * 0.6, peak_hour=(s.peak_hour + 3) % 24, seed=s.seed + 100)
    for s in BASE
)


class Serving:
    """One replica of a deployment: the concurrency it may run at within the SLO, its capacity and latency."""

    def __init__(self, spec: Spec):
        cat = catalog()
        self.setup = Setup(
            model=cat.model(spec.model_id),
            gpu=cat.gpu(spec.gpu),
            tp=spec.tp,
            precision=spec.precision,
            input_tokens=TOKENS[0],
            output_tokens=TOKENS[1],
        )
        best = 1
        for c in range(1, min(256, self.setup.max_concurrency) + 1):
            ttft, itl, _, _ = self.setup.latencies(c)
            if ttft <= spec.ttft_s / 2 and itl <= spec.itl_s:
                best = c
        self.concurrency = best
        self.e2e = self.setup.latencies(best)[2]
        self.capacity = best / self.e2e  # requests per second per replica at the SLO's concurrency
        self.hourly = float(cat.gpu(spec.gpu).default_hourly_usd) * spec.tp
        self.model_gb = cat.model(spec.model_id).params_b * PRECISION_BYTES[spec.precision]
        self._ttft: dict[int, float] = {}

    def ttft_at(self, rate_per_replica: float) -> float:
        """The replica's TTFT carrying this rate (bucketed: the latency model is the hot path)."""
        bucket = min(100, int(rate_per_replica / self.capacity * 50))
        if bucket not in self._ttft:
            self._ttft[bucket] = operating_point(self.setup, max(1e-6, bucket / 50 * self.capacity))[1]
        return self._ttft[bucket]


def rate_at(spec: Spec, second: int, bursts: set[int]) -> float:
    hour = (second / 3600) % 24
    if NIGHT[0] <= hour < NIGHT[1]:
        return 1 / NIGHT_GAP_S
    shape = (1 + math.cos(2 * math.pi * (hour - spec.peak_hour) / 24)) / 2
    rate = spec.peak_rps * (TROUGH + (1 - TROUGH) * shape)
    return rate * BURST_FACTOR if second // 60 in bursts else rate


def burst_minutes(spec: Spec, hours: int) -> set[int]:
    rng = random.Random(f"bursts:{spec.seed}")
    minutes: set[int] = set()
    for _ in range(max(1, BURSTS_PER_DAY * hours // 24)):
        start = rng.randrange(hours * 60)
        if not NIGHT[0] <= (start // 60) % 24 < NIGHT[1]:
            minutes.update(range(start, start + BURST_MINUTES))
    return minutes


def poisson(rng: random.Random, mean: float) -> int:
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


@dataclass
class Pool:
    """The pre-warmed standbys of the fleet's cluster, per GPU type, sized as the product sizes them
    (`autoscaling.pools.pool_target`): `ratio` x the deployments at zero on the type (rounded up, at least `floor`)
    while any is at zero, none otherwise. Each second the pool starts standbys up to its target (ready after an
    engine start: the image, cached on the node for a while after a standby ran, and the warm-up) and stops the
    ones over it (those still starting first). A claimed standby's GPUs go to the deployment; the next second's
    resize replaces it. Every standby-second is billed at the type's largest replica's rate."""

    ratio: float
    floor: int = 1
    hourly: dict[str, float] = field(default_factory=dict)  # per GPU type: the largest replica's $/h
    # Sized by the wakes expected together (`pooling.wakes_together_wanted`, as the product's pools with sizing
    # "wakes_together") instead of `ratio` x those at zero: each deployment's requests per minute yesterday.
    forecast: dict[str, list[float]] | None = None
    handover: bool = False  # a replica leaving for zero stays as the type's standby when the pool wants one
    at_zero: dict[str, set[str]] = field(default_factory=dict)  # per GPU type: deployments at zero now
    standbys: dict[str, list[float]] = field(default_factory=dict)  # per GPU type: when each is ready
    last_ran: dict[str, float] = field(default_factory=dict)  # per GPU type: when a standby last ran
    cost: float = 0.0
    standby_seconds: float = 0.0
    peak: int = 0
    handed_over: int = 0

    def claim(self, gpu: str, now: float, model: StartModel) -> bool:
        ready = [t for t in self.standbys.get(gpu, []) if t <= now]
        if not ready:
            return False
        self.standbys[gpu].remove(ready[0])
        return True

    def set_zero(self, gpu: str, name: str, at_zero: bool) -> None:
        members = self.at_zero.setdefault(gpu, set())
        members.add(name) if at_zero else members.discard(name)

    def count(self, gpu: str, now: float) -> tuple[int, int]:
        """Standbys of the type now: (ready, still starting)."""
        live = self.standbys.get(gpu, [])
        return sum(1 for t in live if t <= now), sum(1 for t in live if t > now)

    def want(self, gpu: str, now: float, model: StartModel) -> int:
        members = self.at_zero.get(gpu, ())
        if self.forecast is None:
            return pool_target(len(members), ratio=self.ratio, floor=self.floor)
        # The product's rule on the same inputs: yesterday's requests in the forecast hour (`history` starts a day
        # before the replay's second 0) and whether a standby of the type ran within the image cache time.
        start, end = (int(second + DAY_S) // 60 for second in forecast_hour(now))
        cached = now - self.last_ran.get(gpu, -math.inf) < model.image_cache_s
        return wakes_together_wanted(
            [sum(self.forecast[name][start:end]) for name in members],
            model=model,
            image_cached=cached,
            miss=WAKE_MISS,
            floor=self.floor,
        )

    def offer(self, gpu: str, now: float, model: StartModel) -> bool:
        """A replica leaving for zero, engine up: kept as a ready standby if the pool wants one more."""
        if not self.handover:
            return False
        live = self.standbys.setdefault(gpu, [])
        if len(live) >= self.want(gpu, now, model):
            return False
        live.append(now)
        self.handed_over += 1
        return True

    def step(self, now: float, model: StartModel) -> None:
        total = 0
        for gpu in set(self.at_zero) | set(self.standbys):
            live = self.standbys.setdefault(gpu, [])
            want = self.want(gpu, now, model)
            if len(live) > want:  # stop the extras, the ones still starting first
                live.sort()
                del live[want:]
            if len(live) < want:
                cached = now - self.last_ran.get(gpu, -math.inf) < model.image_cache_s
                ready = now + (model.image_cached_s if cached else model.image_pull_s) + model.engine_warmup_s
                live.extend([ready] * (want - len(live)))
            if live:
                self.last_ran[gpu] = now
            total += len(live)
            self.cost += len(live) * self.hourly.get(gpu, 0.0) / 3600
        self.standby_seconds += total
        self.peak = max(self.peak, total)


@dataclass
class Result:
    requests: float = 0.0
    good: float = 0.0
    rejected: float = 0.0
    cost: float = 0.0
    cold_starts: list[float] = field(default_factory=list)  # every replica start
    wakes: list[float] = field(default_factory=list)  # starts from zero: the cold starts requests wait for
    waits: list[tuple[float, float]] = field(default_factory=list)
    decisions: int = 0
    peak_replicas: int = 0
    prewarms: list[float] = field(default_factory=list)  # scheduled starts ahead of a forecast ramp
    prewarm_idle_cost: float = 0.0  # the pre-warmed replica's cost until its first request
    cold_log: list[tuple] = field(default_factory=list)  # wakes that took no standby: why, for --log-cold


class Run:
    """One deployment through the day, a second at a time: mode "static" (fixed replicas) or "auto" (the
    autoscaler with scale to zero; with `pool`, wakes and scale-ups take a pre-warmed standby when one is free)."""

    def __init__(
        self,
        spec: Spec,
        *,
        hours: int,
        mode: str,
        pool: Pool | None,
        static_replicas: int,
        headroom: float = 0.7,
        idle_timeout_s: int = IDLE_TIMEOUT_S,
        prewarm: list[Window] | None = None,
    ):
        self.spec, self.mode, self.pool = spec, mode, pool
        self.prewarm = prewarm or []
        self.prewarmed = False  # woken by a pre-warm and no request since
        self.serving = serving = Serving(spec)
        self.model = StartModel()
        self.rng = random.Random(f"arrivals:{spec.seed}")
        self.bursts = burst_minutes(spec, hours)
        self.queue = RequestQueue(QUEUE)
        self.policy = Policy(
            min_replicas=0,
            max_replicas=static_replicas + 2,
            signal="concurrency",
            target=serving.concurrency * headroom,
            scale_up_window_s=60,
            scale_down_window_s=300,
            max_step=4,
            idle_timeout_s=idle_timeout_s,
        )
        self.result = Result(waits=self.queue.stats.waits)  # the queue's list: (wait, requests) of those served
        first = max(1, math.ceil(rate_at(spec, 0, self.bursts) / (serving.capacity * headroom)))
        self.ready = self.asked = static_replicas if mode == "static" else first
        self.starting: list[float] = []  # when each starting replica is ready
        self.last_stop = 0.0  # when a replica last stopped (the node's image cache)
        self.last_change: LastChange | None = None
        self.samples: list[Sample] = []
        self.minute = {"requests": 0.0, "served": 0.0, "queue": 0.0}
        self.credit = 0.0
        self.held = replace(self.policy, min_replicas=1)  # the policy inside a pre-warm window

    def step(self, second: int) -> None:
        spec, serving, result, queue = self.spec, self.serving, self.result, self.queue
        now = float(second)
        if self.starting:
            self.ready += sum(1 for t in self.starting if t <= now)
            self.starting = [t for t in self.starting if t > now]
        arrived = poisson(self.rng, rate_at(spec, second, self.bursts))
        result.requests += arrived
        self.minute["requests"] += arrived
        if arrived:
            self.prewarmed = False
        if self.mode == "auto" and self.asked == 0 and not arrived and self._in_window(now):
            # Scheduled pre-warm: a ramp is forecast (from yesterday's load) within the start's time; no request
            # waits for this start. A decision of its own, with the window's reason.
            result.prewarms.append(self._wake(now, log=False))
            self.prewarmed = True
        if self.mode == "auto" and arrived and self.asked == 0:
            # The gateway's hand-off: a request at zero wakes the deployment at once (it waits in the queue).
            result.wakes.append(self._wake(now, log=True))
        queue.offer(now=now, count=arrived)
        queue.expire(now=now)
        result.rejected = queue.stats.rejected
        per_second = self.ready * serving.capacity
        # Capacity accrues a second at a time (a fraction carries over); no replica, no capacity.
        self.credit = min(self.credit + per_second, max(1.0, per_second)) if self.ready else 0.0
        before = len(queue.stats.waits)
        served = queue.serve(now=now, capacity=math.floor(self.credit))
        self.credit -= served
        if served:
            ttft = serving.ttft_at(min(served, per_second) / max(1, self.ready))
            result.good += sum(count for wait, count in queue.stats.waits[before:] if wait + ttft <= spec.ttft_s)
        self.minute["served"] += served
        self.minute["queue"] += queue.length
        result.cost += (self.ready + len(self.starting)) * serving.hourly / 3600
        if self.prewarmed:
            result.prewarm_idle_cost += (self.ready + len(self.starting)) * serving.hourly / 3600
        result.peak_replicas = max(result.peak_replicas, self.ready + len(self.starting))
        if second % 60 == 59:
            self.samples.append(
                Sample(
                    at=now + 1,
                    replicas=self.ready,
                    requests=self.minute["requests"],
                    concurrency=self.minute["served"] / 60 * serving.e2e,  # Little's law over the minute
                    queue_depth=self.minute["queue"] / 60,
                )
            )
            self.samples = self.samples[-15:]
            self.minute = {"requests": 0.0, "served": 0.0, "queue": 0.0}
        if self.mode == "auto" and second % TICK_S == 0 and self.asked:
            self._autoscale(now)

    def _in_window(self, now: float) -> bool:
        return any(window.covers(now % 86400) for window in self.prewarm)

    def _wake(self, now: float, *, log: bool) -> float:
        self.asked = 1
        if self.pool is not None:
            self.pool.set_zero(self.spec.gpu, self.spec.name, False)
        seconds = self._start(now, self.pool, log=log)
        self.starting.append(now + seconds)
        self.last_change = LastChange(at=now, direction="wake")
        self.result.decisions += 1
        return seconds

    def _autoscale(self, now: float) -> None:
        policy = self.held if self._in_window(now) else self.policy
        decision = decide(
            current=self.asked, samples=self.samples, policy=policy, now=now, target=policy.target,
            last_change=self.last_change, queue_now=self.queue.length,
        )  # fmt: skip
        if decision.desired == self.asked:
            return
        self.result.decisions += 1
        self.last_change = LastChange(at=now, direction=decision.direction)
        if decision.desired > self.asked:
            for _ in range(decision.desired - self.asked):
                # As in the product (autoscaling.services._pool_scale_ups), each added replica takes a standby of
                # its GPU type while one is free, and starts cold otherwise.
                self.starting.append(now + self._start(now, self.pool))
        else:
            drop = self.asked - decision.desired
            cancel = min(drop, len(self.starting))
            self.starting = sorted(self.starting)[: len(self.starting) - cancel]
            self.ready -= drop - cancel
            self.last_stop = now
            if decision.direction == TO_ZERO:
                self.samples = []
                if self.pool is not None:
                    self.pool.set_zero(self.spec.gpu, self.spec.name, True)
                    self.pool.offer(self.spec.gpu, now, self.model)
        self.asked = decision.desired

    def _start(self, now: float, pool: Pool | None, *, log: bool = False) -> float:
        counts = pool.count(self.spec.gpu, now) if pool is not None else (0, 0)
        pooled = pool is not None and pool.claim(self.spec.gpu, now, self.model)
        cached = self.last_stop > 0 and now - self.last_stop < self.model.image_cache_s
        seconds = cold_start(self.model, model_gb=self.serving.model_gb, image_cached=cached, pooled=pooled).total_s
        self.result.cold_starts.append(seconds)
        if log and not pooled:
            waking = pool.at_zero.get(self.spec.gpu, set()) if pool is not None else set()
            self.result.cold_log.append((now, self.spec.name, self.spec.gpu, seconds, counts, len(waking)))
        return seconds


def static_replicas(spec: Spec, hours: int) -> int:
    """Replicas for the day's peak (bursts included) at the SLO's concurrency: what a static deployment runs."""
    serving = Serving(spec)
    bursts = burst_minutes(spec, hours)
    peak = max(rate_at(spec, s, bursts) for s in range(0, hours * 3600, 60))
    return max(1, math.ceil(peak / serving.capacity))


def _q(values: list[float], q: float) -> float:
    return weighted_quantile([(v, 1.0) for v in values], q) or 0.0


def history(spec: Spec) -> list[float]:
    """Yesterday's requests per minute for a deployment: the same shape of day, its own arrivals and bursts (another
    seed), so the forecasts made from it never see today's arrivals."""
    rng = random.Random(f"history:{spec.seed}")
    bursts = burst_minutes(replace(spec, seed=spec.seed + 1000), 24)
    return [float(poisson(rng, rate_at(spec, minute * 60, bursts) * 60)) for minute in range(24 * 60)]


def prewarm_windows(spec: Spec, model: StartModel) -> list[Window]:
    """The scheduled pre-warms of a deployment (`autoscaling.prewarm.windows`) from yesterday's load, led by its
    cold start with the image pulled (the longest it may take)."""
    serving = Serving(spec)
    start = cold_start(model, model_gb=serving.model_gb, image_cached=False, pooled=False).total_s
    return windows(history(spec), cold_start_s=start)


def new_pool(ratio: float, floor: int, *, by_wakes: bool = False, handover: bool = False) -> Pool:
    hourly: dict[str, float] = {}
    for spec in SPECS:  # a standby is sized for the largest replica of its GPU type
        hourly[spec.gpu] = max(hourly.get(spec.gpu, 0.0), Serving(spec).hourly)
    forecast = {spec.name: history(spec) for spec in SPECS} if by_wakes else None
    return Pool(ratio=ratio, floor=floor, hourly=hourly, forecast=forecast, handover=handover)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 3 simulated hours (about a minute)")
    parser.add_argument(
        "--pool-ratios",
        default=",".join(f"{r:g}" for r in POOL_RATIOS),
        help="standbys per deployment at zero: one pool run per ratio, comma-separated",
    )
    parser.add_argument("--pool-floor", type=int, default=POOL_FLOOR, help="standbys at least, per GPU type in use")
    parser.add_argument("--pool-idle", type=int, default=POOL_IDLE_TIMEOUT_S, help="idle timeout (s) with a pool")
    parser.add_argument("--runs", default="", help="only the runs whose name contains one of these (comma-separated)")
    parser.add_argument("--log-cold", action="store_true", help="list every wake a request waited for cold")
    args = parser.parse_args()
    if args.quick:
        args.hours = 3
    started = time.perf_counter()
    high = HEADROOMS[0]
    idle = args.pool_idle
    ratios = [float(r) for r in args.pool_ratios.split(",") if r.strip()]
    pools: dict[str, Pool] = {}
    modes = [  # name, mode, pool, headroom, idle timeout, pre-warm
        ("static", "static", None, high, IDLE_TIMEOUT_S, False),
        (f"auto {high:.0%}", "auto", None, high, IDLE_TIMEOUT_S, False),
        (f"auto {high:.0%}, idle {idle} s", "auto", None, high, idle, False),
        (f"auto {high:.0%}, idle {idle} s + pre-warm", "auto", None, high, idle, True),
    ]
    for ratio in ratios:
        for prewarm in (False, True):
            name = f"auto {high:.0%} + pool x{ratio:g}" + (" + pre-warm" if prewarm else "")
            pools[name] = new_pool(ratio, args.pool_floor)
            modes.append((name, "auto", pools[name], high, idle, prewarm))
    for handover in (False, True):
        name = f"auto {high:.0%} + pool by wakes together + pre-warm" + (" + hand-over" if handover else "")
        pools[name] = new_pool(1.0, args.pool_floor, by_wakes=True, handover=handover)
        modes.append((name, "auto", pools[name], high, idle, True))
    wanted = [w.strip() for w in args.runs.split(",") if w.strip()]
    modes = [m for m in modes if m[0] == "static" or not wanted or any(w == m[0] or w in m[0] for w in wanted)]
    pools = {name: pool for name, pool in pools.items() if any(m[0] == name for m in modes)}
    runs: dict = {m[0]: [] for m in modes}
    model = StartModel()
    print(f"{'deployment':16} {'model / GPU':44} {'static':>6} {'cap/rep':>7} pre-warm windows")
    for spec in SPECS:
        fixed = static_replicas(spec, args.hours)
        serving = Serving(spec)
        plan = prewarm_windows(spec, model)
        shown = ", ".join(f"{w.start_s / 3600:.2f}-{w.end_s / 3600:.2f} h" for w in plan)
        print(f"{spec.name:16} {spec.model_id.split('/')[1] + ' on ' + str(spec.tp) + 'x' + spec.gpu:44} {fixed:>6} "
              f"{serving.capacity:>7.2f} {shown}")  # fmt: skip
        for name, mode, pool, headroom, idle_s, prewarm in modes:
            runs[name].append(
                Run(spec, hours=args.hours, mode=mode, pool=pool, static_replicas=fixed, headroom=headroom,
                    idle_timeout_s=idle_s, prewarm=plan if prewarm else None)
            )  # fmt: skip
    everything = [run for group in runs.values() for run in group]
    for second in range(args.hours * 3600):  # every deployment in lockstep: the pool is shared in time
        for run in everything:
            run.step(second)
        for pool in pools.values():
            pool.step(float(second), model)
    runs = {name: [run.result for run in group] for name, group in runs.items()}
    elapsed = time.perf_counter() - started
    static_cost = sum(r.cost for r in runs["static"])
    print()
    print("| run | cost ($) | of which pool ($) | of which pre-warmed idle ($) | saved vs static | within SLO | "
          "rejected (429) | queue wait p99 / max (s) | wakes on a request | cold start p50 / p99 (s) | wakes > 30 s | "
          "pre-warms | replica starts | decisions |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, results in runs.items():
        pool = pools.get(name)
        cost = sum(r.cost for r in results) + (pool.cost if pool else 0.0)
        requests = sum(r.requests for r in results)
        good = sum(r.good for r in results)
        rejected = sum(r.rejected for r in results)
        waits = [w for r in results for w in r.waits]
        starts = [s for r in results for s in r.cold_starts]
        wakes = [s for r in results for s in r.wakes]
        cold = f"{_q(wakes, 0.5):.1f} / {_q(wakes, 0.99):.1f}" if wakes else "-"
        print(
            f"| {name} | {cost:,.2f} | {pool.cost if pool else 0:,.2f} | "
            f"{sum(r.prewarm_idle_cost for r in results):,.2f} | {(1 - cost / static_cost):.1%} | "
            f"{good / requests:.3%} | {rejected:,.0f} | "
            f"{weighted_quantile(waits, 0.99) or 0:.0f} / {max((w for w, _ in waits), default=0):.0f} | "
            f"{len(wakes)} | {cold} | {sum(1 for w in wakes if w > 30)} | {sum(len(r.prewarms) for r in results)} | "
            f"{len(starts)} | {sum(r.decisions for r in results)} |"
        )
    total = sum(r.requests for r in runs["static"])
    print(f"\n{args.hours} simulated hours, {len(SPECS)} deployments, {total:,.0f} requests per run; "
          f"replayed in {elapsed:.1f} s. Pool x r: r standbys per deployment at zero on a GPU type (rounded up), at "
          f"least {args.pool_floor}, none while none is at zero; pool by wakes together: the standbys that leave a "
          f"wake at most a {WAKE_MISS:.0%} chance of finding none "
          f"(the product's rule), from yesterday's requests in the hour; its cost is "
          f"included (column 3). Idle timeout {IDLE_TIMEOUT_S} s, {idle} s where named and in pool runs.")  # fmt: skip
    for name, pool in pools.items():
        print(f"{name}: {pool.standby_seconds / 3600:.1f} standby-hours, at most {pool.peak} standbys at once, "
              f"{pool.handed_over} replicas handed over at zero.")  # fmt: skip
    if args.log_cold:
        for name, results in runs.items():
            for at, who, gpu, seconds, (ready, starting), others in sorted(e for r in results for e in r.cold_log):
                print(f"cold | {name} | {at / 3600:05.2f} h | {who} | {gpu} | {seconds:.1f} s | standbys ready "
                      f"{ready}, starting {starting} | others of the type at zero {others}")  # fmt: skip


if __name__ == "__main__":
    main()
