"""The sizing search (no Django): every GPU type x GPU count x precision for a model, a workload and SLOs, ranked.

For each candidate the search finds the largest per-replica concurrency that still meets every SLO, derives the
replicas the expected load needs, and prices them; the cheapest candidate that meets every SLO comes first. When
none does, the reasons name the closest candidate and the SLO it misses, by how much.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from .perf import Estimate, Setup, cost_per_million_tokens, money
from .reference import PRECISIONS, GpuType, ModelSpec

GPU_COUNTS = (1, 2, 4, 8)
SLO_NAMES = {"ttft_s": "TTFT", "itl_s": "inter-token latency", "e2e_s": "end-to-end latency"}


@dataclass(frozen=True)
class Slo:
    """Latency targets in seconds (None: no target)."""

    ttft_s: float | None = None
    itl_s: float | None = None
    e2e_s: float | None = None

    def items(self) -> list[tuple[str, float]]:
        return [(k, v) for k, v in (("ttft_s", self.ttft_s), ("itl_s", self.itl_s), ("e2e_s", self.e2e_s)) if v]

    def met_by(self, estimate: Estimate) -> bool:
        return estimate.fits and all(getattr(estimate, key) <= target for key, target in self.items())

    def met_at(self, setup: Setup, users: int) -> bool:
        """met_by without building an Estimate: the search's hot path (`users` must fit in memory)."""
        ttft, itl, e2e, _ = setup.latencies(users)
        return (
            (self.ttft_s is None or ttft <= self.ttft_s)
            and (self.itl_s is None or itl <= self.itl_s)
            and (self.e2e_s is None or e2e <= self.e2e_s)
        )


@dataclass(frozen=True)
class Load:
    """The expected load: concurrent requests, or requests per second (one of them; neither means one user)."""

    concurrency: int | None = None
    requests_per_second: float | None = None


@dataclass(frozen=True)
class SizingRequest:
    """Everything one search needs; `free_gpus` is None when no cluster is involved."""

    model: ModelSpec
    input_tokens: int
    output_tokens: int
    slo: Slo
    load: Load
    gpu_types: tuple[GpuType, ...]
    gpu_counts: tuple[int, ...] = GPU_COUNTS
    precisions: tuple[str, ...] = PRECISIONS
    prices: Mapping[str, Decimal] = field(default_factory=dict)
    free_gpus: Mapping[str, int] | None = None
    unsized_gpu_types: tuple[str, ...] = ()  # cluster types the catalog does not know
    cluster_names: Mapping[str, str] = field(default_factory=dict)  # catalog id -> the cluster's inventory name


@dataclass
class Candidate:
    """One configuration, sized for the load: its estimates, SLO check and cost."""

    gpu_type: str
    gpu_count: int
    tensor_parallel: int
    precision: str
    replicas: int
    concurrency_per_replica: int
    max_concurrency_per_replica: int
    fits: bool
    memory_needed_gb: float
    memory_available_gb: float
    ttft_s: float | None
    itl_s: float | None
    e2e_s: float | None
    tokens_per_s: float  # output tokens per second, all replicas
    requests_per_s: float  # all replicas
    meets_slo: bool
    violations: list[dict]
    gpu_hour_price: Decimal
    hourly_cost: Decimal | None
    cost_per_million_tokens: Decimal | None
    cluster_can_hold: bool | None
    cluster_gpu_type: str | None = None  # the name the cluster's inventory uses for this GPU type
    reason: str = ""

    @property
    def total_gpus(self) -> int:
        return self.gpu_count * self.replicas

    @property
    def worst_miss(self) -> float:
        return max((v["miss_ratio"] for v in self.violations), default=0.0)

    def label(self) -> str:
        plural = "replica" if self.replicas == 1 else "replicas"
        return f"{self.replicas} {plural} of {self.gpu_count} x {self.gpu_type} {self.precision}"

    def as_dict(self) -> dict:
        return {
            "gpu_type": self.gpu_type,
            "gpu_count": self.gpu_count,
            "tensor_parallel": self.tensor_parallel,
            "precision": self.precision,
            "replicas": self.replicas,
            "total_gpus": self.total_gpus,
            "concurrency_per_replica": self.concurrency_per_replica,
            "max_concurrency_per_replica": self.max_concurrency_per_replica,
            "fits": self.fits,
            "memory_needed_gb": self.memory_needed_gb,
            "memory_available_gb": self.memory_available_gb,
            "ttft_s": _seconds(self.ttft_s),
            "itl_s": _seconds(self.itl_s),
            "e2e_s": _seconds(self.e2e_s),
            "tokens_per_s": round(self.tokens_per_s, 1),
            "requests_per_s": round(self.requests_per_s, 3),
            "meets_slo": self.meets_slo,
            "violations": self.violations,
            "gpu_hour_price": str(self.gpu_hour_price),
            "hourly_cost": _text(self.hourly_cost),
            "cost_per_million_tokens": _text(self.cost_per_million_tokens),
            "cluster_can_hold": self.cluster_can_hold,
            "cluster_gpu_type": self.cluster_gpu_type,
            "reason": self.reason,
        }


