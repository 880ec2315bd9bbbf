"""The sizing API: shapes, field-level 400s naming near ids, clusters of the caller's tenants, bounded queries."""

from __future__ import annotations

import pytest

from deployments.tests.factories import make_cluster

pytestmark = pytest.mark.django_db

SIZING = "/api/v1/sizing"
ESTIMATE = "/api/v1/sizing/estimate"


def test_anonymous_is_401(api_client):
    assert api_client.post(SIZING, {}, format="json").status_code == 401
    assert api_client.get("/api/v1/gpu-types").status_code == 401


def test_sizing_a_shipped_use_case(member_client, shipped_usecases, django_assert_max_num_queries):
    body = {"usecase_id": "ambient_scribe", "model_id": "meta-llama/Llama-3.1-8B-Instruct", "load": {"concurrency": 20}}
    with django_assert_max_num_queries(4):
        response = member_client.post(SIZING, body, format="json")
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["inputs"]["input_tokens"] == 600 and data["inputs"]["output_tokens"] == 200  # the upper bounds
    assert data["inputs"]["slo"] == {"ttft_s": 0.35, "itl_s": 0.035, "e2e_s": 1.76}
    chosen = data["chosen"]
    assert chosen["meets_slo"] and chosen["ttft_s"] <= 0.35 and chosen["e2e_s"] <= 1.76
    assert chosen["replicas"] * chosen["concurrency_per_replica"] >= 20
    first = data["candidates"][0]
    for key in (
        "gpu_type",
        "gpu_count",
        "tensor_parallel",
        "precision",
        "replicas",
        "fits",
        "ttft_s",
        "itl_s",
        "e2e_s",
        "tokens_per_s",
        "meets_slo",
        "violations",
        "hourly_cost",
        "cost_per_million_tokens",
    ):
        assert key in first
    assert first == chosen
    assert len(data["candidates"]) == 160


def test_explicit_tokens_and_slo_without_a_use_case(member_client):
    body = {
        "model_id": "qwen2.5-7b",
        "input_tokens": 2000,
        "output_tokens": 100,
        "slo": {"ttft_s": 0.2},
        "gpu_types": ["L4", "NVIDIA-H100-80GB-HBM3"],
        "gpu_counts": [1],
        "precisions": ["bf16"],
    }
    data = member_client.post(SIZING, body, format="json").json()
    assert {c["gpu_type"] for c in data["candidates"]} == {"L4", "H100-80GB"}
    assert data["chosen"]["gpu_type"] in ("L4", "H100-80GB")


def test_no_candidate_answers_200_with_reasons(member_client):
    body = {"model_id": "llama-3.1-70b", "input_tokens": 1000, "output_tokens": 100, "slo": {"itl_s": 0.0005}}
    response = member_client.post(SIZING, body, format="json")
    assert response.status_code == 200
    assert response.json()["chosen"] is None
    assert "inter-token latency" in response.json()["reasons"][0]


@pytest.mark.parametrize(
    ("body", "field", "near"),
    [
        (
            {"model_id": "meta-llama/Llama-3.1-9B-Instruct", "input_tokens": 10, "output_tokens": 10},
            "model_id",
            "meta-llama/Llama-3.1-8B-Instruct",
        ),
        (
            {"model_id": "llama-3.1-8b", "input_tokens": 10, "output_tokens": 10, "gpu_types": ["H100-94GB"]},
            "gpu_types",
            "H100-80GB",
        ),
        ({"model_id": "llama-3.1-8b", "usecase_id": "ambient_scribbe"}, "usecase_id", "ambient_scribe"),
    ],
)
def test_unknown_names_are_field_errors_with_near_ids(member_client, shipped_usecases, body, field, near):
    response = member_client.post(SIZING, body, format="json")
    assert response.status_code == 400
    messages = response.json()["errors"][field]
    assert near in messages[0]


def test_shape_errors(member_client):
    response = member_client.post(SIZING, {"model_id": "llama-3.1-8b", "bogus": 1}, format="json")
    assert response.status_code == 400 and response.json()["errors"] == {"bogus": ["Unknown field."]}
    body = {"model_id": "llama-3.1-8b", "load": {"concurrency": 1, "requests_per_second": 2}}
    response = member_client.post(SIZING, body, format="json")
    assert response.status_code == 400 and "load.requests_per_second" in response.json()["errors"]
    response = member_client.post(SIZING, {"model_id": "llama-3.1-8b"}, format="json")
    assert set(response.json()["errors"]) == {"input_tokens", "output_tokens"}
    response = member_client.post(SIZING, {"input_tokens": 1, "output_tokens": 1}, format="json")
    assert "model_id" in response.json()["errors"]


