"""What a pass of the simulated driver reads of its cluster's jobs: the columns it needs, the jobs that hold capacity
(`holding_plans`) and what a pass reads of a job (the waiting lines: `jobs.drivers.lines`).

A pass plans with many more jobs than it changes (a waiting head per line, every admitted job a quota counts; ~570
for ~10 admitted on the admission bench), so it reads them as `PlanRow`s (the planning columns in a slotted object:
no model instance) and reads the full rows of only the jobs the plan changes
(`full_rows`, one query), which are the ones `_apply` writes."""

from __future__ import annotations

import json

from django.db import connection
from django.db.models import Case, F, Q, Sum, When

from jobs.checkpoints import remaining_seconds
from jobs.models import Cluster, Job
from jobs.scheduling import SERVICE, Demand, PlanJob, order_key
from jobs.simulation import startup_seconds

WAITING = (Job.Status.PENDING, Job.Status.QUEUED)
HOLDING = (Job.Status.PENDING, Job.Status.RUNNING)
# What a pass reads of a job: enough to plan and bill (big or unused columns stay in the table). Not the spec: it
# is encrypted and a pass needs only its kind (a column); a job read in full brings its spec as `start_spec` when it
# is not running yet (`with_start_spec`), for the outputs it publishes when it starts.
PASS_FIELDS = (
    "id",
    "name",
    "job_type",
    "status",
    "resources",
    "kind",
    "labels",  # a job may carry its own start-up time (jobs.simulation.STARTUP_LABEL)
    "simulated_failure",
    "priority",
    "sequence",
    "duration_seconds",
    "admitted_at",
    "started_at",
    "completed_at",  # a job's progress reads it (Job.progress_at): deferred, it cost a query per finishing job
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
    "queue_key",  # the line a waiting job is read in (jobs.drivers.lines)
    "status_message",
)
# What the planner needs of a job it may only look at (`PlanRow`), and what `publish_waits` compares.
PLAN_FIELDS = (
    "id",
    "name",
    "status",
    "status_message",
    "job_type",
    "kind",
    "labels",
    "priority",
    "sequence",
    "cluster_queue_id",
    "queue_key",
    "duration_seconds",
    "work_resumed_from_seconds",
    "simulated_failure",
    "resources",
    "admitted_at",
    "started_at",
)


class PlanRow:
    """A job as a pass plans with it: its planning columns, from a values row (`PLAN_FIELDS` order; a trailing
    value, such as a window rank, is ignored). A job the plan changes is read again in full (`full_rows`)."""

    __slots__ = PLAN_FIELDS

    def __init__(self, values):
        # One unpacking, not a setattr per column (a pass builds ~570 of them).
        (
            self.id,
            self.name,
            self.status,
            self.status_message,
            self.job_type,
            self.kind,
            self.labels,
            self.priority,
            self.sequence,
            self.cluster_queue_id,
            self.queue_key,
            self.duration_seconds,
            self.work_resumed_from_seconds,
            self.simulated_failure,
            self.resources,
            self.admitted_at,
            self.started_at,
        ) = values[: len(PLAN_FIELDS)]
        if isinstance(self.resources, str):  # a raw cursor's jsonb (Django's loader leaves it as text)
            self.resources, self.labels = json.loads(self.resources), json.loads(self.labels)

    @property
    def pk(self):
        return self.id

    @property
    def remaining_seconds(self) -> float | None:
        return remaining_seconds(duration=self.duration_seconds, resumed_from=self.work_resumed_from_seconds)


def plan_rows(queryset):
    """A pass's read of jobs it plans with: the planning columns only (`PlanRow`s are built by the lines)."""
    return queryset.values_list(*PLAN_FIELDS)


def plan_job(job: Job | PlanRow, simulation: dict) -> PlanJob:
    """The planner's view of a job (a `Job` read with `PASS_FIELDS`, or a `PlanRow`)."""
    return PlanJob(
        id=job.pk,
        demand=Demand.from_resources(job.resources),
        order=order_key(job.priority, job.sequence, job.pk),
        job_type=job.job_type,
        startup=startup_seconds(simulation, kind=job.kind, job_type=job.job_type, labels=job.labels),
        duration=job.remaining_seconds,  # a resumed job runs what its checkpoint left to do
        fails=job.simulated_failure or None,
        admitted_at=job.admitted_at,
        started_at=job.started_at,
        queue=job.cluster_queue_id,
    )


