"""The cost explorer: what the usage records cost over time, grouped by one dimension, and per million tokens served.

Amounts are the exact sums of the records (12 places, as metered): the explorer is showback and does not round;
the one rounding to money is the invoice's, to the cent at line level (README, Billing). A cost per million tokens is
a rate, reported to 6 places.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from django.db.models import F, Sum

from billing.cost_sources import (
    STEPS,
    Source,
    bucket_starts,
    keys_filter,
    per_step,
    report_source,
    row_amount,
    row_bucket,
    step_sums,
)
from billing.rollups import DIMENSION_COLUMNS
from deployments.models import UseCaseDeployment
from observability.models import MetricRollup
from tenancy.models import Project, Tenant
from tenancy.selectors import scope_to_user

# group_by: (usage record column, metric rollup column or None when tokens cannot be told apart by it)
TOKEN_COLUMNS = {
    "project": "deployment__project_id",
    "tenant": "deployment__tenant_id",
    "deployment": "deployment_id",
    "usecase": "deployment__usecase_id",
    "template": "deployment__template__slug",
    "gpu_type": None,
}
DIMENSIONS = {name: (column, TOKEN_COLUMNS[name]) for name, column in DIMENSION_COLUMNS.items()}
# The tables whose `name` labels a group of these dimensions (joined on their id in the explorer's query).
LABELLED = {"project": Project, "tenant": Tenant, "deployment": UseCaseDeployment}
NAMES = {group_by: model._meta.db_table for group_by, model in LABELLED.items()}
# Dimensions with few values (a caller's tenants, GPU types, use cases, templates): every group's steps come with the
# totals in one query, cheaper than a second query for the steps of the groups shown.
FEW = {"tenant", "gpu_type", "usecase", "template"}
RATE_STEP = Decimal("0.000001")
MILLION = Decimal(1_000_000)


@dataclass
class CostGroup:
    """One value of the dimension: its total, its amount per step, resource-minutes and tokens served.

    `amounts` is None until loaded (`cost_amounts`): a page of the API or the chart's largest groups need the steps of
    a few groups, and reading every group's steps is what made a month by deployment slow."""

    key: str
    label: str = ""
    total: Decimal = Decimal(0)
    amounts: list[Decimal] | None = None
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
    source: Source | None = field(default=None, repr=False, compare=False)  # what `cost_amounts` reads

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
    shown: slice | None = None,
) -> CostReport:
    """Cost of the caller's usage records with a minute in [start, end), per value of `group_by` and per step.

    Two or three queries whatever the size: the totals per group with their labels, the tokens served per group (from
    the observability rollups), and the amounts per step of the groups `shown` (by place, largest first: a page, the
    chart's; None for every group, as CSV, in the first query). Per day over whole UTC days on PostgreSQL the sums come
    from the cost rollups the metering pass keeps (`billing.cost_sources.report_source`); otherwise from the
    per-minute records (on SQLite with every group's steps).
    """
    token_column = DIMENSIONS[group_by][1]
    buckets = bucket_starts(start, end, step)
    scope = {"user": user, "tenant": tenant, "project": project, "deployment_id": deployment_id}
    source = report_source(scope, group_by, start, end, step, tuple(buckets))
    shown = None if group_by in FEW else shown
    groups = _groups(source, group_by=group_by, shown=shown)
    if token_column is not None:
        _add_tokens(
            groups, user=user, column=token_column, start=start, end=end, filters=(tenant, project, deployment_id)
        )
    _label(groups, group_by)
    ordered = sorted(groups.values(), key=lambda group: (-group.total, group.label, group.key))
    report = CostReport(
        group_by=group_by, start=start, end=end, step=step, buckets=buckets, groups=ordered, source=source
    )
    cost_amounts(report, report.groups[shown or slice(None)])
    return report


def _groups(source: Source, *, group_by: str, shown: slice | None = None) -> dict[str, CostGroup]:
    """The groups with their totals and the steps of those `shown`: summed in SQL on PostgreSQL; elsewhere (SQLite,
    whose decimal sums are float sums) the rows are read and summed as exact Decimals in Python, every group's steps
    included. Same numbers."""
    if connection.vendor == "postgresql":
        return _groups_sql(source, group_by, shown)
    return _groups_python(source, group_by=group_by)


