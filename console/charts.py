"""What every server-side SVG chart of the console shares: the plot area's geometry, a tick on an axis, round tick
steps and a logarithmic scale. Each chart module (cost, sizing, metrics, autoscaling) lays out only
its own marks; the templates read the geometry through `Framed` (chart.left, chart.plot_right, chart.plot_width...).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Tick:
    position: float
    text: str


@dataclass(frozen=True)
class PlotArea:
    """An SVG of `width` x `height` with the plot inside the margins (left, right, top, bottom) and axes around it."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int

    @property
    def plot_right(self) -> int:
        return self.width - self.right

    @property
    def plot_bottom(self) -> int:
        return self.height - self.bottom

    @property
    def plot_width(self) -> int:
        return self.plot_right - self.left

    @property
    def plot_height(self) -> int:
        return self.plot_bottom - self.top


class Framed:
    """A chart laid out on `area`: the geometry its template reads, as attributes of the chart itself."""

    area: PlotArea

    @property
    def width(self) -> int:
        return self.area.width

    @property
    def height(self) -> int:
        return self.area.height

    @property
    def left(self) -> int:
        return self.area.left

    @property
    def top(self) -> int:
        return self.area.top

    @property
    def plot_right(self) -> int:
        return self.area.plot_right

    @property
    def plot_bottom(self) -> int:
        return self.area.plot_bottom

    @property
    def plot_width(self) -> int:
        return self.area.plot_width

    @property
    def plot_height(self) -> int:
        return self.area.plot_height


def nice_step(span: float, ticks: int = 4) -> float:
    """1, 2 or 5 times a power of ten, so that about `ticks` of them cover `span`."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def nice_ticks(high: float, count: int = 5) -> list[float]:
    """0 and round steps (1, 2 or 5 x 10^n) up to at least `high`."""
    if high <= 0:
        return [0.0, 1.0]
    step = nice_step(high, count)
    return [round(i * step, 12) for i in range(math.ceil(high / step - 1e-9) + 1)]


def log_scale(low: float, high: float, start: float, end: float) -> Callable[[float], float]:
    """log10 of values in [low, high] onto SVG units [start, end] (end < start for a y axis that grows upwards); a
    range of one value is widened to one decade around it."""
    lo, hi = math.log10(low), math.log10(high)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    return lambda v: start + (math.log10(v) - lo) / (hi - lo) * (end - start)
