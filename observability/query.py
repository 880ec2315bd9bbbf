"""Range queries over the rollups, answered in the shape of Prometheus's /api/v1/query_range (a matrix).

Names are the ones vLLM exports (`vllm:*`), DCGM's GPU utilisation, and `ucf:*` for what neither has. Counters are
returned as per-second rates over each step, latency histograms as quantiles merged from the minute sketches
(exact to the sketches' 1%), gauges as their mean over the step (summed over components, or averaged for shares).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import orjson
from django.db import connections
from django.db.models import BigIntegerField, F, Func, Value, Window
from django.db.models.functions import RowNumber

from observability.models import DeploymentRollup, MetricRollup
from observability.sketch import STORED_QUANTILES, Bins, quantile_column

LATENCIES = {
    "vllm:time_to_first_token_seconds": "ttft",
    "vllm:time_per_output_token_seconds": "itl",
    "vllm:e2e_request_latency_seconds": "e2e",
}
RATES = {
    "vllm:request_success_total": "success",
    "vllm:prompt_tokens_total": "prompt_tokens",
    "vllm:generation_tokens_total": "output_tokens",
    "ucf:requests_total": "requests",
    "ucf:request_errors_total": "errors",
}
SUMMED_GAUGES = {
    "vllm:num_requests_running": "running",
    "vllm:num_requests_waiting": "waiting",
    "ucf:replicas": "replicas",
}
SHARE_GAUGES = {  # name: (column, scale, LLM rows only)
    "vllm:gpu_cache_usage_perc": ("kv_cache_usage", 1.0, True),
    "DCGM_FI_DEV_GPU_UTIL": ("gpu_utilisation", 100.0, True),
    "ucf:cpu_utilisation": ("cpu_utilisation", 1.0, False),
}
COST = "ucf:cost_dollars"
NAMES = sorted([*LATENCIES, *RATES, *SUMMED_GAUGES, *SHARE_GAUGES, COST])
QUANTILES = (0.5, 0.9, 0.99)
MAX_POINTS = 11_000  # Prometheus refuses more points per series than this too
MAX_RANGE = timedelta(days=90)
MIN_STEP = 60


class EpochSeconds(Func):
    """Whole seconds since 1970 of a datetime column, as an integer computed by the database: a range query groups
    rows by step without Python building (and time-zone converting) a datetime per row."""

    output_field = BigIntegerField()

    def as_sql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="CAST(EXTRACT(EPOCH FROM %(expressions)s) AS bigint)")

    def as_sqlite(self, compiler, connection, **extra):
        # Django stores UTC text there; strftime's %s reads it ('%%' survives the backend's placeholder rewrite).
        return super().as_sql(compiler, connection, template="CAST(strftime('%%%%s', %(expressions)s) AS integer)")


def range_query(
    *,
    deployment_id,
    names: list[str],
    start: datetime,
    end: datetime,
    step: int,
    component: str = "",
    quantiles: tuple[float, ...] = QUANTILES,
    llm_only: bool = False,
    json_points: bool = False,
):
    """A Prometheus matrix: one series per name (and per quantile for latencies), points at each step's start, over
    one component, the LLM components alone (`llm_only`: the ones the SLO holds to their targets), or the deployment
    as a whole: there every component's requests together (its counters and gauges summed, its latency sketches
    merged), read from the DeploymentRollup rows collection writes for that, one per window.

    One query reads the rows of the range (no datetime objects: each row's step index comes from SQL). A latency
    point whose step holds one row (a 1-minute step: the common 24 h chart) is that row's stored quantile columns;
    steps over several rows merge their sketches, read in the same query; a 1-minute step over several LLM
    components (a rare template) merges only its crowded steps, in a second query. Answers are the same either way
    (the columns are the row's sketch read at those quantiles).

    `json_points`: on PostgreSQL, each series' "values" is its points already serialized (an `orjson.Fragment`, the
    bytes orjson writes for the lists), for an answer that goes straight to orjson (the API): a day at a 1-minute
    step is ~7,000 points, and as lists they were most of the request's allocations and of its garbage-collector
    runs. Only orjson can write such an answer; anything else asks for lists (the default)."""
    rows = _rows(deployment_id, start, end, component, llm_only)
    if connections[rows.db].vendor == "postgresql":
        return _sql_range_query(rows, names, start, step, component, quantiles, llm_only, json_points=json_points)
    return python_range_query(rows, names, start, step, component, quantiles, llm_only)


def _rows(deployment_id, start: datetime, end: datetime, component: str, llm_only: bool):
    whole = not component and not llm_only
    rows = (DeploymentRollup if whole else MetricRollup).objects.filter(
        deployment_id=deployment_id, start__gte=start, start__lt=end
    )
    if component:
        rows = rows.filter(component_key=component)
    if llm_only:
        rows = rows.filter(is_llm=True)
    return rows.order_by()  # the models' ordering joins the deployment to sort by it: nothing a bucket needs


def python_range_query(rows, names, start: datetime, step: int, component: str, quantiles, llm_only: bool) -> dict:
    """The range query's generic path (SQLite's): the rows of the range read in one query, grouped by step and
    aggregated here; a latency point of one row is its stored columns, of several rows a merge of their sketches."""
    whole = not component and not llm_only
    stored = step == MIN_STEP and all(q in STORED_QUANTILES for q in quantiles)
    latencies = {name: LATENCIES[name] for name in names if name in LATENCIES}
    columns = ["resolution", "llm_rows" if whole else "is_llm"]
    columns += ["cost"] if COST in names else []
    columns += ["start_s"] if llm_only else []  # several LLM components share their windows
    plain = sorted({c for name in names for c in _plain_columns(name, whole)})
    latency_columns = [c for sketch in latencies.values() for c in _latency_columns(sketch, quantiles, stored)]
    # ceil: rows start on whole seconds, so a fractional range start only shifts which whole second is index 0
    origin = math.ceil(start.timestamp())
    index = (EpochSeconds("start") - Value(origin)) / Value(step)
    annotations = {"i": index, **({"start_s": EpochSeconds("start")} if llm_only else {})}
    fetched = _fetch(rows.annotate(**annotations).values_list("i", *columns, *plain, *latency_columns))
    at = {c: n for n, c in enumerate(("i", *columns, *plain, *latency_columns))}
    buckets: dict[int, list[tuple]] = {}
    for row in fetched:
        bucket = buckets.get(row[0])
        if bucket is None:
            buckets[row[0]] = [row]
        else:
            bucket.append(row)
    order = sorted(buckets)
    origin_ts = start.timestamp()
    stamps = [origin_ts + i * step for i in order]
    result = []
    for name in names:
        if name in LATENCIES:
            result.extend(
                _latency_series(name, rows, buckets, order, stamps, at, quantiles, stored, component, start, step)
            )
        else:
            result.append(_series(name, buckets, order, stamps, at, whole, llm_only, component))
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


def _fetch(queryset) -> list[tuple]:
    """The rows as the database driver returns them (floats, ints, JSON as text): Django's per-row converters cost
    more than PostgreSQL's answer for the 1,440 rows of a day."""
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _sketch(data) -> dict | None:
    return json.loads(data) if isinstance(data, str) else data


