"""The sandbox's bounds: no expression, filter, method or statement can build a value over MAX_OUTPUT characters."""

from __future__ import annotations

import re

import pytest

from core.exceptions import ValidationError
from templates_app.rendering import MAX_RENDERED, ExpressionError, render_string
from templates_app.resolver import resolve
from templates_app.sandbox import MAX_OUTPUT

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
CONTEXT = {"parameters": {"model_id": MODEL, "big": "x" * 60_000, "tools": ["a", "b", "c"], "n": 7}}


def render(source: str):
    return render_string(source, CONTEXT, keep_components=False)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("{{ parameters.model_id|center(50000000) }}", "width 50000000 is larger than 100000"),
        ("{{ '%50000000d' % 1 }}", "formatted string would be longer than 100000 characters"),
        ("{{ '%.50000000f' % 1.5 }}", "formatted string would be longer than 100000 characters"),
        ("{{ '%(n)50000000s' % {'n': 1} }}", "formatted string would be longer than 100000 characters"),
        ("{{ '%((n))50000000s' % {'(n)': 1} }}", "formatted string would be longer than 100000 characters"),
        ("{{ '%*d' % (50000000, 1) }}", "'*' field widths are not allowed"),
        ("{{ '%s%s' % (parameters.big, parameters.big) }}", "formatted string would be longer than 100000"),
        ("{{ '%50000000d'|format(1) }}", "formatted string would be longer than 100000 characters"),
        ("{{ parameters.model_id|indent(50000000) }}", "indented string would be longer than 100000 characters"),
        ("{{ parameters.big|indent(parameters.big) }}", "indented string would be longer than 100000 characters"),
        ("{{ parameters.model_id|wordwrap(1, wrapstring='-' * 9000) }}", "wrapped string would be longer"),
        ("{{ parameters.model_id|replace('', '-' * 9000) }}", "replaced string would be longer than 100000"),
        ("{{ parameters.model_id|replace('l', parameters.big, 2) }}", "replaced string would be longer than 100000"),
        ("{{ [parameters.big, parameters.big]|join }}", "filter input would be longer than 100000 characters"),
        ("{{ parameters.tools|join(parameters.big) }}", "joined string would be longer than 100000 characters"),
        ("{{ parameters.tools|map('center', 90000)|list }}", "filtered values would be longer than 100000"),
        ("{{ [parameters.big, parameters.big]|string }}", "filter input would be longer than 100000 characters"),
        ("{{ [1]|batch(100000000, 'x')|list }}", "linecount 100000000 is larger than 10000"),
        ("{{ [1]|slice(100000000)|list }}", "slices 100000000 is larger than 10000"),
        ("{{ parameters.model_id|urlize }}", "No filter named 'urlize'"),
        ("{{ parameters.model_id.ljust(50000000) }}", "access to attribute 'ljust' of 'str' object is unsafe"),
        ("{{ parameters.model_id.zfill(50000000) }}", "access to attribute 'zfill' of 'str' object is unsafe"),
        ("{{ '{:>50000000}'.format(1) }}", "access to attribute 'format' of 'str' object is unsafe"),
        ("{{ (1).to_bytes(50000000, 'big') }}", "access to attribute 'to_bytes' of 'int' object is unsafe"),
        ("{{ parameters.tools.extend(parameters.tools) }}", "access to attribute 'extend' of 'list' object"),
        ("{{ 'a' * 100000000 }}", "repetition result too large"),
        ("{{ [parameters.big] * 2 }}", "repetition result too large"),
        ("{{ parameters.big ~ parameters.big }}", "joined string would be longer than 100000 characters"),
        ("{{ parameters.big + parameters.big }}", "sum would be longer than 100000 characters"),
        ("{{ (((9 ** 64) ** 64) ** 64) ** 64 }}", "number too large"),
        ("{{ [parameters.big, parameters.big] }}", "the rendered value would be longer than 100000 characters"),
        ("x{{ parameters.big }} {{ parameters.big }}", "the rendered text would be longer than 100000 characters"),
        ("{% if 1 %}{{ [parameters.big, parameters.big] }}{% endif %}", "output would be longer than 100000"),
        ("{% for components in [1, 2] %}x{% endfor %}", "{% for %} is not allowed: the only statement is {% if %}"),
        ("{% set components = 'a' %}{{ components }}", "{% set %} is not allowed: the only statement is {% if %}"),
        ("{% macro components() %}x{% endmacro %}", "{% macro %} is not allowed"),
    ],
)
def test_sandbox_refuses_to_build_oversized_values(expression, reason):
    with pytest.raises(ExpressionError, match=re.escape(reason)):
        render(expression)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("{{ parameters.model_id|center(36) }}", f"  {MODEL}  "),
        ("{{ parameters.model_id|replace('/', '--')|lower }}", "meta-llama--llama-3.1-8b-instruct"),
        ("{{ parameters.model_id.split('/')[1].upper() }}", "LLAMA-3.1-8B-INSTRUCT"),
        ("{{ '%s:%04d' % (parameters.tools[0], parameters.n) }}", "a:0007"),
        ("{{ '%(n)3d'|format(n=parameters.n) }}", "  7"),
        ("{{ parameters.tools|join(', ') }}", "a, b, c"),
        ("{{ parameters.tools|map('upper')|join }}", "ABC"),
        ("{{ 'ab'|indent(2, true) }}", "  ab"),
        ("{{ 'ab cd'|wordwrap(2, wrapstring='|') }}", "ab|cd"),
        ("{{ parameters.model_id|truncate(1000000000) }}", MODEL),
        ("{{ parameters.n * 2 ** 10 }}", 7168),
        ("{{ parameters.big|length }}", 60_000),
        ("{% if parameters.n > 3 %}many{% else %}few{% endif %}", "many"),
        ("{{ parameters.model_id ~ '@' ~ parameters.n }}", f"{MODEL}@7"),
    ],
)
def test_bounded_filters_and_operators_still_work(expression, expected):
    assert render(expression) == expected


