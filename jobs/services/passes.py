"""Scheduling passes: one cluster under its row lock, or every busy cluster (the beat task's body)."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from core.exceptions import NotFound
from jobs.drivers import SchedulePassResult, get_driver
from jobs.models import Cluster, ClusterQueue, Job
from jobs.services.preemption import preemptions_apply

logger = logging.getLogger(__name__)


def lock_cluster(cluster_id, *, skip_locked: bool = False) -> Cluster | None:
    """The cluster's row, locked FOR NO KEY UPDATE: passes and changes of the cluster's jobs take it one at a time,
    while submits go on (inserting a job takes only a KEY SHARE lock on the cluster's row, for its foreign key,
    which FOR UPDATE would block until the pass commits). A submit only inserts a waiting job; admission is the
    pass's alone, so capacity is never over-committed; a job inserted during a pass waits for the next one."""
    # Whether it has quotas comes with the lock: a pass on a cluster without queues reads nothing more for them.
    has_queues = Exists(ClusterQueue.objects.filter(cluster=OuterRef("pk")))
    return (
        Cluster.objects.select_for_update(skip_locked=skip_locked, no_key=True)
        .annotate(has_queues=has_queues)
        .filter(pk=cluster_id)
        .order_by()
        .first()
    )


def cluster_schedule_pass(
    *,
    cluster: Cluster,
    now: datetime | None = None,
    skip_locked: bool = False,
    bill_running: bool = True,
    new_jobs: list[Job] | None = None,
):
    """One pass over one cluster under a row lock on it: admit, start, finish, fail and bill its jobs.

    With `skip_locked`, a pass that finds another pass holding the cluster returns at once (`skipped=True`).
    With `new_jobs` (jobs just recorded, whose submit asked for a pass), the driver may admit them at once under the
    same lock instead (`ClusterDriver.admit_new`: nothing waits besides them and they fit), updating them in place;
    the result then says `admitted_at_once`.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = lock_cluster(cluster.pk, skip_locked=skip_locked)
        if locked is None:
            if skip_locked and Cluster.objects.filter(pk=cluster.pk).exists():
                return SchedulePassResult(cluster_id=cluster.pk, now=now, skipped=True)
            raise NotFound("No such cluster.")
        driver = get_driver(locked)
        if new_jobs and (result := driver.admit_new(cluster=locked, jobs=new_jobs, now=now)) is not None:
            result.admitted_at_once = True
            return result
        result = driver.poll(cluster=locked, now=now, bill_running=bill_running)
        preemptions_apply(result=result, now=now)
        return result


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
