"""A grid scheme of your own, in one file: the example of README "Adding a grid scheme".

An overdamped forward-Euler scheme with central drift fluxes (positive only for small cell
Péclet numbers, so an illustration, not a production scheme). Run it::

    python examples/custom_scheme.py

It solves an Ornstein–Uhlenbeck problem with the scheme passed as a class (no
registration needed) and prints the L1 error against the exact Gaussian solution.
"""

import numpy as np
from numba import njit

from vfp.grids.explicit import overdamped_rule, overdamped_setup
from vfp.grids.grid import Axis
from vfp.grids.scheme import Scheme
from vfp.grids.solver import OverdampedProblem, solve


@njit(cache=True)
def central_step(cur, nxt, p, work, dt, land, cfl, counters):
    """One forward-Euler step; the rule has left the face drifts in ``work.aface``."""
    n = cur.size
    j_left = 0.0                                    # no flux through the outer faces
    for i in range(n):
        j_right = 0.0
        if i < n - 1:
            a = work.aface[i]
            j_right = -a * 0.5 * (cur[i] + cur[i + 1]) - p.lam / p.h * (cur[i + 1] - cur[i])
        nxt[i] = cur[i] - dt / p.h * (j_right - j_left)
        j_left = j_right
    work.psum[0] = nxt.sum()                        # one reduction block
    work.pmin[0] = nxt.min()
    work.pmax[0] = nxt.max()
    return dt, land, True


class Central(Scheme):
    """Central drift fluxes, forward Euler (example)."""

    name = "central"
    order = 2
    max_cfl = 0.5
    default_cfl = 0.4
    regimes = ("overdamped",)

    @classmethod
    def parallel(cls, problem):
        return False                                # serial step: one reduction block

    @classmethod
    def functions(cls, regime):
        return dict(SETUP=overdamped_setup, RULE=overdamped_rule, STEP=central_step)


def main():
    lam, m0, s0, t_end = 0.5, 1.0, 0.4, 0.5
    x = Axis(-5.0, 5.0, 200)
    problem = OverdampedProblem(x, lam, lambda y: 0.5 * y**2, lambda y: y)
    rho0 = np.exp(-0.5 * ((x.centres - m0) / s0) ** 2) / (s0 * np.sqrt(2 * np.pi))
    sol = solve(problem, rho0, [0.0, t_end], scheme=Central)
    m = m0 * np.exp(-t_end)
    var = s0**2 * np.exp(-2 * t_end) + lam * (1 - np.exp(-2 * t_end))
    exact = np.exp(-0.5 * (x.centres - m) ** 2 / var) / np.sqrt(2 * np.pi * var)
    error = float(np.abs(sol.states[-1] - exact).sum() * x.h)
    print(f"{sol.scheme}: {sol.message}; L1 error against the exact law {error:.2e}")
    return error


if __name__ == "__main__":
    main()
