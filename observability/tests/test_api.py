"""The deployment's /slo, /metrics and /monitoring endpoints: shapes, 400s, tenant scoping, bounded queries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from observability.models import MetricRollup
from observability.sketch import sketch_merge_json, sketch_quantile

pytestmark = pytest.mark.django_db


def test_slo_reports_each_target_of_the_use_case(member_client, collected, django_assert_max_num_queries):
    deployment, _ = collected
    with django_assert_max_num_queries(8):
        response = member_client.get(f"/api/v1/deployments/{deployment.pk}/slo")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["usecase_id"] == "ambient_scribe" and body["objective"] == 0.99
    assert {o["target"] for o in body["objectives"]} == {"ttft", "itl", "e2e"}
    ttft = next(o for o in body["objectives"] if o["target"] == "ttft")
    assert ttft["threshold_s"] == 0.35 and set(ttft["attainment"]) == {"5m", "30m", "1h", "6h", "30d"}


def test_metrics_answer_like_a_prometheus_range_query(member_client, collected, django_assert_max_num_queries):
    deployment, now = collected
    start = now - timedelta(minutes=15)
    names = "vllm:time_to_first_token_seconds,vllm:request_success_total,DCGM_FI_DEV_GPU_UTIL,ucf:cost_dollars"
    url = f"/api/v1/deployments/{deployment.pk}/metrics"
    with django_assert_max_num_queries(8):
        response = member_client.get(
            url, {"names": names, "from": start.isoformat(), "to": now.timestamp(), "step": 300, "component": "llm"}
        )
    assert response.status_code == 200, response.json()
    data = response.json()["data"]
    assert data["resultType"] == "matrix"
    series = {(s["metric"]["__name__"], s["metric"].get("quantile")): s["values"] for s in data["result"]}
    assert set(series) == {
        ("vllm:time_to_first_token_seconds", "0.5"),
        ("vllm:time_to_first_token_seconds", "0.9"),
        ("vllm:time_to_first_token_seconds", "0.99"),
        ("vllm:request_success_total", None),
        ("DCGM_FI_DEV_GPU_UTIL", None),
        ("ucf:cost_dollars", None),
    }
    assert [t for t, _ in series[("vllm:request_success_total", None)]] == [
        start.timestamp() + i * 300 for i in range(3)
    ]
    # The whole range at one step is the merge of every minute's sketch.
    whole = member_client.get(
        url,
        {
            "names": "vllm:time_to_first_token_seconds",
            "start": start.isoformat(),
            "end": now.isoformat(),
            "step": 900,
            "component": "llm",
        },
    ).json()["data"]["result"]
    p99 = float(next(s for s in whole if s["metric"]["quantile"] == "0.99")["values"][0][1])
    minutes = MetricRollup.objects.filter(deployment=deployment, component_key="llm", start__gte=start, start__lt=now)
    assert p99 == pytest.approx(
        sketch_quantile(sketch_merge_json(minutes.values_list("ttft", flat=True)), 0.99), rel=1e-5
    )
    cost = sum(float(v) for _, v in series[("ucf:cost_dollars", None)])
    assert cost == pytest.approx(float(sum(m.cost for m in minutes)), rel=1e-5)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"names": "vllm:nope"}, "names"),
        ({"step": 90}, "step"),
        ({"step": 30}, "step"),
        ({"start": "yesterday"}, "start"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "start"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-06-01T00:00:00Z"}, "start"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z", "step": 60}, "step"),
    ],
)
def test_bad_queries_are_field_level_400s(member_client, deployment, params, field):
    response = member_client.get(f"/api/v1/deployments/{deployment.pk}/metrics", params)
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()


def test_another_tenants_deployment_is_404(other_client, deployment):
    for suffix in ("slo", "metrics", "monitoring"):
        response = other_client.get(f"/api/v1/deployments/{deployment.pk}/{suffix}")
        assert response.status_code == 404, suffix
    patch = other_client.patch(f"/api/v1/deployments/{deployment.pk}/monitoring", {"objective": "0.9"}, format="json")
    assert patch.status_code == 404


def test_monitoring_sets_the_objective_and_load_profile(member_client, viewer_client, deployment):
    url = f"/api/v1/deployments/{deployment.pk}/monitoring"
    assert member_client.get(url).json()["objective"] == "0.99000"
    assert viewer_client.patch(url, {"objective": "0.95"}, format="json").status_code == 403
    bad = member_client.patch(url, {"objective": "1.5", "load_kind": "spiky"}, format="json")
    assert bad.status_code == 400 and {"objective", "load_kind"} <= set(bad.json()["errors"])
    ok = member_client.patch(url, {"objective": "0.95", "load_kind": "diurnal", "peak_hour": 9}, format="json")
    assert ok.status_code == 200 and ok.json()["load_kind"] == "diurnal" and ok.json()["peak_hour"] == 9
    assert member_client.get(f"/api/v1/deployments/{deployment.pk}/slo").json()["objective"] == 0.95


def test_metrics_answer_the_same_written_by_orjson_or_indented(member_client, collected, django_assert_num_queries):
    """The 1-minute answer orjson writes from pre-serialized points is the query's answer; an indented answer (DRF's
    encoder, as the browsable API writes it) gets the same points as lists. The request's queries are pinned."""
    from observability.query import range_query

    deployment, now = collected
    start = now - timedelta(minutes=15)
    names = "vllm:time_to_first_token_seconds,vllm:request_success_total,DCGM_FI_DEV_GPU_UTIL"
    params = {"names": names, "start": start.isoformat(), "end": now.isoformat(), "step": 60, "component": "llm"}
    url = f"/api/v1/deployments/{deployment.pk}/metrics"
    expected = range_query(deployment_id=deployment.pk, names=names.split(","), start=start, end=now, step=60,
                           component="llm")  # fmt: skip
    assert any(s["values"] for s in expected["data"]["result"])
    # the caller's memberships, the deployment (tenant-scoped), the range's rows: one query
    with django_assert_num_queries(3):
        response = member_client.get(url, params)
    assert response.status_code == 200
    assert response.json() == expected
    indented = member_client.get(url, params, HTTP_ACCEPT="application/json; indent=2")
    assert indented.status_code == 200 and b'\n  "status"' in indented.content
    assert indented.json() == expected
