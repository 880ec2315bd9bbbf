"""Reads of the job layer, scoped to the caller's tenants."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from jobs.drivers import Forecast, get_driver
from jobs.models import Cluster, Job
from tenancy.selectors import scope_to_user

# What the schedule shows of a job: a timeline of thousands of jobs reads no spec, outputs or labels.
SCHEDULE_FIELDS = (
    "id",
    "name",
    "status",
    "job_type",
    "source_type",
    "priority",
    "resources",
    "queue_key",
    "duration_seconds",
    "created_at",
    "queued_at",
    "admitted_at",
    "started_at",
    "completed_at",
    "estimated_cost",
    "actual_cost",
)


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
    """The timeline of a window: jobs that run (or, unfinished, are expected to run) within [start, end), predicted
    starts for waiting jobs, and current utilisation per resource."""
    now = now or timezone.now()
    forecast = cluster_forecast(cluster=cluster, now=now)
    jobs = Job.objects.filter(cluster=cluster, created_at__lt=end).only(*SCHEDULE_FIELDS).order_by("created_at", "id")
    finished = list(jobs.filter(completed_at__gte=start)[: limit + 1])
    # Where an unfinished job sits on the timeline depends on the forecast, so the window is applied here.
    unfinished = [
        job
        for job in jobs.filter(status__in=Job.Status.ACTIVE)
        if _overlaps(_interval(job, forecast.jobs.get(job.pk), now), start, end)
    ]
    rows = sorted([*finished, *unfinished], key=lambda job: (job.created_at, job.pk))[: limit + 1]
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


def _interval(job: Job, item, now: datetime) -> tuple[datetime, datetime | None]:
    """When an unfinished job holds (or should hold) capacity: from its admission, or the forecast's, or now when
    the forecast cannot tell; until a BATCH/TRAINING job's expected end, open for a SERVICE."""
    predicted_admission = item.predicted_admission if item else None
    predicted_start = item.predicted_start if item else None
    begin = job.admitted_at or predicted_admission or now
    started = job.started_at or predicted_start
    if job.job_type == Job.JobType.SERVICE or job.duration_seconds is None or started is None:
        return begin, None
    return begin, started + timedelta(seconds=job.duration_seconds)


def _overlaps(interval: tuple[datetime, datetime | None], start: datetime, end: datetime) -> bool:
    begin, finish = interval
    return begin < end and (finish is None or finish >= start)


def _usage(total: float, used: float) -> dict:
    return {"total": total, "used": used, "free": total - used, "utilisation": round(used / total, 4) if total else 0.0}
