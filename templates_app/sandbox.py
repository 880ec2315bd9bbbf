"""The environment template expressions run in: jinja2's SandboxedEnvironment with every way to grow a value bounded.

jinja2's sandbox guards attribute access, not memory: `'%50000000d' % 1`, `s|center(50000000)`, `s.ljust(10**8)` or
`[s] * 10000 | join` each build a huge value from a short expression. Here nothing may grow past MAX_OUTPUT
characters, checked *before* the value is built:

- the operators that grow values (`*`, `**`, `+`, `%`, and `~`, compiled to `bounded_concat`) check the result size;
- every filter refuses inputs and results over the limit, streams (`map`, `select`, ...) are counted as they flow,
  and the filters whose arguments set the output size (center, indent, wordwrap, replace, format, join, batch,
  slice) check those first; `urlize` is gone;
- methods of builtin values are limited to ones that cannot grow them (no ljust, zfill, format, translate, ...);
- no globals (range, lipsum, ...) exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import update_wrapper

from jinja2 import Undefined, pass_environment, pass_eval_context
from jinja2.compiler import CodeGenerator
from jinja2.defaults import DEFAULT_FILTERS
from jinja2.exceptions import FilterArgumentError, SecurityError
from jinja2.filters import do_batch, sync_do_slice
from jinja2.sandbox import SandboxedEnvironment

MAX_REPEAT = 10_000  # items (or characters) a repetition may produce
MAX_OUTPUT = 100_000  # characters any one value, and any one rendered string, may have
MAX_INT_BITS = 4_096  # size of an integer that `*` or `**` may produce

_SAFE_METHODS: dict[type, frozenset[str]] = {
    str: frozenset(
        {
            "capitalize",
            "casefold",
            "count",
            "endswith",
            "find",
            "index",
            "isalnum",
            "isalpha",
            "isascii",
            "isdecimal",
            "isdigit",
            "isidentifier",
            "islower",
            "isnumeric",
            "isprintable",
            "isspace",
            "istitle",
            "isupper",
            "lower",
            "lstrip",
            "partition",
            "removeprefix",
            "removesuffix",
            "rfind",
            "rindex",
            "rpartition",
            "rsplit",
            "rstrip",
            "split",
            "splitlines",
            "startswith",
            "strip",
            "swapcase",
            "title",
            "upper",
        }
    ),
    dict: frozenset({"get", "items", "keys", "values"}),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
}
_BUILTIN_VALUES = (str, bytes, int, float, complex, list, tuple, dict, set, frozenset)


def size_of(value, limit: int = MAX_OUTPUT) -> int:
    """The length of `value` as text (roughly, for containers and numbers), counted only until it passes `limit`:
    a list holding one long string ten thousand times costs little to measure."""
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, Undefined):
            continue
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            if total <= limit:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + 2 * len(item)
            if total <= limit:
                stack.extend(item)
        else:
            total += 24
    return total


def _refuse_if_large(value, what: str) -> None:
    if size_of(value) > MAX_OUTPUT:
        raise SecurityError(f"{what} would be longer than {MAX_OUTPUT} characters")


def _percent_numbers(template: str) -> Iterator[str]:
    """The field widths and precisions of a %-format string, as CPython's printf-style formatting parses them."""
    i, end = 0, len(template)
    while (i := template.find("%", i)) >= 0:
        i += 1
        if template.startswith("(", i):
            depth = 0
            while i < end:
                depth += {"(": 1, ")": -1}.get(template[i], 0)
                i += 1
                if depth == 0:
                    break
        while i < end and template[i] in "-+ #0":
            i += 1
        for _part in ("width", "precision"):
            if template.startswith("*", i):
                yield "*"
                i += 1
            else:
                start = i
                while i < end and template[i] in "0123456789":
                    i += 1
                yield template[start:i]
            if not template.startswith(".", i):
                break
            i += 1
        i += 1  # the conversion character (or a length modifier: it holds no number)


