"""Hourly compaction of a closed month: its per-minute usage records become one row per job, hour and price list.

A month is compacted once its invoices are final and a day has passed (longer than the metering pass looks back),
so nothing bills from its minutes any more. Each day is compacted in its own transaction by one statement that
deletes the day's rows and inserts their sums: a killed run leaves whole days compacted or not, and a repeated one
finds each compacted hour already a single row and writes it back unchanged. Sums are exact (numeric), so the
invoice lines, daily costs and the explorer read the same amounts from the hourly rows as from the minutes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from billing.models import CompactedMonth, Invoice, UsageRecord
from billing.months import month_bounds, month_start
from core.exceptions import Conflict

DAY = timedelta(days=1)
# After the month's end, as long as a job stopping at its last minute can still be metered by a late pass.
GRACE = DAY
GROUP = "tenant_id, project_id, cluster_id, usecase_deployment_id, usecase, template, gpu_type, price_list_id"
SUMS = ("seconds", "gpu_minutes", "cpu_core_minutes", "memory_gib_minutes", "gpu_amount", "cpu_amount", "memory_amount")


def compacted_until() -> datetime | None:
    """The end of the last month whose compaction has begun: the metering pass writes no minute before it."""
    last = CompactedMonth.objects.order_by("-month").values_list("month", flat=True).first()
    return None if last is None else month_bounds(last)[1]


def usage_compact_month(*, month: date, now: datetime | None = None) -> CompactedMonth:
    """Compact a closed month's usage records to hourly rows; safe to repeat, or to run again after a kill."""
    now = now or timezone.now()
    start, end = month_bounds(month_start(month))
    if now < end + GRACE:
        raise Conflict(f"The month {start:%Y-%m} closed less than a day ago; its usage stays per minute.")
    if Invoice.objects.filter(month=start.date(), status=Invoice.Status.DRAFT).exists():
        raise Conflict(f"The month {start:%Y-%m} has draft invoices; it is compacted once they are final.")
    state, _ = CompactedMonth.objects.get_or_create(month=start.date(), defaults={"started_at": now})
    if state.finished_at is not None:
        return state
    records = UsageRecord.objects.filter(minute__gte=start, minute__lt=end)
    before = records.count()
    day = start
    while day < end:
        _compact(day, day + DAY)
        day += DAY
    state.rows_before, state.rows_after, state.finished_at = before, records.count(), timezone.now()
    state.save(update_fields=["rows_before", "rows_after", "finished_at"])
    return state


def usage_compact_closed(*, now: datetime | None = None) -> dict:
    """Beat task body: compact the month before last month's close once it may be (a no-op when it is done)."""
    now = now or timezone.now()
    month = month_start(month_start(now - GRACE) - DAY)
    if CompactedMonth.objects.filter(month=month, finished_at__isnull=False).exists():
        return {"month": month.isoformat(), "compacted": False}
    try:
        state = usage_compact_month(month=month, now=now)
    except Conflict as error:
        return {"month": month.isoformat(), "compacted": False, "reason": str(error)}
    return {"month": month.isoformat(), "compacted": True, "rows_before": state.rows_before, "after": state.rows_after}


def _compact(start: datetime, end: datetime) -> None:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _compact_sql(start, end)
        else:
            _compact_rows(start, end)


def _compact_sql(start: datetime, end: datetime) -> None:
    table = UsageRecord._meta.db_table
    sums = ", ".join(f"SUM({column})" for column in SUMS)
    columns = ", ".join(SUMS)
    with connection.cursor() as cursor:
        # The rows an hour's group replaces are deleted by the same statement that inserts the group's row, so its
        # first minute (the row's key with the job) is free again; nothing outside the transaction sees either half.
        cursor.execute(
            f"""WITH moved AS (
                DELETE FROM {table} WHERE minute >= %s AND minute < %s RETURNING *
            )
            INSERT INTO {table} (job_id, minute, {GROUP}, {columns})
            SELECT job_id, MIN(minute), {GROUP}, {sums}
            FROM moved GROUP BY job_id, date_trunc('hour', minute, 'UTC'), {GROUP}""",
            (start, end),
        )


def _compact_rows(start: datetime, end: datetime) -> None:
    """The same compaction without DELETE ... RETURNING (SQLite): the day's rows are read, summed per job, hour and
    GROUP in Python (exact Decimals), deleted and written back, in the caller's transaction."""
    keys = GROUP.split(", ")
    day = UsageRecord.objects.filter(minute__gte=start, minute__lt=end)
    hours: dict[tuple, dict] = {}
    for row in day.values("job_id", "minute", *keys, *SUMS).order_by("minute").iterator(chunk_size=5000):
        hour = row["minute"].astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        key = (row["job_id"], hour, *(row[name] for name in keys))
        group = hours.get(key)
        if group is None:
            hours[key] = row  # the earliest minute first (ordered), as MIN(minute)
        else:
            for name in SUMS:
                group[name] += row[name]
    day.delete()
    UsageRecord.objects.bulk_create(UsageRecord(**row) for row in hours.values())
