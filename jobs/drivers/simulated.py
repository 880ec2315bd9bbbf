"""The simulated driver: a cluster that lives in the database and behaves like a real one.

It admits jobs only into free capacity, starts them after a configurable start-up time, finishes BATCH and
TRAINING jobs after their duration, injects failures deterministically (cluster seed + job id) and bills
from started_at. All timing is exact: a job that ends between two passes is recorded with the moment it
ended, not the moment a pass noticed.
"""

from __future__ import annotations

import logging
from collections import deque
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Case, F, Q, Sum, When

from jobs.drivers.base import ClusterDriver, Forecast, JobForecast, SchedulePassResult
from jobs.drivers.queues import cluster_quota_book, line_key, publish_waits, save_fair_share
from jobs.models import Cluster, Job, check_transition
from jobs.resume import checkpoint_fields, interruption_fields, resumes_on_failure
from jobs.scheduling import SERVICE, Capacity, Demand, ListQueue, PlanJob, Planner, order_key
from jobs.simulation import failure_message, startup_seconds
from jobs.validation import dns_label
from sizing.loadsim import LoadProfile, Serving, Window, simulate_llm, simulate_service

logger = logging.getLogger(__name__)

WAITING = (Job.Status.PENDING, Job.Status.QUEUED)
HOLDING = (Job.Status.PENDING, Job.Status.RUNNING)
# A queue is read a few rows at a time (doubling): a blocked line costs a handful of rows, not thousands.
FIRST_CHUNK = 8
MAX_CHUNK = 512
BILLING_STEP = Decimal("0.01")
# Mean request latency of a simulated non-LLM component, by source kind (a vector search, an API hop).
SERVICE_LATENCY_S = {"helm": 0.015, "docker": 0.030, "default": 0.020}
DEFAULT_PORTS = {"helm": 80, "docker": 8080, "model": 8000}
# What a pass reads of a job: enough to plan and bill (big or unused columns stay in the table). Not the spec: it
# is encrypted and a pass needs only its kind (a column); a job not yet running brings its spec as `start_spec`
# (`with_start_spec`), for the outputs it publishes when it starts.
PASS_FIELDS = (
    "id",
    "name",
    "job_type",
    "status",
    "resources",
    "kind",
    "simulated_failure",
    "priority",
    "sequence",
    "duration_seconds",
    "admitted_at",
    "started_at",
    "hourly_rate",
    "cost_before_rate",
    "rate_since",
    "actual_cost",
    "checkpoint_interval_minutes",
    "work_resumed_from_seconds",
    "checkpoint_work_seconds",
    "last_checkpoint_at",
    "checkpoints",
    "resumes",
    "work_lost_seconds",
    "resume_history",
    "cluster_queue",
    "status_message",
)


def plan_job(job: Job, simulation: dict) -> PlanJob:
    return PlanJob(
        id=job.pk,
        demand=Demand.from_resources(job.resources),
        order=order_key(job.priority, job.sequence, job.pk),
        job_type=job.job_type,
        startup=startup_seconds(simulation, kind=job.kind, job_type=job.job_type),
        duration=job.remaining_seconds,  # a resumed job runs what its checkpoint left to do
        fails=job.simulated_failure or None,
        admitted_at=job.admitted_at,
        started_at=job.started_at,
        queue=job.cluster_queue_id,
    )


def with_start_spec(queryset):
    """The pass's columns, and the spec of each job not yet running (decrypted: a running job's stays as it is)."""
    spec = Job._meta.get_field("spec")
    return queryset.only(*PASS_FIELDS).annotate(
        start_spec=Case(When(~Q(status=Job.Status.RUNNING), then=F("spec")), default=None, output_field=spec)
    )


