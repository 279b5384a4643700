"""Throughput and work–precision of the grid solver.

Run as ``python benchmarks/grid_throughput.py [--quick] [--cold]``.

* Throughput: cell-updates per second = cells × steps / solve time, for ``upwind`` and
  ``muscl`` (one *full* SSP-RK2 step, i.e. two stages, counts as one update) on kinetic
  grids 256², 512², 1024² and overdamped grids of 10⁴ and 10⁵ cells. Problem: V = x²/2,
  γ = 1, λ = 0.5, no interaction (plus one row with a quadratic interaction, FFT each
  stage); diagnostics (incl. free energy) sampled every 100 steps.
* Compilation: the first solve of the process reports its kernel compile/load time apart
  from the solve time; a fresh subprocess then loads the kernels from Numba's on-disk
  cache (``cache=True``) and reports its warm-up time. ``--cold`` also times a compile
  into an empty cache directory.
* Work–precision: kinetic, V = x²/2, γ = 1, λ = 0.5, no interaction, initial Gaussian
  mean (1.5, 0), std (0.3, 0.3), domain [−6, 6]², t = 1; L1 error against the cell
  averages of the exact Gaussian solution vs solve time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from vfp.grids.grid import Axis  # noqa: E402
from vfp.grids.quadrature import cell_averages_1d, cell_averages_2d  # noqa: E402
from vfp.grids.solver import KineticProblem, OverdampedProblem, SCHEMES, solve  # noqa: E402
from vfp.validation.exact import gaussian_pdf_1d, gaussian_pdf_2d, kinetic_gaussian_moments  # noqa


def harmonic(x):
    return 0.5 * x ** 2


def harmonic_grad(x):
    return np.asarray(x, dtype=float)


def kin_setup(n, interaction=False):
    x = v = Axis(-6.0, 6.0, n)
    extra = (harmonic, harmonic_grad) if interaction else ()
    p = KineticProblem(x, v, 1.0, 0.5, harmonic, harmonic_grad, *extra)
    f0 = cell_averages_2d(lambda a, b: gaussian_pdf_2d(a, b, np.array([1.5, 0.0]),
                                                       np.diag([0.09, 0.09])), x, v)
    vc, vf = v.centres, v.edges
    amax = max(abs(vf[1]) + 6.0, abs(vf[-2]) + 6.0)
    rate = np.max(np.abs(vc)) / x.h + amax / v.h + 2 * 0.5 / v.h ** 2
    return p, f0, rate


def od_setup(n, interaction=False):
    x = Axis(-6.0, 6.0, n)
    extra = (harmonic, harmonic_grad) if interaction else ()
    p = OverdampedProblem(x, 0.5, harmonic, harmonic_grad, *extra)
    r0 = cell_averages_1d(lambda a: gaussian_pdf_1d(a, 1.5, 0.09), x)
    rate = 6.0 / x.h + 2 * 0.5 / x.h ** 2
    return p, r0, rate


def throughput(setup, n, scheme, work, interaction=False):
    p, s0, rate = setup(n, interaction)
    cls = SCHEMES[scheme]
    cells = s0.size
    steps = int(max(20, min(20000, work / cells / (2 if scheme == "muscl" else 1))))
    t_end = steps * cls.default_cfl / rate
    sol = solve(p, s0, [t_end], scheme=scheme, diagnostics_every=100)
    assert sol.success, sol.message
    return cells, sol.n_steps, sol.solve_time, cells * sol.n_steps / sol.solve_time, \
        sol.compile_time


def subprocess_warmup(env=None):
    code = ("import time; t0=time.perf_counter(); import vfp.grids.solver as s; "
            "a=s.warm_up(True); b=s.warm_up(False); "
            "print(f'{a:.3f} {b:.3f} {time.perf_counter()-t0:.3f}')")
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True,
                         text=True, check=True)
    return [float(w) for w in out.stdout.split()]


def work_precision(ns, schemes=("upwind", "muscl", "sg_imex")):
    rows = []
    m, c = kinetic_gaussian_moments(1.0, [1.5, 0.0], np.diag([0.09, 0.09]), 1.0, 0.0, 1.0, 0.5)
    for scheme in schemes:
        for n in ns:
            p, f0, _ = kin_setup(n)
            exact = cell_averages_2d(lambda a, b: gaussian_pdf_2d(a, b, m, c), p.x, p.v)
            t0 = time.perf_counter()
            sol = solve(p, f0, [1.0], scheme=scheme, diagnostics_every=100)
            wall = time.perf_counter() - t0
            err = np.abs(sol.states[-1] - exact).sum() * p.x.h * p.v.h
            rows.append((scheme, n, sol.n_steps, err, sol.solve_time, wall))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller grids and fewer steps")
    ap.add_argument("--cold", action="store_true", help="also time a compile into an empty cache")
    args = ap.parse_args(argv)
    import numba
    print(f"numba {numba.__version__}, threads {numba.get_num_threads()}, "
          f"layer {os.environ.get('NUMBA_THREADING_LAYER', 'default')}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, cpus {os.cpu_count()}")

    # compile / cache
    t0 = time.perf_counter()
    import vfp.grids.solver as gs
    ck = gs.warm_up(True)
    co = gs.warm_up(False)
    print(f"\nkernel compile/load in this process: kinetic {ck:.2f} s, overdamped {co:.2f} s")
    a, b, tot = subprocess_warmup()
    print(f"second process (on-disk cache): kinetic {a:.2f} s, overdamped {b:.2f} s, "
          f"including imports {tot:.2f} s")
    if args.cold:
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, NUMBA_CACHE_DIR=d)
            a, b, tot = subprocess_warmup(env)
            print(f"cold compile (empty cache dir): kinetic {a:.2f} s, overdamped {b:.2f} s")

    work = 5e7 if args.quick else 4e8
    kin_ns = (256, 512) if args.quick else (256, 512, 1024)
    od_ns = (10_000, 100_000)
    print("\nthroughput (cell-updates/s = cells × steps / solve time; muscl: full 2-stage step)")
    print(f"{'regime':<11}{'scheme':<8}{'grid':>11}{'interaction':>12}{'steps':>8}"
          f"{'solve s':>9}{'Mcell-upd/s':>13}")
    for scheme in ("upwind", "muscl"):
        for n in kin_ns:
            cells, steps, st, rate, _ = throughput(kin_setup, n, scheme, work)
            print(f"{'kinetic':<11}{scheme:<8}{f'{n}x{n}':>11}{'no':>12}{steps:>8}{st:>9.2f}"
                  f"{rate / 1e6:>13.1f}")
        cells, steps, st, rate, _ = throughput(kin_setup, 512, scheme, work, True)
        print(f"{'kinetic':<11}{scheme:<8}{'512x512':>11}{'quadratic':>12}{steps:>8}"
              f"{st:>9.2f}{rate / 1e6:>13.1f}")
        for n in od_ns:
            cells, steps, st, rate, _ = throughput(od_setup, n, scheme, work / 4)
            print(f"{'overdamped':<11}{scheme:<8}{n:>11}{'no':>12}{steps:>8}{st:>9.2f}"
                  f"{rate / 1e6:>13.1f}")
        for n in od_ns:
            cells, steps, st, rate, _ = throughput(od_setup, n, scheme, work / 20, True)
            print(f"{'overdamped':<11}{scheme:<8}{n:>11}{'quadratic':>12}{steps:>8}{st:>9.2f}"
                  f"{rate / 1e6:>13.1f}")

    ns = (64, 128, 256) if args.quick else (64, 128, 256, 512)
    print("\nwork-precision: kinetic V=x²/2, γ=1, λ=0.5, N((1.5,0), 0.3²I), [-6,6]², t=1")
    print(f"{'scheme':<8}{'grid':>9}{'steps':>8}{'L1 error':>12}{'solve s':>9}{'wall s':>9}"
          f"{'order':>7}")
    prev = {}
    for scheme, n, steps, err, st, wall in work_precision(ns):
        o = f"{np.log2(prev[scheme] / err):7.2f}" if scheme in prev else f"{'':>7}"
        prev[scheme] = err
        print(f"{scheme:<8}{f'{n}x{n}':>9}{steps:>8}{err:>12.3e}{st:>9.2f}{wall:>9.2f}{o}")
    print(f"\ntotal benchmark time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
