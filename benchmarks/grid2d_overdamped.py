"""Throughput of the 2-D overdamped grid solver: cell-updates per second per scheme.

Problem: V = ½ xᵀHx (H = [[1.2, 0.3], [0.3, 0.8]]), λ = 0.25, on [−4, 4]², Gaussian start;
with and without the quadratic interaction W = κ|r|²/2 (κ = 0.5, by 2-D FFT). For each
scheme and grid (256², 512²) the loop is compiled (or loaded) first, then a run of a fixed
number of steps is timed (best of ``REPS``); cell-updates/s = cells × steps / seconds. The
implicit scheme runs with a fixed ``dt`` (its steps are not CFL-limited, so the figure
per step is what compares). The threaded build is used (≥ 32768 cells).

Run:  python benchmarks/grid2d_overdamped.py [--quick]      (≤ 2 min on a quiet machine)
"""

from __future__ import annotations

import sys
import time

import numba
import numpy as np

from vfp.grids.driver import N_DIAG
from vfp.grids.grid import Axis
from vfp.grids.overdamped2d import SCHEMES_2D, OverdampedProblem2D
from vfp.grids.scheme import control

H = np.array([[1.2, 0.3], [0.3, 0.8]])
REPS = 3


def _problem(n, interaction):
    ax = Axis(-4.0, 4.0, n)
    extra = (lambda r: 0.25 * r * r, lambda r: 0.5 * r) if interaction else ()
    return OverdampedProblem2D(
        ax, ax, 0.25, lambda a, b: 0.5 * (H[0, 0] * a * a + 2 * H[0, 1] * a * b + H[1, 1] * b * b),
        lambda a, b: (H[0, 0] * a + H[0, 1] * b, H[0, 1] * a + H[1, 1] * b), *extra)


def _initial(prob):
    c = prob.x1.centres
    r = np.exp(-((c[:, None] - 0.8) ** 2 + (c[None, :] + 0.4) ** 2) / 0.5)
    return r / (r.sum() * prob.x1.h * prob.x2.h)


def measure(name, n, interaction, steps):
    cls = SCHEMES_2D[name]
    prob = _problem(n, interaction)
    state0 = _initial(prob)
    par = cls.parallel(prob)
    packed = cls.pack(prob, par)
    t_compile = cls.warm_up("overdamped2d", state0, packed, par)
    loop = cls.loop("overdamped2d", par)
    dt_fixed = 1e-3 if cls.implicit else 0.0
    best = np.inf
    for _ in range(REPS):
        state = state0.copy()
        ctl = control(cls.default_cfl, dt_fixed, 0.0, 1e9, False, False, steps, 0, 10 ** 9)
        t0 = time.perf_counter()
        st, t, nsteps, *_ = loop(state, np.empty_like(state), packed, ctl,
                                 np.empty((1, N_DIAG)), np.zeros(2, dtype=np.int64))
        best = min(best, time.perf_counter() - t0)
        assert nsteps == steps and st == 1, (st, nsteps)
    return n * n * steps / best, best / steps, t_compile


def main():
    quick = "--quick" in sys.argv
    sizes = (256,) if quick else (256, 512)
    print(f"numba {numba.__version__}, threads {numba.get_num_threads()}; "
          f"best of {REPS}; cell-updates/s = cells x steps / s")
    print(f"{'scheme':<12} {'grid':>7} {'W':>4} {'Mcell-upd/s':>12} {'ms/step':>9} "
          f"{'compile s':>10}")
    for name in ("upwind", "muscl", "sg_implicit"):
        for n in sizes:
            for interaction in (False, True):
                steps = max(4, int(4e6 / (n * n)))
                rate, per_step, tc = measure(name, n, interaction, steps)
                print(f"{name:<12} {n:>4}^2 {'yes' if interaction else 'no':>4} "
                      f"{rate / 1e6:>12.1f} {1e3 * per_step:>9.2f} {tc:>10.2f}", flush=True)


if __name__ == "__main__":
    main()
