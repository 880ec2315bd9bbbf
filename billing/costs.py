"""The cost explorer: what the usage records cost over time, grouped by one dimension, and per million tokens served.

Amounts are the exact sums of the records (12 places, as metered): the explorer is showback and does not round;
the one rounding to money is the invoice's, to the cent at line level (README, Billing). A cost per million tokens is
a rate, reported to 6 places.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from django.db.models import BigIntegerField, F, Func, QuerySet, Sum
from django.db.models.functions import Trunc

from billing.models import DailyCost, UsageRecord
from deployments.models import UseCaseDeployment
from observability.models import MetricRollup
from tenancy.models import Project, Tenant
from tenancy.selectors import scope_to_user

# group_by: (usage record column, metric rollup column or None when tokens cannot be told apart by it)
DIMENSIONS = {
    "project": ("project_id", "deployment__project_id"),
    "tenant": ("tenant_id", "deployment__tenant_id"),
    "deployment": ("usecase_deployment_id", "deployment_id"),
    "usecase": ("usecase", "deployment__usecase_id"),
    "template": ("template", "deployment__template__slug"),
    "gpu_type": ("gpu_type", None),
}
# The tables whose `name` labels a group of these dimensions (joined on their id in the explorer's query).
LABELLED = {"project": Project, "tenant": Tenant, "deployment": UseCaseDeployment}
NAMES = {group_by: model._meta.db_table for group_by, model in LABELLED.items()}
AMOUNTS = ("gpu_amount", "cpu_amount", "memory_amount")
STEPS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
RATE_STEP = Decimal("0.000001")
# A day as its epoch second: the explorer places thousands of rows in buckets without parsing a timestamp for each.
EPOCH = "EXTRACT(EPOCH FROM %(expressions)s)::bigint"
MILLION = Decimal(1_000_000)


@dataclass
class CostGroup:
    """One value of the dimension: its total, its amount per step, resource-minutes and tokens served."""

    key: str
    label: str = ""
    total: Decimal = Decimal(0)
    amounts: list[Decimal] = field(default_factory=list)
    gpu_minutes: Decimal = Decimal(0)
    cpu_core_minutes: Decimal = Decimal(0)
    memory_gib_minutes: Decimal = Decimal(0)
    tokens: float | None = None
    requests: float | None = None

    @property
    def cost_per_million_tokens(self) -> Decimal | None:
        if not self.tokens:
            return None
        return (self.total * MILLION / Decimal(repr(self.tokens))).quantize(RATE_STEP, rounding=ROUND_HALF_UP)


@dataclass
class CostReport:
    group_by: str
    start: datetime
    end: datetime
    step: str
    buckets: list[datetime]
    groups: list[CostGroup]  # largest total first

    @property
    def total(self) -> Decimal:
        return sum((group.total for group in self.groups), Decimal(0))

    @property
    def tokens(self) -> float | None:
        counted = [group.tokens for group in self.groups if group.tokens is not None]
        return sum(counted) if counted else None

    @property
    def cost_per_million_tokens(self) -> Decimal | None:
        tokens = self.tokens
        if not tokens or DIMENSIONS[self.group_by][1] is None:
            return None
        return (self.total * MILLION / Decimal(repr(tokens))).quantize(RATE_STEP, rounding=ROUND_HALF_UP)


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


def _midnight(moment: datetime) -> bool:
    moment = moment.astimezone(UTC)
    return moment == moment.replace(hour=0, minute=0, second=0, microsecond=0)


def usage_scope(*, user, tenant=None, project=None, deployment_id=None, model=UsageRecord) -> QuerySet:
    """The usage records (or daily costs) the caller may read, narrowed by the optional filters."""
    records = scope_to_user(model.objects.all(), user)
    if tenant is not None:
        records = records.filter(tenant_id=tenant.pk)
    if project is not None:
        records = records.filter(project_id=project.pk)
    if deployment_id is not None:
        records = records.filter(usecase_deployment_id=deployment_id)
    return records


def cost_report(
    *,
    user,
    group_by: str,
    start: datetime,
    end: datetime,
    step: str,
    tenant: Tenant | None = None,
    project: Project | None = None,
    deployment_id=None,
) -> CostReport:
    """Cost of the caller's usage records with a minute in [start, end), per value of `group_by` and per step.

    Three queries whatever the size: the usage sums per group and step, the tokens served per group (from the
    observability rollups), the labels of the groups. Per day over whole UTC days on PostgreSQL the sums come from
    the daily costs (`DailyCost`, kept by the metering pass); otherwise from the per-minute records (SQLite stores a
    decimal in 15 significant digits, too few for a day's exact sum: there the explorer adds the minutes up).
    """
    column, token_column = DIMENSIONS[group_by]
    buckets = bucket_starts(start, end, step)
    scope = {"user": user, "tenant": tenant, "project": project, "deployment_id": deployment_id}
    if step == "day" and _midnight(start) and _midnight(end) and connection.vendor == "postgresql":
        # Whole days: the daily costs the metering pass keeps (the same sums, a row per group and day).
        source = Source(usage_scope(**scope, model=DailyCost).filter(day__gte=start, day__lt=end), "day", ("amount",))
    else:
        source = Source(usage_scope(**scope).filter(minute__gte=start, minute__lt=end), "minute", AMOUNTS)
    groups = _groups(source, column=column, group_by=group_by, step=step, buckets=buckets)
    if token_column is not None:
        _add_tokens(
            groups, user=user, column=token_column, start=start, end=end, filters=(tenant, project, deployment_id)
        )
    _label(groups, group_by)
    ordered = sorted(groups.values(), key=lambda group: (-group.total, group.label, group.key))
    return CostReport(group_by=group_by, start=start, end=end, step=step, buckets=buckets, groups=ordered)


@dataclass(frozen=True)
class Source:
    """The rows a report sums: the scoped records (or daily costs), their time column and their amount columns."""

    rows: QuerySet
    time: str
    amounts: tuple[str, ...]


def _groups(source: Source, *, column: str, group_by: str, step: str, buckets: list[datetime]) -> dict[str, CostGroup]:
    """The groups with their totals and amounts per step: summed in SQL on PostgreSQL; elsewhere (SQLite, whose
    decimal sums are float sums) the rows are read and summed as exact Decimals in Python. Same numbers on both."""
    if connection.vendor == "postgresql":
        return _groups_sql(_per_step(source, column=column, step=step), column, group_by, step, buckets)
    return _groups_python(source, column=column, group_by=group_by, step=step, buckets=buckets)


def _per_step(source: Source, *, column: str, step: str) -> QuerySet:
    """PostgreSQL: the sums per group and step, each step as its epoch second."""
    resources = {"gpu": Sum("gpu_minutes"), "cpu": Sum("cpu_core_minutes"), "memory": Sum("memory_gib_minutes")}
    if source.time == "day":
        bucket = Func(F("day"), template=EPOCH, output_field=BigIntegerField())
        return source.rows.values(column, bucket=bucket).annotate(amount=Sum("amount"), **resources)
    bucket = Func(Trunc("minute", step, tzinfo=UTC), template=EPOCH, output_field=BigIntegerField())
    amount = Sum(F("gpu_amount") + F("cpu_amount") + F("memory_amount"))
    return source.rows.values(column, bucket=bucket).annotate(amount=amount, **resources)


def _groups_sql(
    per_step: QuerySet, column: str, group_by: str, step: str, buckets: list[datetime]
) -> dict[str, CostGroup]:
    """The groups of a query of sums per group and step, summed again per group in SQL: one row per group with its
    steps and their amounts as two arrays, and its name joined in, so Python reads ~1,000 rows for a month by
    deployment instead of building ~4,000 rows of Decimals (what made it slow). The sums are the same exact numerics.
    """
    first = int(buckets[0].timestamp()) if buckets else 0
    sql, params = per_step.order_by().query.sql_with_params()
    names = NAMES.get(group_by)
    name, join = ("NULL", "") if names is None else ("names.name", f"LEFT JOIN {names} AS names ON names.id = g.key")
    groups: dict[str, CostGroup] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT g.*, {name} FROM (
                SELECT {column} AS key, SUM(amount), SUM(gpu), SUM(cpu), SUM(memory),
                    ARRAY_AGG((bucket - %s) / %s), ARRAY_AGG(amount)
                FROM ({sql}) AS per_step GROUP BY {column}
            ) AS g {join}""",
            (first, int(STEPS[step].total_seconds()), *params),
        )
        for value, total, gpu, cpu, memory, steps, step_amounts, label in cursor.fetchall():
            amounts = [Decimal(0)] * len(buckets)
            for step, amount in zip(steps, step_amounts, strict=True):
                amounts[step] = amount
            key = _key(value)
            groups[key] = CostGroup(
                key=key,
                label=label or "",
                total=total,
                amounts=amounts,
                gpu_minutes=gpu,
                cpu_core_minutes=cpu,
                memory_gib_minutes=memory,
            )
    return groups


