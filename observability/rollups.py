"""A deployment's rollup of one window from its components' rollups of that window (pure: collection, compaction and
the migration that backfills DeploymentRollup use it alike)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from observability.sketch import STORED_QUANTILES, Bins, quantile_column

SKETCHES = ("ttft", "itl", "e2e")
ADDED = ("requests", "errors", "prompt_tokens", "output_tokens", "running", "waiting", "replicas")
# Share gauges: summed over the rows they are read from (the range query divides by the count of those rows).
LLM_SHARES = ("gpu_utilisation", "kv_cache_usage")
SERVICE_SHARES = ("cpu_utilisation",)
# The component columns the merge reads.
COMPONENT_COLUMNS = ("is_llm", "cost", *ADDED, *LLM_SHARES, *SERVICE_SHARES, *SKETCHES)


def merged_sketch(items: Iterable[dict | None]) -> tuple[dict | None, list[float | None]]:
    """The stored sketches given merged into one (same JSON shape) and its quantiles at STORED_QUANTILES, taken as
    the range query takes them from a merge (`Bins`), so a stored column answers what merging per point answered."""
    bins, total, lows, highs = Bins(), 0.0, [], []
    for data in items:
        if not data or not data.get("n"):
            continue
        bins.add_json(data)
        total += data.get("s", 0.0)
        lows.append(data.get("lo"))
        highs.append(data.get("hi"))
    if not bins.count:
        return None, [None] * len(STORED_QUANTILES)
    merged = {
        "b": bins.counts,
        "n": bins.count,
        "s": total,
        "z": bins.zero,
        "lo": _extreme(min, lows),
        "hi": _extreme(max, highs),
    }
    return merged, bins.quantiles(STORED_QUANTILES)


def _extreme(pick, values: list) -> float | None:
    known = [v for v in values if v is not None]
    return pick(known) if known else None


def deployment_values(rows: list[dict]) -> dict:
    """The fields of a DeploymentRollup (but its deployment, resolution and start) from its components' rollups of
    the same window, each a dict with COMPONENT_COLUMNS."""
    values: dict = {name: 0.0 for name in (*ADDED, *LLM_SHARES, *SERVICE_SHARES)}
    values["cost"] = sum((row["cost"] or Decimal(0) for row in rows), Decimal(0))
    values["llm_rows"] = sum(1 for row in rows if row["is_llm"])
    values["service_rows"] = len(rows) - values["llm_rows"]
    for row in rows:
        for name in ADDED:
            values[name] += row[name] or 0.0
        for name in LLM_SHARES if row["is_llm"] else SERVICE_SHARES:
            values[name] += row[name] or 0.0
    for name in SKETCHES:
        merged, quantiles = merged_sketch(row[name] for row in rows)
        values[name] = merged
        for q, value in zip(STORED_QUANTILES, quantiles, strict=True):
            values[quantile_column(name, q)] = value
    return values
