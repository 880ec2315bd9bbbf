"""A deployment's own rollup per window: its components added up and their sketches merged, kept in step with them
through late reports and compaction, and what the whole-deployment range query answers from."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F

from observability.collect import deployment_rollups_refresh, metrics_compact
from observability.models import DeploymentRollup, MetricRollup
from observability.query import QUANTILES, range_query
from observability.sketch import STORED_QUANTILES, quantile_column, sketch_merge_json, sketch_quantile

pytestmark = pytest.mark.django_db
E2E = "vllm:e2e_request_latency_seconds"


def components_of(deployment, start) -> list[MetricRollup]:
    return list(MetricRollup.objects.filter(deployment=deployment, start=start).order_by("component_key"))


def test_each_minute_has_one_row_that_adds_up_its_components(collected):
    deployment, _ = collected
    merged = list(DeploymentRollup.objects.filter(deployment=deployment))
    assert len(merged) == MetricRollup.objects.filter(deployment=deployment).values("start").distinct().count() > 0
    for row in merged:
        parts = components_of(deployment, row.start)
        assert row.resolution == 60 and row.llm_rows == 1 and row.service_rows == len(parts) - 1 >= 1
        assert row.requests == pytest.approx(sum(p.requests for p in parts))
        assert row.running == pytest.approx(sum(p.running for p in parts))
        assert row.cost == sum(p.cost for p in parts)
        assert row.gpu_utilisation == pytest.approx(sum(p.gpu_utilisation for p in parts if p.is_llm))
        assert row.cpu_utilisation == pytest.approx(sum(p.cpu_utilisation for p in parts if not p.is_llm))
        e2e = sketch_merge_json(p.e2e for p in parts)
        assert row.e2e["n"] == pytest.approx(e2e.count)
        for q in STORED_QUANTILES:
            assert getattr(row, quantile_column("e2e", q)) == pytest.approx(sketch_quantile(e2e, q), rel=1e-12)
        assert row.ttft_p99 == pytest.approx(sketch_quantile(sketch_merge_json(p.ttft for p in parts), 0.99))


def test_a_component_reporting_late_is_merged_in_and_a_refresh_counts_nothing_twice(collected):
    deployment, now = collected
    minute = now - timedelta(minutes=1)
    parts = components_of(deployment, minute)
    late = next(p for p in parts if not p.is_llm)
    MetricRollup.objects.filter(pk=late.pk).delete()
    deployment_rollups_refresh(start=minute, end=now, deployment_ids=[deployment.pk])
    row = DeploymentRollup.objects.get(deployment=deployment, start=minute)
    assert row.service_rows == len(parts) - 2 and row.requests == pytest.approx(
        sum(p.requests for p in parts) - late.requests
    )
    late.pk = None
    late.save()
    for _ in range(2):
        deployment_rollups_refresh(start=minute, end=now, deployment_ids=[deployment.pk])
    row = DeploymentRollup.objects.get(deployment=deployment, start=minute)
    assert row.service_rows == len(parts) - 1 and row.requests == pytest.approx(sum(p.requests for p in parts))
    assert DeploymentRollup.objects.filter(deployment=deployment, start=minute).count() == 1


@pytest.mark.parametrize("step", [60, 300])
def test_the_whole_deployment_answers_as_a_merge_of_its_components(collected, step, django_assert_max_num_queries):
    deployment, now = collected
    start = now - timedelta(minutes=15)
    names = [E2E, "ucf:requests_total", "vllm:num_requests_running", "DCGM_FI_DEV_GPU_UTIL", "ucf:cpu_utilisation",
             "ucf:cost_dollars"]  # fmt: skip
    with django_assert_max_num_queries(1):
        answer = range_query(deployment_id=deployment.pk, names=names, start=start, end=now, step=step)
    series = {
        (s["metric"]["__name__"], s["metric"].get("quantile")): dict(s["values"]) for s in answer["data"]["result"]
    }
    rows = list(MetricRollup.objects.filter(deployment=deployment, start__gte=start, start__lt=now))
    assert len(series[("ucf:requests_total", None)]) == 15 * 60 // step
    for k in range(15 * 60 // step):
        t = start + timedelta(seconds=k * step)
        parts = [r for r in rows if t <= r.start < t + timedelta(seconds=step)]
        covered = 60 * len({r.start for r in parts})
        llm = [r for r in parts if r.is_llm]
        services = [r for r in parts if not r.is_llm]
        expected = {
            ("ucf:requests_total", None): sum(r.requests for r in parts) / covered,
            ("vllm:num_requests_running", None): sum(r.running * 60 for r in parts) / covered,
            ("DCGM_FI_DEV_GPU_UTIL", None): 100 * sum(r.gpu_utilisation for r in llm) / len(llm),
            ("ucf:cpu_utilisation", None): sum(r.cpu_utilisation for r in services) / len(services),
            ("ucf:cost_dollars", None): float(sum(r.cost for r in parts)),
            **{(E2E, str(q)): sketch_quantile(sketch_merge_json(r.e2e for r in parts), q) for q in QUANTILES},
        }
        for key, value in expected.items():
            assert float(series[key][t.timestamp()]) == pytest.approx(value, rel=1e-5), (key, k)


def test_compaction_folds_the_deployment_rows_into_hours_and_purges_them(collected):
    deployment, now = collected
    requests = sum(DeploymentRollup.objects.filter(deployment=deployment).values_list("requests", flat=True))
    for model in (MetricRollup, DeploymentRollup):
        model.objects.filter(deployment=deployment).update(start=F("start") - timedelta(days=8))
    metrics_compact(now=now)
    hours = list(DeploymentRollup.objects.filter(deployment=deployment))
    assert hours and {h.resolution for h in hours} == {MetricRollup.Resolution.HOUR}
    assert sum(h.requests for h in hours) == pytest.approx(requests)
    for hour in hours:
        parts = components_of(deployment, hour.start)
        assert hour.e2e_p99 == sketch_quantile(sketch_merge_json(p.e2e for p in parts), 0.99)
    for model in (MetricRollup, DeploymentRollup):
        model.objects.filter(deployment=deployment).update(start=F("start") - timedelta(days=90))
    metrics_compact(now=now)
    assert not DeploymentRollup.objects.filter(deployment=deployment).exists()
