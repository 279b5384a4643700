"""Digests of grid solutions for every scheme, to show that a refactoring changed no bit.

Run ``python benchmarks/grid_digests.py > before.txt`` before a change and
``python benchmarks/grid_digests.py > after.txt`` after it, then ``diff`` the two. Each
line is ``case scheme dataset sha256``: the snapshot states, the snapshot times and every
diagnostics column, for kinetic and overdamped problems with and without an interaction,
on grids below and above the threshold of the threaded kernels, with the step rule and
(implicit schemes) a fixed ``dt``.
"""

from __future__ import annotations

import hashlib
import sys

import numpy as np

from vfp.grids.grid import Axis
from vfp.grids.quadrature import cell_averages_1d, cell_averages_2d
from vfp.grids.solver import KineticProblem, OverdampedProblem, solve


def _v(x):
    return 0.25 * x ** 4 - 0.5 * x ** 2


def _dv(x):
    return x ** 3 - x


def _w(y):
    return 0.5 * 0.7 * y ** 2 + 0.3 * np.cos(y)


def _dw(y):
    return 0.7 * y - 0.3 * np.sin(y)


def _gauss2(x, v):
    return np.exp(-((x - 0.8) ** 2 + (v + 0.3) ** 2) / (2 * 0.36)) / (2 * np.pi * 0.36)


def _gauss1(x):
    return np.exp(-((x - 0.8) ** 2) / (2 * 0.36)) / np.sqrt(2 * np.pi * 0.36)


def _digest(a):
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.float64).tobytes()).hexdigest()[:16]


def cases():
    """Yield (name, problem, initial, snapshots, solve keyword sets)."""
    explicit = [dict(scheme="upwind"), dict(scheme="muscl"), dict(scheme="muscl", cfl=0.3)]
    for nx, nv in ((48, 40), (256, 160)):
        x, v = Axis(-4.0, 4.0, nx), Axis(-4.5, 4.5, nv)
        f0 = cell_averages_2d(_gauss2, x, v)
        for inter in (False, True):
            extra = (_w, _dw) if inter else ()
            p = KineticProblem(x, v, 0.8, 0.4, _v, _dv, *extra)
            kws = explicit + [dict(scheme="sg_imex"), dict(scheme="sg_imex", dt=0.013)]
            yield f"kin{nx}x{nv}{'_int' if inter else ''}", p, f0, [0.0, 0.05, 0.3], kws
    for n in (60, 40000):
        x = Axis(-4.0, 4.0, n)
        r0 = cell_averages_1d(_gauss1, x)
        for inter in (False, True):
            extra = (_w, _dw) if inter else ()
            p = OverdampedProblem(x, 0.4, _v, _dv, *extra)
            kws = explicit if n > 1000 else explicit + [
                dict(scheme="sg_implicit"), dict(scheme="sg_implicit", dt=0.011),
                dict(scheme="sg2_implicit"), dict(scheme="sg2_implicit", dt=0.011)]
            t_end = 0.3 if n < 1000 else 2e-4
            yield f"od{n}{'_int' if inter else ''}", p, r0, [0.0, t_end / 3, t_end], kws


def main(argv):
    for name, p, s0, snaps, kws in cases():
        for kw in kws:
            tag = "_".join(f"{k}={v}" for k, v in kw.items())
            sol = solve(p, s0, snaps, diagnostics_every=7, **kw)
            print(f"{name} {tag} status {sol.status} {sol.n_steps}")
            print(f"{name} {tag} t {_digest(sol.t)}")
            for k, s in enumerate(sol.states):
                print(f"{name} {tag} state{k} {_digest(s)}")
            for key in sorted(sol.diagnostics):
                print(f"{name} {tag} diag_{key} {_digest(sol.diagnostics[key])}")
            sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
