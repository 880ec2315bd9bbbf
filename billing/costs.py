"""The cost explorer: what the usage records cost over time, grouped by one dimension, and per million tokens served.

Amounts are the exact sums of the records (12 places, as metered): the explorer is showback and does not round;
the one rounding to money is the invoice's, to the cent at line level (README, Billing). A cost per million tokens is
a rate, reported to 6 places.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import F, Q, QuerySet, Sum

from billing.cost_groups import CostGroup, groups_in_python, per_million
from billing.cost_ranks import folds_steps, ranked_groups
from billing.cost_sources import (
    STEPS,
    Source,
    bucket_starts,
    keys_filter,
    narrowed,
    report_source,
    row_amount,
    row_bucket,
    step_sums,
)
from billing.rollups import DIMENSION_COLUMNS
from observability.models import MetricRollup, SloHour, TokenDay

# group_by: the observability rollups' column telling tokens apart by it, or None when they cannot be
TOKEN_COLUMNS = {
    "project": "deployment__project_id",
    "tenant": "deployment__tenant_id",
    "deployment": "deployment_id",
    "usecase": "deployment__usecase_id",
    "template": "deployment__template__slug",
    "gpu_type": None,
}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
DIMENSIONS = {name: (column, TOKEN_COLUMNS[name]) for name, column in DIMENSION_COLUMNS.items()}


@dataclass
class CostReport:
    """The groups of a window, largest total first: how many, their total and tokens, and those read (by place, 0 the
    largest: a page and the chart's on PostgreSQL, every group elsewhere or when asked for)."""

    group_by: str
    start: datetime
    end: datetime
    step: str
    buckets: list[datetime]
    count: int = 0
    total: Decimal = Decimal(0)
    tokens: float | None = None
    read: dict[int, CostGroup] = field(default_factory=dict, repr=False)
    source: Source | None = field(default=None, repr=False, compare=False)  # what `cost_amounts` reads
    more: Callable | None = field(default=None, repr=False, compare=False)  # reads the groups at other places

    @property
    def groups(self) -> list[CostGroup]:
        """The groups read, largest total first."""
        return [self.read[place] for place in sorted(self.read)]

    @property
    def cost_per_million_tokens(self) -> Decimal | None:
        if DIMENSIONS[self.group_by][1] is None:
            return None
        return per_million(self.total, self.tokens)

    def ranked(self, window: slice) -> list[CostGroup]:
        """The groups at the places of `window` (0 the largest), read first when they were not (one query)."""
        places = range(*window.indices(self.count))
        missing = [place for place in places if place not in self.read]
        if missing and self.more is not None:
            self.read.update(self.more((slice(missing[0], missing[-1] + 1),)))
        return [self.read[place] for place in places]


class RankedGroups:
    """A report's groups as a sequence for a paginator (DRF's or Django's): its length is the report's count, a slice
    is the groups at those places, read only when the report has not read them."""

    def __init__(self, report: CostReport):
        self.report = report

    def count(self) -> int:
        return self.report.count

    def __len__(self) -> int:
        return self.report.count

    def __getitem__(self, window: slice) -> list[CostGroup]:
        return self.report.ranked(window)


def cost_report(
    *,
    user,
    group_by: str,
    start: datetime,
    end: datetime,
    step: str,
    tenant=None,
    project=None,
    deployment_id=None,
    shown: slice | tuple[slice, ...] | None = None,
    steps: bool = True,
) -> CostReport:
    """Cost of the caller's usage records with a minute in [start, end), per value of `group_by` and per step.

    On PostgreSQL two queries whatever the number of groups: the groups counted, summed, labelled and ranked with the
    tokens they served, returning the groups at the places `shown` (slices: a page, the chart's largest; None for
    every group, as CSV), then those groups' amounts per step (unless `steps` is False: `cost_amounts` of a few).
    Per day over whole UTC days the sums come from the cost rollups the metering pass keeps
    (`billing.cost_sources.report_source`); otherwise from the per-minute records. Elsewhere (SQLite) every group is
    built in Python from the per-minute records."""
    buckets = bucket_starts(start, end, step)
    scope = {"user": user, "tenant": tenant, "project": project, "deployment_id": deployment_id}
    source = report_source(scope, group_by, start, end, step, tuple(buckets))
    tokens = token_rows(scope, group_by, start, end)
    report = CostReport(group_by=group_by, start=start, end=end, step=step, buckets=buckets, source=source)
    if connection.vendor != "postgresql":
        ordered = groups_in_python(source, group_by, tokens)
        report.read = dict(enumerate(ordered))
        report.count, report.total = len(ordered), sum((group.total for group in ordered), Decimal(0))
        counted = [group.tokens for group in ordered if group.tokens is not None]
        report.tokens = sum(counted) if counted else None
        return report

    def read(windows, with_steps=False):
        ranked = ranked_groups(source, group_by, tokens, windows, with_steps)
        report.count, report.total, report.tokens, rows = ranked
        return {place: _group(*row, steps=len(buckets) if with_steps else None) for place, *row in rows}

    report.more = read
    windows = shown if shown is None or isinstance(shown, tuple) else (shown,)
    # a page of the rollups comes with its steps (one statement); every group's, or the records', in a second
    report.read = read(windows, with_steps=steps and windows is not None and folds_steps(source))
    if steps:
        cost_amounts(report, report.groups)
    return report


def _group(key, label, total, gpu, cpu, memory, tokens, requests, places, amounts, *, steps: int | None) -> CostGroup:
    """A group read by the ranking; with its amounts per step when `steps` (their number) is given."""
    group = CostGroup(key=key, label=label, total=total, gpu_minutes=gpu, cpu_core_minutes=cpu)
    group.memory_gib_minutes, group.tokens, group.requests = memory, tokens, requests
    if steps is not None:
        group.amounts = [Decimal(0)] * steps
        for place, amount in zip(places or (), amounts or (), strict=True):
            group.amounts[place] = amount
    return group


def token_rows(scope: dict, group_by: str, start: datetime, end: datetime) -> QuerySet | None:
    """The tokens and requests served in [start, end) per value of `group_by` (`group_key`; a value may have a row
    per source, to add up), as narrowed as the usage; None when tokens cannot be told apart by the dimension.

    The sums of the observability rollups with a start in the window, read from the narrowest rows that hold them:
    the whole UTC days from the daily token rows, the whole hours left at the edges from the SLO hours, the minutes
    left from the rollups themselves (one statement, UNION ALL). A month of 1,000 deployments reads ~30,000 daily
    rows, not the ~10 million minute rollups; a window cut mid-hour adds at most two partial hours of rollups."""
    column = TOKEN_COLUMNS[group_by]
    if column is None:
        return None
    days, hours, minutes = token_spans(start, end)
    if not (days or hours or minutes):  # an empty window: an empty range of rollups
        minutes = [(start, end)]
    sources = (
        (TokenDay, "day", days, F("tokens"), "requests"),
        (SloHour, "hour", hours, F("tokens"), "all_requests"),
        (MetricRollup, "start", minutes, F("prompt_tokens") + F("output_tokens"), "requests"),
    )
    parts = []
    for model, moment, spans, tokens, requests in sources:
        if not spans:
            continue
        within = Q()
        for first, after in spans:
            within |= Q(**{f"{moment}__gte": first, f"{moment}__lt": after})
        rows = narrowed(model.objects.all(), **scope, prefix="deployment__").filter(within)
        parts.append(rows.values(group_key=F(column)).annotate(tokens=Sum(tokens), requests=Sum(requests)).order_by())
    return parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]


