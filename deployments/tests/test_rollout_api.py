"""Changes as the API shows them: parts added and removed, serving parts beside their candidates during a roll-out,
and the resolved plan of every revision. The reconciler runs in-process, on a stopped clock where timing matters."""

import importlib
from datetime import timedelta

import pytest
import time_machine
from django.apps import apps as django_apps
from django.utils import timezone

from deployments import reconciler
from deployments.models import UseCaseDeployment
from deployments.tests.factories import SIMPLE_RAG_PARAMS, bring_up_on_slow_cluster, seed_system_template_version
from jobs.models import Job
from templates_app.plans import SECRET_MASK

pytestmark = pytest.mark.django_db

NEW_MODEL = {"model_id": "mistralai/Mistral-7B-Instruct-v0.3"}
name_secrets = importlib.import_module("deployments.migrations.0009_plan_secret_parameters").name_secrets


def url(deployment_id, action: str = "") -> str:
    return f"/api/v1/deployments/{deployment_id}" + (f"/{action}" if action else "")


def create(client, project, cluster, template_id="simple-rag-v1", parameters=SIMPLE_RAG_PARAMS) -> str:
    body = {
        "template_id": template_id,
        "project_id": str(project.pk),
        "cluster_id": str(cluster.pk),
        "parameters": parameters,
    }
    response = client.post("/api/v1/deployments", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def reconcile(deployment_id) -> None:
    reconciler.deployment_reconcile(deployment_id=deployment_id)


def actions(change: dict) -> dict[str, str]:
    return {c["key"]: c["action"] for c in change["components"]}


def roles(components: list[dict]) -> list[tuple]:
    return [(c["key"], c["role"], c["revision"]) for c in components]


def add_a_chat_ui(content: dict) -> None:
    content["version"] = "1.1.0"
    content["components"].append(
        {
            "id": "ui",
            "component_ref": "chat-ui",
            "env": {"BACKEND_URL": "{{ components['orchestrator'].outputs.url }}"},
        }
    )


# --- added and removed components -------------------------------------------------------------------------------


def test_an_upgrade_adds_a_component_and_a_rollback_removes_it(templates, member_client, project, cluster, tmp_path):
    deployment_id = create(member_client, project, cluster)
    reconcile(deployment_id)
    jobs = {c["key"]: c["job_id"] for c in member_client.get(url(deployment_id, "components")).json()}
    seed_system_template_version(tmp_path, "templates/rag/simple-rag-v1.yaml", add_a_chat_ui)

    plan = member_client.post(url(deployment_id, "plan"), {"template_version": "1.1.0"}, format="json").json()
    assert actions(plan) == {
        "vector-db": "unchanged",
        "embedding": "unchanged",
        "llm": "unchanged",
        "orchestrator": "unchanged",
        "ui": "added",
    }
    assert plan["summary"]["added"] == ["ui"]
    assert plan["start_order"] == ["ui"]
    assert plan["capacity"]["new_parts"] == ["ui"]
    assert float(plan["hourly_cost"]["delta"]) > 0
    response = member_client.patch(url(deployment_id), {"template_version": "1.1.0"}, format="json")
    assert response.status_code == 202, response.json()
    reconcile(deployment_id)
    detail = member_client.get(url(deployment_id)).json()
    assert (detail["status"], detail["revision"], detail["template_version"]) == ("RUNNING", 2, "1.1.0")
    components = {c["key"]: c for c in member_client.get(url(deployment_id, "components")).json()}
    assert list(components) == ["vector-db", "embedding", "llm", "orchestrator", "ui"]
    assert components["ui"]["env"]["BACKEND_URL"] == components["orchestrator"]["outputs"]["url"]
    assert {key: components[key]["job_id"] for key in jobs} == jobs  # nothing else was touched
    ui_job = components["ui"]["job_id"]

    plan = member_client.post(url(deployment_id, "plan"), {"rollback_to": 1}, format="json").json()
    assert actions(plan) == {
        "vector-db": "unchanged",
        "embedding": "unchanged",
        "llm": "unchanged",
        "orchestrator": "unchanged",
        "ui": "removed",
    }
    assert plan["summary"]["removed"] == ["ui"]
    assert plan["stop_order_after_switch"] == ["ui"]
    assert plan["capacity"]["new_parts"] == []
    response = member_client.post(url(deployment_id, "rollback"), {"revision": 1}, format="json")
    assert response.status_code == 202, response.json()
    reconcile(deployment_id)
    detail = member_client.get(url(deployment_id)).json()
    assert (detail["status"], detail["revision"], detail["template_version"]) == ("RUNNING", 3, "1.0.0")
    assert detail["upgrade_available"] == "1.1.0"
    assert detail["status_message"] == "All 4 components are running."
    components = {c["key"]: c["job_id"] for c in member_client.get(url(deployment_id, "components")).json()}
    assert components == jobs
    assert Job.objects.get(pk=ui_job).status == "CANCELLED"
    events = member_client.get(url(deployment_id, "events")).json()["results"]
    assert any(e["component_key"] == "ui" and e["message"] == "ui: Removed by revision 3." for e in events)


# --- serving parts and candidates -------------------------------------------------------------------------------


def test_during_a_roll_out_each_component_says_whether_it_serves_or_is_a_candidate(
    templates, member_client, project, slow_cluster
):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        deployment_id = create(member_client, project, slow_cluster)
    bring_up_on_slow_cluster(deployment_id, start)
    with time_machine.travel(start + timedelta(seconds=20), tick=False):
        response = member_client.patch(url(deployment_id), {"parameters": NEW_MODEL}, format="json")
        assert response.status_code == 202, response.json()
        reconcile(deployment_id)
        detail = member_client.get(url(deployment_id)).json()
        listed = member_client.get("/api/v1/deployments").json()["results"][0]
        components = member_client.get(url(deployment_id, "components")).json()
    rolling_out = [
        ("vector-db", "serving", 1),
        ("embedding", "serving", 1),
        ("llm", "serving", 1),
        ("llm", "candidate", 2),
        ("orchestrator", "serving", 1),
        ("orchestrator", "candidate", 2),
    ]
    assert detail["status"] == "UPDATING"
    assert roles(detail["components"]) == rolling_out
    assert roles(listed["components"]) == rolling_out
    assert roles(components) == rolling_out
    llm = [c for c in components if c["key"] == "llm"]
    assert [(c["role"], c["status"]) for c in llm] == [("serving", "RUNNING"), ("candidate", "STARTING")]
    assert llm[0]["job_id"] != llm[1]["job_id"]
    for seconds in (26, 32):  # the new llm runs and the new orchestrator starts against it; then it runs
        with time_machine.travel(start + timedelta(seconds=seconds), tick=False):
            reconcile(deployment_id)
    detail = member_client.get(url(deployment_id)).json()
    assert detail["status"] == "RUNNING"
    assert roles(detail["components"]) == [
        ("vector-db", "serving", 1),
        ("embedding", "serving", 1),
        ("llm", "serving", 2),
        ("orchestrator", "serving", 2),
    ]


# --- revisions --------------------------------------------------------------------------------------------------


def test_revisions_include_the_resolved_plan_they_asked_for(templates, member_client, project, cluster):
    deployment_id = create(member_client, project, cluster)
    reconcile(deployment_id)
    assert member_client.patch(url(deployment_id), {"parameters": NEW_MODEL}, format="json").status_code == 202
    reconcile(deployment_id)
    first, second = member_client.get(url(deployment_id, "revisions")).json()["results"]
    for revision, model in ((first, SIMPLE_RAG_PARAMS["model_id"]), (second, NEW_MODEL["model_id"])):
        plan = revision["plan"]
        assert (plan["template_id"], plan["version"]) == ("simple-rag-v1", "1.0.0")
        assert [c["key"] for c in plan["components"]] == ["vector-db", "embedding", "llm", "orchestrator"]
        assert plan["parameters"]["model_id"] == model
        assert next(c for c in plan["components"] if c["key"] == "llm")["model_id"] == model
        assert [sorted(wave) for wave in plan["waves"]] == [["embedding", "llm", "vector-db"], ["orchestrator"]]
    assert second["plan"]["components"][-1]["env"]["LLM_URL"] == "{{ components['llm'].outputs.url }}"


def test_revision_plans_mask_secret_parameters(templates, member_client, project, cluster):
    parameters = {**SIMPLE_RAG_PARAMS, "search_api_key": "old-secret"}
    deployment_id = create(member_client, project, cluster, template_id="simple-agent-v1", parameters=parameters)
    reconcile(deployment_id)
    change = {"parameters": {"search_api_key": "new-secret"}}
    assert member_client.patch(url(deployment_id), change, format="json").status_code == 202
    reconcile(deployment_id)
    response = member_client.get(url(deployment_id, "revisions"))
    assert "old-secret" not in response.content.decode()
    assert "new-secret" not in response.content.decode()
    for revision in response.json()["results"]:
        assert revision["plan"]["parameters"]["search_api_key"] == SECRET_MASK
        tools = next(c for c in revision["plan"]["components"] if c["key"] == "tools")
        assert tools["env"]["SEARCH_API_KEY"] == SECRET_MASK


def test_component_env_is_masked_by_the_secret_names_stored_with_the_plan(templates, member_client, project, cluster):
    parameters = {**SIMPLE_RAG_PARAMS, "search_api_key": "plain-secret-value"}
    deployment_id = create(member_client, project, cluster, template_id="simple-agent-v1", parameters=parameters)
    reconcile(deployment_id)
    deployment = UseCaseDeployment.objects.get(pk=deployment_id)
    assert deployment.plan["secret_parameters"] == ["search_api_key"]
    body = member_client.get(url(deployment_id)).content.decode()
    assert "plain-secret-value" not in body
    assert SECRET_MASK in body


def test_plans_stored_before_the_names_get_them_from_the_mask(templates, member_client, project, cluster):
    parameters = {**SIMPLE_RAG_PARAMS, "search_api_key": "legacy-secret-value"}
    deployment_id = create(member_client, project, cluster, template_id="simple-agent-v1", parameters=parameters)
    reconcile(deployment_id)
    deployment = UseCaseDeployment.objects.get(pk=deployment_id)
    legacy = {key: value for key, value in deployment.plan.items() if key != "secret_parameters"}
    UseCaseDeployment.objects.filter(pk=deployment_id).update(plan=legacy)

    name_secrets(django_apps, None)

    deployment.refresh_from_db()
    assert deployment.plan["secret_parameters"] == ["search_api_key"]
    assert "legacy-secret-value" not in member_client.get(url(deployment_id)).content.decode()
