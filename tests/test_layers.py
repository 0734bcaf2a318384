"""The package's layers: imports go only downward, and no module imports itself in a circle.

The layer order is declared here, once; docs/architecture.md explains each layer.
Every ``import`` of a threatsim module counts, at module level, inside a function
or under ``TYPE_CHECKING``: a function-level import hides an upward dependency, it
does not remove it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "threatsim"

#: Lowest first. A module may import modules of its own package (without a circle)
#: and of any lower layer; never of a higher layer, nor of another package on its own
#: layer (models and stats know nothing of each other).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("threatsim.core",),
    ("threatsim.models", "threatsim.stats"),
    ("threatsim.inputs",),
    ("threatsim.results",),
    ("threatsim.engine",),
    ("threatsim.analysis",),
    ("threatsim.outputs",),
    ("threatsim.cli",),
    ("threatsim", "threatsim._entry"),  # the public API and the console script
)


def module_names() -> dict[str, Path]:
    names = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


MODULES = module_names()


def imports_of(name: str) -> set[str]:
    """The threatsim modules *name* imports (a ``from X import y`` of a submodule ``y``
    counts as an import of ``X.y``)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:  # threatsim.x.y.attr -> threatsim.x.y
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def package_of(name: str) -> str:
    """The layer package a module belongs to (the longest declared prefix)."""
    best = ""
    for layer in LAYERS:
        for pkg in layer:
            if (name == pkg or name.startswith(pkg + ".")) and len(pkg) > len(best):
                best = pkg
    assert best, f"{name} is in no declared layer: add its package to LAYERS"
    return best


RANK = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}


def test_every_module_belongs_to_a_layer():
    for name in MODULES:
        package_of(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_only_go_down(name):
    here = package_of(name)
    wrong = []
    for target in sorted(GRAPH[name]):
        there = package_of(target)
        if there == here:
            continue
        if RANK[there] >= RANK[here]:
            wrong.append(f"{target} ({there}, layer {RANK[there]})")
    assert not wrong, f"{name} ({here}, layer {RANK[here]}) imports upward or sideways: {wrong}"


def test_no_import_cycles():
    """Tarjan's strongly connected components of the import graph: none of two or more."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in sorted(GRAPH):
        if name not in index:
            visit(name)
    assert cycles == []


def test_the_checker_sees_an_upward_import_and_a_cycle(tmp_path, monkeypatch):
    """The walk above must not be blind: a fake engine -> cli import is caught."""
    monkeypatch.setitem(GRAPH, "threatsim.engine.runner",
                        GRAPH["threatsim.engine.runner"] | {"threatsim.cli.main"})
    with pytest.raises(AssertionError, match="imports upward"):
        test_imports_only_go_down("threatsim.engine.runner")
    monkeypatch.setitem(GRAPH, "threatsim.core.errors", {"threatsim.core.atomic"})
    with pytest.raises(AssertionError):
        test_no_import_cycles()
