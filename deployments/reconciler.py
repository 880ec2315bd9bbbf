"""The reconcile loop: level-triggered, idempotent, safe to run twice at once (DESIGN.md, "The flow").

One pass: lock the deployment row (skip when another reconciler holds it), bring every component in line with
its job, start components whose dependencies are ready (rendering their output references from upstream
outputs), aggregate into the deployment status, record an event for every change, and schedule the next pass
for the moment the driver expects the next change, not on a fixed polling interval.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from core.exceptions import Conflict, ServiceError
from deployments.changes import ADD_REPLICAS, REMOVE_REPLICAS
from deployments.models import ComponentDeployment, UseCaseDeployment
from deployments.services import event_record, reconcile_enqueue
from deployments.state import (
    ComponentState,
    ComponentStatus,
    DeploymentStatus,
    aggregate_status,
    backoff_seconds,
    component_outputs,
    component_status_for_job,
    delete_order,
    dependency_ready,
)
from jobs import services as job_services
from templates_app.resolver import render_component_refs

FALLBACK_DELAY = 5.0  # when waiting on something whose time the driver cannot predict (capacity freed by others)
MAX_DELAY = 30.0
MIN_DELAY = 0.02
LIVE_JOB_STATUSES = frozenset({"PENDING", "QUEUED", "RUNNING"})


@dataclass
class ReconcileOutcome:
    deployment_id: str
    skipped: bool = False  # another reconciler held the lock, or the deployment is gone/terminal
    status: str | None = None
    submitted: list[str] = field(default_factory=list)
    next_delay: float | None = None


def deployment_reconcile(*, deployment_id, now: datetime | None = None) -> ReconcileOutcome:
    """Run one reconcile pass over a deployment; returns what it did and when the next pass is due."""
    with transaction.atomic():
        deployment = (
            UseCaseDeployment.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("cluster", "project", "pending_revision")
            .filter(pk=deployment_id)
            .first()
        )
        if deployment is None or deployment.status in DeploymentStatus.TERMINAL:
            return ReconcileOutcome(deployment_id=str(deployment_id), skipped=True)
        pass_ = _Pass(deployment, now or timezone.now())
        if deployment.status == DeploymentStatus.DELETING:
            pass_.delete()
        else:
            pass_.run()
        return pass_.finish()


def deployment_abandon_change(*, deployment: UseCaseDeployment, reason: str, now: datetime | None = None) -> None:
    """Cancel the pending revision of a deployment whose row the caller holds locked: its new parts stop and the
    revision running now serves on."""
    pass_ = _Pass(deployment, now or timezone.now())
    pass_._abandon(None, reason=reason, cancelled=True)
    pass_._aggregate()
    pass_.finish()


class _Pass:
    def __init__(self, deployment: UseCaseDeployment, now: datetime):
        self.deployment = deployment
        self.now = now
        live = list(deployment.components.filter(retired_at__isnull=True).select_related("job").order_by("created_at"))
        self.rows = [row for row in live if not row.is_candidate]
        self.candidates = [row for row in live if row.is_candidate]
        order = {component["key"]: index for index, component in enumerate(deployment.plan.get("components", []))}
        if deployment.pending_revision_id:
            pending_order = deployment.pending_revision.plan.get("components", [])
            order.update({c["key"]: i for i, c in enumerate(pending_order) if c["key"] not in order})
        self.rows.sort(key=lambda row: order.get(row.key, len(order)))
        self.candidates.sort(key=lambda row: order.get(row.key, len(order)))
        self.by_key = {row.key: row for row in self.rows}
        self.candidate_by_key = {row.key: row for row in self.candidates}
        self.max_retries = int(deployment.plan.get("max_retries", 2))
        self.submitted: list[str] = []
        self.failed_revision_message: str | None = None
        self.next_change_at: datetime | None = None

    # --- syncing with jobs ----------------------------------------------------------------------------------

    def _advance_cluster(self) -> None:
        """Let the driver move time forward for jobs that are queued or starting, and learn its next change."""
        live = self.rows + self.candidates
        if any(row.job and row.job.status in {"PENDING", "QUEUED"} for row in live):
            result = job_services.cluster_schedule_pass(
                cluster=self.deployment.cluster, now=self.now, bill_running=False
            )
            self.next_change_at = result.next_change_at
            for row in live:
                if row.job_id:
                    row.job.refresh_from_db()

    def _set(self, row: ComponentDeployment, status: str, message: str, *, kind: str = "component_status", **data):
        changed = row.status != status
        row.status = status
        row.status_message = message
        row.save()
        if changed:
            event_record(
                deployment=self.deployment,
                component=row,
                kind=kind,
                message=f"{row.key}: {message}",
                data={"key": row.key, "status": status, "attempt": row.attempt, "job_id": _id(row.job_id), **data},
            )

    def _sync_row(self, row: ComponentDeployment) -> None:
        job = row.job
        if job is None:
            return
        status = component_status_for_job(job.status)
        if status == ComponentStatus.RUNNING:
            if row.status != ComponentStatus.RUNNING:
                row.outputs = component_outputs(job.outputs, row.planned.get("output_specs", {}))
                row.has_run = True
                row.running_at = job.started_at or self.now
                self._set(row, status, "Running.", outputs=row.outputs)
        elif status == ComponentStatus.QUEUED:
            info = job_services.job_queue_info(job=job, now=self.now)
            predicted = info.get("predicted_start")
            when = f", predicted start {predicted:%Y-%m-%d %H:%M:%S} UTC" if predicted else ""
            message = (
                f"Queued on cluster {self.deployment.cluster.name}: position {info.get('queue_position')}{when}."
                f" {job.status_message}".rstrip()
            )
            self._set(row, status, message, queue_position=info.get("queue_position"))
        elif status == ComponentStatus.STARTING:
            self._set(row, status, f"Starting on cluster {self.deployment.cluster.name} (job {job.pk}).")
        elif status == ComponentStatus.SUCCEEDED:
            row.outputs = component_outputs(job.outputs, row.planned.get("output_specs", {}))
            self._set(row, status, "Completed.", outputs=row.outputs)
        elif row.status not in {ComponentStatus.FAILED, ComponentStatus.STOPPED}:
            # FAILED, or cancelled behind our back: both are failures of this attempt.
            reason = job.status_message or ("cancelled outside the deployment" if job.status == "CANCELLED" else "")
            self._fail(row, reason or "the job failed")

    def _fail(self, row: ComponentDeployment, reason: str) -> None:
        attempts = self.max_retries + 1
        if row.is_candidate:
            # A replacement that fails does not retry: the roll-out is abandoned and the old part keeps serving.
            self._set(row, ComponentStatus.FAILED, f"Replacement failed: {reason}")
            return
        if row.attempt < attempts:
            delay = backoff_seconds(row.attempt)
            self._set(row, ComponentStatus.FAILED, f"Attempt {row.attempt} of {attempts} failed: {reason}")
            row.retired_at = self.now
            row.save(update_fields=["retired_at", "updated_at"])
            retry = ComponentDeployment.objects.create(
                deployment=self.deployment,
                key=row.key,
                component_id=row.component_id,
                component_version=row.component_version,
                attempt=row.attempt + 1,
                job_type=row.job_type,
                depends_on=row.depends_on,
                planned=row.planned,
                config=row.config,
                env=row.env,
                resources=row.resources,
                has_run=row.has_run,
                next_attempt_at=self.now + timedelta(seconds=delay),
                status_message=(
                    f"Attempt {row.attempt} failed: {reason}. Retrying in {delay:g} s "
                    f"(attempt {row.attempt + 1} of {attempts})."
                ),
            )
            event_record(
                deployment=self.deployment,
                component=retry,
                kind="component_retry_scheduled",
                message=retry.status_message,
                data={"key": row.key, "attempt": retry.attempt, "retry_at": retry.next_attempt_at.isoformat()},
            )
            index = self.rows.index(row)
            self.rows[index] = retry
            self.by_key[row.key] = retry
        else:
            self._set(row, ComponentStatus.FAILED, f"Failed after {row.attempt} attempts: {reason}")

    # --- starting what is ready -----------------------------------------------------------------------------

    def _upstream(self, row: ComponentDeployment, key: str) -> ComponentDeployment:
        """What a row's dependency `key` is: a candidate consumes the new version of a part being replaced (an
        extra part of a component is not a version of it: the component keeps its address)."""
        candidate = self.candidate_by_key.get(key)
        if row.is_candidate and candidate is not None and not candidate.is_extra_part:
            return candidate
        return self.by_key[key]

    def _blocked_by(self, row: ComponentDeployment) -> list[ComponentDeployment]:
        upstream = [self._upstream(row, key) for key in row.depends_on]
        return [dep for dep in upstream if not dependency_ready(dep.status, dep.job_type)]

    def _try_start(self, row: ComponentDeployment) -> bool:
        if row.status != ComponentStatus.PENDING or row.job_id is not None:
            return False
        if row.next_attempt_at and row.next_attempt_at > self.now:
            return False
        blocked = self._blocked_by(row)
        if blocked:
            waiting = ", ".join(f"{dep.key} ({dep.status})" for dep in blocked)
            message = f"Waiting for {waiting}."
            if row.status_message != message:
                row.status_message = message
                row.save(update_fields=["status_message", "updated_at"])
            return False
        outputs = {key: self._upstream(row, key).outputs for key in row.depends_on}
        planned = row.planned
        try:
            env = render_component_refs(planned.get("env", {}), outputs)
            config = render_component_refs(planned.get("config", {}), outputs)
            spec = render_component_refs(planned.get("spec", {}), outputs)
        except ServiceError as exc:
            self._set(row, ComponentStatus.FAILED, f"Could not render its inputs: {exc.errors or exc.detail}")
            return True
        if env:
            spec["env"] = env
        try:
            job = job_services.job_submit(
                cluster=self.deployment.cluster,
                name=_job_name(self.deployment, row),
                job_type=row.job_type,
                tenant=self.deployment.tenant,
                project=self.deployment.project,
                resources=row.resources,
                spec=spec,
                source_type="USECASE",
                labels={
                    "usecase.deployment": str(self.deployment.pk),
                    "usecase.component": row.key,
                    "usecase.template": self.deployment.plan.get("template_id", ""),
                    **(planned.get("labels") or {}),
                },
                usecase_deployment_id=self.deployment.pk,
                component_deployment_id=row.pk,
                attempt=row.attempt,
            )
        except ServiceError as exc:
            self._set(row, ComponentStatus.FAILED, f"The cluster refused the job: {exc.errors or exc.detail}")
            return True
        row.job = job
        row.env = env
        row.config = config
        row.submitted_at = self.now
        row.save()
        self.submitted.append(row.key)
        event_record(
            deployment=self.deployment,
            component=row,
            kind="component_submitted",
            message=f"{row.key}: job {job.pk} submitted (attempt {row.attempt}).",
            data={"key": row.key, "job_id": str(job.pk), "attempt": row.attempt},
        )
        self._sync_row(row)
        return True

    def run(self) -> None:
        self._advance_cluster()
        for row in list(self.rows):
            self._sync_row(row)
        # Fixpoint: with zero start-up time a started component is RUNNING at once and unblocks its dependants
        # in the same pass, so a whole stack can come up in one reconcile.
        progress = True
        while progress:
            progress = False
            for row in list(self.rows):
                progress |= self._try_start(row)
        if self.deployment.pending_revision_id:
            self._roll_out()
        self._aggregate()

    # --- rolling out a revision (new-before-old) -------------------------------------------------------------

    def _roll_out(self) -> None:
        """Start the candidates as their dependencies allow; switch over once all run; abandon on a failure."""
        for row in list(self.candidates):
            self._sync_row(row)
        progress = True
        while progress:
            progress = False
            for row in list(self.candidates):
                progress |= self._try_start(row)
        failed = [row for row in self.candidates if row.status == ComponentStatus.FAILED]
        if failed:
            self._abandon(failed[0])
            return
        if not all(row.status in ComponentStatus.READY for row in self.candidates):
            return
        # Parts resized in place need their serving job running at the switch.
        for key in self._resized_in_place():
            row = self.by_key.get(key)
            if row is None or row.job is None or row.job.status != "RUNNING":
                self._abandon(None, reason=f"{key} stopped serving during the change; nothing was resized.")
                return
        self._promote()

    def _stop_row(self, row: ComponentDeployment, message: str) -> None:
        job = row.job
        if job is not None and job.status in LIVE_JOB_STATUSES:
            with contextlib.suppress(Conflict):  # finished meanwhile: nothing left to stop
                job_services.job_cancel(job=job, reason=message)
        self._set(row, ComponentStatus.STOPPED, message)
        row.retired_at = self.now
        row.save(update_fields=["retired_at", "updated_at"])

    def _resized_in_place(self) -> dict[str, str]:
        """Components the pending revision scales in place: key -> ADD_REPLICAS or REMOVE_REPLICAS."""
        components = self.deployment.pending_revision.change.get("components", [])
        modes = (ADD_REPLICAS, REMOVE_REPLICAS)
        return {c["key"]: c["scale_mode"] for c in components if c.get("scale_mode") in modes}

    def _resize_in_place(self, key: str, mode: str, revision) -> None:
        """Fewer replicas: the serving job shrinks. More: it absorbs the extra part that now runs beside it."""
        row = self.by_key[key]
        resources = revision.components[key]
        if mode == ADD_REPLICAS:
            part = self.candidate_by_key[key]
            job_services.job_absorb(job=row.job, part=part.job, now=self.now)
            self._set(part, ComponentStatus.STOPPED, f"Merged into {row.key}'s job {row.job_id}.")
            part.retired_at = self.now
            part.save(update_fields=["retired_at", "updated_at"])
        else:
            job_services.job_resize(job=row.job, replicas=int(resources.get("replicas", 1)), now=self.now)
        row.resources = resources
        row.planned = {**row.planned, "resources": resources}
        row.revision = revision.number
        row.save(update_fields=["resources", "planned", "revision", "updated_at"])
        event_record(
            deployment=self.deployment,
            component=row,
            kind="component_scaled",
            message=f"{key}: now {resources.get('replicas', 1)} replicas (revision {revision.number}).",
            data={"key": key, "replicas": resources.get("replicas", 1), "job_id": _id(row.job_id)},
        )

    def _promote(self) -> None:
        """Every new part runs: consumers already point at the new addresses, so stop the old parts (dependents
        first) and make the new ones current, all in this transaction."""
        revision = self.deployment.pending_revision
        removed = set(revision.change.get("summary", {}).get("removed", []))
        for key, mode in self._resized_in_place().items():
            self._resize_in_place(key, mode, revision)
        self.candidates = [row for row in self.candidates if not row.is_extra_part]
        replaced = {row.key for row in self.candidates}
        old_rows = [row for row in self.rows if row.key in replaced | removed]
        waves = delete_order({row.key: [d for d in row.depends_on if d in self.by_key] for row in self.rows})
        position = {key: index for index, wave in enumerate(waves) for key in wave}
        for row in sorted(old_rows, key=lambda r: position.get(r.key, 0)):
            verb = "Removed" if row.key in removed else "Replaced"
            self._stop_row(row, f"{verb} by revision {revision.number}.")
        for row in self.candidates:
            row.is_candidate = False
            row.save(update_fields=["is_candidate", "updated_at"])
        deployment = self.deployment
        deployment.plan = {
            **revision.plan,
            "hourly_cost_by_component": {
                key: str(job_services.estimate_hourly_cost(cluster=deployment.cluster, resources=resources))
                for key, resources in revision.components.items()
            },
        }
        deployment.plan["estimated_hourly_cost"] = str(
            sum(Decimal(v) for v in deployment.plan["hourly_cost_by_component"].values())
        )
        deployment.parameters = revision.parameters
        deployment.template_version = revision.template_version
        deployment.scale = revision.scale
        deployment.revision = revision.number
        deployment.pending_revision = None
        revision.status = revision.Status.APPLIED
        revision.completed_at = self.now
        revision.status_message = "Applied."
        revision.save(update_fields=["status", "status_message", "completed_at"])
        event_record(
            deployment=deployment,
            kind="revision_applied",
            message=f"Revision {revision.number} ({revision.kind}) applied.",
            data={"revision": revision.number, "kind": revision.kind},
        )
        self.rows = [row for row in self.rows if row.key not in replaced | removed] + self.candidates
        order = {c["key"]: i for i, c in enumerate(revision.plan.get("components", []))}
        self.rows.sort(key=lambda row: order.get(row.key, len(order)))
        self.by_key = {row.key: row for row in self.rows}
        self.candidates, self.candidate_by_key = [], {}

    def _abandon(
        self, failed: ComponentDeployment | None, reason: str | None = None, *, cancelled: bool = False
    ) -> None:
        """A new part failed (or the change was cancelled, or the deployment is being deleted): stop the new
        parts; the old ones serve on."""
        revision = self.deployment.pending_revision
        message = reason or f"{failed.key}: {failed.status_message}"
        for row in self.candidates:
            if row.status != ComponentStatus.FAILED:
                self._stop_row(row, f"Abandoned with revision {revision.number}.")
            else:
                row.retired_at = self.now
                row.save(update_fields=["retired_at", "updated_at"])
        revision.status = revision.Status.CANCELLED if cancelled else revision.Status.FAILED
        revision.completed_at = self.now
        revision.status_message = message
        revision.save(update_fields=["status", "status_message", "completed_at"])
        self.deployment.pending_revision = None
        self.candidates, self.candidate_by_key = [], {}
        self.failed_revision_message = (
            f"Revision {revision.number} ({revision.kind}) {revision.status}: {message} "
            f"Revision {self.deployment.revision} keeps serving."
        )
        event_record(
            deployment=self.deployment,
            kind=f"revision_{revision.status}",
            message=self.failed_revision_message,
            data={"revision": revision.number, "kind": revision.kind, "component": failed.key if failed else None},
        )

    def _aggregate(self) -> None:
        states = [
            ComponentState(
                key=row.key,
                status=row.status,
                has_run=row.has_run,
                retrying=row.status == ComponentStatus.PENDING and row.attempt > 1,
            )
            for row in self.rows
        ]
        status = aggregate_status(states)
        if self.deployment.pending_revision_id:
            revision = self.deployment.pending_revision
            ready = sum(1 for row in self.candidates if row.status in ComponentStatus.READY)
            waiting = "; ".join(
                f"{row.key}: {row.status_message}" for row in self.candidates if row.status not in ComponentStatus.READY
            )
            message = (
                f"Rolling out revision {revision.number} ({revision.kind}): {ready} of {len(self.candidates)} new "
                f"parts running; revision {self.deployment.revision} keeps serving. {waiting}"
            ).strip()
            self._set_deployment_status(DeploymentStatus.UPDATING, message)
            return
        message = self._summary(status)
        if self.failed_revision_message:
            message = f"{self.failed_revision_message} {message}"
        self._set_deployment_status(status, message)

    def _summary(self, status: str) -> str:
        total = len(self.rows)
        ready = sum(1 for row in self.rows if row.status in ComponentStatus.READY)
        if status == DeploymentStatus.RUNNING:
            return f"All {total} components are running."
        failed = [row for row in self.rows if row.status == ComponentStatus.FAILED]
        if status == DeploymentStatus.FAILED and failed:
            return f"Component {failed[0].key} failed: {failed[0].status_message}"
        not_ready = [row for row in self.rows if row.status not in ComponentStatus.READY]
        details = "; ".join(f"{row.key}: {row.status_message}" for row in not_ready[:3])
        return f"{ready} of {total} components ready. {details}".strip()

    def _set_deployment_status(self, status: str, message: str) -> None:
        deployment = self.deployment
        previous = deployment.status
        deployment.status = status
        deployment.status_message = message
        if previous != status:
            event_record(
                deployment=deployment,
                kind="status",
                message=f"{previous} -> {status}: {message}",
                data={"from": previous, "status": status},
            )

    # --- deleting ---------------------------------------------------------------------------------------------

    def delete(self) -> None:
        """Stop components dependents-first; DELETED once every component is stopped."""
        if self.deployment.pending_revision_id:
            self._abandon(None, reason="the deployment is being deleted.")
        waves = delete_order({row.key: [d for d in row.depends_on if d in self.by_key] for row in self.rows})
        for wave in waves:
            for key in wave:
                row = self.by_key[key]
                if row.status == ComponentStatus.STOPPED:
                    continue
                job = row.job
                if job is not None and job.status in LIVE_JOB_STATUSES:
                    with contextlib.suppress(Conflict):  # finished meanwhile: nothing left to stop
                        job_services.job_cancel(job=job, reason="deployment deleted")
                    job.refresh_from_db()
                if job is not None and job.status in LIVE_JOB_STATUSES:
                    # A real driver stops asynchronously: wait for this wave before stopping what it depends on.
                    self._set(row, ComponentStatus.STOPPING, "Stopping.")
                    continue
                self._set(row, ComponentStatus.STOPPED, "Stopped: deployment deleted.")
            if any(self.by_key[key].status != ComponentStatus.STOPPED for key in wave):
                return
        self._set_deployment_status(DeploymentStatus.DELETED, f"Deleted; {len(self.rows)} components stopped.")

    # --- bookkeeping ------------------------------------------------------------------------------------------

    def _next_delay(self) -> float | None:
        """Seconds until the next pass: the earliest retry or driver change; None once nothing is expected."""
        status = self.deployment.status
        if status in DeploymentStatus.TERMINAL or status == DeploymentStatus.RUNNING:
            return None
        waiting_on_driver = {ComponentStatus.QUEUED, ComponentStatus.STARTING, ComponentStatus.STOPPING}
        live = self.rows + self.candidates
        if self.next_change_at is None and any(row.status in waiting_on_driver for row in live):
            self.next_change_at = job_services.cluster_schedule_pass(
                cluster=self.deployment.cluster, now=self.now, bill_running=False
            ).next_change_at
        moments = [row.next_attempt_at for row in live if row.status == ComponentStatus.PENDING and row.next_attempt_at]
        if self.next_change_at is not None:
            moments.append(self.next_change_at)
        if not moments:
            return FALLBACK_DELAY
        delay = (min(moments) - self.now).total_seconds()
        return max(MIN_DELAY, min(MAX_DELAY, delay))

    def finish(self) -> ReconcileOutcome:
        deployment = self.deployment
        delay = self._next_delay()
        deployment.last_reconciled_at = self.now
        deployment.next_reconcile_at = self.now + timedelta(seconds=delay) if delay is not None else None
        deployment.save(
            update_fields=[
                "status",
                "status_message",
                "last_reconciled_at",
                "next_reconcile_at",
                "updated_at",
                "plan",
                "parameters",
                "template_version",
                "scale",
                "revision",
                "pending_revision",
            ]
        )
        if delay is not None:
            reconcile_enqueue(deployment_id=deployment.pk, delay=delay)
        return ReconcileOutcome(
            deployment_id=str(deployment.pk), status=deployment.status, submitted=self.submitted, next_delay=delay
        )


def _id(value) -> str | None:
    return str(value) if value else None


def _job_name(deployment: UseCaseDeployment, row: ComponentDeployment) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", deployment.name.lower()).strip("-")[:40] or "deployment"
    # A replaced component (new generation) gets a new name, so a new address its consumers are re-rendered to;
    # a scaled one keeps its name and address; an extra part (replicas that join it) is named after its revision.
    suffix = f"-g{row.generation}" if row.generation > 1 else ""
    if row.is_extra_part:
        suffix += f"-r{row.revision}"
    return f"{base}-{row.key}{suffix}"[:63].strip("-")
