"""Every import points down: the core (records, exam, chair, agreement) loads none of
the live ring's libraries, a backend loads nothing of the exam, and no module imports,
at its top, one that imports it back."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "peerreview"
CORE = ("records", "exam", "chair")
LIVE_LIBRARIES = ("aiohttp", "pydantic", "sqlite3", "peerreview.live", "peerreview.calls",
                  "peerreview.models", "rich")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def loaded_after(modules: list[str]) -> list[str]:
    """The modules a fresh interpreter has loaded after importing ``modules``."""
    code = (f"import importlib, json, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return list(json.loads(out.stdout))


def test_the_core_loads_nothing_of_the_live_ring() -> None:
    core = [module_name(p) for folder in CORE for p in sorted((PACKAGE / folder).rglob("*.py"))]
    core.append("peerreview.agreement")
    assert len(core) > 15
    loaded = loaded_after(core)
    leaked = [m for m in loaded if any(m == lib or m.startswith(lib + ".")
                                       for lib in LIVE_LIBRARIES)]
    assert leaked == []


def test_a_backend_loads_nothing_of_the_exam_or_the_run() -> None:
    loaded = loaded_after(["peerreview.models.openai", "peerreview.models.anthropic"])
    assert "aiohttp" in loaded  # the check sees what it should
    for absent in ("numpy", "scipy", "polars", "peerreview.exam", "peerreview.live",
                   "peerreview.chair", "peerreview.records.table"):
        assert absent not in loaded, absent


def top_level_imports(path: Path) -> set[str]:
    """The peerreview modules a file imports when it is loaded (not those imported
    inside functions or only for type checkers)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.ImportFrom) and node.module and \
                node.module.startswith("peerreview"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("peerreview"))
    return found


def test_no_module_imports_one_that_imports_it_back() -> None:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: {m for m in top_level_imports(path) if m in files and m != name}
             for name, path in files.items()}
    cycles = strongly_connected(graph)
    assert [sorted(c) for c in cycles if len(c) > 1] == []


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            out.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


@pytest.mark.parametrize("graph, cyclic", [
    ({"a": {"b"}, "b": {"a"}}, True), ({"a": {"b"}, "b": set()}, False),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True)])
def test_the_cycle_finder_finds_cycles(graph: dict[str, set[str]], cyclic: bool) -> None:
    assert any(len(c) > 1 for c in strongly_connected(graph)) is cyclic