def check_percent_format(template: str, values) -> None:
    """Refuse `template % values` when its result could pass MAX_OUTPUT, before formatting anything."""
    total = len(template) + size_of(values)
    for number in _percent_numbers(template):
        if number == "*":
            raise SecurityError("'*' field widths are not allowed")
        total += int(number or 0) if len(number) <= 9 else MAX_OUTPUT + 1
    if total > MAX_OUTPUT:
        raise SecurityError(f"formatted string would be longer than {MAX_OUTPUT} characters")


def _bounded_stream(items):
    total = 0
    for item in items:
        total += size_of(item, MAX_OUTPUT - total)
        if total > MAX_OUTPUT:
            raise SecurityError(f"filtered values would be longer than {MAX_OUTPUT} characters")
        yield item


def _guarded(function):
    """`function` as a filter that refuses arguments or a result over MAX_OUTPUT, and counts a stream it returns."""

    def guarded(*args, **kwargs):
        for value in (*args, *kwargs.values()):
            _refuse_if_large(value, "filter input")
        result = function(*args, **kwargs)
        if isinstance(result, Iterator):
            return _bounded_stream(result)
        _refuse_if_large(result, "filter result")
        return result

    return update_wrapper(guarded, function)  # keeps jinja's pass_context / pass_environment marks


def _center(value, width=80):
    if isinstance(width, int) and width > MAX_OUTPUT:
        raise SecurityError(f"width {width} is larger than {MAX_OUTPUT}")
    return DEFAULT_FILTERS["center"](value, width)


def _indent(s, width=4, first=False, blank=False):
    text = str(s)
    unit = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    if unit > MAX_OUTPUT or len(text) + (text.count("\n") + 2) * unit > MAX_OUTPUT:
        raise SecurityError(f"indented string would be longer than {MAX_OUTPUT} characters")
    return DEFAULT_FILTERS["indent"](s, width, first, blank)


@pass_environment
def _wordwrap(environment, s, width=79, break_long_words=True, wrapstring=None, break_on_hyphens=True):
    wordwrap = DEFAULT_FILTERS["wordwrap"]
    wrapstring = environment.newline_sequence if wrapstring is None else str(wrapstring)
    wrapped = wordwrap(environment, str(s), width, break_long_words, "\n", break_on_hyphens)
    if wrapstring == "\n":
        return wrapped
    if len(wrapped) + wrapped.count("\n") * (len(wrapstring) - 1) > MAX_OUTPUT:
        raise SecurityError(f"wrapped string would be longer than {MAX_OUTPUT} characters")
    return wordwrap(environment, str(s), width, break_long_words, wrapstring, break_on_hyphens)


@pass_eval_context
def _replace(eval_ctx, s, old, new, count=None):
    text, old_text, new_text = str(s), str(old), str(new)
    occurrences = text.count(old_text) if old_text else len(text) + 1
    if isinstance(count, int) and count >= 0:
        occurrences = min(occurrences, count)
    if len(text) + occurrences * (len(new_text) - len(old_text)) > MAX_OUTPUT:
        raise SecurityError(f"replaced string would be longer than {MAX_OUTPUT} characters")
    return DEFAULT_FILTERS["replace"](eval_ctx, s, old, new, count)


def _format(value, *args, **kwargs):
    if args and kwargs:
        raise FilterArgumentError("can't handle positional and keyword arguments at the same time")
    check_percent_format(str(value), kwargs or args)
    return DEFAULT_FILTERS["format"](value, *args, **kwargs)


@pass_eval_context
def _join(eval_ctx, value, d="", attribute=None):
    items, total, separator = [], 0, len(str(d))
    for item in value:
        total += size_of(item, MAX_OUTPUT - total) + separator
        if total > MAX_OUTPUT:
            raise SecurityError(f"joined string would be longer than {MAX_OUTPUT} characters")
        items.append(item)
    return DEFAULT_FILTERS["join"](eval_ctx, items, d, attribute)