def test_a_value_at_the_limit_renders():
    context = {"parameters": {"text": "x" * MAX_OUTPUT}}
    assert render_string("{{ parameters.text }}", context, keep_components=False) == "x" * MAX_OUTPUT


def test_a_whole_plan_is_capped(component_defs):
    template = {
        "id": "t",
        "name": "T",
        "category": "chatbot",
        "version": "1.0.0",
        "parameters": [{"name": "model_id", "type": "model_ref"}, {"name": "prompt", "type": "string"}],
        "components": [
            {
                "id": "llm",
                "component_ref": "vllm",
                "model_id": "{{ parameters.model_id }}",
                "env": {f"PROMPT_{n}": "{{ parameters.prompt }}" for n in range(MAX_RENDERED // 90_000 + 1)},
            }
        ],
    }
    assert resolve(template, {"model_id": MODEL, "prompt": "p" * 1000}, component_defs=component_defs)
    with pytest.raises(ValidationError) as info:
        resolve(template, {"model_id": MODEL, "prompt": "p" * 90_000}, component_defs=component_defs)
    assert next(iter(info.value.errors.values())) == [
        f"the rendered template would be longer than {MAX_RENDERED} characters"
    ]


def test_oversized_expression_is_a_field_error_of_the_template(component_defs):
    template = {
        "id": "t",
        "name": "T",
        "category": "chatbot",
        "version": "1.0.0",
        "parameters": [{"name": "model_id", "type": "model_ref"}],
        "components": [
            {"id": "llm", "component_ref": "vllm", "model_id": "{{ parameters.model_id }}"},
            {"id": "ui", "component_ref": "chat-ui", "env": {"X": "{{ parameters.model_id|center(50000000) }}"}},
        ],
    }
    template["components"][1]["env"]["BACKEND_URL"] = "{{ components['llm'].outputs.url }}"
    with pytest.raises(ValidationError) as info:
        resolve(template, {"model_id": MODEL}, component_defs=component_defs)
    assert info.value.errors == {"components.1.env.X": ["refused by the sandbox: width 50000000 is larger than 100000"]}
