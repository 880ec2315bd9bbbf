"""Per-minute metering: turn the jobs' real start and stop times into one UsageRecord per job and minute."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from billing.compaction import compacted_until
from billing.models import DailyCost, MeteringState, PriceList, UsageRecord
from billing.rollups import rollup_rebuild, rollup_upsert_sql
from billing.sums import Total, exact_sums
from deployments.models import UseCaseDeployment
from jobs.models import Job
from jobs.pricing import resource_prices, resource_quantities

MINUTE = timedelta(minutes=1)
METER_STEP = Decimal(1).scaleb(-12)
# A pass looks back this far before the previous pass's start for jobs that stopped, so a job whose stop was
# recorded late (a driver that caught up) is still metered to its end.
LOOKBACK = timedelta(hours=1)


def floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _seconds(delta: timedelta) -> Decimal:
    """A duration as exact decimal seconds (microsecond resolution, as the database keeps times)."""
    return Decimal(delta // timedelta(microseconds=1)).scaleb(-6)


def _meter(value: Decimal) -> Decimal:
    return value.quantize(METER_STEP, rounding=ROUND_HALF_UP)


@dataclass
class PriceBook:
    """Every cluster's price lists in effect order; a minute takes the last list effective at its start."""

    lists: dict  # cluster_id -> ([effective_from, ...], [PriceList, ...])
    fallback: dict  # cluster_id -> Cluster.prices, for a cluster with no list in effect yet

    @classmethod
    def load(cls, jobs: list[Job]) -> PriceBook:
        cluster_ids = {job.cluster_id for job in jobs}
        lists: dict = {cluster_id: ([], []) for cluster_id in cluster_ids}
        for price_list in PriceList.objects.filter(cluster_id__in=cluster_ids).order_by("effective_from"):
            lists[price_list.cluster_id][0].append(price_list.effective_from)
            lists[price_list.cluster_id][1].append(price_list)
        return cls(lists=lists, fallback={job.cluster_id: job.cluster.prices or {} for job in jobs})

    def at(self, cluster_id, minute: datetime) -> tuple[PriceList | None, dict]:
        moments, price_lists = self.lists[cluster_id]
        index = bisect.bisect_right(moments, minute) - 1
        if index < 0:
            return None, self.fallback[cluster_id]
        return price_lists[index], price_lists[index].prices


def job_minutes(job: Job, *, after: datetime | None, now: datetime) -> Iterator[tuple[datetime, Decimal]]:
    """(minute, seconds run in it) for each minute of the job's wall time that is over and not yet metered."""
    if job.started_at is None:
        return
    end = job.completed_at or (now if not job.is_terminal else job.updated_at)
    end = min(end, now)
    minute = floor_minute(job.started_at) if after is None else after + MINUTE
    while minute < end:
        slice_end = min(minute + MINUTE, end)
        if slice_end > now or (slice_end == now and job.completed_at is None):
            return  # the minute is still running: metered by a later pass, once it is over
        seconds = _seconds(slice_end - max(minute, job.started_at))
        if seconds > 0:
            yield minute, seconds
        minute += MINUTE


def deployment_labels(jobs: list[Job]) -> dict:
    """{deployment id: (use case, template slug)} of the jobs' deployments, copied onto their records."""
    ids = {job.usecase_deployment_id for job in jobs} - {None}
    rows = UseCaseDeployment.objects.filter(pk__in=ids).values_list("pk", "usecase_id", "template__slug")
    return {pk: (usecase, template) for pk, usecase, template in rows}


COLUMNS = (  # a usage row as written (the model's column names, in this order)
    "job_id",
    "minute",
    "tenant_id",
    "project_id",
    "cluster_id",
    "usecase_deployment_id",
    "usecase",
    "template",
    "seconds",
    "gpu_type",
    "gpu_minutes",
    "cpu_core_minutes",
    "memory_gib_minutes",
    "gpu_amount",
    "cpu_amount",
    "memory_amount",
    "price_list_id",
)


def usage_amounts(job: Job, seconds: Decimal, prices: tuple[PriceList | None, dict]) -> tuple:
    """(gpu type, GPU-, core-, GiB-minutes, and their amounts) of `seconds` of `job` at a price list."""
    gpu_type = job.resources.get("gpu_type") or ""
    quantities = resource_quantities(job.resources)
    unit = resource_prices(prices[1], gpu_type or None)
    minutes = seconds / 60
    hours = seconds / 3600
    return (
        gpu_type if quantities["gpu"] else "",
        _meter(quantities["gpu"] * minutes),
        _meter(quantities["cpu"] * minutes),
        _meter(quantities["memory"] * minutes),
        _meter(quantities["gpu"] * unit["gpu"] * hours),
        _meter(quantities["cpu"] * unit["cpu"] * hours),
        _meter(quantities["memory"] * unit["memory"] * hours),
    )


def _row(job: Job, minute: datetime, seconds: Decimal, prices, labels: tuple[str, str], memo: dict) -> tuple:
    # Most minutes of a job are whole ones at one price list: their amounts are computed once per job (memo).
    key = (prices[0].pk if prices[0] is not None else None, seconds)
    amounts = memo.get(key)
    if amounts is None:
        amounts = memo[key] = usage_amounts(job, seconds, prices)
    head = (job.pk, minute, job.tenant_id, job.project_id, job.cluster_id, job.usecase_deployment_id, *labels, seconds)
    return (*head, *amounts, key[0])


