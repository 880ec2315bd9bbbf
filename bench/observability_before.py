"""The observability queries as they were before the stored quantile columns and the one-statement SLO sums
(main at bd6b885), kept for bench/observability_bench.py to time "before" in the same run on the same data.
Not used by the application."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Q, Sum

from observability.models import MetricRollup, SloHour
from observability.query import LATENCIES, QUANTILES, RATES, SHARE_GAUGES, SUMMED_GAUGES
from observability.selectors import BUDGET_WINDOW, WINDOWS, WindowAttainment, deployment_objective, slo_summary
from observability.sketch import Bins
from observability.workload import TARGETS, targets_of
from usecases.models import UseCase


@dataclass
class _Bucket:
    starts: set
    sums: dict
    counts: dict
    sketches: dict


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
    (`llm_only`: over the LLM components alone, the ones the SLO holds to their targets)."""
    columns = {"start", "resolution", "is_llm"}
    for name in names:
        if name in LATENCIES:
            columns.add(LATENCIES[name])
        elif name in RATES:
            columns.update(("requests", "errors") if RATES[name] == "success" else (RATES[name],))
        elif name in SUMMED_GAUGES:
            columns.add(SUMMED_GAUGES[name])
        elif name in SHARE_GAUGES:
            columns.add(SHARE_GAUGES[name][0])
        else:
            columns.add("cost")
    rows = MetricRollup.objects.filter(deployment_id=deployment_id, start__gte=start, start__lt=end)
    if component:
        rows = rows.filter(component_key=component)
    if llm_only:
        rows = rows.filter(is_llm=True)
    buckets: dict[int, _Bucket] = defaultdict(lambda: _Bucket(set(), defaultdict(float), defaultdict(int), {}))
    for row in rows.values(*sorted(columns)).iterator(chunk_size=2000):
        index = int((row["start"] - start).total_seconds() // step)
        bucket = buckets[index]
        bucket.starts.add((row["start"], row["resolution"]))
        _accumulate(bucket, row, names)
    result = []
    for name in names:
        result.extend(_series(name, buckets, start, step, component, quantiles))
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


def _accumulate(bucket: _Bucket, row: dict, names: list[str]) -> None:
    seconds = row["resolution"]
    for name in names:
        if name in LATENCIES:
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
            bins = buckets[index].sketches.get(name)
            if bins is None:
                continue
            for q, value in zip(quantiles, bins.quantiles(quantiles), strict=True):
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


def attainment_windows(*, deployment_ids: list, now: datetime) -> dict:
    """{deployment id: {window: WindowAttainment}} over the LLM components, in two queries: the windows up to 6 h
    (and the current hour) from the minute rollups, the 30 days from the hourly SLO sums plus the current hour."""
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    short = {name: span for name, span in WINDOWS.items() if name != BUDGET_WINDOW}
    spans = {**short, CURRENT_HOUR: now - this_hour}
    aggregates = {}
    for name, span in spans.items():
        since = Q(start__gte=now - span, start__lt=now)
        for column in ("requests", "errors", *(f"{t}_good" for t in TARGETS)):
            aggregates[f"{name}__{column}"] = Sum(column, filter=since)
    recent = (
        MetricRollup.objects.filter(
            deployment_id__in=deployment_ids, is_llm=True, start__gte=now - max(spans.values()), start__lt=now
        )
        .values("deployment_id")
        .annotate(**aggregates)
        .order_by()
    )
    month = (
        SloHour.objects.filter(
            deployment_id__in=deployment_ids, hour__gte=now - WINDOWS[BUDGET_WINDOW], hour__lt=this_hour
        )
        .values("deployment_id")
        .annotate(**{f"{BUDGET_WINDOW}__{c}": Sum(c) for c in ("requests", "errors", *(f"{t}_good" for t in TARGETS))})
        .order_by()
    )
    sums: dict = {}
    for row in [*recent, *month]:
        sums.setdefault(row.pop("deployment_id"), {}).update(row)
    result = {}
    for deployment_id, row in sums.items():
        windows = {name: _window(row, name) for name in short}
        hour, days = _window(row, CURRENT_HOUR), _window(row, BUDGET_WINDOW)
        windows[BUDGET_WINDOW] = WindowAttainment(
            requests=days.requests + hour.requests,
            errors=days.errors + hour.errors,
            good={t: _add(days.good[t], hour.good[t]) for t in TARGETS},
        )
        result[deployment_id] = windows
    return result


CURRENT_HOUR = "hour"


def _window(row: dict, name: str) -> WindowAttainment:
    return WindowAttainment(
        requests=row.get(f"{name}__requests") or 0.0,
        errors=row.get(f"{name}__errors") or 0.0,
        good={t: row.get(f"{name}__{t}_good") for t in TARGETS},
    )


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None and b is None else (a or 0.0) + (b or 0.0)


def deployment_slo(*, deployment, now: datetime) -> dict:
    """The 30-day SLO read as before: the objective, the use case and two aggregations (four queries)."""
    usecase = UseCase.objects.filter(unique_id=deployment.usecase_id).first() if deployment.usecase_id else None
    windows = attainment_windows(deployment_ids=[deployment.pk], now=now).get(deployment.pk, {})
    return slo_summary(
        targets=targets_of(usecase),
        objective=deployment_objective(deployment),
        windows=windows,
        usecase_id=deployment.usecase_id or None,
    )