def job_outputs(job: Job, spec: dict | None) -> dict:
    """The in-cluster address of a running job (`spec`: its spec)."""
    spec = spec or {}
    namespace = dns_label(str(spec.get("namespace") or "default"), fallback="default")
    host = f"{dns_label(job.name, fallback=f'job-{str(job.pk)[:8]}')}.{namespace}.svc.cluster.local"
    port = spec.get("port") or DEFAULT_PORTS.get(spec.get("kind"), 8080)
    return {"url": f"http://{host}:{port}", "host": host, "port": port}


def holding_plans(
    cluster: Cluster, simulation: dict, rows: dict, *, summarise_quiet: bool, starting: bool = False
) -> tuple[list, list]:
    """The admitted jobs the planner must replay, and the capacity held by the ones it need not.

    A SERVICE that is RUNNING has no event ahead of it: it only holds capacity. With `summarise_quiet`, those
    are summed by the database (one query, whatever their number) and only the jobs with events ahead (starting,
    batch) are read, so a pass or a forecast costs the same with 10 or 10,000 services running. Jobs under a
    quota are always read: the quota counts them and preemption may pick them. With `starting` (a pass) the jobs
    not yet running bring their specs (`with_start_spec`).
    """
    held: list[Demand] = []
    holding = Job.objects.filter(cluster=cluster, status__in=HOLDING, admitted_at__isnull=False)
    if summarise_quiet:
        quiet = holding.filter(status=Job.Status.RUNNING, job_type=SERVICE, cluster_queue__isnull=True)
        sums = (
            quiet.order_by()
            .values("queue_key")
            .annotate(gpus=Sum("demand_gpus"), millicores=Sum("demand_millicores"), memory_mib=Sum("demand_memory_mib"))
        )
        for row in sums:
            gpus = row["gpus"] or 0
            held.append(
                Demand(
                    gpu_type=row["queue_key"] if gpus else None,
                    gpus=gpus,
                    millicores=row["millicores"] or 0,
                    memory_mib=row["memory_mib"] or 0,
                )
            )
        holding = holding.exclude(status=Job.Status.RUNNING, job_type=SERVICE, cluster_queue__isnull=True)
    active = []
    for job in with_start_spec(holding) if starting else holding.only(*PASS_FIELDS):
        rows[job.pk] = job
        active.append(plan_job(job, simulation))
    return held, active


def waiting_queryset(cluster: Cluster):
    return Job.objects.filter(cluster=cluster, status__in=WAITING, admitted_at__isnull=True)


class _DbQueue:
    """One scheduling line read lazily from the database in priority/FIFO order (keyset pagination)."""

    def __init__(self, queryset, simulation: dict, rows: dict):
        self._queryset = with_start_spec(queryset).order_by("-priority", "sequence", "id")
        self._simulation = simulation
        self._rows = rows
        self._buffer: deque[PlanJob] = deque()
        self._last: Job | None = None
        self._exhausted = False
        self._chunk = FIRST_CHUNK

    def _fill(self) -> None:
        queryset = self._queryset
        if self._last is not None:
            p, n, i = self._last.priority, self._last.sequence, self._last.pk
            queryset = queryset.filter(
                Q(priority__lt=p) | Q(priority=p, sequence__gt=n) | Q(priority=p, sequence=n, id__gt=i)
            )
        chunk = list(queryset[: self._chunk])
        self._exhausted = len(chunk) < self._chunk
        self._chunk = min(self._chunk * 2, MAX_CHUNK)
        for job in chunk:
            self._rows[job.pk] = job
            self._buffer.append(plan_job(job, self._simulation))
        if chunk:
            self._last = chunk[-1]

    def peek(self) -> PlanJob | None:
        if not self._buffer and not self._exhausted:
            self._fill()
        return self._buffer[0] if self._buffer else None

    def pop(self) -> PlanJob:
        return self._buffer.popleft()


