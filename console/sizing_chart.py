"""Layout of the sizing chart (cost per hour against end-to-end latency) for an inline SVG, and the table rows.

Presentation only: the candidates come from the sizing search (`sizing.search.SizingResult.as_dict()`). Both axes are
logarithmic, since costs and latencies of a catalog span orders of magnitude.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from console.charts import Framed, PlotArea, Tick, log_scale

AREA = PlotArea(width=640, height=300, left=64, right=16, top=14, bottom=44)
SLO_KEYS = (("ttft_s", "TTFT"), ("itl_s", "ITL"), ("e2e_s", "E2E"))


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    meets: bool
    chosen: bool
    label: str


@dataclass(frozen=True)
class Chart(Framed):
    points: list[Point]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    slo_x: float | None  # where the end-to-end target falls, when it is on the chart
    area: PlotArea = AREA

    @property
    def description(self) -> str:
        meets = sum(p.meets for p in self.points)
        return f"{len(self.points)} candidates that fit, {meets} meeting every SLO; cost per hour against latency."


def _ticks(low: float, high: float, scale, fmt) -> list[Tick]:
    ticks = []
    for exponent in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        for mantissa in (1, 2, 5):
            value = mantissa * 10**exponent
            if low <= value <= high:
                ticks.append(Tick(round(scale(value), 1), fmt(value)))
    return ticks


def _seconds(value: float) -> str:
    return f"{value * 1000:g} ms" if value < 1 else f"{value:g} s"


def chart(result: dict) -> Chart | None:
    """The candidates that fit, placed by end-to-end latency (x) and $/hour (y); None when there are none."""
    fitting = [c for c in result["candidates"] if c["fits"] and c["e2e_s"] and c["hourly_cost"]]
    if not fitting:
        return None
    chosen = result.get("chosen") or {}
    xs = [c["e2e_s"] for c in fitting]
    ys = [float(c["hourly_cost"]) for c in fitting]
    target = (result.get("inputs") or {}).get("slo", {}).get("e2e_s")
    x_low, x_high = min(xs) / 1.3, max(xs) * 1.3
    if target and x_low <= target * 4 and target / 4 <= x_high:
        x_low, x_high = min(x_low, target / 1.3), max(x_high, target * 1.3)
    y_low, y_high = min(ys) / 1.3, max(ys) * 1.3
    sx = log_scale(x_low, x_high, AREA.left, AREA.plot_right)
    sy = log_scale(y_low, y_high, AREA.plot_bottom, AREA.top)
    points = [
        Point(
            x=round(sx(c["e2e_s"]), 1),
            y=round(sy(float(c["hourly_cost"])), 1),
            meets=c["meets_slo"],
            chosen=_same(c, chosen),
            label=f"{c['replicas']} x {c['gpu_count']} x {c['gpu_type']} {c['precision']}: "
            f"{_seconds(c['e2e_s'])}, ${c['hourly_cost']}/h",
        )
        for c in fitting
    ]
    points.sort(key=lambda p: (p.chosen, p.meets))  # the chosen one drawn last, on top
    return Chart(
        points=points,
        x_ticks=_ticks(x_low, x_high, sx, _seconds),
        y_ticks=_ticks(y_low, y_high, sy, lambda v: f"${v:g}"),
        slo_x=round(sx(target), 1) if target and x_low <= target <= x_high else None,
    )


def _same(candidate: dict, chosen: dict) -> bool:
    keys = ("gpu_type", "gpu_count", "precision", "replicas")
    return bool(chosen) and all(candidate[k] == chosen[k] for k in keys)


def table_rows(result: dict, *, limit: int = 12) -> list[dict]:
    """The first `limit` candidates that fit (the ranking's order), each with a check per SLO that has a target."""
    slo = (result.get("inputs") or {}).get("slo") or {}
    rows = []
    for candidate in result["candidates"]:
        if not candidate["fits"]:
            continue
        missed = {v["slo"] for v in candidate["violations"]}
        checks = [
            {"label": label, "value": candidate[key], "ok": key not in missed, "target": slo.get(key)}
            for key, label in SLO_KEYS
        ]
        rows.append({**candidate, "checks": checks, "chosen": _same(candidate, result.get("chosen") or {})})
        if len(rows) >= limit:
            break
    return rows


def sized_components(report: dict) -> list[dict]:
    """From a preview's sizing report: per sized component, what the `_sizing.html` partial shows."""
    rows = []
    for key, entry in (report or {}).get("components", {}).items():
        if entry.get("kind") != "sized":
            continue
        result = {
            "candidates": entry.get("candidates", []),
            "chosen": entry.get("chosen"),
            "reasons": entry.get("reasons", []),
            "inputs": {"slo": entry.get("slo") or {}},
        }
        rows.append(
            {
                "key": key,
                "model_id": entry.get("model_id"),
                "sizing": result,
                "rows": table_rows(result),
                "chart": chart(result),
            }
        )
    return rows
