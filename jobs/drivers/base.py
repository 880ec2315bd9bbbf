"""The driver interface (`submit`, `poll`, `cancel`, `forecast`) and the results it returns."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jobs.scheduling import Capacity
from sizing.loadsim import LoadProfile, Serving, Window


@dataclass
class SchedulePassResult:
    """What one scheduling pass over one cluster did."""

    cluster_id: Any
    now: datetime
    changed_job_ids: list = field(default_factory=list)
    admitted: int = 0
    started: int = 0
    succeeded: int = 0
    failed: int = 0
    queued: int = 0
    resumed: int = 0  # interrupted jobs sent back to their queue to resume from a checkpoint
    # The earliest moment the driver expects another job on the cluster to change state (None: nothing due).
    next_change_at: datetime | None = None
    skipped: bool = False  # another pass held the cluster lock (skip_locked)
    # (job id, preempting job id, reason) the pass decided: the caller applies them under the same lock.
    preemptions: list = field(default_factory=list)
    # The submit's own jobs were admitted without a whole pass (`ClusterDriver.admit_new`), and updated in place.
    admitted_at_once: bool = False


@dataclass
class JobForecast:
    queue: str
    queue_position: int | None = None
    predicted_admission: datetime | None = None
    predicted_start: datetime | None = None
    predicted_end: datetime | None = None
    never_fits: str | None = None
    reason: str = ""


@dataclass
class Forecast:
    """The cluster's future if nothing else changes: per waiting (or starting) job, when it should start."""

    now: datetime
    total: Capacity
    free: Capacity
    jobs: dict = field(default_factory=dict)  # job id -> JobForecast


class ClusterDriver(abc.ABC):
    def submission_fields(self, *, cluster, job_id, labels: dict) -> dict:
        """Fields the driver decides once, when a job is recorded (stored on the job)."""
        return {}

    def validate(self, *, cluster, spec: dict, resources: dict) -> None:
        """Refuse (ValidationError) what this driver could not run, before the job is recorded."""
        return

    def resize(self, *, job) -> None:
        """Apply a job's new replica count on the cluster (its row already holds it)."""
        return

    @abc.abstractmethod
    def submit(self, *, job) -> None:
        """Hand a freshly recorded job to the cluster (admission happens in `poll`)."""

    @abc.abstractmethod
    def poll(self, *, cluster, now: datetime, bill_running: bool = True) -> SchedulePassResult:
        """Advance every job on a cluster the caller has locked: admit, start, finish, fail, bill."""

    def admit_new(self, *, cluster, jobs: list, now: datetime) -> SchedulePassResult | None:
        """Admit freshly recorded `jobs` at once, without a whole pass, when that is exactly what a pass would do
        (the caller holds the cluster's lock); None when a pass must decide (the default: drivers without a fast
        path)."""
        return None

    @abc.abstractmethod
    def cancel(self, *, job, now: datetime) -> None:
        """Stop a job's workload on the cluster (its row is updated by the caller)."""

    @abc.abstractmethod
    def forecast(self, *, cluster, now: datetime, extra: list | None = None, summarise_quiet: bool = False) -> Forecast:
        """Predict admissions and starts of waiting jobs (and of `extra` hypothetical PlanJobs)."""

    def read_metrics(
        self, *, job, start: datetime, end: datetime, profile: LoadProfile, serving: Serving | None
    ) -> list[Window]:
        """A running job's metrics, one Window per minute in [start, end). `profile` and `serving` describe the load
        a simulation should produce; a real driver reads the same vLLM metric names from Prometheus instead."""
        raise NotImplementedError(f"{type(self).__name__} cannot read metrics yet (a Prometheus reader is planned).")
