"""Submitting jobs: validate them, record them with their demand and price, and let a pass admit them.

`job_submit` records one job and, by default, runs a pass so a job that fits is admitted at once;
`jobs_submit_many` records many in one transaction and runs one pass for all of them. With `schedule=False`
either only records (the job waits PENDING): the next pass admits it (the beat's, every 2 s, or the caller's own).
Queue position and predicted start are right either way: the forecast reads every waiting job, passed or not.
On PostgreSQL a single job is recorded by one statement (its number from the job sequence and the insert together), so
a submit without a pass is one round trip to the database, and it takes no lock that another submitter waits for.
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from psycopg import RawCursor

from core.crypto import EncryptedField
from core.exceptions import Conflict, ValidationError
from jobs.drivers import get_driver
from jobs.models import Cluster, Job, LocalQueue
from jobs.pricing import CENT, hourly_rate
from jobs.scheduling import Capacity, Demand
from jobs.sequences import NEXTVAL_SQL, next_sequences
from jobs.services.passes import cluster_schedule_pass
from jobs.validation import (
    normalise_resources,
    parse_priority,
    validate_checkpoint_interval,
    validate_duration,
    validate_labels,
    validate_spec,
)
from tenancy.selectors import require_write

BULK_MAX = 1000  # jobs per jobs_submit_many call (and per POST .../jobs/bulk)
# TextChoices.values builds a new list on every read: a submit reads these three times.
_JOB_TYPES = frozenset(Job.JobType.values)
_SOURCE_TYPES = frozenset(Job.SourceType.values)


def collect_errors(errors: dict, func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except ValidationError as exc:
        errors.update(exc.errors)
        return None


def estimated_cost(job_type: str, rate: Decimal, duration: float | None) -> Decimal:
    # A SERVICE runs until cancelled: its estimate is one hour; BATCH/TRAINING cost their whole duration.
    if job_type == Job.JobType.SERVICE or duration is None:
        return rate.quantize(CENT, rounding=ROUND_HALF_UP)
    return (rate * Decimal(str(duration)) / Decimal(3600)).quantize(CENT, rounding=ROUND_HALF_UP)


def require_job_writer(user, tenant_id) -> None:
    """The acting user must write in the tenant; `user=None` is the system (the reconciler for a deployment whose
    change was checked when it was asked for, the beat), which may."""
    if user is not None:
        require_write(user, tenant_id)


def job_submit(*, user=None, cluster: Cluster, now: datetime | None = None, schedule: bool = True, **job: Any) -> Job:
    """Validate and record a job (`job` are `job_fields`' keywords: name, job_type, tenant, project, resources,
    spec, ...); with `schedule` (default) run a scheduling pass so a job that fits is admitted at once, without it
    leave it PENDING for the next pass.

    Idempotent on (component_deployment_id, attempt): a repeated call returns the job already recorded.
    """
    require_job_writer(user, cluster.tenant_id)
    component_deployment_id, attempt = job.get("component_deployment_id"), job.get("attempt", 1)
    if component_deployment_id is not None:
        existing = Job.objects.filter(component_deployment_id=component_deployment_id, attempt=attempt).first()
        if existing is not None:
            return existing

    fields = job_fields(cluster=cluster, now=now, **job)
    now = fields["queued_at"]
    _require_active(cluster)
    try:
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            job = _insert_one(cluster, fields)  # one statement: atomic without a BEGIN and a COMMIT
        else:
            with transaction.atomic():  # a savepoint inside the caller's transaction: a duplicate undoes only this
                (job,) = _record(cluster, [fields])
    except IntegrityError:
        if component_deployment_id is None:
            raise
        # Another caller recorded this attempt first: theirs is the job.
        return Job.objects.get(component_deployment_id=component_deployment_id, attempt=attempt)
    if _hand_over(cluster, [job], now=now, schedule=schedule) == "pass":
        job.refresh_from_db(fields=_pass_written())  # a pass never changes a spec: it is not decrypted again
    return job


def job_fields(
    *,
    cluster: Cluster,
    name: str,
    job_type: str,
    tenant,
    project,
    resources: dict,
    spec: dict,
    source_type: str = Job.SourceType.DIRECT,
    priority: int | str = 50,
    labels: dict | None = None,
    usecase_deployment_id=None,
    component_deployment_id=None,
    attempt: int = 1,
    duration_seconds: float | None = None,
    checkpoint_interval_minutes: float | None = None,
    cluster_set=None,
    placement: dict | None = None,
    now: datetime | None = None,
) -> dict:
    """The validated columns of a new job on this cluster, all but its sequence (ValidationError per field)."""
    errors: dict = {}
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        errors["name"] = ["A name of 1 to 255 characters is required."]
    if not isinstance(job_type, str) or job_type not in _JOB_TYPES:
        errors["job_type"] = [f"Must be one of {', '.join(Job.JobType.values)}."]
    if not isinstance(source_type, str) or source_type not in _SOURCE_TYPES:
        errors["source_type"] = [f"Must be one of {', '.join(Job.SourceType.values)}."]
    if tenant.pk != cluster.tenant_id:
        errors["tenant_id"] = ["The cluster belongs to another tenant."]
    if project.tenant_id != cluster.tenant_id:
        errors["project_id"] = ["The project belongs to another tenant than the cluster."]
    if not isinstance(attempt, int) or attempt < 1:
        errors["attempt"] = ["Must be a positive integer."]
    resources = collect_errors(errors, normalise_resources, resources, inventory=cluster.inventory)
    spec = collect_errors(errors, validate_spec, spec)
    priority = collect_errors(errors, parse_priority, priority)
    labels = collect_errors(errors, validate_labels, labels)
    if isinstance(job_type, str) and job_type in _JOB_TYPES:
        duration_seconds = collect_errors(errors, validate_duration, job_type, duration_seconds)
        checkpoint_interval_minutes = collect_errors(
            errors, validate_checkpoint_interval, job_type, checkpoint_interval_minutes
        )
    if not errors:
        collect_errors(errors, get_driver(cluster).validate, cluster=cluster, spec=spec, resources=resources)
    if errors:
        raise ValidationError(errors)

    now = now or timezone.now()  # after validation: the pass that follows runs at this moment
    demand = Demand.from_resources(resources)
    rate = hourly_rate(cluster.prices or {}, resources)
    fields = {
        "id": uuid.uuid4(),
        "name": name.strip(),
        "job_type": job_type,
        "source_type": source_type,
        "cluster": cluster,
        "tenant_id": cluster.tenant_id,
        "project": project,
        "usecase_deployment_id": usecase_deployment_id,
        "component_deployment_id": component_deployment_id,
        "attempt": attempt,
        "resources": resources,
        "queue_key": demand.queue,
        "demand_gpus": demand.gpus,
        "demand_millicores": demand.millicores,
        "demand_memory_mib": demand.memory_mib,
        "spec": spec,
        "kind": str(spec.get("kind") or ""),
        "labels": labels,
        "priority": priority,
        "duration_seconds": duration_seconds,
        "checkpoint_interval_minutes": checkpoint_interval_minutes,
        "cluster_set": cluster_set,
        "placement": placement or {},
        "created_at": now,
        "queued_at": now,
        "hourly_rate": rate,
        "estimated_cost": estimated_cost(job_type, rate, duration_seconds),
        "status": Job.Status.PENDING,
        "status_message": "Submitted.",
    }
    never_fits = Capacity.from_inventory(cluster.inventory).never_fits_reason(demand)
    if never_fits:
        fields.update(
            status=Job.Status.FAILED, completed_at=now, status_message=f"Can never fit on this cluster: {never_fits}"
        )
    fields.update(get_driver(cluster).submission_fields(cluster=cluster, job_id=fields["id"], labels=labels))
    return fields


def _require_active(cluster: Cluster) -> None:
    if cluster.status != Cluster.Status.ACTIVE:
        raise Conflict(f"The cluster is {cluster.status} and accepts no new jobs.")


def _recorded_attempts(items: list[dict]) -> list[Job]:
    """The jobs already recorded for the items' (component_deployment_id, attempt), in the items' order (one query);
    an item without one, or not recorded yet, has none."""
    keys = [
        (uuid.UUID(str(item["component_deployment_id"])), item.get("attempt", 1))
        for item in items
        if item.get("component_deployment_id") is not None
    ]
    found = {
        (job.component_deployment_id, job.attempt): job
        for job in Job.objects.filter(component_deployment_id__in={component for component, _ in keys})
    }
    return [found[key] for key in keys if key in found]


def _assign_queues(cluster: Cluster, rows: list[dict]) -> None:
    """Each job counts against the ClusterQueue of its project's LocalQueue on the cluster, else its tenant's
    (one query for all); without either it has no quota, as before queues existed."""
    local = {
        (tenant_id, project_id): queue_id
        for tenant_id, project_id, queue_id in LocalQueue.objects.filter(cluster=cluster).values_list(
            "tenant_id", "project_id", "cluster_queue_id"
        )
    }
    if not local:
        return
    for row in rows:
        project_id = row["project"].pk
        row["cluster_queue_id"] = local.get((row["tenant_id"], project_id)) or local.get((row["tenant_id"], None))


def _record(cluster: Cluster, rows: list[dict]) -> list[Job]:
    """Insert the jobs with the next sequence numbers (jobs.sequences: one query for all), in one transaction; the
    caller wraps it so a duplicate attempt undoes the whole insert (and the counter, where there is one)."""
    if len(rows) == 1 and connection.vendor == "postgresql":
        return [_insert_one(cluster, rows[0])]  # its queue is looked up by the same statement
    _assign_queues(cluster, rows)
    numbers = next_sequences(cluster.pk, len(rows))
    jobs = [_job_from_row({**row, "sequence": number}) for row, number in zip(rows, numbers, strict=True)]
    if len(jobs) == 1:
        jobs[0].save(force_insert=True)
    else:
        Job.objects.bulk_create(jobs)
    return jobs


# Columns whose Python value the database adapter takes as it is (their field would only check and copy it); JSON,
# encrypted and auto-now columns are prepared by their field.
_PLAIN_FIELDS = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.FloatField,
    models.DecimalField,
    models.UUIDField,
    models.ForeignKey,
    models.DateTimeField,
)


def _default_literal(field) -> str | None:
    """The SQL text of a column's constant default (0, '', NULL, '{}'::jsonb, ...), None for a default that is not a
    constant (a callable such as now(), an auto-now date) or not one of these plain kinds."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False) or isinstance(field, EncryptedField):
        return None
    if not field.has_default():
        return "NULL" if field.null else None
    default = field.default
    if default in (dict, list):
        return "'{}'::jsonb" if default is dict else "'[]'::jsonb"
    if callable(default):
        return None
    if isinstance(default, bool):
        return None
    if isinstance(default, (int, float, Decimal)):
        return repr(default) if not isinstance(default, Decimal) else f"'{default}'::numeric"
    if default == "":
        return "''"
    return None


