"""The package's structure: one-way imports, no cycles, installable names.

The import graph is built from the source with :mod:`ast` (module-level and function-level
imports alike), so a lazy import inside a function cannot hide a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# source folder -> installed package name (pyproject's package-dir mapping)
PACKAGES = {"vfp": "vfp", "grids": "vfp.grids", "particles": "vfp.particles",
            "validation": "vfp.validation"}


def _modules() -> dict[str, Path]:
    out = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            out[name] = path
    return out


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def import_graph() -> dict[str, set[str]]:
    """module -> the package-internal modules it imports (anywhere in its source)."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        is_package = path.stem == "__init__"
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node.level, node.module)
                # "from pkg import mod" imports the submodule pkg.mod when there is one
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            else:
                continue
            for target in targets:
                # "import vfp.grids.solver" imports that module (and its packages)
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges.add(target)
        graph[name] = edges
    return graph


def _cycle(graph) -> list[str] | None:
    colour = dict.fromkeys(graph, 0)
    stack: list[str] = []

    def visit(node):
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if colour[nxt] == 1:
                return stack[stack.index(nxt):] + [nxt]
            if colour[nxt] == 0:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        colour[node] = 2
        return None

    for node in sorted(graph):
        if colour[node] == 0:
            found = visit(node)
            if found:
                return found
    return None


def test_graph_sees_known_edges():
    """The graph builder itself: edges that exist today are found (so an empty graph
    cannot pass the tests below)."""
    graph = import_graph()
    assert "vfp.pipeline" in graph["vfp.runner"]
    assert "vfp.grids.convolution2d" in graph["vfp.particles.interaction_nd"]  # relative import
    assert "vfp.grids.solver" in graph["vfp.pipeline"]                     # function-level


def test_cycle_detector_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    cycle = _cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("package, allowed", [
    ("vfp.grids", ("vfp.grids",)),
    ("vfp.particles", ("vfp.particles", "vfp.grids.convolution", "vfp.grids")),
    ("vfp.validation", ("vfp.validation",)),
])
def test_lower_layers_do_not_import_vfp(package, allowed):
    """grids, particles and validation take plain arrays and callables (DESIGN §7)."""
    bad = [f"{mod} -> {dep}" for mod, deps in import_graph().items()
           if mod == package or mod.startswith(package + ".")
           for dep in deps if not any(dep == a or dep.startswith(a + ".") for a in allowed)]
    assert not bad, bad


def test_top_level_names_stay_free():
    """Nothing is installed as top-level grids/particles/validation: outside the repository
    those names are free for PyPI's packages of the same names."""
    code = ("import importlib.util, vfp.grids, vfp.particles, vfp.validation; "
            "print([importlib.util.find_spec(n) is None for n in "
            "('grids', 'particles', 'validation')])")
    out = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[True, True, True]", out.stdout + out.stderr


def test_beside_pypi_particles(tmp_path):
    """vfp.particles and a distribution named ``particles`` import side by side: a stand-in
    top-level ``particles`` package on the path does not shadow vfp's."""
    fake = tmp_path / "particles"
    fake.mkdir()
    (fake / "__init__.py").write_text("WHO = 'pypi particles'\n")
    code = ("import particles, vfp.particles; "
            "print(particles.WHO); print(vfp.particles.simulate.__module__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    lines = out.stdout.split()
    assert out.stdout.splitlines()[0] == "pypi particles", out.stdout + out.stderr
    assert lines[-1].startswith("vfp.particles."), out.stdout


def test_public_entry_points():
    import vfp

    for name in ("run", "load_config", "loads_config", "Config", "ModelConfig", "potentials",
                 "RunResult", "read_run", "ConfigError"):
        assert getattr(vfp, name) is not None, name
    import vfp.particles
    import vfp.runner  # noqa: F401  -- importing the module must not shadow the function

    assert callable(vfp.run) and callable(vfp.particles.simulate)
