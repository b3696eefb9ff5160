"""The package's shape: no import cycles (function-level imports included), every module documented.

The layer order is import-linter's contract (``[tool.importlinter]`` in pyproject.toml), run here
as ``lint-imports`` would run it, so the test suite (CI) enforces it; the cycle check also catches
a cycle among modules of one layer, and says which.
"""

from __future__ import annotations

from pathlib import Path

import grimp
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """One import cycle (as a path that returns to its start) per group of modules that import
    each other, directly or through others (Tarjan's strongly connected components)."""
    modules = sorted(graph.modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(m: str) -> None:
        index[m] = low[m] = len(index)
        stack.append(m)
        on_stack.add(m)
        for n in sorted(graph.find_modules_directly_imported_by(m)):
            if n not in index:
                visit(n)
                low[m] = min(low[m], low[n])
            elif n in on_stack:
                low[m] = min(low[m], index[n])
        if low[m] == index[m]:
            group = []
            while True:
                n = stack.pop()
                on_stack.discard(n)
                group.append(n)
                if n == m:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for m in modules:
        if m not in index:
            visit(m)
    out = []
    for group in groups:
        start = group[0]
        step = next(n for n in sorted(graph.find_modules_directly_imported_by(start)) if n in group)
        back = graph.find_shortest_chain(importer=step, imported=start) or (step, start)
        out.append([start, *back])
    return out


def test_cycle_finder_reports_a_cycle_with_its_modules():
    graph = grimp.ImportGraph()
    for importer, imported in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")]:
        graph.add_import(importer=importer, imported=imported)
    assert cycles(graph) == [["p.a", "p.b", "p.c", "p.a"]]


def test_the_package_has_no_import_cycles():
    graph = grimp.build_graph("assistant")  # counts imports inside functions too
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)


def test_imports_follow_the_layers_of_pyproject():
    # On failure the captured output names each illegal import and its line.
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0


def test_architecture_doc_names_every_module():
    graph = grimp.build_graph("assistant")
    doc = ARCHITECTURE.read_text(encoding="utf-8")
    modules = sorted(m.split(".", 1)[1] for m in graph.find_children("assistant"))
    missing = [m for m in modules if f"`{m}.py`" not in doc]
    assert not missing, f"docs/architecture.md does not describe: {', '.join(f'{m}.py' for m in missing)}"
