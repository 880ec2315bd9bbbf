"""Collection from the simulated driver: latency follows the load, an under-sized deployment burns its budget."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F, Sum
from django.utils import timezone

from deployments.services import deployment_scale
from jobs.models import Job
from observability.collect import floor_minute, metrics_collect, metrics_compact, slo_hours_refresh
from observability.models import DeploymentMonitoring, MetricRollup, SloHour
from observability.selectors import attainment_windows, deployment_slo
from observability.sketch import sketch_merge_json, sketch_quantile
from observability.tests.conftest import settle
from observability.workload import sized_rate

pytestmark = pytest.mark.django_db


def slo_by_target(deployment, now) -> dict:
    return {o["target"]: o for o in deployment_slo(deployment=deployment, now=now)["objectives"]}


def test_a_deployment_at_the_load_it_was_sized_for_meets_its_slos(deployment):
    now = timezone.now() + timedelta(minutes=20)
    result = metrics_collect(now=now)
    assert result.rows and result.skipped == 0
    components = set(MetricRollup.objects.filter(deployment=deployment).values_list("component_key", flat=True))
    assert "llm" in components and len(components) > 1
    assert metrics_collect(now=now).rows == 0  # nothing twice
    slo = slo_by_target(deployment, floor_minute(now))
    assert set(slo) == {"ttft", "itl", "e2e"}
    for target in slo.values():
        assert target["attainment"]["5m"] >= 0.99, target
        assert target["burn_rate"]["1h"] <= 1
        assert target["error_budget_remaining"] > 0
    llm = MetricRollup.objects.filter(deployment=deployment, component_key="llm")
    assert all(r.requests > 0 and r.cost > 0 and 0 < r.gpu_utilisation <= 1 for r in llm)


def test_an_under_sized_deployment_burns_its_budget_until_it_is_scaled_up(deployment, admin_user):
    # Past the replica's capacity (about 4.5x the sized rate, at vLLM's 256 sequences) the queue grows.
    DeploymentMonitoring.objects.create(deployment=deployment, requests_per_second=sized_rate(deployment) * 8)
    now = timezone.now() + timedelta(minutes=20)
    metrics_collect(now=now)
    slo = slo_by_target(deployment, floor_minute(now))
    assert slo["ttft"]["attainment"]["5m"] < 0.5
    assert slo["ttft"]["burn_rate"]["5m"] > 14.4 and slo["ttft"]["burn_rate"]["1h"] > 14.4  # the fast-burn pair
    assert slo["ttft"]["error_budget_remaining"] < 0 and slo["e2e"]["attainment"]["5m"] < 0.5
    waiting = MetricRollup.objects.filter(deployment=deployment, component_key="llm").values_list("waiting", flat=True)
    assert min(waiting) > 0
    llm = MetricRollup.objects.filter(deployment=deployment, component_key="llm")
    assert sketch_quantile(sketch_merge_json(llm.values_list("ttft", flat=True)), 0.5) > 0.35

    current = deployment.components.get(key="llm", retired_at__isnull=True, is_candidate=False)
    replicas = current.job.resources["replicas"]
    deployment_scale(user=admin_user, deployment=deployment, scale={"llm": {"replicas": replicas * 6}})
    settle(deployment)
    later = now + timedelta(minutes=30)
    metrics_collect(now=later)
    slo = slo_by_target(deployment, floor_minute(later))
    for target in ("ttft", "e2e"):
        assert slo[target]["attainment"]["5m"] >= 0.99 and slo[target]["burn_rate"]["5m"] < 1
    assert slo["ttft"]["burn_rate"]["1h"] > 1  # the hour still remembers the overload


def test_old_minutes_fold_into_hours_with_the_same_totals_and_percentiles(deployment):
    now = timezone.now() + timedelta(minutes=20)
    metrics_collect(now=now)
    minutes = MetricRollup.objects.filter(deployment=deployment, component_key="llm")
    before = sketch_merge_json(minutes.values_list("e2e", flat=True))
    requests = sum(minutes.values_list("requests", flat=True))
    MetricRollup.objects.filter(deployment=deployment).update(start=F("start") - timedelta(days=8))
    result = metrics_compact(now=now)
    assert result.hours in (1, 2) and result.folded > 0  # the minutes may straddle an hour
    hours = MetricRollup.objects.filter(deployment=deployment, component_key="llm")
    assert {h.resolution for h in hours} == {MetricRollup.Resolution.HOUR} and len(hours) == result.hours
    assert sum(h.requests for h in hours) == pytest.approx(requests)
    after = sketch_merge_json(h.e2e for h in hours)
    assert sketch_quantile(after, 0.99) == pytest.approx(sketch_quantile(before, 0.99))
    MetricRollup.objects.filter(deployment=deployment).update(start=F("start") - timedelta(days=90))
    assert metrics_compact(now=timezone.now()).purged > 0
    assert not MetricRollup.objects.filter(deployment=deployment).exists()


def test_the_30_day_window_sums_hourly_rows_and_agrees_with_the_rollups(deployment):
    Job.objects.filter(usecase_deployment_id=deployment.pk).update(started_at=F("started_at") - timedelta(minutes=90))
    now = floor_minute(timezone.now())
    metrics_collect(now=now - timedelta(minutes=40))
    metrics_collect(now=now)
    # An older day, folded into hourly rollups as compaction leaves it, summed into SloHour like any other.
    old = list(MetricRollup.objects.filter(deployment=deployment, is_llm=True))
    for row in old:
        row.pk, row.start, row.resolution = None, row.start - timedelta(days=10), MetricRollup.Resolution.HOUR
    MetricRollup.objects.bulk_create(old)
    slo_hours_refresh(start=now - timedelta(days=11), end=now - timedelta(days=9))
    slo_hours_refresh(start=now - timedelta(minutes=30), end=now)  # a repeated refresh counts nothing twice
    llm = MetricRollup.objects.filter(deployment=deployment, is_llm=True, start__gte=now - timedelta(days=30))
    expected = llm.aggregate(requests=Sum("requests"), errors=Sum("errors"), ttft=Sum("ttft_good"))
    month = attainment_windows(deployment_ids=[deployment.pk], now=now)[deployment.pk]["30d"]
    assert month.requests == pytest.approx(expected["requests"]) and expected["requests"] > 0
    assert month.errors == pytest.approx(expected["errors"])
    assert month.good["ttft"] == pytest.approx(expected["ttft"])
    assert SloHour.objects.filter(deployment=deployment).count() <= 3 + 3  # hours, not minutes
