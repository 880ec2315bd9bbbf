"""What quotas are made of: resource vectors in integer units, a ClusterQueue as the scheduler sees it, why a job
waits for quota, and an admitted job as preemption sees it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CPU = "cpu"
MEMORY = "memory"
GPU_PREFIX = "gpu:"

# Kueue's preemption policy names.
RECLAIM_POLICIES = ("Never", "LowerPriority", "Any")
WITHIN_QUEUE_POLICIES = ("Never", "LowerPriority", "LowerOrNewerEqualPriority")


def gpu_key(gpu_type: str) -> str:
    return f"{GPU_PREFIX}{gpu_type}"


def vector_from_quota(quota: Mapping[str, Any] | None) -> dict[str, int]:
    """{"gpus": {"H100-80GB": 8}, "cpu_cores": 64, "memory_gib": 512} (a cluster inventory's shape) -> units."""
    quota = quota or {}
    vector = {gpu_key(str(t)): int(n) for t, n in (quota.get("gpus") or {}).items()}
    if quota.get("cpu_cores") is not None:
        vector[CPU] = round(float(quota["cpu_cores"]) * 1000)
    if quota.get("memory_gib") is not None:
        vector[MEMORY] = round(float(quota["memory_gib"]) * 1024)
    return vector


def quota_from_vector(vector: Mapping[str, int]) -> dict:
    """The inverse of vector_from_quota (for the API and the console)."""
    out: dict = {"gpus": {}}
    for key, value in sorted(vector.items()):
        if key.startswith(GPU_PREFIX):
            out["gpus"][key[len(GPU_PREFIX) :]] = value
        elif key == CPU:
            out["cpu_cores"] = value / 1000
        elif key == MEMORY:
            out["memory_gib"] = value / 1024
    return out


def demand_vector(gpu_type: str | None, gpus: int, millicores: int, memory_mib: int) -> dict[str, int]:
    vector = {CPU: millicores, MEMORY: memory_mib}
    if gpus and gpu_type:
        vector[gpu_key(gpu_type)] = gpus
    return vector


def describe_resource(key: str, amount: int) -> str:
    if key.startswith(GPU_PREFIX):
        return f"{amount} x {key[len(GPU_PREFIX) :]} GPU"
    if key == CPU:
        return f"{amount / 1000:g} CPU"
    return f"{amount / 1024:g} GiB memory"


@dataclass(frozen=True)
class QueueSpec:
    """A ClusterQueue as the scheduler sees it."""

    id: Any
    name: str
    nominal: Mapping[str, int]
    cohort: str | None = None
    borrowing_limit: Mapping[str, int] = field(default_factory=dict)  # a missing resource: no limit
    lending_limit: Mapping[str, int] = field(default_factory=dict)  # a missing resource: lends all its unused quota
    weight: float = 1.0
    reclaim_within_cohort: str = "Never"
    within_cluster_queue: str = "Never"
    # Kueue's fair-sharing preemption strategy (jobs.quotas.preemption): "Never", "LessThanOrEqualToFinalShare" or
    # "LessThanInitialShare" (tried after LessThanOrEqualToFinalShare, as Kueue's default pair).
    fair_sharing_preemption: str = "Never"

    def guaranteed(self, key: str) -> int:
        if key not in self.lending_limit:
            return 0
        return max(0, self.nominal.get(key, 0) - self.lending_limit[key])

    def lendable(self, key: str) -> int:
        return self.nominal.get(key, 0) - self.guaranteed(key)


@dataclass(frozen=True)
class Blocked:
    """Why a job does not fit its queue now: the first resource short, what it needs and what the queue may use."""

    queue: str
    resource: str
    needs: int
    available: int
    nominal: int
    used: int
    cohort: str | None
    held_by: tuple = ()  # (queue name, amount) of the cohort's biggest users of the resource

    def describe(self) -> str:
        text = (
            f"Waiting for quota in queue {self.queue}: needs {describe_resource(self.resource, self.needs)},"
            f" the queue may use {describe_resource(self.resource, self.available)} more now"
            f" (nominal {describe_resource(self.resource, self.nominal)},"
            f" in use {describe_resource(self.resource, self.used)}"
        )
        if self.cohort:
            text += f", cohort {self.cohort}"
        text += ")"
        if self.held_by:
            users = ", ".join(f"{name} {describe_resource(self.resource, amount)}" for name, amount in self.held_by)
            text += f"; held by {users}"
        return text


@dataclass
class Holder:
    """An admitted job as preemption sees it."""

    id: Any
    queue: Any
    vector: Mapping[str, int]
    priority: int
    sequence: int