def _points(stamps: list[float], values) -> list[list]:
    """[timestamp, "value"] for each step that has a value, formatted as Prometheus does (6 significant digits)."""
    return [[t, format(v, ".6g")] for t, v in zip(stamps, values, strict=True) if v is not None]


def _plain_columns(name: str, whole: bool) -> tuple[str, ...]:
    if name in RATES:
        return ("requests", "errors") if RATES[name] == "success" else (RATES[name],)
    if name in SUMMED_GAUGES:
        return (SUMMED_GAUGES[name],)
    if name in SHARE_GAUGES:
        column, _, llm = SHARE_GAUGES[name]
        return (column, "service_rows") if whole and not llm else (column,)
    return ()


def _latency_columns(sketch: str, quantiles, stored: bool) -> list[str]:
    return [quantile_column(sketch, q) for q in quantiles] if stored else [sketch]


def _labels(name: str, component: str) -> dict:
    return {"__name__": name, **({"component": component} if component else {})}


def _series(name: str, buckets: dict, order: list, stamps: list, at: dict, whole: bool, llm_only: bool, component):
    """One counter's rate, summed gauge's mean, share gauge's mean or cost per step."""
    steps = [buckets[i] for i in order]
    resolution = at["resolution"]
    if name in SHARE_GAUGES:
        column, scale, llm = SHARE_GAUGES[name]
        c = at[column]
        if whole:  # sums over the rows of each kind, and how many rows
            n = at["llm_rows" if llm else "service_rows"]
            values = [_share_of_sums(rows, c, n, scale) for rows in steps]
        else:
            kind = at["is_llm"]
            values = [_mean([(r[c] or 0.0) * scale for r in rows if r[kind] == llm]) for rows in steps]
    elif name == COST:
        c = at["cost"]
        values = [sum(float(r[c] or 0) for r in rows) for rows in steps]
    else:
        start_s = at.get("start_s") if llm_only else None
        covered = [_covered(rows, resolution, start_s) for rows in steps]
        if name in SUMMED_GAUGES:
            c = at[SUMMED_GAUGES[name]]
            totals = [sum((r[c] or 0.0) * r[resolution] for r in rows) for rows in steps]
        elif RATES[name] == "success":
            c, errors = at["requests"], at["errors"]
            totals = [sum(r[c] - r[errors] for r in rows) for rows in steps]
        else:
            c = at[RATES[name]]
            totals = [sum(r[c] or 0.0 for r in rows) for rows in steps]
        values = [total / seconds if seconds else None for total, seconds in zip(totals, covered, strict=True)]
    return {"metric": _labels(name, component), "values": _points(stamps, values)}


