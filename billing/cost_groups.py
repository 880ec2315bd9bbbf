"""The cost explorer's groups built in Python from the per-minute records: the path of databases other than
PostgreSQL (SQLite stores a decimal in 15 significant digits, too few for a day's exact sum, so the minutes are added
up here as exact Decimals), every group with its steps. Same numbers, labels and order as `billing.cost_ranks`."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import QuerySet

from billing.cost_ranks import NAMES, label_of
from billing.cost_sources import STEPS, Source

RATE_STEP = Decimal("0.000001")
MILLION = Decimal(1_000_000)


def per_million(amount: Decimal, tokens: float | None) -> Decimal | None:
    if not tokens:
        return None
    return (amount * MILLION / Decimal(repr(tokens))).quantize(RATE_STEP, rounding=ROUND_HALF_UP)


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
        return per_million(self.total, self.tokens)


def groups_in_python(source: Source, group_by: str, tokens: QuerySet | None) -> list[CostGroup]:
    """Every group with its total, steps, resource-minutes, label and tokens, largest total first."""
    column, step, buckets = source.column, source.step, source.buckets
    groups: dict[str, CostGroup] = {}
    fields = (column, source.time, "gpu_minutes", "cpu_core_minutes", "memory_gib_minutes", *source.amounts)
    for value, moment, gpu, cpu, memory, *amounts in source.rows.values_list(*fields).order_by().iterator(5000):
        key = "" if value is None else str(value)
        group = groups.get(key)
        if group is None:
            group = groups[key] = CostGroup(key=key, amounts=[Decimal(0)] * len(buckets))
        amount = sum(amounts, Decimal(0))
        group.amounts[(moment - buckets[0]) // STEPS[step]] += amount
        group.total += amount
        group.gpu_minutes += gpu
        group.cpu_core_minutes += cpu
        group.memory_gib_minutes += memory
    names = {}
    if group_by in NAMES and groups:
        rows = NAMES[group_by].objects.filter(pk__in=[key for key in groups if key]).values_list("pk", "name")
        names = {str(pk): name for pk, name in rows}
    for key, group in groups.items():
        group.label = label_of(group_by, key, names.get(key))
    for row in tokens if tokens is not None else ():
        group = groups.get("" if row["group_key"] is None else str(row["group_key"]))
        if group is not None:  # else tokens served by something that cost nothing metered in the window
            group.tokens = (group.tokens or 0.0) + (row["tokens"] or 0.0)
            group.requests = (group.requests or 0.0) + (row["requests"] or 0.0)
    return sorted(groups.values(), key=lambda group: (-group.total, group.label, group.key))
