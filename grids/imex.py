"""Kinetic IMEX scheme: implicit exponentially fitted velocity part, explicit x-transport.

Equation (see :mod:`grids.solver`)::

    ∂t f + v ∂x f = ∂v((γ v + G) f) + γλ ∂v² f,    G = V'(x) + (W' * ρ)(x),  ρ = ∫ f dv.

Strang splitting of one step Δt into

* **C** (velocity part, Δt/2): for each x-row i, the 1-D Fokker–Planck equation
  ``∂t f = ∂v((γ v + G_i) f) + γλ ∂v² f`` — friction, force and diffusion, the stiff
  terms — with the Scharfetter–Gummel fluxes of :mod:`grids.implicit` for the potential
  ``ψ_i(v) = γ v²/2 + G_i v`` at the v-centres and "temperature" γλ. The face drift is then
  exactly ``(ψ_i(v_{j+1}) − ψ_i(v_j))/hv = γ v_{j+1/2} + G_i``, the row's discrete Gibbs
  state ``exp(−ψ_i/(γλ))`` (the Maxwellian shifted by −G_i/γ) is an exact fixed point, and
  ``I − c L_i`` is an M-matrix for every c. Time stepping TR-BDF2 with one tridiagonal
  factorisation per row; a row whose result has a negative value is blended with its
  backward-Euler result (:func:`grids.implicit.blend_positive`: positive for every Δt,
  same mass); the rows are independent (parallel).
  C conserves the row mass ρ_i, so G — a function of ρ only — is *exactly* constant
  during C: the split step is linear in f.
* **T** (x-transport, Δt): ``∂t f + v ∂x f = 0`` with MC-limited MUSCL fluxes and
  Heun's method (the kernels of the ``muscl`` scheme with the v-terms switched off),
  specular x-walls (mass leaving at v re-enters the wall cell at −v).

    f^{n+1} = C_{Δt/2}[G(ρ^{n+1})] ∘ T_Δt ∘ C_{Δt/2}[G(ρ^n)] f^n

is second order in time (Strang; each factor is second order) and in space.

Step: only the explicit transport restricts it, Δt = c · hx / max|v| (c = ``cfl`` ≤ 1/2
keeps T positive: each Heun stage gives ``f_new ≥ f (1 − 2Δt|v|/hx)``); friction,
force and diffusion do not, so at fine hv or with steep potentials the steps are much
longer than the explicit schemes' ``c / (max|v|/hx + max|a|/hv + 2γλ/hv²)``. A user
``dt`` caps the step further: every interval between snapshots is split into equal steps
of at most min(dt, c hx/max|v|). Without an interaction G is fixed and Δt constant, so
the factorisations are computed once per distinct Δt and reused.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .implicit import (GAMMA, _trbdf2, blend_positive, blend_positive_numpy,
                       sg_coefficients, thomas_factor, thomas_solve)
from .driver import threaded
from .kernels import kin_force, kin_update_muscl, kinetic_work
from .scheme import Scheme

__all__ = ["SGImex", "imex_step", "collide_rows", "collide_numpy", "imex_step_numpy"]


@njit(cache=True)
def _collide_row(f, i, Gi, vc, v2half, gamma, lam, hv, dt, refactor, dp, dm, cp, inv, cpb,
                 invb, tmp, out):
    """C over Δt = ``dt`` on row i (in place); returns (row sum, min, max, blended)."""
    nv = vc.size
    if refactor:
        for j in range(nv):
            out[j] = gamma * v2half[j] + Gi * vc[j]          # ψ_i at the centres
        sg_coefficients(out, gamma * lam, hv, dp, dm, False)
        thomas_factor(dp, dm, 0.5 * GAMMA * dt, cp, inv)
    row = f[i]
    mn = _trbdf2(row, dp, dm, dt, cp, inv, tmp, out)
    fell = False
    if not (mn >= 0.0):
        thomas_factor(dp, dm, dt, cpb, invb)
        thomas_solve(dp, dt, cpb, invb, row, tmp)
        blend_positive(out, tmp)
        fell = True
    s = 0.0
    mn = np.inf
    mx = -np.inf
    for j in range(nv):
        x = out[j]
        row[j] = x
        s += x
        mn = min(mn, x)
        mx = max(mx, x)
    return s, mn, mx, fell


@threaded
def collide_rows(f, G, vc, v2half, gamma, lam, hv, dt, refactor, scratch, rowsum, rowmin,
                 rowmax, fell):
    """Apply C over ``dt`` to every row of ``f`` (shape (nx, nv), in place).

    ``scratch`` has shape (8, nx, nv); its first four planes keep the row factors between
    calls (reused when ``refactor`` is False). ``fell[i]`` is set to 1 where row i was
    blended with backward Euler.
    """
    nx = f.shape[0]
    for i in prange(nx):
        s, mn, mx, fb = _collide_row(f, i, G[i], vc, v2half, gamma, lam, hv, dt, refactor,
                                     scratch[0, i], scratch[1, i], scratch[2, i],
                                     scratch[3, i], scratch[4, i], scratch[5, i],
                                     scratch[6, i], scratch[7, i])
        rowsum[i] = s
        rowmin[i] = mn
        rowmax[i] = mx
        fell[i] = 1 if fb else 0


@threaded(parallel=False)
def _transport(cur, nxt, vc, vf, zeroG, j0, lx, rowsum, rowmin, rowmax):
    """T over Δt = lx·hx (Heun, MUSCL in x only); result in ``cur``."""
    kin_update_muscl(cur, cur, nxt, 0.0, vc, vf, zeroG, j0, 0.0, 0.0, lx, 0.0, rowsum,
                     rowmin, rowmax)
    kin_update_muscl(nxt, cur, cur, 0.5, vc, vf, zeroG, j0, 0.0, 0.0, lx, 0.0, rowsum,
                     rowmin, rowmax)


# ---------------------------------------------------------------------------------------
# the scheme: functions of the shared time loop (grids.driver)
# ---------------------------------------------------------------------------------------

def imex_setup(f, p):
    """Scratch of the IMEX step: 8 planes of row factors and work (see
    :func:`collide_rows`); ``sc[1]`` is the half step the factors were computed for.
    Python (allocation compiled would cost compile time, see :mod:`grids.driver`)."""
    work = kinetic_work.py_func(f, p, 0, 8)
    work.sc[1] = -1.0
    return work


@njit(cache=True)
def imex_rule(f, p, work, cfl, dt_fixed):
    """Δt = cfl · hx / max|v| (only the explicit transport restricts the step)."""
    return cfl * p.hx / p.vmax


@threaded(parallel=False)
def imex_step(f, g, p, work, dt, land, cfl, counters):
    """One Strang step C(Δt/2) T(Δt) C(Δt/2) of ``f`` in place (``g`` scratch).

    ``counters[0]`` += rows blended with backward Euler, ``counters[1]`` += row
    factorisation sweeps.
    """
    w = work
    half = 0.5 * dt
    # C(Δt/2) with G(ρ^n): without an interaction G = V' and the factors depend on Δt only
    kin_force(w.psum, p.hx, p.hv, p.Vp, p.khat, p.tw, p.rev, w.wc, w.rho, w.conv,
              w.G, p.mf)
    refactor = p.has_int or half != w.sc[1]
    collide_rows(f, w.G, p.vc, p.v2half, p.gamma, p.lam, p.hv, half, refactor, w.scratch,
                 w.psum, w.pmin, w.pmax, w.fell)
    if refactor:
        counters[1] += 1
    counters[0] += w.fell.sum()
    # T(Δt)
    _transport(f, g, p.vc, p.vf, w.zeroG, p.j0, dt / p.hx, w.psum, w.pmin, w.pmax)
    # C(Δt/2) with G(ρ^{n+1}) (C does not change ρ)
    kin_force(w.psum, p.hx, p.hv, p.Vp, p.khat, p.tw, p.rev, w.wc, w.rho, w.conv,
              w.G, p.mf)
    collide_rows(f, w.G, p.vc, p.v2half, p.gamma, p.lam, p.hv, half, p.has_int, w.scratch,
                 w.psum, w.pmin, w.pmax, w.fell)
    if p.has_int:
        counters[1] += 1
    counters[0] += w.fell.sum()
    w.sc[1] = half
    return dt, land, False


class SGImex(Scheme):
    """Kinetic IMEX: implicit Scharfetter–Gummel velocity part, explicit MUSCL x-transport.

    Kinetic only. Strang splitting ``C(Δt/2) T(Δt) C(Δt/2)``: C solves, row by row in x,
    ``∂t f = ∂v((γv + G_i) f) + γλ ∂v² f`` (friction, force, diffusion) with exponentially
    fitted fluxes and TR-BDF2 (one tridiagonal factorisation per row; a row whose result
    has a negative value is blended with backward Euler), so each row's discrete shifted
    Maxwellian is an exact fixed point of C; T is ``∂t f + v ∂x f = 0`` with the MC-limited MUSCL fluxes
    and Heun's method. Second order in space and time; mass to round-off.

    Step: Δt = c · hx / max|v| — only the transport restricts it (positive for c ≤ 1/2),
    not the friction, force or diffusion in v. ``solve(..., dt=...)`` caps it further
    (equal steps of at most min(dt, c hx/max|v|) per snapshot interval). See
    :mod:`grids.imex`.
    """

    name = "sg_imex"
    order = 2
    max_cfl = 0.5
    default_cfl = 0.45
    regimes = ("kinetic",)
    implicit = True
    counts = "rows"

    @classmethod
    def functions(cls, regime):
        return dict(SETUP=imex_setup, RULE=imex_rule, STEP=imex_step)


# ---------------------------------------------------------------------------------------
# NumPy twins (dense matrices; tests only)
# ---------------------------------------------------------------------------------------

def collide_numpy(f, G, vc, gamma, lam, hv, dt):
    """C over ``dt`` with dense matrices: TR-BDF2 per row, blended with backward Euler
    where negative.

    Returns ``(f_new, rows_fell_back)``.
    """
    from .implicit import _trbdf2_numpy, sg_matrix_numpy
    out = np.empty_like(f)
    fell = 0
    for i in range(f.shape[0]):
        L = sg_matrix_numpy(gamma * 0.5 * vc ** 2 + G[i] * vc, gamma * lam, hv)
        r = _trbdf2_numpy(f[i], L, dt)
        if r.min() < 0.0:
            r = blend_positive_numpy(r, np.linalg.solve(np.eye(vc.size) - dt * L, f[i]))
            fell += 1
        out[i] = r
    return out, fell


def imex_step_numpy(problem, f, dt):
    """One Strang step ``C(Δt/2) ∘ T(Δt) ∘ C(Δt/2)`` with NumPy: dense C, the reference
    MUSCL right-hand side of :mod:`grids.reference` (v-terms off) for T, and the
    interaction by a direct sum. Returns ``(f_new, rows_fell_back)``."""
    from .grid import symmetric_centres
    from .reference import kinetic_force, kinetic_rhs
    x, v = problem.x, problem.v
    g, lam = problem.gamma, problem.temperature
    vc, vf = symmetric_centres(v), v.edges
    zero = np.zeros(x.cells)
    f1, n1 = collide_numpy(f, kinetic_force(problem, f), vc, g, lam, v.h, 0.5 * dt)
    s1 = f1 + dt * kinetic_rhs(f1, "muscl", vc, vf, zero, 0.0, 0.0, x.h, v.h)
    s2 = s1 + dt * kinetic_rhs(s1, "muscl", vc, vf, zero, 0.0, 0.0, x.h, v.h)
    f2 = 0.5 * f1 + 0.5 * s2
    f3, n2 = collide_numpy(f2, kinetic_force(problem, f2), vc, g, lam, v.h, 0.5 * dt)
    return f3, n1 + n2