def _groups_sql(source: Source, group_by: str, shown: slice | None) -> dict[str, CostGroup]:
    """One row per group (~1,000 for a month by deployment): its total and resource-minutes summed in SQL and its name
    joined in; with `shown` None also its steps, as two arrays. Building and sending every group's steps was most of
    the time of a month by deployment, so a page (or the chart) has `cost_amounts` load the steps of its groups."""
    column = source.column
    names = NAMES.get(group_by)
    key = "NULLIF(g.key, '')::uuid" if source.time == "start" else "g.key"  # a rollup's key is text
    name, join = ("NULL", "") if names is None else ("names.name", f"LEFT JOIN {names} AS names ON names.id = {key}")
    if shown is None:
        sql, params = per_step(source).order_by().query.sql_with_params()
        first = int(source.buckets[0].timestamp()) if source.buckets else 0
        params = (first, int(STEPS[source.step].total_seconds()), *params)
        steps = "ARRAY_AGG((bucket - %s) / %s), ARRAY_AGG(amount)"
        sums = "SUM(amount), SUM(gpu), SUM(cpu), SUM(memory)"
    else:
        resources = {"gpu": Sum("gpu_minutes"), "cpu": Sum("cpu_core_minutes"), "memory": Sum("memory_gib_minutes")}
        rows = source.rows if source.totals is None else source.totals
        totals = rows.values(column).annotate(amount=Sum(row_amount(source)), **resources).order_by()
        sql, params = totals.query.sql_with_params()
        steps, sums = "NULL, NULL", "amount, gpu, cpu, memory"
    grouped = f"GROUP BY {column}" if shown is None else ""
    groups: dict[str, CostGroup] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT g.*, {name} FROM (
                SELECT {column} AS key, {sums}, {steps} FROM ({sql}) AS rows {grouped}
            ) AS g {join}""",
            params,
        )
        for value, total, gpu, cpu, memory, step_numbers, step_amounts, label in cursor.fetchall():
            key = _key(value)
            group = groups[key] = CostGroup(key=key, label=label or "", total=total, gpu_minutes=gpu)
            group.cpu_core_minutes, group.memory_gib_minutes = cpu, memory
            if step_numbers is not None:
                group.amounts = [Decimal(0)] * len(source.buckets)
                for step, amount in zip(step_numbers, step_amounts, strict=True):
                    group.amounts[step] = amount
    return groups


def cost_amounts(report: CostReport, groups: list[CostGroup]) -> None:
    """Load the amount per step of `groups` (of `report`) whose steps are not loaded yet: one query on PostgreSQL,
    each group's steps summed in SQL as two arrays; the same exact numerics as their totals."""
    wanted = [group for group in groups if group.amounts is None]
    if not wanted:
        return
    source = report.source
    rows = source.rows
    if len(wanted) < len(report.groups):
        rows = rows.filter(keys_filter(source.column, {group.key for group in wanted}))
    sql, params = step_sums(rows, source).order_by().query.sql_with_params()
    first = int(report.buckets[0].timestamp()) if report.buckets else 0
    by_key = {group.key: group for group in wanted}
    for group in wanted:
        group.amounts = [Decimal(0)] * len(report.buckets)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT {source.column}, ARRAY_AGG((bucket - %s) / %s), ARRAY_AGG(amount)
            FROM ({sql}) AS per_step GROUP BY {source.column}""",
            (first, int(STEPS[report.step].total_seconds()), *params),
        )
        for value, steps, step_amounts in cursor.fetchall():
            amounts = by_key[_key(value)].amounts
            for step, amount in zip(steps, step_amounts, strict=True):
                amounts[step] = amount


def cost_step_totals(report: CostReport) -> list[Decimal]:
    """The amount per step of all the groups together (the chart's stacks end there): from the loaded steps when
    every group has them, else one query of a row per step."""
    totals = [Decimal(0)] * len(report.buckets)
    if all(group.amounts is not None for group in report.groups):
        for group in report.groups:
            totals = [total + amount for total, amount in zip(totals, group.amounts, strict=True)]
        return totals
    source = report.source
    rows = source.rows if source.everything is None else source.everything
    per_step = rows.values(bucket=row_bucket(source)).annotate(amount=Sum(row_amount(source))).order_by()
    first, width = int(report.buckets[0].timestamp()), int(STEPS[report.step].total_seconds())
    for row in per_step:
        totals[(row["bucket"] - first) // width] = row["amount"]
    return totals


def _groups_python(source: Source, *, group_by: str) -> dict[str, CostGroup]:
    """The same groups from the rows themselves, steps included, as exact Decimal sums (the single-machine default's
    path)."""
    column, step, buckets = source.column, source.step, source.buckets
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
