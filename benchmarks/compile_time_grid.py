"""Compile and load time of the grid kernels a run uses (issue 10 item 6).

Run as ``python benchmarks/compile_time_grid.py [CONFIG.toml ...]`` (default
``examples/quickstart.toml``). For each config, two fresh interpreters share an empty
``NUMBA_CACHE_DIR``: the first compiles the grid loop the config uses (cold), the second
loads it from the on-disk cache (warm). Each prints the seconds :func:`grid_compile_time`
measures: the time ``solve`` spends before its first step (``GridSolution.compile_time``),
plus the import of the package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def grid_compile_time(config_path) -> dict:
    """Seconds to import the grid package and compile (or load) the loop of one config.

    Solves the config's grid problem up to a tiny time (one step or so), in this process.

    Returns
    -------
    dict with ``import`` (s), ``compile`` (``GridSolution.compile_time``, s), ``scheme``,
    ``cpu`` (CPU seconds of the solve, all threads: the compile on a shared machine)
    """
    t0 = time.perf_counter()
    from vfp.config import load
    from vfp.grids.solver import solve
    from vfp.model import grid_problem
    t_import = time.perf_counter() - t0
    cfg = load(config_path)
    problem, initial, _ = grid_problem(cfg.model, cfg.grid, cfg.initial)
    cpu0 = time.process_time()
    sol = solve(problem, initial, [1e-9], scheme=cfg.grid.scheme, cfl=cfg.grid.effective_cfl(),
                dt=cfg.grid.dt)
    return {"import": t_import, "compile": sol.compile_time, "scheme": sol.scheme,
            "cpu": time.process_time() - cpu0}


def _child(config_path, cache_dir):
    code = ("import json, sys; sys.path.insert(0, %r); from compile_time_grid import grid_compile_time;"
            " print(json.dumps(grid_compile_time(%r)))" % (str(ROOT / "benchmarks"),
                                                          str(config_path)))
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv):
    configs = [Path(a) for a in argv] or [ROOT / "examples" / "quickstart.toml"]
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    for cfg in configs:
        with tempfile.TemporaryDirectory() as cache:
            cold = _child(cfg, cache)
            warm = _child(cfg, cache)
        print(f"{cfg.name}: scheme {cold['scheme']}: grid compile cold {cold['compile']:.2f} s "
              f"(cpu {cold['cpu']:.2f} s), warm (second process) {warm['compile']:.2f} s "
              f"(cpu {warm['cpu']:.2f} s); import {cold['import']:.2f} s / {warm['import']:.2f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
