"""Factories for autoscaling tests: minute rollups as the observability collector writes them."""

from __future__ import annotations

from datetime import datetime, timedelta

from observability.models import MetricRollup
from observability.sketch import sketch_from_values, sketch_to_json


def rollups(*, deployment, key: str, end: datetime, minutes: int, replicas: int, ttft: float | None = None,
            requests: float = 600, running: float = 0, waiting: float = 0, gpu: float = 0.5) -> None:  # fmt: skip
    """`minutes` minute rollups of one component ending at `end` (exclusive), every request at `ttft` seconds."""
    start = end.replace(second=0, microsecond=0) - timedelta(minutes=minutes)
    MetricRollup.objects.bulk_create(
        MetricRollup(
            deployment=deployment,
            component_key=key,
            is_llm=True,
            start=start + timedelta(minutes=i),
            requests=requests,
            running=running,
            waiting=waiting,
            gpu_utilisation=gpu,
            replicas=replicas,
            ttft=sketch_to_json(sketch_from_values([(ttft, requests)])) if ttft and requests else None,
        )
        for i in range(minutes)
    )
