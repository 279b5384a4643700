"""Per-step cost of the 2-D overdamped grid solver with a tanh two-layer-network energy.

A neuron is x = (w, a) ∈ [−3, 3]² (learned output weight, p = 1), M data points; one
upwind step evaluates the residuals at the n cell centres and the drift at the 2n faces,
about 3·n·M activations. Prints, per grid, the seconds per step, cells × M per second of
the whole step, and the same step without the energy; and the NumPy twin of one drift
evaluation (grids.reference_meanfield) for comparison. Runs in well under 2 minutes
(after compilation, which is reported separately).

    python benchmarks/grid_energy.py
"""

from __future__ import annotations

import time

import numpy as np

from vfp.grids import reference_meanfield as rm
from vfp.grids.grid import Axis
from vfp.grids.meanfield import TwoLayerNetwork
from vfp.grids.solver import OverdampedProblem2D, cell_measure, solve


def _v(a, b):
    return 0.5 * (a * a + b * b)


def _dv(a, b):
    return a, b


def main(m=200, grids=(32, 64, 128), repeats=3):
    rng = np.random.default_rng(0)
    z = rng.uniform(-2.0, 2.0, size=(m, 1))
    net = TwoLayerNetwork(z, 0.8 * np.tanh(1.5 * z[:, 0]), "tanh", "learned")
    print(f"tanh network, learned output weight, M = {m} data points; upwind, λ = 0.1")
    for cells in grids:
        ax = Axis(-3.0, 3.0, cells)
        X1, X2 = np.meshgrid(ax.centres, ax.centres, indexing="ij")
        r0 = np.exp(-((X1 - 0.3) ** 2 + (X2 + 0.4) ** 2) / 0.2)
        r0 /= r0.sum() * ax.h ** 2
        out = {}
        for label, energy in (("energy", net), ("no energy", None)):
            prob = OverdampedProblem2D(ax, ax, 0.1, _v, _dv, energy=energy)
            solve(prob, r0, [1e-6], scheme="upwind")              # compile / load
            best = np.inf
            steps = 0
            for _ in range(repeats):
                sol = solve(prob, r0, [0.2], scheme="upwind", diagnostics_every=10 ** 6)
                best = min(best, sol.solve_time / sol.n_steps)
                steps = sol.n_steps
            out[label] = (best, steps)
        n = cells * cells
        t_e, steps = out["energy"]
        t_0, _ = out["no energy"]
        print(f"{cells}x{cells}: {t_e * 1e3:8.3f} ms/step with the energy ({steps} steps), "
              f"{t_0 * 1e3:7.3f} ms/step without; cells x M / s = {n * m / t_e:.3e} "
              f"(energy part alone {n * m / (t_e - t_0):.3e})")
        pts, w = cell_measure(OverdampedProblem2D(ax, ax, 0.1, _v, _dv), r0)
        t0 = time.perf_counter()
        rm.drift(np.concatenate([pts, pts]), pts, w, net.z, net.y, "tanh", "learned")
        t_np = time.perf_counter() - t0
        print(f"{'':>{len(str(cells)) * 2 + 2}}NumPy twin of one drift evaluation (residuals + 2n "
              f"queries): {t_np * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
