"""Cluster drivers: how jobs reach a cluster. Nothing outside `jobs/` knows which driver runs a cluster."""

from __future__ import annotations

from jobs.drivers.base import ClusterDriver, Forecast, JobForecast, SchedulePassResult
from jobs.drivers.kubernetes import KubernetesDriver
from jobs.drivers.simulated import SimulatedDriver


def get_driver(cluster) -> ClusterDriver:
    """The driver for a cluster (by its `driver` field)."""
    if cluster.driver == "simulated":
        return SimulatedDriver()
    if cluster.driver == "kubernetes":
        return KubernetesDriver()
    raise NotImplementedError(f"The {cluster.driver!r} driver is not available in this build.")


__all__ = ["ClusterDriver", "Forecast", "JobForecast", "SchedulePassResult", "get_driver"]
