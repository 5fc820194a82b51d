"""The house's shape, kept by tests: no import circles among the library's files (every import counts, including
those inside functions and under TYPE_CHECKING), no private name imported from another file, and the layers of
ARCHITECTURE.md (the data model and the statistics never import the modules, renderers, gate or engine)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "audit"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    is_package = MODULES[importer].name == "__init__.py"
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports() -> list[tuple[str, str, str, int]]:
    """(importer, imported module, imported name or "", line) for every import of a file of the package."""
    found = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in MODULES:
                        found.append((name, alias.name, "", node.lineno))
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(name, node)
                if node.module == "__future__" or not (target == "audit" or target.startswith("audit.")):
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in MODULES:
                        found.append((name, sub, "", node.lineno))
                    elif alias.name.startswith("__") and alias.name.endswith("__"):
                        continue  # a constant of the package (__version__), not a dependency on its code
                    else:
                        found.append((name, target, alias.name, node.lineno))
    return found


IMPORTS = _imports()


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for importer, target, _, _ in IMPORTS:
        if target in MODULES and target != importer:
            graph[importer].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one file (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle():  # the check above can fail
    graph = _graph()  # and the resolver sees relative, nested and TYPE_CHECKING imports
    assert {"audit.gate", "audit.report.html", "audit.record.result"} <= graph["audit.results"]
    assert "audit.record.result" in graph["audit.report.html"]  # under TYPE_CHECKING
    assert "audit._scale.sample" in graph["audit.modules.explanations"]  # inside a function
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_name_is_imported_from_another_file():
    crossing = [f"{MODULES[i].relative_to(ROOT)}:{line} imports {n} from {t}"
                for i, t, n, line in IMPORTS if n.startswith("_") and t != i]
    assert crossing == []


#: what each layer may import (ARCHITECTURE.md): a lower room never reaches a higher one
FORBIDDEN = {
    "audit.record": ("audit.modules", "audit.report", "audit.gate", "audit._engine", "audit.results", "audit.cli",
                     "audit._scale"),
    "audit.stats": ("audit.modules", "audit.report", "audit.gate", "audit._engine", "audit.results", "audit.cli",
                    "audit._scale", "audit.record"),
    "audit.registry": tuple(m for m in MODULES if m not in ("audit", "audit.registry")),
    "audit.metrics": tuple(m for m in MODULES if m not in ("audit", "audit.metrics")),
    "audit.report": ("audit.modules", "audit._engine", "audit.results", "audit.cli", "audit._scale"),
    "audit.gate": ("audit.modules", "audit.report", "audit._engine", "audit.results", "audit.cli", "audit._scale"),
    "audit._scale": ("audit.modules", "audit.report", "audit.gate", "audit._engine", "audit.results", "audit.cli"),
}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_downward_only(layer):
    bad = [f"{MODULES[i].relative_to(ROOT)}:{line} imports {t}" for i, t, _, line in IMPORTS
           if (i == layer or i.startswith(layer + ".")) and any(t == f or t.startswith(f + ".")
                                                                 for f in FORBIDDEN[layer])]
    assert bad == []
