"""The project's import graph has no circle, counting imports written inside functions too.

A function-level import is how a circle is usually hidden: Python then runs, but the two modules still need
each other, and the next change to either breaks at import time. So this walks the source of every module
(no importing: it reads the syntax tree) and draws an edge for every import of a project module, wherever it
is written; only `if TYPE_CHECKING:` blocks are left out, as they never run. Any strongly connected group of
more than one module (or a module importing itself) fails, naming the modules and the lines that join them.
"""

from __future__ import annotations

import ast
import importlib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".venv", "venv", "var", "node_modules", ".git", "staticfiles", "__pycache__"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    """Every Python module of the repository, by dotted name."""
    modules = {}
    for path in ROOT.rglob("*.py"):
        if SKIP_DIRS & set(path.relative_to(ROOT).parts):
            continue
        modules[_module_name(path)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module):
    """(node, inside_function) for every import statement that can run."""
    stack = [(child, False) for child in tree.body]
    while stack:
        node, in_function = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend((child, in_function) for child in node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, in_function
            continue
        nested = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        stack.extend((child, nested) for child in ast.iter_child_nodes(node))


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules: dict) -> set[str]:
    if isinstance(node, ast.Import):
        names = {alias.name for alias in node.names}
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".") if is_package else module.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        names = {f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names}
    found = set()
    for name in names:
        # Importing a.b.c runs a and a.b first, except the packages the importer itself lives in.
        parts = name.split(".")
        for end in range(1, len(parts) + 1):
            target = ".".join(parts[:end])
            if target in modules and not (module == target or module.startswith(target + ".")):
                found.add(target)
    return found


def import_graph() -> tuple[dict[str, set[str]], dict[tuple[str, str], list[str]]]:
    """module -> modules it imports, and for each edge where it is written (line, and whether in a function)."""
    modules = project_modules()
    graph: dict[str, set[str]] = defaultdict(set)
    where: dict[tuple[str, str], list[str]] = defaultdict(list)
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node, in_function in _imports(tree):
            for target in _targets(node, module, path.name == "__init__.py", modules):
                graph[module].add(target)
                place = "inside a function" if in_function else "at module level"
                where[module, target].append(f"{path.relative_to(ROOT)}:{node.lineno} ({place})")
    return graph, where


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module, or a module that imports itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0

    def visit(root: str) -> None:
        nonlocal counter
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1 or node in graph.get(node, ()):
                    found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_circle_even_through_imports_inside_functions():
    graph, where = import_graph()
    problems = []
    for group in cycles(graph):
        members = set(group)
        edges = [
            f"  {source} -> {target}: {', '.join(where[source, target])}"
            for source in group
            for target in sorted(graph[source] & members)
        ]
        problems.append(f"circle among {', '.join(group)}:\n" + "\n".join(edges))
    assert not problems, "\n".join(problems)


NOT_IMPORTED = ("bench", "config.settings", "config.wsgi", "config.asgi", "manage", "conftest", "scripts")


def test_every_production_module_imports():
    """Moving a name is caught here even where no test reaches the module that imports it."""
    failures = []
    for name in sorted(project_modules()):
        parts = name.split(".")
        if not name or "tests" in parts or "migrations" in parts or name.startswith(NOT_IMPORTED):
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
    assert not failures, "\n".join(failures)


def test_the_walker_finds_a_circle_hidden_in_a_function():
    source = {"a": "import b\n", "b": "def f():\n    from a import x\n"}
    modules = dict.fromkeys(source, Path("x.py"))
    graph: dict[str, set[str]] = defaultdict(set)
    for module, text in source.items():
        for node, _ in _imports(ast.parse(text)):
            graph[module] |= _targets(node, module, False, modules)
    assert cycles(graph) == [["a", "b"]]


def test_the_walker_ignores_type_checking_blocks():
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\nelse:\n    import b\n")
    found = sorted(getattr(node, "module", None) or node.names[0].name for node, _ in _imports(tree))
    assert found == ["b", "typing"]
