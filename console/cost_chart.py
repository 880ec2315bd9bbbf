"""Layout of the cost explorer's stacked chart (cost per step, one colour per group) for an inline SVG.

Presentation only: the numbers come from `billing.costs.cost_report`. The largest groups get a colour each and the
rest are stacked as one "other" band, so the chart stays readable at a thousand deployments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from billing.costs import CostReport
from console.charts import Framed, PlotArea, Tick, nice_ticks

AREA = PlotArea(width=720, height=280, left=64, right=12, top=12, bottom=40)
SERIES = 6  # coloured groups; the rest are "other"


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int  # colour index; SERIES is "other"
    title: str


@dataclass(frozen=True)
class LegendEntry:
    series: int
    label: str
    total: Decimal


@dataclass(frozen=True)
class StackedChart(Framed):
    bars: list[Bar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    legend: list[LegendEntry]
    description: str
    area: PlotArea = AREA


def _money(value: float) -> str:
    return f"${value:,.0f}" if value >= 10 else f"${value:,.2f}"


def stacked_chart(report: CostReport, step_totals: list[Decimal]) -> StackedChart | None:
    """Bars per step, stacked by group (largest groups at the bottom); None when nothing cost anything.

    Needs the steps of the largest SERIES groups loaded, and `step_totals` (all groups per step): the "other" band is
    the totals less the groups shown (exact Decimals, so the same as adding the others up)."""
    if not report.count or not report.buckets or report.total <= 0:
        return None
    shown = report.ranked(slice(0, SERIES))
    other = report.count - len(shown)
    stacks = [(index, group.label, group.amounts) for index, group in enumerate(shown)]
    if other:
        amounts = list(step_totals)
        for group in shown:
            amounts = [amount - part for amount, part in zip(amounts, group.amounts, strict=True)]
        stacks.append((SERIES, f"{other} other", amounts))
    heights = [sum((amounts[i] for _, _, amounts in stacks), Decimal(0)) for i in range(len(report.buckets))]
    ticks = nice_ticks(float(max(heights)))
    top_value = ticks[-1]
    plot_width, plot_height = AREA.plot_width, AREA.plot_height
    slot = plot_width / len(report.buckets)
    gap = min(2.0, slot * 0.15)
    bars = []
    for i, moment in enumerate(report.buckets):
        base = 0.0
        for series, label, amounts in stacks:
            value = float(amounts[i])
            if value <= 0:
                continue
            height = value / top_value * plot_height
            y = AREA.plot_bottom - (base + height)
            when = f"{moment:%Y-%m-%d}" if report.step == "day" else f"{moment:%Y-%m-%d %H:00}"
            bars.append(
                Bar(
                    round(AREA.left + i * slot + gap / 2, 2),
                    round(y, 2),
                    round(slot - gap, 2),
                    round(height, 2),
                    series,
                    f"{label}, {when}: ${amounts[i]:.2f}",
                )
            )
            base += height
    every = max(1, math.ceil(len(report.buckets) / 8))
    x_ticks = [
        Tick(
            round(AREA.left + (i + 0.5) * slot, 1),
            f"{moment:%d %b}" if report.step == "day" else f"{moment:%d %H:00}",
        )
        for i, moment in enumerate(report.buckets)
        if i % every == 0
    ]
    y_ticks = [Tick(round(AREA.plot_bottom - value / top_value * plot_height, 1), _money(value)) for value in ticks]
    legend = [LegendEntry(series, label, sum(amounts, Decimal(0))) for series, label, amounts in stacks]
    description = (
        f"Cost per {report.step} from {report.start:%Y-%m-%d} to {report.end:%Y-%m-%d}, stacked by {report.group_by}: "
        + "; ".join(f"{entry.label} ${entry.total:.2f}" for entry in legend)
    )
    return StackedChart(bars=bars, x_ticks=x_ticks, y_ticks=y_ticks, legend=legend, description=description)