def token_spans(start: datetime, end: datetime) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """[start, end) cut into (whole UTC days, whole hours left, minutes left), each a list of [first, after) spans."""
    days, rest = _aligned(start, end, DAY)
    hours, minutes = [], []
    for first, after in rest:
        whole, edges = _aligned(first, after, HOUR)
        hours += whole
        minutes += edges
    return days, hours, minutes


def _aligned(start: datetime, end: datetime, width: timedelta) -> tuple[list[tuple], list[tuple]]:
    """The span of whole `width`s (from the epoch, UTC) within [start, end), and the non-empty spans around it."""
    first = start + (EPOCH - start) % width  # the first boundary at or after start
    after = end - (end - EPOCH) % width  # the last boundary at or before end
    if first >= after:
        return [], [(start, end)] if start < end else []
    edges = [(a, b) for a, b in ((start, first), (after, end)) if a < b]
    return [(first, after)], edges


def cost_amounts(report: CostReport, groups: list[CostGroup]) -> None:
    """Load the amount per step of `groups` (of `report`) whose steps are not loaded yet: one query on PostgreSQL,
    each group's steps summed in SQL as two arrays; the same exact numerics as their totals."""
    wanted = [group for group in groups if group.amounts is None]
    for group, steps in _step_arrays(report, wanted):
        group.amounts = [Decimal(0)] * len(report.buckets)
        for step, amount in steps:
            group.amounts[step] = amount


def cost_steps(report: CostReport) -> Iterator[tuple[CostGroup, list[tuple[int, Decimal]]]]:
    """Every group read, largest first, with its (step, amount) pairs in step order (a step without usage may be
    left out): the CSV's rows, without a list of every step per group (one query on PostgreSQL)."""
    groups = report.groups
    if all(group.amounts is not None for group in groups):
        for group in groups:
            yield group, list(enumerate(group.amounts))
        return
    yield from _step_arrays(report, groups)


def _step_arrays(report: CostReport, groups: list[CostGroup]) -> Iterator[tuple[CostGroup, list[tuple[int, Decimal]]]]:
    """`groups` (in their order) with their (step, amount) pairs in step order: one query, the groups' sums per
    step aggregated in SQL into two arrays per group."""
    if not groups:
        return
    source = report.source
    rows = source.rows
    if len(groups) < report.count:
        rows = rows.filter(keys_filter(source.column, {group.key for group in groups}))
    sql, params = step_sums(rows, source).order_by().query.sql_with_params()
    first = int(report.buckets[0].timestamp()) if report.buckets else 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT {source.column}, ARRAY_AGG((bucket - %s) / %s ORDER BY bucket), ARRAY_AGG(amount ORDER BY bucket)
            FROM ({sql}) AS per_step GROUP BY {source.column}""",
            (first, int(STEPS[report.step].total_seconds()), *params),
        )
        by_key = {"" if value is None else str(value): (steps, amounts) for value, steps, amounts in cursor}
    for group in groups:
        steps, amounts = by_key.get(group.key, ((), ()))
        yield group, list(zip(steps, amounts, strict=True))


def cost_step_totals(report: CostReport) -> list[Decimal]:
    """The amount per step of all the groups together (the chart's stacks end there): from the loaded steps when
    every group was read with them, else one query of a row per step."""
    totals = [Decimal(0)] * len(report.buckets)
    groups = report.groups
    if len(groups) == report.count and all(group.amounts is not None for group in groups):
        for group in groups:
            totals = [total + amount for total, amount in zip(totals, group.amounts, strict=True)]
        return totals
    source = report.source
    rows = source.rows if source.everything is None else source.everything
    per_step = rows.values(bucket=row_bucket(source)).annotate(amount=Sum(row_amount(source))).order_by()
    first, width = int(report.buckets[0].timestamp()), int(STEPS[report.step].total_seconds())
    for row in per_step:
        totals[(row["bucket"] - first) // width] = row["amount"]
    return totals
