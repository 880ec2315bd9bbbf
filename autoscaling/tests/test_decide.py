"""The pure autoscaler: up on an SLO breach, down only after the window, bounds, no flapping, to and from zero."""

from autoscaling.decide import DOWN, HOLD, TO_ZERO, UP, WAKE, LastChange, Sample, decide, recommend
from autoscaling.policy import Policy

NOW = 100_000.0
SLO = Policy(min_replicas=1, max_replicas=4, signal="slo_ttft", scale_up_window_s=60, scale_down_window_s=300)


def minutes(count: int, **fields) -> list[Sample]:
    """`count` samples, one per minute, the last one at NOW."""
    return [Sample(at=NOW - 60 * i, **fields) for i in reversed(range(count))]


def test_an_slo_breach_scales_up_with_the_reason_in_words():
    samples = minutes(2, replicas=2, requests=600, p95_ttft=1.8, gpu_utilisation=0.9)
    decision = decide(current=2, samples=samples, policy=SLO, now=NOW, target=1.5)
    assert (decision.desired, decision.direction) == (3, UP)
    assert decision.reason == "p95 TTFT 1.8 s > 1.5 s target: 2 → 3 replicas"


def test_one_noisy_minute_does_not_scale_up_when_the_window_holds_a_good_one():
    samples = [*minutes(2, replicas=2, p95_ttft=1.0, requests=10)[:1], Sample(at=NOW, replicas=2, p95_ttft=3.0)]
    policy = Policy(**{**SLO.to_dict(), "scale_up_window_s": 120})
    assert decide(current=2, samples=samples, policy=policy, now=NOW, target=1.5).direction == HOLD


def test_scales_down_only_when_the_whole_down_window_asks_for_fewer():
    quiet = dict(replicas=3, requests=100, p95_ttft=0.5, gpu_utilisation=0.3)
    busy_four_minutes_ago = [Sample(at=NOW - 240, replicas=3, requests=900, p95_ttft=1.4, gpu_utilisation=0.8)]
    samples = busy_four_minutes_ago + minutes(4, **quiet)
    assert decide(current=3, samples=samples, policy=SLO, now=NOW, target=1.5).direction == HOLD
    later = NOW + 120  # the busy minute has left the 5-minute window
    samples = [*samples, Sample(at=NOW + 60, **quiet), Sample(at=later, **quiet)]
    decision = decide(current=3, samples=samples, policy=SLO, now=later, target=1.5)
    assert (decision.desired, decision.direction) == (2, DOWN)


def test_never_above_max_nor_below_min_and_steps_are_bounded():
    policy = Policy(min_replicas=2, max_replicas=5, signal="concurrency", target=10, max_step=2)
    flood = minutes(2, replicas=2, concurrency=500)
    assert decide(current=2, samples=flood, policy=policy, now=NOW, target=10).desired == 4  # step of 2
    assert (
        decide(current=4, samples=minutes(2, replicas=4, concurrency=500), policy=policy, now=NOW, target=10).desired
        == 5
    )
    at_max = decide(current=5, samples=minutes(2, replicas=5, concurrency=500), policy=policy, now=NOW, target=10)
    assert (at_max.desired, at_max.direction) == (5, HOLD) and "at max 5" in at_max.reason
    idle = minutes(6, replicas=2, concurrency=0, requests=0)
    assert decide(current=2, samples=idle, policy=policy, now=NOW, target=10).desired == 2


def test_a_change_against_the_last_one_waits_out_its_window():
    quiet = minutes(6, replicas=3, requests=10, p95_ttft=0.3, gpu_utilisation=0.1)
    just_scaled_up = LastChange(at=NOW - 100, direction=UP)
    held = decide(current=3, samples=quiet, policy=SLO, now=NOW, target=1.5, last_change=just_scaled_up)
    assert held.direction == HOLD and "stabilisation window" in held.reason
    long_ago = LastChange(at=NOW - 400, direction=UP)
    assert decide(current=3, samples=quiet, policy=SLO, now=NOW, target=1.5, last_change=long_ago).direction == DOWN


def test_to_zero_after_the_idle_timeout_and_back_on_the_first_request():
    policy = Policy(min_replicas=0, max_replicas=2, signal="concurrency", target=8, idle_timeout_s=600)
    idle = minutes(11, replicas=1, requests=0)
    decision = decide(current=1, samples=idle, policy=policy, now=NOW, target=8)
    assert (decision.desired, decision.direction) == (0, TO_ZERO)
    assert "no request for 10 min" in decision.reason
    one_request = [*idle[:-1], Sample(at=NOW, replicas=1, requests=1)]
    assert decide(current=1, samples=one_request, policy=policy, now=NOW, target=8).desired == 1
    too_short = minutes(5, replicas=1, requests=0)  # only 5 minutes of metrics: not yet idle for 10
    assert decide(current=1, samples=too_short, policy=policy, now=NOW, target=8).desired == 1
    woken = decide(current=0, samples=[], policy=policy, now=NOW, target=8, waiting_at_zero=3)
    assert (woken.desired, woken.direction) == (1, WAKE)
    assert decide(current=0, samples=[], policy=policy, now=NOW, target=8).desired == 0


def test_ratio_signals_keep_inside_the_tolerance():
    assert recommend(Sample(at=0, replicas=4, gpu_utilisation=0.75), "gpu_utilisation", 0.7) == 4
    assert recommend(Sample(at=0, replicas=4, gpu_utilisation=0.95), "gpu_utilisation", 0.7) == 6
    assert recommend(Sample(at=0, replicas=2, queue_depth=20), "queue_depth", 4) == 5
    assert recommend(Sample(at=0, replicas=2), "slo_ttft", 1.5) is None  # no latency measured: says nothing


def test_requests_waiting_now_scale_up_at_once_without_waiting_out_the_up_window():
    policy = Policy(min_replicas=1, max_replicas=8, signal="concurrency", target=10, max_step=4,
                    scale_up_window_s=120)  # fmt: skip
    # The last two minutes were calm (the window's lowest recommendation is 2): the rollups alone hold.
    calm = minutes(2, replicas=2, concurrency=20)
    assert decide(current=2, samples=calm, policy=policy, now=NOW, target=10).direction == HOLD
    # 25 requests waiting at the gateway now: (20 running + 25 waiting) / 10 → 5 replicas, now.
    decision = decide(current=2, samples=calm, policy=policy, now=NOW, target=10, queue_now=25)
    assert (decision.desired, decision.direction) == (5, UP)
    assert decision.reason.startswith("25 request(s) waiting now")
    # Still bounded by max_step and max, and nothing waiting changes nothing.
    assert decide(current=2, samples=calm, policy=policy, now=NOW, target=10, queue_now=500).desired == 6
    assert decide(current=8, samples=calm, policy=policy, now=NOW, target=10, queue_now=500).desired == 8
    # Other signals: one replica more per tick while requests wait; no sample yet is no excuse.
    slo = Policy(**{**SLO.to_dict(), "max_replicas": 4})
    assert decide(current=2, samples=[], policy=slo, now=NOW, target=1.5, queue_now=3).desired == 3
