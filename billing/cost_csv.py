"""The cost explorer's CSV: a row per group and step with usage (exact amounts), then a row per group with its total."""

from __future__ import annotations

import csv
import io

from billing.costs import CostReport, cost_amounts

CSV_COLUMNS = ["group_by", "key", "label", "start", "amount"]


def cost_csv(report: CostReport) -> str:
    """A row per group and step with usage (exact amounts), then a row per group with its total and tokens."""
    cost_amounts(report, report.groups)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*CSV_COLUMNS, "gpu_minutes", "cpu_core_minutes", "memory_gib_minutes", "cost_per_million_tokens"])
    for group in report.groups:
        for moment, amount in zip(report.buckets, group.amounts, strict=True):
            if amount:
                writer.writerow([report.group_by, group.key, group.label, moment.isoformat(), amount, "", "", "", ""])
    for group in report.groups:
        rate = group.cost_per_million_tokens
        writer.writerow(
            [
                report.group_by,
                group.key,
                group.label,
                "TOTAL",
                group.total,
                group.gpu_minutes,
                group.cpu_core_minutes,
                group.memory_gib_minutes,
                "" if rate is None else rate,
            ]
        )
    return out.getvalue()