def _share_of_sums(rows: list[tuple], column: int, count: int, scale: float) -> float | None:
    n = sum(r[count] for r in rows)
    return sum(r[column] for r in rows) * scale / n if n else None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _covered(rows: list[tuple], resolution: int, start_s: int | None) -> int:
    """Seconds of the step the rows cover: each window once (several LLM components share their windows)."""
    if start_s is None:
        return sum(r[resolution] for r in rows)
    return sum(seconds for _, seconds in {(r[start_s], r[resolution]) for r in rows})


def _latency_series(name, rows, buckets, order, stamps, at, quantiles, stored, component, start, step) -> list[dict]:
    sketch = LATENCIES[name]
    answers: dict[int, list] = {}
    if stored:
        columns = [at[quantile_column(sketch, q)] for q in quantiles]
        first = columns[0]
        crowded = []
        for i in order:
            carriers = [r for r in buckets[i] if r[first] is not None]
            if len(carriers) == 1:
                answers[i] = [carriers[0][c] for c in columns]
            elif carriers:
                crowded.append(i)
        if crowded:  # several components carry this latency at one step: merge their sketches (a second query)
            answers.update(_merged_steps(rows, sketch, crowded, quantiles, start, step))
    else:
        c = at[sketch]
        for i in order:
            bins = Bins()
            for r in buckets[i]:
                bins.add_json(_sketch(r[c]))
            if bins.count:
                answers[i] = bins.quantiles(quantiles)
    labels = _labels(name, component)
    found = [answers.get(i) for i in order]
    return [
        {
            "metric": {**labels, "quantile": str(q)},
            "values": _points(stamps, [None if answer is None else answer[n] for answer in found]),
        }
        for n, q in enumerate(quantiles)
    ]


def _merged_steps(rows, sketch: str, steps: list[int], quantiles, start: datetime, step: int) -> dict[int, list]:
    origin = math.ceil(start.timestamp())
    wanted = set(steps)
    merged: dict[int, Bins] = {}
    index = (EpochSeconds("start") - Value(origin)) / Value(step)
    for i, data in _fetch(rows.filter(**{f"{sketch}__isnull": False}).annotate(i=index).values_list("i", sketch)):
        if i in wanted:
            merged.setdefault(i, Bins()).add_json(_sketch(data))
    return {i: bins.quantiles(quantiles) for i, bins in merged.items() if bins.count}


