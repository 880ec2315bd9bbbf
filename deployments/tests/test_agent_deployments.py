"""The agent templates deploy, update and delete on the simulated cluster like the others."""

from io import StringIO

import pytest
from django.core.management import call_command

from deployments import reconciler, services
from deployments.models import UseCaseDeployment
from jobs.models import Job
from templates_app.selectors import template_get_for_user

pytestmark = pytest.mark.django_db

MODEL = "Qwen/Qwen2.5-7B-Instruct"
PARAMETERS = {
    "langgraph-agent-v1": {"model_id": MODEL, "state_db_password": "correct-horse-battery", "langsmith_api_key": "k1"},
    "crewai-crew-v1": {"model_id": MODEL},
    "research-agent-v1": {"model_id": MODEL, "state_db_password": "correct-horse-battery", "langsmith_api_key": "k1"},
}
AGENT_KEY = {"langgraph-agent-v1": "agent", "crewai-crew-v1": "crew", "research-agent-v1": "agent"}


def reconcile(deployment):
    reconciler.deployment_reconcile(deployment_id=deployment.pk)
    deployment.refresh_from_db()


def deploy(user, project, cluster, slug):
    template = template_get_for_user(user=user, template_id=slug)
    deployment, _ = services.deployment_create(
        user=user, template=template, project=project, cluster=cluster, parameters=PARAMETERS[slug]
    )
    reconcile(deployment)
    return deployment


def serving(deployment):
    rows = deployment.components.filter(retired_at__isnull=True, is_candidate=False).select_related("job")
    return {row.key: row for row in rows}


@pytest.mark.parametrize("slug", sorted(PARAMETERS))
def test_agent_template_comes_up_with_every_url_wired(templates, member_user, project, cluster, slug):
    deployment = deploy(member_user, project, cluster, slug)
    assert deployment.status == UseCaseDeployment.Status.RUNNING, deployment.status_message
    rows = serving(deployment)
    assert all(row.job.status == Job.Status.RUNNING for row in rows.values())
    agent = rows[AGENT_KEY[slug]]
    env = agent.job.spec["env"]
    assert "{{" not in repr(env)  # every output reference rendered at start
    assert env[next(k for k in ("LLM_URL", "OPENAI_API_BASE") if k in env)] == rows["llm"].outputs["url"]
    assert rows["llm"].outputs["url"].endswith(":8000/v1")
    fetch_key = "web-fetch" if slug == "research-agent-v1" else "mcp-fetch"
    assert env["MCP_FETCH_URL"] == rows[fetch_key].outputs["url"]
    assert env["MCP_FETCH_URL"].startswith("http://") and env["MCP_FETCH_URL"].endswith(":8000/mcp")
    assert rows[fetch_key].job.spec["args"][:2] == ["--stdio", "uvx mcp-server-fetch==2026.10.24"]
    if slug != "crewai-crew-v1":
        host = rows["state-db"].outputs["host"]
        assert env["DATABASE_URI"] == (f"postgres://{host}:5432/agent?user=postgres&password=correct-horse-battery")
        assert env["REDIS_URI"] == rows["redis"].outputs["url"] + "/0"


def test_changing_max_iterations_replaces_only_the_agent(templates, member_user, project, cluster):
    deployment = deploy(member_user, project, cluster, "langgraph-agent-v1")
    before = {key: row.job_id for key, row in serving(deployment).items()}
    plan = services.deployment_change_plan(
        user=member_user, deployment=deployment, change={"parameters": {"max_iterations": 60}}
    )
    actions = {c["key"]: c["action"] for c in plan["components"]}
    assert actions.pop("agent") == "replaced"
    assert set(actions.values()) == {"unchanged"}
    services.deployment_update(user=member_user, deployment=deployment, parameters={"max_iterations": 60})
    reconcile(deployment)
    assert deployment.status == UseCaseDeployment.Status.RUNNING, deployment.status_message
    after = {key: row.job_id for key, row in serving(deployment).items()}
    assert after.pop("agent") != before.pop("agent")
    assert after == before
    assert serving(deployment)["agent"].job.spec["env"]["LANGGRAPH_RECURSION_LIMIT"] == "60"
    assert deployment.parameters["state_db_password"] == "correct-horse-battery"  # kept, not re-asked


def test_deleting_an_agent_stops_every_component(templates, member_user, project, cluster):
    deployment = deploy(member_user, project, cluster, "research-agent-v1")
    services.deployment_delete(user=member_user, deployment=deployment)
    for _ in range(5):
        reconcile(deployment)
        if deployment.status == UseCaseDeployment.Status.DELETED:
            break
    assert deployment.status == UseCaseDeployment.Status.DELETED, deployment.status_message
    assert not Job.objects.filter(usecase_deployment_id=deployment.pk, status=Job.Status.RUNNING).exists()


def test_deploy_command_takes_agent_parameters(templates, member_user, project, cluster):
    call_command(
        "deploy",
        "crewai-crew-v1",
        "--project",
        project.name,
        "--cluster",
        cluster.name,
        "--param",
        f"model_id={MODEL}",
        "--param",
        "agent_type=hierarchical",
        "--user",
        member_user.username,
        "--inline",
        "--wait",
        stdout=StringIO(),
    )
    deployment = UseCaseDeployment.objects.get(template__slug="crewai-crew-v1")
    assert deployment.status == UseCaseDeployment.Status.RUNNING
    assert serving(deployment)["crew"].job.spec["env"]["CREW_PROCESS"] == "hierarchical"
