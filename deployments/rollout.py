"""Rolling out a revision, new-before-old: the candidates start beside the serving parts, then all switch at once.

`roll_out` is the reconciler's step for a deployment with a pending revision; `promote` switches over once every
new part runs, `abandon` stops the new parts when one fails (or the change is cancelled, or the deployment is
deleted) and `resize` scales a serving job in place. `cancel` is the pass a user's cancel runs.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from deployments.changes import ADD_REPLICAS, REMOVE_REPLICAS
from deployments.models import ComponentDeployment, DeploymentEvent, DeploymentRevision, UseCaseDeployment
from deployments.passes import ReconcilePass, plan_order
from deployments.starting import start_ready
from deployments.state import ComponentStatus
from deployments.stopping import dependents_first, stop
from deployments.syncing import sync
from jobs import selectors as job_selectors
from jobs import services as job_services
from jobs.models import Job


def roll_out(p: ReconcilePass) -> None:
    """Start the candidates as their dependencies allow; switch over once all run; abandon on a failure."""
    for row in list(p.candidates):
        sync(p, row)
    start_ready(p, p.candidates)
    failed = [row for row in p.candidates if row.status == ComponentStatus.FAILED]
    if failed:
        abandon(p, failed=failed[0])
        return
    # A candidate at zero (a change to a component at zero) is ready as it is: the next wake starts it.
    if not all(
        row.status in ComponentStatus.READY or row.status == ComponentStatus.SCALED_TO_ZERO for row in p.candidates
    ):
        return
    # Parts resized in place need their serving job running at the switch.
    for key in resized_in_place(p.deployment.pending_revision):
        row = p.by_key.get(key)
        if row is None or row.job is None or row.job.status != Job.Status.RUNNING:
            abandon(p, reason=f"{key} stopped serving during the change; nothing was resized.")
            return
    promote(p)


def resized_in_place(revision: DeploymentRevision) -> dict[str, str]:
    """Components a revision scales in place: key -> ADD_REPLICAS or REMOVE_REPLICAS."""
    components = revision.change.get("components", [])
    modes = (ADD_REPLICAS, REMOVE_REPLICAS)
    return {c["key"]: c["scale_mode"] for c in components if c.get("scale_mode") in modes}


def resize(p: ReconcilePass, *, key: str, mode: str, revision: DeploymentRevision) -> None:
    """Fewer replicas: the serving job shrinks. More: it absorbs the extra part that now runs beside it."""
    row = p.by_key[key]
    resources = revision.components[key]
    if mode == ADD_REPLICAS:
        part = p.candidate_by_key[key]
        job_services.job_absorb(job=row.job, part=part.job, now=p.now)
        p.set_status(part, ComponentStatus.STOPPED, f"Merged into {row.key}'s job {row.job_id}.")
        p.retire(part)
    else:
        job_services.job_resize(job=row.job, replicas=int(resources.get("replicas", 1)), now=p.now)
    row.resources = resources
    row.planned = {**row.planned, "resources": resources}
    row.revision = revision.number
    row.save(update_fields=["resources", "planned", "revision", "updated_at"])
    p.record_event(
        component=row,
        kind=DeploymentEvent.Kind.COMPONENT_SCALED,
        message=f"{key}: now {resources.get('replicas', 1)} replicas (revision {revision.number}).",
        data={"key": key, "replicas": resources.get("replicas", 1), "job_id": str(row.job_id) if row.job_id else None},
    )


def promote(p: ReconcilePass) -> None:
    """Every new part runs: consumers already point at the new addresses, so stop the old parts (dependents
    first) and make the new ones current, all in this transaction."""
    deployment = p.deployment
    revision = deployment.pending_revision
    removed = set(revision.change.get("summary", {}).get("removed", []))
    for key, mode in resized_in_place(revision).items():
        resize(p, key=key, mode=mode, revision=revision)
    p.candidates = [row for row in p.candidates if not row.is_extra_part]
    gone = {row.key for row in p.candidates} | removed
    for row in dependents_first(p, [row for row in p.rows if row.key in gone]):
        verb = "Removed" if row.key in removed else "Replaced"
        stop(p, row, f"{verb} by revision {revision.number}.")
    for row in p.candidates:
        row.is_candidate = False
        row.save(update_fields=["is_candidate", "updated_at"])
    cost_by_component = {
        key: str(job_selectors.estimate_hourly_cost(cluster=deployment.cluster, resources=resources))
        for key, resources in revision.components.items()
    }
    deployment.plan = {
        **revision.plan,
        "hourly_cost_by_component": cost_by_component,
        "estimated_hourly_cost": str(sum(Decimal(v) for v in cost_by_component.values())),
    }
    deployment.parameters = revision.parameters
    deployment.template_version = revision.template_version
    deployment.scale = revision.scale
    deployment.revision = revision.number
    deployment.pending_revision = None
    _close(revision, status=DeploymentRevision.Status.APPLIED, message="Applied.", now=p.now)
    p.record_event(
        kind=DeploymentEvent.Kind.REVISION_APPLIED,
        message=f"Revision {revision.number} ({revision.kind}) applied.",
        data={"revision": revision.number, "kind": revision.kind},
    )
    p.rows = [row for row in p.rows if row.key not in gone] + p.candidates
    p.reorder(plan_order(revision.plan))
    p.candidates, p.candidate_by_key = [], {}


def abandon(
    p: ReconcilePass, *, failed: ComponentDeployment | None = None, reason: str | None = None, cancelled: bool = False
) -> None:
    """A new part failed (or the change was cancelled, or the deployment is being deleted): stop the new parts;
    the old ones serve on."""
    revision = p.deployment.pending_revision
    message = reason or f"{failed.key}: {failed.status_message}"
    for row in p.candidates:
        if row.status != ComponentStatus.FAILED:
            stop(p, row, f"Abandoned with revision {revision.number}.")
        else:
            p.retire(row)
    status = DeploymentRevision.Status.CANCELLED if cancelled else DeploymentRevision.Status.FAILED
    _close(revision, status=status, message=message, now=p.now)
    p.deployment.pending_revision = None
    p.candidates, p.candidate_by_key = [], {}
    p.failed_revision_message = (
        f"Revision {revision.number} ({revision.kind}) {revision.status}: {message} "
        f"Revision {p.deployment.revision} keeps serving."
    )
    p.record_event(
        kind=DeploymentEvent.Kind(f"revision_{revision.status}"),
        message=p.failed_revision_message,
        data={"revision": revision.number, "kind": revision.kind, "component": failed.key if failed else None},
    )


def cancel(*, deployment: UseCaseDeployment, reason: str, now: datetime | None = None) -> None:
    """Cancel the pending revision of a deployment whose row the caller holds locked: its new parts stop and the
    revision running now serves on."""
    p = ReconcilePass(deployment, now or timezone.now())
    abandon(p, reason=reason, cancelled=True)
    p.aggregate()
    p.finish()


def _close(revision: DeploymentRevision, *, status: str, message: str, now: datetime) -> None:
    revision.status = status
    revision.completed_at = now
    revision.status_message = message
    revision.save(update_fields=["status", "status_message", "completed_at"])