def _sql_range_query(
    rows, names, start: datetime, step: int, component: str, quantiles, llm_only: bool, *, json_points: bool = False
) -> dict:
    """PostgreSQL's path, the answers of `python_range_query` with far less Python: the database computes each
    step's values (rates, means, sums). A 1-minute step with the quantiles stored reads the rows as they are (no
    grouping), latency points from the stored columns, handed as one array per column (a handful of Python lists,
    not a tuple per row); any other step is grouped by the database, which hands each step's latency sketches as
    one JSON array, merged here as `Bins` (same bins, same rank rule). One query; two when a 1-minute step holds
    several rows (several LLM components, a rare template)."""
    whole = not component and not llm_only
    stored = step == MIN_STEP and all(q in STORED_QUANTILES for q in quantiles)
    answer = _sql_steps(rows, names, start, step, whole, llm_only, quantiles, per_row=stored)
    if answer is None:
        answer = _sql_steps(rows, names, start, step, whole, llm_only, quantiles, per_row=False)
        stored = False
    columns, at = answer
    origin_ts = start.timestamp()
    stamps = [origin_ts + i * step for i in columns[0]]
    points = _JsonPoints(stamps) if json_points else _ListPoints(stamps)
    sketches = set() if stored else {LATENCIES[name] for name in names if name in LATENCIES}
    merged = {sketch: [_merged(documents, quantiles) for documents in columns[at[sketch]]] for sketch in sketches}
    result = []
    for name in names:
        labels = _labels(name, component)
        if name not in LATENCIES:
            result.append({"metric": labels, "values": points(columns[at[name]])})
            continue
        sketch = LATENCIES[name]
        for n, q in enumerate(quantiles):
            if stored:
                values = columns[at[quantile_column(sketch, q)]]
            else:
                values = [None if answer is None else answer[n] for answer in merged[sketch]]
            result.append({"metric": {**labels, "quantile": str(q)}, "values": points(values)})
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


class _ListPoints:
    """`_points` of one answer: [timestamp, "value"] lists, each distinct value's text formatted once per answer
    (quantiles are bin values and gauges often steady: many points repeat a value). Zeros are formatted where they
    are: 0.0 and -0.0 are one key but read "0" and "-0"."""

    def __init__(self, stamps: list[float]):
        self.stamps = stamps
        self.texts: dict[float, str] = {}

    def learn(self, values: list) -> dict[float, str]:
        texts = self.texts
        for value in set(values):
            if value and value not in texts:  # None and zeros left out
                texts[value] = f"{value:.6g}"
        return texts

    def __call__(self, values: list):
        texts = self.learn(values)
        return [[t, texts[v] if v else f"{v:.6g}"] for t, v in zip(self.stamps, values, strict=True) if v is not None]


class _JsonPoints(_ListPoints):
    """The same points as the JSON text orjson writes for `_ListPoints`'s lists, as one `orjson.Fragment` per
    series: built from strings (which the garbage collector does not track), written by orjson as they are. The
    timestamps' texts are orjson's own (one `orjson.dumps` of the list), so the bytes are the same."""

    def __init__(self, stamps: list[float]):
        super().__init__(stamps)
        self.prefixes = [f'[{t},"' for t in orjson.dumps(stamps).decode()[1:-1].split(",")] if stamps else []

    def __call__(self, values: list) -> orjson.Fragment:
        texts = self.learn(values)
        body = '"],'.join(
            [p + (texts[v] if v else f"{v:.6g}") for p, v in zip(self.prefixes, values, strict=True) if v is not None]
        )
        return orjson.Fragment(f'[{body}"]]' if body else "[]")


def _merged(documents: str | None, quantiles) -> list | None:
    """The quantiles of a step's sketches (a JSON array of them) merged, None when it has none."""
    if documents is None:
        return None
    bins = Bins()
    for sketch in orjson.loads(documents):
        bins.add_json(sketch)
    return bins.quantiles(quantiles) if bins.count else None


