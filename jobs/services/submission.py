"""Submitting a job: validate it, record it with its demand and price, and let a pass admit it at once."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core.exceptions import Conflict, ValidationError
from jobs.drivers import get_driver
from jobs.models import Cluster, Job
from jobs.scheduling import CENT, Capacity, Demand, hourly_rate
from jobs.services.passes import cluster_schedule_pass
from jobs.validation import normalise_resources, parse_priority, validate_duration, validate_labels, validate_spec
from tenancy.selectors import require_write


def collect_errors(errors: dict, func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except ValidationError as exc:
        errors.update(exc.errors)
        return None


def estimated_cost(job_type: str, rate: Decimal, duration: float | None) -> Decimal:
    # A SERVICE runs until cancelled: its estimate is one hour; BATCH/TRAINING cost their whole duration.
    if job_type == Job.JobType.SERVICE or duration is None:
        return rate.quantize(CENT, rounding=ROUND_HALF_UP)
    return (rate * Decimal(str(duration)) / Decimal(3600)).quantize(CENT, rounding=ROUND_HALF_UP)


def require_job_writer(user, tenant_id) -> None:
    """The acting user must write in the tenant; `user=None` is the system (the reconciler for a deployment whose
    change was checked when it was asked for, the beat), which may."""
    if user is not None:
        require_write(user, tenant_id)


def job_submit(
    *,
    user=None,
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
    require_job_writer(user, cluster.tenant_id)
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
    resources = collect_errors(errors, normalise_resources, resources, inventory=cluster.inventory)
    spec = collect_errors(errors, validate_spec, spec)
    priority = collect_errors(errors, parse_priority, priority)
    labels = collect_errors(errors, validate_labels, labels)
    if job_type in Job.JobType.values:
        duration_seconds = collect_errors(errors, validate_duration, job_type, duration_seconds)
    if not errors:
        collect_errors(errors, get_driver(cluster).validate, cluster=cluster, spec=spec, resources=resources)
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
        "estimated_cost": estimated_cost(job_type, rate, duration_seconds),
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
