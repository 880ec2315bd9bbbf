"""Range queries over the rollups, answered in the shape of Prometheus's /api/v1/query_range (a matrix).

Names are the ones vLLM exports (`vllm:*`), DCGM's GPU utilisation, and `ucf:*` for what neither has. Counters are
returned as per-second rates over each step, latency histograms as quantiles merged from the minute sketches
(exact to the sketches' 1%), gauges as their mean over the step (summed over components, or averaged for shares).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Q

from observability.models import MetricRollup
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


@dataclass
class _Bucket:
    starts: set
    sums: dict
    counts: dict
    sketches: dict  # latency name: Bins merged from the stored sketches (steps where several rows carry one)
    single: dict  # latency name: the quantiles of the bucket's one row, read from its stored columns
    carriers: dict  # latency name: how many rows of the bucket carry a sketch


def _bucket() -> _Bucket:
    return _Bucket(set(), defaultdict(float), defaultdict(int), {}, {}, defaultdict(int))


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
):
    """A Prometheus matrix: one series per name (and per quantile for latencies), points at each step's start
    (`llm_only`: over the LLM components alone, the ones the SLO holds to their targets).

    A latency point whose step holds one row with a sketch (a component at its own resolution: the common 1-minute
    chart) is read from that row's stored quantile columns; only the steps that merge several rows read and merge
    their sketches, in a second query. Both answer the same values (the columns are that sketch's quantiles)."""
    columns = {"start", "resolution", "is_llm"}
    # The stored columns serve one row per step: a component's (or the LLM's) own minutes at a 1-minute step. Other
    # queries read the sketches in the same single query, as they always did (a second query costs more than it saves).
    stored = all(q in STORED_QUANTILES for q in quantiles) and step == MIN_STEP and bool(component or llm_only)
    latencies = {name: LATENCIES[name] for name in names if name in LATENCIES}
    for name in names:
        if name in LATENCIES:
            columns.update(_quantile_columns(LATENCIES[name], quantiles) if stored else (LATENCIES[name],))
        elif name in RATES:
            columns.update(("requests", "errors") if RATES[name] == "success" else (RATES[name],))
        elif name in SUMMED_GAUGES:
            columns.add(SUMMED_GAUGES[name])
        elif name in SHARE_GAUGES:
            columns.add(SHARE_GAUGES[name][0])
        elif name == COST:
            columns.add("cost")
    rows = MetricRollup.objects.filter(deployment_id=deployment_id, start__gte=start, start__lt=end)
    if component:
        rows = rows.filter(component_key=component)
    if llm_only:
        rows = rows.filter(is_llm=True)
    buckets: dict[int, _Bucket] = defaultdict(_bucket)
    for row in rows.values(*sorted(columns)):
        index = int((row["start"] - start).total_seconds() // step)
        bucket = buckets[index]
        bucket.starts.add((row["start"], row["resolution"]))
        _accumulate(bucket, row, names, stored, quantiles)
    merging = {
        sketch for name, sketch in latencies.items() if stored and any(b.carriers[name] > 1 for b in buckets.values())
    }
    if merging:
        _merge_sketches(rows, buckets, start, step, latencies, merging, stored)
    result = []
    for name in names:
        result.extend(_series(name, buckets, start, step, component, quantiles))
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


def _quantile_columns(sketch: str, quantiles) -> list[str]:
    return [quantile_column(sketch, q) for q in quantiles]


def _merge_sketches(rows, buckets: dict, start: datetime, step: int, latencies: dict, merging: set, stored: bool):
    """Merge the stored sketches of `merging` into the steps that need it (every step unless `stored`: there only
    those where several rows carry one)."""
    wanted = {name: sketch for name, sketch in latencies.items() if sketch in merging}
    carrying = Q()
    for sketch in merging:
        carrying |= Q(**{f"{sketch}__isnull": False})
    for row in rows.filter(carrying).values("start", *sorted(merging)):
        bucket = buckets[int((row["start"] - start).total_seconds() // step)]
        for name, sketch in wanted.items():
            if stored and bucket.carriers[name] < 2:
                continue
            data = row[sketch]
            if data and data.get("n"):
                bins = bucket.sketches.get(name)
                if bins is None:
                    bins = bucket.sketches[name] = Bins()
                bins.add_json(data)


def _accumulate(bucket: _Bucket, row: dict, names: list[str], stored: bool, quantiles) -> None:
    seconds = row["resolution"]
    for name in names:
        if name in LATENCIES:
            if stored:
                values = [row[c] for c in _quantile_columns(LATENCIES[name], quantiles)]
                if values and values[0] is not None:
                    bucket.carriers[name] += 1
                    bucket.single[name] = values
            else:
                data = row[LATENCIES[name]]
                if data and data.get("n"):
                    bins = bucket.sketches.get(name)
                    if bins is None:
                        bins = bucket.sketches[name] = Bins()
                    bins.add_json(data)
        elif name in RATES:
            column = RATES[name]
            value = row["requests"] - row["errors"] if column == "success" else row[column]
            bucket.sums[name] += value or 0.0
        elif name in SUMMED_GAUGES:
            bucket.sums[name] += (row[SUMMED_GAUGES[name]] or 0.0) * seconds
        elif name in SHARE_GAUGES:
            column, scale, llm_only = SHARE_GAUGES[name]
            if row["is_llm"] == llm_only:
                bucket.sums[name] += (row[column] or 0.0) * scale
                bucket.counts[name] += 1
        else:
            bucket.sums[name] += float(row["cost"] or Decimal(0))


def _series(name: str, buckets: dict, start: datetime, step: int, component: str, quantiles) -> list[dict]:
    labels = {"__name__": name, **({"component": component} if component else {})}
    if name in LATENCIES:
        series = []
        values: dict[float, list] = {q: [] for q in quantiles}
        for index in sorted(buckets):
            bucket = buckets[index]
            bins = bucket.sketches.get(name)
            if bins is not None:
                answers = bins.quantiles(quantiles)
            elif bucket.carriers[name] == 1:
                answers = bucket.single[name]
            else:
                continue
            for q, value in zip(quantiles, answers, strict=True):
                if value is not None:
                    values[q].append([_ts(start, index, step), _fmt(value)])
        for q in quantiles:
            series.append({"metric": {**labels, "quantile": str(q)}, "values": values[q]})
        return series
    values = []
    for index in sorted(buckets):
        bucket = buckets[index]
        covered = sum(seconds for _, seconds in bucket.starts)
        if name in RATES or name in SUMMED_GAUGES:
            value = bucket.sums[name] / covered if covered else None
        elif name in SHARE_GAUGES:
            n = bucket.counts[name]
            value = bucket.sums[name] / n if n else None
        else:
            value = bucket.sums[name]
        if value is not None:
            values.append([_ts(start, index, step), _fmt(value)])
    return [{"metric": labels, "values": values}]


def _ts(start: datetime, index: int, step: int) -> float:
    return start.timestamp() + index * step


def _fmt(value: float) -> str:
    return format(value, ".6g")
