"""Particle simulator throughput in d = 1, 2, 3: prints particle-steps/s.

1. No interaction (blocked path), N = 10⁶, harmonic V = ½xᵀHx (H rotated in d = 2, 3;
   V = x²/2 in d = 1), for overdamped Euler, kinetic Euler and BAOAB, d = 1, 2, 3.
   Target: ≥ 2·10⁸ particle-steps/s for d = 2 kinetic on 2 threads.
2. d = 2 with the quadratic interaction (exact mean form), N = 10⁶, kinetic Euler and
   BAOAB.
3. d = 2 with a Gaussian interaction by the mesh (64 × 64 cells on [−3, 3]²), N = 10⁶,
   BAOAB.

Compile time is excluded (each configuration is run once on a small N first); each rate
is the best of 3 repeats (the machine may be shared). One "particle-step" advances one
particle (all d coordinates) by one time step. Usage:
``python benchmarks/particle_throughput_nd.py [--n 1000000] [--steps 20]``.
"""

from __future__ import annotations

import argparse
import os
import sys

import numba
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vfp.particles import GaussianKernel, Polynomial, PolynomialND, Quadratic, simulate  # noqa: E402

HESSIANS = {2: np.array([[1.2, 0.3], [0.3, 0.8]]),
            3: np.array([[1.0, 0.2, -0.1], [0.2, 0.7, 0.15], [-0.1, 0.15, 1.3]])}
REPEATS = 3


def _force(d):
    return Polynomial([0.0, 1.0]) if d == 1 else PolynomialND.quadratic(HESSIANS[d])


def rate(d, scheme, kinetic, n, steps, interaction=None, method="auto", cells=None):
    rng = np.random.default_rng(0)
    shape = (n,) if d == 1 else (n, d)
    x0 = rng.normal(0.0, 0.5, shape)
    v0 = rng.normal(0.0, 0.5, shape) if kinetic else None
    dt = 0.01
    kw = dict(grad_potential=_force(d), interaction=interaction, temperature=0.5, dt=dt,
              snapshots=[steps * dt], domain=(-3.0, 3.0), scheme=scheme,
              interaction_method=method, mesh_cells=cells, seed=1)
    small = (slice(0, 2048),) if d == 1 else (slice(0, 2048), slice(None))
    simulate(x0[small], None if v0 is None else v0[small], **kw)          # compile
    best = np.inf
    for _ in range(REPEATS):
        sol = simulate(x0, v0, **kw)
        assert sol.success, sol.message
        best = min(best, sol.solve_time)
    return n * steps / best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args()
    print(f"threads = {numba.get_num_threads()}, N = {a.n}, {a.steps} steps of 0.01, "
          f"best of {REPEATS}")
    print(f"{'case':44s} {'particle-steps/s':>18s}")
    for d in (1, 2, 3):
        for scheme, kinetic in (("euler", False), ("euler", True), ("baoab", True)):
            name = f"d={d} {scheme} {'kinetic' if kinetic else 'overdamped'} no interaction"
            print(f"{name:44s} {rate(d, scheme, kinetic, a.n, a.steps):18.3e}", flush=True)
    for scheme in ("euler", "baoab"):
        name = f"d=2 {scheme} kinetic quadratic (exact)"
        r = rate(2, scheme, True, a.n, a.steps, interaction=Quadratic(0.5))
        print(f"{name:44s} {r:18.3e}", flush=True)
    name = "d=2 baoab kinetic Gaussian mesh 64x64"
    r = rate(2, "baoab", True, a.n, a.steps, interaction=GaussianKernel(0.5, 0.5),
             method="mesh", cells=64)
    print(f"{name:44s} {r:18.3e}", flush=True)


if __name__ == "__main__":
    main()