def _sql_steps(rows, names, start, step, whole, llm_only, quantiles, *, per_row: bool):
    """(columns, at): one list per column, the first the steps' indexes in order, then a value per step for each
    entry of `at`; PostgreSQL hands each column as one array (array_agg in the steps' order). `per_row`: the rows as
    they are, their quantiles from the stored columns, or None when a step holds several rows."""
    latencies = list(dict.fromkeys(LATENCIES[name] for name in names if name in LATENCIES))
    inner = ["resolution", "llm_rows" if whole else "is_llm", *(["cost"] if COST in names else [])]
    inner += sorted({c for name in names for c in _plain_columns(name, whole)})
    stored = [quantile_column(sketch, q) for sketch in latencies for q in quantiles] if per_row else []
    if per_row:
        inner += stored
    else:
        inner += latencies
    origin = math.ceil(start.timestamp())
    annotations = {"i": (EpochSeconds("start") - Value(origin)) / Value(step)}
    if llm_only and not per_row:  # several LLM components share a window: its seconds count once
        annotations["w"] = Window(RowNumber(), partition_by=[F("start"), F("resolution")])
    sql, params = rows.annotate(**annotations).values_list(*annotations, *inner).query.sql_with_params()
    aliases = ", ".join(f'"{c}"' for c in (*annotations, *inner))
    sql_of = _SqlOfRow() if per_row else _SqlOfStep(llm_only)
    selected: list[str] = []
    at: dict[str, int] = {}
    for name in names:
        if name not in LATENCIES and name not in at:
            at[name] = 1 + len(selected)
            selected.append(_sql_value(name, whole, sql_of))
    if per_row:
        for column in stored:
            at[column] = 1 + len(selected)
            selected.append(f'r."{column}"')
        steps = f"SELECT r.i, {', '.join(selected) or 'NULL::float8'} FROM r"
    else:
        for sketch in latencies:  # a step's sketches, merged below (one JSON text per step: cheap to parse)
            at[sketch] = 1 + len(selected)
            selected.append(f'json_agg(r."{sketch}") FILTER (WHERE r."{sketch}" IS NOT NULL)::text')
        steps = f"SELECT r.i, {', '.join(selected) or 'NULL'} FROM r GROUP BY r.i"
    width = 1 + len(selected)
    if per_row:  # ~1,440 rows of plain numbers: one array per column, not a tuple per row
        # One sort in the subquery (an ORDER BY in each array_agg would sort once per column on PostgreSQL < 16);
        # the arrays are aligned whatever the order (one aggregation pass), and it is checked below.
        arrays = ", ".join(f"array_agg(s.c{n})" for n in range(width))
        aliases_of_s = ", ".join(f"c{n}" for n in range(width))
        statement = f"WITH r({aliases}) AS ({sql}) SELECT {arrays} FROM ({steps} ORDER BY r.i) AS s({aliases_of_s})"
    else:  # fewer steps, each with a JSON text of sketches: rows as they are (an array would escape the JSON)
        statement = f"WITH r({aliases}) AS ({sql}) {steps} ORDER BY r.i"
    with connections[rows.db].cursor() as cursor:
        cursor.execute(statement, params)
        if per_row:
            columns = [column or [] for column in cursor.fetchone()]  # no row in the range: each array_agg is NULL
        else:
            columns = [list(column) for column in zip(*cursor.fetchall(), strict=True)] or [[] for _ in range(width)]
    if per_row:
        steps_of_rows = columns[0]
        if len(set(steps_of_rows)) < len(steps_of_rows):  # a step holds several rows
            return None
        if steps_of_rows != sorted(steps_of_rows):  # not the subquery's order after all
            columns = [list(column) for column in zip(*sorted(zip(*columns, strict=True), key=_first), strict=True)]
    return columns, at


def _first(row: tuple):
    return row[0]


class _SqlOfStep:
    """The aggregates of a step's rows (`r`), as the generic path computes them."""

    def __init__(self, llm_only: bool):
        self.covered = 'sum(r."resolution")' + (' FILTER (WHERE r."w" = 1)' if llm_only else "")

    def sum(self, expression: str) -> str:
        return f"sum({expression})"

    def mean_where(self, expression: str, condition: str) -> str:
        return f"avg({expression}) FILTER (WHERE {condition})"


class _SqlOfRow(_SqlOfStep):
    """The same of a step of one row: its values as they are (a sum of one value is that value)."""

    def __init__(self):
        self.covered = 'r."resolution"'

    def sum(self, expression: str) -> str:
        return f"({expression})"

    def mean_where(self, expression: str, condition: str) -> str:
        return f"CASE WHEN {condition} THEN {expression} END"


def _sql_value(name: str, whole: bool, sql: _SqlOfStep) -> str:
    """The SQL of one non-latency series' value per step (NULL where the Python path answers None)."""
    if name in SHARE_GAUGES:
        column, scale, llm = SHARE_GAUGES[name]
        if whole:
            count = "llm_rows" if llm else "service_rows"
            return f"{sql.sum(f'r.{column}')} * {scale!r}::float8 / nullif({sql.sum(f'r.{count}')}, 0)"
        return sql.mean_where(f"coalesce(r.{column}, 0) * {scale!r}::float8", f"r.is_llm = {str(llm).lower()}")
    if name == COST:
        return sql.sum("coalesce(r.cost, 0)::float8")
    if name in SUMMED_GAUGES:
        total = sql.sum(f"coalesce(r.{SUMMED_GAUGES[name]}, 0) * r.resolution")
    elif RATES[name] == "success":
        total = sql.sum("r.requests - r.errors")
    else:
        total = sql.sum(f"coalesce(r.{RATES[name]}, 0)")
    return f"{total} / nullif({sql.covered}, 0)"