def _groups_python(
    source: Source, *, column: str, group_by: str, step: str, buckets: list[datetime]
) -> dict[str, CostGroup]:
    """The same groups from the rows themselves, as exact Decimal sums (the single-machine default's path)."""
    groups: dict[str, CostGroup] = {}
    fields = (column, source.time, "gpu_minutes", "cpu_core_minutes", "memory_gib_minutes", *source.amounts)
    for value, moment, gpu, cpu, memory, *amounts in source.rows.values_list(*fields).order_by().iterator(5000):
        key = _key(value)
        group = groups.get(key)
        if group is None:
            group = groups[key] = CostGroup(key=key, amounts=[Decimal(0)] * len(buckets))
        amount = sum(amounts, Decimal(0))
        group.amounts[(moment - buckets[0]) // STEPS[step]] += amount
        group.total += amount
        group.gpu_minutes += gpu
        group.cpu_core_minutes += cpu
        group.memory_gib_minutes += memory
    model = LABELLED.get(group_by)
    if model is not None and groups:
        for pk, name in model.objects.filter(pk__in=[key for key in groups if key]).values_list("pk", "name"):
            groups[str(pk)].label = name
    return groups


def _key(value) -> str:
    return "" if value is None else str(value)


def _add_tokens(groups: dict, *, user, column: str, start: datetime, end: datetime, filters: tuple) -> None:
    tenant, project, deployment_id = filters
    rollups = scope_to_user(MetricRollup.objects.all(), user, tenant_field="deployment__tenant")
    if tenant is not None:
        rollups = rollups.filter(deployment__tenant_id=tenant.pk)
    if project is not None:
        rollups = rollups.filter(deployment__project_id=project.pk)
    if deployment_id is not None:
        rollups = rollups.filter(deployment_id=deployment_id)
    rows = (
        rollups.filter(start__gte=start, start__lt=end)
        .values(column)
        .annotate(tokens=Sum(F("prompt_tokens") + F("output_tokens")), requests=Sum("requests"))
        .order_by()
    )
    for row in rows:
        key = _key(row[column])
        group = groups.get(key)
        if group is None:
            continue  # tokens served by something that cost nothing metered in the window
        group.tokens, group.requests = row["tokens"] or 0.0, row["requests"] or 0.0


def _label(groups: dict, group_by: str) -> None:
    """Labels of the groups whose name was not joined in: no value, a deleted deployment, or the value itself."""
    empty = {"deployment": "(no deployment)", "usecase": "(no use case)", "template": "(no template)"}
    for key, group in groups.items():
        if group.label:
            continue
        if not key:
            group.label = empty.get(group_by, "(no GPU)")
        elif group_by == "deployment":
            group.label = f"deleted deployment {key}"
        else:
            group.label = key


CSV_COLUMNS = ["group_by", "key", "label", "start", "amount"]


def cost_csv(report: CostReport) -> str:
    """A row per group and step with usage (exact amounts), then a row per group with its total and tokens."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*CSV_COLUMNS, "gpu_minutes", "cpu_core_minutes", "memory_gib_minutes", "cost_per_million_tokens"])
    for group in report.groups:
        for moment, amount in zip(report.buckets, group.amounts, strict=True):
            if amount:
                writer.writerow([report.group_by, group.key, group.label, moment.isoformat(), amount, "", "", "", ""])
    for group in report.groups:
        rate = group.cost_per_million_tokens
        writer.writerow(
            [
                report.group_by,
                group.key,
                group.label,
                "TOTAL",
                group.total,
                group.gpu_minutes,
                group.cpu_core_minutes,
                group.memory_gib_minutes,
                "" if rate is None else rate,
            ]
        )
    return out.getvalue()
