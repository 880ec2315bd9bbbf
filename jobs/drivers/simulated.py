"""The simulated driver: a cluster that lives in the database and behaves like a real one.

A pass reads with `jobs.drivers.simulated_reads`, plans with `jobs.scheduling` and writes here (`_apply`); the
forecast is `jobs.drivers.simulated_forecast`.

It admits jobs only into free capacity, starts them after a configurable start-up time, finishes BATCH and
TRAINING jobs after their duration, injects failures deterministically (cluster seed + job id) and bills
from started_at. All timing is exact: a job that ends between two passes is recorded with the moment it
ended, not the moment a pass noticed.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection

from jobs.drivers.base import ClusterDriver, Forecast, SchedulePassResult
from jobs.drivers.lines import line_gpu_types, waiting_lines
from jobs.drivers.queues import closed_wait_templates, cluster_quota_book, publish_waits, save_fair_share
from jobs.drivers.simulated_forecast import forecast
from jobs.drivers.simulated_reads import (
    WAITING,
    PlanRow,
    full_rows,
    held_and_waiting,
    holding_plans,
    plan_job,
    plan_rows,
    start_specs,
    waiting_queryset,
)
from jobs.drivers.writes import write_changes
from jobs.models import Cluster, Job, check_transition
from jobs.resume import checkpoint_fields, interruption_fields, resumes_on_failure
from jobs.scheduling import Capacity, ListQueue, Planner
from jobs.simulation import failure_message
from jobs.validation import dns_label
from sizing.loadsim import LoadProfile, Serving, Window, simulate_llm, simulate_service

logger = logging.getLogger(__name__)

BILLING_STEP = Decimal("0.01")
# Mean request latency of a simulated non-LLM component, by source kind (a vector search, an API hop).
SERVICE_LATENCY_S = {"helm": 0.015, "docker": 0.030, "default": 0.020}
DEFAULT_PORTS = {"helm": 80, "docker": 8080, "model": 8000}


def job_outputs(job: Job, spec: dict | None) -> dict:
    """The in-cluster address of a running job (`spec`: its spec)."""
    spec = spec or {}
    namespace = dns_label(str(spec.get("namespace") or "default"), fallback="default")
    host = f"{dns_label(job.name, fallback=f'job-{str(job.pk)[:8]}')}.{namespace}.svc.cluster.local"
    port = spec.get("port") or DEFAULT_PORTS.get(spec.get("kind"), 8080)
    return {"url": f"http://{host}:{port}", "host": host, "port": port}


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
        # A billing pass reads every running job (it bills them); any other pass only what has events ahead, and
        # plans with their planning columns (`PlanRow`), as with the waiting heads: the jobs the plan changes are
        # read in full after it (`full_rows`).
        held, active = holding_plans(
            cluster, simulation, rows, summarise_quiet=not bill_running, starting=True, light=not bill_running
        )
        admitting = cluster.status == Cluster.Status.ACTIVE
        book, cluster_queues, book_at = cluster_quota_book(cluster)
        queues = {}
        if admitting:
            queues = waiting_lines(
                waiting_queryset(cluster),
                read=plan_rows,
                row=PlanRow,
                to_plan=lambda job: plan_job(job, simulation),
                rows=rows,
                by_cluster_queue=book is not None,
                queue_ids=cluster_queues,
                gpu_types=line_gpu_types(cluster, book),
            )
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
        full_rows(rows, [event.job.id for event in planner.events if event.kind != "preempt"])
        self._apply(planner, rows, now, result, bill_running=bill_running)
        closed = closed_wait_templates(book, planner.closed_quota_lines) if book is not None else []
        self._queue_the_rest(cluster, now, result, closed=closed)
        if book is not None:
            publish_waits(planner.waits, rows)
            save_fair_share(book, cluster_queues, now)
        result.next_change_at = planner.next_event_at
        if result.resumed:  # jobs back in the queue: the next pass may admit them at once
            result.next_change_at = now
        return result

    def admit_new(self, *, cluster: Cluster, jobs: list[Job], now: datetime) -> SchedulePassResult | None:
        """Admit (and, with no start-up time, start) jobs just recorded, without a whole pass, when nothing waits
        besides them and they all fit in what the admitted jobs leave free; None otherwise (a pass decides).

        What a pass would do with them then: nothing waits ahead of them (strict priority is kept: a waiting job of
        any priority sends the submit to a pass), the capacity held is summed by the database under the cluster's
        lock (never over-committed), and the same planner admits, starts or fails them at `now`, written by the
        same code. Other jobs' due events (a start-up that ended, a batch job that finished) are left to the next
        pass, which records them at the moment they happened; `next_change_at` covers only these jobs. The jobs
        are updated in place with what was written (the caller need not read them back). Not on a cluster with
        quotas, nor one that admits nothing (a pass there does more than count capacity)."""
        if getattr(cluster, "has_queues", True) or cluster.status != Cluster.Status.ACTIVE:
            return None
        held, others_wait = held_and_waiting(cluster, [job.pk for job in jobs])
        if others_wait:
            return None
        simulation = cluster.simulation or {}
        rows, lines = {}, {}
        for job in jobs:
            job.start_spec = job.spec  # the spec it was submitted with: its start does not read it again
            rows[job.pk] = job
            plan = plan_job(job, simulation)
            lines.setdefault(plan.demand.queue, []).append(plan)
        queues = {key: ListQueue(plans) for key, plans in lines.items()}
        planner = Planner(
            total=Capacity.from_inventory(cluster.inventory), active=[], queues=queues, held=held, preempting=False
        )
        planner.run_until(now)
        if any(len(queue) for queue in queues.values()):
            return None  # not all of them fit: nothing written, a pass decides with every job in view
        result = SchedulePassResult(cluster_id=cluster.pk, now=now)
        for pk, fields in self._apply(planner, rows, now, result, bill_running=False).items():
            for name, value in fields.items():
                setattr(rows[pk], name, value)
        result.next_change_at = planner.next_event_at
        return result

    def _apply(
        self, planner: Planner, rows: dict, now: datetime, result: SchedulePassResult, *, bill_running: bool
    ) -> dict:
        """Write what the planner decided; returns the fields written per job id (the accrued costs of running
        jobs, written by a billing pass, aside)."""
        changes: dict = {}  # job id -> fields
        current: dict = {}  # job id -> status after the events so far (each step is checked)
        specs = start_specs(rows, [event.job.id for event in planner.events if event.kind == "start"])
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
                    outputs=job_outputs(job, specs[job.pk]),
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
        write_changes({pk: fields for pk, fields in changes.items() if fields["status"] != Job.Status.PENDING}, rows)
        result.changed_job_ids = list(changes)

        # Running jobs accrue cost up to now: one statement per thousand jobs. Only passes that bill (the beat's,
        # an explicit one) do it, and only where it moved by a cent: the pass run by every submit stays
        # independent of how many jobs already run.
        if not bill_running:
            return changes
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
        return changes

    def _queue_the_rest(
        self, cluster: Cluster, now: datetime, result: SchedulePassResult, *, closed: list[tuple] = ()
    ) -> None:
        """Submitted jobs the pass could not admit now wait in the queue, in one statement that says which rows it
        changed (not a read of their ids, then an IN list of thousands). Those in a closed line (`closed`: its
        queue's quota is used up, the pass did not read it; `closed_wait_templates`) say for what they wait, as a
        head the pass read does, in the same statement: not 10,000 rows returned to be written again."""
        if cluster.status == Cluster.Status.ACTIVE:
            message = "Waiting for capacity."
        else:
            message = f"Waiting: the cluster is {cluster.status} and admits no jobs."
        table = Job._meta.db_table
        queue_field = Job._meta.get_field("cluster_queue")
        cases, params = [], []
        for queue_id, queue_key, before, after in closed:
            cases.append(
                "WHEN cluster_queue_id = %s AND queue_key = %s"
                " THEN %s || CAST(CASE WHEN demand_gpus > 1 THEN demand_gpus ELSE 1 END AS TEXT) || %s"
            )
            params += [queue_field.get_db_prep_value(queue_id, connection), queue_key, before, after]
        text = f"CASE {' '.join(cases)} ELSE %s END" if cases else "%s"
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET status = %s, status_message = {text}"
                f" WHERE cluster_id = %s AND status = %s AND admitted_at IS NULL RETURNING id",
                [
                    Job.Status.QUEUED,
                    *params,
                    message,
                    Cluster._meta.pk.get_db_prep_value(cluster.pk, connection),
                    Job.Status.PENDING,
                ],
            )
            pk = Job._meta.pk
            pending = [pk.to_python(row[0]) for row in cursor.fetchall()]
        result.queued = len(pending)
        result.changed_job_ids.extend(pending)

    def forecast(
        self, *, cluster: Cluster, now: datetime, extra: list | None = None, summarise_quiet: bool = False
    ) -> Forecast:
        return forecast(cluster=cluster, now=now, extra=extra, summarise_quiet=summarise_quiet)
