"""The cost explorer's CSV: a row per group and step with usage (exact amounts), then a row per group with its total."""

from __future__ import annotations

import csv
import io

from billing.costs import CostReport, cost_steps

CSV_COLUMNS = ["group_by", "key", "label", "start", "amount"]


def cost_csv(report: CostReport) -> str:
    """A row per group and step with usage (exact amounts), then a row per group with its total and tokens.

    Written as `csv.writer` writes these rows (the same bytes): a step row's first three fields are quoted once per
    group, the step and amount need no quoting, and the empty fields are empty."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*CSV_COLUMNS, "gpu_minutes", "cpu_core_minutes", "memory_gib_minutes", "cost_per_million_tokens"])
    starts = [moment.isoformat() for moment in report.buckets]
    prefix = io.StringIO()
    group_fields = csv.writer(prefix, lineterminator="")
    for group, steps in cost_steps(report):
        prefix.seek(0)
        prefix.truncate()
        group_fields.writerow([report.group_by, group.key, group.label])
        fields = prefix.getvalue()
        out.writelines(f"{fields},{starts[step]},{amount!s},,,,\r\n" for step, amount in steps if amount)
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
