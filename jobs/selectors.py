"""Reads of the job layer, scoped to the caller's tenants."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from jobs.drivers import Forecast, get_driver
from jobs.models import Cluster, Job
from tenancy.selectors import scope_to_user


def cluster_list(*, user) -> QuerySet[Cluster]:
    return scope_to_user(Cluster.objects.select_related("tenant"), user)


def job_list(*, user, cluster: Cluster | None = None) -> QuerySet[Job]:
    queryset = Job.objects.select_related("cluster", "tenant", "project")
    if cluster is not None:
        queryset = queryset.filter(cluster=cluster)
    return scope_to_user(queryset, user)


def cluster_forecast(*, cluster: Cluster, now: datetime | None = None) -> Forecast:
    """Predicted admissions and starts of the cluster's waiting jobs (the schedule's computation)."""
    return get_driver(cluster).forecast(cluster=cluster, now=now or timezone.now())


def cluster_schedule(
    *, cluster: Cluster, start: datetime, end: datetime, now: datetime | None = None, limit: int = 1000
) -> dict:
    """The timeline of a window: jobs that overlap [start, end) (plus every unfinished job), predicted starts
    for waiting jobs, and current utilisation per resource."""
    now = now or timezone.now()
    forecast = cluster_forecast(cluster=cluster, now=now)
    window = (
        Job.objects.filter(cluster=cluster)
        .filter(Q(status__in=Job.Status.ACTIVE) | Q(created_at__lt=end, completed_at__gte=start))
        .order_by("created_at", "id")
    )
    rows = list(window[: limit + 1])
    truncated = len(rows) > limit
    rows = rows[:limit]
    utilisation = {"gpus": {}}
    for gpu_type, total in sorted(forecast.total.gpus.items()):
        free = forecast.free.gpus.get(gpu_type, 0)
        utilisation["gpus"][gpu_type] = _usage(total, total - free)
    utilisation["cpu_cores"] = _usage(
        forecast.total.millicores / 1000, (forecast.total.millicores - forecast.free.millicores) / 1000
    )
    utilisation["memory_gib"] = _usage(
        forecast.total.memory_mib / 1024, (forecast.total.memory_mib - forecast.free.memory_mib) / 1024
    )
    return {
        "now": now,
        "start": start,
        "end": end,
        "forecast": forecast,
        "jobs": rows,
        "truncated": truncated,
        "utilisation": utilisation,
    }


def _usage(total: float, used: float) -> dict:
    return {"total": total, "used": used, "free": total - used, "utilisation": round(used / total, 4) if total else 0.0}
