"""Checkpoint arithmetic of BATCH and TRAINING jobs (pure: no Django), the rule that bounds what an interruption loses.

A job that checkpoints every `interval` seconds of work saves its progress at `resumed_from + k * interval` for
k = 1, 2, ... while it runs (never at its very end: finishing is not a checkpoint). When it is interrupted (a
failure, a preemption), it resumes from the last checkpoint it saved: what it did since is lost, which is less than
one interval by construction. A job without an interval restarts from where its current run began (its last
checkpoint, or zero).

Work is counted in seconds of running (simulated or real), so "50% done" means half of `duration` has been run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

# A job that fails this many times is failed for good, checkpoint or not: a fault that comes back every run is
# not transient, and resuming it forever would hold the queue's capacity without ever finishing.
MAX_FAILURE_RESUMES = 3


@dataclass(frozen=True)
class Progress:
    """Where a job's work stands at a moment."""

    work_seconds: float  # work done in total (earlier runs' saved work included)
    fraction: float  # work_seconds / duration, in [0, 1]
    checkpoint_work_seconds: float  # work saved by the last checkpoint (what a resume starts from)
    last_checkpoint_at: datetime | None  # when that checkpoint was taken in this run (None: none in this run)
    checkpoints_this_run: int


@dataclass(frozen=True)
class Interruption:
    """What an interruption at a moment costs the job."""

    resume_from_seconds: float  # the work the next run starts with
    lost_seconds: float  # work done since the last checkpoint, thrown away
    progress: Progress


def interval_seconds(minutes: float | None) -> float | None:
    """The interval in seconds, or None when the job does not checkpoint."""
    if minutes is None or minutes <= 0:
        return None
    return float(minutes) * 60.0


def remaining_seconds(*, duration: float | None, resumed_from: float) -> float | None:
    """How long the current run needs to finish the job (None for a job without a duration)."""
    if duration is None:
        return None
    return max(float(duration) - float(resumed_from), 0.0)


def progress_at(
    *,
    duration: float | None,
    interval: float | None,
    resumed_from: float,
    started_at: datetime | None,
    now: datetime,
) -> Progress:
    """The job's progress at `now` in the run that started at `started_at` from `resumed_from` seconds of work."""
    resumed_from = float(resumed_from or 0.0)
    elapsed = 0.0 if started_at is None or now <= started_at else (now - started_at).total_seconds()
    remaining = remaining_seconds(duration=duration, resumed_from=resumed_from)
    if remaining is not None:
        elapsed = min(elapsed, remaining)
    work = resumed_from + elapsed
    taken = 0
    if interval and started_at is not None:
        taken = math.floor(elapsed / interval + 1e-9)
        if remaining is not None:
            # The last checkpoint strictly before the end of the run: finishing saves nothing more.
            taken = min(taken, max(math.ceil(remaining / interval - 1e-9) - 1, 0))
    checkpoint_work = resumed_from + taken * (interval or 0.0)
    last_at = started_at + timedelta(seconds=taken * interval) if taken else None
    fraction = min(work / float(duration), 1.0) if duration else 0.0
    return Progress(
        work_seconds=work,
        fraction=fraction,
        checkpoint_work_seconds=checkpoint_work,
        last_checkpoint_at=last_at,
        checkpoints_this_run=taken,
    )


def interruption_at(
    *,
    duration: float | None,
    interval: float | None,
    resumed_from: float,
    started_at: datetime | None,
    now: datetime,
) -> Interruption:
    """Interrupt the run at `now`: resume from the last checkpoint, losing the work done since (< one interval)."""
    progress = progress_at(
        duration=duration, interval=interval, resumed_from=resumed_from, started_at=started_at, now=now
    )
    return Interruption(
        resume_from_seconds=progress.checkpoint_work_seconds,
        lost_seconds=progress.work_seconds - progress.checkpoint_work_seconds,
        progress=progress,
    )


def resumes_after_failure(*, interval: float | None, failures_so_far: int) -> bool:
    """A failed job resumes from its checkpoint when it checkpoints and has not failed too often already."""
    return interval is not None and failures_so_far < MAX_FAILURE_RESUMES
