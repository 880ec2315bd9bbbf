"""The agent library: LangGraph, CrewAI and research-agent templates and their components (pure: no database)."""

from __future__ import annotations

import pytest
import yaml
from jsonschema import Draft202012Validator

from components.loader import SYSTEM_DIR
from core.exceptions import ValidationError
from templates_app.parameters import parameters_schema
from templates_app.plans import SECRET_MASK
from templates_app.rendering import render_component_refs
from templates_app.resolver import resolve
from templates_app.tests.conftest import system_template

MODEL = "Qwen/Qwen2.5-7B-Instruct"
SECRETS = {"state_db_password": "correct-horse-battery", "langsmith_api_key": "lsv2_pt_abc"}
REQUIRED = {
    "langgraph-agent-v1": {"model_id": MODEL, **SECRETS},
    "crewai-crew-v1": {"model_id": MODEL},
    "research-agent-v1": {"model_id": MODEL, **SECRETS},
}
AGENT_KEY = {"langgraph-agent-v1": "agent", "crewai-crew-v1": "crew", "research-agent-v1": "agent"}
NEW_COMPONENTS = [
    "langgraph-server",
    "crewai-server",
    "mcp-fetch",
    "mcp-filesystem",
    "mcp-sqlite",
    "code-sandbox",
    "langfuse",
    "agent-postgres",
]


def component_file(component_id: str) -> dict:
    return yaml.safe_load((SYSTEM_DIR / "components" / f"{component_id}.yaml").read_text())


@pytest.mark.parametrize("component_id", NEW_COMPONENTS)
def test_agent_components_are_pinned_with_port_health_and_outputs(component_id):
    definition = component_file(component_id)
    if definition["deployment_type"] == "HELM":
        assert definition["helm_repo"].startswith("https://") and definition["helm_version"][0].isdigit()
    assert definition["image"].count("/") >= 1 and definition["image_tag"] not in ("", "latest")
    assert isinstance(definition["port"], int)
    assert definition["default_resources"]["gpu_count"] == 0
    assert definition["default_resources"]["cpu"] > 0 and definition["default_resources"]["memory_gib"] > 0
    assert definition["outputs"][0]["name"] == "url"
    if component_id != "agent-postgres":  # Postgres answers no HTTP; its readiness is the TCP port
        assert definition["health_check_path"].startswith("/")


@pytest.mark.parametrize("component_id", ["mcp-fetch", "mcp-filesystem", "mcp-sqlite"])
def test_mcp_servers_declare_transport_port_and_the_pinned_reference_server(component_id, component_defs):
    plan = resolve(
        {
            "id": "t",
            "name": "T",
            "category": "agent",
            "version": "1",
            "parameters": [],
            "components": [{"id": "tools", "component_ref": component_id}],
        },
        {},
        component_defs=component_defs,
    )
    spec = plan.component("tools").spec
    args = spec["args"]
    assert args[args.index("--outputTransport") + 1] == "streamableHttp"
    assert args[args.index("--port") + 1] == str(spec["port"]) == "8000"
    assert args[args.index("--healthEndpoint") + 1] == spec["health_check_path"]
    server = args[args.index("--stdio") + 1]
    assert ("==" in server) or ("@20" in server)  # the reference server's exact version
    assert plan.component("tools").output_specs["url"] == {"protocol": "http", "port": 8000, "path": "/mcp"}


def test_docker_specs_without_args_are_unchanged(component_defs):
    plan = resolve(system_template("simple-agent-v1"), {"model_id": MODEL}, component_defs=component_defs)
    assert "args" not in plan.component("tools").spec


@pytest.mark.parametrize("slug", sorted(REQUIRED))
def test_agent_template_resolves_with_its_required_parameters(slug, component_defs):
    plan = resolve(system_template(slug), REQUIRED[slug], component_defs=component_defs)
    llm = plan.component("llm")
    assert llm.optimize_with_budsim is True
    assert llm.model_id == MODEL
    assert llm.resources["gpu_type"] == "A100-80GB"
    assert plan.totals["gpus"]["A100-80GB"] == 1
    agent_key = AGENT_KEY[slug]
    assert plan.waves[-1] == (agent_key,)  # the agent starts once the model, tools and stores run
    agent = plan.component(agent_key)
    assert set(agent.depends_on) == {c.key for c in plan.components} - {agent_key}
    assert agent.env["TOOLS_ENABLED"]
    for component in plan.components:
        assert component.spec["health_check_path"] == component.health_check_path


@pytest.mark.parametrize("slug", sorted(REQUIRED))
def test_agent_parameters_are_typed(slug):
    properties = parameters_schema(system_template(slug))["properties"]
    assert properties["model_id"]["x-parameter-type"] == "model_ref"
    assert properties["agent_type"]["enum"]
    tools = properties["tools_enabled"]
    assert tools["type"] == "array" and tools["uniqueItems"] is True and tools["items"]["enum"]
    assert properties["max_iterations"]["type"] == "integer" and properties["max_iterations"]["minimum"] == 1
    assert properties["system_prompt"] == {
        **properties["system_prompt"],
        "type": "string",
        "x-parameter-type": "text",
        "minLength": 1,
        "maxLength": 20000,
    }


