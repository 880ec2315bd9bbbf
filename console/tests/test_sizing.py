"""Sizing in the console: the SLO page's table for common models and its deploy links; the chart's layout."""

from __future__ import annotations

import pytest

from console.sizing_chart import chart, table_rows
from deployments.models import UseCaseDeployment
from deployments.tests.factories import seed_system_templates
from sizing.reference import catalog
from sizing.search import Load, SizingRequest, Slo, size
from usecases.tests.factories import make_usecase

pytestmark = pytest.mark.django_db


def test_slo_page_sizes_common_models_and_links_the_wizard(member_web, django_assert_max_num_queries):
    seed_system_templates()
    make_usecase(
        unique_id="chat_rt",
        input_tokens_min=300,
        input_tokens_max=600,
        output_tokens_max=200,
        ttft_min=0.1,
        ttft_max=0.35,
        e2e_min=1.0,
        e2e_max=1.76,
        inter_token_min=0.01,
        inter_token_max=0.035,
    )
    with django_assert_max_num_queries(12):
        response = member_web.get("/slo/chat_rt", {"users": 20})
    assert response.status_code == 200
    page = response.content.decode()
    rows = {row["model_id"]: row for row in response.context["sizing"]}
    small = rows["meta-llama/Llama-3.1-8B-Instruct"]["chosen"]
    assert small.meets_slo and small.e2e_s <= 1.76 and small.replicas * small.concurrency_per_replica >= 20
    assert f"{small.gpu_count} \u00d7 {small.gpu_type} {small.precision}, {small.replicas} replica" in page
    assert "/usecases/deploy/simple-rag-v1?usecase_id=chat_rt" in page
    assert 'value="20"' in page


def test_slo_page_says_why_no_candidate_meets(member_web):
    make_usecase(
        unique_id="too_fast",
        input_tokens_max=100000,
        output_tokens_max=2000,
        ttft_min=0.01,
        ttft_max=0.02,
        e2e_min=0.5,
        e2e_max=1.0,
    )
    page = member_web.get("/slo/too_fast").content.decode()
    assert "✘" in page and ("No candidate meets every SLO" in page or "fits no candidate" in page)


def test_bad_users_value_falls_back(member_web):
    make_usecase(unique_id="hc_2")
    assert member_web.get("/slo/hc_2", {"users": "lots"}).context["users"] == 10


def test_chart_places_cheaper_lower_and_slower_right():
    cat = catalog()
    result = size(
        SizingRequest(
            model=cat.model("llama-3.1-8b"),
            input_tokens=1000,
            output_tokens=200,
            slo=Slo(e2e_s=3.0),
            load=Load(concurrency=10),
            gpu_types=cat.gpus,
        )
    ).as_dict()
    result["inputs"] = {"slo": {"e2e_s": 3.0}}
    drawn = chart(result)
    fitting = [c for c in result["candidates"] if c["fits"]]
    assert len(drawn.points) == len(fitting)
    assert sum(p.chosen for p in drawn.points) == 1 and drawn.points[-1].chosen
    cheapest = min(fitting, key=lambda c: float(c["hourly_cost"]))
    priciest = max(fitting, key=lambda c: float(c["hourly_cost"]))
    y = {p.label.split(":")[0]: p.y for p in drawn.points}
    key = "{replicas} x {gpu_count} x {gpu_type} {precision}"
    assert y[key.format(**cheapest)] > y[key.format(**priciest)]  # SVG y grows downwards
    assert all(drawn.left <= p.x <= drawn.plot_right and drawn.top <= p.y <= drawn.plot_bottom for p in drawn.points)
    assert drawn.slo_x is not None and drawn.x_ticks and drawn.y_ticks
    rows = table_rows(result, limit=5)
    assert len(rows) == 5 and rows[0]["chosen"] and [c["label"] for c in rows[0]["checks"]] == ["TTFT", "ITL", "E2E"]
    assert all(c["ok"] for c in rows[0]["checks"])


def test_chart_is_none_without_a_fitting_candidate():
    assert chart({"candidates": [{"fits": False, "e2e_s": None, "hourly_cost": None}], "chosen": None}) is None


def wizard_post(project, cluster, **extra):
    data = {
        "project": str(project.pk),
        "cluster": str(cluster.pk),
        "name": "",
        "idempotency_key": "",
        "parameters-model_id": "meta-llama/Llama-3.1-8B-Instruct",
    }
    return {**data, **extra}


def test_wizard_offers_the_use_case_picker_prefilled_from_the_slo_page(member_web, templates, shipped_usecases):
    page = member_web.get("/usecases/deploy/simple-rag-v1", {"usecase_id": "ambient_scribe"}).content.decode()
    assert 'list="usecase-options"' in page and 'value="ambient_scribe"' in page
    assert '<option value="clinical_note_summary">' in page  # every active use case is searchable
    assert 'name="load_users"' in page and 'name="load_rps"' in page


def test_wizard_preview_shows_candidates_chart_and_placement(member_web, templates, project, cluster, shipped_usecases):
    response = member_web.post(
        "/usecases/deploy/simple-rag-v1/preview",
        wizard_post(project, cluster, usecase_id="ambient_scribe", load_users="20"),
    )
    assert response.status_code == 200
    page = response.content.decode()
    (item,) = response.context["sized"]
    assert item["key"] == "llm" and item["sizing"]["chosen"]["meets_slo"]
    assert "Sizing of llm" in page and "✔ meets every SLO" in page and 'class="sizing-table"' in page
    assert "<svg" in page and "Cost per hour against end-to-end latency" in page
    assert "✘" in page  # candidates that miss an SLO are in the table too
    assert "preferred" not in page or "placement" in page


def test_wizard_deploys_for_the_use_case(member_web, templates, project, cluster, shipped_usecases):
    response = member_web.post(
        "/usecases/deploy/simple-rag-v1", wizard_post(project, cluster, usecase_id="ambient_scribe", load_rps="2")
    )
    assert response.status_code == 302, response.context["target"].errors
    deployment = UseCaseDeployment.objects.get()
    assert deployment.usecase_id == "ambient_scribe" and deployment.load == {"requests_per_second": 2.0}
    status_page = member_web.get(f"/deployments/{deployment.pk}").content.decode()
    assert "Sized for" in status_page and 'href="/slo/ambient_scribe"' in status_page and "2.0 req/s" in status_page


def test_wizard_puts_sizing_errors_next_to_their_field(member_web, templates, project, cluster, shipped_usecases):
    response = member_web.post(
        "/usecases/deploy/simple-rag-v1",
        wizard_post(project, cluster, usecase_id="nope_not_here", load_users="3", load_rps="2"),
    )
    assert response.status_code == 400
    errors = response.context["target"].errors
    assert "load_rps" in errors
    response = member_web.post(
        "/usecases/deploy/simple-rag-v1", wizard_post(project, cluster, usecase_id="ambient_scrib")
    )
    assert "ambient_scribe" in response.context["target"].errors["usecase_id"][0]
