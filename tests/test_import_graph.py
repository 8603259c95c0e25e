"""The package's import graph has no cycles, and the engine never imports the book layer.

The graph is built with :mod:`ast` from every ``.py`` file under ``lsbook/``, without importing
anything. Every ``import`` statement counts: at module level, inside functions and classes, and under
``if TYPE_CHECKING:`` (a dependency that only a type checker follows is still a dependency between
layers). Relative imports are resolved. ``import a.b`` is an edge to ``a.b``; ``from a import b``
is an edge to the module ``a.b`` when there is one, else to ``a`` -- or, when ``a`` is a package
whose ``__init__`` only re-exports ``b`` from one of its submodules, to that submodule. The
implicit import of the packages above a module (``a`` when ``a.b`` is imported) is no edge: so a
package's ``__init__`` that imports its submodules, and submodules that import each other or names
that the ``__init__`` re-exports, make no cycle through the package unless there is a real one.

Layers: ``lsbook.book`` (the chapters' tables, figures, sentences and runners) sits on top of the
engine (models, data, training, the store, experiments, translation, sweeps, the cluster, ...).
Only the book layer itself, the claim ledger (``lsbook.claims`` and ``lsbook.claim_checks``, which
read stored runs as the chapters do) and the command line (``lsbook.cli``, which also runs and
builds chapters) may import ``lsbook.book``; no other module of the package does.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "lsbook"

BOOK = "lsbook.book"
MAY_IMPORT_BOOK = ("lsbook.book", "lsbook.claims", "lsbook.claim_checks", "lsbook.cli")

Graph = dict[str, dict[str, list[int]]]  # importer -> {imported module: line numbers}


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


class Package:
    """The modules of a package on disk: dotted name -> (file, syntax tree)."""

    def __init__(self, package_dir: Path = PACKAGE_DIR):
        self.name = package_dir.name
        self.modules: dict[str, tuple[Path, ast.Module]] = {}
        for path in sorted(package_dir.rglob("*.py")):
            parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            self.modules[".".join(parts)] = (path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        self.reexports = {name: self._reexports(name) for name in self.modules if self.is_package(name)}

    def is_package(self, name: str) -> bool:
        return self.modules[name][0].name == "__init__.py"

    def source(self, importer: str, node: ast.ImportFrom) -> str:
        """The module that ``from ... import`` names, relative imports resolved."""
        if not node.level:
            return node.module or ""
        base = importer.split(".") if self.is_package(importer) else importer.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))

    def module_of(self, name: str) -> str | None:
        """The module of the package that ``import name`` loads: ``name``, or the nearest above it."""
        parts = name.split(".")
        while parts:
            if ".".join(parts) in self.modules:
                return ".".join(parts)
            parts.pop()
        return None

    def _reexports(self, package: str) -> dict[str, str]:
        """The names that a package's ``__init__`` imports at its top from modules of the package,
        each to that module -- unless the ``__init__`` also defines the name itself."""
        found: dict[str, str] = {}
        defined: set[str] = set()
        for node in self.modules[package][1].body:
            if isinstance(node, ast.ImportFrom):
                source = self.source(package, node)
                for alias in node.names:
                    if f"{source}.{alias.name}" in self.modules:
                        found[alias.asname or alias.name] = f"{source}.{alias.name}"
                    elif source in self.modules and source != package and _within(source, self.name):
                        found[alias.asname or alias.name] = source
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                defined.update(n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name))
        return {name: module for name, module in found.items() if name not in defined}

    def imports(self, importer: str):
        """(imported module, line) for every import of a module of the package in ``importer``."""
        for node in ast.walk(self.modules[importer][1]):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if _within(alias.name, self.name):
                        yield self.module_of(alias.name), node.lineno
            elif isinstance(node, ast.ImportFrom):
                source = self.source(importer, node)
                if not _within(source, self.name):
                    continue
                for alias in node.names:
                    if f"{source}.{alias.name}" in self.modules:
                        yield f"{source}.{alias.name}", node.lineno
                    elif alias.name in self.reexports.get(source, {}):
                        yield self.reexports[source][alias.name], node.lineno
                    else:
                        yield self.module_of(source), node.lineno

    def graph(self) -> Graph:
        graph: Graph = {name: {} for name in self.modules}
        for importer in self.modules:
            for imported, line in self.imports(importer):
                if imported is not None and imported != importer:
                    lines = graph[importer].setdefault(imported, [])
                    if line not in lines:
                        lines.append(line)
        return graph


def strongly_connected_components(graph: Graph) -> list[list[str]]:
    """Tarjan's algorithm, iteratively: the components of more than one module, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)

    for root in sorted(graph):
        if root in index:
            continue
        visit(root)
        work = [(root, iter(sorted(graph[root])))]
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    visit(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while not component or component[-1] != node:
                        component.append(stack.pop())
                        on_stack.discard(component[-1])
                    if len(component) > 1:
                        components.append(sorted(component))
    return sorted(components)


def shortest_cycle(graph: Graph, component: list[str]) -> list[str]:
    """A shortest cycle through the first module of ``component`` (breadth-first, inside it)."""
    start, members = component[0], set(component)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for successor in sorted(graph[node]):
            if successor == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if successor in members and successor not in came_from:
                came_from[successor] = node
                queue.append(successor)
    raise AssertionError(f"{start} is on no cycle")  # pragma: no cover - a component has one


def describe_cycles(graph: Graph) -> list[str]:
    """Every import cycle: its modules, a shortest cycle, and each import inside it (with lines)."""
    described = []
    for component in strongly_connected_components(graph):
        members = set(component)
        edges = [f"    {importer} -> {imported} (line {', '.join(map(str, sorted(lines)))})"
                 for importer in component for imported, lines in sorted(graph[importer].items())
                 if imported in members]
        described.append(f"{', '.join(component)}\n  e.g. {' -> '.join(shortest_cycle(graph, component))}\n"
                         + "\n".join(edges))
    return described


def book_imports(graph: Graph) -> list[str]:
    """Every import of the book layer by a module that may not import it."""
    return [f"{importer} -> {imported} (line {', '.join(map(str, sorted(lines)))})"
            for importer, imports in sorted(graph.items())
            if not any(_within(importer, allowed) for allowed in MAY_IMPORT_BOOK)
            for imported, lines in sorted(imports.items()) if _within(imported, BOOK)]


# --- the graph itself, on a package made for the purpose --------------------------------------------

def _write(root: Path, files: dict[str, str]) -> Package:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return Package(root / "lsbook")


def test_the_graph_sees_every_kind_of_import(tmp_path):
    package = _write(tmp_path, {
        "lsbook/__init__.py": "VERSION = 1\n",
        "lsbook/a.py": "import os\nimport lsbook.sub.c\nfrom lsbook import VERSION\n",
        "lsbook/b.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from lsbook.a import x\n"
                        "def f():\n    from lsbook import sub\n"),
        "lsbook/sub/__init__.py": "from .c import name\nfrom lsbook.sub.d import other as renamed\n",
        "lsbook/sub/c.py": "from . import d\nfrom ..leaf import y\nname = 1\n",
        "lsbook/leaf.py": "y = 0\n",
        "lsbook/sub/d.py": "from lsbook.sub import name, renamed\nother = 2\n",
        "lsbook/sub/e.py": "class C:\n    def m(self):\n        from lsbook.sub import d\n",
    })
    graph = package.graph()
    assert set(graph) == {"lsbook", "lsbook.a", "lsbook.b", "lsbook.leaf", "lsbook.sub", "lsbook.sub.c",
                          "lsbook.sub.d", "lsbook.sub.e"}
    assert graph["lsbook.a"] == {"lsbook.sub.c": [2], "lsbook": [3]}   # no edge to os, nor to lsbook.sub
    assert graph["lsbook.b"] == {"lsbook.a": [3], "lsbook.sub": [5]}   # under TYPE_CHECKING; in a function
    assert graph["lsbook.sub"] == {"lsbook.sub.c": [1], "lsbook.sub.d": [2]}
    assert graph["lsbook.sub.c"] == {"lsbook.sub.d": [1], "lsbook.leaf": [2]}  # relative imports
    assert graph["lsbook.sub.d"] == {"lsbook.sub.c": [1]}  # re-exported names: to their modules, not lsbook.sub
    assert graph["lsbook.sub.e"] == {"lsbook.sub.d": [3]}  # a module imported from its package
    assert strongly_connected_components(graph) == [["lsbook.sub.c", "lsbook.sub.d"]]
    [described] = describe_cycles(graph)
    assert "e.g. lsbook.sub.c -> lsbook.sub.d -> lsbook.sub.c" in described


