"""Bringing a pass's rows in line with their jobs: let the driver move time on, map each job's status onto its
row, and fail a row's attempt (a retry in a new row after a back-off, or FAILED for good).
"""

from __future__ import annotations

from datetime import timedelta

from deployments.models import ComponentDeployment, DeploymentEvent
from deployments.passes import ReconcilePass
from deployments.records import next_attempt_row
from deployments.state import ComponentStatus, backoff_seconds, component_outputs, component_status_for_job
from jobs import selectors as job_selectors
from jobs.models import Job


def advance_cluster(p: ReconcilePass) -> None:
    """Let the driver move time forward for jobs that are queued or starting, and learn its next change."""
    live = p.rows + p.candidates
    if any(row.job and row.job.status in {Job.Status.PENDING, Job.Status.QUEUED} for row in live):
        p.next_change_at = p.schedule_pass()
        for row in live:
            if row.job_id:
                row.job.refresh_from_db()


def sync(p: ReconcilePass, row: ComponentDeployment) -> None:
    """Bring a row's status in line with its job's."""
    job = row.job
    if job is None or row.status == ComponentStatus.SCALED_TO_ZERO:  # its job was stopped on purpose
        return
    status = component_status_for_job(job.status)
    cluster = p.deployment.cluster
    if status == ComponentStatus.RUNNING:
        if row.status != ComponentStatus.RUNNING:
            row.outputs = component_outputs(job.outputs, row.planned.get("output_specs", {}))
            row.has_run = True
            row.running_at = job.started_at or p.now
            p.set_status(row, status, "Running.", outputs=row.outputs)
    elif status == ComponentStatus.QUEUED:
        info = job_selectors.job_queue_info(job=job, now=p.now)
        predicted = info.get("predicted_start")
        when = f", predicted start {predicted:%Y-%m-%d %H:%M:%S} UTC" if predicted else ""
        message = (
            f"Queued on cluster {cluster.name}: position {info.get('queue_position')}{when}. {job.status_message}"
        ).rstrip()
        p.set_status(row, status, message, queue_position=info.get("queue_position"))
    elif status == ComponentStatus.STARTING:
        p.set_status(row, status, f"Starting on cluster {cluster.name} (job {job.pk}).")
    elif status == ComponentStatus.SUCCEEDED:
        row.outputs = component_outputs(job.outputs, row.planned.get("output_specs", {}))
        p.set_status(row, status, "Completed.", outputs=row.outputs)
    elif row.status not in {ComponentStatus.FAILED, ComponentStatus.STOPPED}:
        # FAILED, or cancelled behind our back: both are failures of this attempt.
        cancelled = job.status == Job.Status.CANCELLED
        reason = job.status_message or ("cancelled outside the deployment" if cancelled else "the job failed")
        fail(p, row, reason)


def fail(p: ReconcilePass, row: ComponentDeployment, reason: str) -> None:
    """A row's attempt failed: retry it after a back-off in a new row, or fail it for good."""
    attempts = p.max_retries + 1
    if row.is_candidate:
        # A replacement that fails does not retry: the roll-out is abandoned and the old part keeps serving.
        p.set_status(row, ComponentStatus.FAILED, f"Replacement failed: {reason}")
        return
    tries = row.try_number  # per part: the changes that made new rows before it are not failures
    if tries >= attempts:
        p.set_status(row, ComponentStatus.FAILED, f"Failed after {tries} attempts: {reason}")
        return
    delay = backoff_seconds(tries)
    p.set_status(row, ComponentStatus.FAILED, f"Attempt {tries} of {attempts} failed: {reason}")
    p.retire(row)
    retry = next_attempt_row(
        row,
        try_number=tries + 1,
        has_run=row.has_run,
        next_attempt_at=p.now + timedelta(seconds=delay),
        status_message=(
            f"Attempt {tries} failed: {reason}. Retrying in {delay:g} s (attempt {tries + 1} of {attempts})."
        ),
    )
    retry.save()
    p.record_event(
        component=retry,
        kind=DeploymentEvent.Kind.COMPONENT_RETRY_SCHEDULED,
        message=retry.status_message,
        data={"key": row.key, "attempt": retry.try_number, "retry_at": retry.next_attempt_at.isoformat()},
    )
    p.replace(row, retry)
