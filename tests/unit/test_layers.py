"""The packages of lifecycle depend on each other one way (docs/design.md, "Which package may
import which"): the import graph between packages has no cycle, and no import of another part of
lifecycle hides inside a function to get round one."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "lifecycle"
#: Wiring modules import the domains lazily so that `lifecycle --help` and the app factory stay
#: cheap to import; they sit above everything and nothing imports them.
WIRING = {"__init__.py", "cli.py", "seeds.py", "server.py"}


def _unit(path: Path) -> str:
    """The package (or top-level module) a file belongs to: items, audit, states…"""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imported_units(path: Path, node: ast.ImportFrom) -> set[str]:
    if node.level == 0:
        if not (node.module or "").startswith("lifecycle."):
            return set()
        return {node.module.split(".")[1]}
    parts = list(path.relative_to(PACKAGE).parent.parts)
    base = parts[: len(parts) - (node.level - 1)]
    if node.module:
        return {(base + node.module.split("."))[0]} if base or node.module else set()
    if base:
        return {base[0]}
    return {alias.name for alias in node.names}  # from . import x, at the top level


def _graph():
    edges: dict[str, set[str]] = {}
    hidden: list[str] = []
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = set(tree.body)
        typing_only = {node for block in tree.body if isinstance(block, ast.If)
                       and getattr(block.test, "id", None) == "TYPE_CHECKING" for node in ast.walk(block)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            targets = _imported_units(path, node) - {_unit(path)}
            if not targets:
                continue
            if node in typing_only:  # annotations only: no import at run time
                continue
            if node in top:
                edges.setdefault(_unit(path), set()).update(targets)
            elif path.name not in WIRING or path.parent != PACKAGE:
                hidden.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    return edges, hidden


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in list(edges):
        if v not in index:
            visit(v)
    return found


def test_packages_depend_on_each_other_one_way():
    edges, _hidden = _graph()
    assert _cycles(edges) == []


def test_no_import_of_lifecycle_hides_in_a_function():
    _edges, hidden = _graph()
    assert hidden == []
