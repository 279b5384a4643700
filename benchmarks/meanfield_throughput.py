"""Throughput of the two-layer-network energy (issue 13 "Performance").

One drift evaluation at the measure's own points, residuals f_μ(z_j) − y_j from all n
points and then ∇x δF/δμ at every point (tanh, output weight learned, d = p + 1), in
(points × data points)/s, against the plain NumPy evaluation with dense (n, M) matrices
(:func:`grids.reference_meanfield.drift`) in the same run; the results are compared
(max relative difference). Then the particle simulator's step rate with the energy
(overdamped Euler, free space). Best of ``REPS`` repetitions (the machine may be shared).
Targets: ≥ 3× NumPy and ≥ 1.5e8 pairs/s on 2 cores.

    python benchmarks/meanfield_throughput.py
"""

from __future__ import annotations

import time

import numba
import numpy as np

from vfp.grids import reference_meanfield as ref
from vfp.grids.meanfield import TwoLayerNetwork
from vfp.particles import PolynomialND, simulate

REPS = 3
CASES = [(10_000, 100, 1), (10_000, 1000, 2), (100_000, 100, 2), (20_000, 1000, 10),
         (100_000, 1000, 2)]
STEP_CASES = [(10_000, 100, 2, 20), (100_000, 1000, 2, 3)]


def _problem(n, m, p, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(m, p))
    y = np.tanh(z @ rng.normal(size=p))
    x = rng.normal(size=(n, p + 1))
    return TwoLayerNetwork(z, y, "tanh", "learned"), x, np.full(n, 1.0 / n), z, y


def _best(fn, reps=REPS):
    best = np.inf
    out = None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main():
    print(f"threads: {numba.get_num_threads()}; best of {REPS}; tanh, output weight learned")
    print(f"{'N':>8} {'M':>6} {'p':>3} {'compiled pairs/s':>17} {'numpy pairs/s':>14} "
          f"{'speed-up':>9} {'max rel diff':>13}")
    net, x, w, _, _ = _problem(64, 8, 2)
    net.drift(x, x, w)                                     # compile / load
    for n, m, p in CASES:
        net, x, w, z, y = _problem(n, m, p)
        tc, g = _best(lambda: net.drift(x, x, w))
        reps_np = 1 if n * m > 5e7 else REPS
        tn, g_ref = _best(lambda: ref.drift(x, x, w, z, y, "tanh", "learned"), reps_np)
        diff = np.abs(g - g_ref).max() / np.abs(g_ref).max()
        print(f"{n:>8} {m:>6} {p:>3} {n * m / tc:>17.3e} {n * m / tn:>14.3e} "
              f"{tn / tc:>9.1f} {diff:>13.1e}", flush=True)
    print("particle steps with the energy (overdamped Euler, free space, V = |x|²/4):")
    for n, m, p, steps in STEP_CASES:
        net, x, _, _, _ = _problem(n, m, p)
        force = PolynomialND.quadratic(0.5 * np.eye(p + 1))

        def run():
            return simulate(x, None, grad_potential=force, temperature=0.05, dt=0.01,
                            snapshots=[0.01 * steps], domain=None, seed=1, energy=net)
        run()
        best = min(run().solve_time for _ in range(REPS))
        print(f"  N = {n}, M = {m}, p = {p}: {n * steps / best:.3e} particle-steps/s, "
              f"{n * m * steps / best:.3e} pairs/s ({steps} steps in {best:.3g} s)",
              flush=True)


if __name__ == "__main__":
    main()
