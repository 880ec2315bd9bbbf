"""The resolver: parameters, merging, rendering, the DAG and the sandbox (pure: no database)."""

from __future__ import annotations

import copy

import pytest
from jsonschema import Draft202012Validator

from core.exceptions import ValidationError
from templates_app.parameters import parameters_schema
from templates_app.plans import SECRET_MASK, Plan
from templates_app.rendering import render_component_refs
from templates_app.resolver import resolve
from templates_app.tests.conftest import system_template

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
SYSTEM_SLUGS = ["simple-rag-v1", "enterprise-rag-v1", "simple-chatbot-v1", "chatbot-memory-v1", "simple-agent-v1"]


def minimal(**overrides) -> dict:
    template = {
        "id": "t",
        "name": "T",
        "category": "rag",
        "version": "1.0.0",
        "parameters": [{"name": "model_id", "type": "model_ref", "required": True}],
        "components": [
            {"id": "llm", "component_ref": "vllm", "model_id": "{{ parameters.model_id }}"},
            {"id": "ui", "component_ref": "chat-ui", "env": {"BACKEND_URL": "{{ components['llm'].outputs.url }}"}},
        ],
    }
    template.update(overrides)
    return template


def errors_of(call) -> dict:
    with pytest.raises(ValidationError) as info:
        call()
    return info.value.errors


@pytest.mark.parametrize("slug", SYSTEM_SLUGS)
def test_every_system_template_resolves_with_only_model_id(slug, component_defs):
    plan = resolve(system_template(slug), {"model_id": MODEL}, component_defs=component_defs)
    assert isinstance(plan, Plan)
    assert plan.template_id == slug
    assert [c.key for c in plan.components] == [key for wave in plan.waves for key in wave]
    for component in plan.components:
        assert component.spec["health_check_path"] == component.health_check_path
        assert "url" in component.outputs
        assert isinstance(component.resources["cpu"], (int, float))


def test_product_document_example_resolves_as_written(component_defs):
    plan = resolve(system_template("simple-rag-v1"), {"model_id": MODEL}, component_defs=component_defs)
    assert plan.waves == (("vector-db", "embedding", "llm"), ("orchestrator",))
    llm = plan.component("llm")
    assert llm.component_ref == "vllm-endpoint"
    assert llm.component_id == "vllm"
    assert llm.model_id == MODEL
    assert llm.optimize_with_budsim is True
    assert llm.resources == {"gpu_type": "A100-80GB", "gpu_count": 1, "cpu": 8, "memory_gib": 64, "replicas": 1}
    assert llm.spec["kind"] == "model" and llm.spec["model_id"] == MODEL
    assert plan.component("vector-db").config["persistence"]["size"] == "50Gi"
    assert plan.component("embedding").env["MODEL_ID"] == "BAAI/bge-base-en-v1.5"
    orchestrator = plan.component("orchestrator")
    assert orchestrator.depends_on == ("embedding", "llm", "vector-db")
    assert orchestrator.env["LLM_URL"] == "{{ components['llm'].outputs.url }}"
    assert orchestrator.output_refs == (("vector-db", "url"), ("embedding", "url"), ("llm", "url"))
    assert plan.totals == {"gpus": {"A100-80GB": 1, "L4": 1}, "cpu": 15, "memory_gib": 90}
    assert plan.max_retries == 2


def test_defaults_are_applied_and_given_values_win(component_defs):
    plan = resolve(
        system_template("simple-rag-v1"), {"model_id": MODEL, "vector_db_size": "100Gi"}, component_defs=component_defs
    )
    assert plan.parameters == {"model_id": MODEL, "vector_db_size": "100Gi", "embedding_model": "BAAI/bge-base-en-v1.5"}
    assert plan.component("vector-db").config == {
        "replicaCount": 1,
        "persistence": {"size": "100Gi"},
        "config": {"cluster": {"enabled": False}},
    }


