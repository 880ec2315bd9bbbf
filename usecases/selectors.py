"""Reads of the catalog: cached detail, search (the FilterSet), stats, industries, tags, export."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import connection
from django.db.models import Avg, CharField, Count, F, Func, IntegerField, Max, Min, Q, QuerySet
from django.db.models.expressions import RawSQL

from core.exceptions import NotFound
from core.exceptions import ValidationError as ServiceValidationError
from usecases import caching, profiles
from usecases.filters import UseCaseFilterSet
from usecases.models import UseCase, UseCaseTag, UseCaseVersion
from usecases.validation import SNAPSHOT_FIELDS

CONTENT_FIELDS = tuple(field for field in SNAPSHOT_FIELDS if field not in ("unique_id", "tags"))
STAT_RANGES = ("input_tokens", "output_tokens", "ttft", "e2e", "inter_token")
SEARCH_LIMIT_MAX = 1000  # the bound on `limit`, here and in GET /api/usecases/search


def usecase_queryset(*, include_inactive: bool = False) -> QuerySet[UseCase]:
    queryset = UseCase.objects.prefetch_related("tags")
    return queryset if include_inactive else queryset.filter(is_active=True)


def usecase_list_active() -> QuerySet[UseCase]:
    """All active use cases, tags prefetched."""
    return usecase_queryset()


def usecase_get(*, unique_id: str, include_inactive: bool = False) -> UseCase:
    """One use case by unique_id; active ones come from the cache when they can. NotFound otherwise."""
    key = caching.detail_key(unique_id)
    if not include_inactive:
        cached = caching.cache.get(key)
        if cached is not None:
            return cached
    usecase = usecase_queryset(include_inactive=include_inactive).filter(unique_id=unique_id).first()
    if usecase is None:
        raise NotFound(f"Use case {unique_id!r} does not exist.")
    if usecase.is_active:
        list(usecase.tags.all())  # materialise the prefetch so the cached object carries its tags
        caching.cache.set(key, usecase, caching.DETAIL_TIMEOUT)
    return usecase


def usecase_snapshot(usecase: UseCase) -> dict:
    """The use case in the import/export format (what a version stores)."""
    data = {field: getattr(usecase, field) for field in CONTENT_FIELDS}
    data.update(unique_id=usecase.unique_id, tags=usecase.tag_names)
    return {field: data[field] for field in SNAPSHOT_FIELDS}


def _int_between(value, low: int, high: int | None) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value and (high is None or value <= high)


def usecase_search(*, limit: int | None = None, offset: int = 0, **params) -> QuerySet[UseCase]:
    """Active use cases matching the search parameters of GET /api/usecases/search (same names and meaning).

    Lists (tags=["real-time"], industry=[...]) are taken as the API's comma-separated values. `limit` (1-1000) and
    `offset` slice the result; without a limit every match is returned. An unknown keyword is a TypeError.
    """
    unknown = sorted(set(params) - set(UseCaseFilterSet.base_filters))
    if unknown:
        raise TypeError(f"usecase_search() got unexpected keyword argument(s): {', '.join(map(repr, unknown))}")
    data = {}
    for name, value in params.items():
        if isinstance(value, list | tuple | set | frozenset):
            value = ",".join(str(item) for item in value)
        if value is not None:
            data[name] = value
    errors = {}
    if limit is not None and not _int_between(limit, 1, SEARCH_LIMIT_MAX):
        errors["limit"] = [f"Must be an integer between 1 and {SEARCH_LIMIT_MAX}."]
    if not _int_between(offset, 0, None):
        errors["offset"] = ["Must be an integer, 0 or more."]
    # The FilterSet keeps only active usecases unless include_inactive, as for the API.
    filterset = UseCaseFilterSet(data=data, queryset=usecase_queryset(include_inactive=True))
    if not filterset.is_valid():
        errors.update(filterset.errors)
    if errors:
        raise ServiceValidationError(errors)
    queryset = filterset.qs
    if limit is not None:
        return queryset[offset : offset + limit]
    return queryset[offset:] if offset else queryset


@dataclass(frozen=True)
class SearchPage:
    """One page of a search: its rows (UseCase columns as a dict, plus sorted `tags`) and the match count.

    `created_at` and `updated_at` are ISO 8601 text in UTC, as `datetime.isoformat()` writes them
    ("2026-11-30T20:12:00.123456+00:00", no fraction when it is zero): PostgreSQL writes them, which saves parsing
    and formatting 200 datetimes in Python per page of 100.
    """

    rows: list[dict]
    count: int
    count_exact: bool
    rows_json: str | None = None  # with `row_json`: the rows' JSON texts joined by commas, and `rows` empty


PAGE_FIELDS = tuple(field.attname for field in UseCase._meta.concrete_fields)
PAGE_DATETIMES = ("created_at", "updated_at")


class UtcIsoText(Func):
    """A timestamptz as ISO 8601 text in UTC, microseconds always written (PostgreSQL)."""

    template = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
    output_field = CharField()


def _utc_iso(text: str) -> str:
    """UtcIsoText's text as datetime.isoformat() writes the same UTC datetime."""
    return (text[:-7] if text.endswith(".000000") else text) + "+00:00"


