"""Quota admission on a Kubernetes cluster: a job of a ClusterQueue is held by the control plane (no object on the
cluster) until a pass admits it within its queue's quota; only then are its objects applied.

This is Kueue's admission with the control plane as the manager cluster, in the way of MultiKueue (which creates a
workload on a worker cluster only once it is admitted), rather than Kueue's `spec.suspend` (see the README's
quota section for why). The rules are the simulated driver's (`jobs.quotas` through `jobs.scheduling.Planner`):
nominal quota, cohorts with borrowing and lending limits, fair share between borrowers, StrictFIFO lines, a gang
admitted whole. Capacity is not checked here: that is the cluster scheduler's (a job admitted by its queue whose
Pods do not fit shows the scheduler's `Unschedulable` message, as without quotas). No preemption on Kubernetes yet.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.db.models import Q

from jobs.capacity import Capacity, Demand
from jobs.drivers.base import SchedulePassResult
from jobs.drivers.lines import line_gpu_types, waiting_lines
from jobs.drivers.queues import cluster_quota_book, publish_closed_waits, publish_waits, save_fair_share
from jobs.drivers.writes import write_changes
from jobs.models import Cluster, Job
from jobs.scheduling import PlanJob, Planner, order_key

# Capacity is the cluster scheduler's business: the planner gets more than any job could ask for.
UNBOUNDED = 10**12
LIVE = (Job.Status.PENDING, Job.Status.QUEUED, Job.Status.RUNNING)
HELD = Q(driver_state={})  # recorded, counted against a queue, nothing applied on the cluster yet


def held_jobs(cluster: Cluster):
    """The jobs of a cluster that wait for their queue to admit them."""
    return Job.objects.filter(HELD, cluster=cluster, cluster_queue__isnull=False, status__in=LIVE[:2])


def _plan(job: Job, *, admitted_at: datetime | None = None) -> PlanJob:
    """A job as the quota planner sees it: it never ends in the plan (the cluster says when it ends)."""
    return PlanJob(
        id=job.pk,
        demand=Demand.from_resources(job.resources),
        order=order_key(job.priority, job.sequence, job.pk),
        job_type=job.job_type,
        startup=0,
        duration=None,
        admitted_at=admitted_at,
        started_at=admitted_at,
        queue=job.cluster_queue_id,
    )


def admit_held(
    *, cluster: Cluster, now: datetime, result: SchedulePassResult, apply: Callable[[Job], None]
) -> list[Job]:
    """One admission pass over the jobs the cluster's queues hold (the caller holds the cluster's lock, so
    concurrent submitters never over-admit): those their queue may take now are applied (`apply`), a job its queue
    could never admit fails with the reason, the rest wait (QUEUED) and say for what. Returns the jobs admitted."""
    book, cluster_queues, book_at = cluster_quota_book(cluster)
    if book is None or cluster.status != Cluster.Status.ACTIVE:
        return []
    waiting = held_jobs(cluster)
    kinds = set(waiting.values_list("queue_key", flat=True).distinct())
    if not kinds:
        save_fair_share(book, cluster_queues, now)
        return []
    holding = (
        Job.objects.filter(cluster=cluster, status__in=LIVE, cluster_queue__isnull=False)
        .exclude(HELD)
        .only("pk", "resources", "priority", "sequence", "job_type", "cluster_queue_id")
    )
    gpu_types = kinds | set((cluster.inventory or {}).get("gpus") or {})
    rows: dict = {}
    planner = Planner(
        total=Capacity(gpus=dict.fromkeys(gpu_types, UNBOUNDED), millicores=UNBOUNDED, memory_mib=UNBOUNDED),
        active=[_plan(job, admitted_at=now) for job in holding],
        queues=waiting_lines(
            waiting,
            read=lambda queryset: queryset,
            to_plan=_plan,
            rows=rows,
            by_cluster_queue=True,
            queue_ids=cluster_queues,
            gpu_types=line_gpu_types(cluster, book) | kinds,
        ),
        quota=book,
        quota_at=book_at,
    )
    planner.run_until(now)
    admitted, failed = [], {}
    for event in planner.events:
        if event.kind == "admit":
            admitted.append(rows[event.job.id])
        elif event.kind == "never_fits":
            failed[event.job.id] = f"Its queue can never admit it: {event.message}"
    # The pass's writes in a statement per status the jobs had (`jobs.drivers.writes`), not one per job; each
    # only where the job's status is still the one the pass read. The objects are applied after, in the same
    # transaction as before (a failure rolls back the pass's writes with them).
    changes = {
        pk: {"status": Job.Status.FAILED, "status_message": message[:4000], "completed_at": now}
        for pk, message in failed.items()
    }
    result.failed += write_changes(changes, rows)
    result.changed_job_ids.extend(changes)
    messages = {
        job.pk: f"Admitted by queue {cluster_queues[job.cluster_queue_id].name}; applying its objects."
        for job in admitted
    }
    write_changes({pk: {"status": Job.Status.PENDING, "status_message": text} for pk, text in messages.items()}, rows)
    for job in admitted:
        job.status, job.status_message = Job.Status.PENDING, messages[job.pk]
        apply(job)
        result.admitted += 1
        result.changed_job_ids.append(job.pk)
    publish_waits(planner.waits, rows)
    # Held jobs that were only recorded (PENDING) now wait in line (QUEUED): a blocked head says for what (just
    # written), the others that they wait for their queue.
    done = [job.pk for job in admitted] + list(failed)
    recorded = held_jobs(cluster).filter(status=Job.Status.PENDING).exclude(pk__in=done)
    blocked = list(planner.waits)
    changed = list(recorded.filter(pk__in=blocked).values_list("pk", flat=True))
    others = list(recorded.exclude(pk__in=blocked).values_list("pk", "cluster_queue_id", "queue_key", "demand_gpus"))
    changed += [row[0] for row in others]
    if changed:
        recorded.filter(pk__in=blocked).update(status=Job.Status.QUEUED)
        recorded.exclude(pk__in=blocked).update(
            status=Job.Status.QUEUED, status_message="Waiting for its queue to admit it."
        )
        # Those in a line the pass did not read (its queue is full) say for what they wait, as a read head does.
        publish_closed_waits(book, planner.closed_quota_lines, others)
        result.queued += len(changed)
        result.changed_job_ids.extend(changed)
    save_fair_share(book, cluster_queues, now)
    return admitted