def test_deep_merge_keeps_definition_defaults_next_to_template_values(component_defs):
    plan = resolve(system_template("enterprise-rag-v1"), {"model_id": MODEL}, component_defs=component_defs)
    vector_db = plan.component("vector-db")
    assert vector_db.config["config"]["cluster"]["enabled"] is True
    assert vector_db.config["config"]["storage"]["performance"]["max_search_threads"] == 4
    assert vector_db.config["replicaCount"] == 3  # a whole-expression string renders to the parameter's type
    assert vector_db.resources["replicas"] == 3
    assert vector_db.resources["memory_gib"] == 16
    assert plan.max_retries == 3


def test_gpu_type_parameter_reaches_resources_and_totals(component_defs):
    plan = resolve(
        system_template("enterprise-rag-v1"),
        {"model_id": MODEL, "gpu_type": "H100-80GB"},
        component_defs=component_defs,
    )
    assert plan.component("llm").resources["gpu_type"] == "H100-80GB"
    assert plan.totals["gpus"] == {"H100-80GB": 1, "L4": 1}
    assert plan.component("llm").config["max_model_len"] == 8192


def test_env_values_are_strings(component_defs):
    plan = resolve(system_template("chatbot-memory-v1"), {"model_id": MODEL}, component_defs=component_defs)
    assert plan.component("chat-ui").env["MEMORY_TTL_SECONDS"] == "86400"


def test_list_parameter_renders_with_a_filter(component_defs):
    plan = resolve(
        system_template("simple-agent-v1"),
        {"model_id": MODEL, "tools_enabled": ["calculator", "http_request"]},
        component_defs=component_defs,
    )
    assert plan.component("tools").env["TOOLS_ENABLED"] == "calculator,http_request"


def test_missing_required_parameter_is_named(component_defs):
    errors = errors_of(lambda: resolve(system_template("simple-rag-v1"), {}, component_defs=component_defs))
    assert errors == {"parameters.model_id": ["This parameter is required."]}


def test_each_bad_parameter_is_named(component_defs):
    errors = errors_of(
        lambda: resolve(
            system_template("enterprise-rag-v1"),
            {"model_id": MODEL, "vector_db_size": "7Gi", "replication_factor": 9, "colour": "red"},
            component_defs=component_defs,
        )
    )
    assert set(errors) == {"parameters.vector_db_size", "parameters.replication_factor", "parameters.colour"}
    assert errors["parameters.colour"] == ["Unknown parameter."]
    assert errors["parameters.vector_db_size"][0].startswith('Must be one of "50Gi", "100Gi"')
    assert errors["parameters.replication_factor"][0].startswith("Must be at most")


def test_wrong_type_is_a_field_error(component_defs):
    errors = errors_of(
        lambda: resolve(
            system_template("simple-chatbot-v1"),
            {"model_id": MODEL, "max_model_len": "big"},
            component_defs=component_defs,
        )
    )
    assert errors == {"parameters.max_model_len": ['Must be an integer (got "big").']}


def test_parameter_values_cannot_carry_expressions(component_defs):
    errors = errors_of(
        lambda: resolve(
            system_template("simple-rag-v1"), {"model_id": "{{ ''.__class__ }}"}, component_defs=component_defs
        )
    )
    assert errors == {
        "parameters.model_id": ["Template expressions ({{ }}, {% %}) are not allowed in parameter values."]
    }


@pytest.mark.parametrize("slug", SYSTEM_SLUGS)
def test_schema_and_validation_agree(slug, component_defs):
    """Whatever the published schema accepts, resolve accepts; whatever it rejects, resolve rejects."""
    template = system_template(slug)
    validator = Draft202012Validator(parameters_schema(template))
    candidates = [
        {"model_id": MODEL},
        {},
        {"model_id": ""},
        {"model_id": MODEL, "gpu_type": "TPU"},
        {"model_id": MODEL, "extra": 1},
        {"model_id": MODEL, "replication_factor": 0},
        {"model_id": MODEL, "memory_ttl": 30},
        {"model_id": MODEL, "tools_enabled": []},
        {"model_id": MODEL, "tools_enabled": ["calculator", "calculator"]},
        {"model_id": MODEL, "agent_type": "react"},
    ]
    for candidate in candidates:
        schema_ok = validator.is_valid(candidate)
        try:
            resolve(template, candidate, component_defs=component_defs)
            resolved_ok = True
        except ValidationError as exc:
            resolved_ok = False
            assert all(key.startswith("parameters.") for key in exc.errors), exc.errors
        assert schema_ok == resolved_ok, (slug, candidate)


