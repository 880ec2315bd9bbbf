"""Layout of the deployment page's time-series charts (inline SVG drawn server-side): linear axes with units, a line
per series, the SLO target as a dashed line, and optionally the replica count as a step line on a right-hand axis
(so a latency rise and the scale-up that answers it read on one chart). Presentation only: the series come from
`observability.query`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from console.charts import Framed, PlotArea, Tick, nice_step

AREA = PlotArea(width=640, height=220, left=64, right=12, top=12, bottom=36)
OVERLAID = PlotArea(width=640, height=220, left=64, right=40, top=12, bottom=36)  # room for the replica axis
TIME_STEPS = (300, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600, 43200, 86400)
MAX_X_TICKS = 7


@dataclass(frozen=True)
class Line:
    label: str
    tone: int  # 0, 1, 2...: the series colour in the stylesheet
    segments: list[str]  # SVG polyline points, split where data is missing
    latest: str  # the last value, formatted with its unit


@dataclass(frozen=True)
class Mark:
    """A point on the chart with its words on hover (an autoscaling decision: when, to how many, why)."""

    x: float
    y: float
    text: str


@dataclass(frozen=True)
class TimeChart(Framed):
    key: str
    title: str
    unit: str
    lines: list[Line]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    slo_y: float | None = None
    slo_label: str = ""
    area: PlotArea = AREA
    notes: list[str] = field(default_factory=list)
    replicas: Line | None = None  # the replica count, a step line on the right axis
    replica_ticks: list[Tick] = field(default_factory=list)
    decision_marks: list[Mark] = field(default_factory=list)  # the autoscaler's decisions on the replica line

    @property
    def empty(self) -> bool:
        return not any(line.segments for line in self.lines)

    @property
    def description(self) -> str:
        parts = [f"{line.label} now {line.latest}" for line in self.lines if line.segments]
        if self.slo_label:
            parts.append(f"target {self.slo_label}")
        if self.replicas is not None and self.replicas.segments:
            parts.append(f"{self.replicas.label} now {self.replicas.latest}")
        return f"{self.title} ({self.unit}) over time: " + ("; ".join(parts) or "no data yet") + "."


def format_value(value: float, unit: str) -> str:
    """A value with its unit, short enough for an axis label."""
    if unit == "s":
        if value == 0:
            return "0"
        return f"{value * 1000:.3g} ms" if abs(value) < 1 else f"{value:.3g} s"
    if unit == "%":
        return f"{value:.3g}%"
    if unit == "$/h":
        return f"${value:.3g}"
    if abs(value) >= 1000:
        return f"{value / 1000:.3g}k"
    return f"{value:.3g}"


def time_chart(
    *,
    key: str,
    title: str,
    unit: str,
    series: list[tuple[str, list[tuple[float, float]]]],
    start: float,
    end: float,
    step: int,
    slo: float | None = None,
    y_max: float | None = None,
    replicas: list[tuple[float, float]] | None = None,
    decisions: list[tuple[float, int, str]] | None = None,
) -> TimeChart:
    """Lay out `series` [(label, [(unix time, value)])] over [start, end); the y axis starts at 0 and reaches the
    highest value or the SLO target, whichever is higher (or `y_max` when given, e.g. 100 for a percentage).
    `replicas` [(unix time, count)]: drawn as a step line against a right-hand axis of whole replicas, with
    `decisions` [(unix time, replicas after, words)] marked on it (the autoscaler's)."""
    area = AREA if replicas is None else OVERLAID
    values = [v for _, points in series for _, v in points]
    top = y_max if y_max is not None else max([*values, slo or 0.0, 0.0]) * 1.15 or 1.0
    y_step = nice_step(top)
    top = math.ceil(top / y_step) * y_step

    def sx(t: float) -> float:
        return round(area.left + (t - start) / max(end - start, 1) * area.plot_width, 1)

    def sy(v: float) -> float:
        return round(area.plot_bottom - min(v, top) / top * area.plot_height, 1)

    lines = []
    for tone, (label, points) in enumerate(series):
        segments, current, previous = [], [], None
        for t, v in sorted(points):
            if previous is not None and t - previous > step * 1.5 and current:
                segments.append(current)
                current = []
            current.append(f"{sx(t)},{sy(v)}")
            previous = t
        if current:
            segments.append(current)
        # A lone point still shows: a zero-length segment drawn with round caps.
        drawn = [" ".join(s if len(s) > 1 else [s[0], s[0]]) for s in segments]
        latest = format_value(max(points)[1], unit) if points else "—"
        lines.append(Line(label=label, tone=tone, segments=drawn, latest=latest))
    y_ticks = [Tick(sy(i * y_step), format_value(i * y_step, unit)) for i in range(round(top / y_step) + 1)]
    t_step = next((s for s in TIME_STEPS if (end - start) / s <= MAX_X_TICKS), TIME_STEPS[-1])
    first = math.ceil(start / t_step) * t_step
    fmt = "%H:%M" if t_step < 86400 else "%b %d"
    x_ticks = [
        Tick(sx(t), datetime.fromtimestamp(t, UTC).strftime(fmt)) for t in range(int(first), int(end) + 1, t_step)
    ]
    slo_y = sy(slo) if slo is not None else None
    overlay, overlay_ticks, marks = (
        _replica_overlay(replicas, decisions or [], sx, area, step) if replicas is not None else (None, [], [])
    )
    return TimeChart(
        key=key,
        title=title,
        unit=unit,
        lines=lines,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        slo_y=slo_y,
        slo_label=format_value(slo, unit) if slo is not None else "",
        area=area,
        replicas=overlay,
        replica_ticks=overlay_ticks,
        decision_marks=marks,
    )


def _replica_overlay(
    points: list[tuple[float, float]], decisions: list[tuple[float, int, str]], sx, area: PlotArea, step: int
) -> tuple[Line, list[Tick], list[Mark]]:
    """The replica count as a step line (it changes at a moment, it does not slide) on its own scale: 0 to the most
    replicas seen or decided (at least 1), whole-number ticks on the right; a mark per decision at its new count."""
    top = max([v for _, v in points] + [float(to) for _, to, _ in decisions] + [1.0])
    y_step = max(1, nice_step(top * 1.15))
    top = math.ceil(top * 1.15 / y_step) * y_step

    def sy(v: float) -> float:
        return round(area.plot_bottom - min(v, top) / top * area.plot_height, 1)

    segments, current, previous = [], [], None
    for t, v in sorted(points):
        if previous is not None and t - previous[0] > step * 1.5 and current:
            segments.append(current)
            current = []
        if current:
            current.append(f"{sx(t)},{sy(previous[1])}")  # hold the last count until this point, then step
        current.append(f"{sx(t)},{sy(v)}")
        previous = (t, v)
    if current:
        segments.append(current)
    drawn = [" ".join(s if len(s) > 1 else [s[0], s[0]]) for s in segments]
    latest = f"{max(points)[1]:.3g}" if points else "—"
    ticks = [Tick(sy(i * y_step), str(int(i * y_step))) for i in range(round(top / y_step) + 1)]
    marks = [Mark(sx(t), sy(to), text) for t, to, text in sorted(decisions)]
    return Line(label="replicas", tone=9, segments=drawn, latest=latest), ticks, marks