def _refuse_count(count, argument: str) -> None:
    if isinstance(count, int) and count > MAX_REPEAT:
        raise SecurityError(f"{argument} {count} is larger than {MAX_REPEAT}")


def _batch(value, linecount, fill_with=None):
    _refuse_count(linecount, "linecount")
    return do_batch(value, linecount, fill_with)


def _slice(value, slices, fill_with=None):
    _refuse_count(slices, "slices")
    return sync_do_slice(value, slices, fill_with)


_BOUNDED_FILTERS = {
    "center": _center,
    "indent": _indent,
    "wordwrap": _wordwrap,
    "replace": _replace,
    "format": _format,
    "join": _join,
    "batch": _batch,
    "slice": _slice,
}
_REMOVED_FILTERS = {"urlize"}  # its `target`/`rel` are repeated per link, and HTML has no place in a deployment


def _check_binop(operator: str, left, right) -> None:
    """Refuse `left <operator> right` when its result would be too large, before computing it."""
    sized = (str, list, tuple)
    if operator == "*" and (isinstance(left, sized) or isinstance(right, sized)):
        sequence, count = (left, right) if isinstance(left, sized) else (right, left)
        if not isinstance(count, int) or count <= 0:
            return
        if count * max(len(sequence), 1) > MAX_REPEAT or count * size_of(sequence) > MAX_OUTPUT:
            raise SecurityError("repetition result too large")
    elif operator in ("*", "**") and isinstance(left, int) and isinstance(right, int):
        if operator == "**" and abs(right) > 64:
            raise SecurityError("exponent too large")
        bits = left.bit_length() + right.bit_length() if operator == "*" else left.bit_length() * right
        if bits > MAX_INT_BITS:
            raise SecurityError("number too large")
    elif operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
        raise SecurityError("exponent too large")
    elif operator == "+" and isinstance(left, sized) and isinstance(right, sized):
        if size_of(left) + size_of(right) > MAX_OUTPUT:
            raise SecurityError(f"sum would be longer than {MAX_OUTPUT} characters")
    elif operator == "%" and isinstance(left, str):
        check_percent_format(left, right)


class BoundedCodeGenerator(CodeGenerator):
    """Compiles `a ~ b` to a call that checks the joined length first (the sandbox cannot intercept `~`)."""

    def visit_Concat(self, node, frame) -> None:
        self.write("environment.bounded_concat((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")


def _finalize(value):
    _refuse_if_large(value, "output")
    return value


class Sandbox(SandboxedEnvironment):
    """jinja2's sandbox, with values kept under MAX_OUTPUT characters (see the module docstring)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = BoundedCodeGenerator

    def __init__(self, **options):
        super().__init__(finalize=_finalize, **options)
        self.globals.clear()
        self.filters = {
            name: _guarded(_BOUNDED_FILTERS.get(name, function))
            for name, function in self.filters.items()
            if name not in _REMOVED_FILTERS
        }

    def call_binop(self, context, operator, left, right):
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def bounded_concat(self, values) -> str:
        """`a ~ b ~ ...`: the values as text, joined, once their joined length is known to be within MAX_OUTPUT."""
        total = 0
        for value in values:
            total += size_of(value, MAX_OUTPUT - total)
            if total > MAX_OUTPUT:
                raise SecurityError(f"joined string would be longer than {MAX_OUTPUT} characters")
        return "".join(map(str, values))

    def is_safe_attribute(self, obj, attr: str, value) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if callable(value) and isinstance(obj, _BUILTIN_VALUES):
            return any(isinstance(obj, kind) and attr in names for kind, names in _SAFE_METHODS.items())
        return True

    def wrap_str_format(self, value):
        return None  # str.format / format_map are not on the list of safe methods: refuse them like the others
