"""Scale to zero and back: a component's job stops (GPUs freed, cost stops) and the first request starts it again.

Both run under the deployment's row lock, which the caller (the autoscaler, a wake) holds. At zero the component's
row stays in place as SCALED_TO_ZERO with no live job; a wake retires it and starts a new row of the same
generation, so the job gets the same name and the component the same address.
"""

from __future__ import annotations

from datetime import datetime

from core.exceptions import Conflict
from deployments.models import ComponentDeployment, UseCaseDeployment
from deployments.passes import ReconcilePass
from deployments.records import next_attempt_row, reconcile_enqueue
from deployments.state import ComponentStatus, DeploymentStatus
from deployments.stopping import cancel_job
from jobs.simulation import STARTUP_LABEL
from tenancy.selectors import require_write

# Components may go to zero only from a settled deployment; waking works from any state but deletion.
ZEROABLE = frozenset({DeploymentStatus.RUNNING, DeploymentStatus.SCALED_TO_ZERO})


def as_planned(planned: dict) -> dict:
    """A row's planned component as the plan made it: a wake's start-up label is no change to roll out."""
    labels = planned.get("labels")
    if not labels or STARTUP_LABEL not in labels:
        return planned
    rest = {k: v for k, v in labels.items() if k != STARTUP_LABEL}
    return {k: v for k, v in planned.items() if k != "labels"} | ({"labels": rest} if rest else {})


def _serving(deployment: UseCaseDeployment, key: str) -> ComponentDeployment | None:
    return (
        deployment.components.filter(key=key, retired_at__isnull=True, is_candidate=False).select_related("job").first()
    )


def component_scale_to_zero(*, deployment: UseCaseDeployment, key: str, reason: str, now: datetime) -> None:
    """Stop the component's job and mark it SCALED_TO_ZERO; the deployment's status follows (SCALED_TO_ZERO once
    everything else runs). The caller holds the deployment's row lock."""
    if deployment.status not in ZEROABLE or deployment.pending_revision_id:
        raise Conflict(f"The deployment is {deployment.status.lower()}; it scales to zero only while running.")
    row = _serving(deployment, key)
    if row is None or row.status != ComponentStatus.RUNNING or row.job_type != "SERVICE":
        raise Conflict(f"Component {key} is not a running service; it cannot scale to zero.")
    cancel_job(row.job, f"scaled to zero: {reason}")
    p = ReconcilePass(deployment, now)
    p.set_status(p.by_key[key], ComponentStatus.SCALED_TO_ZERO, f"Scaled to zero: {reason}")
    p.aggregate()
    p.finish()


def deployment_wake(
    *, user, deployment: UseCaseDeployment, now: datetime, reason: str = "", startups: dict[str, float] | None = None
) -> list[str]:
    """Start again every component at zero (a request arrived, or a user asked); returns their keys. The caller
    holds the deployment's row lock; the reconciler starts the new rows at once. `startups` ({key: seconds}, the
    predicted cold starts) go on the new jobs as their start-up time, which the simulated cluster takes."""
    require_write(user, deployment.tenant_id)
    if deployment.status in {DeploymentStatus.DELETING, DeploymentStatus.DELETED}:
        raise Conflict(f"The deployment is {deployment.status.lower()}; it cannot wake.")
    rows = list(
        deployment.components.filter(
            retired_at__isnull=True, is_candidate=False, status=ComponentStatus.SCALED_TO_ZERO
        ).order_by("created_at")
    )
    if not rows:
        return []
    for row in rows:
        row.retired_at = now
        row.save(update_fields=["retired_at", "updated_at"])
        woken = next_attempt_row(
            row,
            generation=row.generation,  # the same job name, so the same address
            revision=row.revision,
            status_message=f"Waking from zero{': ' + reason if reason else ''}.",
        )
        planned = as_planned(row.planned)
        if startups and row.key in startups:
            labels = {**(planned.get("labels") or {}), STARTUP_LABEL: f"{startups[row.key]:.1f}"}
            planned = {**planned, "labels": labels}
        woken.planned = planned
        woken.save()
    p = ReconcilePass(deployment, now)
    p.aggregate()
    p.finish()
    reconcile_enqueue(deployment_id=deployment.pk)
    return [row.key for row in rows]