def _exact_bound(at_least: int) -> int:
    return max(settings.USECASE_SEARCH_EXACT_COUNT, at_least)


def _estimate(ids_sql: str, params: tuple, bound: int) -> int:
    """PostgreSQL's row estimate of the compiled ids query (planning only), never below `bound + 1`."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {ids_sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return max(int(plan[0]["Plan"]["Plan Rows"]), bound + 1)


def usecase_count(*, queryset: QuerySet[UseCase], at_least: int = 0) -> tuple[int, bool]:
    """How many use cases match, and whether that is exact: (count, True) up to USECASE_SEARCH_EXACT_COUNT matches
    (or `at_least`, the end of the page asked for), else PostgreSQL's estimate, never below that bound, and False.

    The bounded count stops at the bound, so a broad search never counts its whole match; SQLite counts exactly.
    """
    ids = queryset.order_by().values("pk")
    if not settings.IS_POSTGRES:
        return ids.count(), True
    bound = _exact_bound(at_least)
    found = ids[: bound + 1].count()
    return (found, True) if found <= bound else (_estimate(*ids.query.sql_with_params(), bound), False)


def _tag_lists(rows: list[dict]) -> dict[int, list[str]]:
    tags: dict[int, list[str]] = defaultdict(list)
    if rows:
        pairs = UseCaseTag.objects.filter(usecase_id__in=[row["id"] for row in rows]).order_by()
        for usecase_id, name in pairs.values_list("usecase_id", "name"):
            tags[usecase_id].append(name)
    return tags


def _counted_sql(ids_sql: str, params: tuple, bound: int) -> tuple[str, list]:
    """A scalar subquery: the number of matches up to `bound`, or past it PostgreSQL's estimate of them (at least
    `bound + 1`, so a value above the bound means "estimated"). Uncorrelated: evaluated once per statement, and the
    estimate (usecases_row_estimate, migration 0009: the same EXPLAIN _estimate reads) only when the bound is passed.
    """
    estimate_sql = connection.ops.compose_sql(ids_sql, params)
    sql = (
        f"SELECT CASE WHEN bounded.n > %s THEN GREATEST(usecases_row_estimate(%s), %s) ELSE bounded.n END "
        f"FROM (SELECT COUNT(*) AS n FROM ({ids_sql} LIMIT {bound + 1}) found) bounded"
    )
    return sql, [bound, estimate_sql, bound + 1, *params]


def _counted_in_pass_sql(ids_sql: str, params: tuple, bound: int) -> tuple[str, list]:
    """_counted_sql's value as a window over the statement's own matches: for a statement that reads all of them
    anyway. The estimate's scalar subquery is uncorrelated, so evaluated at most once, and only past the bound."""
    estimate_sql = connection.ops.compose_sql(ids_sql, params)
    sql = (
        "CASE WHEN COUNT(*) OVER () > %s THEN (SELECT GREATEST(usecases_row_estimate(%s), %s)) "
        "ELSE COUNT(*) OVER () END"
    )
    return sql, [bound, estimate_sql, bound + 1]