@functools.cache
def _insert_one_plan(quote, keys: frozenset) -> tuple[str, tuple]:
    """The insert of one job whose `job_fields` row has these keys, with its number from the job sequence, in
    psycopg's raw form ($n placeholders: the text is sent as it is, never split and quoted in Python; $1-$3 are the
    cluster, tenant and project), and the (field, plain) of each value it takes, in order. A column the row does not
    set and whose default is a constant is written as that constant in the text: fewer values to adapt and send."""
    local = quote(LocalQueue._meta.db_table)
    # The quota: the ClusterQueue of the project's LocalQueue on the cluster, else of the tenant's (jobs.LocalQueue).
    queue = (
        f"COALESCE((SELECT cluster_queue_id FROM {local} WHERE cluster_id = $1 AND tenant_id = $2 AND project_id = $3),"
        f" (SELECT cluster_queue_id FROM {local} WHERE cluster_id = $1 AND tenant_id = $2 AND project_id IS NULL))"
    )
    columns, values, taken, number = [], [], [], 4
    for field in Job._meta.concrete_fields:
        columns.append(quote(field.column))
        literal = None if field.name in keys or field.attname in keys else _default_literal(field)
        if field.attname == "sequence":
            values.append(NEXTVAL_SQL)
        elif field.attname == "cluster_queue_id":
            values.append(queue)
        elif literal is not None:
            values.append(literal)
        else:
            plain = isinstance(field, _PLAIN_FIELDS) and not isinstance(field, EncryptedField)
            plain = plain and not (getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))
            taken.append((field, plain))
            values.append(f"${number}")
            number += 1
    sql = (
        f"INSERT INTO {quote(Job._meta.db_table)} ({', '.join(columns)}) VALUES ({', '.join(values)}) "
        "RETURNING sequence, cluster_queue_id"
    )
    return sql, tuple(taken)


