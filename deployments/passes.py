"""One reconcile pass over one locked deployment: its live rows in plan order, and the deployment they add up to.

The pass holds the serving rows and a pending revision's candidates, and the primitives every step is written
with: set a row's status (an event when it changes), retire or replace a row, find a row's upstream, run the
cluster's scheduling pass, aggregate the deployment's status and `finish` (save it, queue the next pass). The
steps themselves are modules of their own, each over a pass: `syncing` (rows follow their jobs, a failed attempt
retries), `starting` (the fixpoint start loop), `stopping` (one row, or all dependents-first) and `rollout`;
`deployments.reconciler` runs them in order.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from deployments.models import ComponentDeployment, DeploymentEvent, UseCaseDeployment
from deployments.records import reconcile_enqueue
from deployments.state import ComponentState, ComponentStatus, DeploymentStatus, aggregate_status
from jobs import services as job_services
from jobs.drivers.writes import rows_update

FALLBACK_DELAY = 5.0  # when waiting on something whose time the driver cannot predict (capacity freed by others)
MAX_DELAY = 30.0
MIN_DELAY = 0.02
WAITING_ON_DRIVER = frozenset({ComponentStatus.QUEUED, ComponentStatus.STARTING, ComponentStatus.STOPPING})
# What recording a submission and syncing a row with its job change on the row (written together by `batched`).
BATCHED_FIELDS = [
    "job",
    "env",
    "config",
    "submitted_at",
    "status",
    "status_message",
    "outputs",
    "has_run",
    "running_at",
    "updated_at",
]


class ReconcilePass:
    """The rows of a deployment whose row the caller holds locked, and the moment the pass runs at (`rows`: its live
    rows when the caller holds them already, as the create does, read otherwise; `events`: unsaved events of the
    caller's, written first with the pass's own)."""

    def __init__(
        self,
        deployment: UseCaseDeployment,
        now: datetime,
        rows: list[ComponentDeployment] | None = None,
        events: list[DeploymentEvent] = (),
    ):
        self.deployment = deployment
        self.now = now
        if rows is None:
            rows = deployment.components.filter(retired_at__isnull=True).select_related("job").order_by("created_at")
        live = list(rows)
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
        self._batch: dict | None = None  # rows to save at the end of the waves under way (`batched`)
        self._events: list[DeploymentEvent] = list(events)  # the pass's events, written together (`flush`, `finish`)
        self._waiting: dict = {}  # rows whose "Waiting for ..." message is still to be written (`note_waiting`)

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
        self.save_row(row)
        if changed:
            self.record_event(
                component=row,
                kind=DeploymentEvent.Kind.COMPONENT_STATUS,
                message=f"{row.key}: {message}",
                data={"key": row.key, "status": status, "attempt": row.try_number, "job_id": _id(row.job_id), **data},
            )

    def save_row(self, row: ComponentDeployment) -> None:
        """Save a row now, or at the end of the batch under way."""
        self._waiting.pop(row.pk, None)  # the save writes its message too
        if self._batch is None:
            row.save()
        else:
            self._batch[row.pk] = row

    def note_waiting(self, row: ComponentDeployment, message: str) -> None:
        """A row's new "Waiting for ..." message, written at the end of the pass unless the row is saved before (a
        row whose dependencies come up in this pass is submitted and saved by it: no write of a passing message)."""
        row.status_message = message
        self._waiting[row.pk] = row

    def record_event(self, **fields) -> None:
        """Append an event to the deployment's timeline; the pass's events are written together, in order, by one
        INSERT (`flush`), not one INSERT each."""
        self._events.append(DeploymentEvent(deployment=self.deployment, **fields))

    @contextlib.contextmanager
    def batched(self):
        """Collect the row saves of a wave's submissions, then write them as one UPDATE, instead of two saves per
        row (their events go with the pass's others). Inside a batch already (`start_ready` batches all its waves),
        the outer one writes."""
        if self._batch is not None:
            yield
            return
        self._batch = {}
        try:
            yield
            self._write_batch()
        finally:
            self._batch = None

    def _write_batch(self) -> None:
        if self._batch:
            now = timezone.now()
            for row in self._batch.values():
                row.updated_at = now
            rows_write(list(self._batch.values()), BATCHED_FIELDS)
        if self._batch is not None:
            self._batch = {}

    def flush(self) -> None:
        """Write the rows of the batch under way and the events recorded so far (before a write that must follow
        them, such as a retry's row, and at the end of the pass)."""
        self._write_batch()
        if self._events:
            DeploymentEvent.objects.bulk_create(self._events)
            self._events = []

    def _write_waiting(self) -> None:
        rows = list(self._waiting.values())
        self._waiting = {}
        if len(rows) == 1:
            rows[0].save(update_fields=["status_message", "updated_at"])
        elif rows:
            now = timezone.now()
            for row in rows:
                row.updated_at = now
            rows_write(rows, ["status_message", "updated_at"])

    def retire(self, row: ComponentDeployment) -> None:
        self.flush()  # the row's last status and its event come before its retirement and its retry
        row.retired_at = self.now
        row.save(update_fields=["retired_at", "updated_at"])

    def replace(self, row: ComponentDeployment, new: ComponentDeployment) -> None:
        """Put `new` (a retry) in the place of the serving `row`."""
        self.rows[self.rows.index(row)] = new
        self.by_key[row.key] = new

    def upstream(self, row: ComponentDeployment, key: str) -> ComponentDeployment:
        """What a row's dependency `key` is: a candidate consumes the new version of a part being replaced (an
        extra part of a component is not a version of it: the component keeps its address)."""
        candidate = self.candidate_by_key.get(key)
        if row.is_candidate and candidate is not None and not candidate.is_extra_part:
            return candidate
        return self.by_key[key]

    def schedule_pass(self) -> datetime | None:
        """Run the cluster's scheduling pass (without billing) and return when the driver expects its next change."""
        return job_services.cluster_schedule_pass(
            cluster=self.deployment.cluster, now=self.now, bill_running=False
        ).next_change_at

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
        if status == DeploymentStatus.SCALED_TO_ZERO:
            zero = [row.key for row in self.rows if row.status == ComponentStatus.SCALED_TO_ZERO]
            return f"Scaled to zero: {', '.join(zero)} (no job, no cost); the first request starts it again."
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
            self.record_event(
                kind=DeploymentEvent.Kind.STATUS,
                message=f"{previous} -> {status}: {message}",
                data={"from": previous, "status": status},
            )

    def next_delay(self) -> float | None:
        """Seconds until the next pass: the earliest retry or driver change; None once nothing is expected."""
        status = self.deployment.status
        if status in DeploymentStatus.TERMINAL or status in {DeploymentStatus.RUNNING, DeploymentStatus.SCALED_TO_ZERO}:
            return None
        live = self.rows + self.candidates
        if self.next_change_at is None and any(row.status in WAITING_ON_DRIVER for row in live):
            self.next_change_at = self.schedule_pass()
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
        self._write_waiting()
        self.flush()
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


def rows_write(rows: list[ComponentDeployment], fields: list[str]) -> None:
    """Write these columns of each row in one UPDATE. On PostgreSQL the rows go as a VALUES list
    (`jobs.drivers.writes.rows_update`): Django's `bulk_update` builds a CASE WHEN per row and column in Python, about
    12 ms of CPU for a wave of three rows and ten columns, a tenth of a deployment's create. Elsewhere (SQLite)
    `bulk_update`, one statement too."""
    if connection.vendor != "postgresql":
        ComponentDeployment.objects.bulk_update(rows, fields)
        return
    meta = ComponentDeployment._meta
    attnames = {name: meta.get_field(name).attname for name in fields}  # a foreign key goes as its id
    rows_update(ComponentDeployment, {row.pk: {name: getattr(row, attnames[name]) for name in fields} for row in rows})


def plan_order(plan: dict) -> dict[str, int]:
    """A stored plan's component keys -> their place in its start order."""
    return {component["key"]: index for index, component in enumerate(plan.get("components", []))}


def _id(value) -> str | None:
    return str(value) if value else None