class SimulatedDriver(ClusterDriver):
    def submission_fields(self, *, cluster: Cluster, job_id, labels: dict) -> dict:
        return {"simulated_failure": failure_message(cluster.simulation or {}, job_id=job_id, labels=labels) or ""}

    def submit(self, *, job: Job) -> None:
        # Nothing to hand over: the database is the simulated cluster; the next pass admits the job.
        return None

    def cancel(self, *, job: Job, now: datetime) -> None:
        return None

    # --- one pass ------------------------------------------------------------------------------------------

    def read_metrics(
        self, *, job: Job, start: datetime, end: datetime, profile: LoadProfile, serving: Serving | None
    ) -> list[Window]:
        """Minute windows produced by the load profile through the performance model (LLMs) or a fixed latency."""
        windows, moment, key = [], start, str(job.pk)
        while moment + timedelta(minutes=1) <= end:
            if serving is not None:
                windows.append(simulate_llm(profile=profile, serving=serving, start=moment, seconds=60, key=key))
            else:
                latency = SERVICE_LATENCY_S.get(job.kind, SERVICE_LATENCY_S["default"])
                windows.append(simulate_service(profile=profile, start=moment, seconds=60, key=key, latency_s=latency))
            moment += timedelta(minutes=1)
        return windows

    def poll(self, *, cluster: Cluster, now: datetime, bill_running: bool = True) -> SchedulePassResult:
        simulation = cluster.simulation or {}
        result = SchedulePassResult(cluster_id=cluster.pk, now=now)
        rows: dict = {}
        # A billing pass reads every running job (it bills them); any other pass only what has events ahead.
        held, active = holding_plans(cluster, simulation, rows, summarise_quiet=not bill_running, starting=True)
        admitting = cluster.status == Cluster.Status.ACTIVE
        book, cluster_queues, book_at = cluster_quota_book(cluster)
        queues = {}
        if admitting:
            waiting = waiting_queryset(cluster)
            if book is None:
                keys = waiting.order_by().values_list("queue_key", flat=True).distinct()
                queues = {key: _DbQueue(waiting.filter(queue_key=key), simulation, rows) for key in keys}
            else:  # one line per ClusterQueue and GPU type
                keys = waiting.order_by().values_list("queue_key", "cluster_queue_id").distinct()
                queues = {
                    line_key(key, cq): _DbQueue(waiting.filter(queue_key=key, cluster_queue=cq), simulation, rows)
                    for key, cq in keys
                }
        planner = Planner(
            total=Capacity.from_inventory(cluster.inventory),
            active=active,
            queues=queues,
            admitting=admitting,
            held=held,
            quota=book,
            preempting=True,
            quota_at=book_at,
        )
        planner.run_until(now)
        self._apply(planner, rows, now, result, bill_running=bill_running)
        self._queue_the_rest(cluster, now, result)
        if book is not None:
            publish_waits(planner.waits, rows)
            save_fair_share(book, cluster_queues, now)
        result.next_change_at = planner.next_event_at
        if result.resumed:  # jobs back in the queue: the next pass may admit them at once
            result.next_change_at = now
        return result

    def _apply(
        self, planner: Planner, rows: dict, now: datetime, result: SchedulePassResult, *, bill_running: bool
    ) -> None:
        changes: dict = {}  # job id -> fields
        current: dict = {}  # job id -> status after the events so far (each step is checked)
        for event in planner.events:
            if event.kind == "preempt":  # applied by the caller (jobs.services.preemption), after these writes
                result.preemptions.append((event.job.id, event.by.id, event.message))
                continue
            job = rows[event.job.id]
            fields = changes.setdefault(job.pk, {})
            before = current.get(job.pk, job.status)
            if event.kind == "admit":
                fields.update(
                    status=Job.Status.PENDING,
                    admitted_at=event.time,
                    status_message=f"Admitted; starting up (ready in about {event.job.startup:g} s).",
                )
                result.admitted += 1
            elif event.kind == "start":
                job.started_at = event.time
                fields.update(
                    status=Job.Status.RUNNING,
                    started_at=event.time,
                    outputs=job_outputs(job, job.start_spec),
                    status_message="Running.",
                )
                result.started += 1
            elif event.kind == "succeed":
                fields.update(
                    status=Job.Status.SUCCEEDED,
                    completed_at=event.time,
                    actual_cost=job.cost_until(event.time),
                    status_message=f"Completed after {event.job.duration:g} s.",
                    **checkpoint_fields(job, now=event.time),
                )
                result.succeeded += 1
            elif event.kind == "fail" and resumes_on_failure(job):
                # A checkpointing job is not lost to a failure: it waits to resume from its last checkpoint.
                fields.update(interruption_fields(job, now=event.time, reason=event.message, kind="failed"))
                result.resumed += 1
            elif event.kind in ("fail", "never_fits"):
                message = event.message if event.kind == "fail" else f"Can never fit on this cluster: {event.message}"
                fields.update(
                    status=Job.Status.FAILED,
                    completed_at=event.time,
                    actual_cost=job.cost_until(event.time),
                    status_message=message,
                )
                result.failed += 1
            check_transition(job, fields["status"], before=before)
            current[job.pk] = fields["status"]

        for pk, fields in changes.items():
            if fields["status"] == Job.Status.RUNNING:  # started during this pass: billed up to now
                fields["actual_cost"] = rows[pk].cost_until(now)  # a resumed job's earlier runs included

        only_admitted = [pk for pk, f in changes.items() if f["status"] == Job.Status.PENDING]
        if only_admitted:
            # Admitted in this pass and still starting: same fields for all, one statement.
            updated = Job.objects.filter(pk__in=only_admitted, status__in=WAITING, admitted_at__isnull=True).update(
                status=Job.Status.PENDING,
                admitted_at=now,
                status_message=changes[only_admitted[0]]["status_message"],
            )
            if updated != len(only_admitted):
                logger.warning("pass admitted %s jobs but updated %s rows", len(only_admitted), updated)
        for pk, fields in changes.items():
            if fields["status"] == Job.Status.PENDING:
                continue
            job = rows[pk]
            if not Job.objects.filter(pk=pk, status=job.status).update(**fields):
                logger.warning("job %s changed under the pass; its update from %s was skipped", pk, job.status)
        result.changed_job_ids = list(changes)

        # Running jobs accrue cost up to now: one statement per thousand jobs. Only passes that bill (the beat's,
        # an explicit one) do it, and only where it moved by a cent: the pass run by every submit stays
        # independent of how many jobs already run.
        if not bill_running:
            return
        accruing, checkpointing = [], []
        for plan in planner.active:
            job = rows[plan.id]
            if plan.id in changes or job.status != Job.Status.RUNNING:
                continue
            cost = job.cost_until(now)
            if abs(cost - (job.actual_cost or 0)) >= BILLING_STEP:
                job.actual_cost = cost
                accruing.append(job)
            if job.checkpoint_interval_minutes:
                saved = checkpoint_fields(job, now=now)
                if saved["checkpoints"] != job.checkpoints:  # a checkpoint was taken since the last pass
                    for name, value in saved.items():
                        setattr(job, name, value)
                    checkpointing.append(job)
        if accruing:
            Job.objects.bulk_update(accruing, ["actual_cost"], batch_size=1000)
        if checkpointing:
            Job.objects.bulk_update(
                checkpointing, ["checkpoints", "checkpoint_work_seconds", "last_checkpoint_at"], batch_size=1000
            )

    def _queue_the_rest(self, cluster: Cluster, now: datetime, result: SchedulePassResult) -> None:
        """Submitted jobs the pass could not admit now wait in the queue."""
        pending = list(
            Job.objects.filter(cluster=cluster, status=Job.Status.PENDING, admitted_at__isnull=True).values_list(
                "pk", flat=True
            )
        )
        if not pending:
            return
        if cluster.status == Cluster.Status.ACTIVE:
            message = "Waiting for capacity."
        else:
            message = f"Waiting: the cluster is {cluster.status} and admits no jobs."
        result.queued = Job.objects.filter(pk__in=pending, status=Job.Status.PENDING, admitted_at__isnull=True).update(
            status=Job.Status.QUEUED, status_message=message
        )
        result.changed_job_ids.extend(pending)

    # --- forecast ------------------------------------------------------------------------------------------

    def forecast(
        self, *, cluster: Cluster, now: datetime, extra: list | None = None, summarise_quiet: bool = False
    ) -> Forecast:
        simulation = cluster.simulation or {}
        total = Capacity.from_inventory(cluster.inventory)
        held, active = holding_plans(cluster, simulation, {}, summarise_quiet=summarise_quiet)
        book, _, book_at = cluster_quota_book(cluster)
        lines: dict[str, list[PlanJob]] = {}
        for job in waiting_queryset(cluster).only(*PASS_FIELDS, "queue_key").order_by("-priority", "sequence", "id"):
            plan = plan_job(job, simulation)
            lines.setdefault(line_key(job.queue_key, job.cluster_queue_id), []).append(plan)
        for plan in extra or []:
            lines.setdefault(plan.demand.queue, []).append(plan)
        forecasts: dict = {}
        for plans in lines.values():
            for position, plan in enumerate(sorted(plans, key=lambda p: p.order), start=1):
                forecasts[plan.id] = JobForecast(queue=plan.demand.queue, queue_position=position)
        for plan in active:
            forecasts[plan.id] = JobForecast(queue=plan.demand.queue, predicted_admission=plan.admitted_at)

        planner = Planner(
            total=total,
            active=active,
            queues={key: ListQueue(plans) for key, plans in lines.items()},
            admitting=cluster.status == Cluster.Status.ACTIVE,
            held=held,
            quota=book,
            quota_at=book_at,
        )
        planner.process_until(now)  # jobs due to end by now have released their capacity, pass or no pass
        free_before = planner.free.copy()
        planner.run_until(now)
        waits = dict(planner.waits)  # why heads wait for quota now (later admissions clear them from the planner)
        planner.predict(now)
        for event in planner.events:
            item = forecasts[event.job.id]
            if event.kind == "admit":
                item.predicted_admission = event.time
            elif event.kind == "start":
                item.predicted_start = event.time
            elif event.kind in ("succeed", "fail"):
                item.predicted_end = event.time
            elif event.kind == "never_fits":
                item.never_fits = event.message
        # The prediction stops once nobody waits: whoever is admitted but not yet running starts after start-up.
        plans_by_id = {plan.id: plan for plan in active}
        plans_by_id.update({plan.id: plan for plans in lines.values() for plan in plans})
        for job_id, item in forecasts.items():
            plan = plans_by_id[job_id]
            starts = not (plan.fails and plan.job_type == SERVICE)
            if item.predicted_start is None and plan.started_at is None and item.predicted_admission and starts:
                item.predicted_start = item.predicted_admission + timedelta(seconds=plan.startup)
        for plans in lines.values():
            for plan in plans:
                item = forecasts[plan.id]
                item.reason = _reason(item, plan, free_before, cluster, waits.get(plan.id), book)
        return Forecast(now=now, total=total, free=free_before, jobs=forecasts)


def _reason(item: JobForecast, plan: PlanJob, free: Capacity, cluster: Cluster, blocked=None, book=None) -> str:
    if item.never_fits:
        return f"Can never fit on this cluster: {item.never_fits}"
    if cluster.status != Cluster.Status.ACTIVE:
        return f"The cluster is {cluster.status} and admits no jobs."
    ahead = (item.queue_position or 1) - 1
    line = f"the {item.queue} queue"
    if book is not None and plan.queue in book.queues:
        line = f"the {item.queue} line of queue {book.queues[plan.queue].name}"
    if blocked is not None:
        text = blocked.describe()
    else:
        text = f"Waiting for capacity: needs {plan.demand.describe()}; free now: {free.describe()}"
    if ahead:
        text += f"; {ahead} job{'s' if ahead != 1 else ''} ahead in {line}"
    if item.predicted_start is None:
        text += "; the capacity it needs is held by services that run until cancelled"
    return text + "."