def test_secret_has_no_default_in_schema_and_is_masked_in_public_output(component_defs):
    template = system_template("simple-agent-v1")
    schema = parameters_schema(template)
    assert schema["properties"]["search_api_key"]["writeOnly"] is True
    assert "default" not in schema["properties"]["search_api_key"]
    plan = resolve(template, {"model_id": MODEL, "search_api_key": "sk-very-secret"}, component_defs=component_defs)
    assert plan.parameters["search_api_key"] == "sk-very-secret"  # the deployer needs it
    assert plan.component("tools").env["SEARCH_API_KEY"] == "sk-very-secret"
    assert plan.public_parameters()["search_api_key"] == SECRET_MASK
    public = plan.to_dict(redact=True)
    assert "sk-very-secret" not in repr(public)
    assert public["components"][1]["env"]["SEARCH_API_KEY"] == SECRET_MASK


def test_secret_default_is_refused_by_the_template_check(component_defs):
    from templates_app.services import template_validate_content

    template = minimal(parameters=[{"name": "key", "type": "secret", "default": "x"}])
    with pytest.raises(ValidationError) as info:
        template_validate_content(template, component_defs=component_defs)
    assert "parameters.0" in info.value.errors


def test_unknown_component_ref_is_reported(component_defs):
    template = minimal()
    template["components"][0]["component_ref"] = "nope"
    errors = errors_of(lambda: resolve(template, {"model_id": MODEL}, component_defs=component_defs))
    assert errors["components.0.component_ref"] == ["unknown component 'nope'"]


def test_undefined_parameter_is_reported(component_defs):
    template = minimal()
    template["components"][0]["model_id"] = "{{ parameters.modell }}"
    errors = errors_of(lambda: resolve(template, {"model_id": MODEL}, component_defs=component_defs))
    assert errors == {"components.0.model_id": ["undefined parameter 'modell'"]}


def test_undefined_component_and_output_are_reported(component_defs):
    template = minimal()
    template["components"][1]["env"] = {
        "BACKEND_URL": "{{ components['llmx'].outputs.url }}",
        "OTHER": "{{ components['llm'].outputs.nope }}",
    }
    errors = errors_of(lambda: resolve(template, {"model_id": MODEL}, component_defs=component_defs))
    assert errors["components.1.env.BACKEND_URL"] == ["undefined component 'llmx'"]
    assert errors["components.1.env.OTHER"][0].startswith("component 'llm' (vllm) has no output 'nope'")


def test_required_input_must_be_wired(component_defs):
    template = minimal()
    template["components"][1]["env"] = {}
    errors = errors_of(lambda: resolve(template, {"model_id": MODEL}, component_defs=component_defs))
    assert errors == {"components.1.env.BACKEND_URL": ["required input of chat-ui is not set"]}


def test_explicit_cycle_is_rejected(component_defs):
    template = minimal()
    template["components"][0]["depends_on"] = ["ui"]
    errors = errors_of(lambda: resolve(template, {"model_id": MODEL}, component_defs=component_defs))
    assert list(errors) == ["components"]
    assert errors["components"][0].startswith("dependency cycle: ")
    assert "llm" in errors["components"][0] and "ui" in errors["components"][0]


def test_cycle_through_implicit_output_references_is_rejected(component_defs):
    template = minimal()
    template["components"][0]["env"] = {"UI": "{{ components['ui'].outputs.url }}"}
    errors = errors_of(lambda: resolve(template, {"model_id": MODEL}, component_defs=component_defs))
    assert errors["components"][0].startswith("dependency cycle")


