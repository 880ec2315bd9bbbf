"""Arithmetic on a resources dict ({"gpu_type", "gpu_count", "cpu", "memory_gib", "replicas"}): pure, shared by
the resolver's totals, the job layer's demand, a change's GPU delta and the console's figures."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def replicas_of(resources: Mapping[str, Any]) -> int:
    return int(resources.get("replicas", 1) or 0)


def gpus_of(resources: Mapping[str, Any]) -> int:
    """All the GPUs the resources hold: gpu_count x replicas."""
    return int(resources.get("gpu_count") or 0) * replicas_of(resources)


def gpu_totals(resources_list: Iterable[Mapping[str, Any] | None]) -> dict[str, int]:
    """GPUs held by type over many resources, sorted by type (types holding none are left out)."""
    totals: dict[str, int] = {}
    for resources in resources_list:
        count = gpus_of(resources or {})
        if count:
            totals[resources["gpu_type"]] = totals.get(resources["gpu_type"], 0) + count
    return dict(sorted(totals.items()))
