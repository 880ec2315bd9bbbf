"""Exact Decimal sums of usage and invoice columns, the same on every database backend.

PostgreSQL sums `numeric` columns exactly in SQL, and that is the path it takes. SQLite (the single-machine default)
stores a decimal column as a binary float and its SUM is a float sum: a month of per-minute amounts read back as
`884.735999999716` instead of `884.736`, and a sum of cents as `10.9700000000000`. There the rows are read (each
value converted back to its column's decimal places, exact at the precisions billing stores) and summed in Python
as Decimals, so both backends give the same numbers, digit for digit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import F, Q, QuerySet, Sum


@dataclass(frozen=True)
class Total:
    """The sum of `fields` added together per row; with `since` = (field, moment), of the rows at or after it."""

    fields: tuple[str, ...]
    since: tuple[str, datetime] | None = None

    def aggregate(self) -> Sum:
        expression = F(self.fields[0])
        for name in self.fields[1:]:
            expression = expression + F(name)
        return Sum(expression, filter=None if self.since is None else Q(**{f"{self.since[0]}__gte": self.since[1]}))


def exact_sums(queryset: QuerySet, keys: tuple[str, ...], totals: dict[str, Total], *, ordered=False) -> list[dict]:
    """One dict per distinct value of `keys`: the keys and each total (None when no row counts towards it).

    `ordered` sorts the rows by the keys (NULL last, as PostgreSQL does); otherwise their order is undefined.
    """
    if connection.vendor == "postgresql":
        rows = queryset.values(*keys).annotate(**{name: total.aggregate() for name, total in totals.items()})
        return list(rows.order_by(*keys) if ordered else rows.order_by())
    columns = list(dict.fromkeys(name for total in totals.values() for name in _columns(total)))
    at = {name: len(keys) + index for index, name in enumerate(columns)}
    groups: dict[tuple, dict] = {}
    for row in queryset.values_list(*keys, *columns).order_by().iterator(chunk_size=5000):
        group = groups.get(row[: len(keys)])
        if group is None:
            group = groups[row[: len(keys)]] = {**dict(zip(keys, row, strict=False)), **dict.fromkeys(totals)}
        for name, total in totals.items():
            if total.since is not None and row[at[total.since[0]]] < total.since[1]:
                continue
            value = sum((row[at[field]] for field in total.fields), Decimal(0))
            group[name] = value if group[name] is None else group[name] + value
    result = list(groups.values())
    if ordered:
        result.sort(key=lambda group: tuple((group[key] is None, group[key] or "") for key in keys))
    return result


def _columns(total: Total) -> tuple[str, ...]:
    return total.fields if total.since is None else (*total.fields, total.since[0])


def exact_aggregate(queryset: QuerySet, totals: dict[str, Total]) -> dict:
    """Each total over the whole queryset (None when no row counts towards it), exactly on every backend."""
    if connection.vendor == "postgresql":
        return queryset.aggregate(**{name: total.aggregate() for name, total in totals.items()})
    rows = exact_sums(queryset, (), totals)
    return rows[0] if rows else dict.fromkeys(totals)
