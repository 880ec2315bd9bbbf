"""Sandboxed rendering of template expressions: `{{ parameters.* }}` now, `{{ components['x'].outputs.* }}` later.

Every string of a template is analysed once (cached by its text): which parameters and component outputs it
references, and whether it is a single expression (rendered to a native value: an int stays an int) or text.
Expressions run in the Sandbox of `templates_app.sandbox` (jinja2's SandboxedEnvironment, StrictUndefined) where
only `parameters` and `components` are visible, attributes starting with "_" are refused before anything runs, the
only statement is `{% if %}`, and no value can grow past MAX_OUTPUT characters; a rendered string is capped at
MAX_OUTPUT too, and a whole plan at MAX_RENDERED.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined, nodes
from jinja2.exceptions import SecurityError

from core.exceptions import ValidationError
from templates_app.sandbox import MAX_OUTPUT, Sandbox, size_of

ALLOWED_NAMES = frozenset({"parameters", "components"})
MAX_RENDERED = 1_000_000  # characters all the strings of one plan may render to
_MARKERS = re.compile(r"\{\{|\{%|\{#")
_BLOCK = re.compile(r"\{\{(.*?)\}\}", re.S)
_SINGLE = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}).)*)\}\}\s*$", re.S)
# Loops, `set` and macros would let a short template repeat or double its output without end.
_STATEMENTS = {
    nodes.Assign: "set",
    nodes.AssignBlock: "set",
    nodes.CallBlock: "call",
    nodes.FilterBlock: "filter",
    nodes.FromImport: "from",
    nodes.ScopedEvalContextModifier: "autoescape",
}


class ExpressionError(Exception):
    """A template string that cannot be analysed or rendered; the message says why."""


ENV = Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


class RenderBudget:
    """What a whole plan may still render: each string is capped, and this keeps many strings from adding up."""

    def __init__(self, limit: int = MAX_RENDERED):
        self.limit = limit
        self.left = limit

    def spend(self, value) -> None:
        self.left -= size_of(value, max(self.left, 0))
        if self.left < 0:
            raise ExpressionError(f"the rendered template would be longer than {self.limit} characters")


@dataclass(frozen=True)
class Analysed:
    """What one template string needs and how to render it."""

    kind: str  # "plain" | "expr" (one expression, native value) | "text" | "mixed" (keeps component refs)
    parameters: frozenset[str]
    output_refs: tuple[tuple[str, str], ...]
    compiled: Any = None  # expr: callable; text: jinja Template; mixed: tuple of (literal | (callable, keep))

    @property
    def has_component_refs(self) -> bool:
        return bool(self.output_refs)


def _const_key(node) -> str | None:
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        return node.arg.value
    return None


def _inspect(tree: nodes.Node) -> tuple[frozenset[str], tuple[tuple[str, str], ...]]:
    """Parameters and (component, output) pairs referenced by a parsed expression or template."""
    for statement in tree.find_all(nodes.Stmt):
        if not isinstance(statement, (nodes.Output, nodes.If)):
            name = _STATEMENTS.get(type(statement), type(statement).__name__.lower())
            raise ExpressionError(f"{{% {name} %}} is not allowed: the only statement is {{% if %}}")
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load" and name.name not in ALLOWED_NAMES:
            raise ExpressionError(f"unknown name {name.name!r}: only 'parameters' and 'components' may be used")
    params: set[str] = set()
    component_accesses = 0
    refs: list[tuple[str, str]] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        key = _const_key(node)
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            raise ExpressionError(f"unsafe attribute {node.attr!r} is refused by the sandbox")
        if key is not None and key.startswith("__"):
            raise ExpressionError(f"unsafe attribute {key!r} is refused by the sandbox")
        inner = node.node
        if isinstance(inner, nodes.Name) and inner.name == "parameters":
            if key is None:
                raise ExpressionError("parameters must be referenced by name, e.g. parameters.model_id")
            params.add(key)
        elif isinstance(inner, nodes.Name) and inner.name == "components":
            component_accesses += 1
        elif (
            key is not None
            and isinstance(inner, nodes.Getattr)
            and inner.attr == "outputs"
            and isinstance(inner.node, (nodes.Getattr, nodes.Getitem))
            and isinstance(inner.node.node, nodes.Name)
            and inner.node.node.name == "components"
        ):
            component = _const_key(inner.node)
            if component is not None:
                refs.append((component, key))
    if component_accesses != len(refs):
        raise ExpressionError("components must be referenced as components['id'].outputs.<name>")
    for name in tree.find_all(nodes.Name):
        if name.name == "parameters" and not params:
            raise ExpressionError("parameters must be referenced by name, e.g. parameters.model_id")
    return frozenset(params), tuple(dict.fromkeys(refs))


@lru_cache(maxsize=16384)
def analyse(source: str) -> Analysed:
    """Parse and compile a template string once; raises ExpressionError for syntax or unsafe expressions."""
    if not _MARKERS.search(source):
        return Analysed("plain", frozenset(), ())
    try:
        tree = ENV.parse(source)
    except TemplateError as exc:
        raise ExpressionError(f"template syntax error: {exc}") from None
    except RecursionError:
        raise ExpressionError("template syntax error: nested too deeply") from None
    params, refs = _inspect(tree)
    single = _SINGLE.match(source)
    try:
        if refs:
            if "{%" in source or "{#" in source:
                raise ExpressionError("statements ({% %}) cannot be mixed with component output references")
            parts: list = []
            position = 0
            for match in _BLOCK.finditer(source):
                parts.append(source[position : match.start()])
                expression = match.group(1)
                keep = bool(_inspect(ENV.parse("{{" + expression + "}}"))[1])
                parts.append((ENV.compile_expression(expression, undefined_to_none=False), keep, match.group(0)))
                position = match.end()
            parts.append(source[position:])
            if single:
                return Analysed("mixed-single", params, refs, tuple(parts))
            return Analysed("mixed", params, refs, tuple(parts))
        if single:
            return Analysed("expr", params, refs, ENV.compile_expression(single.group("expr"), undefined_to_none=False))
        return Analysed("text", params, refs, ENV.from_string(source))
    except TemplateError as exc:
        raise ExpressionError(f"template syntax error: {exc}") from None


def _check(value):
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises the precise UndefinedError / SecurityError
    if size_of(value) > MAX_OUTPUT:
        raise ExpressionError(f"the rendered value would be longer than {MAX_OUTPUT} characters")
    return value


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _streamed(template, context: dict) -> str:
    out: list[str] = []
    length = 0
    for chunk in template.generate(**context):
        length += len(chunk)
        if length > MAX_OUTPUT:
            raise ExpressionError(f"the rendered text would be longer than {MAX_OUTPUT} characters")
        out.append(chunk)
    return "".join(out)


def render_string(source: str, context: dict, *, keep_components: bool, budget: RenderBudget | None = None):
    """Render one string. With keep_components, blocks referencing components stay as written. `budget`, when
    given, is charged with what was rendered."""
    analysed = analyse(source)
    if analysed.kind == "plain":
        return source
    rendered = _render(analysed, context, keep_components=keep_components)
    if budget is not None:
        budget.spend(rendered)
    return rendered


def _render(analysed: Analysed, context: dict, *, keep_components: bool):
    try:
        if analysed.kind == "expr":
            return _check(analysed.compiled(**context))
        if analysed.kind == "text":
            return _streamed(analysed.compiled, context)
        if analysed.kind == "mixed-single" and not keep_components:
            _literal, (function, _keep, _raw), _tail = analysed.compiled
            return _check(function(**context))
        out: list[str] = []
        for part in analysed.compiled:
            if isinstance(part, str):
                out.append(part)
                continue
            function, keep, raw = part
            out.append(raw if keep and keep_components else _text(_check(function(**context))))
        return _check("".join(out))
    except SecurityError as exc:
        raise ExpressionError(f"refused by the sandbox: {exc}") from None
    except TemplateError as exc:
        raise ExpressionError(str(exc)) from None
    except (TypeError, ValueError, ArithmeticError, AttributeError, LookupError, RecursionError) as exc:
        raise ExpressionError(f"cannot render: {exc}") from None


def walk_strings(value, path: str = ""):
    """Yield (path, string) for every string inside nested dicts/lists."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk_strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk_strings(item, f"{path}.{index}" if path else str(index))


