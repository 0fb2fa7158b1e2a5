"""The shape of the code: no import cycle in bench/, envcheck/, models/ (imports inside functions included),
and bench's layers import only downwards, so that the torch-free parent side and the worker side stay apart."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("bench", "envcheck", "models")
# bench's layers, lowest first: a module may import its own layer's modules (inside its own sub-package) and
# any lower layer's, never a higher one's. Modules not listed (bench.__main__, bench.cli, bench.gpu_check, the
# pytest-benchmark front end) are the top.
LAYERS = {"bench.config": 0, "bench.results": 1, "bench.measure": 2, "bench.analysis": 2, "bench.run": 3,
          "bench.store": 3, "bench.render": 4}
TOP = 5
# The one import from outside bench into it: envcheck's command line records its report in the results database
# (`python -m envcheck --db`), through the module that does only that, imported inside the functions that need it
# (envcheck's library modules never import bench, and envcheck runs where bench's dependencies are missing).
INTO_BENCH = {("envcheck.__main__", "bench.store.recorder")}


def module_files() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module an imported name lives in (a function or class name resolves to its module)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # every import, at any depth
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {target for t in targets if (target := resolve(t, modules)) and target != name}
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer(name: str) -> int:
    return next((rank for prefix, rank in LAYERS.items() if name == prefix or name.startswith(prefix + ".")),
                0 if name == "bench" else TOP)


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_inside_functions_are_seen():
    graph = import_graph()
    assert "bench.measure.protocol" in graph["bench.measure.worker"]  # imported inside run_case_job


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle(package):
    graph = {name: deps for name, deps in import_graph().items() if name.split(".")[0] == package}
    assert cycles(graph) == []


def test_bench_imports_only_downwards():
    upward = []
    for name, deps in import_graph().items():
        if not name.startswith("bench"):
            into = {(name, dep) for dep in deps if dep.startswith("bench")}
            assert into <= INTO_BENCH, f"{name} imports bench: {sorted(into - INTO_BENCH)}"
            continue
        for dep in deps:
            if not dep.startswith("bench"):
                continue
            sideways = (layer(dep) == layer(name) and dep.split(".")[:2] != name.split(".")[:2]
                        and layer(name) != TOP)
            if layer(dep) > layer(name) or sideways:
                upward.append(f"{name} -> {dep}")
    assert upward == []


def test_the_parent_side_never_imports_torch_at_module_level():
    """bench/run, bench/results and bench/analysis load without torch (the orchestrator stays light); only
    tta trains in the CLI's own process."""
    heavy = []
    for name, path in module_files().items():
        if layer(name) not in (1, 2, 3) or name.startswith("bench.measure") or name == "bench.run.tta":
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:  # module level only
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            heavy += [f"{name}: {n}" for n in names if n.split(".")[0] == "torch"]
    assert heavy == []


def test_paths_anchored_on_a_module_still_name_the_checkout():
    """Modules that find the checkout from their own file (workers import bench from it; the committed
    baselines live in it) must say so from wherever they sit in the tree."""
    from bench.analysis.baselines import BASELINES
    from bench.run.process import ROOT as WORKER_ROOT

    assert WORKER_ROOT == ROOT and (WORKER_ROOT / "bench" / "__init__.py").is_file()
    assert BASELINES == ROOT / "results" / "baselines" and BASELINES.is_dir()


def test_the_orchestrator_loads_without_torch():
    """Through every import, not only its own: the CLI, planning, execution, validation and rendering leave
    torch to the workers (a module-level import anywhere below them would load it here)."""
    import subprocess
    import sys

    code = ("import sys; import bench.__main__, bench.run.execute, bench.run.validate, bench.render.run, "
            "bench.render.compare, bench.analysis.compare, bench.run.process; print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT)
    assert done.stdout.strip() == "False", done.stderr


def test_envcheck_imports_bench_only_lazily_in_its_command_line():
    """The allowed edge into bench is inside functions, so that `python -m envcheck --no-db` (and an environment
    without bench's packages) never loads bench; and envcheck's default database is bench's."""
    from bench import config
    from envcheck.__main__ import DB_DEFAULT

    graph = import_graph()
    assert {(name, dep) for name, deps in graph.items() if not name.startswith("bench")
            for dep in deps if dep.startswith("bench")} == INTO_BENCH
    for name, _ in INTO_BENCH:
        tree = ast.parse(module_files()[name].read_text(encoding="utf-8"))
        top = [node.module for node in tree.body if isinstance(node, ast.ImportFrom)]
        top += [alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names]
        assert not [module for module in top if module and module.split(".")[0] == "bench"]
    assert DB_DEFAULT == config.DB_DEFAULT
