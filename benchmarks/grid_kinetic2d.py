"""Throughput, accuracy and a big run of the 2x2v kinetic grid solver (grids.kinetic2d).

Run as ``python benchmarks/grid_kinetic2d.py [--quick] [--big [--big-steps K]]``.

* Throughput: cell-updates per second = cells × steps / solve time at 64⁴ for
  ``upwind``, ``muscl`` (one full SSP-RK2 step counts as one update) and ``sg_imex``,
  serial and on all threads (``NUMBA_NUM_THREADS``). Problem: the Gaussian case below.
* Accuracy: V = ½ xᵀHx with the rotated anisotropic H = [[1.2, 0.3], [0.3, 0.8]],
  γ = 1, λ = 0.5, no interaction, initial Gaussian mean (0.8, −0.4, 0, 0), std
  (0.4, 0.4, 0.5, 0.5), domain x ∈ [−3, 3]², v ∈ [−3.5, 3.5]² (the law at t ≤ 1 lies
  within 4.5 standard deviations of the mean in x, 5 in v), t = 1: L1 error of the
  x-marginal against the cell averages of the exact Gaussian (ORACLES "d dimensions")
  and wall time for each scheme at a few resolutions; prints which scheme/resolution
  meets L1 ≤ 2·10⁻² (and the stretch 10⁻²) within 60 s.
* ``--big``: 128⁴ (2.7·10⁸ cells), upwind: runs ``--big-steps`` steps (default 5), prints
  steps/s, the number of steps to t = 1, the extrapolated wall time and the peak RSS
  (``resource.getrusage``). Do not run it to t = 1 on a shared machine.
* ``--big-full``: the same 128⁴ upwind run to t = 1 in full through ``grids.solver.solve``
  (threads, ``keep_states=False``): wall time, steps, x-marginal L1 against the exact
  Gaussian, mass drift, minimum, peak RSS. About half an hour on 2 idle cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from vfp.grids.grid import Axis  # noqa: E402
from vfp.grids.kinetic2d import KineticProblem2D, SCHEMES_2D  # noqa: E402
from vfp.grids.reference_kinetic2d import (gaussian_cell_averages_2d,  # noqa: E402
                                           gaussian_cell_averages_4d, gaussian_moments_2x2v)
from vfp.grids.scheme import control  # noqa: E402
from vfp.grids.driver import N_DIAG  # noqa: E402
from vfp.grids.solver import solve  # noqa: E402

H = np.array([[1.2, 0.3], [0.3, 0.8]])
GAMMA, LAM = 1.0, 0.5
MEAN0 = np.array([0.8, -0.4, 0.0, 0.0])
STD0 = np.array([0.4, 0.4, 0.5, 0.5])
LX, LV = 3.0, 3.5


def potential(x1, x2):
    return 0.5 * (H[0, 0] * x1 * x1 + 2.0 * H[0, 1] * x1 * x2 + H[1, 1] * x2 * x2)


def grad_potential(x1, x2):
    return H[0, 0] * x1 + H[0, 1] * x2, H[0, 1] * x1 + H[1, 1] * x2


def setup(n, nv=None):
    nv = n if nv is None else nv
    x = Axis(-LX, LX, n)
    v = Axis(-LV, LV, nv)
    prob = KineticProblem2D(x, x, v, v, GAMMA, LAM, potential, grad_potential)
    f0 = gaussian_cell_averages_4d((x, x, v, v), MEAN0, STD0)
    return prob, f0


def throughput(n, scheme, parallel, steps):
    """(cell-updates/s, s/step) of ``steps`` steps of ``scheme`` at n⁴."""
    prob, f0 = setup(n)
    cls = SCHEMES_2D[scheme]
    packed = cls.pack(prob, parallel)
    cls.warm_up("kinetic2d", f0, packed, parallel)
    loop = cls.loop("kinetic2d", parallel)
    best = np.inf
    for rep in range(3):
        state = f0.copy()
        spare = np.empty_like(state)
        diag = np.empty((4, N_DIAG))
        t0 = time.perf_counter()
        st, t, k, step, nd, dt, mn, mx = loop(
            state, spare, packed, control(cls.default_cfl, 0.0, 0.0, 1e9, False, False,
                                          steps, 0, 10 ** 9), diag,
            np.zeros(2, dtype=np.int64))
        el = time.perf_counter() - t0
        best = min(best, el / k)
    return state.size / best, best


def accuracy(n, scheme, t_end=1.0):
    prob, f0 = setup(n)
    sol = solve(prob, f0, [t_end], scheme=scheme, keep_states=False, diagnostics_every=50)
    mean, cov = gaussian_moments_2x2v(t_end, MEAN0, np.diag(STD0 ** 2), H, 0.0, GAMMA, LAM)
    exact = gaussian_cell_averages_2d(prob.x1, prob.x2, mean[:2], cov[:2, :2])
    err = np.abs(sol.rho[-1] - exact).sum() * prob.x1.h * prob.x2.h
    return err, sol.solve_time, sol.compile_time, sol.n_steps, sol.success


def peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller accuracy study")
    ap.add_argument("--big", action="store_true", help="128^4 run (a few steps)")
    ap.add_argument("--big-steps", type=int, default=5)
    ap.add_argument("--big-full", action="store_true", help="128^4 upwind run to t = 1 in full")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-accuracy", action="store_true")
    args = ap.parse_args()
    import numba
    print(f"threads: {numba.config.NUMBA_NUM_THREADS}")
    if not args.skip_throughput:
        print("\n# throughput at 64^4 (best of 3 runs; M cell-updates/s, ms/step)")
        for scheme, steps in (("upwind", 10), ("muscl", 5), ("sg_imex", 5)):
            for par in (False, True):
                rate, sec = throughput(64, scheme, par, steps)
                print(f"{scheme:8s} {'parallel' if par else 'serial  '}  "
                      f"{rate / 1e6:8.1f} M/s  {sec * 1e3:8.1f} ms/step")
    if not args.skip_accuracy:
        print("\n# 2x2v Gaussian to t = 1: x-marginal L1 against exact, wall time")
        sizes = {"upwind": (16, 24), "muscl": (16, 24), "sg_imex": (16, 24, 32)}
        if not args.quick:
            sizes = {"upwind": (16, 24, 32), "muscl": (16, 24, 32, 40),
                     "sg_imex": (16, 24, 32, 40, 48)}
        best = {}
        for scheme, ns in sizes.items():
            for n in ns:
                err, ts, tc, steps, ok = accuracy(n, scheme)
                print(f"{scheme:8s} n={n:3d}^4  L1={err:.3e}  solve {ts:7.2f} s  "
                      f"(compile {tc:5.1f} s, {steps} steps{'' if ok else ', FAILED'})")
                for target in (2e-2, 1e-2):
                    if ok and err <= target and ts <= 60.0:
                        if target not in best or ts < best[target][2]:
                            best[target] = (scheme, n, ts, err)
        for target in (2e-2, 1e-2):
            if target in best:
                s, n, ts, err = best[target]
                print(f"L1 <= {target:g} in <= 60 s: fastest {s} at {n}^4 "
                      f"({ts:.1f} s, L1 {err:.2e})")
            else:
                print(f"L1 <= {target:g} in <= 60 s: not met by these runs")
    if args.big:
        n = 128
        print(f"\n# big: {n}^4 = {n ** 4:.3g} cells, upwind, {args.big_steps} steps")
        prob, f0 = setup(n)
        cls = SCHEMES_2D["upwind"]
        packed = cls.pack(prob, True)
        loop = cls.loop("kinetic2d", True)
        spare = np.empty_like(f0)
        diag = np.empty((4, N_DIAG))
        cnt = np.zeros(2, dtype=np.int64)
        t = loop(f0, spare, packed, control(0.9, 0.0, 0.0, 1e9, False, False, 1, 0, 10 ** 9),
                 diag, cnt)[1]                            # compile + one step
        t0 = time.perf_counter()
        st, t, k, step, nd, dt, mn, mx = loop(
            f0, spare, packed, control(0.9, 0.0, t, 1e9, False, False, args.big_steps, 1,
                                       10 ** 9), diag, cnt)
        el = time.perf_counter() - t0
        steps_to_1 = int(np.ceil(1.0 / dt))
        print(f"{k / el:.3f} steps/s ({f0.size * k / el / 1e6:.0f} M cell-updates/s), "
              f"dt {dt:.3g}: {steps_to_1} steps to t = 1, extrapolated "
              f"{steps_to_1 * el / k / 60:.1f} min; peak RSS {peak_rss_gb():.2f} GB "
              f"(state + spare = {2 * f0.nbytes / 1e9:.2f} GB)")
    if args.big_full:
        big_full(128)


def big_full(n, t_end=1.0):
    """128⁴ upwind to ``t_end`` through the public solver; prints time, accuracy, memory."""
    print(f"\n# big, in full: {n}^4 = {n ** 4:.3g} cells, upwind, t = 0 -> {t_end}", flush=True)
    prob, f0 = setup(n)
    mass0 = f0.sum(dtype=np.float64) * prob.x1.h * prob.x2.h * prob.v1.h * prob.v2.h
    last = [time.perf_counter()]

    def progress(t, steps):
        now = time.perf_counter()
        if now - last[0] > 60.0:
            last[0] = now
            print(f"  t = {t:.4f}, {steps} steps, RSS peak {peak_rss_gb():.2f} GB", flush=True)

    t0 = time.perf_counter()
    sol = solve(prob, f0, [0.0, t_end], scheme="upwind", keep_states=False,
                diagnostics_every=100, on_progress=progress)
    wall = time.perf_counter() - t0
    mean, cov = gaussian_moments_2x2v(t_end, MEAN0, np.diag(STD0 ** 2), H, 0.0, GAMMA, LAM)
    exact = gaussian_cell_averages_2d(prob.x1, prob.x2, mean[:2], cov[:2, :2])
    err = np.abs(sol.rho[-1] - exact).sum() * prob.x1.h * prob.x2.h
    mass = sol.diagnostics["mass"]
    print(f"status {sol.status} ({sol.message}); {sol.n_steps} steps; wall {wall / 60:.1f} min "
          f"(compile {sol.compile_time:.1f} s, solve {sol.solve_time / 60:.1f} min, "
          f"{f0.size * sol.n_steps / sol.solve_time / 1e6:.0f} M cell-updates/s)")
    print(f"x-marginal L1 at t = {t_end}: {err:.3e}; mass drift {abs(mass[-1] - mass0):.2e}; "
          f"peak RSS {peak_rss_gb():.2f} GB (one 4-D state {f0.nbytes / 1e9:.2f} GB)")


if __name__ == "__main__":
    main()
