"""Cost rollups: the usage records summed per day and per month, tenant and value of each explorer dimension.

The metering pass keeps them (with the daily costs) from the records it actually inserts, in the same statement on
PostgreSQL; elsewhere the days and months it touched are recomputed from the daily costs. Nothing else changes what
a record costs: a price change applies to minutes metered after it (each record keeps its price list), compaction
keeps every sum, and credits are invoice lines, not usage. So a rollup always equals the sum of its records.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

from billing.models import CostRollup, DailyCost
from billing.months import month_bounds, month_start

# The explorer's dimensions and the column of the usage records (and daily costs) each one groups by.
DIMENSION_COLUMNS = {
    "project": "project_id",
    "tenant": "tenant_id",
    "deployment": "usecase_deployment_id",
    "usecase": "usecase",
    "template": "template",
    "gpu_type": "gpu_type",
}
SUMS = ("amount", "gpu_minutes", "cpu_core_minutes", "memory_gib_minutes")


def _key_sql(column: str) -> str:
    return f"COALESCE(delta.{column}::text, '')"


def rollup_upsert_sql(delta: str) -> str:
    """An INSERT adding `delta` (a CTE or subquery named delta: day, tenant_id, the dimension columns and SUMS, a row
    per day and group of the daily costs) to the day and month rollups of every dimension."""
    table = CostRollup._meta.db_table
    keys = ", ".join(f"('{name}', {_key_sql(column)})" for name, column in DIMENSION_COLUMNS.items())
    sums = ", ".join(f"SUM(delta.{name})" for name in SUMS)
    updates = ", ".join(f"{name} = {table}.{name} + EXCLUDED.{name}" for name in SUMS)
    # Ordered by the conflict key, so two passes at once lock shared rows in the same order (no deadlock).
    return f"""INSERT INTO {table} (dimension, key, period, start, tenant_id, {", ".join(SUMS)})
        SELECT d.dimension, d.key, p.period, p.start, delta.tenant_id, {sums}
        FROM {delta}
        CROSS JOIN LATERAL (VALUES {keys}) AS d (dimension, key)
        CROSS JOIN LATERAL (VALUES ('day', delta.day), ('month', date_trunc('month', delta.day, 'UTC')))
            AS p (period, start)
        GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (dimension, key, period, start, tenant_id) DO UPDATE SET {updates}"""


def _month(day: datetime) -> datetime:
    return month_bounds(month_start(day.astimezone(UTC)))[0]


def rollup_rebuild(*, days: set[datetime]) -> None:
    """Recompute the rollups of `days` and of their months from the daily costs, exactly (Decimal sums in Python):
    the path of databases other than PostgreSQL, after `daily_cost_rebuild` of the same days."""
    months = {_month(day) for day in days}
    CostRollup.objects.filter(period=CostRollup.Period.DAY, start__in=days).delete()
    CostRollup.objects.filter(period=CostRollup.Period.MONTH, start__in=months).delete()
    sums: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * len(SUMS))
    columns = sorted(set(DIMENSION_COLUMNS.values()))
    for month in months:
        start, end = month_bounds(month.date())
        rows = DailyCost.objects.filter(day__gte=start, day__lt=end).values_list("day", *columns, *SUMS)
        for day, *values in rows.order_by().iterator(chunk_size=5000):
            by_column = dict(zip(columns, values, strict=False))
            periods = [("month", month), ("day", day)] if day in days else [("month", month)]
            tenant_id = by_column["tenant_id"]
            for dimension, column in DIMENSION_COLUMNS.items():
                key = "" if by_column[column] is None else str(by_column[column])
                for period, moment in periods:
                    group = sums[dimension, key, period, moment, tenant_id]
                    for index, amount in enumerate(values[len(columns) :]):
                        group[index] += amount
    CostRollup.objects.bulk_create(
        (
            CostRollup(
                dimension=dimension,
                key=key,
                period=period,
                start=start,
                tenant_id=tenant_id,
                **dict(zip(SUMS, values, strict=True)),
            )
            for (dimension, key, period, start, tenant_id), values in sums.items()
        ),
        batch_size=2000,
    )
