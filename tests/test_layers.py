"""The layers import one way, read from the source: cli -> {model, record, quorum} -> checker,
and engine (tasks on Dask) a leaf that cli and model may use.

Every module under checker/, quorum/, model/, record/ and cli/ is parsed with ast, and
every import counts wherever it stands (top level, inside a function, under a guard),
as does a string naming a module to load lazily (``"replicheck.cli.check:check"``): a
lazy import still couples the two modules. Relative imports are resolved against the
installed names (the folders install as ``replicheck.<folder>``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("checker", "quorum", "model", "record", "cli", "engine")

# Which packages each package may import (besides itself). checker is the base: it
# judges histories and knows nothing of how they were made.
ALLOWED: dict[str, set[str]] = {
    "checker": set(),
    # engine runs tasks on Dask and knows nothing of what they compute (a leaf)
    "engine": set(),
    "quorum": {"checker"},
    "record": {"checker"},
    "model": {"quorum", "checker", "engine"},
    "cli": {"model", "record", "quorum", "checker", "engine"},
}

LAZY = re.compile(r"^(replicheck(?:\.\w+)+)(?::\w+)?$")


@dataclass(frozen=True)
class Import:
    source: str  # importing module, e.g. replicheck.cli.check
    target: str  # imported project module, e.g. replicheck.checker.formats
    where: str  # file:line of the import statement

    def __str__(self) -> str:
        return f"{self.where}: {self.source} imports {self.target}"


def module_name(rel: Path) -> str:
    """checker/formats.py -> replicheck.checker.formats; cli/__init__.py -> replicheck.cli."""
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["replicheck", *parts])


def package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in PACKAGES else None


def imports_of(source: str, module: str, is_package: bool, path: str, known: set[str]) -> list[Import]:
    """The project modules ``module`` imports, one entry per imported module per statement."""
    tree = ast.parse(source, filename=path)
    found: list[Import] = []

    def add(target: str, node: ast.AST) -> None:
        # `from pkg import name` imports the submodule pkg.name when there is one,
        # otherwise a name from pkg's __init__
        if target.startswith("replicheck.") and target != module:
            found.append(Import(module, target, f"{path}:{getattr(node, 'lineno', 0)}"))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                parent = ".".join(base + ([node.module] if node.module else []))
            else:
                parent = node.module or ""
            for alias in node.names:
                sub = f"{parent}.{alias.name}"
                add(sub if sub in known else parent, node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            m = LAZY.match(node.value)
            if m and m.group(1) in known:
                add(m.group(1), node)
    return found


def project_sources(root: Path = ROOT) -> dict[str, tuple[Path, str]]:
    """Installed module name -> (path relative to root, source text)."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            rel = path.relative_to(root)
            out[module_name(rel)] = (rel, path.read_text(encoding="utf-8"))
    return out


def import_graph(sources: dict[str, tuple[Path, str]]) -> tuple[nx.DiGraph, list[Import]]:
    known = set(sources) | {"replicheck"}
    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(sources)
    edges: list[Import] = []
    for module, (rel, text) in sources.items():
        for imp in imports_of(text, module, rel.name == "__init__.py", str(rel), known):
            edges.append(imp)
            graph.add_edge(imp.source, imp.target)
    return graph, edges


def layer_violations(edges: list[Import]) -> list[str]:
    bad = []
    for imp in edges:
        src, dst = package_of(imp.source), package_of(imp.target)
        if imp.target == "replicheck":  # the top package holds only __version__
            continue
        if dst is None:
            bad.append(f"{imp}: not a project package ({', '.join(PACKAGES)})")
        elif src != dst and dst not in ALLOWED[src or ""]:
            allowed = ", ".join(sorted(ALLOWED[src or ""])) or "nothing of the project"
            bad.append(f"{imp}: {src} may import only {allowed}")
    return bad


def cycles_within(graph: nx.DiGraph, edges: list[Import], package: str) -> list[str]:
    """Every elementary cycle among ``package``'s modules, each edge with its file:line."""
    mine = graph.subgraph(m for m in graph if package_of(m) == package)
    where: dict[tuple[str, str], list[str]] = {}
    for imp in edges:
        sites = where.setdefault((imp.source, imp.target), [])
        if imp.where not in sites:  # `from .x import a, b` is one statement
            sites.append(imp.where)
    out = []
    for cycle in sorted(nx.simple_cycles(mine), key=lambda c: (len(c), c)):
        hops = zip(cycle, cycle[1:] + cycle[:1])
        sites = "; ".join(f"{a} -> {b} at {', '.join(where[a, b])}" for a, b in hops)
        out.append(f"{' -> '.join(cycle + cycle[:1])} ({sites})")
    return out


GRAPH, EDGES = import_graph(project_sources())


def test_the_graph_is_read_from_the_source():
    # guards the test below against passing on an empty or misparsed graph
    assert len(GRAPH) >= 30
    targets = {(package_of(i.source), i.target) for i in EDGES}
    assert ("cli", "replicheck.checker") in targets  # absolute: from replicheck.checker import ...
    assert ("quorum", "replicheck.quorum.systems") in targets  # relative: from .systems import *
    assert ("cli", "replicheck.cli.check") in targets  # lazy: "replicheck.cli.check:check"


def test_packages_import_one_way():
    bad = layer_violations(EDGES)
    rule = "cli -> {model, record, quorum} -> checker"
    assert not bad, f"imports against the layering {rule}:\n" + "\n".join(bad)


# Module cycles inside one package; cycles across packages are impossible once the
# layering above holds.
@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycles_between_modules(package):
    cycles = cycles_within(GRAPH, EDGES, package)
    assert not cycles, f"import cycles in {package}/:\n" + "\n".join(cycles)


def _planted(files: dict[str, str]) -> tuple[nx.DiGraph, list[Import]]:
    sources = {module_name(Path(rel)): (Path(rel), text) for rel, text in files.items()}
    return import_graph(sources)


def test_a_planted_upward_import_or_cycle_is_caught():
    # the checks above can fail: an import inside a function, relative or lazy, is seen
    graph, edges = _planted(
        {
            "checker/__init__.py": "",
            "checker/a.py": "def f():\n    from replicheck.model import sim\n",
            "checker/b.py": "from . import c\n",
            "checker/c.py": "from .b import thing\n",
            "model/__init__.py": "",
            "model/sim.py": "LOAD = 'replicheck.cli.main:main'\n",
            "cli/__init__.py": "",
            "cli/main.py": "",
        }
    )
    bad = layer_violations(edges)
    assert any("checker/a.py:2" in b and "replicheck.model.sim" in b for b in bad), bad
    assert any("model/sim.py:1" in b and "replicheck.cli.main" in b for b in bad), bad
    cycles = cycles_within(graph, edges, "checker")
    assert len(cycles) == 1 and "checker/b.py:1" in cycles[0] and "checker/c.py:1" in cycles[0]
