"""Putting an interrupted job back in its queue to resume from its last checkpoint (`jobs.checkpoints` does the sums).

One function builds the columns of an interruption, so the simulated driver (a failure), the requeue service and
preemption record it the same way: back to QUEUED with no capacity held, the cost so far kept, the work resumed
from the last checkpoint and what was lost added to the job's history.
"""

from __future__ import annotations

from datetime import datetime

from jobs.checkpoints import interruption_at, interval_seconds, resumes_after_failure
from jobs.models import Job

KINDS = ("failed", "preempted", "requeued")


def checkpoints_before_run(job: Job) -> int:
    """Checkpoints the job saved in its earlier runs (each interruption recorded its run's)."""
    return sum(int(entry.get("checkpoints", 0)) for entry in job.resume_history or [])


def resumes_on_failure(job: Job) -> bool:
    """Whether a failure of this job sends it back to its queue rather than failing it for good."""
    failures = sum(1 for entry in job.resume_history or [] if entry.get("kind") == "failed")
    return job.job_type != Job.JobType.SERVICE and resumes_after_failure(
        interval=interval_seconds(job.checkpoint_interval_minutes), failures_so_far=failures
    )


def checkpoint_fields(job: Job, *, now: datetime) -> dict:
    """The checkpoint columns of a running job at `now` (what a pass records as time passes)."""
    progress = job.progress_at(now)
    fields = {
        "checkpoints": checkpoints_before_run(job) + progress.checkpoints_this_run,
        "checkpoint_work_seconds": progress.checkpoint_work_seconds,
    }
    if progress.last_checkpoint_at is not None:
        fields["last_checkpoint_at"] = progress.last_checkpoint_at
    return fields


def interruption_fields(job: Job, *, now: datetime, reason: str, kind: str) -> dict:
    """The columns that take an admitted or running job back to QUEUED, resuming from its last checkpoint.

    At most one checkpoint interval of work is lost (`jobs.checkpoints.interruption_at`); a job that does not
    checkpoint restarts from where its run began. The cost so far stays on the job and keeps accruing from the
    next start. A failed job's simulated fault is treated as transient: the resumed run does not fail again.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    cut = interruption_at(
        duration=job.duration_seconds,
        interval=interval_seconds(job.checkpoint_interval_minutes),
        resumed_from=job.work_resumed_from_seconds,
        started_at=job.started_at,
        now=now,
    )
    cost = job.cost_until(now)
    entry = {
        "at": now.isoformat(),
        "kind": kind,
        "reason": reason,
        "work_seconds": round(cut.progress.work_seconds, 3),
        "resumed_from_seconds": round(cut.resume_from_seconds, 3),
        "lost_seconds": round(cut.lost_seconds, 3),
        "checkpoints": cut.progress.checkpoints_this_run,
    }
    percent = f"{100 * cut.resume_from_seconds / job.duration_seconds:.0f}%" if job.duration_seconds else "the start"
    lost = f"{cut.lost_seconds / 60:.1f} min" if cut.lost_seconds >= 60 else f"{cut.lost_seconds:.0f} s"
    fields = {
        "status": Job.Status.QUEUED,
        "status_message": f"{kind.capitalize()}: {reason.rstrip('.')}. Waiting to resume from its checkpoint at "
        f"{percent} ({lost} of work lost).",
        "admitted_at": None,
        "started_at": None,
        "rate_since": None,
        "cost_before_rate": cost,
        "actual_cost": cost,
        "work_resumed_from_seconds": cut.resume_from_seconds,
        "checkpoint_work_seconds": cut.resume_from_seconds,
        "checkpoints": checkpoints_before_run(job) + cut.progress.checkpoints_this_run,
        "resumes": job.resumes + 1,
        "work_lost_seconds": job.work_lost_seconds + cut.lost_seconds,
        "resume_history": [*(job.resume_history or []), entry],
    }
    if cut.progress.last_checkpoint_at is not None:
        fields["last_checkpoint_at"] = cut.progress.last_checkpoint_at
    if kind == "failed":
        fields["simulated_failure"] = ""
    return fields
