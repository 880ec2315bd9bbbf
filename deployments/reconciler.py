"""The reconcile loop: level-triggered, idempotent, safe to run twice at once (docs/architecture.md).

One pass: lock the deployment row (skip when another reconciler holds it), bring every component in line with
its job, start components whose dependencies are ready (rendering their output references from upstream
outputs), carry a pending revision's roll-out one step further, aggregate into the deployment status, record an
event for every change, and schedule the next pass for the moment the driver expects the next change, not on a
fixed polling interval. The pass and its primitives are `deployments.passes`; its steps are `syncing`, `starting`,
`stopping` and `rollout`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from core.runtime_metrics import reconcile_pass_observe
from deployments import rollout, starting, stopping, syncing
from deployments.models import UseCaseDeployment
from deployments.passes import ReconcilePass
from deployments.state import DeploymentStatus


@dataclass
class ReconcileOutcome:
    deployment_id: str
    skipped: bool = False  # another reconciler held the lock, or the deployment is gone/terminal
    status: str | None = None
    submitted: list[str] = field(default_factory=list)
    next_delay: float | None = None


def deployment_reconcile(*, deployment_id, now: datetime | None = None) -> ReconcileOutcome:
    """Run one reconcile pass over a deployment; returns what it did and when the next pass is due (counted and
    timed for the control plane's /metrics)."""
    started, outcome = time.perf_counter(), "error"
    try:
        result = _reconcile(deployment_id, now)
        outcome = "skipped" if result.skipped else "done"
        return result
    finally:
        reconcile_pass_observe(seconds=time.perf_counter() - started, outcome=outcome)


def deployment_first_pass(
    *, deployment: UseCaseDeployment, rows: list, events: list = (), now: datetime | None = None
) -> ReconcileOutcome:
    """The first pass of a deployment created in the caller's transaction, over the objects the create holds: its row
    and its component rows were inserted by this transaction, so nobody else can see them, let alone reconcile them,
    before it commits: there is nothing to lock, and nothing to read again (the lock's read joined four tables and
    the rows' read decrypted every row). `events`: unsaved events of the create, written first with the pass's own.
    It runs in a savepoint, as a pass does."""
    started, outcome = time.perf_counter(), "error"
    try:
        with transaction.atomic():
            p = ReconcilePass(deployment, now or timezone.now(), rows=rows, events=events)
            _run(p)
            delay = p.finish()
        outcome = "done"
        return ReconcileOutcome(
            deployment_id=str(deployment.pk), status=deployment.status, submitted=p.submitted, next_delay=delay
        )
    finally:
        reconcile_pass_observe(seconds=time.perf_counter() - started, outcome=outcome)


def _reconcile(deployment_id, now: datetime | None) -> ReconcileOutcome:
    with transaction.atomic():
        deployment = (
            UseCaseDeployment.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("cluster", "project", "tenant", "pending_revision")
            .filter(pk=deployment_id)
            .first()
        )
        if deployment is None or deployment.status in DeploymentStatus.TERMINAL:
            return ReconcileOutcome(deployment_id=str(deployment_id), skipped=True)
        p = ReconcilePass(deployment, now or timezone.now())
        if deployment.status == DeploymentStatus.DELETING:
            _delete(p)
        else:
            _run(p)
        delay = p.finish()
        return ReconcileOutcome(
            deployment_id=str(deployment.pk), status=deployment.status, submitted=p.submitted, next_delay=delay
        )


def _run(p: ReconcilePass) -> None:
    """Sync every row with its job, start what is ready, move a roll-out on, and aggregate."""
    syncing.advance_cluster(p)
    for row in list(p.rows):
        syncing.sync(p, row)
    starting.start_ready(p, p.rows)
    if p.deployment.pending_revision_id:
        rollout.roll_out(p)
    p.aggregate()


def _delete(p: ReconcilePass) -> None:
    """Stop components dependents-first; DELETED once every component is stopped."""
    if p.deployment.pending_revision_id:
        rollout.abandon(p, reason="the deployment is being deleted.")
    if stopping.stop_all(p, reason="deployment deleted"):
        p.set_deployment_status(DeploymentStatus.DELETED, f"Deleted; {len(p.rows)} components stopped.")
