"""Reads for sizing: the reference data, and a sizing or an estimate built from catalog ids, a use case and a cluster.

The arithmetic is in the pure modules (`sizing.perf`, `sizing.search`); this module turns what a user names (a use
case id, a model id or figures, a cluster of theirs, GPU type names) into their inputs, with field-level errors.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from core.exceptions import NotFound, ValidationError
from jobs.models import Cluster
from jobs.selectors import cluster_capacity_check, cluster_list
from sizing.perf import Setup, cost_per_million_tokens, money
from sizing.reference import PRECISIONS, GpuType, ModelSpec, catalog, custom_model, normalise
from sizing.search import (
    GPU_COUNTS,
    Load,
    SizingRequest,
    SizingResult,
    Slo,
    candidate_gpus,
    max_concurrency_meeting,
    size,
)
from usecases.models import UseCase
from usecases.selectors import usecase_get, usecase_queryset


@dataclass(frozen=True)
class Workload:
    """Tokens and SLOs, from a use case and/or explicit values (explicit ones win)."""

    input_tokens: int
    output_tokens: int
    slo: Slo
    usecase: UseCase | None

    def as_dict(self) -> dict:
        return {
            "usecase_id": self.usecase.unique_id if self.usecase else None,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "slo": {"ttft_s": self.slo.ttft_s, "itl_s": self.slo.itl_s, "e2e_s": self.slo.e2e_s},
        }


def gpu_type_list(*, q: str = "", vendor: str = "") -> list[GpuType]:
    needle = normalise(q)
    return [
        g
        for g in catalog().gpus
        if (not vendor or g.vendor == vendor.lower())
        and (not needle or any(needle in normalise(n) for n in (g.id, g.name, *g.aliases)))
    ]


def model_list(*, q: str = "", kind: str = "") -> list[ModelSpec]:
    needle = normalise(q)
    return [
        m
        for m in catalog().models
        if (not kind or m.kind == kind) and (not needle or any(needle in normalise(n) for n in (m.id, *m.aliases)))
    ]


def model_resolve(*, model_id: str | None, model_params_b: float | None = None, field: str = "model_id") -> ModelSpec:
    """The catalog model `model_id` names, or one built from explicit figures; a 400 naming `field` otherwise."""
    if model_id:
        model = catalog().model(model_id)
        if model is not None:
            return model
        if not model_params_b:
            raise ValidationError({field: _unknown("model", model_id, catalog().near_models(model_id))})
    if model_params_b:
        return custom_model(model_params_b=model_params_b, model_id=model_id or "custom")
    raise ValidationError({field: ["Name a model from GET /api/v1/models, or give model_params_b."]})


def gpu_resolve(name: str, *, field: str) -> GpuType:
    gpu = catalog().gpu(name)
    if gpu is None:
        raise ValidationError({field: _unknown("GPU type", name, catalog().near_gpus(name))})
    return gpu


def usecase_resolve(unique_id: str, *, field: str = "usecase_id") -> UseCase:
    try:
        return usecase_get(unique_id=unique_id)
    except NotFound:
        ids = list(usecase_queryset().values_list("unique_id", flat=True))
        near = difflib.get_close_matches(unique_id, ids, n=5, cutoff=0.5)
        near += [i for i in ids if unique_id and unique_id.split("_")[0] in i and i not in near]
        raise ValidationError({field: _unknown("use case", unique_id, near[:5])}) from None


def _unknown(what: str, name: str, near: list[str]) -> list[str]:
    hint = f" Did you mean: {', '.join(near)}?" if near else ""
    return [f"Unknown {what} {name!r}.{hint}"]


def workload_resolve(
    *,
    usecase_id: str | None,
    input_tokens: int | None,
    output_tokens: int | None,
    slo: dict | None,
    prefix: str = "",
) -> Workload:
    """Typical tokens are the use case's upper bounds and its SLOs the upper targets, unless given explicitly."""
    usecase = usecase_resolve(usecase_id, field=f"{prefix}usecase_id") if usecase_id else None
    slo = slo or {}
    if usecase is not None:
        input_tokens = input_tokens or usecase.input_tokens_max
        output_tokens = output_tokens or usecase.output_tokens_max
        defaults = {"ttft_s": usecase.ttft_max, "itl_s": usecase.inter_token_max, "e2e_s": usecase.e2e_max}
        slo = {**defaults, **{k: v for k, v in slo.items() if v is not None}}
    errors = {
        f"{prefix}{name}": ["Required without a usecase_id."]
        for name, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens))
        if not value
    }
    if errors:
        raise ValidationError(errors)
    return Workload(
        input_tokens=int(input_tokens),
        output_tokens=int(output_tokens),
        slo=Slo(ttft_s=slo.get("ttft_s"), itl_s=slo.get("itl_s"), e2e_s=slo.get("e2e_s")),
        usecase=usecase,
    )


