"""Compiled time loops of the N-particle Langevin system in d = 2, 3 and their driver.

Model, x ∈ R^d, G(x; ρ_N) = ∇V(x) + (1/N) Σ_j φ(|x − x_j|)(x − x_j) (radial W, see
:mod:`particles.interaction_nd`):

* kinetic:     dX = V dt,  dV = −γ V dt − G(X; ρ_N) dt + sqrt(2γλ) dB;
* overdamped:  dX = −G(X; ρ_N) dt + sqrt(2λ) dB.

The schemes are the d = 1 ones (:mod:`particles.driver`) applied per axis, G evaluated at
the same positions for every axis:

* ``euler``: kinetic x ← x + η v, v ← (1 − γη) v − η G(x) + sqrt(2γλη) ξ; overdamped
  x ← x − η G(x) + sqrt(2λη) ξ (x, G, ρ_N from the old step; DESIGN §4);
* ``baoab`` (kinetic): B v ← v − (η/2) G; A x ← x + (η/2) v; O v ← e^{−γη} v +
  sqrt(λ(1 − e^{−2γη})) ξ; A; B with G at the new positions (kept for the next step).

Walls: a box [lo_k, hi_k] per axis (or free space: lo = −∞, hi = +∞). After each drift a
coordinate outside its interval is mirrored back and, kinetic, that velocity component
reversed; mirrors are counted per axis and wall, ``reflections[k, 0]`` (lo_k) and
``reflections[k, 1]`` (hi_k).

Storage: positions and velocities are held axis by axis, X and V of shape (d, N)
(C order), so every per-axis update loops contiguously over particles. Users see
(N, d) arrays: ``on_snapshot`` receives the read-only transposed views ``X.T``, ``V.T``,
and the solution holds (N, d) copies.

Noise stream layout: the variate of particle i, axis k (0-based) at global step s is
``rng.normal(key, s·d + k, i)``, the d = 1 generator at the virtual step s·d + k. It is
a pure function of (seed, s, k, i), independent of threads and chunking; for d = 1 it
is the d = 1 stream. Limits: s·d + k < 2³² and i < 2³².

Compiled paths (particles in fixed blocks of BLOCK, so no result depends on the thread
count; all reductions run in a fixed order):

* blocked (no interaction): ``prange`` over blocks with the time loop inside a block
  (:func:`_advance_blocked`); each step is ∇V for the block (:func:`force_block`), then
  per axis a noise pass and an update pass; for Euler in d = 2 with an affine ∇V (every
  quadratic V) the two noise passes, then one pass that evaluates ∇V and updates both axes
  (:func:`_euler_block_affine_2d`; the same bits, ~15 % faster);
* streaming (interaction): time loop outside, per step the interaction set-up
  (:func:`particles.interaction_nd.prepare_nd`) then ``prange`` over blocks with the same
  per-block step functions (:func:`_advance_streaming`).

Mean-field energies (``energy=``, DESIGN §9; every d, also d = 1 and d > 3): the drift
∇x δF/δμ(x; μ^N) of the energy at the particles' empirical measure (weights 1/N) is added
to ∇V (and to the interaction force), at every force evaluation (once per Euler step;
BAOAB: at the new positions, kept for the next step's first B, as ∇V):

* a :class:`grids.meanfield.TwoLayerNetwork` (``pack()`` gives NetworkArrays) runs inside
  the compiled streaming loop (:class:`particles.interaction_nd.NetworkPlanND`): per
  force evaluation the residuals from all N particles, then the drift of every particle;
  both reductions run in a fixed order (bit-identical for any thread count);
* any other energy (an object with ``drift(query, points, weights)``) is a *Python
  energy*: the driver steps from Python, one compiled call per step (BAOAB: two, around
  the drift at the new positions), calling ``energy.drift(x, x, w)`` with x the (N, d)
  positions (a read-only view) and w = 1/N before each force evaluation. Slower (one
  Python call per step), the same numbers as the compiled path for the same model.

The noise streams are those of the runs without an energy. A d = 1 run with an energy
(x0 of shape (N,) or (N, 1)) uses these loops with X of shape (1, N) and the d = 1 specs
of ∇V (:mod:`particles.forces`) and of W (:mod:`particles.interaction`, any method).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from numba import njit, prange
from numba.extending import overload
from numba.core.errors import NumbaPerformanceWarning

from .common import (BLOCK, CHUNK_WORK, LO_MASK, MAX_N, SCHEME_BAOAB, ParticleSolution,
                     _reflect, _step_plan, check_temperature, get_scheme)
from .forces import as_force
from .forces_nd import AffineForceND, PolynomialND, TabulatedND, as_force_nd, force_block
from .interaction import (METHOD_MESH, METHOD_NAMES, METHOD_NONE, MeshPlan, NoInteraction,
                          as_interaction, check_mesh, pack_plan, resolve_method)
# The field classes must be globals of the module whose prange bodies receive them:
# Numba's parfor lowering resolves a named tuple argument's class by name there.
from .interaction_nd import (ForceFieldND, GivenDriftPlanND, LinePlan,  # noqa: F401
                             MeshPlan2D, NetworkPlanND, RadialKernel, add_interaction_block,
                             as_interaction_nd, check_mesh_2d, field_of, pack_plan_nd,
                             prepare_nd, resolve_method_nd)
from .rng import fill_normals, seed_key
from ..grids.meanfield import STORE_MAX_ENTRIES, NetworkArrays

__all__ = ["simulate_nd", "MAX_DIMENSION", "energy_kind"]

MAX_DIMENSION = 3
STREAMING_ONLY = False      # tests set it to run non-interacting runs on the streaming path


# ----------------------------------------------------------------------------------------
# per-block step functions (serial; called inside prange bodies)
# ----------------------------------------------------------------------------------------

@njit(cache=True)
def _reflect_axis(X, V, a, i0, m, lo, hi, kinetic, counts):
    """Mirror X[a, i0:i0+m] into [lo, hi] (reversing V[a]); add the mirrors to counts[a]."""
    code = np.int64(0)
    for i in range(i0, i0 + m):
        if kinetic:
            xn, vn, c = _reflect(X[a, i], V[a, i], lo, hi)
            V[a, i] = vn
        else:
            xn, vn, c = _reflect(X[a, i], 0.0, lo, hi)
        X[a, i] = xn
        code += c
    counts[a, 0] += code & LO_MASK
    counts[a, 1] += code >> 32


@njit(cache=True)
def _euler_block(X, V, kinetic, G, z, i0, m, h, step, key, gamma, lam, force, field, lo, hi,
                 counts):
    """One Euler step of particles i0 .. i0 + m − 1 (G: (d, BLOCK) workspace)."""
    d = X.shape[0]
    force_block(X, i0, m, G, force)
    add_interaction_block(X, i0, m, G, field)
    ud = np.uint64(d)
    if kinetic:
        damp = 1.0 - gamma * h
        sig = np.sqrt(2.0 * gamma * lam * h)
        for a in range(d):
            fill_normals(z, m, key, step * ud + np.uint64(a), np.uint64(i0))
            la = lo[a]
            ha = hi[a]
            xa = X[a, i0:i0 + m]         # row views: unit-stride loops that LLVM vectorises
            va = V[a, i0:i0 + m]
            ga = G[a]
            out = 0
            for j in range(m):
                xi = xa[j]
                vi = va[j]
                xn = xi + h * vi
                va[j] = damp * vi - h * ga[j] + sig * z[j]
                out += np.int64(xn < la) + np.int64(xn > ha)
                xa[j] = xn
            if out:
                _reflect_axis(X, V, a, i0, m, la, ha, True, counts)
    else:
        sig = np.sqrt(2.0 * lam * h)
        for a in range(d):
            fill_normals(z, m, key, step * ud + np.uint64(a), np.uint64(i0))
            la = lo[a]
            ha = hi[a]
            xa = X[a, i0:i0 + m]
            ga = G[a]
            out = 0
            for j in range(m):
                xn = xa[j] - h * ga[j] + sig * z[j]
                out += np.int64(xn < la) + np.int64(xn > ha)
                xa[j] = xn
            if out:
                _reflect_axis(X, V, a, i0, m, la, ha, False, counts)


@njit(cache=True)
def _baoab_first_block(X, V, F, z, i0, m, h, step, key, gamma, lam, lo, hi, counts):
    """B, A, O, A of BAOAB for particles i0 .. i0 + m − 1 (F: the stored force (d, N))."""
    d = X.shape[0]
    half = 0.5 * h
    ou = np.exp(-gamma * h)
    sig = np.sqrt(lam * (1.0 - ou * ou))
    ud = np.uint64(d)
    for a in range(d):
        fill_normals(z, m, key, step * ud + np.uint64(a), np.uint64(i0))
        la = lo[a]
        ha = hi[a]
        xa = X[a, i0:i0 + m]
        va = V[a, i0:i0 + m]
        fa = F[a, i0:i0 + m]
        out = 0
        for j in range(m):                       # B, A
            vi = va[j] - half * fa[j]
            xn = xa[j] + half * vi
            out += np.int64(xn < la) + np.int64(xn > ha)
            va[j] = vi
            xa[j] = xn
        if out:
            _reflect_axis(X, V, a, i0, m, la, ha, True, counts)
        out = 0
        for j in range(m):                       # O, A
            vi = ou * va[j] + sig * z[j]
            xn = xa[j] + half * vi
            out += np.int64(xn < la) + np.int64(xn > ha)
            va[j] = vi
            xa[j] = xn
        if out:
            _reflect_axis(X, V, a, i0, m, la, ha, True, counts)


@njit(cache=True)
def _force_into(X, F, G, i0, m, force, field):
    """F[:, i0:i0+m] = ∇V + interaction at the current positions (G: workspace)."""
    force_block(X, i0, m, G, force)
    add_interaction_block(X, i0, m, G, field)
    for a in range(X.shape[0]):
        for j in range(m):
            F[a, i0 + j] = G[a, j]


@njit(cache=True)
def _baoab_last_block(X, V, F, G, i0, m, h, force, field):
    """Final B of BAOAB: F ← G(x) at the new positions, v ← v − (h/2) F."""
    _force_into(X, F, G, i0, m, force, field)
    half = 0.5 * h
    for a in range(X.shape[0]):
        va = V[a, i0:i0 + m]
        fa = F[a, i0:i0 + m]
        for j in range(m):
            va[j] = va[j] - half * fa[j]


@njit(cache=True)
def _euler_block_affine_2d(X, V, kinetic, Z, i0, m, h, step, key, gamma, lam, A, b, lo, hi,
                           counts):
    """:func:`_euler_block` for d = 2, ∇V = A x + b and no interaction, in one pass.

    The force is evaluated inside the update loop (no G block written and read back), both
    axes per particle (Z: (2, BLOCK) workspace for the two noise rows). Same operations in
    the same order as the generic block, so the same bits for finite positions (the generic
    block skips zero entries of A; here 0·x is added, which changes nothing unless x is
    inf or nan, i.e. after a divergence)."""
    fill_normals(Z[0], m, key, step * np.uint64(2), np.uint64(i0))
    fill_normals(Z[1], m, key, step * np.uint64(2) + np.uint64(1), np.uint64(i0))
    a00 = A[0, 0]
    a01 = A[0, 1]
    a10 = A[1, 0]
    a11 = A[1, 1]
    b0 = b[0]
    b1 = b[1]
    x0 = X[0, i0:i0 + m]
    x1 = X[1, i0:i0 + m]
    z0 = Z[0]
    z1 = Z[1]
    lo0 = lo[0]
    lo1 = lo[1]
    hi0 = hi[0]
    hi1 = hi[1]
    out0 = 0
    out1 = 0
    if kinetic:
        damp = 1.0 - gamma * h
        sig = np.sqrt(2.0 * gamma * lam * h)
        v0 = V[0, i0:i0 + m]
        v1 = V[1, i0:i0 + m]
        for j in range(m):
            p0 = x0[j]
            p1 = x1[j]
            q0 = v0[j]
            q1 = v1[j]
            g0 = b0 + a00 * p0 + a01 * p1
            g1 = b1 + a10 * p0 + a11 * p1
            n0 = p0 + h * q0
            n1 = p1 + h * q1
            v0[j] = damp * q0 - h * g0 + sig * z0[j]
            v1[j] = damp * q1 - h * g1 + sig * z1[j]
            x0[j] = n0
            x1[j] = n1
            out0 += np.int64(n0 < lo0) + np.int64(n0 > hi0)
            out1 += np.int64(n1 < lo1) + np.int64(n1 > hi1)
    else:
        sig = np.sqrt(2.0 * lam * h)
        for j in range(m):
            p0 = x0[j]
            p1 = x1[j]
            g0 = b0 + a00 * p0 + a01 * p1
            g1 = b1 + a10 * p0 + a11 * p1
            n0 = p0 - h * g0 + sig * z0[j]
            n1 = p1 - h * g1 + sig * z1[j]
            x0[j] = n0
            x1[j] = n1
            out0 += np.int64(n0 < lo0) + np.int64(n0 > hi0)
            out1 += np.int64(n1 < lo1) + np.int64(n1 > hi1)
    # the mirrors touch only their own axis, and ∇V was read before any move: the same
    # result as the generic block's update-then-mirror per axis
    if out0:
        _reflect_axis(X, V, 0, i0, m, lo0, hi0, kinetic, counts)
    if out1:
        _reflect_axis(X, V, 1, i0, m, lo1, hi1, kinetic, counts)


def _euler_block_free(X, V, kinetic, G, z, i0, m, h, step, key, gamma, lam, force, lo, hi,
                      counts):
    """One Euler step without interaction (compiled; the form is chosen by the force's
    class when Numba compiles)."""
    raise NotImplementedError("_euler_block_free is called from compiled code")


@overload(_euler_block_free, inline="always")
def _euler_block_free_compiled(X, V, kinetic, G, z, i0, m, h, step, key, gamma, lam, force,
                               lo, hi, counts):
    if getattr(force, "instance_class", None) is AffineForceND:
        def impl(X, V, kinetic, G, z, i0, m, h, step, key, gamma, lam, force, lo, hi, counts):
            if X.shape[0] == 2:
                _euler_block_affine_2d(X, V, kinetic, G, i0, m, h, step, key, gamma, lam,
                                       force.A, force.b, lo, hi, counts)
            else:
                _euler_block(X, V, kinetic, G, z, i0, m, h, step, key, gamma, lam, force,
                             NoInteraction(0.0), lo, hi, counts)
        return impl

    def impl(X, V, kinetic, G, z, i0, m, h, step, key, gamma, lam, force, lo, hi, counts):
        _euler_block(X, V, kinetic, G, z, i0, m, h, step, key, gamma, lam, force,
                     NoInteraction(0.0), lo, hi, counts)
    return impl


# ----------------------------------------------------------------------------------------
# parallel drivers
# ----------------------------------------------------------------------------------------

@njit(cache=True, parallel=True)
def _advance_blocked(X, V, F, baoab, kinetic, n_steps, dt, dt_last, step0, key, gamma, lam,
                     force, lo, hi):
    """No interaction: ``n_steps`` steps (the last of ``dt_last``) of every particle,
    ``prange`` over blocks, time loop inside a block. Returns the mirrors (d, 2)."""
    d, n = X.shape
    nblk = (n + BLOCK - 1) // BLOCK
    counts = np.zeros((nblk, d, 2), np.int64)
    for b in prange(nblk):
        i0 = b * BLOCK
        m = min(n, i0 + BLOCK) - i0
        G = np.empty((d, BLOCK))
        z = np.empty(BLOCK)
        field = NoInteraction(0.0)
        for s in range(n_steps):
            h = dt if s < n_steps - 1 else dt_last
            st = np.uint64(step0 + s)
            if baoab:
                _baoab_first_block(X, V, F, z, i0, m, h, st, key, gamma, lam, lo, hi,
                                   counts[b])
                _baoab_last_block(X, V, F, G, i0, m, h, force, field)
            else:
                _euler_block_free(X, V, kinetic, G, z, i0, m, h, st, key, gamma, lam, force,
                                  lo, hi, counts[b])
    return _sum_blocks(counts)


@njit(cache=True)
def _sum_blocks(counts):
    nb, d, _ = counts.shape
    tot = np.zeros((d, 2), np.int64)
    for b in range(nb):
        for a in range(d):
            tot[a, 0] += counts[b, a, 0]
            tot[a, 1] += counts[b, a, 1]
    return tot


PHASE_EULER = 0         # _par_step phases
PHASE_BAOAB_FIRST = 1
PHASE_BAOAB_LAST = 2


# One parallel kernel for the three per-step phases (a run-time switch inside each block):
# one parfor lowering to compile instead of three.
@njit(cache=True, parallel=True)
def _par_step(phase, X, V, F, kinetic, h, st, key, gamma, lam, force, field, lo, hi, counts):
    """One phase of a step for every particle, prange over blocks: PHASE_EULER (an Euler
    step with the prepared ``field``), PHASE_BAOAB_FIRST (B, A, O, A) or PHASE_BAOAB_LAST
    (F ← ∇V + field, v ← v − (h/2) F; h = 0 only sets F)."""
    d, n = X.shape
    nblk = (n + BLOCK - 1) // BLOCK
    for b in prange(nblk):
        i0 = b * BLOCK
        m = min(n, i0 + BLOCK) - i0
        G = np.empty((d, BLOCK))
        z = np.empty(BLOCK)
        if phase == PHASE_EULER:
            _euler_block(X, V, kinetic, G, z, i0, m, h, st, key, gamma, lam, force, field, lo,
                         hi, counts[b])
        elif phase == PHASE_BAOAB_FIRST:
            _baoab_first_block(X, V, F, z, i0, m, h, st, key, gamma, lam, lo, hi, counts[b])
        else:
            _baoab_last_block(X, V, F, G, i0, m, h, force, field)


# parallel=True without a prange of their own, as particles.driver._advance_euler: a
# serial caller of a parallel kernel can be cached with a dangling link (numba#8578).
# The per-step kernels take the field as an argument (a field built and used in the same
# function fails in Numba's parfor lowering).
@njit(cache=True, parallel=True)
def _advance_streaming(X, V, F, baoab, kinetic, n_steps, dt, dt_last, step0, key, gamma, lam,
                       force, lo, hi, plan):
    """With interaction: time loop outside; per step the set-up (:func:`prepare_nd`) and
    the parallel per-block step. Returns the mirrors (d, 2)."""
    d, n = X.shape
    nblk = (n + BLOCK - 1) // BLOCK
    counts = np.zeros((nblk, d, 2), np.int64)
    for s in range(n_steps):
        h = dt if s < n_steps - 1 else dt_last
        st = np.uint64(step0 + s)
        if baoab:
            field = _empty_field(X, plan)
            _par_step(PHASE_BAOAB_FIRST, X, V, F, kinetic, h, st, key, gamma, lam, force,
                      field, lo, hi, counts)
            field = prepare_nd(X, plan)
            _par_step(PHASE_BAOAB_LAST, X, V, F, kinetic, h, st, key, gamma, lam, force,
                      field, lo, hi, counts)
        else:
            field = prepare_nd(X, plan)
            _par_step(PHASE_EULER, X, V, F, kinetic, h, st, key, gamma, lam, force, field,
                      lo, hi, counts)
    return _sum_blocks(counts)


@njit(cache=True, parallel=True)
def _streaming_phase(phase, X, V, F, kinetic, h, st, key, gamma, lam, force, lo, hi, plan):
    """One phase of one step for every particle (the Python-energy loop: the driver
    writes the energy's drift into the plan before each force evaluation). PHASE_EULER:
    an Euler step with the field prepared at the current positions; PHASE_BAOAB_FIRST:
    B, A, O, A; PHASE_BAOAB_LAST: F ← G at the current positions, v ← v − (h/2) F.
    Returns the mirrors (d, 2)."""
    d, n = X.shape
    counts = np.zeros(((n + BLOCK - 1) // BLOCK, d, 2), np.int64)
    if phase == PHASE_BAOAB_FIRST:
        field = _empty_field(X, plan)
    else:
        field = prepare_nd(X, plan)
    _par_step(phase, X, V, F, kinetic, h, st, key, gamma, lam, force, field, lo, hi, counts)
    return _sum_blocks(counts)


@njit(cache=True, parallel=True)
def _initial_force(X, V, F, force, plan, lo, hi):
    """F = ∇V + interaction at the current positions (BAOAB's first B; V untouched)."""
    d, n = X.shape
    field = prepare_nd(X, plan)
    counts = np.zeros(((n + BLOCK - 1) // BLOCK, d, 2), np.int64)
    _par_step(PHASE_BAOAB_LAST, X, V, F, False, 0.0, np.uint64(0), np.uint64(0), 1.0, 1.0,
              force, field, lo, hi, counts)


@njit(cache=True, inline="always")
def _empty_field(X, plan):
    """The field type of ``plan`` (its G, not recomputed): the BAOAB first phase ignores
    the field, but one type per run keeps _par_step to one compilation."""
    return field_of(plan)


@njit(cache=True)
def _initial_force_free(X, F, force):
    """F = ∇V at the current positions, no interaction (serial: once per call, and it
    saves compiling a parallel kernel for the blocked path)."""
    d, n = X.shape
    G = np.empty((d, BLOCK))
    field = NoInteraction(0.0)
    for i0 in range(0, n, BLOCK):
        _force_into(X, F, G, i0, min(n, i0 + BLOCK) - i0, force, field)


@njit(cache=True)
def _count_nonfinite_2d(X):
    """Non-finite entries of X (serial: once per chunk, a parallel kernel would cost a
    compilation)."""
    d, n = X.shape
    c = 0
    for a in range(d):
        for i in range(n):
            if not np.isfinite(X[a, i]):
                c += 1
    return c


# ----------------------------------------------------------------------------------------
# driver
# ----------------------------------------------------------------------------------------

def _box(domain, d):
    """(lo, hi) arrays of length d from scalars or length-d sequences; None → None."""
    if domain is None:
        return None, None
    try:
        if len(domain) != 2:
            raise ValueError
        lo = np.asarray(domain[0], dtype=np.float64)
        hi = np.asarray(domain[1], dtype=np.float64)
        if lo.ndim > 1 or hi.ndim > 1 or lo.size not in (1, d) or hi.size not in (1, d):
            raise ValueError
        lo = np.broadcast_to(lo.ravel(), (d,)).copy()
        hi = np.broadcast_to(hi.ravel(), (d,)).copy()
    except (TypeError, ValueError):
        raise ValueError(f"domain must be None or a pair (lo, hi) of scalars or of length-{d} "
                         f"sequences (got {domain!r})") from None
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(lo < hi)):
        raise ValueError(f"domain must satisfy lo < hi on every axis, all finite (got "
                         f"lo = {lo.tolist()}, hi = {hi.tolist()})")
    return lo, hi


def _validate_nd(x0, v0, temperature, gamma, dt, snapshots, domain, seed, any_d=False):
    x = np.array(x0, dtype=np.float64, copy=True)
    if x.ndim == 1 and any_d:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"x0 must have shape (N,) or (N, d) (got {x.shape})")
    n, d = x.shape
    if not (1 <= d <= MAX_DIMENSION or (any_d and d >= 1)):
        raise ValueError(f"the particles' dimension d must be 1, 2 or 3 (x0 has shape "
                         f"{x.shape}, d = {d})")
    if n <= 0:
        raise ValueError(f"the number of particles must be > 0 (got {n})")
    if n > MAX_N:
        raise ValueError(f"the number of particles must be ≤ {MAX_N} (got {n})")
    if not np.all(np.isfinite(x)):
        raise ValueError("x0 is not finite")
    v = None
    if v0 is not None:
        v = np.array(v0, dtype=np.float64, copy=True)
        if v.ndim == 1 and any_d:
            v = v[:, None]
        if v.shape != x.shape:
            raise ValueError(f"v0 has shape {v.shape} but x0 has {x.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError("v0 is not finite")
    lo, hi = _box(domain, d)
    if lo is not None:
        outside = int(np.count_nonzero(np.any((x < lo) | (x > hi), axis=1)))
        if outside:
            raise ValueError(f"{outside} of {n} initial positions lie outside the domain "
                             f"[{lo.tolist()}, {hi.tolist()}]")
    lam = check_temperature(temperature)
    try:
        gamma = float(gamma)
    except (TypeError, ValueError):
        raise ValueError(f"gamma must be a number > 0 (got {gamma!r})") from None
    if v is not None and not (gamma > 0.0 and np.isfinite(gamma)):
        raise ValueError(f"gamma must be > 0 and finite (got {gamma})")
    snaps = np.atleast_1d(np.asarray(snapshots, dtype=np.float64))
    if snaps.ndim != 1 or snaps.size == 0 or not np.all(np.isfinite(snaps)):
        raise ValueError(f"snapshots must be a non-empty list of finite times (got {snapshots!r})")
    if snaps[0] < 0.0 or np.any(np.diff(snaps) <= 0.0):
        raise ValueError(f"snapshots must be ≥ 0 and strictly increasing (got {snaps.tolist()})")
    t_end = float(snaps[-1])
    dt = float(dt)
    if not (dt > 0.0 and np.isfinite(dt)) or (t_end > 0.0 and dt > t_end):
        raise ValueError(f"dt must be > 0 and ≤ t_end = {t_end} (got {dt})")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer (got {seed!r})")
    return x, v, n, d, lo, hi, lam, gamma, dt, snaps, int(seed)


def energy_kind(energy, d):
    """``"none"``, ``"network"`` (compiled: ``energy.pack()`` gives NetworkArrays) or
    ``"python"`` (an object with ``drift(query, points, weights)``) for particles in d
    dimensions; TypeError/ValueError for an object that is not an energy or has another
    dimension."""
    if energy is None:
        return "none"
    if not callable(getattr(energy, "drift", None)):
        raise TypeError("energy must have a method drift(query, points, weights) (got "
                        f"{type(energy).__name__})")
    dim = getattr(energy, "dimension", None)
    if dim is not None and int(dim) != d:
        raise ValueError(f"the energy is defined in d = {int(dim)} but the particles live in "
                         f"d = {d}")
    pack = getattr(energy, "pack", None)
    if callable(pack) and isinstance(pack(), NetworkArrays):
        return "network"
    return "python"


def _specs_1d(grad_potential, interaction, interaction_method, mesh_cells, n, lo, hi):
    """d = 1 runs on these loops: the packed d = 1 force, the method code, the d = 1 plan
    maker and the mesh cells (``particles.forces``/``particles.interaction`` specs; d = 1
    PolynomialND, TabulatedND, RadialKernel converted)."""
    if isinstance(grad_potential, (PolynomialND, TabulatedND)):
        grad_potential = grad_potential.as_1d()
    if isinstance(interaction, RadialKernel):
        interaction = interaction.as_odd_kernel()
    a, b = (None, None) if lo is None else (float(lo[0]), float(hi[0]))
    force = as_force(grad_potential, a, b)
    inter = as_interaction(interaction, a, b)
    method = resolve_method(inter, interaction_method, n, bounded=lo is not None)
    cells = None
    mesh_plan = None
    if method == METHOD_MESH:
        cells = check_mesh(inter, a, b, mesh_cells)
        mesh_plan = MeshPlan(inter, a, b, cells)

    def make_plan(m):
        if method == METHOD_NONE:
            return NoInteraction(0.0)
        return LinePlan(pack_plan(method, inter, m, mesh_plan), np.zeros((1, m)))
    return force.packed(), method, make_plan, cells


def simulate_nd(x0, v0, *, grad_potential, interaction=None, gamma=1.0, temperature, dt,
                snapshots, domain, scheme="euler", interaction_method="auto", mesh_cells=None,
                seed, on_snapshot=None, on_progress=None, energy=None) -> ParticleSolution:
    """:func:`particles.driver.simulate` for x0 of shape (N, d), d = 2 or 3, and for every
    run with an ``energy`` (any d ≥ 1).

    Parameters as :func:`particles.driver.simulate`, except: ``x0``, ``v0`` of shape
    (N, d); ``grad_potential`` a :class:`particles.forces_nd.PolynomialND`,
    :class:`particles.forces_nd.TabulatedND` (box only) or None; ``interaction`` None,
    Quadratic, GaussianKernel or RadialKernel (radial); ``domain`` None or (lo, hi) with
    scalars or length-d sequences; ``mesh_cells`` an int or a pair (d = 2). The solution's
    ``x``, ``v`` have shape (N, d), ``reflections`` (d, 2), ``domain`` is
    (lo tuple, hi tuple) or None; ``on_snapshot(k, t, x, v)`` gets (N, d) read-only views.

    With an energy, d = 1 (x0 of shape (N,) or (N, 1)) takes the d = 1 specs and shapes
    of :func:`particles.driver.simulate` (the solution's arrays, snapshots and domain as
    there), and d > 3 is allowed (interaction None or Quadratic).

    energy : object, optional
        A mean-field energy (module doc; DESIGN §9): its drift ∇x δF/δμ at the particles'
        empirical measure is added to ∇V at every force evaluation. A
        :class:`grids.meanfield.TwoLayerNetwork` runs compiled; any other object with
        ``drift(query, points, weights) -> (N, d)`` is called from Python once per force
        evaluation (slower). An optional ``dimension`` must equal d.
    """
    any_d = energy is not None
    flat = any_d and np.ndim(x0) == 1
    x, v, n, d, lo, hi, lam, gamma, dt, snaps, seed = _validate_nd(
        x0, v0, temperature, gamma, dt, snapshots, domain, seed, any_d)
    kind = energy_kind(energy, d)
    kinetic = v is not None
    sch = get_scheme(scheme)
    if not kinetic and not sch.supports_overdamped:
        raise ValueError(f"scheme {sch.name!r} needs the kinetic regime "
                         "(v0 is None, i.e. overdamped); use 'euler'")
    bounded = lo is not None
    key = seed_key(seed)
    wlo = lo if bounded else np.full(d, -np.inf)
    whi = hi if bounded else np.full(d, np.inf)
    if d == 1 and any_d:
        fpack, method, make_inner, cells = _specs_1d(grad_potential, interaction,
                                                     interaction_method, mesh_cells, n, lo, hi)
    else:
        force = as_force_nd(grad_potential, d, bounded)
        inter = as_interaction_nd(interaction)
        method = resolve_method_nd(inter, interaction_method, n, d, bounded)
        fpack = force.packed()
        cells = None
        mesh_plan = None
        if method == METHOD_MESH:
            cells = check_mesh_2d(inter, lo, hi, mesh_cells)
            mesh_plan = MeshPlan2D(inter, lo, hi, cells)

        def make_inner(m):
            return pack_plan_nd(method, inter, m, d, mesh_plan)

    def make_plan(m):
        inner = make_inner(m)
        if kind == "network":
            net = energy.pack()
            n_data = net.y.size
            store = np.zeros((m if m * n_data <= STORE_MAX_ENTRIES else 0, n_data))
            return NetworkPlanND(inner, net, np.full(m, 1.0 / m), np.zeros((m, d)),
                                 np.zeros(n_data), np.zeros((m, d)), store, np.zeros((d, m)))
        if kind == "python":
            return GivenDriftPlanND(inner, np.zeros((d, m)), np.zeros((d, m)))
        return inner

    X = np.ascontiguousarray(x.T)
    V = np.ascontiguousarray(v.T) if kinetic else np.zeros((d, 0))
    baoab = sch.code == SCHEME_BAOAB
    F = np.zeros((d, n)) if baoab else np.zeros((d, 0))
    blocked = method == METHOD_NONE and kind == "none" and not STREAMING_ONLY
    weights = np.full(n, 1.0 / n)

    def python_drift(Xa, plan, live):
        """The Python energy's drift at the current positions into plan.E (not called on
        the compile warm-up's 2-particle copy: E stays 0 there)."""
        if not live:
            return
        pts = Xa.T
        pts.flags.writeable = False
        g = np.asarray(energy.drift(pts, pts, weights), dtype=np.float64)
        if g.shape != (n, d) and not (d == 1 and g.shape == (n,)):
            raise ValueError(f"energy.drift returned shape {g.shape}, expected ({n}, {d})")
        plan.E[:] = g.reshape(n, d).T

    def advance(Xa, Va, Fa, plan, n_steps, h, h_last, step0, live=True):
        if blocked:
            return _advance_blocked(Xa, Va, Fa, baoab, kinetic, n_steps, h, h_last, step0, key,
                                    gamma, lam, fpack, wlo, whi)
        if kind != "python":
            return _advance_streaming(Xa, Va, Fa, baoab, kinetic, n_steps, h, h_last, step0,
                                      key, gamma, lam, fpack, wlo, whi, plan)
        # Python energy: one compiled call per force evaluation, the drift from Python
        counts = np.zeros((d, 2), np.int64)
        for s in range(n_steps):
            hs = h if s < n_steps - 1 else h_last
            st = np.uint64(step0 + s)
            if baoab:
                counts += _streaming_phase(PHASE_BAOAB_FIRST, Xa, Va, Fa, kinetic, hs, st, key,
                                           gamma, lam, fpack, wlo, whi, plan)
                python_drift(Xa, plan, live)
                counts += _streaming_phase(PHASE_BAOAB_LAST, Xa, Va, Fa, kinetic, hs, st, key,
                                           gamma, lam, fpack, wlo, whi, plan)
            else:
                python_drift(Xa, plan, live)
                counts += _streaming_phase(PHASE_EULER, Xa, Va, Fa, kinetic, hs, st, key,
                                           gamma, lam, fpack, wlo, whi, plan)
        return counts

    def init_force(Xa, Va, Fa, plan, live=True):
        if baoab and method == METHOD_NONE and kind == "none":
            _initial_force_free(Xa, Fa, fpack)
        elif baoab:
            if kind == "python":
                python_drift(Xa, plan, live)
            _initial_force(Xa, Va, Fa, fpack, plan, wlo, whi)

    # compile / load this run's kernels on a 2-particle copy (same types), timed apart
    tc = time.perf_counter()
    m_w = min(n, 2)
    Xw = X[:, :m_w].copy()
    Vw = V[:, :m_w].copy()
    Fw = F[:, :m_w].copy()
    plan_w = make_plan(m_w)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=NumbaPerformanceWarning,
                                message="(?s).*no transformation for parallel execution")
        init_force(Xw, Vw, Fw, plan_w, live=False)
        advance(Xw, Vw, Fw, plan_w, 1, min(dt, 1e-12), min(dt, 1e-12), 0, live=False)
        _count_nonfinite_2d(Xw)
    compile_time = time.perf_counter() - tc

    ts = time.perf_counter()
    plan = make_plan(n)
    ro_x = X.T
    ro_x.flags.writeable = False
    ro_v = None
    if kinetic:
        ro_v = V.T
        ro_v.flags.writeable = False
    if flat:            # x0 of shape (N,): the d = 1 shapes of particles.driver.simulate
        ro_x = ro_x[:, 0]
        ro_v = None if ro_v is None else ro_v[:, 0]
    init_force(X, V, F, plan)
    t = 0.0
    step = 0
    reflections = np.zeros((d, 2), dtype=np.int64)
    status, message = 0, "ok"
    reached = []
    chunk = max(1, int(CHUNK_WORK // max(n * d, 1)))
    if kind == "network":       # the network's work per step is O(N M p), not O(N d)
        chunk = max(1, int(CHUNK_WORK // max(n * energy.pack().y.size, 1)))
    for k, ts_k in enumerate(snaps):
        n_int, last = _step_plan(t, float(ts_k), dt)
        done = 0
        while done < n_int:
            m = min(chunk, n_int - done)
            h_last = last if done + m == n_int else dt
            reflections += advance(X, V, F, plan, m, dt, h_last, step)
            step += m
            done += m
            t = float(ts_k) if done == n_int else t + m * dt
            bad = _count_nonfinite_2d(X) + (_count_nonfinite_2d(V) if kinetic else 0)
            if bad:
                status = -1
                message = (f"diverged: {bad} non-finite values at t = {t:.6g} "
                           f"(step {step}); reduce dt")
                break
            if on_progress is not None:
                on_progress(t, step)
        if status != 0:
            break
        t = float(ts_k)
        reached.append(t)
        if on_snapshot is not None:
            on_snapshot(k, t, ro_x, ro_v)
    solve_time = time.perf_counter() - ts
    drifts = n * step * sch.drifts_per_step
    n_refl = int(reflections.sum())
    if status == 0:
        walls = ("no walls (free space)" if not bounded else
                 f"{n_refl} reflections ({n_refl / max(1, drifts):.3g} of the particle "
                 f"drifts; per axis (lo, hi): {reflections.tolist()})")
        message = f"reached t = {t:.6g} in {step} steps; {walls}"
    xs = np.ascontiguousarray(X.T)
    vs = np.ascontiguousarray(V.T) if kinetic else None
    if d == 1 and any_d:        # as particles.driver.simulate: float walls
        dom = None if not bounded else (float(lo[0]), float(hi[0]))
    else:
        dom = None if not bounded else (tuple(lo.tolist()), tuple(hi.tolist()))
    if flat:
        xs = xs[:, 0].copy()
        vs = None if vs is None else vs[:, 0].copy()
    return ParticleSolution(status=status, message=message, success=status == 0,
                            t=np.array(reached), t_final=t, x=xs, v=vs, n_steps=step,
                            reflections=reflections, drifts=drifts,
                            compile_time=compile_time, solve_time=solve_time,
                            interaction_method=METHOD_NAMES[method], scheme=sch.name,
                            mesh_cells=cells, domain=dom)
