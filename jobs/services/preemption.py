"""Preemption: stop an admitted job and put it back in line, recorded on both sides.

The scheduling pass decides whom to preempt (`jobs.quotas`: reclaim within a cohort, priority within a queue) and
`cluster_schedule_pass` applies each decision here, under the same cluster lock, in the same transaction as the
admission it makes room for: a preempted job is never left half-stopped.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import F
from django.utils import timezone

from jobs.drivers import get_driver
from jobs.models import Job, JobEvent
from jobs.resume import interruption_fields

PREEMPTABLE = (Job.Status.PENDING, Job.Status.RUNNING)


def requeue_fields(job: Job, now: datetime, reason: str) -> dict:
    """The columns a preempted job is written with: back to waiting, holding nothing, what it cost kept.

    A BATCH or TRAINING job resumes from its last checkpoint (`jobs.resume`: at most one interval of work lost); a
    SERVICE starts again from scratch.
    """
    if job.job_type != Job.JobType.SERVICE:
        fields = interruption_fields(job, now=now, reason=reason, kind="preempted")
    else:
        cost = job.cost_until(now)
        fields = {
            "status": Job.Status.QUEUED,
            "status_message": f"Preempted: {reason}. Waiting to be admitted again.",
            "admitted_at": None,
            "started_at": None,
            "rate_since": None,
            "cost_before_rate": cost,
            "actual_cost": cost,
        }
    return {**fields, "outputs": {}, "preemptions": F("preemptions") + 1}


def job_preempt(*, job: Job, reason: str, by: Job | None = None, now: datetime | None = None) -> bool:
    """Stop an admitted job and put it back to waiting (QUEUED, same place in line), recording a PREEMPTED event
    on it and a PREEMPTOR event on `by`. False, and nothing recorded, when the job was no longer admitted.

    The caller holds the cluster's row lock (the scheduling pass does)."""
    now = now or timezone.now()
    fresh = Job.objects.filter(pk=job.pk).select_related("cluster").first()
    if fresh is None or fresh.status not in PREEMPTABLE or fresh.admitted_at is None:
        return False
    full_reason = f"{reason} (by job {by.name}, {by.pk})" if by is not None else reason
    fields = requeue_fields(fresh, now, full_reason)
    message = fields["status_message"]
    updated = Job.objects.filter(pk=fresh.pk, status=fresh.status, admitted_at__isnull=False).update(**fields)
    if not updated:
        return False
    get_driver(fresh.cluster).cancel(job=fresh, now=now)
    events = [
        JobEvent(
            job=fresh,
            kind=JobEvent.Kind.PREEMPTED,
            message=message,
            other_job=by,
            data={"reason": reason, "was": fresh.status},
            created_at=now,
        )
    ]
    if by is not None:
        events.append(
            JobEvent(
                job=by,
                kind=JobEvent.Kind.PREEMPTOR,
                message=f"Preempted job {fresh.name} ({fresh.pk}): {reason}.",
                other_job=fresh,
                data={"reason": reason},
                created_at=now,
            )
        )
    JobEvent.objects.bulk_create(events)
    return True


def preemptions_apply(*, result, now: datetime) -> int:
    """Apply the preemptions a pass decided (its result's `preemptions`); returns how many took effect."""
    if not result.preemptions:
        return 0
    ids = {victim for victim, _, _ in result.preemptions} | {by for _, by, _ in result.preemptions}
    jobs = Job.objects.in_bulk(list(ids))
    done = 0
    for victim, by, reason in result.preemptions:
        if victim in jobs and job_preempt(job=jobs[victim], reason=reason, by=jobs.get(by), now=now):
            done += 1
            result.changed_job_ids.append(victim)
    return done
