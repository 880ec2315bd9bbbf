"""The cost explorer's groups ranked by PostgreSQL: count, grand total, tokens, labels, order and the groups of the
pages asked for, in one statement, whatever the number of groups.

A month by deployment has ~1,000 groups; every answer shows a page (or the chart's largest few) but counts, totals and
orders them all. Building, labelling and sorting a Python object per group was most of that answer's time, so the
database does it and only the rows shown come back. The order is Python's (largest total first, then label and key
by code point: the "C" collation, UTF-8 bytes), so the pages are those of sorting every group in Python.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import connection
from django.db.models import F, QuerySet, Sum
from django.db.models.expressions import RawSQL

from billing.cost_sources import STEPS, Source, row_amount, step_sums
from deployments.models import UseCaseDeployment
from tenancy.models import Project, Tenant

# The tables whose `name` labels a group of these dimensions (joined on the group's key, an id).
NAMES = {"project": Project, "tenant": Tenant, "deployment": UseCaseDeployment}
# A group with no value (usage of no deployment, a CPU-only job's GPU type...).
EMPTY = {"deployment": "(no deployment)", "usecase": "(no use case)", "template": "(no template)"}
NO_VALUE = "(no GPU)"
DELETED = "deleted deployment "
RESOURCES = ("gpu_minutes", "cpu_core_minutes", "memory_gib_minutes")


def label_of(group_by: str, key: str, name: str | None) -> str:
    """A group's label: its name, else the text for no value, a deleted deployment, or the value itself (the rule
    `label_sql` writes in SQL)."""
    if name:
        return name
    if not key:
        return EMPTY.get(group_by, NO_VALUE)
    return f"{DELETED}{key}" if group_by == "deployment" else key


def label_sql(group_by: str, key: str, name: str | None) -> str:
    """`label_of` as a SQL expression over the key and the joined name (both text)."""
    otherwise = f"'{DELETED}' || {key}" if group_by == "deployment" else key
    unnamed = f"CASE WHEN {key} = '' THEN '{EMPTY.get(group_by, NO_VALUE)}' ELSE {otherwise} END"
    return unnamed if name is None else f"COALESCE(NULLIF({name}, ''), {unnamed})"


def group_totals(source: Source) -> QuerySet:
    """A row per group of the source: its key (`group_key`), amount and resource-minutes."""
    rows = source.rows if source.totals is None else source.totals
    sums = {name: Sum(name) for name in RESOURCES}
    return rows.values(group_key=F(source.column)).annotate(amount=Sum(row_amount(source)), **sums).order_by()


def ranked_groups(
    source: Source,
    group_by: str,
    tokens: QuerySet | None,
    windows: tuple[slice, ...] | None,
    with_steps: bool = False,
) -> tuple[int, Decimal, float | None, list[tuple]]:
    """(count, total, tokens, rows): the number of groups, their total, the tokens they served (summed in Python in
    the groups' order, as the answer always added them up) and, for the places in `windows` (None: every group), the
    rows (place, key, label, amount, GPU-, core-, GiB-minutes, tokens, requests, steps, amounts), in order; steps and
    amounts (a group's step numbers and sums, in step order) with `with_steps` only, from the rollups
    (`folds_steps`), else None.

    `tokens` is a queryset of a row per group value (`group_key`) with `tokens` and `requests`, or None when tokens
    cannot be told apart by the dimension."""
    totals_sql, params = group_totals(source).query.sql_with_params()
    if source.column == "key":  # the cost rollups': a group's key already, text ('' for no value)
        totals = f"SELECT t.group_key AS key, t.amount, {', '.join(RESOURCES)} FROM ({totals_sql}) AS t"
    else:  # a column of the records: NULL and '' are one group, no value
        resources = ", ".join(f"SUM(t.{name}) AS {name}" for name in RESOURCES)
        totals = f"""SELECT COALESCE(t.group_key::text, '') AS key, SUM(t.amount) AS amount, {resources}
            FROM ({totals_sql}) AS t GROUP BY 1"""
    ctes = [f"totals AS ({totals})"]
    joins, served, requests = "", "NULL::float8", "NULL::float8"
    if tokens is not None:
        tokens_sql, tokens_params = tokens.query.sql_with_params()
        ctes.append(f"""tokens AS (SELECT COALESCE(t.group_key::text, '') AS key, SUM(t.tokens) AS tokens,
            SUM(t.requests) AS requests FROM ({tokens_sql}) AS t GROUP BY 1)""")
        params = (*params, *tokens_params)
        joins, served, requests = " LEFT JOIN tokens ON tokens.key = g.key", "tokens.tokens", "tokens.requests"
    name = None
    if group_by in NAMES:
        table = NAMES[group_by]._meta.db_table
        joins += f" LEFT JOIN {table} AS names ON names.id = NULLIF(g.key, '')::uuid"
        name = "names.name::text"
    ctes.append(
        f"""labelled AS (SELECT g.*, {label_sql(group_by, "g.key", name)} AS label, {served} AS tokens,
            {requests} AS requests FROM totals AS g{joins})"""
    )
    ctes.append(
        """ranked AS (SELECT labelled.*, ROW_NUMBER() OVER (
            ORDER BY amount DESC, label COLLATE "C", key COLLATE "C") - 1 AS place FROM labelled)"""
    )
    where, bounds = _windows(windows)
    ctes.append(f"page AS (SELECT * FROM ranked WHERE {where})")
    params = (*params, *bounds)
    steps, steps_join = "NULL::bigint[], NULL::numeric[]", ""
    if with_steps:
        # The page's steps in the same statement (the rollups' day rows of the page's keys, by their index)
        step_sql, step_params = page_step_sums(source).query.sql_with_params()
        ctes.append(f"""page_steps AS (SELECT s.key, ARRAY_AGG((s.bucket - %s) / %s ORDER BY s.bucket) AS steps,
            ARRAY_AGG(s.amount ORDER BY s.bucket) AS amounts FROM ({step_sql}) AS s GROUP BY s.key)""")
        first = int(source.buckets[0].timestamp()) if source.buckets else 0
        params = (*params, first, int(STEPS[source.step].total_seconds()), *step_params)
        steps, steps_join = "page_steps.steps, page_steps.amounts", " LEFT JOIN page_steps ON page_steps.key = page.key"
    sql = f"""WITH {", ".join(ctes)},
        stats AS (SELECT COUNT(*) AS count, SUM(amount) AS total,
            ARRAY_AGG(tokens ORDER BY place) FILTER (WHERE tokens IS NOT NULL) AS tokens FROM ranked)
        SELECT stats.count, stats.total, stats.tokens, page.place, page.key, page.label, page.amount,
            page.gpu_minutes, page.cpu_core_minutes, page.memory_gib_minutes, page.tokens, page.requests, {steps}
        FROM stats LEFT JOIN page ON TRUE{steps_join} ORDER BY page.place"""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    count, total, served_tokens = rows[0][:3]
    tokens_sum = sum(served_tokens) if served_tokens else None
    page = [row[3:] for row in rows if row[3] is not None]
    return count, Decimal(0) if total is None else total, tokens_sum, page


def folds_steps(source: Source) -> bool:
    """Whether the page's steps can come with the ranking: from the cost rollups, whose key is the group's (text)."""
    return source.column == "key"


def page_step_sums(source: Source) -> QuerySet:
    """The sums per step of the rollup rows of the groups on the page (the `page` of the ranking statement)."""
    return step_sums(source.rows.filter(key__in=RawSQL("SELECT key FROM page", ())), source).order_by()


def _windows(windows: tuple[slice, ...] | None) -> tuple[str, tuple]:
    """A condition on a group's place (0 the largest) for the slices asked for, and its parameters."""
    if windows is None:
        return "TRUE", ()
    conditions, bounds = [], []
    for window in windows:
        start = window.start or 0
        if window.stop is None:
            conditions.append("place >= %s")
            bounds.append(start)
        else:
            conditions.append("(place >= %s AND place < %s)")
            bounds.extend((start, window.stop))
    return (" OR ".join(conditions) or "FALSE"), tuple(bounds)
