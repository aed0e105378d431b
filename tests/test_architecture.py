"""The package's shape, read from its source: layers, no import cycles, and what is written once
(the kr8s wrapper, the label keys and release prefixes)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "aframe_tune"
# each layer may import only its own and lower layers
LAYERS = {
    "config": 0, "errors": 0, "signals": 0, "console": 0,
    "cluster": 1, "tune": 1, "demo": 1, "data_cache": 1, "presets": 1, "scaffold": 1,
    "tasks": 2, "dispatch": 2, "report": 2,
    "cli": 3,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def _type_checking_only(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    return skipped


def imports_of(name: str) -> set[str]:
    """The package's modules that ``name`` imports, at module level or in a function (not for
    type checking only); ``from package import submodule`` counts as importing the submodule."""
    tree = ast.parse(MODULES[name].read_text())
    skipped = _type_checking_only(tree)
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & set(MODULES)
            found.update(submodules or {node.module})
    return {module for module in found if module in MODULES and module != name}


GRAPH = {name: imports_of(name) for name in MODULES}


def layer(name: str) -> int | None:
    parts = name.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def cycles() -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in GRAPH[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in GRAPH:
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_cycles() -> None:
    assert cycles() == []


def test_the_graph_sees_real_imports() -> None:
    # guards the two tests around it: a reader that found nothing would pass them
    assert "aframe_tune.cluster.kube" in GRAPH["aframe_tune.cluster.lock"]
    assert "aframe_tune.dispatch.jobs" in GRAPH["aframe_tune.dispatch.kubernetes"]
    assert "aframe_tune.cluster.kube" in GRAPH["aframe_tune.cli.cleanup"]  # imported in a function


@pytest.mark.parametrize("name", sorted(name for name in MODULES if layer(name) is not None))
def test_no_module_imports_a_layer_above_its_own(name: str) -> None:
    above = sorted(other for other in GRAPH[name] if (layer(other) or 0) > layer(name))
    assert above == [], f"{name} imports {above}"


def test_kr8s_is_used_through_one_wrapper() -> None:
    users = sorted(name for name in GRAPH if any(
        isinstance(node, ast.Import | ast.ImportFrom) and "kr8s" in ast.unparse(node)
        for node in ast.walk(ast.parse(MODULES[name].read_text()))))
    assert users == ["aframe_tune.cluster.kube"]


@pytest.mark.parametrize("literal", ['"app.kubernetes.io/', '"aframe-tune-lock-', '"aframe-dispatch"'])
def test_label_keys_and_release_prefixes_are_written_once(literal: str) -> None:
    writers = sorted(name for name, path in MODULES.items() if literal in path.read_text())
    assert writers == ["aframe_tune.cluster.names"]
