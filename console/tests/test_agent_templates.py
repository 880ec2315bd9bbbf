"""The agent templates in the console: their graphs, a textarea for the system prompt, a deploy from the wizard."""

import pytest

from deployments import reconciler, services
from deployments.models import UseCaseDeployment
from templates_app.selectors import template_get_for_user

pytestmark = pytest.mark.django_db

MODEL = "Qwen/Qwen2.5-7B-Instruct"


@pytest.mark.parametrize(
    ("slug", "agent", "upstream"),
    [
        (
            "langgraph-agent-v1",
            "agent",
            {"llm", "state-db", "redis", "mcp-fetch", "mcp-filesystem", "mcp-sql", "sandbox"},
        ),
        ("crewai-crew-v1", "crew", {"llm", "mcp-fetch", "mcp-filesystem", "sandbox"}),
        ("research-agent-v1", "agent", {"llm", "vector-db", "embedding", "state-db", "redis", "web-fetch", "tracing"}),
    ],
)
def test_agent_template_page_draws_its_graph(member_web, templates, slug, agent, upstream):
    response = member_web.get(f"/usecases/{slug}")
    assert response.status_code == 200
    page = response.content.decode()
    assert "<svg" in page
    graph = response.context["graph"]
    columns = {node.key: node.x for node in graph.nodes}
    assert set(columns) == upstream | {agent}
    assert all(columns[agent] > columns[key] for key in upstream)
    assert {(e.source, e.target) for e in graph.edges} == {(key, agent) for key in upstream}
    for key in upstream | {agent}:
        assert key in page


def test_wizard_renders_the_system_prompt_as_a_textarea_and_tools_as_checkboxes(member_web, templates):
    page = member_web.get("/usecases/deploy/langgraph-agent-v1").content.decode()
    assert '<textarea name="parameters-system_prompt"' in page
    assert 'maxlength="20000"' in page
    for tool in ("fetch", "filesystem", "sql", "code_execution"):
        assert f'name="parameters-tools_enabled" value="{tool}"' in page
    assert 'type="password" name="parameters-state_db_password"' in page
    assert 'type="number" name="parameters-max_iterations"' in page


def test_wizard_deploys_a_crew_with_a_multi_line_prompt(member_web, templates, project, cluster):
    prompt = "You research.\nYou cite sources."
    data = {
        "project": str(project.pk),
        "cluster": str(cluster.pk),
        "name": "crew",
        "idempotency_key": "",
        "parameters-model_id": MODEL,
        "parameters-agent_type": "hierarchical",
        "parameters-tools_enabled": ["fetch", "code_execution"],
        "parameters-max_iterations": "12",
        "parameters-system_prompt": prompt,
    }
    response = member_web.post("/usecases/deploy/crewai-crew-v1", data)
    assert response.status_code == 302, response.context and response.context.get("form_errors")
    deployment = UseCaseDeployment.objects.get()
    assert deployment.parameters["system_prompt"] == prompt
    assert deployment.parameters["tools_enabled"] == ["fetch", "code_execution"]
    assert deployment.parameters["max_iterations"] == 12
    crew = deployment.components.get(key="crew")
    assert crew.planned["env"]["CREW_SYSTEM_PROMPT"] == prompt


def test_a_running_research_agent_shows_its_graph_and_every_output(
    member_web, member_user, templates, project, cluster
):
    template = template_get_for_user(user=member_user, template_id="research-agent-v1")
    deployment, _ = services.deployment_create(
        user=member_user,
        template=template,
        project=project,
        cluster=cluster,
        parameters={"model_id": MODEL, "state_db_password": "correct-horse-battery", "langsmith_api_key": "k"},
    )
    reconciler.deployment_reconcile(deployment_id=deployment.pk)
    response = member_web.get(f"/deployments/{deployment.pk}")
    page = response.content.decode()
    assert 'data-testid="deployment-status">RUNNING<' in page
    assert "<svg" in page
    rows = response.context["components"]
    assert len(rows) == 8
    for row in rows:
        assert f'<code data-output="url">{row.outputs["url"]}</code>' in page
    assert "correct-horse-battery" not in page
