"""Where the cost explorer's sums come from: the scoped usage records, daily costs or cost rollups of a window, as
a `Source` (rows, their time and amount columns, the column grouped by, the steps), and the expressions summing them
per group and step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import BigIntegerField, F, Func, Q, QuerySet, Sum
from django.db.models.functions import Trunc

from billing.models import CostRollup, DailyCost, UsageRecord
from billing.months import month_bounds
from billing.rollups import DIMENSION_COLUMNS
from tenancy.selectors import scope_to_user

NULLABLE = {"usecase_deployment_id"}  # the one grouped column that may be NULL (usage of no deployment)
AMOUNTS = ("gpu_amount", "cpu_amount", "memory_amount")
STEPS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
# A day as its epoch second: the explorer places thousands of rows in buckets without parsing a timestamp for each.
EPOCH = "EXTRACT(EPOCH FROM %(expressions)s)::bigint"


def bucket_starts(start: datetime, end: datetime, step: str) -> list[datetime]:
    """The step boundaries covering [start, end): start floored to the step (UTC), then every step until end."""
    moment = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if step == "day":
        moment = moment.replace(hour=0)
    starts = []
    while moment < end:
        starts.append(moment)
        moment += STEPS[step]
    return starts


def midnight(moment: datetime) -> bool:
    moment = moment.astimezone(UTC)
    return moment == moment.replace(hour=0, minute=0, second=0, microsecond=0)


def narrowed(queryset: QuerySet, *, user, tenant=None, project=None, deployment_id=None, prefix: str = "") -> QuerySet:
    """`queryset` cut to the caller's tenants and the optional filters. Its rows carry the tenant, project and
    deployment through `prefix` ('' for the usage records, daily costs and cost rollups, whose deployment is
    `usecase_deployment_id`; 'deployment__' for the observability rollups, which belong to a deployment)."""
    deployment_field = f"{prefix}id" if prefix else "usecase_deployment_id"
    rows = scope_to_user(queryset, user, tenant_field=f"{prefix}tenant")
    if tenant is not None:
        rows = rows.filter(**{f"{prefix}tenant_id": tenant.pk})
    if project is not None:
        rows = rows.filter(**{f"{prefix}project_id": project.pk})
    if deployment_id is not None:
        rows = rows.filter(**{deployment_field: deployment_id})
    return rows


def usage_scope(*, model=UsageRecord, **scope) -> QuerySet:
    """The usage records (or daily costs, or cost rollups) the caller may read, narrowed by the optional filters."""
    return narrowed(model.objects.all(), **scope)


def report_source(scope: dict, group_by: str, start: datetime, end: datetime, step: str, buckets: tuple) -> Source:
    """Where a report's sums come from: per day over whole UTC days on PostgreSQL the cost rollups (or, narrowed to a
    project or deployment, its daily costs); otherwise the per-minute records (SQLite stores a decimal in 15
    significant digits, too few for a day's exact sum: there the explorer adds the minutes up)."""
    column = DIMENSION_COLUMNS[group_by]
    whole_days = step == "day" and midnight(start) and midnight(end) and connection.vendor == "postgresql"
    if whole_days and scope["project"] is None and scope["deployment_id"] is None:
        # The rollups the metering pass keeps: a row per group and month (the totals), day (the steps), and the
        # per-day sums of all groups from the tenant's own row per day.
        source = rollup_source(scope, group_by, start, end, buckets)
    elif whole_days:
        # Narrowed to a project or deployment: its daily costs (the same sums, a row per group and day).
        rows = usage_scope(**scope, model=DailyCost).filter(day__gte=start, day__lt=end)
        source = Source(rows, "day", ("amount",), column, step, buckets)
    else:
        rows = usage_scope(**scope).filter(minute__gte=start, minute__lt=end)
        source = Source(rows, "minute", AMOUNTS, column, step, buckets)
    return source


@dataclass(frozen=True)
class Source:
    """The rows a report sums: the scoped records (or daily costs), their time column and amount columns, the
    column grouped by, and the steps."""

    rows: QuerySet
    time: str
    amounts: tuple[str, ...]
    column: str
    step: str
    buckets: tuple[datetime, ...]
    totals: QuerySet | None = None  # rows whose sums are the groups' totals, when fewer than `rows` (whole months)
    everything: QuerySet | None = None  # rows whose sums per step are all the groups' together


def rollup_source(scope: dict, group_by: str, start: datetime, end: datetime, buckets: tuple) -> Source:
    """The rollups of the whole days [start, end): its whole months from their month rows, the other days from
    theirs."""
    rollups = usage_scope(**scope, model=CostRollup)
    days = rollups.filter(period=CostRollup.Period.DAY, start__gte=start, start__lt=end)
    months, edges = whole_months(start, end)
    window = Q(period=CostRollup.Period.MONTH, start__in=months)
    for first, last in edges:
        window |= Q(period=CostRollup.Period.DAY, start__gte=first, start__lt=last)
    return Source(
        rows=days.filter(dimension=group_by),
        time="start",
        amounts=("amount",),
        column="key",
        step="day",
        buckets=buckets,
        totals=rollups.filter(window, dimension=group_by),
        everything=days.filter(dimension="tenant"),
    )


def whole_months(start: datetime, end: datetime) -> tuple[list[datetime], list[tuple[datetime, datetime]]]:
    """The first instants of the calendar months inside [start, end), and the spans of days outside them."""
    months = []
    moment = month_bounds(start.astimezone(UTC).date().replace(day=1))[0]
    if moment < start:
        moment = month_bounds(moment.date())[1]
    first = moment
    while month_bounds(moment.date())[1] <= end:
        months.append(moment)
        moment = month_bounds(moment.date())[1]
    if not months:
        return [], [(start, end)]
    edges = [(start, first), (moment, end)]
    return months, [(low, high) for low, high in edges if low < high]


def row_amount(source: Source):
    """A row's amount: the daily cost's (or rollup's), or the sum of a usage record's three."""
    if source.time != "minute":
        return F("amount")
    return F("gpu_amount") + F("cpu_amount") + F("memory_amount")


def per_step(source: Source) -> QuerySet:
    """PostgreSQL: the sums per group and step, each step as its epoch second."""
    resources = {"gpu": Sum("gpu_minutes"), "cpu": Sum("cpu_core_minutes"), "memory": Sum("memory_gib_minutes")}
    return step_sums(source.rows, source).annotate(**resources)


def row_bucket(source: Source) -> Func:
    """A row's step as the epoch second of its start."""
    if source.time != "minute":
        return Func(F(source.time), template=EPOCH, output_field=BigIntegerField())
    return Func(Trunc("minute", source.step, tzinfo=UTC), template=EPOCH, output_field=BigIntegerField())


def step_sums(rows: QuerySet, source: Source) -> QuerySet:
    return rows.values(source.column, bucket=row_bucket(source)).annotate(amount=Sum(row_amount(source)))


def keys_filter(column: str, keys: set[str]) -> Q:
    """The rows of the groups `keys` (a group's key is its value as text, '' for none: NULL or the empty string)."""
    values = [key for key in keys if key]
    condition = Q(**{f"{column}__in": values})
    if "" in keys:
        condition |= Q(**{f"{column}__isnull": True}) if column in NULLABLE else Q(**{column: ""})
    return condition
