"""What a deployment is expected to serve: latency targets, the load profile and each LLM component's serving model."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from deployments.models import UseCaseDeployment
from observability.models import DeploymentMonitoring
from sizing.loadsim import LoadProfile, Serving
from sizing.perf import Setup
from sizing.reference import catalog
from usecases.models import UseCase

TARGETS = ("ttft", "itl", "e2e")
# Tokens per request when a deployment has no use case (the sizing API's own default shape of a chat turn).
DEFAULT_TOKENS = (512, 256)


@dataclass(frozen=True)
class Expected:
    """A deployment's targets (seconds, per latency; absent when the use case sets none) and its load."""

    targets: dict[str, float]
    profile: LoadProfile
    tokens: tuple[int, int, int]  # input, output min, output max


def targets_of(usecase: UseCase | None) -> dict[str, float]:
    if usecase is None:
        return {}
    values = {"ttft": usecase.ttft_max, "itl": usecase.inter_token_max, "e2e": usecase.e2e_max}
    return {k: float(v) for k, v in values.items() if v}


def expected_for(
    deployment: UseCaseDeployment, *, usecase: UseCase | None, monitoring: DeploymentMonitoring | None
) -> Expected:
    """Targets from the use case, the load profile from the deployment's monitoring row or the load it was sized for."""
    if usecase is not None:
        tokens = (usecase.input_tokens_max, usecase.output_tokens_min, usecase.output_tokens_max)
    else:
        tokens = (DEFAULT_TOKENS[0], DEFAULT_TOKENS[1], DEFAULT_TOKENS[1])
    seed = deployment.pk.int % (2**31)
    rps = monitoring.requests_per_second if monitoring and monitoring.requests_per_second is not None else None
    if rps is None:
        rps = sized_rate(deployment)
    if monitoring is not None:
        profile = LoadProfile(
            kind=monitoring.load_kind,
            requests_per_second=rps,
            peak_hour=monitoring.peak_hour,
            burst_factor=monitoring.burst_factor,
            seed=monitoring.seed or seed,
        )
    else:
        profile = LoadProfile(requests_per_second=rps, seed=seed)
    return Expected(targets=targets_of(usecase), profile=profile, tokens=tokens)


def sized_rate(deployment: UseCaseDeployment) -> float:
    """The requests per second the deployment was sized for (a concurrency becomes users over the sized e2e)."""
    load = deployment.load or {}
    if load.get("requests_per_second"):
        return float(load["requests_per_second"])
    concurrency = load.get("concurrency")
    for entry in ((deployment.plan or {}).get("sizing") or {}).get("components", {}).values():
        chosen = entry.get("chosen") or {}
        if concurrency and chosen.get("e2e_s"):
            return float(concurrency) / float(chosen["e2e_s"])
    return float(concurrency or 1)


def serving_for(deployment: UseCaseDeployment, *, key: str, replicas: int, tokens: tuple[int, int, int]):
    """The serving model of an LLM component sized by the performance model, or None for any other component."""
    entry = ((deployment.plan or {}).get("sizing") or {}).get("components", {}).get(key) or {}
    chosen = entry.get("chosen")
    if entry.get("kind") != "sized" or not chosen:
        return None
    setup = _setup(entry["model_id"], chosen["gpu_type"], int(chosen["tensor_parallel"]), chosen["precision"], tokens)
    if setup is None:
        return None
    return Serving(setup=setup, replicas=replicas, output_tokens_min=tokens[1], output_tokens_max=tokens[2])


@functools.lru_cache(maxsize=512)
def _setup(model_id: str, gpu_type: str, tp: int, precision: str, tokens: tuple[int, int, int]) -> Setup | None:
    """Setups cache their latencies per concurrency: one per configuration keeps a collection pass cheap."""
    model, gpu = catalog().model(model_id), catalog().gpu(gpu_type)
    if model is None or gpu is None:
        return None
    return Setup(model=model, gpu=gpu, tp=tp, precision=precision, input_tokens=tokens[0], output_tokens=tokens[2])
