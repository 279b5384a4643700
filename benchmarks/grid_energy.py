"""Cost of the 2-D overdamped grid solver's energy term with a tanh two-layer network.

A neuron is x = (w, a) ∈ [−3, 3]² (learned output weight, p = 1), M data points. One
stage evaluation of the energy's face drift (grids.overdamped2d.od2_add_energy_drift) is
one activation pass over the n cell centres: the residuals r_j = f_μ(z_j) − y_j with σ
kept in a store (n, M), then Φ_i = δF/δμ(x_i) by a mat-vec with the stored σ, then the
face differences (Φ_{i+1} − Φ_i)/h: n·M activations. Prints, per grid,

* cells × M per second of one stage evaluation (compiled, serial) and of the NumPy
  evaluation of the same quantity (grids.reference_meanfield: dense σ, then Φ, then
  differences), measured in the same run, and their ratio;
* seconds per upwind step (one stage) with and without the energy, and cells × M per
  second of the whole step.

Best of several repetitions (the machine may be shared). Runs in well under 2 minutes
after compilation.

    python benchmarks/grid_energy.py
"""

from __future__ import annotations

import time

import numpy as np

from vfp.grids import reference_meanfield as rm
from vfp.grids.grid import Axis
from vfp.grids.meanfield import TwoLayerNetwork
from vfp.grids.overdamped2d import od2_add_energy_drift, pack_overdamped2d
from vfp.grids.solver import OverdampedProblem2D, cell_measure, solve


def _v(a, b):
    return 0.5 * (a * a + b * b)


def _dv(a, b):
    return a, b


def _best(fn, repeats, min_time=0.2):
    """Best seconds per call of ``fn`` over ``repeats`` rounds of ≥ ``min_time`` each."""
    fn()
    best = np.inf
    for _ in range(repeats):
        k = 0
        t0 = time.perf_counter()
        while True:
            fn()
            k += 1
            el = time.perf_counter() - t0
            if el >= min_time:
                break
        best = min(best, el / k)
    return best


def numpy_face_terms(net, pts, w, h, shape):
    """The stage's energy face terms in NumPy: Φ at the centres, then differences."""
    phi = rm.first_variation(pts, pts, w, net.z, net.y, net.activation,
                             net.output_weight).reshape(shape)
    return np.diff(phi, axis=0) / h, np.diff(phi, axis=1) / h


def main(m=200, grids=(32, 64, 128), repeats=3):
    rng = np.random.default_rng(0)
    z = rng.uniform(-2.0, 2.0, size=(m, 1))
    net = TwoLayerNetwork(z, 0.8 * np.tanh(1.5 * z[:, 0]), "tanh", "learned")
    print(f"tanh network, learned output weight, M = {m} data points; upwind, λ = 0.1")
    print("cells × M / s: stage = one evaluation of the energy's face drift, "
          "step = one whole upwind step")
    for cells in grids:
        ax = Axis(-3.0, 3.0, cells)
        X1, X2 = np.meshgrid(ax.centres, ax.centres, indexing="ij")
        r0 = np.exp(-((X1 - 0.3) ** 2 + (X2 + 0.4) ** 2) / 0.2)
        r0 /= r0.sum() * ax.h ** 2
        n = cells * cells
        prob = OverdampedProblem2D(ax, ax, 0.1, _v, _dv, energy=net)

        # one stage evaluation, compiled and NumPy
        p = pack_overdamped2d(prob)
        a1 = np.zeros_like(r0)
        a2 = np.zeros_like(r0)
        t_stage = _best(lambda: od2_add_energy_drift(r0, p.mf, ax.h, ax.h, a1, a2), repeats)
        pts, w = cell_measure(prob, r0)
        t_np = _best(lambda: numpy_face_terms(net, pts, w, ax.h, r0.shape), repeats)

        # whole steps
        out = {}
        for label, energy in (("energy", net), ("no energy", None)):
            pr = OverdampedProblem2D(ax, ax, 0.1, _v, _dv, energy=energy)
            solve(pr, r0, [1e-6], scheme="upwind")              # compile / load
            best = np.inf
            steps = 0
            for _ in range(repeats):
                sol = solve(pr, r0, [0.2], scheme="upwind", diagnostics_every=10 ** 6)
                best = min(best, sol.solve_time / sol.n_steps)
                steps = sol.n_steps
            out[label] = (best, steps)
        t_e, steps = out["energy"]
        t_0, _ = out["no energy"]
        print(f"{cells}x{cells}: stage {n * m / t_stage:.3e} cells×M/s ({t_stage * 1e3:.3f} ms),"
              f" NumPy {n * m / t_np:.3e} ({t_np * 1e3:.3f} ms), ratio {t_np / t_stage:.1f}; "
              f"step {n * m / t_e:.3e} cells×M/s ({t_e * 1e3:.3f} ms/step, {steps} steps; "
              f"{t_0 * 1e3:.3f} ms/step without the energy)")


if __name__ == "__main__":
    main()
