"""Every import points down: the core (records, exam, chair, agreement) loads none of
the live ring's libraries, a backend loads nothing of the exam, and no module or folder
imports, at its top or inside a function, one that imports it back."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Callable
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


Edge = tuple[str, str, str]  # importer, imported, "file:line"


def imports_in(source: str, name: str, is_package: bool) -> list[tuple[str, list[str], int]]:
    """What module ``name``'s source imports, at its top or inside a function: each
    module, the names imported from it, the line (relative imports resolved; not the
    imports only for type checkers)."""
    package = name.split(".") if is_package else name.split(".")[:-1]
    found: list[tuple[str, list[str], int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((a.name, [], node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.append((module, [a.name for a in node.names], node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found


def import_edges(sources: dict[str, tuple[str, str]]) -> list[Edge]:
    """The imports between the modules of ``sources`` (module name: (file, text)), the
    first line of each. ``from a import b`` imports module ``a.b`` if there is one,
    else ``a``."""
    edges: dict[tuple[str, str], str] = {}
    for name, (file, text) in sources.items():
        for module, names, line in imports_in(text, name, file.endswith("__init__.py")):
            targets = {f"{module}.{n}" if f"{module}.{n}" in sources else module
                       for n in names or [""]}
            for target in sorted(targets):
                if target in sources and target != name:
                    edges.setdefault((name, target), f"{file}:{line}")
    return [(a, b, where) for (a, b), where in edges.items()]


def folder(module: str) -> str:
    """The top-level subpackage or module of the package that ``module`` is in."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def circles(edges: list[Edge], node: Callable[[str], str] = str) -> list[str]:
    """The edges of every circle among the nodes the modules map to, one line each."""
    graph: dict[str, set[str]] = {}
    for a, b, _ in edges:
        graph.setdefault(node(a), set())
        graph.setdefault(node(b), set())
        if node(a) != node(b):
            graph[node(a)].add(node(b))
    out = []
    for component in strongly_connected(graph):
        if len(component) > 1:
            out += [f"{where}: {a} -> {b}" for a, b, where in edges
                    if node(a) in component and node(b) in component and node(a) != node(b)]
    return out


def package_sources() -> dict[str, tuple[str, str]]:
    """Every module of peerreview/: its file and its text."""
    return {module_name(p): (str(p.relative_to(PACKAGE.parent)), p.read_text(encoding="utf-8"))
            for p in sorted(PACKAGE.rglob("*.py"))}


def test_no_circle_anywhere() -> None:
    """No module imports, at its top or inside a function, one that imports it back,
    and no folder one that imports it back."""
    edges = import_edges(package_sources())
    assert len(edges) > 100  # the check sees the package
    modules, folders = circles(edges), circles(edges, folder)
    assert modules == [], "modules in a circle:\n" + "\n".join(modules)
    assert folders == [], "folders in a circle:\n" + "\n".join(folders)


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


def _sources(files: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Synthetic modules, by file (``p/x/one.py``), in :func:`import_edges`' shape."""
    out = {}
    for file, text in files.items():
        parts = file.removesuffix(".py").split("/")
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = (file, text)
    return out


LOCAL = "def f() -> None:\n    "
ONLY_TYPED = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    "


@pytest.mark.parametrize("files, module_circle, folder_circle", [
    ({"p/a.py": LOCAL + "from p.b import x\n", "p/b.py": "from p import a\n"}, True, True),
    ({"p/a.py": "from p.b import x\n", "p/b.py": ONLY_TYPED + "from p.a import y\n"},
     False, False),
    ({"p/x/one.py": LOCAL + "from . import two\n", "p/x/two.py": "from p.x.one import f\n"},
     True, False),
    ({"p/x/one.py": "from p.y import two\n", "p/x/two.py": "", "p/y/two.py": "",
      "p/y/three.py": LOCAL + "from ..x import two\n"}, False, True),
    ({"p/x/__init__.py": LOCAL + "from p.x import one\n", "p/x/one.py":
      "from p.x import other\n", "p/x/other.py": ""}, False, False),
    ({"p/x/__init__.py": LOCAL + "from p.x.one import f\n", "p/x/one.py":
      "from p.x import g\n"}, True, False)])
def test_the_check_sees_a_circle_through_a_function(files: dict[str, str], module_circle: bool,
                                                    folder_circle: bool) -> None:
    edges = import_edges(_sources(files))
    assert bool(circles(edges)) is module_circle
    assert bool(circles(edges, folder)) is folder_circle