def test_parameters_reach_the_langgraph_server(component_defs):
    prompt = "You are terse.\nAnswer in one line."
    plan = resolve(
        system_template("langgraph-agent-v1"),
        {
            **REQUIRED["langgraph-agent-v1"],
            "agent_type": "plan-and-execute",
            "tools_enabled": ["sql", "code_execution"],
            "max_iterations": 40,
            "system_prompt": prompt,
        },
        component_defs=component_defs,
    )
    env = plan.component("agent").env
    assert env["AGENT_TYPE"] == "plan-and-execute"
    assert env["TOOLS_ENABLED"] == "sql,code_execution"
    assert env["LANGGRAPH_RECURSION_LIMIT"] == "40"
    assert env["SYSTEM_PROMPT"] == prompt
    assert env["LANGSMITH_API_KEY"] == "lsv2_pt_abc"
    assert plan.component("state-db").env["POSTGRES_PASSWORD"] == "correct-horse-battery"
    rendered = render_component_refs(
        env["DATABASE_URI"], {"state-db": {"url": "postgres://state-db.ns.svc.cluster.local:5432/agent"}}
    )
    assert rendered == (
        "postgres://state-db.ns.svc.cluster.local:5432/agent?user=postgres&password=correct-horse-battery"
    )


def test_agent_secrets_are_masked_in_public_plans(component_defs):
    plan = resolve(system_template("research-agent-v1"), REQUIRED["research-agent-v1"], component_defs=component_defs)
    public = repr(plan.to_dict(redact=True))
    assert "correct-horse-battery" not in public and "lsv2_pt_abc" not in public
    assert plan.public_parameters()["state_db_password"] == SECRET_MASK


def test_crew_process_and_max_iter_reach_the_crew(component_defs):
    plan = resolve(
        system_template("crewai-crew-v1"),
        {"model_id": MODEL, "agent_type": "hierarchical", "max_iterations": 7, "tools_enabled": ["filesystem"]},
        component_defs=component_defs,
    )
    env = plan.component("crew").env
    assert (env["CREW_PROCESS"], env["CREW_MAX_ITER"], env["TOOLS_ENABLED"]) == ("hierarchical", "7", "filesystem")
    assert env["MODEL"] == f"openai/{MODEL}"
    assert env["OPENAI_API_BASE"] == "{{ components['llm'].outputs.url }}"


def test_research_agent_wires_vector_db_embedding_fetch_and_tracing(component_defs):
    plan = resolve(system_template("research-agent-v1"), REQUIRED["research-agent-v1"], component_defs=component_defs)
    assert {c.component_id for c in plan.components} == {
        "vllm",
        "qdrant",
        "tei-embedding",
        "agent-postgres",
        "redis",
        "mcp-fetch",
        "langfuse",
        "langgraph-server",
    }
    refs = dict(plan.component("agent").output_refs)
    assert {"vector-db", "embedding", "web-fetch", "tracing", "llm", "state-db", "redis"} <= set(refs)
    assert plan.component("tracing").spec["kind"] == "helm"
    assert plan.component("embedding").resources["gpu_type"] == "L4"


@pytest.mark.parametrize(
    ("slug", "parameters", "field"),
    [
        ("langgraph-agent-v1", {"model_id": MODEL, "langsmith_api_key": "k"}, "parameters.state_db_password"),
        (
            "langgraph-agent-v1",
            {**REQUIRED["langgraph-agent-v1"], "tools_enabled": ["shell"]},
            "parameters.tools_enabled.0",
        ),
        ("langgraph-agent-v1", {**REQUIRED["langgraph-agent-v1"], "max_iterations": 0}, "parameters.max_iterations"),
        ("crewai-crew-v1", {"model_id": MODEL, "agent_type": "react"}, "parameters.agent_type"),
        ("crewai-crew-v1", {"model_id": MODEL, "system_prompt": ""}, "parameters.system_prompt"),
        ("research-agent-v1", {**REQUIRED["research-agent-v1"], "tools_enabled": []}, "parameters.tools_enabled"),
        (
            "research-agent-v1",
            {**REQUIRED["research-agent-v1"], "state_db_password": "short"},
            "parameters.state_db_password",
        ),
    ],
)
def test_bad_agent_parameters_are_named_and_the_schema_agrees(slug, parameters, field, component_defs):
    template = system_template(slug)
    assert not Draft202012Validator(parameters_schema(template)).is_valid(parameters)
    with pytest.raises(ValidationError) as info:
        resolve(template, parameters, component_defs=component_defs)
    assert list(info.value.errors) == [field]
