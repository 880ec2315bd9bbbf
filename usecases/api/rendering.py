"""The catalog's search page written by PostgreSQL: each row as the JSON text DRF would write for it.

A page of 100 use cases cost the request more in Python than anything else it did: reading 100 rows of 30 columns
into dicts, turning them into the serializer's representation, and encoding that as JSON (BENCHMARKS.md, issue 21,
sixth pass). On PostgreSQL the page's statement writes the rows' JSON itself (`row_json_sql`, one expression per
row) and aggregates them in page order; the view wraps that text in the envelope and hands the bytes to
`RenderedJSONRenderer` untouched. The bytes are DRF's: same keys in the serializer's order, compact separators, the
same string escapes (control characters as \\u00XX, U+2028 and U+2029 escaped), floats as Python writes them
(`float_sql`), datetimes in DRF's ISO 8601 with "Z". Where those rules are not the ones in
force (another time zone, another datetime format, non-compact or ASCII-only JSON, SQLite), `page_json_applies` is
false and the page goes through the serializer's representation as before.
"""

from __future__ import annotations

import json
import re
from functools import cache

from django.conf import settings
from django.db import models
from django.utils import timezone
from rest_framework import ISO_8601
from rest_framework.settings import api_settings

from usecases import profiles
from usecases.api.serializers import _is_utc, _row_plan
from usecases.models import UseCase

ROW = "u"  # the alias of the usecase table in the page statement (selectors.usecase_search_page)
PROFILE_COLUMNS = {
    "latency_profile": ("e2e_max", profiles.LATENCY_PROFILES),
    "input_length_profile": ("input_tokens_max", profiles.INPUT_LENGTH_PROFILES),
}
# float_sql marks a value it leaves to Python (>= 1e15, NaN, infinities) with U+0001 on each side.
PYTHON_FLOAT = re.compile("\x01([^\x01]*)\x01")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _json_text(value) -> str:
    """A constant as DRF writes it, as an SQL literal."""
    return _literal(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _profile_sql(column: str, table) -> str:
    cases = [f"WHEN {ROW}.{column} IS NULL THEN {_json_text(table[-1][0])}"]
    cases += [f"WHEN {ROW}.{column} <= {bound!r} THEN {_json_text(name)}" for name, bound in table if bound is not None]
    return f"CASE {' '.join(cases)} ELSE {_json_text(table[-1][0])} END"


def float_sql(value: str) -> str:
    """A double as Python's `json.dumps` writes it. Below 1e15, PostgreSQL's shortest float text (extra_float_digits
    1, the default) is Python's repr except that an integral value has no ".0" ("2" for 2.0, "-0" for -0.0). From
    1e15 up PostgreSQL writes other digits or another layout (1.2300000000000001e+22 for 1.23e+22), and NaN and the
    infinities are not JSON: those come out between two U+0001 characters for finish_rows to write in Python (the
    catalog's validation keeps real values far below: a week of seconds). Written out, not an SQL function: the
    planner would inline one again for every column of every statement."""
    return (
        f"CASE WHEN {value} IS NULL THEN 'null' "
        f"WHEN abs({value}) < 1e15 AND {value} = trunc({value}) THEN {value}::text || '.0' "
        f"WHEN abs({value}) < 1e15 THEN {value}::text "
        f"ELSE chr(1) || {value}::text || chr(1) END"
    )


def _column_sql(column: models.Field) -> str:
    value = f"{ROW}.{column.column}"
    if isinstance(column, models.FloatField):
        return float_sql(value)
    if isinstance(column, models.DateTimeField):
        # DRF's ISO 8601 in UTC: microseconds only when there are any, "Z" for +00:00.
        text = f"replace(to_char({value} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '')"
        return f"COALESCE('\"' || {text} || 'Z\"', 'null')"
    if isinstance(column, models.BooleanField):
        return f"CASE WHEN {value} THEN 'true' WHEN NOT {value} THEN 'false' ELSE 'null' END"
    if isinstance(column, models.IntegerField):
        return f"COALESCE({value}::text, 'null')"
    if isinstance(column, models.CharField | models.TextField):
        return f"COALESCE(to_json({value})::text, 'null')"
    raise TypeError(f"no JSON writer for {column!r}: the search page cannot be written by PostgreSQL")


def _value_sql(name: str) -> str:
    if name == "tags":
        # search_tags (migration 0006), stored in Python's sort order (code points: migration 0010).
        return f"array_to_json({ROW}.search_tags)::text"
    if name in PROFILE_COLUMNS:
        return _profile_sql(*PROFILE_COLUMNS[name])
    return _column_sql(UseCase._meta.get_field(name))


@cache
def row_json_sql() -> str:
    """An SQL expression (over the usecase table aliased `u`) for one row as UseCaseSerializer's JSON text."""
    parts = []
    for n, (name, _) in enumerate(_row_plan()):
        key = ("{" if n == 0 else ",") + json.dumps(name) + ":"
        parts += [_literal(key), _value_sql(name)]
    return " || ".join([*parts, "'}'"])


def page_json_applies() -> bool:
    """Whether PostgreSQL can write this request's page: the JSON and datetime rules row_json_sql follows are the
    ones in force (UTC, ISO 8601, DRF's compact UTF-8 JSON)."""
    return (
        settings.IS_POSTGRES
        and api_settings.COMPACT_JSON
        and api_settings.UNICODE_JSON
        and (api_settings.DATETIME_FORMAT or "").lower() == ISO_8601
        and _is_utc(timezone.get_current_timezone())
    )


def finish_rows(text: str | None) -> str:
    """The page statement's aggregate as a JSON array: the rows, with any value float_sql left to Python
    written by Python (as DRF's renderer would, refusing NaN as it does under STRICT_JSON)."""
    text = f"[{text or ''}]"
    if "\x01" in text:
        text = PYTHON_FLOAT.sub(
            lambda match: json.dumps(float(match.group(1)), allow_nan=not api_settings.STRICT_JSON), text
        )
    return text


def envelope(*, count: int, count_exact: bool, next_link: str | None, previous_link: str | None, rows: str) -> bytes:
    """The page's body as DRF's JSONRenderer writes it, around the rows' JSON text."""
    head = json.dumps(
        {"count": count, "count_exact": count_exact, "next": next_link, "previous": previous_link},
        ensure_ascii=False,
        allow_nan=not api_settings.STRICT_JSON,
        separators=(",", ":"),
    )
    body = f'{head[:-1]},"results":{rows}}}'
    # DRF escapes these two for JavaScript (rest_framework.renderers.JSONRenderer.render).
    return body.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()
