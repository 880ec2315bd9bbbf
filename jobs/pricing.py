"""What a job costs (no Django): its resources per hour, the cluster's unit prices, the hourly rate and the cost of
a stretch of time. Billing meters with the same quantities and prices; money is Decimal throughout."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.0001")


def resource_quantities(resources: Mapping[str, Any]) -> dict[str, Decimal]:
    """What the job holds per hour, replicas included: GPUs (of its gpu_type), CPU cores and memory GiB."""
    replicas = Decimal(int(resources.get("replicas", 1) or 0))
    return {
        "gpu": Decimal(int(resources.get("gpu_count") or 0)) * replicas if resources.get("gpu_type") else Decimal(0),
        "cpu": Decimal(str(resources.get("cpu") or 0)) * replicas,
        "memory": Decimal(str(resources.get("memory_gib") or 0)) * replicas,
    }


def resource_prices(prices: Mapping[str, Any], gpu_type: str | None) -> dict[str, Decimal]:
    """Hourly unit prices from a cluster's price list: one GPU of `gpu_type`, one CPU core, one GiB of memory."""
    gpu_prices = prices.get("gpu_hour") or {}
    return {
        "gpu": Decimal(str(gpu_prices.get(gpu_type, 0) or 0)) if gpu_type else Decimal(0),
        "cpu": Decimal(str(prices.get("cpu_hour") or 0)),
        "memory": Decimal(str(prices.get("memory_gib_hour") or 0)),
    }


def hourly_rate(prices: Mapping[str, Any], resources: Mapping[str, Any]) -> Decimal:
    """Price of one hour of the job's resources, replicas included."""
    quantities = resource_quantities(resources)
    unit = resource_prices(prices, resources.get("gpu_type"))
    total = sum((quantities[key] * unit[key] for key in quantities), Decimal(0))
    return total.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def cost_between(rate: Decimal, start: datetime | None, end: datetime | None) -> Decimal:
    """Cost of running at `rate` per hour from `start` to `end`."""
    if start is None or end is None or end <= start:
        return Decimal("0.0000")
    seconds = Decimal(str((end - start).total_seconds()))
    return (Decimal(rate) * seconds / Decimal(3600)).quantize(CENT, rounding=ROUND_HALF_UP)
