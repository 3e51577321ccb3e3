"""The layout of `memstrata.bench`: no import cycle between its modules (lazy imports
inside functions count too), and the layers point one way: the data model and the
shared helpers never import the runner, the reports or a data set."""

from __future__ import annotations

import ast
from pathlib import Path

import memstrata.bench

PACKAGE = "memstrata.bench"
ROOT = Path(memstrata.bench.__file__).parent
# What every benchmark may use; none of them may import a benchmark.
HELPERS = ("measure", "machine", "report", "stores", "plots", "metrics", "gen", "model")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts))


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules `path` imports, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from memstrata.bench import report` imports the module report.
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (the package itself left out)."""
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    modules = set(files)
    return {
        name: {m for m in _imports(path, modules) if m != name and m != PACKAGE}
        for name, path in files.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first = last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_graph_sees_lazy_imports() -> None:
    graph = import_graph()
    # cli.py imports the scale run inside its command function.
    assert f"{PACKAGE}.scale.run" in graph[f"{PACKAGE}.cli"]
    assert f"{PACKAGE}.runner" in graph[f"{PACKAGE}.locomo"]


def test_bench_has_no_import_cycle() -> None:
    assert _cycle(import_graph()) is None


def test_helpers_and_the_data_model_import_no_benchmark() -> None:
    graph = import_graph()
    allowed = {f"{PACKAGE}.{name}" for name in HELPERS}
    for name in HELPERS:
        module = f"{PACKAGE}.{name}"
        assert graph[module] <= allowed, (module, sorted(graph[module] - allowed))
    assert graph[f"{PACKAGE}.model"] == set()  # the data model stands alone