def _statement_cursor():
    """A cursor whose statements are bound by the server with $n placeholders: the insert is parsed and planned
    once per connection (psycopg prepares it from its fifth use), its values are sent apart from the text, and the
    text is not split in Python on every call (psycopg caches that split only up to 50 parameters). One raw cursor
    is kept per database connection (made again with a new connection); each use is wrapped as Django wraps its
    own cursors, so query logging, CaptureQueriesContext and execute wrappers see it."""
    connection.ensure_connection()
    kept = getattr(connection, "_job_insert_cursor", None)
    if kept is None or kept[0] is not connection.connection or kept[1].closed:
        kept = connection._job_insert_cursor = (connection.connection, RawCursor(connection.connection))
    raw = kept[1]
    return connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)


# Where a row of `job_fields` holds a related object, not its id.
_RELATED = {"cluster": "cluster_id", "project": "project_id", "cluster_set": "cluster_set_id"}


@functools.cache
def _pass_written() -> list[str]:
    return [field.attname for field in Job._meta.concrete_fields if field.attname not in ("id", "spec")]


@functools.cache
def _job_fields() -> tuple:
    return tuple((field.attname, field.get_default) for field in Job._meta.concrete_fields)


def _job_from_row(row: dict) -> Job:
    """The Job of a `job_fields` row, made as Django makes one it reads (positional values, no keyword matching),
    with its cluster, project and set cached as `Job(**row)` would."""
    values = dict(row)
    related = {name: values.pop(name, None) for name in _RELATED}
    for name, attname in _RELATED.items():
        if related[name] is not None:
            values[attname] = related[name].pk
    job = Job(*(values[attname] if attname in values else default() for attname, default in _job_fields()))
    for name, obj in related.items():
        if obj is not None:
            Job._meta.get_field(name).set_cached_value(job, obj)
    return job