@dataclass
class SizingResult:
    candidates: list[Candidate]
    chosen: Candidate | None
    reasons: list[str]

    def as_dict(self) -> dict:
        return {
            "candidates": [c.as_dict() for c in self.candidates],
            "chosen": self.chosen.as_dict() if self.chosen else None,
            "reasons": self.reasons,
        }


def size(request: SizingRequest) -> SizingResult:
    """Every candidate sized for the load and ranked: meeting every SLO, cheapest first; then the closest misses."""
    candidates = [
        _candidate(request, gpu, count, precision)
        for gpu in request.gpu_types
        for count in request.gpu_counts
        for precision in request.precisions
    ]
    candidates.sort(key=_rank)
    chosen = candidates[0] if candidates and candidates[0].meets_slo else None
    return SizingResult(candidates=candidates, chosen=chosen, reasons=_reasons(request, candidates, chosen))


def _rank(c: Candidate) -> tuple:
    if c.meets_slo:
        return (0, c.hourly_cost, c.e2e_s)
    if c.fits:
        return (1, c.worst_miss, c.hourly_cost or Decimal(0))
    return (2, c.memory_needed_gb - c.memory_available_gb, c.gpu_count)


def _candidate(request: SizingRequest, gpu: GpuType, count: int, precision: str) -> Candidate:
    setup = Setup(
        model=request.model,
        gpu=gpu,
        tp=count,
        precision=precision,
        input_tokens=request.input_tokens,
        output_tokens=request.output_tokens,
    )
    price = request.prices.get(gpu.id, gpu.default_hourly_usd)
    load = request.load
    best = max_concurrency_meeting(setup, request.slo, _users_cap(setup, load))
    if best:
        replicas, per_replica = _replicas_for(setup, load, best)
    else:  # cannot meet: its best case, one user per replica
        per_replica = 1
        replicas = _replicas_for(setup, load, 1)[0] if setup.max_concurrency else 0
    estimate = setup.at(per_replica)
    hourly = money(price * count * replicas) if estimate.fits else None
    tokens = estimate.tokens_per_s * replicas
    free = request.free_gpus
    return Candidate(
        gpu_type=gpu.id,
        gpu_count=count,
        tensor_parallel=count,
        precision=precision,
        replicas=replicas,
        concurrency_per_replica=per_replica if estimate.fits else 0,
        max_concurrency_per_replica=best,
        fits=estimate.fits,
        memory_needed_gb=estimate.memory_needed_gb,
        memory_available_gb=estimate.memory_available_gb,
        ttft_s=estimate.ttft_s,
        itl_s=estimate.itl_s,
        e2e_s=estimate.e2e_s,
        tokens_per_s=tokens,
        requests_per_s=estimate.requests_per_s * replicas,
        meets_slo=bool(best) and estimate.fits,
        violations=_violations(request.slo, estimate) if estimate.fits else [],
        gpu_hour_price=price,
        hourly_cost=hourly,
        cost_per_million_tokens=cost_per_million_tokens(hourly, tokens) if hourly is not None else None,
        cluster_can_hold=None if free is None else (estimate.fits and count * replicas <= free.get(gpu.id, 0)),
        cluster_gpu_type=request.cluster_names.get(gpu.id),
        reason=estimate.reason,
    )


