from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from deployments import reconciler
from deployments.models import ComponentDeployment, UseCaseDeployment
from deployments.tests.factories import SIMPLE_RAG_PARAMS, make_cluster
from jobs.models import Job
from jobs.tests.factories import submit_job
from tenancy.tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def body(project, cluster, **extra):
    return {
        "template_id": "simple-rag-v1",
        "project_id": str(project.pk),
        "cluster_id": str(cluster.pk),
        "parameters": SIMPLE_RAG_PARAMS,
        **extra,
    }


def create(client, project, cluster, **extra):
    response = client.post("/api/v1/deployments", body(project, cluster, **extra), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_post_deploys_and_answers_the_deployment(templates, member_client, project, cluster):
    data = create(member_client, project, cluster, name="my-rag")
    assert data["name"] == "my-rag"
    assert data["template_id"] == "simple-rag-v1"
    assert data["status"] == "PENDING"
    assert data["project_id"] == str(project.pk)
    assert data["cluster_id"] == str(cluster.pk)
    assert data["parameters"]["model_id"] == SIMPLE_RAG_PARAMS["model_id"]
    assert {c["key"] for c in data["components"]} == {"vector-db", "embedding", "llm", "orchestrator"}
    component = data["components"][0]
    assert set(component) >= {"key", "component_id", "status", "job_id", "outputs", "depends_on"}
    assert UseCaseDeployment.objects.get(pk=data["id"]).components.count() == 4


def test_detail_shows_outputs_and_costs_once_running(templates, member_client, project, cluster):
    data = create(member_client, project, cluster)
    reconciler.deployment_reconcile(deployment_id=data["id"])
    detail = member_client.get(f"/api/v1/deployments/{data['id']}").json()
    assert detail["status"] == "RUNNING"
    assert all(c["outputs"].get("url", "").startswith("http://") for c in detail["components"])
    assert all(c["job_id"] for c in detail["components"])
    assert float(detail["estimated_hourly_cost"]) > 0
    assert float(detail["cost_so_far"]) >= 0


def test_idempotency_key_header_returns_the_same_deployment(templates, member_client, project, cluster):
    first = member_client.post(
        "/api/v1/deployments", body(project, cluster), format="json", HTTP_IDEMPOTENCY_KEY="retry-1"
    )
    second = member_client.post(
        "/api/v1/deployments", body(project, cluster), format="json", HTTP_IDEMPOTENCY_KEY="retry-1"
    )
    assert first.status_code == 201
    assert second.status_code == 200
    assert second["Idempotent-Replayed"] == "true"
    assert first.json()["id"] == second.json()["id"]
    assert UseCaseDeployment.objects.count() == 1


def test_invalid_parameter_is_field_error(templates, member_client, project, cluster):
    response = member_client.post(
        "/api/v1/deployments", body(project, cluster, parameters={"vector_db_size": "7Gi"}), format="json"
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "parameters.model_id" in errors
    assert "parameters.vector_db_size" in errors
    assert not UseCaseDeployment.objects.exists()


def test_unknown_template_is_field_error(templates, member_client, project, cluster):
    response = member_client.post("/api/v1/deployments", body(project, cluster, template_id="nope"), format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"template_id": ["Unknown template 'nope'."]}


def test_other_tenants_cluster_or_project_is_field_error(templates, member_client, project, cluster, other_cluster):
    response = member_client.post("/api/v1/deployments", body(project, other_cluster), format="json")
    assert response.status_code == 400
    assert "cluster_id" in response.json()["errors"]
    other_project = ProjectFactory(tenant=other_cluster.tenant)
    response = member_client.post("/api/v1/deployments", body(other_project, cluster), format="json")
    assert response.status_code == 400
    assert "project_id" in response.json()["errors"]


def test_project_and_cluster_of_different_tenants_are_refused(
    templates, member_user, member_client, project, tenant, other_tenant
):
    from tenancy.tests.factories import MembershipFactory

    MembershipFactory(user=member_user, tenant=other_tenant)
    foreign_cluster = make_cluster(tenant=other_tenant, name="elsewhere")
    response = member_client.post("/api/v1/deployments", body(project, foreign_cluster), format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["cluster_id"] == ["The cluster belongs to another tenant than the project."]


def test_viewer_cannot_deploy_but_can_read(templates, viewer_client, member_client, project, cluster):
    response = viewer_client.post("/api/v1/deployments", body(project, cluster), format="json")
    assert response.status_code == 403
    data = create(member_client, project, cluster)
    assert viewer_client.get(f"/api/v1/deployments/{data['id']}").status_code == 200
    assert viewer_client.delete(f"/api/v1/deployments/{data['id']}").status_code == 403


def test_other_tenant_gets_404_everywhere(templates, member_client, other_client, project, cluster):
    data = create(member_client, project, cluster)
    for path in ("", "/components", "/events"):
        assert other_client.get(f"/api/v1/deployments/{data['id']}{path}").status_code == 404
    assert other_client.delete(f"/api/v1/deployments/{data['id']}").status_code == 404
    assert other_client.get("/api/v1/deployments").json()["count"] == 0


def test_anonymous_is_401(api_client):
    assert api_client.get("/api/v1/deployments").status_code == 401


def test_components_endpoint_shows_rendered_config_and_env(templates, member_client, project, cluster):
    data = create(member_client, project, cluster)
    reconciler.deployment_reconcile(deployment_id=data["id"])
    components = member_client.get(f"/api/v1/deployments/{data['id']}/components").json()
    assert [c["key"] for c in components][-1] == "orchestrator"
    orchestrator = components[-1]
    llm = next(c for c in components if c["key"] == "llm")
    assert orchestrator["env"]["LLM_URL"] == llm["outputs"]["url"]
    assert "{{" not in str(orchestrator["env"])
    assert orchestrator["job_status"] == "RUNNING"


def test_events_endpoint_with_after(templates, member_client, project, cluster):
    data = create(member_client, project, cluster)
    reconciler.deployment_reconcile(deployment_id=data["id"])
    events = member_client.get(f"/api/v1/deployments/{data['id']}/events").json()
    assert events["results"][0]["kind"] == "created"
    ids = [e["id"] for e in events["results"]]
    assert ids == sorted(ids)
    later = member_client.get(f"/api/v1/deployments/{data['id']}/events?after={ids[2]}").json()
    assert [e["id"] for e in later["results"]] == ids[3:]
    assert member_client.get(f"/api/v1/deployments/{data['id']}/events?after=x").status_code == 400


def test_delete_answers_202_then_409(templates, member_client, project, cluster):
    data = create(member_client, project, cluster)
    response = member_client.delete(f"/api/v1/deployments/{data['id']}")
    assert response.status_code == 202
    assert response.json()["status"] == "DELETING"
    assert member_client.delete(f"/api/v1/deployments/{data['id']}").status_code == 409
    reconciler.deployment_reconcile(deployment_id=data["id"])
    assert member_client.get(f"/api/v1/deployments/{data['id']}").json()["status"] == "DELETED"


def test_preview_answers_plan_capacity_and_cost_without_writing(templates, member_client, project, cluster):
    response = member_client.post("/api/v1/deployments/preview", body(project, cluster), format="json")
    assert response.status_code == 200, response.json()
    preview = response.json()
    assert preview["start_order"][-1] == "orchestrator"
    assert sorted(preview["waves"][0]) == ["embedding", "llm", "vector-db"]
    assert preview["waves"][1] == ["orchestrator"]
    assert preview["capacity"]["fits_now"] is True
    assert float(preview["estimated_hourly_cost"]) > 0
    assert sum(preview["totals"]["gpus"].values()) >= 1
    assert not UseCaseDeployment.objects.exists()
    assert not Job.objects.exists()


@pytest.fixture
def busy_until(tenant, project):
    """A small cluster whose only A100 is held by a batch job that ends 600 s after T0 (the clock is stopped at T0)."""
    with time_machine.travel(T0, tick=False):
        cluster = make_cluster(tenant=tenant, name="tiny", gpus={"A100-80GB": 1, "L4": 1, "H100-80GB": 0})
        batch = submit_job(cluster, project, "fine-tune", job_type="BATCH", gpu_type="A100-80GB", duration_seconds=600)
    assert batch.status == "RUNNING"
    return cluster, T0 + timedelta(seconds=600)


def test_preview_on_a_full_cluster_predicts_the_start(templates, member_client, project, busy_until):
    cluster, frees_at = busy_until
    with time_machine.travel(T0 + timedelta(seconds=100), tick=False):
        response = member_client.post("/api/v1/deployments/preview", body(project, cluster), format="json")
    assert response.status_code == 200, response.json()
    capacity = response.json()["capacity"]
    assert capacity["fits_now"] is False
    assert capacity["never_fits"] == []
    # The LLM needs the A100: everything runs once the batch job ends (zero start-up time).
    assert datetime.fromisoformat(capacity["predicted_start"]) == frees_at


def test_a_queued_component_says_when_it_is_predicted_to_start(templates, member_client, project, busy_until):
    cluster, frees_at = busy_until
    with time_machine.travel(T0 + timedelta(seconds=100), tick=False):
        data = create(member_client, project, cluster)
        reconciler.deployment_reconcile(deployment_id=data["id"])
        detail = member_client.get(f"/api/v1/deployments/{data['id']}").json()
    components = {c["key"]: c for c in detail["components"]}
    assert components["llm"]["status"] == "QUEUED"
    expected = f"Queued on cluster tiny: position 1, predicted start {frees_at:%Y-%m-%d %H:%M:%S} UTC."
    assert components["llm"]["status_message"].startswith(expected)
    assert components["orchestrator"]["status_message"] == "Waiting for llm (QUEUED)."
    assert detail["status"] == "DEPLOYING"
    assert f"llm: {expected}" in detail["status_message"]
    with time_machine.travel(frees_at, tick=False):  # the prediction holds
        reconciler.deployment_reconcile(deployment_id=data["id"])
        assert member_client.get(f"/api/v1/deployments/{data['id']}").json()["status"] == "RUNNING"


def test_list_filters(templates, member_client, project, cluster, tenant):
    other_project = ProjectFactory(tenant=tenant, name="second")
    a = create(member_client, project, cluster, name="alpha")
    b = create(member_client, other_project, cluster, name="beta")
    reconciler.deployment_reconcile(deployment_id=a["id"])

    def names(query):
        return sorted(d["name"] for d in member_client.get(f"/api/v1/deployments?{query}").json()["results"])

    assert names("status=RUNNING") == ["alpha"]
    assert names("status=RUNNING&status=PENDING") == ["alpha", "beta"]
    assert names(f"project_id={other_project.pk}") == ["beta"]
    assert names(f"cluster_id={cluster.pk}") == ["alpha", "beta"]
    assert names("template=simple-rag-v1") == ["alpha", "beta"]
    assert names("template=simple-chatbot-v1") == []
    assert names("q=alp") == ["alpha"]
    assert names("created_after=2000-01-01T00:00:00Z") == ["alpha", "beta"]
    assert names("created_before=2000-01-01T00:00:00Z") == []
    assert b["id"]


def test_list_query_count_is_constant(templates, member_client, project, cluster, django_assert_max_num_queries):
    for index in range(6):
        data = create(member_client, project, cluster, name=f"d{index}")
        reconciler.deployment_reconcile(deployment_id=data["id"])
    with django_assert_max_num_queries(6):
        response = member_client.get("/api/v1/deployments")
    assert response.json()["count"] == 6
    assert all(len(d["components"]) == 4 for d in response.json()["results"])


def test_component_rows_are_kept_after_delete(templates, member_client, project, cluster):
    data = create(member_client, project, cluster)
    member_client.delete(f"/api/v1/deployments/{data['id']}")
    reconciler.deployment_reconcile(deployment_id=data["id"])
    assert ComponentDeployment.objects.filter(deployment_id=data["id"]).count() == 4