def _insert_one(cluster: Cluster, row: dict) -> Job:
    """One job in one statement (PostgreSQL): its number and the insert are one round trip and atomic on their own,
    so a submit outside a transaction needs no BEGIN/COMMIT (the caller's savepoint otherwise)."""
    job = _job_from_row(row)
    sql, taken = _insert_one_plan(connection.ops.quote_name, frozenset(row))
    params: list = [cluster.pk, job.tenant_id, job.project_id]
    for field, plain in taken:
        if plain:
            params.append(getattr(job, field.attname))
        else:
            params.append(field.get_db_prep_save(field.pre_save(job, True), connection=connection))
    cursor = _statement_cursor()
    cursor.execute(sql, params)
    job.sequence, job.cluster_queue_id = cursor.fetchone()
    job._state.adding = False
    job._state.db = connection.alias
    return job


def _hand_over(cluster: Cluster, jobs: list[Job], *, now: datetime, schedule: bool) -> str | None:
    """Give the driver the jobs that can run; with `schedule`, run one pass, or admit them at once when nothing
    waits besides them and they fit (`ClusterDriver.admit_new`). Returns "pass" when a pass ran (the jobs are to be
    read back), "at_once" when they were admitted at once (updated in place), None when neither ran."""
    driver = get_driver(cluster)
    runnable = [job for job in jobs if job.status != Job.Status.FAILED]
    for job in runnable:
        driver.submit(job=job)
    if runnable and schedule:
        result = cluster_schedule_pass(cluster=cluster, now=now, bill_running=False, new_jobs=runnable)
        return "at_once" if result.admitted_at_once else "pass"
    return None


def jobs_submit_many(
    *, user=None, cluster: Cluster, jobs: list[dict], now: datetime | None = None, schedule: bool = True
) -> list[Job]:
    """Validate and record many jobs on one cluster in one transaction, then run one pass for all of them
    (none with `schedule=False`). Each item takes job_submit's keywords (tenant, project, name, ...).

    All or nothing: any invalid item is a ValidationError with paths `jobs.<index>.<field>` and nothing is
    recorded. Items for a (component_deployment_id, attempt) already recorded return that job, as job_submit does.
    Returns the jobs in the order of the items, with the statuses the pass left them in.
    """
    require_job_writer(user, cluster.tenant_id)
    if not isinstance(jobs, list) or not 1 <= len(jobs) <= BULK_MAX:
        raise ValidationError({"jobs": [f"A list of 1 to {BULK_MAX} jobs."]})
    now = now or timezone.now()
    # Attempts already recorded are not looked up first (a query per call for the rare repeat): the unique
    # constraint finds them, and the items are then submitted one by one, each returning its recorded job.
    attempts = any(item.get("component_deployment_id") is not None for item in jobs)
    errors: dict = {}
    rows: list[dict] = []
    for index, item in enumerate(jobs):
        try:
            rows.append(job_fields(cluster=cluster, now=now, **item))
        except ValidationError as exc:
            errors.update({f"jobs.{index}.{path}": messages for path, messages in exc.errors.items()})
        except TypeError as exc:  # an unknown or missing keyword
            errors[f"jobs.{index}"] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    if cluster.status != Cluster.Status.ACTIVE and attempts:
        # A repeat of attempts already recorded returns them, whatever became of the cluster since: only new rows
        # are refused.
        recorded = _recorded_attempts(jobs)
        if len(recorded) == len(jobs):
            return recorded
    _require_active(cluster)
    try:
        with transaction.atomic():
            created = _record(cluster, rows)
    except IntegrityError:
        if not attempts:
            raise
        # Another caller recorded one of these attempts first: each item again, one by one (idempotent).
        return [job_submit(cluster=cluster, now=now, schedule=schedule, **item) for item in jobs]
    if _hand_over(cluster, created, now=now, schedule=schedule) == "pass":
        # What the pass changed, read back without the specs: a pass never changes a spec, and decrypting a
        # thousand of them again cost more than reading every other column.
        fresh = Job.objects.defer("spec").in_bulk([job.pk for job in created])
        for job in created:
            fresh[job.pk].spec = job.spec
        created = [fresh[job.pk] for job in created]
    return created