def test_a_cycle_through_a_package_is_found_when_it_is_real(tmp_path):
    """A submodule that imports a name the ``__init__`` defines itself depends on the ``__init__``."""
    package = _write(tmp_path, {
        "lsbook/__init__.py": "",
        "lsbook/sub/__init__.py": "from lsbook.sub.a import thing\nLIMIT = 3\n",
        "lsbook/sub/a.py": "def thing():\n    from lsbook.sub import LIMIT\n",
        "lsbook/c.py": "def f():\n    from lsbook.d import y\n",
        "lsbook/d.py": "import lsbook.c\ny = 1\n",
    })
    graph = package.graph()
    assert strongly_connected_components(graph) == [["lsbook.c", "lsbook.d"], ["lsbook.sub", "lsbook.sub.a"]]
    assert len(describe_cycles(graph)) == 2


def test_a_book_import_by_the_engine_is_found(tmp_path):
    package = _write(tmp_path, {
        "lsbook/__init__.py": "", "lsbook/book/__init__.py": "", "lsbook/book/pages.py": "",
        "lsbook/cli.py": "from lsbook.book import pages\n",
        "lsbook/store.py": "def f():\n    from lsbook.book.pages import show\n",
    })
    assert book_imports(package.graph()) == ["lsbook.store -> lsbook.book.pages (line 2)"]


# --- the package -------------------------------------------------------------------------------------

def test_no_import_cycles():
    graph = Package().graph()
    assert len(graph) == len(list(PACKAGE_DIR.rglob("*.py")))
    cycles = describe_cycles(graph)
    assert not cycles, f"{len(cycles)} import cycle(s) in lsbook:\n" + "\n".join(cycles)


def test_the_engine_never_imports_the_book_layer():
    graph = Package().graph()
    assert any(_within(name, BOOK) for name in graph), f"{BOOK} is gone: update this test's layers"
    offending = book_imports(graph)
    assert not offending, ("modules outside " + ", ".join(MAY_IMPORT_BOOK) + " import the book layer:\n"
                           + "\n".join(offending))