def test_unknown_depends_on_is_reported(component_defs):
    template = minimal()
    template["components"][1]["depends_on"] = ["ghost"]
    errors = errors_of(lambda: resolve(template, {"model_id": MODEL}, component_defs=component_defs))
    assert errors == {"components.1.depends_on.0": ["undefined component 'ghost'"]}


def test_ties_keep_template_order(component_defs):
    template = minimal()
    template["components"] = [
        {"id": "c", "component_ref": "redis"},
        {"id": "a", "component_ref": "qdrant"},
        {"id": "b", "component_ref": "chroma", "depends_on": ["c"]},
    ]
    plan = resolve(template, {"model_id": MODEL}, component_defs=component_defs)
    assert [c.key for c in plan.components] == ["c", "a", "b"]
    assert plan.waves == (("c", "a"), ("b",))


@pytest.mark.parametrize(
    "expression",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ parameters.model_id.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum }}",
        "{{ 'a' * 100000000 }}",
    ],
)
def test_sandbox_refuses_unsafe_expressions(expression, component_defs):
    template = minimal()
    template["components"][1]["env"]["X"] = expression
    errors = errors_of(lambda: resolve(template, {"model_id": MODEL}, component_defs=component_defs))
    assert list(errors) == ["components.1.env.X"]


def test_sandbox_itself_refuses_dunder_access_at_render():
    from templates_app.rendering import ENV

    with pytest.raises(Exception, match="unsafe"):
        ENV.from_string("{{ x.__class__ }}").render(x="")


def test_mixed_string_renders_parameters_and_keeps_component_refs(component_defs):
    template = minimal()
    template["components"][1]["env"]["X"] = "{{ components['llm'].outputs.url }}/models/{{ parameters.model_id }}"
    plan = resolve(template, {"model_id": "m1"}, component_defs=component_defs)
    assert plan.component("ui").env["X"] == "{{ components['llm'].outputs.url }}/models/m1"
    assert plan.component("ui").depends_on == ("llm",)


def test_render_component_refs_fills_outputs(component_defs):
    plan = resolve(system_template("simple-rag-v1"), {"model_id": MODEL}, component_defs=component_defs)
    outputs = {"vector-db": {"url": "http://q:6333"}, "embedding": {"url": "http://e"}, "llm": {"url": "http://l/v1"}}
    env = render_component_refs(plan.component("orchestrator").env, outputs)
    assert env["VECTOR_DB_URL"] == "http://q:6333"
    assert env["LLM_URL"] == "http://l/v1"
    assert env["TOP_K"] == "5"
    assert plan.component("orchestrator").env["LLM_URL"].startswith("{{")  # the plan itself is untouched


def test_render_component_refs_missing_output_is_a_validation_error():
    with pytest.raises(ValidationError) as info:
        render_component_refs({"URL": "{{ components['llm'].outputs.url }}"}, {"llm": {}})
    assert list(info.value.errors) == ["URL"]


def test_resolve_does_not_mutate_its_inputs(component_defs):
    template = system_template("enterprise-rag-v1")
    before = copy.deepcopy(template)
    defs_before = copy.deepcopy(component_defs)
    resolve(template, {"model_id": MODEL}, component_defs=component_defs)
    assert template == before
    assert component_defs == defs_before


def test_to_dict_is_json_ready(component_defs):
    import json

    plan = resolve(system_template("enterprise-rag-v1"), {"model_id": MODEL}, component_defs=component_defs)
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["components"][0]["id"] == "vector-db"
    assert data["waves"][-1] == ["chat-ui"]
    assert data["totals"]["gpus"] == {"A100-80GB": 1, "L4": 1}


def test_parameters_must_be_an_object(component_defs):
    errors = errors_of(lambda: resolve(system_template("simple-rag-v1"), ["x"], component_defs=component_defs))
    assert errors == {"parameters": ["Must be an object."]}
