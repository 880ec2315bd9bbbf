"""Scheduled pre-warm (no Django), in the way of KEDA's cron scaler but from the load history instead of a
hand-written schedule: a component at zero whose load, on the last day, rose from a trickle to a load that keeps a
replica busy at some minute is woken ahead of that minute by its predicted cold start, and held at one replica
through the ramp, so the first requests of the ramp find it running instead of waiting for the start.

A ramp is a minute of the history where the quiet span before it (`quiet_minutes` at most `quiet_per_min` requests
a minute) ends and a busy span after it (`busy_minutes` at `busy_per_min` or more) begins: exactly where a
component at zero would otherwise wake on its first request and make every request of the ramp wait.
"""

from __future__ import annotations

from dataclasses import dataclass

DAY_S = 24 * 3600
QUIET_MINUTES = 30
QUIET_PER_MIN = 0.5
BUSY_MINUTES = 5
BUSY_PER_MIN = 2.0
MARGIN_S = 30.0  # woken this long before the predicted start is needed (the start's own spread)
HOLD_S = 600.0  # held at one replica this long after the forecast ramp (the autoscaler takes over from there)


@dataclass(frozen=True)
class Window:
    """One pre-warm: from `start_s` to `end_s` (seconds of the day) the component keeps at least one replica."""

    ramp_s: float  # the forecast ramp, seconds of the day
    start_s: float
    end_s: float
    quiet_per_min: float  # the history's mean requests a minute before the ramp ...
    busy_per_min: float  # ... and after it

    def covers(self, second_of_day: float) -> bool:
        return self.start_s <= second_of_day < self.end_s

    def reason(self, lead_s: float) -> str:
        return (
            f"scheduled pre-warm: the load rose at {_clock(self.ramp_s)} yesterday "
            f"({self.quiet_per_min:.1f} → {self.busy_per_min:.0f} requests/min); woken {lead_s:.0f} s ahead"
        )


def _clock(second_of_day: float) -> str:
    minutes = int(second_of_day // 60) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def ramps(
    per_minute: list[float],
    *,
    quiet_minutes: int = QUIET_MINUTES,
    quiet_per_min: float = QUIET_PER_MIN,
    busy_minutes: int = BUSY_MINUTES,
    busy_per_min: float = BUSY_PER_MIN,
) -> list[tuple[int, float, float]]:
    """The ramps of one day's per-minute request counts: (minute, mean before, mean after) for each."""
    found = []
    for minute in range(quiet_minutes, len(per_minute) - busy_minutes + 1):
        before = per_minute[minute - quiet_minutes : minute]
        after = per_minute[minute : minute + busy_minutes]
        quiet = max(before) <= quiet_per_min * 4 and sum(before) / quiet_minutes <= quiet_per_min
        if quiet and min(after) >= busy_per_min:
            found.append((minute, sum(before) / quiet_minutes, sum(after) / busy_minutes))
    # A ramp is its first minute: the later minutes of the same rise are not ramps of their own.
    return [item for i, item in enumerate(found) if i == 0 or item[0] - found[i - 1][0] > quiet_minutes]


def windows(per_minute: list[float], *, cold_start_s: float, margin_s: float = MARGIN_S, hold_s: float = HOLD_S):
    """The pre-warm windows of a component for the next day, from the last day's per-minute request counts and its
    predicted cold start (`autoscaling.coldstart`): each starts that start plus a margin ahead of a ramp."""
    lead = cold_start_s + margin_s
    return [
        Window(minute * 60.0, (minute * 60.0 - lead) % DAY_S, (minute * 60.0 + hold_s) % DAY_S, before, after)
        for minute, before, after in ramps(per_minute)
    ]


def due(
    per_minute: list[float], *, first_minute_s: float, now_s: float, cold_start_s: float
) -> tuple[Window, float] | None:
    """The pre-warm covering `now_s`, if any, and its lead: `per_minute` are the last day's request counts from the
    minute starting at `first_minute_s` (epoch seconds, a day before the stretch of today they forecast)."""
    lead = cold_start_s + MARGIN_S
    for minute, before, after in ramps(per_minute):
        ramp = first_minute_s + minute * 60 + DAY_S
        if ramp - lead <= now_s < ramp + HOLD_S:
            window = Window(ramp % DAY_S, (ramp - lead) % DAY_S, (ramp + HOLD_S) % DAY_S, before, after)
            return window, lead
    return None
