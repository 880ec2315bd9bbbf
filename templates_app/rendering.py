"""Sandboxed rendering of template expressions: `{{ parameters.* }}` now, `{{ components['x'].outputs.* }}` later.

Every string of a template is analysed once (cached by its text): which parameters and component outputs it
references, and whether it is a single expression (rendered to a native value: an int stays an int) or text.
Expressions run in jinja2's SandboxedEnvironment with StrictUndefined; only `parameters` and `components` are
visible, attributes starting with "_" are refused before anything runs, and string/list repetition and powers
are bounded so an expression cannot exhaust memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

ALLOWED_NAMES = frozenset({"parameters", "components"})
MAX_REPEAT = 10_000
_MARKERS = re.compile(r"\{\{|\{%|\{#")
_BLOCK = re.compile(r"\{\{(.*?)\}\}", re.S)
_SINGLE = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}).)*)\}\}\s*$", re.S)


class ExpressionError(Exception):
    """A template string that cannot be analysed or rendered; the message says why."""


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context, operator, left, right):
        sized = (str, bytes, list, tuple)
        if operator == "*" and (isinstance(left, sized) or isinstance(right, sized)):
            count = right if isinstance(left, sized) else left
            length = len(left) if isinstance(left, sized) else len(right)
            if isinstance(count, int) and count * max(length, 1) > MAX_REPEAT:
                raise SecurityError("repetition result too large")
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
            raise SecurityError("exponent too large")
        return super().call_binop(context, operator, left, right)


ENV = _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


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
    return value


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_string(source: str, context: dict, *, keep_components: bool):
    """Render one string. With keep_components, blocks referencing components stay as written."""
    analysed = analyse(source)
    try:
        if analysed.kind == "plain":
            return source
        if analysed.kind == "expr":
            return _check(analysed.compiled(**context))
        if analysed.kind == "text":
            return analysed.compiled.render(**context)
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
        return "".join(out)
    except SecurityError as exc:
        raise ExpressionError(f"refused by the sandbox: {exc}") from None
    except TemplateError as exc:
        raise ExpressionError(str(exc)) from None
    except (TypeError, ValueError, ArithmeticError) as exc:
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


def render_value(value, context: dict, *, keep_components: bool, path: str, errors: dict):
    """Render every string inside `value`; problems are collected into errors[path.to.string]."""
    if isinstance(value, str):
        try:
            return render_string(value, context, keep_components=keep_components)
        except ExpressionError as exc:
            errors.setdefault(path, []).append(str(exc))
            return value
    if isinstance(value, dict):
        return {
            key: render_value(item, context, keep_components=keep_components, path=f"{path}.{key}", errors=errors)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            render_value(item, context, keep_components=keep_components, path=f"{path}.{index}", errors=errors)
            for index, item in enumerate(value)
        ]
    return value


def as_env_value(value) -> str:
    """Env values are strings: numbers as written, booleans as true/false, None as empty."""
    return _text(value)