def metering_pass(*, now: datetime | None = None, batch_size: int = 5000) -> dict:
    """Meter every minute that is over for every job that ran since the last pass; safe to repeat or interrupt.

    Each job resumes after its last metered minute; the (job, minute) constraint drops anything a concurrent or
    interrupted pass already wrote. The pass start is recorded only when the pass completes, so a killed pass
    leaves the next one looking back as far as it did.
    """
    now = now or timezone.now()
    state, _ = MeteringState.objects.get_or_create(pk=1)
    jobs = Job.objects.filter(started_at__isnull=False).select_related("cluster")
    if state.last_pass_started_at is not None:
        jobs = jobs.filter(Q(completed_at__isnull=True) | Q(completed_at__gte=state.last_pass_started_at - LOOKBACK))
    jobs = list(jobs.annotate(metered_until=Max("usage_records__minute")))
    book = PriceBook.load(jobs)
    labels = deployment_labels(jobs)
    # A compacted month's hourly rows do not hold each minute's key: nothing is metered before its end again.
    floor = compacted_until()
    offered = 0
    pending: list[tuple] = []
    for job in jobs:
        memo: dict = {}
        job_labels = labels.get(job.usecase_deployment_id, ("", ""))
        after = job.metered_until
        if floor is not None and job.started_at < floor and (after is None or after < floor):
            after = floor - MINUTE
        for minute, seconds in job_minutes(job, after=after, now=now):
            pending.append(_row(job, minute, seconds, book.at(job.cluster_id, minute), job_labels, memo))
            if len(pending) >= batch_size:
                offered += _write(pending)
    offered += _write(pending)
    MeteringState.objects.filter(pk=1).update(last_pass_started_at=now, updated_at=timezone.now())
    return {"jobs": len(jobs), "records_offered": offered}


def _write(rows: list[tuple]) -> int:
    """Insert the rows, skipping (job, minute) pairs already there; on PostgreSQL by COPY into a temporary table and
    one INSERT ... ON CONFLICT DO NOTHING (no model instances, no per-value SQL compilation)."""
    count = len(rows)
    if not rows:
        return 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _copy_insert(rows)
        else:
            records = [UsageRecord(**dict(zip(COLUMNS, row, strict=True))) for row in rows]
            UsageRecord.objects.bulk_create(records, ignore_conflicts=True)
            days = {floor_day(row[1]) for row in rows}
            daily_cost_rebuild(days=days)
            rollup_rebuild(days=days)
    rows.clear()
    return count


def floor_day(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


DAILY_KEYS = ("tenant_id", "project_id", "usecase_deployment_id", "usecase", "template", "gpu_type")
DAILY_SUMS = {
    "total": Total(("gpu_amount", "cpu_amount", "memory_amount")),
    "gpu": Total(("gpu_minutes",)),
    "cpu": Total(("cpu_core_minutes",)),
    "memory": Total(("memory_gib_minutes",)),
}


def daily_cost_rebuild(*, days: set[datetime]) -> None:
    """Recompute the daily costs of `days` from the usage records, set-wise (the path of databases other than
    PostgreSQL, where an insert cannot tell which rows it skipped)."""
    for day in days:
        DailyCost.objects.filter(day=day).delete()
        rows = exact_sums(
            UsageRecord.objects.filter(minute__gte=day, minute__lt=day + timedelta(days=1)), DAILY_KEYS, DAILY_SUMS
        )
        DailyCost.objects.bulk_create(
            DailyCost(
                day=day,
                **{key: row[key] for key in DAILY_KEYS},
                amount=row["total"],
                gpu_minutes=row["gpu"],
                cpu_core_minutes=row["cpu"],
                memory_gib_minutes=row["memory"],
            )
            for row in rows
        )


def _copy_insert(rows: list[tuple]) -> None:
    table, daily = UsageRecord._meta.db_table, DailyCost._meta.db_table
    columns, keys = ", ".join(COLUMNS), ", ".join(DAILY_KEYS)
    with connection.cursor() as cursor:
        # Dropped at the end, not ON COMMIT: inside an outer transaction this block is only a savepoint.
        cursor.execute(f"CREATE TEMP TABLE usage_in AS SELECT {columns} FROM {table} WITH NO DATA")
        with cursor.copy(f"COPY usage_in ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        # The daily costs and the cost rollups grow by exactly the rows this statement inserted (RETURNING skips the
        # conflicting ones), in the same statement: a repeated or concurrent pass adds nothing twice.
        cursor.execute(
            f"""WITH inserted AS (
                INSERT INTO {table} ({columns}) SELECT {columns} FROM usage_in
                ON CONFLICT (job_id, minute) DO NOTHING
                RETURNING minute, {keys}, gpu_amount + cpu_amount + memory_amount AS amount,
                    gpu_minutes, cpu_core_minutes, memory_gib_minutes
            ),
            delta AS (
                SELECT date_trunc('day', minute, 'UTC') AS day, {keys}, SUM(amount) AS amount,
                    SUM(gpu_minutes) AS gpu_minutes, SUM(cpu_core_minutes) AS cpu_core_minutes,
                    SUM(memory_gib_minutes) AS memory_gib_minutes
                FROM inserted GROUP BY 1, {keys}
            ),
            daily AS (
                INSERT INTO {daily} (day, {keys}, amount, gpu_minutes, cpu_core_minutes, memory_gib_minutes)
                SELECT day, {keys}, amount, gpu_minutes, cpu_core_minutes, memory_gib_minutes FROM delta
                ORDER BY day, {keys}
                ON CONFLICT (day, {keys}) DO UPDATE SET
                    amount = {daily}.amount + EXCLUDED.amount,
                    gpu_minutes = {daily}.gpu_minutes + EXCLUDED.gpu_minutes,
                    cpu_core_minutes = {daily}.cpu_core_minutes + EXCLUDED.cpu_core_minutes,
                    memory_gib_minutes = {daily}.memory_gib_minutes + EXCLUDED.memory_gib_minutes
            )
            {rollup_upsert_sql("delta")}"""
        )
        cursor.execute("DROP TABLE usage_in")
