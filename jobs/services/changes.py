"""Changes to a recorded job: cancel it, resize or merge a running service, change its priority or labels."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils import timezone

from core.exceptions import Conflict, ValidationError
from jobs.drivers import get_driver
from jobs.models import Job, check_transition
from jobs.scheduling import Demand, per_replica
from jobs.services.passes import cluster_schedule_pass, lock_cluster
from jobs.services.submission import collect_errors, estimated_cost, require_job_writer
from jobs.validation import MAX_REPLICAS, parse_priority, validate_labels


def job_cancel(*, job: Job, user=None, reason: str = "", now: datetime | None = None) -> Job:
    """Cancel an unfinished job: it keeps its record (CANCELLED), frees its capacity, and waiting jobs move up."""
    require_job_writer(user, job.tenant_id)
    now = now or timezone.now()
    # Bring the cluster up to date first (committed on its own), so a job that already finished is not
    # recorded as cancelled and the refusal below does not undo the pass.
    cluster_schedule_pass(cluster=job.cluster, now=now)
    with transaction.atomic():
        cluster = lock_cluster(job.cluster_id)
        driver = get_driver(cluster)
        current = Job.objects.get(pk=job.pk)
        if current.is_terminal:
            raise Conflict(f"The job is already {current.status}; there is nothing to cancel.")
        check_transition(current, Job.Status.CANCELLED)
        message = f"Cancelled: {reason}" if reason else "Cancelled."
        updated = Job.objects.filter(pk=current.pk, status=current.status).update(
            status=Job.Status.CANCELLED,
            completed_at=now,
            actual_cost=current.cost_until(now),
            status_message=message,
        )
        if not updated:
            raise Conflict("The job changed while it was being cancelled; try again.")
        driver.cancel(job=current, now=now)
        driver.poll(cluster=cluster, now=now)
    job.refresh_from_db()
    return job


def _resize(job: Job, replicas: int, now: datetime) -> list[str]:
    """Set a job's replicas: demand, rate (scaled from the rate it was priced at) and estimate follow."""
    old = int(job.resources.get("replicas", 1) or 1)
    resources = {**job.resources, "replicas": replicas}
    demand = Demand.from_resources(resources)
    if job.started_at is not None:
        job.cost_before_rate = job.cost_until(now)
        job.rate_since = now
    job.resources = resources
    job.demand_gpus, job.demand_millicores, job.demand_memory_mib = demand.gpus, demand.millicores, demand.memory_mib
    job.hourly_rate = (job.hourly_rate * replicas / old).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
    job.estimated_cost = estimated_cost(job.job_type, job.hourly_rate, job.duration_seconds)
    return [
        "resources",
        "demand_gpus",
        "demand_millicores",
        "demand_memory_mib",
        "hourly_rate",
        "estimated_cost",
        "cost_before_rate",
        "rate_since",
        "updated_at",
    ]


def _check_replicas(replicas) -> None:
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas <= MAX_REPLICAS:
        raise ValidationError({"replicas": [f"A whole number from 1 to {MAX_REPLICAS}."]})


def job_resize(*, job: Job, replicas: int, user=None, now: datetime | None = None) -> Job:
    """Change the replicas of an unfinished SERVICE job in place, as scaling a Kubernetes Deployment does.

    Fewer replicas free their capacity at once and waiting jobs move up. A job not yet admitted can also grow;
    an admitted one grows by absorbing an extra part that waited for capacity on its own (`job_absorb`).
    """
    require_job_writer(user, job.tenant_id)
    _check_replicas(replicas)
    now = now or timezone.now()
    cluster_schedule_pass(cluster=job.cluster, now=now, bill_running=False)
    with transaction.atomic():
        cluster = lock_cluster(job.cluster_id)
        current = Job.objects.get(pk=job.pk)
        if current.is_terminal:
            raise Conflict(f"The job is already {current.status}; it cannot be resized.")
        if current.job_type != Job.JobType.SERVICE:
            raise Conflict("Only SERVICE jobs are resized in place.")
        if replicas > int(current.resources.get("replicas", 1)) and current.admitted_at is not None:
            raise Conflict("An admitted job cannot grow in place: submit the extra replicas as a part and absorb it.")
        fields = _resize(current, replicas, now)
        current.save(update_fields=fields)
        driver = get_driver(cluster)
        driver.resize(job=current)
        driver.poll(cluster=cluster, now=now, bill_running=False)
    job.refresh_from_db()
    return job


def job_absorb(*, job: Job, part: Job, user=None, now: datetime | None = None) -> Job:
    """Fold a running extra part into a running SERVICE job: the job gains the part's replicas, the part ends.

    Both hold their capacity up to this moment and the sum does not change, so no other job can take any of it
    in between: scaling up never gives up what it already runs.
    """
    require_job_writer(user, job.tenant_id)
    now = now or timezone.now()
    with transaction.atomic():
        cluster = lock_cluster(job.cluster_id)
        target = Job.objects.get(pk=job.pk)
        extra = Job.objects.get(pk=part.pk)
        if target.cluster_id != extra.cluster_id or target.pk == extra.pk:
            raise Conflict("A part can only be absorbed by another job on the same cluster.")
        both = (target, extra)
        if any(j.status != Job.Status.RUNNING or j.job_type != Job.JobType.SERVICE for j in both):
            raise Conflict("Both jobs must be RUNNING services.")
        if per_replica(target.resources) != per_replica(extra.resources):
            raise Conflict("The part asks for other resources per replica than the job.")
        check_transition(extra, Job.Status.CANCELLED)
        total = int(target.resources.get("replicas", 1)) + int(extra.resources.get("replicas", 1))
        fields = _resize(target, total, now)
        target.save(update_fields=fields)
        merged = Job.objects.filter(pk=extra.pk, status=Job.Status.RUNNING).update(
            status=Job.Status.CANCELLED,
            completed_at=now,
            actual_cost=extra.cost_until(now),
            status_message=f"Merged into job {target.pk} ({total} replicas).",
            updated_at=now,
        )
        if not merged:
            raise Conflict("The part changed while it was being absorbed; try again.")
        # On a real cluster the job's workload grows to the total first, then the part's objects go.
        driver = get_driver(cluster)
        driver.resize(job=target)
        driver.cancel(job=extra, now=now)
    job.refresh_from_db()
    return job


def job_update(*, job: Job, user=None, priority: int | str | None = None, labels: dict | None = None) -> Job:
    """Change a job's priority (unfinished jobs only) or replace its labels."""
    require_job_writer(user, job.tenant_id)
    fields: dict = {}
    errors: dict = {}
    if priority is not None:
        fields["priority"] = collect_errors(errors, parse_priority, priority)
    if labels is not None:
        fields["labels"] = collect_errors(errors, validate_labels, labels)
    if errors:
        raise ValidationError(errors)
    if "priority" in fields and job.is_terminal:
        raise Conflict(f"The job is already {job.status}; its priority cannot change.")
    if fields:
        Job.objects.filter(pk=job.pk).update(**fields, updated_at=timezone.now())
        if "priority" in fields and not job.is_terminal:
            # A job that moved up may now fit ahead of a blocked head.
            cluster_schedule_pass(cluster=job.cluster)
        job.refresh_from_db()
    return job
