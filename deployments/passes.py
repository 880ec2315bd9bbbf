"""One reconcile pass over one locked deployment: its component rows and what is done to a single row.

The pass holds the live rows (serving ones and a pending revision's candidates) in plan order and offers the
steps the reconciler (`deployments.reconciler`) and the roll-out (`deployments.rollout`) are written with:
sync a row with its job, fail and retry it, start what is ready, stop a row, aggregate the deployment status
and save it with the time of the next pass.
"""

from __future__ import annotations

import contextlib
import re
from datetime import datetime, timedelta

from core.exceptions import Conflict, ServiceError
from deployments.models import ComponentDeployment, DeploymentEvent, UseCaseDeployment
from deployments.records import component_row, event_record, reconcile_enqueue
from deployments.state import (
    ComponentState,
    ComponentStatus,
    DeploymentStatus,
    aggregate_status,
    backoff_seconds,
    component_outputs,
    component_status_for_job,
    dependency_ready,
)
from jobs import selectors as job_selectors
from jobs import services as job_services
from jobs.models import Job
from templates_app.rendering import render_component_refs

FALLBACK_DELAY = 5.0  # when waiting on something whose time the driver cannot predict (capacity freed by others)
MAX_DELAY = 30.0
MIN_DELAY = 0.02
WAITING_ON_DRIVER = frozenset({ComponentStatus.QUEUED, ComponentStatus.STARTING, ComponentStatus.STOPPING})