def test_a_model_by_its_figures(member_client):
    body = {"model_params_b": 13, "input_tokens": 500, "output_tokens": 100, "gpu_types": ["L40S"]}
    data = member_client.post(SIZING, body, format="json").json()
    assert data["inputs"]["model_id"] == "custom" and data["chosen"]["gpu_type"] == "L40S"


def test_sizing_for_a_cluster_uses_its_types_prices_and_capacity(member_client, tenant):
    cluster = make_cluster(tenant=tenant, name="mixed")  # H100-80GB 8, A100-80GB 16, L4 8 at 2.5 / 1.8 / 0.6
    body = {
        "model_id": "llama-3.1-8b",
        "input_tokens": 1000,
        "output_tokens": 200,
        "cluster_id": str(cluster.pk),
        "slo": {"itl_s": 0.05},
    }
    data = member_client.post(SIZING, body, format="json").json()
    assert {c["gpu_type"] for c in data["candidates"]} == {"H100-80GB", "A100-80GB", "L4"}
    assert data["chosen"]["gpu_type"] == "L4" and data["chosen"]["hourly_cost"] == "0.60"
    assert data["chosen"]["cluster_can_hold"] is True and data["chosen"]["cluster_gpu_type"] == "L4"


def test_another_tenants_cluster_is_a_field_error(member_client, other_tenant):
    cluster = make_cluster(tenant=other_tenant, name="theirs")
    body = {"model_id": "llama-3.1-8b", "input_tokens": 10, "output_tokens": 10, "cluster_id": str(cluster.pk)}
    response = member_client.post(SIZING, body, format="json")
    assert response.status_code == 400 and "cluster_id" in response.json()["errors"]


def test_estimate_one_configuration(member_client):
    body = {
        "model_id": "meta-llama/Llama-3.3-70B-Instruct",
        "gpu_type": "H100",
        "gpu_count": 2,
        "precision": "fp8",
        "input_tokens": 5000,
        "output_tokens": 500,
        "concurrency": 1,
        "slo": {"itl_s": 0.03},
    }
    response = member_client.post(ESTIMATE, body, format="json")
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["gpu_type"] == "H100-80GB" and data["fits"]
    assert 0.3 < data["ttft_s"] < 0.5 and 0.014 < data["itl_s"] < 0.023
    assert data["itl_s"] >= data["physical_itl_floor_s"]
    assert data["max_concurrency_at_slo"] >= 1 and data["requests_per_s_at_slo"] > 0
    assert data["hourly_cost"] == "8.00"


def test_estimate_errors_name_the_field(member_client):
    body = {"model_id": "llama-3.1-8b", "gpu_type": "H1OO", "input_tokens": 10, "output_tokens": 10}
    response = member_client.post(ESTIMATE, body, format="json")
    assert response.status_code == 400 and "H100-80GB" in response.json()["errors"]["gpu_type"][0]
    body = {"model_id": "llama-3.1-8b", "gpu_type": "A100", "precision": "fp16", "input_tokens": 1, "output_tokens": 1}
    assert "precision" in member_client.post(ESTIMATE, body, format="json").json()["errors"]


def test_estimate_unsupported_precision_does_not_fit(member_client):
    body = {
        "model_id": "llama-3.1-8b",
        "gpu_type": "A100-80GB",
        "precision": "fp8",
        "input_tokens": 100,
        "output_tokens": 10,
    }
    data = member_client.post(ESTIMATE, body, format="json").json()
    assert data["fits"] is False and "no fp8" in data["reason"] and data["ttft_s"] is None


def test_reference_lists(member_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):  # the token
        gpus = member_client.get("/api/v1/gpu-types").json()
    assert gpus["count"] == 10 and gpus["results"][0]["source"].startswith("https://")
    assert member_client.get("/api/v1/gpu-types?vendor=amd").json()["results"][0]["id"] == "MI300X"
    assert member_client.get("/api/v1/gpu-types?q=hbm3").json()["results"][0]["id"] == "H100-80GB"
    models = member_client.get("/api/v1/models?kind=embedding").json()
    assert {m["id"] for m in models["results"]} == {"BAAI/bge-base-en-v1.5", "BAAI/bge-large-en-v1.5"}
    page = member_client.get("/api/v1/models?limit=5&offset=5").json()
    assert page["count"] > 20 and len(page["results"]) == 5 and page["next"]