def start_specs(rows: dict, job_ids) -> dict:
    """The decrypted specs of the jobs that start in this pass and were read without one: one query."""
    missing = [pk for pk in job_ids if not hasattr(rows[pk], "start_spec")]
    found = dict(Job.objects.filter(pk__in=missing).values_list("pk", "spec")) if missing else {}
    return {pk: found[pk] if pk in found else getattr(rows[pk], "start_spec", None) for pk in job_ids}


def full_rows(rows: dict, job_ids) -> None:
    """Replace the `PlanRow`s of these jobs (the ones the plan changes) by their full rows, with the spec of those
    not yet running (`with_start_spec`: a job that starts publishes outputs from it): one query by primary key."""
    light = [pk for pk in dict.fromkeys(job_ids) if isinstance(rows.get(pk), PlanRow)]
    if light:
        rows.update((job.pk, job) for job in with_start_spec(Job.objects.filter(pk__in=light).order_by()))


def with_start_spec(queryset):
    """The pass's columns, and the spec of each job not yet running (decrypted: a running job's stays as it is)."""
    spec = Job._meta.get_field("spec")
    return queryset.only(*PASS_FIELDS).annotate(
        start_spec=Case(When(~Q(status=Job.Status.RUNNING), then=F("spec")), default=None, output_field=spec)
    )


def holding_plans(
    cluster: Cluster,
    simulation: dict,
    rows: dict,
    *,
    summarise_quiet: bool,
    starting: bool = False,
    light: bool = False,
) -> tuple[list, list]:
    """The admitted jobs the planner must replay, and the capacity held by the ones it need not.

    A SERVICE that is RUNNING has no event ahead of it: it only holds capacity. With `summarise_quiet`, those
    are summed by the database (one query, whatever their number) and only the jobs with events ahead (starting,
    batch) are read, so a pass or a forecast costs the same with 10 or 10,000 services running. Jobs under a
    quota are always read: the quota counts them and preemption may pick them. With `starting` (a pass) the jobs
    not yet running bring their specs (`with_start_spec`); with `light` (a pass that does not bill) they are read as
    `PlanRow`s instead, and the caller reads the full rows of those the plan changes (`full_rows`).
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
    if light:
        jobs = [PlanRow(values) for values in plan_rows(holding)]
    else:
        jobs = with_start_spec(holding) if starting else holding.only(*PASS_FIELDS)
    active = []
    for job in jobs:
        rows[job.pk] = job
        active.append(plan_job(job, simulation))
    return held, active


def waiting_queryset(cluster: Cluster):
    return Job.objects.filter(cluster=cluster, status__in=WAITING, admitted_at__isnull=True)


def held_and_waiting(cluster: Cluster, new_ids: list) -> tuple[list[Demand], bool]:
    """What the admitted jobs hold, summed by line, and whether any job waits besides `new_ids`: one statement, for a
    submit that may admit its own jobs without a whole pass (`SimulatedDriver.admit_new`). A job that ended since the
    last pass still counts as holding here (a pass would have freed it): the sums can only be too high, never too
    low."""
    table = connection.ops.quote_name(Job._meta.db_table)
    cluster_id = Job._meta.get_field("cluster").get_db_prep_value(cluster.pk, connection)
    ids = [Job._meta.pk.get_db_prep_value(pk, connection) for pk in new_ids]
    sql = (
        f"SELECT queue_key, SUM(demand_gpus), SUM(demand_millicores), SUM(demand_memory_mib) FROM {table}"
        " WHERE cluster_id = %s AND status IN (%s, %s) AND admitted_at IS NOT NULL GROUP BY queue_key"
        " UNION ALL SELECT NULL, 0, 0, 0 WHERE EXISTS (SELECT 1 FROM"
        f" {table} WHERE cluster_id = %s AND status IN (%s, %s) AND admitted_at IS NULL"
        f" AND id NOT IN ({', '.join(['%s'] * len(ids))}))"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [cluster_id, *HOLDING, cluster_id, *WAITING, *ids])
        found = cursor.fetchall()
    held = [  # PostgreSQL sums a bigint column as a numeric: whole numbers again, as Capacity counts
        Demand(
            gpu_type=queue_key if gpus else None,
            gpus=int(gpus or 0),
            millicores=int(millicores or 0),
            memory_mib=int(mib or 0),
        )
        for queue_key, gpus, millicores, mib in found
        if queue_key is not None
    ]
    return held, any(queue_key is None for queue_key, *_ in found)
