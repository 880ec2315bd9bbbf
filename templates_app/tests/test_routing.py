"""A template's `routing:` block: validated against its components, resolved into the plan with defaults."""

from __future__ import annotations

import pytest

from core.exceptions import ValidationError
from templates_app.resolver import resolve
from templates_app.routing import natural_entry, plan_routing, resolved_routing, routing_errors
from templates_app.services import template_validate_content
from templates_app.tests.conftest import system_template

MODEL = {"model_id": "meta-llama/Llama-3.1-8B-Instruct"}


def test_without_a_block_the_natural_entry_is_the_first_of_the_last_wave():
    assert natural_entry([("a", "b"), ("c", "d")]) == "c"
    assert resolved_routing(None, waves=[("a",), ("c",)]) == {"component": "c", "expose": "c", "path": "/"}


def test_api_wins_over_expose_and_path_is_kept():
    routing = resolved_routing({"expose": "ui", "api": "llm", "path": "/v1"}, waves=[("llm",), ("ui",)])
    assert routing == {"component": "llm", "expose": "ui", "path": "/v1"}
    assert resolved_routing({"expose": "ui"}, waves=[("llm",), ("ui",)])["component"] == "ui"


@pytest.mark.parametrize(
    ("routing", "field"),
    [
        ({"api": "nope"}, "routing.api"),
        ({"expose": "nope"}, "routing.expose"),
        ({"path": "v1"}, "routing.path"),
        ({"path": "/a//b"}, "routing.path"),
        ([], "routing"),
    ],
)
def test_routing_errors_name_the_field(routing, field):
    assert field in routing_errors(routing, ["llm", "ui"])


def test_a_plan_stored_before_routing_gets_the_default():
    assert plan_routing({"waves": [["a"], ["b", "c"]]}) == {"component": "b", "expose": "b", "path": "/"}
    assert plan_routing({"routing": {"component": "x", "expose": "x", "path": "/"}})["component"] == "x"


def test_system_templates_resolve_their_routing(component_defs):
    rag = resolve(system_template("simple-rag-v1"), MODEL, component_defs=component_defs)
    assert rag.routing == {"component": "orchestrator", "expose": "orchestrator", "path": "/"}
    assert rag.to_stored_dict()["routing"] == rag.routing
    chatbot = resolve(system_template("simple-chatbot-v1"), MODEL, component_defs=component_defs)
    assert chatbot.routing == {"component": "llm", "expose": "chat-ui", "path": "/v1"}
    enterprise = system_template("enterprise-rag-v1")
    assert resolve(enterprise, MODEL, component_defs=component_defs).routing["component"] == "orchestrator"


@pytest.mark.parametrize(
    ("routing", "field"),
    [
        ({"api": "missing"}, "routing.api"),
        ({"gateway": "x"}, "routing.gateway"),  # the schema: only api, expose and path
        ({"path": "no-slash"}, "routing.path"),
    ],
)
def test_a_template_with_bad_routing_is_refused_with_the_field(component_defs, routing, field):
    content = {**system_template("simple-chatbot-v1"), "routing": routing}
    with pytest.raises(ValidationError) as info:
        template_validate_content(content, component_defs=component_defs)
    assert field in info.value.errors
