"""Cluster sets: manage them, send a job to the member where it starts first (or costs least), and send the
waiting work of a member that goes away back to the set (`jobs.placement` ranks, `jobs.selectors` forecasts)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record, snapshot
from core.exceptions import Conflict, ValidationError
from jobs.drivers import get_driver
from jobs.models import Cluster, ClusterSet, Job
from jobs.placement import Placement
from jobs.pricing import hourly_rate
from jobs.selectors import cluster_set_placement
from jobs.sequences import next_sequences
from jobs.services.passes import cluster_schedule_pass, lock_cluster
from jobs.services.submission import estimated_cost, job_submit, require_job_writer
from tenancy.selectors import require_admin

logger = logging.getLogger(__name__)

AUDITED_FIELDS = ["name", "description", "strategy"]
MAX_MEMBERS = 50


def _check_fields(*, tenant_id, name=None, strategy=None, clusters=None) -> None:
    errors: dict = {}
    if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > 200):
        errors["name"] = ["A name of 1 to 200 characters is required."]
    if strategy is not None and strategy not in ClusterSet.Strategy.values:
        errors["strategy"] = [f"Must be one of {', '.join(ClusterSet.Strategy.values)}."]
    if clusters is not None:
        if not 1 <= len(clusters) <= MAX_MEMBERS:
            errors["cluster_ids"] = [f"From 1 to {MAX_MEMBERS} clusters."]
        elif any(cluster.tenant_id != tenant_id for cluster in clusters):
            errors["cluster_ids"] = ["Every cluster must belong to the set's tenant."]
        elif len({cluster.pk for cluster in clusters}) != len(clusters):
            errors["cluster_ids"] = ["A cluster is listed twice."]
    if errors:
        raise ValidationError(errors)


def _snapshot(cluster_set: ClusterSet, clusters) -> dict:
    return {**snapshot(cluster_set, AUDITED_FIELDS), "cluster_ids": sorted(str(c.pk) for c in clusters)}


def cluster_set_create(
    *, user=None, tenant, name: str, clusters: list[Cluster], strategy: str = "earliest_start", description: str = ""
) -> ClusterSet:
    """Group clusters of a tenant into a set (its admins)."""
    require_admin(user, tenant.pk, manages="manage cluster sets")
    _check_fields(tenant_id=tenant.pk, name=name, strategy=strategy, clusters=clusters)
    try:
        with transaction.atomic():
            cluster_set = ClusterSet.objects.create(
                tenant=tenant, name=name.strip(), strategy=strategy, description=description
            )
            cluster_set.clusters.set(clusters)
            audit_record(action="create", obj=cluster_set, after=_snapshot(cluster_set, clusters))
    except IntegrityError:
        raise ValidationError({"name": ["A cluster set with this name already exists in the tenant."]}) from None
    return cluster_set


def cluster_set_update(*, user=None, cluster_set: ClusterSet, **fields: Any) -> ClusterSet:
    """Rename a set, change its default strategy, description or members (its tenant's admins)."""
    require_admin(user, cluster_set.tenant_id, manages="manage cluster sets")
    unknown = set(fields) - {"name", "strategy", "description", "clusters"}
    if unknown:
        raise ValidationError({key: ["This field cannot be changed."] for key in sorted(unknown)})
    clusters = fields.pop("clusters", None)
    _check_fields(
        tenant_id=cluster_set.tenant_id, name=fields.get("name"), strategy=fields.get("strategy"), clusters=clusters
    )
    try:
        with transaction.atomic():
            before = _snapshot(cluster_set, cluster_set.clusters.all())
            for key, value in fields.items():
                setattr(cluster_set, key, value.strip() if key == "name" else value)
            cluster_set.save()
            if clusters is not None:
                cluster_set.clusters.set(clusters)
            after = _snapshot(cluster_set, clusters if clusters is not None else cluster_set.clusters.all())
            audit_record(action="update", obj=cluster_set, before=before, after=after)
    except IntegrityError:
        raise ValidationError({"name": ["A cluster set with this name already exists in the tenant."]}) from None
    return cluster_set


def cluster_set_delete(*, user=None, cluster_set: ClusterSet) -> None:
    """Delete a set; its jobs stay on the clusters they were placed on (and are no longer re-placed)."""
    require_admin(user, cluster_set.tenant_id, manages="manage cluster sets")
    with transaction.atomic():
        audit_record(action="delete", obj=cluster_set, before=_snapshot(cluster_set, cluster_set.clusters.all()))
        cluster_set.delete()


def placement_record(placement: Placement, *, now: datetime) -> dict:
    """What a job (or deployment) keeps of its placement: the choice, the runner-up and every member's figures."""
    return {**placement.as_dict(), "at": now.isoformat()}


def placement_refusal(placement: Placement) -> Exception:
    """No member can take the work: a 409 when none is available now, a 400 on the resources when none ever could."""
    if all(c.excluded.startswith(("The cluster is", "The cluster went away")) for c in placement.candidates):
        return Conflict(placement.reason)
    return ValidationError({"resources": [placement.reason]})


def cluster_set_submit(
    *, user=None, cluster_set: ClusterSet, strategy: str | None = None, now: datetime | None = None, **job: Any
) -> Job:
    """Submit a job to the set: it goes to the member where it starts first or costs least (`strategy`, default
    the set's), with the choice and the runner-up recorded on the job (`placement`). Takes job_submit's keywords."""
    require_job_writer(user, cluster_set.tenant_id)
    if strategy is not None:
        _check_fields(tenant_id=cluster_set.tenant_id, strategy=strategy)
    now = now or timezone.now()
    placement = cluster_set_placement(
        cluster_set=cluster_set,
        resources_list=[job.get("resources") or {}],
        job_type=job.get("job_type", Job.JobType.SERVICE),
        duration_seconds=job.get("duration_seconds"),
        priority=job.get("priority", 50),
        strategy=strategy,
        now=now,
    )
    if placement.chosen is None:
        raise placement_refusal(placement)
    cluster = Cluster.objects.select_related("tenant").get(pk=placement.chosen.cluster_id)
    job.setdefault("tenant", cluster.tenant)
    return job_submit(
        user=user,
        cluster=cluster,
        cluster_set=cluster_set,
        placement=placement_record(placement, now=now),
        now=now,
        **job,
    )


def cluster_set_replace_waiting(*, cluster: Cluster, now: datetime | None = None) -> list[Job]:
    """A member went away (no longer ACTIVE): each job sent to it by a set that still waits (holds no capacity) goes
    back to its set and on to the best other member, in the order it waited. What runs stays where it is."""
    now = now or timezone.now()
    moved = []
    waiting = (
        Job.objects.filter(
            cluster=cluster,
            status__in=(Job.Status.PENDING, Job.Status.QUEUED),
            admitted_at__isnull=True,
            cluster_set__isnull=False,
        )
        .select_related("cluster_set")
        .order_by("-priority", "sequence", "id")
    )
    for job in waiting:
        placement = cluster_set_placement(
            cluster_set=job.cluster_set,
            resources_list=[job.resources],
            job_type=job.job_type,
            duration_seconds=job.remaining_seconds,
            priority=job.priority,
            exclude=frozenset({cluster.pk}),
            now=now,
        )
        if placement.chosen is None:
            message = (
                f"Waiting: {cluster.name} is {cluster.status} and no other cluster of {job.cluster_set} can run it."
            )
            Job.objects.filter(pk=job.pk, status=job.status).update(status_message=message)
            continue
        target = Cluster.objects.get(pk=placement.chosen.cluster_id)
        record = placement_record(placement, now=now)
        record["replaced_from"] = {"cluster_id": str(cluster.pk), "name": cluster.name, "status": cluster.status}
        if _move(job, source=cluster, target=target, record=record, now=now):
            moved.append(job)
    return moved


def _move(job: Job, *, source: Cluster, target: Cluster, record: dict, now: datetime) -> bool:
    """Move a waiting job to another cluster: the target's next sequence and prices; then a pass there."""
    rate = hourly_rate(target.prices or {}, job.resources)
    message = f"Moved from {source.name} ({source.status}) by the set {job.cluster_set}: {record['reason']}"
    with transaction.atomic():
        lock_cluster(target.pk)
        (sequence,) = next_sequences(target.pk)
        updated = Job.objects.filter(pk=job.pk, cluster=source, status=job.status, admitted_at__isnull=True).update(
            cluster=target,
            sequence=sequence,
            status=Job.Status.PENDING,
            status_message=message,
            hourly_rate=rate,
            estimated_cost=estimated_cost(job.job_type, rate, job.duration_seconds),
            placement=record,
        )
        if not updated:  # admitted, cancelled or moved meanwhile
            return False
    job.refresh_from_db()
    get_driver(target).submit(job=job)
    cluster_schedule_pass(cluster=target, now=now, bill_running=False)
    job.refresh_from_db()
    logger.info("job %s moved from cluster %s to %s", job.pk, source.pk, target.pk)
    return True
