"""First-run (cold) and second-run (warm) cost of the particle simulator's Numba kernels.

Each measurement is a fresh Python process with ``NUMBA_CACHE_DIR`` pointing at a
temporary directory: the first process of a case starts from an empty cache (cold: every
kernel the run uses is compiled and written to the cache), the following ones load it
(warm). A process reports the import time of ``vfp.particles``; a first call on 2 particles with
the run's types (the simulator's own ``compile_time`` — compiling or loading every kernel
the run uses — and that call's wall and CPU seconds; CPU seconds are the figure to trust on
a loaded machine); the full run's solve time; and which compiled kernels it holds.

Cases:

* ``quickstart`` — ``examples/quickstart.toml``'s particle part: kinetic BAOAB,
  N = 10⁵, V = x²/2 (a degree-1 Polynomial force), W = 0.25 x² (Quadratic κ = 0.5, the
  exact mean path), domain [−6, 6], η = 0.005, t = 0 … 5;
* ``free`` — overdamped Euler, double well, no interaction (the blocked path), N = 10⁵;
* ``mesh`` — kinetic Euler, double well, Gaussian kernel by the mesh, N = 10⁵.

Usage: ``python benchmarks/compile_time_particles.py [--cases quickstart free mesh]
[--warm 2]``. :func:`measure` returns the figures for a pipeline-wide benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import vfp.particles as P
t_import = time.perf_counter() - t0
case = {case!r}
rng = np.random.default_rng(1)
n = 100000
if case == "quickstart":
    x0 = rng.normal(1.5, 0.3, n); v0 = rng.normal(0.0, 0.3, n)
    kw = dict(grad_potential=P.Polynomial([0.0, 1.0]), interaction=P.Quadratic(0.5),
              gamma=1.0, temperature=0.5, dt=0.005, snapshots=[0.0, 0.5, 1.0, 2.0, 5.0],
              domain=(-6.0, 6.0), scheme="baoab", interaction_method="auto", seed=1)
elif case == "free":
    x0 = rng.normal(0.0, 1.0, n); v0 = None
    kw = dict(grad_potential=P.Polynomial([0.0, -1.0, 0.0, 1.0]), temperature=0.5,
              dt=0.01, snapshots=[0.5, 1.0], domain=(-6.0, 6.0), scheme="euler", seed=1)
else:
    x0 = rng.normal(0.0, 1.0, n); v0 = rng.normal(0.0, 1.0, n)
    kw = dict(grad_potential=P.Polynomial([0.0, -1.0, 0.0, 1.0]),
              interaction=P.GaussianKernel(1.0, 0.3), interaction_method="mesh",
              gamma=1.0, temperature=0.5, dt=0.01, snapshots=[0.1, 0.2],
              domain=(-6.0, 6.0), scheme="euler", seed=1)
# a 2-particle call first (same types, one short step): nearly all compiling / loading,
# timed in wall-clock and in CPU seconds (the CPU figure is robust to a loaded machine)
small = dict(kw, snapshots=[kw["dt"]])
w0, c0 = time.perf_counter(), time.process_time()
first = P.simulate(x0[:2], None if v0 is None else v0[:2], **small)
first_wall, first_cpu = time.perf_counter() - w0, time.process_time() - c0
t1 = time.perf_counter()
sol = P.simulate(x0, v0, **kw)
t_call = time.perf_counter() - t1
assert sol.success, sol.message
from numba.core.registry import CPUDispatcher
compiled = []
for name, mod in sorted(sys.modules.items()):
    if name.startswith(("vfp.particles", "vfp.grids")):
        for attr, obj in vars(mod).items():
            if isinstance(obj, CPUDispatcher) and obj.signatures and obj.__module__ == name:
                compiled.append(f"{{name.rsplit('.', 1)[-1]}}.{{attr}}")
print(json.dumps(dict(import_s=t_import, compile_s=first.compile_time, first_s=first_wall,
                      first_cpu_s=first_cpu, solve_s=sol.solve_time, call_s=t_call,
                      kernels=sorted(set(compiled)))))
"""


def _child(case, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    # run outside the source tree, so that the installed vfp is the one imported
    out = subprocess.run([sys.executable, "-c", _CHILD.format(case=case)], env=env, cwd=cache_dir,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(case="quickstart", warm_runs=2):
    """Cold then warm figures of one case, each in a fresh process.

    Returns
    -------
    dict
        ``cold``: the first process's figures (``import_s``, ``compile_s``, ``solve_s``,
        ``call_s``, ``kernels``); ``warm``: a list of ``warm_runs`` such dicts.
    """
    with tempfile.TemporaryDirectory(prefix="vfp-numba-cache-") as cache:
        cold = _child(case, cache)
        warm = [_child(case, cache) for _ in range(warm_runs)]
    return {"cold": cold, "warm": warm}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", default=["quickstart", "free", "mesh"],
                   choices=["quickstart", "free", "mesh"])
    p.add_argument("--warm", type=int, default=2, help="warm processes per case")
    args = p.parse_args(argv)
    import numba
    print(f"numba {numba.__version__}, cpus {os.cpu_count()}, load average "
          f"{os.getloadavg()[0]:.2f}; seconds. compile: the simulator's compile_time "
          "(compiling or loading every kernel the run uses), cpu: CPU seconds of that first "
          "call, total: import + first call + the run")
    print(f"{'case':<11} {'run':<5} {'import':>7} {'compile':>8} {'cpu':>7} {'solve':>7} "
          f"{'total':>7}  kernels")
    for case in args.cases:
        res = measure(case, args.warm)
        for label, r in [("cold", res["cold"])] + [("warm", w) for w in res["warm"]]:
            total = r["import_s"] + r["first_s"] + r["call_s"]
            print(f"{case:<11} {label:<5} {r['import_s']:>7.2f} {r['compile_s']:>8.2f} "
                  f"{r['first_cpu_s']:>7.2f} {r['solve_s']:>7.2f} {total:>7.2f}  "
                  f"{len(r['kernels'])}", flush=True)
        print(f"{'':<11} compiled: {', '.join(res['cold']['kernels'])}")


if __name__ == "__main__":
    main()
