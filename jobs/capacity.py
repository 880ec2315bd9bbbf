"""Capacity arithmetic of the scheduler (no Django): what a job demands, what a cluster has and what is free, in
integers (GPUs, millicores, MiB) so adding and freeing never drifts. `jobs.scheduling` plans with it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.resources import gpus_of, replicas_of
from jobs.quotas import demand_vector

CPU_QUEUE = "cpu"
SERVICE = "SERVICE"

PRIORITY_NAMES = {"LOW": 0, "NORMAL": 50, "HIGH": 75, "CRITICAL": 100}


@dataclass(frozen=True)
class Demand:
    """What a job holds while admitted: its resources multiplied by its replicas."""

    gpu_type: str | None
    gpus: int
    millicores: int
    memory_mib: int

    @classmethod
    def from_resources(cls, resources: Mapping[str, Any]) -> Demand:
        replicas = replicas_of(resources)
        gpus = gpus_of(resources)
        return cls(
            gpu_type=resources.get("gpu_type") if gpus else None,
            gpus=gpus,
            millicores=round(float(resources.get("cpu") or 0) * 1000) * replicas,
            memory_mib=round(float(resources.get("memory_gib") or 0) * 1024) * replicas,
        )

    @property
    def queue(self) -> str:
        return self.gpu_type if self.gpus else CPU_QUEUE

    @property
    def vector(self) -> dict[str, int]:
        """The demand in quota units (jobs.quotas)."""
        return demand_vector(self.gpu_type, self.gpus, self.millicores, self.memory_mib)

    def describe(self) -> str:
        parts = [f"{self.gpus} x {self.gpu_type}"] if self.gpus else []
        parts.append(f"{_num(self.millicores / 1000)} CPU")
        parts.append(f"{_num(self.memory_mib / 1024)} GiB")
        return ", ".join(parts)


def per_replica(resources: Mapping[str, Any]) -> dict:
    """Resources without the replica count: what one replica asks for (two jobs of one shape can merge)."""
    return {key: value for key, value in resources.items() if key != "replicas"}


def _num(value: float) -> str:
    return f"{value:g}"


@dataclass
class Capacity:
    """Free (or total) resources of a cluster."""

    gpus: dict[str, int]
    millicores: int
    memory_mib: int

    @classmethod
    def from_inventory(cls, inventory: Mapping[str, Any]) -> Capacity:
        return cls(
            gpus={str(k): int(v) for k, v in (inventory.get("gpus") or {}).items()},
            millicores=round(float(inventory.get("cpu_cores") or 0) * 1000),
            memory_mib=round(float(inventory.get("memory_gib") or 0) * 1024),
        )

    def copy(self) -> Capacity:
        return Capacity(dict(self.gpus), self.millicores, self.memory_mib)

    def fits(self, demand: Demand) -> bool:
        if demand.gpus and self.gpus.get(demand.gpu_type, 0) < demand.gpus:
            return False
        return self.millicores >= demand.millicores and self.memory_mib >= demand.memory_mib

    def take(self, demand: Demand) -> None:
        if demand.gpus:
            self.gpus[demand.gpu_type] = self.gpus.get(demand.gpu_type, 0) - demand.gpus
        self.millicores -= demand.millicores
        self.memory_mib -= demand.memory_mib

    def give(self, demand: Demand) -> None:
        if demand.gpus:
            self.gpus[demand.gpu_type] = self.gpus.get(demand.gpu_type, 0) + demand.gpus
        self.millicores += demand.millicores
        self.memory_mib += demand.memory_mib

    def never_fits_reason(self, demand: Demand) -> str | None:
        """Why `demand` exceeds this (total) capacity, or None when an empty cluster could run it."""
        if demand.gpus:
            have = self.gpus.get(demand.gpu_type)
            if have is None:
                return f"The cluster has no {demand.gpu_type} GPUs."
            if demand.gpus > have:
                return f"Asks for {demand.gpus} x {demand.gpu_type}; the cluster has {have} in total."
        if demand.millicores > self.millicores:
            return (
                f"Asks for {_num(demand.millicores / 1000)} CPU cores; the cluster has {_num(self.millicores / 1000)}."
            )
        if demand.memory_mib > self.memory_mib:
            return f"Asks for {_num(demand.memory_mib / 1024)} GiB; the cluster has {_num(self.memory_mib / 1024)} GiB."
        return None

    def describe(self) -> str:
        gpus = ", ".join(f"{n} x {t}" for t, n in sorted(self.gpus.items()))
        return f"{gpus + ', ' if gpus else ''}{_num(self.millicores / 1000)} CPU, {_num(self.memory_mib / 1024)} GiB"

    def as_dict(self) -> dict:
        return {
            "gpus": dict(sorted(self.gpus.items())),
            "cpu_cores": self.millicores / 1000,
            "memory_gib": self.memory_mib / 1024,
        }
