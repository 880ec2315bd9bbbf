"""Placement (no Django): which of a cluster's GPU types a component runs on when its own is a preference.

A component's `gpu_type` is a preference unless it is required (`gpu_type_required`, or a `gpu_type` the user gave).
When the cluster has the preferred type, it stays. Otherwise the cheapest cluster type that fits the component takes
its place (fits: the model's weights and one context's KV cache in the GPUs' memory, and the cluster has that many
GPUs), and the placement says so. A required type the cluster lacks is refused, naming the types that would fit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from .perf import Setup
from .reference import PRECISIONS, GpuType, ModelSpec, catalog

# The sequence a model server must hold at least once when its config says nothing (vLLM's max_model_len default in
# the shipped vllm component).
DEFAULT_CONTEXT_TOKENS = 8192


@dataclass(frozen=True)
class ClusterGpu:
    """One GPU type of a cluster's inventory, under the name the cluster uses, with its price and catalog entry."""

    name: str
    count: int
    price: Decimal | None
    spec: GpuType | None

    @property
    def sort_price(self) -> Decimal:
        if self.price is not None:
            return self.price
        return self.spec.default_hourly_usd if self.spec else Decimal(math.inf)


@dataclass(frozen=True)
class Placement:
    """The GPU type chosen on the cluster (its inventory name), why, the types that fit, or the refusal."""

    gpu_type: str | None
    note: str = ""
    fitting: tuple[str, ...] = ()
    error: str = ""


def cluster_gpus(inventory: Mapping, prices: Mapping | None) -> list[ClusterGpu]:
    """The cluster's GPU types from its inventory and prices (`{"gpu_hour": {...}}`)."""
    gpu_prices = (prices or {}).get("gpu_hour") or {}
    cat = catalog()
    return [
        ClusterGpu(
            name=str(name),
            count=int(count or 0),
            price=Decimal(str(gpu_prices[name])) if name in gpu_prices else None,
            spec=cat.gpu(str(name)),
        )
        for name, count in ((inventory or {}).get("gpus") or {}).items()
    ]


def fits_on(
    gpu: ClusterGpu, *, model: ModelSpec | None, gpu_count: int, precision: str, context_tokens: int
) -> tuple[bool, str]:
    """Whether one replica (`gpu_count` GPUs of this type) holds the model and one context, and if not why."""
    if gpu.count < gpu_count:
        return False, f"{gpu.name}: the cluster has {gpu.count}, one replica needs {gpu_count}"
    if model is None or gpu.spec is None:
        return True, ""  # nothing to check against: an unknown model or a GPU type the catalog does not know
    if precision not in PRECISIONS:
        precision = "bf16"
    tokens = max(1, min(context_tokens, model.context_length) - 1)  # and one generated token
    estimate = Setup(
        model=model, gpu=gpu.spec, tp=gpu_count, precision=precision, input_tokens=tokens, output_tokens=1
    ).at(1)
    if not estimate.fits:
        return False, f"{gpu.name}: {estimate.reason}"
    return True, ""


def place(
    *,
    preferred: str | None,
    required: bool,
    gpu_count: int,
    gpus: Iterable[ClusterGpu],
    model: ModelSpec | None = None,
    precision: str = "bf16",
    context_tokens: int = DEFAULT_CONTEXT_TOKENS,
) -> Placement:
    """Where one component runs on a cluster with these GPU types (see the module docstring)."""
    gpus = list(gpus)
    if not gpu_count:
        return Placement(gpu_type=None)
    cat = catalog()
    wanted = cat.gpu(preferred) if preferred else None

    def same(gpu: ClusterGpu) -> bool:
        return gpu.name == preferred or (wanted is not None and gpu.spec is not None and gpu.spec.id == wanted.id)

    checks = {
        g.name: fits_on(g, model=model, gpu_count=gpu_count, precision=precision, context_tokens=context_tokens)
        for g in gpus
    }
    fitting = tuple(g.name for g in sorted(gpus, key=lambda g: (g.sort_price, g.name)) if checks[g.name][0])
    present = next((g for g in gpus if same(g)), None)
    if present is not None and (required or checks[present.name][0]):
        return Placement(gpu_type=present.name, fitting=fitting)
    if required:
        where = f"; types that would fit: {', '.join(fitting)}" if fitting else "; no type on this cluster fits"
        return Placement(
            gpu_type=None, fitting=fitting, error=f"{preferred} is required and not on this cluster{where}."
        )
    if not fitting:
        reasons = "; ".join(reason for _, reason in checks.values() if reason) or "the cluster has no GPUs"
        return Placement(gpu_type=None, error=f"No GPU type on this cluster fits: {reasons}.")
    why = "not on this cluster" if present is None else "does not fit"
    note = f"preferred {preferred} {why}" if preferred else "no GPU type preferred"
    return Placement(gpu_type=fitting[0], note=f"{note}; {fitting[0]} is the cheapest that fits", fitting=fitting)
