"""The explicit schemes ``upwind`` (forward Euler) and ``muscl`` (SSP-RK2), both regimes.

Step rule, chosen every step from the current state (see :mod:`grids.solver`), so that
no cell loses more than the fraction c (upwind) or 2c (each MUSCL stage) of its mass::

    Δt = c / (max|v|/hx + max|a|/hv + 2γλ/hv²)      kinetic, a = γ v_face + G
    Δt = c / (max_i out_i/h + 2λ/h²)                 overdamped, a = V' + W' * ρ at faces
    out_i = max(−a_{i+1/2}, 0) + max(a_{i−1/2}, 0)   (interior faces only)

Both are bounds on each cell's *total* outflow rate. Kinetic: in x a cell flows out
through one face only (the right one if v_j > 0, the left one if v_j < 0; a reflecting
wall face included), rate |v_j|/hx; in v the drift a = γ v_{j+1/2} + G_i increases with
j, so a cell never has a > 0 on its lower face (outflow downwards) together with a < 0 on
its upper face (outflow upwards): at most one v-face is a drift outflow face, rate
≤ max|a|/hv; the diffusion takes at most 2γλ/hv² through both v-faces. The specular x-walls
add only inflow (the mass leaving a wall cell at v_j re-enters it at −v_j, the outflow
itself being counted in |v_j|/hx), so the kinetic rule is unchanged by them. Overdamped: where
the drift diverges (a_{i−1/2} > 0 > a_{i+1/2}, a hilltop or a repulsive interaction) a
cell flows out through both faces, hence ``out_i`` (:func:`grids.kernels.od_max_outflow`);
max|a| alone would allow Δt·(outflow) up to 2c and negative densities. The fluxes are the
kernels of :mod:`grids.kernels`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .driver import threaded
from .kernels import (kin_amax, kin_force, kin_update_muscl, kin_update_upwind, kinetic_work,
                      od_face_drift, od_max_outflow, od_update, overdamped_work)
from .scheme import Scheme

__all__ = ["Upwind", "MUSCL"]


# ---------------------------------------------------------------------------------------
# kinetic
# ---------------------------------------------------------------------------------------

# The SETUP functions run in Python (grids.driver.Loop): ``kinetic_work.py_func`` is the
# NumPy body of the compiled allocator, so the scratch has the same layout and types.

def kinetic_setup_upwind(f, p):
    """Scratch of the kinetic upwind step."""
    return kinetic_work.py_func(f, p, 0, 0)


def kinetic_setup_muscl(f, p):
    """Scratch of the kinetic MUSCL step (``G0`` keeps the stage-1 force)."""
    return kinetic_work.py_func(f, p, f.shape[0], 0)


@njit(cache=True)
def kinetic_rule(f, p, work, cfl, dt_fixed):
    """Δt = cfl / (max|v|/hx + max|a|/hv + 2γλ/hv²) at the force of ``f`` (from the row
    sums in ``work.psum``); leaves the force in ``work.G`` and max|a| in ``work.sc[0]``."""
    nv = p.vc.size
    kin_force(work.psum, p.hx, p.hv, p.Vp, p.khat, p.tw, p.rev, work.wc, work.rho,
              work.conv, work.G, p.mf)
    amax = kin_amax(work.G, p.gamma, p.vf[1], p.vf[nv - 1])
    work.sc[0] = amax
    diff = p.gamma * p.lam / p.hv
    return cfl / (p.vmax / p.hx + amax / p.hv + 2.0 * diff / p.hv)


@threaded(parallel=False)
def kinetic_step_upwind(cur, nxt, p, work, dt, land, cfl, counters):
    """One forward-Euler upwind step into ``nxt`` with the force ``work.G``."""
    diff = p.gamma * p.lam / p.hv
    kin_update_upwind(cur, nxt, p.vc, p.vf, work.G, p.j0, p.gamma, diff, dt / p.hx,
                      dt / p.hv, work.psum, work.pmin, work.pmax)
    return dt, land, True


@threaded(parallel=False)
def kinetic_step_muscl(cur, nxt, p, work, dt, land, cfl, counters):
    """One Heun (SSP-RK2) MUSCL step, result in ``cur``; the force is recomputed at the
    second stage.

    If the recomputed force has grown so much that 2Δt(max|v|/hx + max|a|/hv + γλ/hv²)
    > 1 (the stage-2 positivity bound), stage 1 is redone with the step rule applied to
    the larger drift (only when c ≤ 1/2, i.e. when the run asked for guaranteed
    positivity); the step then no longer lands on the stop time.
    """
    nv = p.vc.size
    G = work.G
    G0 = work.G0
    rowsum = work.psum
    gamma, hx, hv = p.gamma, p.hx, p.hv
    diff = gamma * p.lam / hv
    vlo = p.vf[1]
    vhi = p.vf[nv - 1]
    amax = work.sc[0]
    for k in range(G.size):
        G0[k] = G[k]
    lx = dt / hx
    lv = dt / hv
    for attempt in range(8):
        lx = dt / hx
        lv = dt / hv
        kin_update_muscl(cur, cur, nxt, 0.0, p.vc, p.vf, G, p.j0, gamma, diff, lx, lv,
                         rowsum, work.pmin, work.pmax)
        kin_force(rowsum, hx, hv, p.Vp, p.khat, p.tw, p.rev, work.wc, work.rho,
                  work.conv, G, p.mf)
        if not (p.has_int and cfl <= 0.5):
            break
        amax2 = kin_amax(G, gamma, vlo, vhi)
        if 2.0 * dt * (p.vmax / hx + amax2 / hv + diff / hv) <= 1.0:
            break
        amax = max(amax, amax2)
        dt = min(dt, cfl / (p.vmax / hx + amax / hv + 2.0 * diff / hv))
        land = False
        for k in range(G.size):
            G[k] = G0[k]
    kin_update_muscl(nxt, cur, cur, 0.5, p.vc, p.vf, G, p.j0, gamma, diff, lx, lv,
                     rowsum, work.pmin, work.pmax)
    return dt, land, False


# ---------------------------------------------------------------------------------------
# overdamped
# ---------------------------------------------------------------------------------------

def overdamped_setup(r, p):
    """Scratch of the overdamped explicit steps (Python, as the kinetic ones)."""
    return overdamped_work.py_func(r, p, r.size, 0)


@njit(cache=True)
def overdamped_rule(r, p, work, cfl, dt_fixed):
    """Δt = cfl / (max_i out_i/h + 2λ/h²), out_i = max(−a_{i+1/2}, 0) + max(a_{i−1/2}, 0),
    with the face drift of ``r`` (left in ``work.aface``; max_i out_i in ``work.sc[0]``)."""
    od_face_drift(r, p.h, p.Vpf, p.khat, p.tw, p.rev, work.wc, work.conv, work.aface, p.mf)
    out = od_max_outflow(work.aface, r.size)
    work.sc[0] = out
    diff = p.lam / p.h
    return cfl / (out / p.h + 2.0 * diff / p.h)


@threaded(parallel=False)
def overdamped_step_upwind(cur, nxt, p, work, dt, land, cfl, counters):
    """One forward-Euler upwind step into ``nxt``."""
    od_update(False, cur, cur, nxt, 0.0, work.aface, p.lam / p.h, dt / p.h, work.psum,
              work.pmin, work.pmax)
    return dt, land, True


@threaded(parallel=False)
def overdamped_step_muscl(cur, nxt, p, work, dt, land, cfl, counters):
    """One Heun MUSCL step, result in ``cur``; the same stage-2 guard as
    :func:`kinetic_step_muscl`: 2Δt(max_i out_i/h + λ/h²) ≤ 1 for the recomputed drift."""
    h = p.h
    diff = p.lam / h
    aface = work.aface
    a0 = work.a0
    out = work.sc[0]
    n = cur.size
    for k in range(n):
        a0[k] = aface[k]
    ldt = dt / h
    for attempt in range(8):
        ldt = dt / h
        od_update(True, cur, cur, nxt, 0.0, aface, diff, ldt, work.psum, work.pmin, work.pmax)
        od_face_drift(nxt, h, p.Vpf, p.khat, p.tw, p.rev, work.wc, work.conv, aface, p.mf)
        if not (p.has_int and cfl <= 0.5):
            break
        out2 = od_max_outflow(aface, n)
        if 2.0 * dt * (out2 / h + diff / h) <= 1.0:
            break
        out = max(out, out2)
        dt = min(dt, cfl / (out / h + 2.0 * diff / h))
        land = False
        for k in range(n):
            aface[k] = a0[k]
    od_update(True, nxt, cur, cur, 0.5, aface, diff, ldt, work.psum, work.pmin, work.pmax)
    return dt, land, False


# ---------------------------------------------------------------------------------------
# the schemes
# ---------------------------------------------------------------------------------------

class Upwind(Scheme):
    """First-order upwind fluxes, forward Euler.

    Positivity for c ≤ 1: the new value of a cell is ``f (1 − Δt·out) + inflow`` with
    inflows ≥ 0 and ``Δt·out ≤ c ≤ 1`` by the step rule, whose denominator bounds each
    cell's total outflow rate ``out``. Kinetic: ``out ≤ |v_j|/hx + |a|/hv + 2γλ/hv²`` (one
    x-outflow face per v-cell; the drift a = γ v_face + G_i increases with v, so at most one
    v-face of a cell is an outflow face). Overdamped:
    ``out_i = (max(−a_{i+1/2}, 0) + max(a_{i−1/2}, 0))/h + 2λ/h²``, both faces counted.
    """

    name = "upwind"
    order = 1
    max_cfl = 1.0
    default_cfl = 0.9

    @classmethod
    def functions(cls, regime):
        if regime == "kinetic":
            return dict(SETUP=kinetic_setup_upwind, RULE=kinetic_rule, STEP=kinetic_step_upwind)
        return dict(SETUP=overdamped_setup, RULE=overdamped_rule, STEP=overdamped_step_upwind)


class MUSCL(Scheme):
    """MC-limited linear reconstruction on both advective fluxes, central diffusion, SSP-RK2.

    Face values ``f_i ± s_i/2`` with the monotonised-central slope
    ``s_i = minmod(2Δ⁻, (Δ⁻ + Δ⁺)/2, 2Δ⁺)`` lie between neighbouring cell averages, hence in
    ``[0, 2 f_i]`` on the outflow side (the face value ``f_i + s_i/2`` with ``s_i > 0``
    obeys ``s_i ≤ 2(f_i − f_{i−1}) ≤ 2 f_i``). Inflow terms are ≥ 0, so each forward-Euler
    stage satisfies ``f_new ≥ f (1 − 2Δt(|v|/hx + |a|/hv + γλ/hv²)) ≥ f (1 − 2c) ≥ 0``
    for c ≤ 1/2 (the diffusion removes at most ``2γλ/hv²·Δt·f``). Overdamped, the
    advective loss of cell i is at most ``2ρ_i (max(−a_{i+1/2}, 0) + max(a_{i−1/2}, 0))``
    (both faces where the drift diverges), so ``ρ_new ≥ ρ_i (1 − 2Δt(out_i/h + λ/h²))
    ≥ ρ_i (1 − 2c)`` with the overdamped rule. Heun's method
    ``f^{n+1} = ½ f^n + ½ (f^(1) + Δt L(f^(1)))`` is a convex combination of such stages.
    The interaction force is recomputed at the second stage. Should the recomputed drift
    have grown so much that stage 2 would violate ``2Δt(|v|/hx + |a|/hv + γλ/hv²) ≤ 1``
    (overdamped: ``2Δt(out_i/h + λ/h²) ≤ 1``),
    the step is redone from stage 1 with the step rule applied to the larger drift (only
    for c ≤ 1/2), so the bound holds for both stages whatever the interaction.
    """

    name = "muscl"
    order = 2
    max_cfl = 0.5
    default_cfl = 0.45

    @classmethod
    def functions(cls, regime):
        if regime == "kinetic":
            return dict(SETUP=kinetic_setup_muscl, RULE=kinetic_rule, STEP=kinetic_step_muscl)
        return dict(SETUP=overdamped_setup, RULE=overdamped_rule, STEP=overdamped_step_muscl)