def usecase_search_page(
    *, queryset: QuerySet[UseCase], limit: int, offset: int = 0, row_json: str | None = None
) -> SearchPage:
    """A page of a filtered, ordered queryset as plain dicts (no model instance or prefetch cache per row), with
    its bounded count (usecase_count).

    On PostgreSQL one statement reads the page, its tags (the `search_tags` column of migration 0006) and the
    bounded count or, past the bound, the planner's estimate (an uncorrelated subquery, evaluated once). Elsewhere:
    count, page, tags. With `row_json` (PostgreSQL only: an SQL expression over the usecase table aliased `u`, see
    usecases.api.rendering) the same statement returns the page as JSON text instead of rows (`rows_json`).
    """
    queryset = queryset.prefetch_related(None)
    if row_json is not None and settings.IS_POSTGRES:
        return _json_page(queryset=queryset, limit=limit, offset=offset, row_json=row_json)
    if not settings.IS_POSTGRES:
        count, exact = usecase_count(queryset=queryset, at_least=offset + limit)
        rows = list(queryset.values(*PAGE_FIELDS)[offset : offset + limit])
        tags = _tag_lists(rows)
        for row in rows:
            row["tags"] = sorted(tags.get(row["id"], ()))
            for name in PAGE_DATETIMES:
                row[name] = row[name].astimezone(UTC).isoformat()
        return SearchPage(rows=rows, count=count, count_exact=exact)

    bound = _exact_bound(offset + limit)
    ids = queryset.order_by().values("pk")
    # Compiled once for the bounded count and the estimate (the ORM's LIMIT is the same suffix).
    ids_sql, params = ids.query.sql_with_params()
    texts = {f"{name}_text": UtcIsoText(name) for name in PAGE_DATETIMES}
    page = queryset
    if "rank" not in queryset.query.annotations:
        # The page's ids first, in a narrow subquery that an index-only scan of a covering index answers (migration
        # 0008): the filters reject index tuples instead of heap pages; then the 100 rows shown, by id. Not for a
        # ranked text search, whose matches are read from the table to rank them anyway. The outer query only
        # orders those ids' rows: the filters are compiled (and checked) once, in the subquery.
        page_ids = queryset.values("pk")[offset : offset + limit]
        if queryset.query.annotations:
            page = queryset.filter(pk__in=page_ids)
        else:
            page = queryset.model._base_manager.filter(pk__in=page_ids).order_by(*queryset.query.order_by)
    if page is queryset:
        # A ranked text search reads every match to rank it: it counts them in the same pass (a window over the
        # matches) instead of a second scan of the text index and the table for the bounded count.
        counted = RawSQL(*_counted_in_pass_sql(ids_sql, params, bound), output_field=IntegerField())
    else:
        counted = RawSQL(*_counted_sql(ids_sql, params, bound), output_field=IntegerField())
    rows = page.annotate(
        tag_list=RawSQL("search_tags", [], output_field=ArrayField(CharField())),
        counted=counted,
        **texts,
    ).values(*(f for f in PAGE_FIELDS if f not in PAGE_DATETIMES), *texts, "tag_list", "counted")
    rows = list(rows if page is not queryset else rows[offset : offset + limit])
    if rows:
        found = rows[0]["counted"]
    else:  # an empty page counts on its own, and needs no query when nothing matches from the start
        found = ids[: bound + 1].count() if offset else 0
        if found > bound:
            found = _estimate(ids_sql, params, bound)
    for row in rows:
        row["tags"] = sorted(row.pop("tag_list"))
        del row["counted"]
        for name in PAGE_DATETIMES:
            row[name] = _utc_iso(row.pop(f"{name}_text"))
    return SearchPage(rows=rows, count=found, count_exact=found <= bound)


def _json_page(*, queryset: QuerySet[UseCase], limit: int, offset: int, row_json: str) -> SearchPage:
    """usecase_search_page's statement when PostgreSQL writes the rows (`row_json`): the page's ids in order (a
    narrow subquery; a ranked text search ranks and counts its matches there, on ids and sort keys only), then one
    aggregate of the rows' JSON text in that order beside the bounded count. An empty page past the end still counts.
    """
    bound = _exact_bound(offset + limit)
    ids_sql, params = queryset.order_by().values("pk").query.sql_with_params()
    counted_sql, counted_params = _counted_sql(ids_sql, params, bound)
    page_ids = queryset.values("pk")
    if "rank" in queryset.query.annotations:
        in_pass = RawSQL(*_counted_in_pass_sql(ids_sql, params, bound), output_field=IntegerField())
        page_sql, page_params = page_ids.annotate(counted=in_pass)[offset : offset + limit].query.sql_with_params()
        count_sql = f"COALESCE(MAX(page.counted), ({counted_sql}))"  # the subquery only for an empty page
    else:
        page_sql, page_params = page_ids[offset : offset + limit].query.sql_with_params()
        count_sql = f"({counted_sql})"
    table = connection.ops.quote_name(UseCase._meta.db_table)
    # The page's order is its subquery's; row_number() keeps it for the aggregate, past the join.
    sql = (
        f"WITH page AS MATERIALIZED (SELECT found.*, row_number() OVER () AS ord FROM ({page_sql}) found) "
        f"SELECT {count_sql}, string_agg({row_json}, ',' ORDER BY page.ord) "
        f"FROM page JOIN {table} u ON u.id = page.pk"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*page_params, *counted_params])
        found, rows_json = cursor.fetchone()
    return SearchPage(rows=[], count=found, count_exact=found <= bound, rows_json=rows_json or "")