def render_value(
    value, context: dict, *, keep_components: bool, path: str, errors: dict, budget: RenderBudget | None = None
):
    """Render every string inside `value`; problems are collected into errors[path.to.string]."""
    if isinstance(value, str):
        try:
            return render_string(value, context, keep_components=keep_components, budget=budget)
        except ExpressionError as exc:
            errors.setdefault(path, []).append(str(exc))
            return value
    if isinstance(value, dict):
        return {
            key: render_value(
                item, context, keep_components=keep_components, path=f"{path}.{key}", errors=errors, budget=budget
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            render_value(
                item, context, keep_components=keep_components, path=f"{path}.{index}", errors=errors, budget=budget
            )
            for index, item in enumerate(value)
        ]
    return value


def as_env_value(value) -> str:
    """Env values are strings: numbers as written, booleans as true/false, None as empty."""
    return _text(value)


def render_component_refs(value, outputs_by_key: dict[str, dict]):
    """Deploy time: render the remaining {{ components['x'].outputs.y }} in a str/dict/list from upstream outputs.

    A missing output (or upstream) raises ValidationError naming the path of the string."""
    ctx = {"components": {key: {"outputs": dict(outputs or {})} for key, outputs in outputs_by_key.items()}}
    errors: dict[str, list[str]] = {}
    rendered = _render_refs(value, ctx, "", errors, RenderBudget())
    if errors:
        raise ValidationError(errors, detail="An upstream output is missing.")
    return rendered


def _render_refs(value, ctx: dict, path: str, errors: dict, budget: RenderBudget):
    if isinstance(value, str):
        try:
            if not analyse(value).has_component_refs:
                return value
        except ExpressionError:
            return value
        return render_value(value, ctx, keep_components=False, path=path or "value", errors=errors, budget=budget)
    if isinstance(value, dict):
        return {
            key: _render_refs(item, ctx, f"{path}.{key}" if path else str(key), errors, budget)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _render_refs(item, ctx, f"{path}.{i}" if path else str(i), errors, budget) for i, item in enumerate(value)
        ]
    return value
