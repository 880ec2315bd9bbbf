"""Writes of quotas: ClusterQueues (nominal quota, cohort, limits, weight, preemption policy) and the LocalQueues
that send a tenant's (or a project's) jobs to one; the tenant's admins only. A change takes effect at the next
scheduling pass, which runs at once so jobs that now fit are admitted."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction

from audit.services import audit_record, snapshot
from core.exceptions import Conflict, ValidationError
from jobs.models import Cluster, ClusterQueue, Job, LocalQueue
from jobs.services.passes import cluster_schedule_pass
from tenancy.models import Project
from tenancy.selectors import require_admin

NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
QUEUE_FIELDS = (
    "name",
    "cohort",
    "nominal_quota",
    "borrowing_limit",
    "lending_limit",
    "weight",
    "reclaim_within_cohort",
    "within_cluster_queue",
    "fair_sharing_preemption",
)


def _check_name(errors: dict, field: str, value, *, blank: bool = False) -> None:
    if blank and value == "":
        return
    if not isinstance(value, str) or not NAME.match(value):
        errors[field] = ["1 to 63 lower-case letters, digits and '-', starting and ending with a letter or digit."]


def validate_quota(value, *, field: str, cluster: Cluster, errors: dict) -> dict:
    """A quota or limit in a cluster inventory's shape: {"gpus": {type: n}, "cpu_cores": x, "memory_gib": y},
    every number >= 0 and every GPU type one the cluster has."""
    if value is None:
        return {}
    if not isinstance(value, dict) or set(value) - {"gpus", "cpu_cores", "memory_gib"}:
        errors[field] = ['An object with "gpus" ({type: count}), "cpu_cores" and "memory_gib".']
        return {}
    out: dict[str, Any] = {}
    gpus = value.get("gpus") or {}
    if not isinstance(gpus, dict):
        errors[f"{field}.gpus"] = ["An object of GPU type to count."]
    else:
        known = (cluster.inventory or {}).get("gpus") or {}
        out["gpus"] = {}
        for gpu_type, count in gpus.items():
            if gpu_type not in known:
                errors[f"{field}.gpus.{gpu_type}"] = [f"The cluster has no {gpu_type} GPUs."]
            elif not isinstance(count, int) or isinstance(count, bool) or count < 0:
                errors[f"{field}.gpus.{gpu_type}"] = ["A whole number of GPUs, 0 or more."]
            else:
                out["gpus"][gpu_type] = count
    for key in ("cpu_cores", "memory_gib"):
        if value.get(key) is None:
            continue
        number = value[key]
        if not isinstance(number, int | float) or isinstance(number, bool) or number < 0:
            errors[f"{field}.{key}"] = ["A number, 0 or more."]
        else:
            out[key] = number
    return out


def _clean(cluster: Cluster, data: dict, *, partial: bool, instance: ClusterQueue | None = None) -> dict:
    errors: dict = {}
    unknown = set(data) - set(QUEUE_FIELDS)
    for key in unknown:
        errors[key] = ["Unknown field."]
    cleaned: dict[str, Any] = {}
    if "name" in data or not partial:
        _check_name(errors, "name", data.get("name"))
        cleaned["name"] = data.get("name")
    if "cohort" in data:
        _check_name(errors, "cohort", data["cohort"] if data["cohort"] is not None else "", blank=True)
        cleaned["cohort"] = data["cohort"] or ""
    for key in ("nominal_quota", "borrowing_limit", "lending_limit"):
        if key in data or (key == "nominal_quota" and not partial):
            cleaned[key] = validate_quota(data.get(key), field=key, cluster=cluster, errors=errors)
    if "weight" in data:
        try:
            weight = Decimal(str(data["weight"]))
            if not weight.is_finite() or weight <= 0 or weight > Decimal("99999"):
                raise InvalidOperation
            cleaned["weight"] = weight.quantize(Decimal("0.001"))
        except (InvalidOperation, ValueError):
            errors["weight"] = ["A number above 0 (up to 99999)."]
    for key, choices in (
        ("reclaim_within_cohort", ClusterQueue.ReclaimPolicy.values),
        ("within_cluster_queue", ClusterQueue.WithinQueuePolicy.values),
        ("fair_sharing_preemption", ClusterQueue.FairSharingPreemption.values),
    ):
        if key in data:
            if data[key] not in choices:
                errors[key] = [f"Must be one of {', '.join(choices)}."]
            else:
                cleaned[key] = data[key]
    lending = cleaned.get("lending_limit", instance.lending_limit if instance else {})
    nominal = cleaned.get("nominal_quota", instance.nominal_quota if instance else {})
    for gpu_type, count in (lending.get("gpus") or {}).items():
        if count > (nominal.get("gpus") or {}).get(gpu_type, 0):
            errors[f"lending_limit.gpus.{gpu_type}"] = ["Cannot lend more than the nominal quota."]
    if errors:
        raise ValidationError(errors)
    return cleaned


def _after_change(cluster: Cluster) -> None:
    # Jobs that now fit (a bigger quota, a new lender) are admitted at once, not at the next beat.
    if cluster.status == Cluster.Status.ACTIVE:
        transaction.on_commit(lambda: cluster_schedule_pass(cluster=cluster, bill_running=False))


def cluster_queue_create(*, user, cluster: Cluster, data: dict) -> ClusterQueue:
    """Record a ClusterQueue on a cluster (its tenant's admins only)."""
    require_admin(user, cluster.tenant_id, manages="manage queues")
    cleaned = _clean(cluster, data, partial=False)
    try:
        with transaction.atomic():
            queue = ClusterQueue.objects.create(cluster=cluster, tenant_id=cluster.tenant_id, **cleaned)
            audit_record(action="cluster_queue.create", obj=queue, after=snapshot(queue, QUEUE_FIELDS))
    except IntegrityError as exc:
        raise Conflict(
            f"The cluster already has a queue named {cleaned['name']}.", errors={"name": ["Already taken."]}
        ) from exc
    _after_change(cluster)
    return queue


def cluster_queue_update(*, user, queue: ClusterQueue, data: dict) -> ClusterQueue:
    """Change a ClusterQueue's quota, cohort, limits, weight or policies; admitted jobs keep running."""
    require_admin(user, queue.tenant_id, manages="manage queues")
    cleaned = _clean(queue.cluster, data, partial=True, instance=queue)
    before = snapshot(queue, QUEUE_FIELDS)
    try:
        with transaction.atomic():
            for key, value in cleaned.items():
                setattr(queue, key, value)
            queue.save()
            audit_record(action="cluster_queue.update", obj=queue, before=before, after=snapshot(queue, QUEUE_FIELDS))
    except IntegrityError as exc:
        raise Conflict("The cluster already has a queue of that name.", errors={"name": ["Already taken."]}) from exc
    _after_change(queue.cluster)
    return queue


def cluster_queue_delete(*, user, queue: ClusterQueue) -> None:
    """Delete a ClusterQueue that no unfinished job counts against (Conflict otherwise)."""
    require_admin(user, queue.tenant_id, manages="manage queues")
    with transaction.atomic():
        if Job.objects.filter(cluster_queue=queue, status__in=Job.Status.ACTIVE).exists():
            raise Conflict("Unfinished jobs count against this queue: cancel them or let them finish first.")
        audit_record(action="cluster_queue.delete", obj=queue, before=snapshot(queue, QUEUE_FIELDS))
        queue.delete()


def local_queue_create(*, user, cluster_queue: ClusterQueue, name: str, project: Project | None = None) -> LocalQueue:
    """Send the tenant's jobs on the cluster (or one project's, which wins over the tenant-wide one) to a
    ClusterQueue, for jobs submitted from now on."""
    require_admin(user, cluster_queue.tenant_id, manages="manage queues")
    errors: dict = {}
    _check_name(errors, "name", name)
    if project is not None and project.tenant_id != cluster_queue.tenant_id:
        errors["project_id"] = ["The project belongs to another tenant."]
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            local = LocalQueue.objects.create(
                cluster_id=cluster_queue.cluster_id,
                cluster_queue=cluster_queue,
                tenant_id=cluster_queue.tenant_id,
                project=project,
                name=name,
            )
            audit_record(
                action="local_queue.create",
                obj=local,
                after={
                    "name": name,
                    "cluster_queue": cluster_queue.name,
                    "project_id": str(project.pk) if project else None,
                },
            )
    except IntegrityError as exc:
        raise Conflict(
            "The cluster already has a local queue of that name, or one for this project (tenant).",
            errors={"name": ["Already taken, or the project (tenant) already has a local queue on this cluster."]},
        ) from exc
    return local


def local_queue_delete(*, user, local_queue: LocalQueue) -> None:
    """Stop sending jobs to the ClusterQueue; jobs already submitted keep counting against it."""
    require_admin(user, local_queue.tenant_id, manages="manage queues")
    with transaction.atomic():
        audit_record(action="local_queue.delete", obj=local_queue, before={"name": local_queue.name})
        local_queue.delete()
