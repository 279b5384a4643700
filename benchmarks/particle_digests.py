"""Digests of the particle simulator's output over every code path, for bit-identity checks.

One line per case: scheme × regime × force form × interaction (kind and method) ×
reflection (a narrow domain that reflects many particles, a wide one that reflects none)
× compiled path (blocked or streaming, for runs without interaction), plus a diverging
run. Each line is a SHA-256 of the bytes of every snapshot (x, v), the final state, the
reflection count and the step count. Run it before and after a change and ``diff``::

    python benchmarks/particle_digests.py > before.txt
    # ... change the code ...
    python benchmarks/particle_digests.py > after.txt
    diff before.txt after.txt && echo bit-identical

Only ``simulate`` and the force/interaction specs are used, through names that exist
before and after the module rename (``vfp.particles.simulate`` the function).
"""

from __future__ import annotations

import hashlib
import sys

import numpy as np

from vfp.particles import GaussianKernel, Polynomial, Quadratic, TabulatedKernel, simulate

N = 2001                        # odd, not a multiple of the block size
FORCES = {
    "const": Polynomial([0.4]),
    "linear": Polynomial([0.3, 1.2]),
    "quadratic": Polynomial([0.1, 0.5, -0.2]),
    "cubic": Polynomial([0.2, -1.0, 0.3, 1.0]),
    "quintic": Polynomial([0.0, -1.0, 0.0, 0.5, 0.0, 0.05]),
    "callable": lambda x: np.sin(x) + x,
}
INTERACTIONS = {
    "none": (None, "auto"),
    "quadratic": (Quadratic(0.8), "auto"),
    "gauss_pairwise": (GaussianKernel(0.7, 0.4), "pairwise"),
    "gauss_mesh": (GaussianKernel(0.7, 0.4), "mesh"),
    "callable_pairwise": (lambda r: np.sin(r) * np.exp(-r * r), "pairwise"),
    "table_mesh": (TabulatedKernel.from_callable(lambda r: np.tanh(r) * np.exp(-r * r), 4.0,
                                                 resolution=0.5), "mesh"),
}
DOMAINS = {"reflecting": (-1.5, 1.5), "wide": (-50.0, 50.0)}
SCHEMES = [("euler", False), ("euler", True), ("baoab", True)]


def _module():
    return sys.modules[simulate.__module__]


def run_case(scheme, kinetic, force, inter, domain, streaming=False):
    rng = np.random.default_rng(12)
    x0 = rng.uniform(-1.4, 1.4, N)
    v0 = rng.normal(0, 1.5, N) if kinetic else None
    spec, method = INTERACTIONS[inter]
    h = hashlib.sha256()

    def on_snapshot(k, t, x, v):
        h.update(np.float64(t).tobytes())
        h.update(x.tobytes())
        if v is not None:
            h.update(v.tobytes())

    mod = _module()
    old = mod.BLOCKED_PATH
    mod.BLOCKED_PATH = not streaming
    try:
        sol = simulate(x0, v0, grad_potential=FORCES[force], interaction=spec, gamma=1.3,
                       temperature=0.9, dt=0.03, snapshots=[0.0, 0.1, 0.25],
                       domain=DOMAINS[domain], scheme=scheme, interaction_method=method,
                       seed=5, on_snapshot=on_snapshot)
    finally:
        mod.BLOCKED_PATH = old
    h.update(sol.x.tobytes())
    if sol.v is not None:
        h.update(sol.v.tobytes())
    h.update(f"{sol.n_reflected} {sol.n_steps} {sol.status}".encode())
    return h.hexdigest()[:16], sol.n_reflected


def main():
    for scheme, kinetic in SCHEMES:
        regime = "kinetic" if kinetic else "overdamped"
        for force in FORCES:
            for inter in INTERACTIONS:
                for domain in DOMAINS:
                    paths = [False, True] if inter == "none" else [False]
                    for streaming in paths:
                        d, refl = run_case(scheme, kinetic, force, inter, domain, streaming)
                        path = "streaming" if (streaming or inter != "none") else "blocked"
                        print(f"{scheme:5} {regime:10} {force:9} {inter:17} {domain:10} "
                              f"{path:9} reflections={refl:<6} {d}", flush=True)
    # a diverging run: the status, the step it stopped at and the state
    rng = np.random.default_rng(0)
    for scheme in ("euler", "baoab"):
        sol = simulate(rng.uniform(-1, 1, 100), rng.normal(0, 1, 100),
                       grad_potential=Polynomial([0, 0, 0, -1e200]), temperature=1.0,
                       dt=0.5, snapshots=[50.0], domain=(-1e3, 1e3), seed=0, scheme=scheme)
        h = hashlib.sha256(sol.x.tobytes() + sol.v.tobytes())
        print(f"diverging {scheme}: status={sol.status} steps={sol.n_steps} "
              f"{h.hexdigest()[:16]}")


if __name__ == "__main__":
    main()
