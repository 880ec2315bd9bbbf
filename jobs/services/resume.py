"""Interrupting a BATCH or TRAINING job so it resumes later from its last checkpoint (`jobs.resume` builds the row)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from core.exceptions import Conflict
from jobs.drivers import get_driver
from jobs.models import Job, check_transition
from jobs.resume import interruption_fields
from jobs.sequences import next_sequences
from jobs.services.passes import cluster_schedule_pass, lock_cluster
from jobs.services.submission import require_job_writer


def job_requeue(
    *, job: Job, user=None, reason: str = "", kind: str = "requeued", now: datetime | None = None, schedule: bool = True
) -> Job:
    """Stop an admitted or running BATCH/TRAINING job and put it back in its queue, to resume from its last
    checkpoint (losing at most one interval of work). `kind` is "requeued" (asked for), "preempted" or "failed".

    Runs under the cluster's lock. The job goes behind the jobs already waiting at its priority; with `schedule`
    a pass follows, so they take the capacity first and the job resumes at once only if some is left.
    """
    require_job_writer(user, job.tenant_id)
    now = now or timezone.now()
    cluster_schedule_pass(cluster=job.cluster, now=now)  # a job that finished by now is not interrupted
    with transaction.atomic():
        cluster = lock_cluster(job.cluster_id)
        current = Job.objects.get(pk=job.pk)
        if current.job_type == Job.JobType.SERVICE:
            raise Conflict("A SERVICE job does not checkpoint; scale or cancel it instead.")
        if current.is_terminal or current.admitted_at is None:
            raise Conflict(f"The job is {current.status} and holds no capacity; there is nothing to interrupt.")
        check_transition(current, Job.Status.QUEUED)
        fields = interruption_fields(current, now=now, reason=reason or "asked by a user", kind=kind)
        # Back in line behind the jobs already waiting at its priority (Kueue's requeue by eviction time), so an
        # interruption makes room rather than taking the capacity straight back.
        (fields["sequence"],) = next_sequences(cluster.pk)
        if not Job.objects.filter(pk=current.pk, status=current.status).update(**fields):
            raise Conflict("The job changed while it was being interrupted; try again.")
        get_driver(cluster).cancel(job=current, now=now)
        if schedule:
            get_driver(cluster).poll(cluster=cluster, now=now, bill_running=False)
    job.refresh_from_db()
    return job