def usecases_export(*, queryset: QuerySet[UseCase] | None = None, **params) -> dict:
    """The use cases (a queryset, or those matching search params) in the format usecases_import takes.

    Each entry is the use case's snapshot plus `is_active`, so soft-deleted ones (include_inactive) stay deleted.
    """
    if queryset is None:
        queryset = usecase_search(**params)
    return {
        "usecases": [
            {**usecase_snapshot(usecase), "is_active": usecase.is_active}
            for usecase in queryset.prefetch_related("tags")
        ]
    }


def usecase_versions(*, usecase: UseCase) -> QuerySet[UseCaseVersion]:
    return UseCaseVersion.objects.filter(usecase=usecase).select_related("created_by").order_by("-version")


def usecase_version_get(*, usecase: UseCase, version: int) -> UseCaseVersion:
    found = usecase_versions(usecase=usecase).filter(version=version).first()
    if found is None:
        raise NotFound(f"Version {version} of {usecase.unique_id!r} does not exist.")
    return found


def industry_list() -> list[dict]:
    """Industries of active use cases with their counts, by name."""
    return caching.aggregate(
        "industries",
        lambda: [
            {"industry": row["industry"], "count": row["count"]}
            for row in UseCase.objects.filter(is_active=True)
            .values("industry")
            .annotate(count=Count("pk"))
            .order_by("industry")
        ],
    )


def tag_list(*, limit: int | None = None) -> list[dict]:
    """Tags on active use cases with their counts, most used first."""
    rows = caching.aggregate(
        "tags",
        lambda: [
            {"tag": row["name"], "count": row["count"]}
            for row in UseCaseTag.objects.filter(usecase__is_active=True)
            .values("name")
            .annotate(count=Count("usecase_id"))
            .order_by("-count", "name")
        ],
    )
    return rows if limit is None else rows[:limit]


def _range_aggregates(prefix: str = "") -> dict:
    aggregates = {}
    for name in STAT_RANGES:
        low, high = F(f"{name}_min"), F(f"{name}_max")
        aggregates[f"{prefix}{name}__min"] = Min(low)
        aggregates[f"{prefix}{name}__max"] = Max(high)
        aggregates[f"{prefix}{name}__avg"] = Avg((low + high) / 2.0)
    return aggregates


def _ranges(row: dict) -> dict:
    ranges = {}
    for name in STAT_RANGES:
        avg = row[f"{name}__avg"]
        ranges[name] = {
            "min": row[f"{name}__min"],
            "avg": None if avg is None else round(float(avg), 4),
            "max": row[f"{name}__max"],
        }
    return ranges


def _compute_stats() -> dict:
    active = UseCase.objects.filter(is_active=True)
    counts = UseCase.objects.aggregate(
        total=Count("pk"),
        active=Count("pk", filter=Q(is_active=True)),
        **{
            f"latency:{p}": Count("pk", filter=Q(is_active=True) & profiles.latency_profile_q(p))
            for p in profiles.LATENCY_PROFILE_NAMES
        },
        **{
            f"input:{p}": Count("pk", filter=Q(is_active=True) & profiles.input_length_profile_q(p))
            for p in profiles.INPUT_LENGTH_PROFILE_NAMES
        },
    )
    overall = active.aggregate(**_range_aggregates())
    per_industry = active.values("industry").annotate(count=Count("pk"), **_range_aggregates()).order_by("industry")
    return {
        "total": counts["total"],
        "active": counts["active"],
        "inactive": counts["total"] - counts["active"],
        "by_industry": {row["industry"]: row["count"] for row in per_industry},
        "by_latency_profile": {p: counts[f"latency:{p}"] for p in profiles.LATENCY_PROFILE_NAMES},
        "by_input_length_profile": {p: counts[f"input:{p}"] for p in profiles.INPUT_LENGTH_PROFILE_NAMES},
        "top_tags": tag_list(limit=10),
        "ranges": _ranges(overall),
        "ranges_by_industry": {row["industry"]: _ranges(row) for row in per_industry},
    }


def usecase_stats() -> dict:
    """Totals, counts by industry and profile, the 10 most used tags, token/SLO ranges overall and per industry.

    Ranges cover active usecases: `min` is the smallest `<x>_min`, `max` the largest `<x>_max`, `avg` the mean
    of each use case's midpoint ((min + max) / 2); use cases without that SLO are left out.
    """
    return caching.aggregate("stats", _compute_stats)