def _users_cap(setup: Setup, load: Load) -> int:
    """More users per replica than the whole load holds never help, so the search stops there: the concurrency,
    or for a rate the users in the system by Little's law at the slowest (fullest) latency."""
    if not load.requests_per_second:
        return max(1, load.concurrency or 1)
    if setup.max_concurrency < 1:
        return 0
    return max(1, math.ceil(load.requests_per_second * setup.latencies(setup.max_concurrency)[2]))


def max_concurrency_meeting(setup: Setup, slo: Slo, cap: int) -> int:
    """The largest per-replica concurrency (up to `cap`) whose estimate meets every SLO (0: not even one user).
    Latency grows with concurrency, so a check of the cap, then a bisection find it in O(log n) estimates."""
    limit = min(setup.max_concurrency, cap)
    if limit < 1 or not slo.met_at(setup, 1):
        return 0
    if slo.met_at(setup, limit):
        return limit
    good, bad = 1, limit
    while bad - good > 1:
        mid = (good + bad) // 2
        if slo.met_at(setup, mid):
            good = mid
        else:
            bad = mid
    return good


def _replicas_for(setup: Setup, load: Load, per_replica_max: int) -> tuple[int, int]:
    """Replicas for the load when one replica takes at most `per_replica_max` users, and the users each then has."""
    if load.requests_per_second:
        e2e = setup.latencies(per_replica_max)[2]
        replicas = max(1, math.ceil(load.requests_per_second * e2e / per_replica_max))
        # Little's law: the users a replica holds at its share of the rate, never more than the SLO allows.
        share = load.requests_per_second / replicas
        return replicas, min(per_replica_max, max(1, math.ceil(share * e2e)))
    users = max(1, load.concurrency or 1)
    replicas = math.ceil(users / per_replica_max)
    return replicas, math.ceil(users / replicas)


def _violations(slo: Slo, estimate: Estimate) -> list[dict]:
    out = []
    for key, target in slo.items():
        value = getattr(estimate, key)
        if value > target:
            out.append(
                {
                    "slo": key,
                    "target_s": target,
                    "estimate_s": _seconds(value),
                    "miss_s": _seconds(value - target),
                    "miss_ratio": round((value - target) / target, 3) if math.isfinite(value) else math.inf,
                }
            )
    return out


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _seconds(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 4)


def _reasons(request: SizingRequest, candidates: list[Candidate], chosen: Candidate | None) -> list[str]:
    reasons = [
        f"GPU type {name!r} is on the cluster but not in the GPU catalog: it can be scheduled, not sized."
        for name in request.unsized_gpu_types
    ]
    if not candidates:
        return [*reasons, "No GPU type to size for: the filters or the cluster leave none from the catalog."]
    if chosen:
        return [
            *reasons,
            f"Chosen: {chosen.label()}, the cheapest of {sum(c.meets_slo for c in candidates)} "
            f"candidates meeting every SLO, at ${chosen.hourly_cost}/hour.",
        ]
    fitting = [c for c in candidates if c.fits]
    if not fitting:
        closest = candidates[0]
        return [
            *reasons,
            f"The model fits no candidate: the closest, {closest.gpu_count} x {closest.gpu_type} "
            f"{closest.precision}, {closest.reason}.",
        ]
    closest = fitting[0]
    misses = "; ".join(
        f"{SLO_NAMES[v['slo']]} {_fmt(v['estimate_s'])} against {_fmt(v['target_s'])} "
        f"(misses by {_fmt(v['miss_s'])}, {v['miss_ratio']:.0%})"
        for v in closest.violations
    )
    return [
        *reasons,
        f"No candidate meets every SLO. Closest: {closest.gpu_count} x {closest.gpu_type} "
        f"{closest.precision} with one user per replica: {misses}.",
    ]


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "unbounded"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def candidate_gpus(gpus: Iterable[GpuType], only: Iterable[str] | None) -> tuple[GpuType, ...]:
    """The catalog GPUs restricted to `only` (catalog ids), in catalog order."""
    wanted = set(only) if only is not None else None
    return tuple(g for g in gpus if wanted is None or g.id in wanted)