class ReconcilePass:
    """The rows of a deployment whose row the caller holds locked, and the moment the pass runs at."""

    def __init__(self, deployment: UseCaseDeployment, now: datetime):
        self.deployment = deployment
        self.now = now
        live = list(deployment.components.filter(retired_at__isnull=True).select_related("job").order_by("created_at"))
        self.rows = [row for row in live if not row.is_candidate]
        self.candidates = [row for row in live if row.is_candidate]
        order = plan_order(deployment.plan)
        if deployment.pending_revision_id:
            pending = plan_order(deployment.pending_revision.plan)
            order.update({key: index for key, index in pending.items() if key not in order})
        self.candidates.sort(key=lambda row: order.get(row.key, len(order)))
        self.reorder(order)
        self.candidate_by_key = {row.key: row for row in self.candidates}
        self.max_retries = int(deployment.plan.get("max_retries", 2))
        self.submitted: list[str] = []
        self.failed_revision_message: str | None = None
        self.next_change_at: datetime | None = None

    def reorder(self, order: dict[str, int]) -> None:
        """Sort the serving rows by a plan's order and index them by key."""
        self.rows.sort(key=lambda row: order.get(row.key, len(order)))
        self.by_key = {row.key: row for row in self.rows}

    # --- one row ----------------------------------------------------------------------------------------------

    def set_status(self, row: ComponentDeployment, status: str, message: str, **data):
        """Save a row's status and message; a change of status is an event."""
        changed = row.status != status
        row.status = status
        row.status_message = message
        row.save()
        if changed:
            event_record(
                deployment=self.deployment,
                component=row,
                kind=DeploymentEvent.Kind.COMPONENT_STATUS,
                message=f"{row.key}: {message}",
                data={"key": row.key, "status": status, "attempt": row.try_number, "job_id": _id(row.job_id), **data},
            )

    def retire(self, row: ComponentDeployment) -> None:
        row.retired_at = self.now
        row.save(update_fields=["retired_at", "updated_at"])

    def stop(self, row: ComponentDeployment, message: str) -> None:
        """Cancel a row's job if it still lives, and retire the row as STOPPED."""
        job = row.job
        if job is not None and job.status in Job.Status.ACTIVE:
            with contextlib.suppress(Conflict):  # finished meanwhile: nothing left to stop
                job_services.job_cancel(job=job, reason=message)
        self.set_status(row, ComponentStatus.STOPPED, message)
        self.retire(row)

    def advance_cluster(self) -> None:
        """Let the driver move time forward for jobs that are queued or starting, and learn its next change."""
        live = self.rows + self.candidates
        if any(row.job and row.job.status in {Job.Status.PENDING, Job.Status.QUEUED} for row in live):
            self.next_change_at = self._schedule_pass()
            for row in live:
                if row.job_id:
                    row.job.refresh_from_db()

    def _schedule_pass(self) -> datetime | None:
        return job_services.cluster_schedule_pass(
            cluster=self.deployment.cluster, now=self.now, bill_running=False
        ).next_change_at

    def sync(self, row: ComponentDeployment) -> None:
        """Bring a row's status in line with its job's."""
        job = row.job
        if job is None:
            return
        status = component_status_for_job(job.status)
        if status == ComponentStatus.RUNNING:
            if row.status != ComponentStatus.RUNNING:
                row.outputs = component_outputs(job.outputs, row.planned.get("output_specs", {}))
                row.has_run = True
                row.running_at = job.started_at or self.now
                self.set_status(row, status, "Running.", outputs=row.outputs)
        elif status == ComponentStatus.QUEUED:
            info = job_selectors.job_queue_info(job=job, now=self.now)
            predicted = info.get("predicted_start")
            when = f", predicted start {predicted:%Y-%m-%d %H:%M:%S} UTC" if predicted else ""
            message = (
                f"Queued on cluster {self.deployment.cluster.name}: position {info.get('queue_position')}{when}."
                f" {job.status_message}".rstrip()
            )
            self.set_status(row, status, message, queue_position=info.get("queue_position"))
        elif status == ComponentStatus.STARTING:
            self.set_status(row, status, f"Starting on cluster {self.deployment.cluster.name} (job {job.pk}).")
        elif status == ComponentStatus.SUCCEEDED:
            row.outputs = component_outputs(job.outputs, row.planned.get("output_specs", {}))
            self.set_status(row, status, "Completed.", outputs=row.outputs)
        elif row.status not in {ComponentStatus.FAILED, ComponentStatus.STOPPED}:
            # FAILED, or cancelled behind our back: both are failures of this attempt.
            reason = job.status_message or (
                "cancelled outside the deployment" if job.status == Job.Status.CANCELLED else ""
            )
            self.fail(row, reason or "the job failed")

    def fail(self, row: ComponentDeployment, reason: str) -> None:
        """A row's attempt failed: retry it after a back-off in a new row, or fail it for good."""
        attempts = self.max_retries + 1
        if row.is_candidate:
            # A replacement that fails does not retry: the roll-out is abandoned and the old part keeps serving.
            self.set_status(row, ComponentStatus.FAILED, f"Replacement failed: {reason}")
            return
        tries = row.try_number  # per part: the changes that made new rows before it are not failures
        if tries >= attempts:
            self.set_status(row, ComponentStatus.FAILED, f"Failed after {tries} attempts: {reason}")
            return
        delay = backoff_seconds(tries)
        self.set_status(row, ComponentStatus.FAILED, f"Attempt {tries} of {attempts} failed: {reason}")
        self.retire(row)
        retry = component_row(
            deployment=self.deployment,
            planned=row.planned,
            key=row.key,
            component_id=row.component_id,
            component_version=row.component_version,
            job_type=row.job_type,
            depends_on=row.depends_on,
            config=row.config,
            env=row.env,
            resources=row.resources,
            attempt=row.attempt + 1,
            try_number=tries + 1,
            has_run=row.has_run,
            next_attempt_at=self.now + timedelta(seconds=delay),
            status_message=(
                f"Attempt {tries} failed: {reason}. Retrying in {delay:g} s (attempt {tries + 1} of {attempts})."
            ),
        )
        retry.save()
        event_record(
            deployment=self.deployment,
            component=retry,
            kind=DeploymentEvent.Kind.COMPONENT_RETRY_SCHEDULED,
            message=retry.status_message,
            data={"key": row.key, "attempt": retry.try_number, "retry_at": retry.next_attempt_at.isoformat()},
        )
        self.rows[self.rows.index(row)] = retry
        self.by_key[row.key] = retry

    # --- starting what is ready -------------------------------------------------------------------------------

    def start_ready(self, rows: list[ComponentDeployment]) -> None:
        """Start every row whose dependencies are ready, a wave at a time, until nothing more starts. A wave's jobs
        are submitted together and admitted by one scheduling pass; with zero start-up time they are RUNNING at
        once and unblock their dependants, so a whole stack comes up in one reconcile pass."""
        while True:
            wave = [row for row in list(rows) if self._ready(row)]
            if not wave:
                return
            self._start_wave(wave)

    def upstream(self, row: ComponentDeployment, key: str) -> ComponentDeployment:
        """What a row's dependency `key` is: a candidate consumes the new version of a part being replaced (an
        extra part of a component is not a version of it: the component keeps its address)."""
        candidate = self.candidate_by_key.get(key)
        if row.is_candidate and candidate is not None and not candidate.is_extra_part:
            return candidate
        return self.by_key[key]

    def _ready(self, row: ComponentDeployment) -> bool:
        """A row not yet submitted whose retry time has come and whose dependencies are ready (otherwise its
        message says what it waits for)."""
        if row.status != ComponentStatus.PENDING or row.job_id is not None:
            return False
        if row.next_attempt_at and row.next_attempt_at > self.now:
            return False
        upstream = [self.upstream(row, key) for key in row.depends_on]
        blocked = [dep for dep in upstream if not dependency_ready(dep.status, dep.job_type)]
        if blocked:
            message = f"Waiting for {', '.join(f'{dep.key} ({dep.status})' for dep in blocked)}."
            if row.status_message != message:
                row.status_message = message
                row.save(update_fields=["status_message", "updated_at"])
            return False
        return True

    def _start_wave(self, wave: list[ComponentDeployment]) -> None:
        """Render each row's inputs from its upstream outputs, submit the wave's jobs in one call (one transaction,
        one scheduling pass), then record each submission. A refused wave is submitted row by row, so each row
        fails with its own reason."""
        rendered = []
        for row in wave:
            outputs = {key: self.upstream(row, key).outputs for key in row.depends_on}
            planned = row.planned
            try:
                env = render_component_refs(planned.get("env", {}), outputs)
                config = render_component_refs(planned.get("config", {}), outputs)
                spec = render_component_refs(planned.get("spec", {}), outputs)
            except ServiceError as exc:
                self.set_status(row, ComponentStatus.FAILED, f"Could not render its inputs: {exc.errors or exc.detail}")
                continue
            if env:
                spec["env"] = env
            rendered.append((row, env, config, self._job_request(row, spec)))
        if not rendered:
            return
        try:
            jobs = job_services.jobs_submit_many(
                cluster=self.deployment.cluster, jobs=[request for *_, request in rendered]
            )
        except ServiceError:
            jobs = []
            for *_, request in rendered:
                try:
                    jobs.append(job_services.job_submit(cluster=self.deployment.cluster, **request))
                except ServiceError as exc:
                    jobs.append(exc)
        for (row, env, config, _request), job in zip(rendered, jobs, strict=True):
            if isinstance(job, ServiceError):
                self.set_status(row, ComponentStatus.FAILED, f"The cluster refused the job: {job.errors or job.detail}")
                continue
            self._record_submission(row, job, env=env, config=config)

    def _job_request(self, row: ComponentDeployment, spec: dict) -> dict:
        deployment = self.deployment
        return {
            "name": job_name(deployment, row),
            "job_type": row.job_type,
            "tenant": deployment.tenant,
            "project": deployment.project,
            "resources": row.resources,
            "spec": spec,
            "source_type": "USECASE",
            "labels": {
                "usecase.deployment": str(deployment.pk),
                "usecase.component": row.key,
                "usecase.template": deployment.plan.get("template_id", ""),
                **(row.planned.get("labels") or {}),
            },
            "usecase_deployment_id": deployment.pk,
            "component_deployment_id": row.pk,
            "attempt": row.attempt,
        }

    def _record_submission(self, row: ComponentDeployment, job, *, env: dict, config: dict) -> None:
        row.job = job
        row.env = env
        row.config = config
        row.submitted_at = self.now
        row.save()
        self.submitted.append(row.key)
        event_record(
            deployment=self.deployment,
            component=row,
            kind=DeploymentEvent.Kind.COMPONENT_SUBMITTED,
            message=f"{row.key}: job {job.pk} submitted (attempt {row.try_number}).",
            data={"key": row.key, "job_id": str(job.pk), "attempt": row.try_number},
        )
        self.sync(row)

    # --- the deployment ---------------------------------------------------------------------------------------

    def aggregate(self) -> None:
        """The deployment's status and message from its rows (or from the roll-out under way)."""
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
            self.set_deployment_status(DeploymentStatus.UPDATING, message)
            return
        states = [
            ComponentState(
                key=row.key,
                status=row.status,
                has_run=row.has_run,
                retrying=row.status == ComponentStatus.PENDING and row.try_number > 1,
            )
            for row in self.rows
        ]
        status = aggregate_status(states)
        message = self._summary(status)
        if self.failed_revision_message:
            message = f"{self.failed_revision_message} {message}"
        self.set_deployment_status(status, message)

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

    def set_deployment_status(self, status: str, message: str) -> None:
        """Set (not yet save) the deployment's status; a change of status is an event."""
        deployment = self.deployment
        previous = deployment.status
        deployment.status = status
        deployment.status_message = message
        if previous != status:
            event_record(
                deployment=deployment,
                kind=DeploymentEvent.Kind.STATUS,
                message=f"{previous} -> {status}: {message}",
                data={"from": previous, "status": status},
            )

    def next_delay(self) -> float | None:
        """Seconds until the next pass: the earliest retry or driver change; None once nothing is expected."""
        status = self.deployment.status
        if status in DeploymentStatus.TERMINAL or status == DeploymentStatus.RUNNING:
            return None
        live = self.rows + self.candidates
        if self.next_change_at is None and any(row.status in WAITING_ON_DRIVER for row in live):
            self.next_change_at = self._schedule_pass()
        moments = [row.next_attempt_at for row in live if row.status == ComponentStatus.PENDING and row.next_attempt_at]
        if self.next_change_at is not None:
            moments.append(self.next_change_at)
        if not moments:
            return FALLBACK_DELAY
        delay = (min(moments) - self.now).total_seconds()
        return max(MIN_DELAY, min(MAX_DELAY, delay))

    def finish(self) -> float | None:
        """Save the deployment and queue its next pass when something is still expected; returns that delay."""
        deployment = self.deployment
        delay = self.next_delay()
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
        return delay


def plan_order(plan: dict) -> dict[str, int]:
    """A stored plan's component keys -> their place in its start order."""
    return {component["key"]: index for index, component in enumerate(plan.get("components", []))}


def job_name(deployment: UseCaseDeployment, row: ComponentDeployment) -> str:
    """The job's name: the deployment's, then the component's key."""
    base = re.sub(r"[^a-z0-9-]+", "-", deployment.name.lower()).strip("-")[:40] or "deployment"
    # A replaced component (new generation) gets a new name, so a new address its consumers are re-rendered to;
    # a scaled one keeps its name and address; an extra part (replicas that join it) is named after its revision.
    suffix = f"-g{row.generation}" if row.generation > 1 else ""
    if row.is_extra_part:
        suffix += f"-r{row.revision}"
    return f"{base}-{row.key}{suffix}"[:63].strip("-")


def _id(value) -> str | None:
    return str(value) if value else None
