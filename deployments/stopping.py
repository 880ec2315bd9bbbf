"""Stopping rows: one row (its job cancelled if it still lives), and a deployment's rows dependents-first.

A roll-out stops the parts it replaces with `stop`, in `dependents_first` order; deleting a deployment stops
every row wave by wave with `stop_all`, waiting for a wave whose jobs a real driver stops asynchronously.
"""

from __future__ import annotations

import contextlib

from core.exceptions import Conflict
from deployments.models import ComponentDeployment
from deployments.passes import ReconcilePass
from deployments.state import ComponentStatus, delete_order
from jobs import services as job_services
from jobs.models import Job


def cancel_job(job: Job | None, reason: str) -> None:
    """Cancel a row's job if it still lives."""
    if job is not None and job.status in Job.Status.ACTIVE:
        with contextlib.suppress(Conflict):  # finished meanwhile: nothing left to stop
            job_services.job_cancel(job=job, reason=reason)


def stop(p: ReconcilePass, row: ComponentDeployment, message: str) -> None:
    """Cancel a row's job if it still lives, and retire the row as STOPPED."""
    cancel_job(row.job, message)
    p.set_status(row, ComponentStatus.STOPPED, message)
    p.retire(row)


def delete_waves(p: ReconcilePass) -> list[list[str]]:
    """The serving rows' keys in waves, dependents before what they depend on."""
    return delete_order({row.key: [d for d in row.depends_on if d in p.by_key] for row in p.rows})


def dependents_first(p: ReconcilePass, rows: list[ComponentDeployment]) -> list[ComponentDeployment]:
    """`rows` (serving ones) sorted so that a row comes before those it depends on."""
    position = {key: index for index, wave in enumerate(delete_waves(p)) for key in wave}
    return sorted(rows, key=lambda row: position.get(row.key, 0))


def stop_all(p: ReconcilePass, *, reason: str) -> bool:
    """Stop the serving rows dependents-first, a wave at a time; True once every row is stopped."""
    for wave in delete_waves(p):
        for key in wave:
            row = p.by_key[key]
            if row.status == ComponentStatus.STOPPED:
                continue
            job = row.job
            if job is not None and job.status in Job.Status.ACTIVE:
                cancel_job(job, reason)
                job.refresh_from_db()
            if job is not None and job.status in Job.Status.ACTIVE:
                # A real driver stops asynchronously: wait for this wave before stopping what it depends on.
                p.set_status(row, ComponentStatus.STOPPING, "Stopping.")
                continue
            p.set_status(row, ComponentStatus.STOPPED, "Stopped: deployment deleted.")
        if any(p.by_key[key].status != ComponentStatus.STOPPED for key in wave):
            return False
    return True