def cluster_for(*, user, cluster_id) -> Cluster:
    cluster = cluster_list(user=user).filter(pk=cluster_id).first()
    if cluster is None:
        raise ValidationError({"cluster_id": ["No such cluster in your tenants."]})
    return cluster


def sizing_run(
    *,
    model: ModelSpec,
    workload: Workload,
    load: Load,
    cluster: Cluster | None = None,
    gpu_types: Iterable[str] | None = None,
    gpu_counts: Iterable[int] | None = None,
    precisions: Iterable[str] | None = None,
    field_prefix: str = "",
) -> SizingResult:
    """The search for one model and workload; with a cluster, over its GPU types, prices and free capacity."""
    cat = catalog()
    wanted = None
    if gpu_types is not None:
        wanted = [gpu_resolve(name, field=f"{field_prefix}gpu_types").id for name in gpu_types]
    prices: dict[str, Decimal] = {}
    free = None
    unsized: list[str] = []
    cluster_names: dict[str, str] = {}
    if cluster is not None:
        gpu_prices = (cluster.prices or {}).get("gpu_hour") or {}
        for name in (cluster.inventory or {}).get("gpus") or {}:
            gpu = cat.gpu(name)
            if gpu is None:
                unsized.append(name)
                continue
            cluster_names[gpu.id] = name
            if name in gpu_prices:
                prices[gpu.id] = Decimal(str(gpu_prices[name]))
        free_now = cluster_capacity_check(cluster=cluster, resources_list=[])["free"]["gpus"]
        free = {gpu_id: int(free_now.get(name, 0)) for gpu_id, name in cluster_names.items()}
        wanted = [i for i in (wanted or cluster_names) if i in cluster_names]
    return size(
        SizingRequest(
            model=model,
            input_tokens=workload.input_tokens,
            output_tokens=workload.output_tokens,
            slo=workload.slo,
            load=load,
            gpu_types=candidate_gpus(cat.gpus, wanted),
            gpu_counts=tuple(gpu_counts or GPU_COUNTS),
            precisions=tuple(precisions or PRECISIONS),
            prices=prices,
            free_gpus=free,
            unsized_gpu_types=tuple(unsized),
            cluster_names=cluster_names,
        )
    )


def estimate_run(
    *, model: ModelSpec, gpu: GpuType, gpu_count: int, precision: str, workload: Workload, concurrency: int
) -> dict:
    """One configuration at one concurrency: the model's estimates, cost, and the rate it sustains within the SLO."""
    setup = Setup(
        model=model,
        gpu=gpu,
        tp=gpu_count,
        precision=precision,
        input_tokens=workload.input_tokens,
        output_tokens=workload.output_tokens,
    )
    est = setup.at(concurrency)
    hourly = money(gpu.default_hourly_usd * gpu_count)
    best = max_concurrency_meeting(setup, workload.slo, setup.max_concurrency)
    at_slo = setup.at(best).requests_per_s if best else 0.0
    return {
        "model_id": model.id,
        "gpu_type": gpu.id,
        "gpu_count": gpu_count,
        "tensor_parallel": gpu_count,
        "precision": precision,
        **workload.as_dict(),
        "concurrency": concurrency,
        "fits": est.fits,
        "memory_needed_gb": est.memory_needed_gb,
        "memory_available_gb": est.memory_available_gb,
        "max_concurrency": est.max_concurrency,
        "ttft_s": _finite(est.ttft_s),
        "itl_s": _finite(est.itl_s),
        "e2e_s": _finite(est.e2e_s),
        "tokens_per_s": round(est.tokens_per_s, 1),
        "requests_per_s": round(est.requests_per_s, 3),
        "max_concurrency_at_slo": best,
        "requests_per_s_at_slo": round(at_slo, 3),
        "physical_itl_floor_s": round(setup.decode_floor_s(), 5),
        "hourly_cost": str(hourly),
        "cost_per_million_tokens": _text(cost_per_million_tokens(hourly, est.tokens_per_s)) if est.fits else None,
        "saturated": est.saturated,
        "reason": est.reason,
    }


def _finite(value: float) -> float | None:
    return round(value, 4) if value not in (float("inf"), float("-inf")) and value == value else None


def _text(value) -> str | None:
    return None if value is None else str(value)


def sizing_for_models(*, workload: Workload, model_ids: Iterable[str], load: Load) -> list[dict]:
    """The chosen candidate (or the reasons) of each catalog model for one workload: the SLO page's table."""
    rows = []
    for model_id in model_ids:
        model = catalog().model(model_id)
        result = sizing_run(model=model, workload=workload, load=load)
        rows.append({"model_id": model.id, "chosen": result.chosen, "reasons": result.reasons})
    return rows
