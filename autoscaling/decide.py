"""The autoscaler's decision (no Django): current replicas, a window of per-minute samples, the policy and the last
change → the desired replicas and why.

Each sample gives a recommendation of its own (absolute: computed with the replicas that served it, so a sample
from before the last change is not misread). Like the Kubernetes HPA, a scale-up goes to the *lowest*
recommendation of the scale-up window and a scale-down to the *highest* of the scale-down window, so one noisy
minute never moves the replicas; on top, a change in the opposite direction of the last one waits out its window
(no flapping). Bounds: never below min (1 unless the policy scales to zero) nor above max, at most `max_step`
replicas per decision. To zero: min 0 and no request for `idle_timeout_s`. From zero: the first request waiting.

The live queue (`queue_now`: requests waiting at the endpoint at this tick, read from the gateway's queue, not a
minute rollup) scales up at once: the gateway queues only when the running replicas are saturated, so a request
waiting now is already late and not one noisy minute. With a count signal it asks for the replicas that hold what
runs plus what waits at the target ((concurrency + waiting) / target, or waiting / target for `queue_depth`); with
the other signals one replica more. The bounds, `max_step` and the no-flapping rule still apply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from autoscaling.policy import SIGNAL_LABELS, Policy

# Inside ±10% of the target a ratio signal recommends no change (the HPA's default tolerance).
TOLERANCE = 0.1
# The SLO signals scale down only with this much headroom (p95 under 60% of the target) ...
SLO_DOWN_HEADROOM = 0.6
# ... and only if the GPUs left would run below this utilisation.
SLO_DOWN_MAX_UTILISATION = 0.85
HOLD, UP, DOWN, TO_ZERO, WAKE = "hold", "up", "down", "to_zero", "wake"


@dataclass(frozen=True)
class Sample:
    """One minute of one component (observability's rollup): `at` in seconds since the epoch."""

    at: float
    replicas: int
    requests: float = 0.0  # arrived in the minute
    concurrency: float = 0.0  # running, all replicas
    queue_depth: float = 0.0  # waiting, all replicas
    gpu_utilisation: float = 0.0  # mean share, 0-1
    p95_ttft: float | None = None
    p95_itl: float | None = None


@dataclass(frozen=True)
class LastChange:
    at: float
    direction: str  # UP, DOWN, TO_ZERO or WAKE


@dataclass(frozen=True)
class Decision:
    desired: int
    direction: str
    reason: str
    signal_value: float | None = None
    target: float | None = None


def signal_value(sample: Sample, signal: str) -> float | None:
    """The sample's value of the signal, per replica where the signal is a per-replica one."""
    replicas = max(1, sample.replicas)
    if signal == "concurrency":
        return (sample.concurrency + sample.queue_depth) / replicas
    if signal == "queue_depth":
        return sample.queue_depth / replicas
    if signal == "gpu_utilisation":
        return sample.gpu_utilisation
    if signal == "slo_ttft":
        return sample.p95_ttft
    if signal == "slo_itl":
        return sample.p95_itl
    raise ValueError(f"unknown signal {signal!r}")


def recommend(sample: Sample, signal: str, target: float) -> int | None:
    """The replicas this sample alone asks for (None: it says nothing, e.g. no latency measured)."""
    value = signal_value(sample, signal)
    replicas = max(1, sample.replicas)
    if value is None:
        return None
    if signal in ("slo_ttft", "slo_itl"):
        if value > target:
            return max(replicas + 1, math.ceil(replicas * value / target))
        fewer = replicas - 1
        headroom = value < target * SLO_DOWN_HEADROOM
        if fewer >= 1 and headroom and sample.gpu_utilisation * replicas / fewer < SLO_DOWN_MAX_UTILISATION:
            return fewer
        return replicas
    ratio = value / target
    if abs(ratio - 1) <= TOLERANCE:
        return replicas
    return max(1, math.ceil(replicas * ratio))


def live_recommendation(latest: Sample, signal: str, target: float, *, current: int, queue_now: float) -> int | None:
    """The replicas the requests waiting at the endpoint now ask for (None: nothing waits)."""
    if queue_now <= 0:
        return None
    if signal == "concurrency":
        return max(current + 1, math.ceil((latest.concurrency + queue_now) / target))
    if signal == "queue_depth":
        return max(current + 1, math.ceil(queue_now / target))
    return current + 1


def _fmt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value < 10 else f"{value:.0f}"


def _describe(signal: str, value: float | None, target: float) -> str:
    name = SIGNAL_LABELS[signal].replace(" (s)", "").replace(" (0-1)", "")
    unit = " s" if signal in ("slo_ttft", "slo_itl") else ""
    if value is None:
        return f"{name}: no data"
    relation = ">" if value > target else "<" if value < target else "="
    return f"{name} {_fmt(value)}{unit} {relation} {_fmt(target)}{unit} target"


def decide(
    *,
    current: int,
    samples: list[Sample],
    policy: Policy,
    now: float,
    target: float | None,
    last_change: LastChange | None = None,
    waiting_at_zero: int = 0,
    queue_now: float = 0.0,
) -> Decision:
    """The desired replicas for one component and the reason, in words a user reads in the event log."""
    floor = max(1, policy.min_replicas)
    if current == 0:
        if waiting_at_zero > 0:
            desired = min(policy.max_replicas, floor)
            return Decision(desired, WAKE, f"{waiting_at_zero} request(s) waiting at zero: 0 → {desired} replicas")
        return Decision(0, HOLD, "scaled to zero, no request waiting")
    if target is None:
        return Decision(current, HOLD, f"no target for {policy.signal} (the deployment has no use case target)")
    recent = sorted((s for s in samples if s.at <= now), key=lambda s: s.at)
    if policy.scales_to_zero:
        idle_since = now - policy.idle_timeout_s
        # The minutes that end after idle_since; the first of them must start by then (a sample is a minute).
        covered = [s for s in recent if s.at > idle_since]
        changed_before = last_change is None or last_change.at <= idle_since
        whole = bool(covered) and covered[0].at - 60 <= idle_since
        if whole and changed_before and not any(s.requests for s in covered):
            minutes = policy.idle_timeout_s // 60
            return Decision(0, TO_ZERO, f"no request for {minutes} min (idle timeout): {current} → 0 replicas")
    if not recent and queue_now <= 0:
        return Decision(current, HOLD, "no metrics yet")
    latest = recent[-1] if recent else Sample(at=now, replicas=current)
    value = signal_value(latest, policy.signal)

    def window(seconds: int) -> list[int]:
        recs = [recommend(s, policy.signal, target) for s in recent if s.at > now - max(seconds, 60)]
        return [r for r in recs if r is not None]

    ups, downs = window(policy.scale_up_window_s), window(policy.scale_down_window_s)
    described = _describe(policy.signal, value, target)
    desired, direction = current, HOLD
    live = live_recommendation(latest, policy.signal, target, current=current, queue_now=queue_now)
    if live is not None and live > max(current, min(ups, default=0)):
        desired, direction = live, UP
        described = f"{_fmt(queue_now)} request(s) waiting now ({described})"
    elif ups and min(ups) > current:
        desired, direction = min(ups), UP
    elif downs and max(downs) < current:
        desired, direction = max(downs), DOWN
    if current < floor:
        desired, direction = floor, UP
    desired = max(floor, min(policy.max_replicas, desired))
    if current > policy.max_replicas:
        desired, direction = policy.max_replicas, DOWN
    if desired == current:
        bound = ""
        if direction == UP and current >= policy.max_replicas:
            bound = f" (at max {policy.max_replicas})"
        elif direction == DOWN and current <= floor:
            bound = f" (at min {floor})"
        return Decision(current, HOLD, f"{described}: stays at {current}{bound}", value, target)
    step = min(policy.max_step, abs(desired - current))
    desired = current + step if desired > current else current - step
    direction = UP if desired > current else DOWN
    if last_change is not None and last_change.direction != direction:
        wait = policy.scale_up_window_s if direction == UP else policy.scale_down_window_s
        if now - last_change.at < wait:
            left = int(wait - (now - last_change.at))
            return Decision(
                current, HOLD, f"{described}: {direction} held {left} s more (stabilisation window)", value, target
            )
    return Decision(desired, direction, f"{described}: {current} → {desired} replicas", value, target)
