"""Reads of the job layer: lists scoped to the caller's tenants, the schedule, costs, queue positions and
whether resources fit a cluster (the driver's forecast, for previews)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import QuerySet
from django.utils import timezone

from core.exceptions import ValidationError
from jobs.drivers import Forecast, get_driver
from jobs.models import Cluster, ClusterSet, Job
from jobs.placement import Candidate, Placement, choose
from jobs.pricing import hourly_rate
from jobs.scheduling import Capacity, Demand, PlanJob, order_key
from jobs.simulation import startup_seconds
from jobs.validation import normalise_resources, parse_priority
from tenancy.selectors import scope_to_user

CANDIDATE_SEQUENCE = 2**62
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


def cluster_set_list(*, user) -> QuerySet[ClusterSet]:
    return scope_to_user(ClusterSet.objects.select_related("tenant").prefetch_related("clusters"), user)


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


def estimate_hourly_cost(*, cluster: Cluster, resources: dict) -> Decimal:
    """What the resources cost per hour on this cluster (replicas multiply)."""
    return hourly_rate(cluster.prices or {}, normalise_resources(resources, inventory=cluster.inventory))


def job_queue_info(*, job: Job, now: datetime | None = None) -> dict:
    """Where a waiting job stands: {"queue_position", "predicted_start", "reason"} (None when not waiting)."""
    now = now or timezone.now()
    if job.is_terminal or job.status == Job.Status.RUNNING:
        return {"queue_position": None, "predicted_start": job.started_at, "reason": ""}
    forecast = get_driver(job.cluster).forecast(cluster=job.cluster, now=now, summarise_quiet=True)
    return forecast_item_info(forecast.jobs.get(job.pk))


def forecast_item_info(item) -> dict:
    if item is None:
        return {"queue_position": None, "predicted_start": None, "reason": ""}
    return {"queue_position": item.queue_position, "predicted_start": item.predicted_start, "reason": item.reason}


def _demand_on(cluster: Cluster, resources: dict) -> tuple[Demand | None, str | None]:
    """What the resources hold on this cluster, or why they could not run even on it empty (invalid, too big)."""
    try:
        normalised = normalise_resources(resources, inventory=cluster.inventory)
    except ValidationError as exc:
        return None, "; ".join(f"{path}: {' '.join(messages)}" for path, messages in exc.errors.items())
    demand = Demand.from_resources(normalised)
    reason = Capacity.from_inventory(cluster.inventory).never_fits_reason(demand)
    return (None, reason) if reason else (demand, None)


def cluster_never_fits_reason(*, cluster: Cluster, resources: dict) -> str | None:
    """Why these resources could not run even on the empty cluster (None when they could)."""
    return _demand_on(cluster, resources)[1]


def cluster_capacity_check(
    *,
    cluster: Cluster,
    resources_list: list[dict],
    now: datetime | None = None,
    priority: int | str = 50,
    job_type: str = Job.JobType.SERVICE,
) -> dict:
    """Would these jobs fit, and when would they all be running? (The schedule's computation, for previews.)

    Returns {"fits_now", "predicted_start", "never_fits": [{"index", "reason"}], "free": {...}}.
    """
    now = now or timezone.now()
    priority = parse_priority(priority)
    simulation = cluster.simulation or {}
    candidates: list[PlanJob] = []
    never_fits: list[dict] = []
    for index, resources in enumerate(resources_list):
        demand, reason = _demand_on(cluster, resources)
        if reason:
            never_fits.append({"index": index, "reason": reason})
            continue
        candidates.append(
            PlanJob(
                id=f"candidate-{index}",
                demand=demand,
                # After every job already submitted at the same priority.
                order=order_key(priority, CANDIDATE_SEQUENCE + index, f"candidate-{index}"),
                job_type=job_type,
                startup=startup_seconds(simulation, kind=None, job_type=job_type),
                duration=None,
                hypothetical=True,
            )
        )
    forecast = get_driver(cluster).forecast(cluster=cluster, now=now, extra=candidates, summarise_quiet=True)
    items = [forecast.jobs[c.id] for c in candidates]
    admitted_now = all(item.predicted_admission == now for item in items)
    starts = [item.predicted_start for item in items]
    predicted_start = None
    if not never_fits and all(starts):
        predicted_start = max(starts) if starts else now
    return {
        "fits_now": not never_fits and admitted_now,
        "predicted_start": predicted_start,
        "never_fits": never_fits,
        "free": forecast.free.as_dict(),
    }


def cluster_set_placement(
    *,
    cluster_set: ClusterSet,
    resources_list: list[dict],
    job_type: str = Job.JobType.SERVICE,
    duration_seconds: float | None = None,
    priority: int | str = 50,
    strategy: str | None = None,
    exclude: frozenset = frozenset(),
    now: datetime | None = None,
) -> Placement:
    """Where the set would send this work (one job's resources, or every component of a deployment): each ACTIVE
    member's forecast gives the start (`cluster_capacity_check`), its prices the cost; `jobs.placement` ranks them."""
    now = now or timezone.now()
    candidates = []
    for cluster in cluster_set.clusters.all():
        if cluster.pk in exclude:
            candidates.append(placement_excluded(cluster=cluster, reason="The cluster went away."))
            continue
        candidates.append(
            placement_candidate(
                cluster=cluster,
                resources_list=resources_list,
                job_type=job_type,
                duration_seconds=duration_seconds,
                priority=priority,
                now=now,
            )
        )
    return choose(candidates, strategy or cluster_set.strategy)


def placement_excluded(*, cluster: Cluster, reason: str) -> Candidate:
    """A member of a set that cannot take the work, and why."""
    zero = Decimal("0")
    return Candidate(
        cluster_id=str(cluster.pk),
        name=cluster.name,
        status=cluster.status,
        predicted_start=None,
        hourly_cost=zero,
        cost=zero,
        excluded=reason,
    )


def placement_candidate(
    *,
    cluster: Cluster,
    resources_list: list[dict],
    job_type: str = Job.JobType.SERVICE,
    duration_seconds: float | None = None,
    priority: int | str = 50,
    now: datetime,
) -> Candidate:
    """One member as a home for the work: its predicted start (its forecast) and cost (its prices), or why not."""
    base = {"cluster_id": str(cluster.pk), "name": cluster.name, "status": cluster.status}
    zero = Decimal("0")
    if cluster.status != Cluster.Status.ACTIVE:
        return placement_excluded(cluster=cluster, reason=f"The cluster is {cluster.status}.")
    try:
        hourly = sum((estimate_hourly_cost(cluster=cluster, resources=r) for r in resources_list), zero)
    except ValidationError as exc:
        reason = "; ".join(f"{path}: {' '.join(messages)}" for path, messages in exc.errors.items())
        return Candidate(**base, predicted_start=None, hourly_cost=zero, cost=zero, excluded=reason)
    capacity = cluster_capacity_check(
        cluster=cluster, resources_list=resources_list, now=now, priority=priority, job_type=job_type
    )
    if capacity["never_fits"]:
        reason = "; ".join(item["reason"] for item in capacity["never_fits"])
        return Candidate(**base, predicted_start=None, hourly_cost=hourly, cost=zero, excluded=reason)
    hours = Decimal(str(duration_seconds)) / 3600 if duration_seconds and job_type != Job.JobType.SERVICE else 1
    return Candidate(
        **base,
        predicted_start=capacity["predicted_start"],
        hourly_cost=hourly,
        cost=(hourly * hours).quantize(Decimal("0.000001")),
        fits_now=capacity["fits_now"],
    )
