"""Every write of the job layer: clusters, job submission, cancellation, updates and scheduling passes.

Other apps (deployments) call these functions; nothing outside `jobs/` talks to a driver.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Sum
from django.utils import timezone

from core.exceptions import Conflict, NotFound, PermissionDenied, ValidationError
from jobs.drivers import SchedulePassResult, get_driver
from jobs.models import Cluster, Job, check_transition
from jobs.scheduling import CENT, Capacity, Demand, PlanJob, hourly_rate, order_key, per_replica, startup_seconds
from jobs.validation import (
    MAX_REPLICAS,
    normalise_resources,
    parse_priority,
    validate_cluster_settings,
    validate_duration,
    validate_labels,
    validate_spec,
)
from tenancy.selectors import user_is_tenant_admin

logger = logging.getLogger(__name__)

CANDIDATE_SEQUENCE = 2**62
DEFAULT_SIMULATION = {"startup_seconds": {"default": 5}, "failure_rate": 0.0, "seed": 0}
AVAILABLE_DRIVERS = {Cluster.Driver.SIMULATED}

__all__ = [
    "SchedulePassResult",
    "cluster_capacity_check",
    "cluster_create",
    "cluster_delete",
    "cluster_never_fits_reason",
    "cluster_schedule_pass",
    "cluster_update",
    "cluster_validate",
    "estimate_hourly_cost",
    "job_absorb",
    "job_cancel",
    "job_queue_info",
    "job_resize",
    "job_submit",
    "job_update",
    "jobs_advance_all",
    "submit_job",
]


# --- clusters --------------------------------------------------------------------------------------------------


def _require_cluster_admin(user, tenant_id) -> None:
    if user is not None and not user_is_tenant_admin(user, tenant_id):
        raise PermissionDenied("Only the tenant's admins manage clusters.")


def _check_cluster_fields(*, driver: str, inventory, prices, simulation) -> None:
    if driver not in AVAILABLE_DRIVERS:
        raise ValidationError({"driver": f"The {driver!r} driver is not available yet; use 'simulated'."})
    validate_cluster_settings(inventory=inventory, prices=prices, simulation=simulation)


def _check_inventory_holds(*, cluster: Cluster, inventory: dict) -> None:
    # Admitted jobs keep what they hold whatever the inventory says: a smaller one would show negative free capacity.
    held = (
        Job.objects.filter(cluster=cluster, admitted_at__isnull=False, status__in=Job.Status.ACTIVE)
        .values("queue_key")
        .annotate(gpus=Sum("demand_gpus"), millicores=Sum("demand_millicores"), memory_mib=Sum("demand_memory_mib"))
        .order_by("queue_key")
    )
    total = Capacity.from_inventory(inventory)
    short: list[str] = []
    millicores = memory_mib = 0
    for row in held:
        millicores += row["millicores"]
        memory_mib += row["memory_mib"]
        have = total.gpus.get(row["queue_key"], 0)
        if row["gpus"] and row["gpus"] > have:
            short.append(f"{row['gpus']} x {row['queue_key']} (the new inventory has {have})")
    if millicores > total.millicores:
        short.append(f"{millicores / 1000:g} CPU cores (the new inventory has {total.millicores / 1000:g})")
    if memory_mib > total.memory_mib:
        short.append(f"{memory_mib / 1024:g} GiB of memory (the new inventory has {total.memory_mib / 1024:g})")
    if short:
        message = (
            f"Running and admitted jobs hold {'; '.join(short)}: cancel them or let them finish before shrinking "
            "the inventory below that."
        )
        raise Conflict(message, errors={"inventory": [message]})


def cluster_validate(*, cluster: Cluster | None, driver: str, inventory, prices, simulation) -> None:
    """The checks a cluster's settings pass in the API and the admin alike: an available driver, well-formed
    inventory, prices and simulation, and (for an existing cluster) no less inventory than its jobs hold."""
    _check_cluster_fields(driver=driver, inventory=inventory, prices=prices, simulation=simulation)
    if cluster is not None and cluster.pk is not None:
        _check_inventory_holds(cluster=cluster, inventory=inventory)


def cluster_create(
    *,
    tenant,
    name: str,
    inventory: dict,
    prices: dict | None = None,
    simulation: dict | None = None,
    driver: str = Cluster.Driver.SIMULATED,
    status: str = Cluster.Status.ACTIVE,
    user=None,
) -> Cluster:
    """Register a cluster in a tenant (its admins; `user=None` for start-up code)."""
    _require_cluster_admin(user, tenant.pk)
    prices = prices if prices is not None else {}
    simulation = simulation if simulation is not None else dict(DEFAULT_SIMULATION)
    _check_cluster_fields(driver=driver, inventory=inventory, prices=prices, simulation=simulation)
    try:
        with transaction.atomic():
            return Cluster.objects.create(
                tenant=tenant,
                name=name,
                driver=driver,
                status=status,
                inventory=inventory,
                prices=prices,
                simulation=simulation,
            )
    except IntegrityError:
        raise ValidationError({"name": "A cluster with this name already exists in the tenant."}) from None


def cluster_update(*, cluster: Cluster, user=None, **fields: Any) -> Cluster:
    """Change a cluster's name, status, inventory, prices or simulation settings, then run a pass."""
    _require_cluster_admin(user, cluster.tenant_id)
    allowed = {"name", "status", "inventory", "prices", "simulation", "driver"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({key: "This field cannot be changed." for key in sorted(unknown)})
    merged = {key: fields.get(key, getattr(cluster, key)) for key in ("driver", "inventory", "prices", "simulation")}
    _check_cluster_fields(**merged)
    try:
        with transaction.atomic():
            # Under the cluster's lock no pass admits a job between the check of what jobs hold and the save.
            _lock_cluster(cluster.pk)
            if "inventory" in fields:
                _check_inventory_holds(cluster=cluster, inventory=fields["inventory"])
            for key, value in fields.items():
                setattr(cluster, key, value)
            cluster.save()
    except IntegrityError:
        raise ValidationError({"name": "A cluster with this name already exists in the tenant."}) from None
    # More capacity or a re-activated cluster admits waiting jobs; less capacity fails jobs that can never fit.
    cluster_schedule_pass(cluster=cluster)
    return cluster


def cluster_delete(*, cluster: Cluster, user=None) -> None:
    """Delete a cluster that never ran a job (jobs keep their history, so a cluster with jobs stays)."""
    _require_cluster_admin(user, cluster.tenant_id)
    if cluster.jobs.exists():
        raise Conflict("The cluster has jobs; set its status to OFFLINE instead of deleting it.")
    cluster.delete()


# --- jobs ------------------------------------------------------------------------------------------------------


def _collect(errors: dict, func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except ValidationError as exc:
        errors.update(exc.errors)
        return None


def estimate_hourly_cost(*, cluster: Cluster, resources: dict) -> Decimal:
    """What the resources cost per hour on this cluster (replicas multiply)."""
    return hourly_rate(cluster.prices or {}, normalise_resources(resources, inventory=cluster.inventory))


def _estimated_cost(job_type: str, rate: Decimal, duration: float | None) -> Decimal:
    # A SERVICE runs until cancelled: its estimate is one hour; BATCH/TRAINING cost their whole duration.
    if job_type == Job.JobType.SERVICE or duration is None:
        return rate.quantize(CENT, rounding=ROUND_HALF_UP)
    return (rate * Decimal(str(duration)) / Decimal(3600)).quantize(CENT, rounding=ROUND_HALF_UP)


def job_submit(
    *,
    cluster: Cluster,
    name: str,
    job_type: str,
    tenant,
    project,
    resources: dict,
    spec: dict,
    source_type: str = Job.SourceType.DIRECT,
    priority: int | str = 50,
    labels: dict | None = None,
    usecase_deployment_id=None,
    component_deployment_id=None,
    attempt: int = 1,
    duration_seconds: float | None = None,
    now: datetime | None = None,
) -> Job:
    """Validate and record a job, then run a scheduling pass so a job that fits is admitted at once.

    Idempotent on (component_deployment_id, attempt): a repeated call returns the job already recorded.
    """
    if component_deployment_id is not None:
        existing = Job.objects.filter(component_deployment_id=component_deployment_id, attempt=attempt).first()
        if existing is not None:
            return existing

    errors: dict = {}
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        errors["name"] = ["A name of 1 to 255 characters is required."]
    if job_type not in Job.JobType.values:
        errors["job_type"] = [f"Must be one of {', '.join(Job.JobType.values)}."]
    if source_type not in Job.SourceType.values:
        errors["source_type"] = [f"Must be one of {', '.join(Job.SourceType.values)}."]
    if tenant.pk != cluster.tenant_id:
        errors["tenant_id"] = ["The cluster belongs to another tenant."]
    if project.tenant_id != cluster.tenant_id:
        errors["project_id"] = ["The project belongs to another tenant than the cluster."]
    if not isinstance(attempt, int) or attempt < 1:
        errors["attempt"] = ["Must be a positive integer."]
    resources = _collect(errors, normalise_resources, resources, inventory=cluster.inventory)
    spec = _collect(errors, validate_spec, spec)
    priority = _collect(errors, parse_priority, priority)
    labels = _collect(errors, validate_labels, labels)
    if job_type in Job.JobType.values:
        duration_seconds = _collect(errors, validate_duration, job_type, duration_seconds)
    if errors:
        raise ValidationError(errors)
    if cluster.status != Cluster.Status.ACTIVE:
        raise Conflict(f"The cluster is {cluster.status} and accepts no new jobs.")

    now = now or timezone.now()
    demand = Demand.from_resources(resources)
    rate = hourly_rate(cluster.prices or {}, resources)
    never_fits = Capacity.from_inventory(cluster.inventory).never_fits_reason(demand)
    fields = {
        "name": name.strip(),
        "job_type": job_type,
        "source_type": source_type,
        "cluster": cluster,
        "tenant_id": cluster.tenant_id,
        "project": project,
        "usecase_deployment_id": usecase_deployment_id,
        "component_deployment_id": component_deployment_id,
        "attempt": attempt,
        "resources": resources,
        "queue_key": demand.queue,
        "demand_gpus": demand.gpus,
        "demand_millicores": demand.millicores,
        "demand_memory_mib": demand.memory_mib,
        "spec": spec,
        "labels": labels,
        "priority": priority,
        "duration_seconds": duration_seconds,
        "created_at": now,
        "queued_at": now,
        "hourly_rate": rate,
        "estimated_cost": _estimated_cost(job_type, rate, duration_seconds),
        "status": Job.Status.PENDING,
        "status_message": "Submitted.",
    }
    if never_fits:
        fields.update(
            status=Job.Status.FAILED, completed_at=now, status_message=f"Can never fit on this cluster: {never_fits}"
        )
    fields["id"] = uuid.uuid4()
    fields.update(get_driver(cluster).submission_fields(cluster=cluster, job_id=fields["id"], labels=labels))
    try:
        with transaction.atomic():
            Cluster.objects.filter(pk=cluster.pk).update(jobs_submitted=F("jobs_submitted") + 1)
            fields["sequence"] = Cluster.objects.filter(pk=cluster.pk).values_list("jobs_submitted", flat=True).get()
            job = Job.objects.create(**fields)
    except IntegrityError:
        if component_deployment_id is None:
            raise
        # Another caller recorded this attempt first: theirs is the job.
        return Job.objects.get(component_deployment_id=component_deployment_id, attempt=attempt)
    if not never_fits:
        get_driver(cluster).submit(job=job)
        cluster_schedule_pass(cluster=cluster, now=now, bill_running=False)
        job.refresh_from_db()
    return job


submit_job = job_submit


def _lock_cluster(cluster_id, *, skip_locked: bool = False) -> Cluster | None:
    return Cluster.objects.select_for_update(skip_locked=skip_locked).filter(pk=cluster_id).order_by().first()


def cluster_schedule_pass(
    *, cluster: Cluster, now: datetime | None = None, skip_locked: bool = False, bill_running: bool = True
):
    """One pass over one cluster under a row lock on it: admit, start, finish, fail and bill its jobs.

    With `skip_locked`, a pass that finds another pass holding the cluster returns at once (`skipped=True`).
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock_cluster(cluster.pk, skip_locked=skip_locked)
        if locked is None:
            if skip_locked and Cluster.objects.filter(pk=cluster.pk).exists():
                return SchedulePassResult(cluster_id=cluster.pk, now=now, skipped=True)
            raise NotFound("No such cluster.")
        return get_driver(locked).poll(cluster=locked, now=now, bill_running=bill_running)


def jobs_advance_all(*, now: datetime | None = None) -> dict:
    """A pass over every cluster that has unfinished jobs (the beat task's body)."""
    now = now or timezone.now()
    # One index probe per cluster (EXISTS), not a scan of every unfinished job.
    busy = Exists(Job.objects.filter(cluster=OuterRef("pk"), status__in=Job.Status.ACTIVE))
    summary = {"clusters": 0, "skipped": 0, "admitted": 0, "changed": 0, "failed": [], "next_change_at": None}
    next_change: datetime | None = None
    for cluster in Cluster.objects.filter(busy).order_by("pk"):
        try:
            result = cluster_schedule_pass(cluster=cluster, now=now, skip_locked=True)
        except Exception:
            # One broken cluster (a driver not available, a bug on odd data) must not stop the sweep of the others.
            logger.exception("Scheduling pass failed on cluster %s", cluster.pk)
            summary["failed"].append(str(cluster.pk))
            continue
        summary["clusters"] += 1
        summary["skipped"] += int(result.skipped)
        summary["admitted"] += result.admitted
        summary["changed"] += len(result.changed_job_ids)
        if result.next_change_at and (next_change is None or result.next_change_at < next_change):
            next_change = result.next_change_at
    summary["next_change_at"] = next_change.isoformat() if next_change else None
    return summary


def job_cancel(*, job: Job, reason: str = "", now: datetime | None = None) -> Job:
    """Cancel an unfinished job: it keeps its record (CANCELLED), frees its capacity, and waiting jobs move up."""
    now = now or timezone.now()
    # Bring the cluster up to date first (committed on its own), so a job that already finished is not
    # recorded as cancelled and the refusal below does not undo the pass.
    cluster_schedule_pass(cluster=job.cluster, now=now)
    with transaction.atomic():
        cluster = _lock_cluster(job.cluster_id)
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
    job.estimated_cost = _estimated_cost(job.job_type, job.hourly_rate, job.duration_seconds)
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


def job_resize(*, job: Job, replicas: int, now: datetime | None = None) -> Job:
    """Change the replicas of an unfinished SERVICE job in place, as scaling a Kubernetes Deployment does.

    Fewer replicas free their capacity at once and waiting jobs move up. A job not yet admitted can also grow;
    an admitted one grows by absorbing an extra part that waited for capacity on its own (`job_absorb`).
    """
    _check_replicas(replicas)
    now = now or timezone.now()
    cluster_schedule_pass(cluster=job.cluster, now=now, bill_running=False)
    with transaction.atomic():
        cluster = _lock_cluster(job.cluster_id)
        current = Job.objects.get(pk=job.pk)
        if current.is_terminal:
            raise Conflict(f"The job is already {current.status}; it cannot be resized.")
        if current.job_type != Job.JobType.SERVICE:
            raise Conflict("Only SERVICE jobs are resized in place.")
        if replicas > int(current.resources.get("replicas", 1)) and current.admitted_at is not None:
            raise Conflict("An admitted job cannot grow in place: submit the extra replicas as a part and absorb it.")
        fields = _resize(current, replicas, now)
        current.save(update_fields=fields)
        get_driver(cluster).poll(cluster=cluster, now=now, bill_running=False)
    job.refresh_from_db()
    return job


def job_absorb(*, job: Job, part: Job, now: datetime | None = None) -> Job:
    """Fold a running extra part into a running SERVICE job: the job gains the part's replicas, the part ends.

    Both hold their capacity up to this moment and the sum does not change, so no other job can take any of it
    in between: scaling up never gives up what it already runs.
    """
    now = now or timezone.now()
    with transaction.atomic():
        _lock_cluster(job.cluster_id)
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
    job.refresh_from_db()
    return job


def job_update(*, job: Job, priority: int | str | None = None, labels: dict | None = None) -> Job:
    """Change a job's priority (unfinished jobs only) or replace its labels."""
    fields: dict = {}
    errors: dict = {}
    if priority is not None:
        fields["priority"] = _collect(errors, parse_priority, priority)
    if labels is not None:
        fields["labels"] = _collect(errors, validate_labels, labels)
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


# --- reads that need the driver's forecast ---------------------------------------------------------------------


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
