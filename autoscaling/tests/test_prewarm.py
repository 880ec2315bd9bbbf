"""Scheduled pre-warm from the load history and pools sized by the wakes expected together (pure rules), and the
autoscaler's pass waking a component at zero ahead of the ramp it forecasts from yesterday's rollups."""

from datetime import timedelta

import pytest
from django.utils import timezone

from autoscaling import prewarm
from autoscaling.models import ScalingDecision
from autoscaling.pooling import wakes_together_target
from autoscaling.services import deployment_autoscale, policy_set
from autoscaling.tests.factories import rollups
from deployments.tests.factories import deploy

ZERO = {"min_replicas": 0, "max_replicas": 2, "signal": "concurrency", "target": 8, "idle_timeout_s": 600}


def day(quiet_until: int, busy: float = 10.0) -> list[float]:
    """A day of per-minute counts: a trickle until minute `quiet_until`, then `busy` requests a minute."""
    return [0.0 if m % 20 else 1.0 for m in range(quiet_until)] + [busy] * (24 * 60 - quiet_until)


def test_a_ramp_is_the_first_busy_minute_after_a_quiet_half_hour():
    assert prewarm.ramps(day(360)) == [(360, pytest.approx(1 / 30), 10.0)]
    assert prewarm.ramps([10.0] * 1440) == []  # never quiet: nothing to pre-warm
    assert prewarm.ramps(day(360, busy=1.0)) == []  # a load that would not keep a replica busy
    [window] = prewarm.windows(day(360), cold_start_s=97.6)
    assert (window.start_s, window.end_s) == (6 * 3600 - 127.6, 6 * 3600 + 600)
    assert window.covers(6 * 3600 - 60) and not window.covers(6 * 3600 - 200) and not window.covers(6 * 3600 + 601)
    assert window.reason(127.6) == (
        "scheduled pre-warm: the load rose at 06:00 yesterday (0.0 → 10 requests/min); woken 128 s ahead"
    )


def test_a_pool_sized_by_wakes_together_is_smaller_than_one_per_component_at_zero():
    night = 1 / 1200  # a request every 20 minutes, each a wake at zero
    assert wakes_together_target([], refill_s=27) == 0
    # Four components at zero waking now and then: two standbys leave a wake < 1% chance of finding none.
    assert wakes_together_target([night] * 4, refill_s=27) == 2
    assert wakes_together_target([night] * 4, refill_s=27, miss=0.1) == 1
    # Twelve waking at once every minute need more than a refill's worth.
    assert wakes_together_target([1 / 60] * 12, refill_s=77) >= 12


@pytest.mark.django_db
def test_the_autoscaler_wakes_a_component_at_zero_ahead_of_yesterdays_ramp(templates, member_user, project, cluster):
    deployment = deploy(user=member_user, project=project, cluster=cluster, run=True)
    policy_set(user=member_user, deployment=deployment, components={"llm": ZERO})
    minute = timezone.now().replace(second=0, microsecond=0)
    rollups(deployment=deployment, key="llm", end=minute, minutes=11, replicas=1, requests=0)
    [zero] = deployment_autoscale(deployment_id=deployment.pk, now=minute)
    assert zero.direction == "to_zero"
    now = minute + timedelta(seconds=20)
    assert deployment_autoscale(deployment_id=deployment.pk, now=now) == []  # no history: nothing forecast
    # Yesterday: quiet for 40 minutes, then from one minute after this moment 30 requests a minute.
    ramp = minute + timedelta(minutes=1) - timedelta(days=1)
    rollups(deployment=deployment, key="llm", end=ramp, minutes=40, replicas=0, requests=0)
    rollups(deployment=deployment, key="llm", end=ramp + timedelta(minutes=8), minutes=8, replicas=1, requests=30)
    [wake] = deployment_autoscale(deployment_id=deployment.pk, now=now)
    assert wake.direction == "wake" and wake.to_replicas == 1
    assert wake.reason.startswith(
        f"scheduled pre-warm: the load rose at {ramp:%H:%M} yesterday (0.0 → 30 requests/min)"
    )
    assert "cold start about 43 s" in wake.reason
    assert ScalingDecision.objects.filter(deployment=deployment, direction="wake").count() == 1
    deployment.refresh_from_db()
    assert deployment.status != "SCALED_TO_ZERO"
