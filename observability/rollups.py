"""A deployment's rollup of one window from its components' rollups of that window (pure: collection, compaction and
the migration that backfills DeploymentRollup use it alike)."""

from __future__ import annotations

from decimal import Decimal

from observability.sketch import STORED_QUANTILES, merged_sketch, quantile_column

SKETCHES = ("ttft", "itl", "e2e")
ADDED = ("requests", "errors", "prompt_tokens", "output_tokens", "running", "waiting", "replicas")
# Share gauges: summed over the rows they are read from (the range query divides by the count of those rows).
LLM_SHARES = ("gpu_utilisation", "kv_cache_usage")
SERVICE_SHARES = ("cpu_utilisation",)
# The component columns the merge reads.
COMPONENT_COLUMNS = ("is_llm", "cost", *ADDED, *LLM_SHARES, *SERVICE_SHARES, *SKETCHES)


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
