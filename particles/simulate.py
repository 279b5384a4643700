"""Compiled time loops of the N-particle Langevin system and the :func:`simulate` driver.

Model (1-D), with G(x; ρ_N) = V'(x) + (1/N) Σ_j W'(x − x_j):

* kinetic:     dX = V dt,  dV = −γ V dt − G(X; ρ_N) dt + sqrt(2γλ) dB;
* overdamped:  dX = −G(X; ρ_N) dt + sqrt(2λ) dB.

Schemes (registry :data:`SCHEMES`), step η, ξ ~ N(0, 1) from :mod:`particles.rng`:

* ``euler`` (the report's Euler–Maruyama, x, G and ρ_N from the old step):
  kinetic x ← x + η v, v ← (1 − γη) v − η G + sqrt(2γλη) ξ;
  overdamped x ← x − η G + sqrt(2λη) ξ. Weak order 1.
* ``baoab`` (kinetic only; Leimkuhler–Matthews): B v ← v − (η/2) G; A x ← x + (η/2) v;
  O v ← e^{−γη} v + sqrt(λ(1 − e^{−2γη})) ξ; A; B with G recomputed once per step at the
  new positions and reused for the next step's first B. Configurational averages are
  weak order 2.

Boundaries: after every drift (A) a particle outside [lo, hi] is mirrored back
(x ← 2 hi − x or 2 lo − x) and, in the kinetic case, its velocity reversed; each mirror
is counted in ``n_reflected``.

Time stepping: between consecutive snapshot times the interval is covered by
⌈Δ/η⌉ steps, the last one shortened so that steps land exactly on every snapshot. The
loop between two progress reports is one compiled call ("chunk"); there is no Python
per-step loop. Noise of particle i at global step s is a pure function of
(seed, s, i), and every reduction has a fixed order, so results are bit-identical for
any number of Numba threads.

Two compiled paths:

* streaming (interacting runs) — time loop outside; per step the mean-field set-up (exact mean,
  pairwise forces or the mesh field, :mod:`particles.interaction`) then one ``prange``
  update over particles (two for BAOAB);
* blocked (no interaction) — ``prange`` over blocks of 1024 particles with the time
  loop inside each block: one parallel region per chunk instead of per step, and a
  block's positions stay in L1 across its steps. Each step is a noise pass
  (:func:`particles.rng.fill_normals`, one 64-bit word per two particles) followed by
  update passes over local views that LLVM vectorises; the polynomial of the harmonic
  and double-well cases is written out per call site (``FORM_LINEAR``/``FORM_CUBIC``)
  so the loop has no force branch, and positions leaving the domain are only counted
  there, with a separate reflection pass when there are any. Measured on idle cores
  (double well, 20 steps of η = 0.01, 2 threads, both paths forced): 3.4e8
  (N = 10⁵), 6.4e8 (10⁶), 5.9e8 (10⁷) particle-steps/s overdamped against 1.3e8,
  2.7e8, 3.1e8 for the streaming kernel, so every non-interacting run takes it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange

from .forces import FORCE_POLYNOMIAL, as_force, external_force
from .interaction import (METHOD_EXACT, METHOD_MESH, METHOD_NAMES, METHOD_NONE,
                          METHOD_PAIRWISE, INTERACTION_METHODS, MeshPlan, as_interaction,
                          check_mesh, deterministic_mean_par, mesh_field, mesh_interp,
                          pairwise_force, resolve_method)
from .rng import fill_normals, normal, seed_key

__all__ = ["simulate", "ParticleSolution", "SCHEMES", "Scheme", "Euler", "BAOAB",
           "get_scheme"]

SCHEME_EULER = 0
SCHEME_BAOAB = 1
BLOCK = 1024            # particles per block in the blocked independent path
BLOCKED_PATH = True     # non-interacting runs take the blocked path (tests switch it off)
CHUNK_WORK = 5.0e7      # particle-steps per compiled call between progress reports
MAX_MIRRORS = 8


class Scheme:
    """Base class of the time-stepping schemes (registry :data:`SCHEMES`).

    Attributes
    ----------
    name : str
    code : int
        Dispatch code of the compiled loops.
    supports_overdamped : bool
    weak_order : int
    """

    name = "scheme"
    code = -1
    supports_overdamped = True
    weak_order = 1


class Euler(Scheme):
    """Euler–Maruyama, exactly the report's scheme (kinetic and overdamped); weak order 1."""

    name = "euler"
    code = SCHEME_EULER
    supports_overdamped = True
    weak_order = 1


class BAOAB(Scheme):
    """BAOAB splitting (kinetic only); configurational weak order 2."""

    name = "baoab"
    code = SCHEME_BAOAB
    supports_overdamped = False
    weak_order = 2


SCHEMES = {"euler": Euler, "baoab": BAOAB}


def get_scheme(scheme):
    """Look a scheme up by name in :data:`SCHEMES`, or accept a :class:`Scheme` subclass."""
    if isinstance(scheme, str):
        if scheme not in SCHEMES:
            raise ValueError(f"particles.scheme: unknown {scheme!r} "
                             f"(choose from {', '.join(SCHEMES)})")
        return SCHEMES[scheme]
    if isinstance(scheme, type) and issubclass(scheme, Scheme) and scheme.code in (
            SCHEME_EULER, SCHEME_BAOAB):
        return scheme
    raise ValueError(f"particles.scheme: unknown {scheme!r} (choose from {', '.join(SCHEMES)})")


@dataclass
class ParticleSolution:
    """Result of :func:`simulate`.

    Attributes
    ----------
    status : int
        0 success, −1 diverged (non-finite state).
    message : str
    success : bool
    t : float
        Time reached (the last snapshot on success).
    x, v : ndarray, shape (N,)
        Final positions / velocities (``v`` is None in the overdamped case).
    n_steps : int
        Time steps taken.
    n_reflected : int
        Reflection events at the domain boundary (a particle mirrored twice counts 2).
    compile_time, solve_time : float
        Seconds spent compiling / loading the Numba kernels, and stepping.
    interaction_method : str
        ``"none"``, ``"exact"``, ``"pairwise"`` or ``"mesh"``.
    scheme : str
    mesh_cells : int or None
    snapshot_times : ndarray
        The snapshot times reached (on_snapshot was called for each).
    """

    status: int
    message: str
    success: bool
    t: float
    x: np.ndarray
    v: np.ndarray | None
    n_steps: int
    n_reflected: int
    compile_time: float
    solve_time: float
    interaction_method: str
    scheme: str = "euler"
    mesh_cells: int | None = None
    snapshot_times: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def reflected_fraction(self):
        """Reflections per particle-step, n_reflected / (N · n_steps)."""
        denom = self.x.size * max(self.n_steps, 1)
        return self.n_reflected / denom


# ----------------------------------------------------------------------------------------
# compiled pieces
# ----------------------------------------------------------------------------------------

@njit(cache=True, inline="always")
def _reflect(x, v, lo, hi):
    """Mirror x into [lo, hi] (reversing v for each mirror); returns (x, v, mirrors)."""
    c = 0
    if x >= lo and x <= hi:
        return x, v, c
    for _ in range(MAX_MIRRORS):
        if x > hi:
            x = 2.0 * hi - x
            v = -v
            c += 1
        elif x < lo:
            x = 2.0 * lo - x
            v = -v
            c += 1
        else:
            return x, v, c
    if x >= lo and x <= hi:
        return x, v, c
    # far outside (blow-up): fold with period 2L; NaN/inf stay non-finite
    L = hi - lo
    y = (x - lo) - 2.0 * L * np.floor((x - lo) / (2.0 * L))
    if y > L:
        y = 2.0 * L - y
        v = -v
    return lo + y, v, c + 1


@njit(cache=True, parallel=True)
def _advance_independent(x, v, F, kinetic, scheme, n_steps, dt, dt_last, step0, key,
                         gamma, lam, fkind, coeffs, table, tlo, tinvh, lo, hi):
    """Advance non-interacting particles ``n_steps`` steps (compiled, parallel by block).

    Parameters
    ----------
    x, v : ndarray, shape (N,)
        Positions, velocities (``v`` unused when not ``kinetic``); updated in place.
    F : ndarray, shape (N,)
        BAOAB: V'(x) at the current positions (read and updated); unused for euler.
    scheme : int
    n_steps : int
        Steps of size ``dt``, except the last of size ``dt_last``.
    step0 : int
        Global index of the first step (the noise counter).
    key : uint64
        Seed key.

    Returns
    -------
    int
        Reflections.
    """
    n = x.shape[0]
    nblk = (n + BLOCK - 1) // BLOCK
    # per-block counts summed afterwards: a fixed-order reduction
    counts = np.zeros(nblk, np.int64)
    for b in prange(nblk):
        i0 = b * BLOCK
        i1 = min(n, i0 + BLOCK)
        counts[b] = _block_independent(x, v, F, i0, i1, kinetic, scheme, n_steps, dt,
                                       dt_last, step0, key, gamma, lam, fkind, coeffs, table,
                                       tlo, tinvh, lo, hi)
    return counts.sum()


# Force forms of the blocked update passes, fixed at compile time by the call site so that
# the polynomial of the harmonic and double-well cases is written out in a branch-free,
# vectorisable loop (same operation order as external_force: identical results).
FORM_GENERAL = 0
FORM_LINEAR = 1
FORM_CUBIC = 3


@njit(cache=True, inline="always")
def _force_form(xi, form, c0, c1, c2, c3, fkind, coeffs, table, tlo, tinvh):
    if form == FORM_LINEAR:
        return c1 * xi + c0
    if form == FORM_CUBIC:
        return ((c3 * xi + c2) * xi + c1) * xi + c0
    return external_force(xi, fkind, coeffs, table, tlo, tinvh)


@njit(cache=True)
def _block_independent(x, v, F, i0, i1, kinetic, scheme, n_steps, dt, dt_last, step0, key,
                       gamma, lam, fkind, coeffs, table, tlo, tinvh, lo, hi):
    """All ``n_steps`` steps for particles i0 ≤ i < i1 (serial; see _advance_independent).

    Each step is a pass that writes the block's normals into a buffer, then update passes
    over local views that LLVM vectorises; they count positions outside [lo, hi], and only
    when there are some does a reflection pass run (the same mirrors as the per-particle
    streaming update, so results are identical)."""
    m = i1 - i0
    xs = x[i0:i1]
    vs = v[i0:i1] if kinetic else x[i0:0]
    Fs = F[i0:i1] if scheme == SCHEME_BAOAB else x[i0:0]
    z = np.empty(BLOCK)
    # coefficients as scalars: an array could alias the positions, and LLVM would then
    # reload it inside the vectorised loops
    deg = coeffs.shape[0] - 1 if fkind == FORCE_POLYNOMIAL else -1
    c0 = coeffs[0] if deg >= 0 else 0.0
    c1 = coeffs[1] if deg >= 1 else 0.0
    c2 = coeffs[2] if deg >= 3 else 0.0
    c3 = coeffs[3] if deg >= 3 else 0.0
    cnt = 0
    for s in range(n_steps):
        h = dt if s < n_steps - 1 else dt_last
        fill_normals(z, m, key, np.uint64(step0 + s), np.uint64(i0))
        if kinetic and scheme == SCHEME_EULER:
            if deg == FORM_LINEAR:
                cnt += _euler_kin_pass(xs, vs, z, m, h, gamma, lam, FORM_LINEAR, c0, c1, c2, c3, fkind,
                                       coeffs, table, tlo, tinvh, lo, hi)
            elif deg == FORM_CUBIC:
                cnt += _euler_kin_pass(xs, vs, z, m, h, gamma, lam, FORM_CUBIC, c0, c1, c2, c3, fkind,
                                       coeffs, table, tlo, tinvh, lo, hi)
            else:
                cnt += _euler_kin_pass(xs, vs, z, m, h, gamma, lam, FORM_GENERAL, c0, c1, c2, c3, fkind,
                                       coeffs, table, tlo, tinvh, lo, hi)
        elif kinetic:
            if deg == FORM_LINEAR:
                cnt += _baoab_pass(xs, vs, Fs, z, m, h, gamma, lam, FORM_LINEAR, c0, c1, c2, c3, fkind,
                                   coeffs, table, tlo, tinvh, lo, hi)
            elif deg == FORM_CUBIC:
                cnt += _baoab_pass(xs, vs, Fs, z, m, h, gamma, lam, FORM_CUBIC, c0, c1, c2, c3, fkind,
                                   coeffs, table, tlo, tinvh, lo, hi)
            else:
                cnt += _baoab_pass(xs, vs, Fs, z, m, h, gamma, lam, FORM_GENERAL, c0, c1, c2, c3, fkind,
                                   coeffs, table, tlo, tinvh, lo, hi)
        else:
            if deg == FORM_LINEAR:
                cnt += _euler_od_pass(xs, z, m, h, lam, FORM_LINEAR, c0, c1, c2, c3, fkind, coeffs,
                                      table, tlo, tinvh, lo, hi)
            elif deg == FORM_CUBIC:
                cnt += _euler_od_pass(xs, z, m, h, lam, FORM_CUBIC, c0, c1, c2, c3, fkind, coeffs,
                                      table, tlo, tinvh, lo, hi)
            else:
                cnt += _euler_od_pass(xs, z, m, h, lam, FORM_GENERAL, c0, c1, c2, c3, fkind, coeffs,
                                      table, tlo, tinvh, lo, hi)
    return cnt


@njit(cache=True)
def _reflect_block(xs, vs, m, lo, hi, kinetic):
    """Mirror every position of the block into [lo, hi]; returns the mirrors."""
    cnt = 0
    for k in range(m):
        if kinetic:
            xn, vn, cm = _reflect(xs[k], vs[k], lo, hi)
            vs[k] = vn
        else:
            xn, vn, cm = _reflect(xs[k], 0.0, lo, hi)
        xs[k] = xn
        cnt += cm
    return cnt


@njit(cache=True, inline="always")
def _euler_od_pass(xs, z, m, h, lam, form, c0, c1, c2, c3, fkind, coeffs, table, tlo, tinvh, lo, hi):
    sig = np.sqrt(2.0 * lam * h)
    out = 0
    for k in range(m):
        xi = xs[k]
        xn = xi - h * _force_form(xi, form, c0, c1, c2, c3, fkind, coeffs, table, tlo, tinvh) + sig * z[k]
        out += np.int64(xn < lo) + np.int64(xn > hi)
        xs[k] = xn
    if out:
        return _reflect_block(xs, xs, m, lo, hi, False)
    return 0


@njit(cache=True, inline="always")
def _euler_kin_pass(xs, vs, z, m, h, gamma, lam, form, c0, c1, c2, c3, fkind, coeffs, table, tlo, tinvh,
                    lo, hi):
    damp = 1.0 - gamma * h
    sig = np.sqrt(2.0 * gamma * lam * h)
    out = 0
    for k in range(m):
        xi = xs[k]
        vi = vs[k]
        g = _force_form(xi, form, c0, c1, c2, c3, fkind, coeffs, table, tlo, tinvh)
        xn = xi + h * vi
        vs[k] = damp * vi - h * g + sig * z[k]
        out += np.int64(xn < lo) + np.int64(xn > hi)
        xs[k] = xn
    if out:
        return _reflect_block(xs, vs, m, lo, hi, True)
    return 0


@njit(cache=True, inline="always")
def _baoab_pass(xs, vs, Fs, z, m, h, gamma, lam, form, c0, c1, c2, c3, fkind, coeffs, table, tlo, tinvh,
                lo, hi):
    half = 0.5 * h
    ou = np.exp(-gamma * h)
    sig = np.sqrt(lam * (1.0 - ou * ou))
    cnt = 0
    out = 0
    for k in range(m):                       # B, A
        vi = vs[k] - half * Fs[k]
        xn = xs[k] + half * vi
        out += np.int64(xn < lo) + np.int64(xn > hi)
        vs[k] = vi
        xs[k] = xn
    if out:
        cnt += _reflect_block(xs, vs, m, lo, hi, True)
    out = 0
    for k in range(m):                       # O, A
        vi = ou * vs[k] + sig * z[k]
        xn = xs[k] + half * vi
        out += np.int64(xn < lo) + np.int64(xn > hi)
        vs[k] = vi
        xs[k] = xn
    if out:
        cnt += _reflect_block(xs, vs, m, lo, hi, True)
    for k in range(m):                       # force, B
        g = _force_form(xs[k], form, c0, c1, c2, c3, fkind, coeffs, table, tlo, tinvh)
        Fs[k] = g
        vs[k] = vs[k] - half * g
    return cnt


@njit(cache=True)
def _prepare_interaction(x, G, method, ikind, iparams, itable, mlo, minvh, partial, rho,
                         work, khat, twiddle, rev):
    """Per-step interaction set-up: returns the mean (exact method), fills G (pairwise)
    or the node field ``rho`` (mesh)."""
    if method == METHOD_EXACT:
        return deterministic_mean_par(x)
    if method == METHOD_PAIRWISE:
        pairwise_force(x, G, ikind, iparams, itable)
    elif method == METHOD_MESH:
        mesh_field(x, mlo, minvh, partial, rho, work, khat, twiddle, rev)
    return 0.0


@njit(cache=True, inline="always")
def _interaction_at(xi, i, method, kappa, mean, G, mlo, minvh, rho):
    """(1/N) Σ_j W'(x_i − x_j) for particle i after :func:`_prepare_interaction`."""
    if method == METHOD_EXACT:
        return kappa * (xi - mean)
    if method == METHOD_PAIRWISE:
        return G[i]
    if method == METHOD_MESH:
        return mesh_interp(xi, mlo, minvh, rho)
    return 0.0


@njit(cache=True, parallel=True)
def _total_force(x, F, fkind, coeffs, table, tlo, tinvh, method, kappa, mean, G, mlo, minvh,
                 rho):
    """F[i] = V'(x_i) + (1/N) Σ_j W'(x_i − x_j) (after :func:`_prepare_interaction`)."""
    for i in prange(x.shape[0]):
        xi = x[i]
        F[i] = (external_force(xi, fkind, coeffs, table, tlo, tinvh)
                + _interaction_at(xi, i, method, kappa, mean, G, mlo, minvh, rho))


@njit(cache=True, parallel=True)
def _euler_update(x, v, kinetic, h, st, key, gamma, lam, fkind, coeffs, table, tlo, tinvh,
                  lo, hi, method, kappa, mean, G, mlo, minvh, rho):
    n = x.shape[0]
    total = 0
    damp = 1.0 - gamma * h
    sigk = np.sqrt(2.0 * gamma * lam * h)
    sigo = np.sqrt(2.0 * lam * h)
    for i in prange(n):
        z = normal(key, st, np.uint64(i))
        xi = x[i]
        g = (external_force(xi, fkind, coeffs, table, tlo, tinvh)
             + _interaction_at(xi, i, method, kappa, mean, G, mlo, minvh, rho))
        if kinetic:
            vi = v[i]
            xn = xi + h * vi
            vn = damp * vi - h * g + sigk * z
            xn, vn, c = _reflect(xn, vn, lo, hi)
            v[i] = vn
        else:
            xn = xi - h * g + sigo * z
            xn, vn, c = _reflect(xn, 0.0, lo, hi)
        x[i] = xn
        total += c
    return total


@njit(cache=True, parallel=True)
def _baoab_first(x, v, F, h, st, key, gamma, lam, lo, hi):
    """B A O A of BAOAB with the stored force F."""
    n = x.shape[0]
    half = 0.5 * h
    ou = np.exp(-gamma * h)
    sig = np.sqrt(lam * (1.0 - ou * ou))
    total = 0
    for i in prange(n):
        z = normal(key, st, np.uint64(i))
        vi = v[i] - half * F[i]
        xi = x[i] + half * vi
        xi, vi, c1 = _reflect(xi, vi, lo, hi)
        vi = ou * vi + sig * z
        xi = xi + half * vi
        xi, vi, c2 = _reflect(xi, vi, lo, hi)
        x[i] = xi
        v[i] = vi
        total += c1 + c2
    return total


@njit(cache=True, parallel=True)
def _baoab_last(x, v, F, h, fkind, coeffs, table, tlo, tinvh, method, kappa, mean, G, mlo,
                minvh, rho):
    """Final B of BAOAB: F ← V'(x) + interaction, v ← v − (h/2) F."""
    half = 0.5 * h
    for i in prange(x.shape[0]):
        xi = x[i]
        f = (external_force(xi, fkind, coeffs, table, tlo, tinvh)
             + _interaction_at(xi, i, method, kappa, mean, G, mlo, minvh, rho))
        F[i] = f
        v[i] = v[i] - half * f


@njit(cache=True)
def _advance_coupled(x, v, F, G, kinetic, scheme, n_steps, dt, dt_last, step0, key, gamma,
                     lam, fkind, coeffs, table, tlo, tinvh, lo, hi, method, kappa, ikind,
                     iparams, itable, mlo, minvh, partial, rho, work, khat, twiddle, rev):
    """Advance interacting particles ``n_steps`` steps (time loop compiled; each step's
    interaction set-up and particle update are parallel kernels). Arguments as
    :func:`_advance_independent` plus the interaction (``G``: workspace, shape (N,) for
    pairwise). Returns reflections."""
    total = 0
    for s in range(n_steps):
        h = dt if s < n_steps - 1 else dt_last
        st = np.uint64(step0 + s)
        if scheme == SCHEME_EULER:
            mean = _prepare_interaction(x, G, method, ikind, iparams, itable, mlo, minvh,
                                        partial, rho, work, khat, twiddle, rev)
            total += _euler_update(x, v, kinetic, h, st, key, gamma, lam, fkind, coeffs,
                                   table, tlo, tinvh, lo, hi, method, kappa, mean, G, mlo,
                                   minvh, rho)
        else:
            total += _baoab_first(x, v, F, h, st, key, gamma, lam, lo, hi)
            mean = _prepare_interaction(x, G, method, ikind, iparams, itable, mlo, minvh,
                                        partial, rho, work, khat, twiddle, rev)
            _baoab_last(x, v, F, h, fkind, coeffs, table, tlo, tinvh, method, kappa, mean,
                        G, mlo, minvh, rho)
    return total


@njit(cache=True)
def _initial_force(x, F, G, fkind, coeffs, table, tlo, tinvh, method, kappa, ikind, iparams,
                   itable, mlo, minvh, partial, rho, work, khat, twiddle, rev):
    """F = V'(x) + interaction at the current positions (BAOAB's first B)."""
    mean = _prepare_interaction(x, G, method, ikind, iparams, itable, mlo, minvh, partial,
                                rho, work, khat, twiddle, rev)
    _total_force(x, F, fkind, coeffs, table, tlo, tinvh, method, kappa, mean, G, mlo, minvh,
                 rho)


@njit(cache=True, parallel=True)
def _count_nonfinite(x):
    c = 0
    for i in prange(x.shape[0]):
        if not np.isfinite(x[i]):
            c += 1
    return c


# ----------------------------------------------------------------------------------------
# driver
# ----------------------------------------------------------------------------------------

def _step_plan(t0, t1, dt):
    """(n_steps, dt_last) covering [t0, t1] with steps dt and a shortened last step."""
    span = t1 - t0
    if span <= 0.0:
        return 0, dt
    n = int(math.ceil(span / dt * (1.0 - 1e-12)))
    n = max(n, 1)
    last = span - (n - 1) * dt
    return n, last


def _validate(x0, v0, temperature, gamma, dt, snapshots, domain, seed):
    x = np.array(x0, dtype=np.float64, copy=True).ravel()
    n = x.size
    if n <= 0:
        raise ValueError(f"particles.n: must be > 0 (got {n})")
    if n >= 2**32:
        raise ValueError(f"particles.n: must be < 2**32 (got {n})")
    v = None
    if v0 is not None:
        v = np.array(v0, dtype=np.float64, copy=True).ravel()
        if v.size != n:
            raise ValueError(f"initial: v0 has {v.size} entries but x0 has {n}")
        if not np.all(np.isfinite(v)):
            raise ValueError("initial: v0 is not finite")
    try:
        lo, hi = (float(domain[0]), float(domain[1]))
    except Exception:
        raise ValueError(f"grid.x: domain must be a pair (lo, hi) (got {domain!r})") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"grid.x: domain must satisfy lo < hi, both finite (got {domain!r})")
    if not np.all(np.isfinite(x)):
        raise ValueError("initial: x0 is not finite")
    outside = int(np.count_nonzero((x < lo) | (x > hi)))
    if outside:
        raise ValueError(f"initial: {outside} of {n} particles lie outside the domain "
                         f"[{lo}, {hi}]")
    temperature = float(temperature)
    if not (temperature >= 0.0 and np.isfinite(temperature)):
        raise ValueError(f"model.temperature: must be ≥ 0 (got {temperature})")
    gamma = float(gamma)
    if v is not None and not (gamma > 0.0 and np.isfinite(gamma)):
        raise ValueError(f"model.gamma: must be > 0 (got {gamma})")
    snaps = np.atleast_1d(np.asarray(snapshots, dtype=np.float64))
    if snaps.ndim != 1 or snaps.size == 0 or not np.all(np.isfinite(snaps)):
        raise ValueError(f"time.snapshots: must be a non-empty list of times (got {snapshots!r})")
    if snaps[0] < 0.0 or np.any(np.diff(snaps) <= 0.0):
        raise ValueError("time.snapshots: must be ≥ 0 and strictly increasing "
                         f"(got {snaps.tolist()})")
    t_end = float(snaps[-1])
    dt = float(dt)
    if not (dt > 0.0 and np.isfinite(dt)) or (t_end > 0.0 and dt > t_end):
        raise ValueError(f"particles.dt: must be > 0 and ≤ t_end = {t_end} (got {dt})")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"particles.seed: must be an integer (got {seed!r})")
    return x, v, n, lo, hi, temperature, gamma, dt, snaps, int(seed)


def simulate(x0, v0, *, grad_potential, interaction=None, gamma=1.0, temperature, dt,
             snapshots, domain, scheme="euler", interaction_method="auto", mesh_cells=None,
             seed, on_snapshot=None, on_progress=None) -> ParticleSolution:
    """Simulate N Langevin particles from t = 0 through the snapshot times.

    Parameters
    ----------
    x0 : array_like, shape (N,)
        Initial positions, inside ``domain`` (copied).
    v0 : array_like, shape (N,) or None
        Initial velocities (copied); ``None`` selects the overdamped dynamics.
    grad_potential : Polynomial | Tabulated | callable | None
        V'. A vectorised callable is tabulated on the domain (:class:`Tabulated`).
    interaction : Quadratic | GaussianKernel | TabulatedKernel | callable | None
        W spec; a callable is taken as W' and tabulated on [−L, L], L = hi − lo.
    gamma : float
        Friction γ > 0 (kinetic).
    temperature : float
        λ ≥ 0.
    dt : float
        Step η, 0 < η ≤ t_end; the last step before each snapshot is shortened.
    snapshots : array_like, shape (K,)
        Strictly increasing times ≥ 0; t_end = snapshots[-1].
    domain : (float, float)
        [lo, hi]; reflecting boundaries.
    scheme : str or Scheme subclass
        ``"euler"`` or ``"baoab"`` (kinetic only), see :data:`SCHEMES`.
    interaction_method : {"auto", "pairwise", "mesh"}
    mesh_cells : int, optional
        Mesh cells M for ``mesh`` (default: spacing ≈ kernel scale / 8).
    seed : int
    on_snapshot : callable(index, t, x, v), optional
        Called when snapshot ``index`` (into ``snapshots``) is reached, with read-only
        views of the live arrays (copy them to keep them); ``v`` is None if overdamped.
    on_progress : callable(t, n_steps), optional
        Called after each compiled chunk.

    Returns
    -------
    ParticleSolution
    """
    x, v, n, lo, hi, lam, gamma, dt, snaps, seed = _validate(
        x0, v0, temperature, gamma, dt, snapshots, domain, seed)
    kinetic = v is not None
    sch = get_scheme(scheme)
    if not kinetic and not sch.supports_overdamped:
        raise ValueError(f"particles.scheme: {sch.name!r} needs the kinetic regime "
                         "(v0 is None, i.e. overdamped); use 'euler'")
    if interaction_method not in INTERACTION_METHODS:
        raise ValueError(f"particles.interaction: unknown {interaction_method!r} "
                         f"(choose from {', '.join(INTERACTION_METHODS)})")
    force = as_force(grad_potential, lo, hi)
    inter = as_interaction(interaction, lo, hi)
    method = resolve_method(inter, interaction_method, n)
    fkind, coeffs, table, tlo, tinvh = force.arrays()
    key = seed_key(seed)

    kappa = 0.0
    ikind, iparams, itable = 0, np.zeros(3), np.zeros(2)
    cells = None
    if method == METHOD_EXACT:
        kappa = float(inter.kappa)
    elif method in (METHOD_PAIRWISE, METHOD_MESH):
        ikind, iparams, itable = inter.params()
    if method == METHOD_MESH:
        cells = check_mesh(inter, lo, hi, mesh_cells)
        plan = MeshPlan(inter, lo, hi, cells)
        margs = plan.args()
    else:
        margs = (0.0, 1.0, np.zeros((1, 2)), np.zeros(2), np.zeros(1, np.complex128),
                 np.zeros(1, np.complex128), np.zeros(1, np.complex128),
                 np.zeros(1, np.int64))

    vv = v if kinetic else np.zeros(0)
    F = np.zeros(n) if (sch.code == SCHEME_BAOAB) else np.zeros(0)
    G = np.zeros(n) if method == METHOD_PAIRWISE else np.zeros(0)
    common = (gamma, lam, fkind, coeffs, table, tlo, tinvh, lo, hi)
    iargs = (method, kappa, ikind, iparams, itable) + tuple(margs)

    use_blocks = method == METHOD_NONE and BLOCKED_PATH

    def advance(xa, va, Fa, Ga, n_steps, h, h_last, step0):
        if use_blocks:
            return _advance_independent(xa, va, Fa, kinetic, sch.code, n_steps, h, h_last,
                                        step0, key, *common)
        return _advance_coupled(xa, va, Fa, Ga, kinetic, sch.code, n_steps, h, h_last, step0,
                                key, *common, *iargs)

    def init_force(xa, Fa, Ga):
        if Fa.size == 0:
            return
        _initial_force(xa, Fa, Ga, fkind, coeffs, table, tlo, tinvh, *iargs)

    # compile / load every kernel on a 2-particle copy (same types), timed apart
    tc = time.perf_counter()
    m_w = min(n, 2)
    xw = x[:m_w].copy()
    vw = vv[:m_w].copy()
    Fw = F[:m_w].copy()
    Gw = G[:m_w].copy()
    init_force(xw, Fw, Gw)
    advance(xw, vw, Fw, Gw, 1, min(dt, 1e-12), min(dt, 1e-12), 0)
    _count_nonfinite(xw)
    compile_time = time.perf_counter() - tc

    ts = time.perf_counter()
    ro_x = x.view()
    ro_x.flags.writeable = False
    ro_v = None
    if kinetic:
        ro_v = v.view()
        ro_v.flags.writeable = False
    init_force(x, F, G)
    t = 0.0
    step = 0
    reflected = 0
    status, message = 0, "ok"
    reached = []
    chunk = max(1, int(CHUNK_WORK // max(n, 1)))
    for k, ts_k in enumerate(snaps):
        n_int, last = _step_plan(t, float(ts_k), dt)
        done = 0
        while done < n_int:
            m = min(chunk, n_int - done)
            h_last = last if done + m == n_int else dt
            reflected += int(advance(x, vv, F, G, m, dt, h_last, step))
            step += m
            done += m
            t = float(ts_k) if done == n_int else t + m * dt
            bad = _count_nonfinite(x) + (_count_nonfinite(v) if kinetic else 0)
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
    if status == 0:
        message = (f"reached t = {t:.6g} in {step} steps; {reflected} reflections "
                   f"({reflected / max(1, n * step):.3g} per particle-step)")
    return ParticleSolution(status=status, message=message, success=status == 0, t=t, x=x,
                            v=v, n_steps=step, n_reflected=reflected,
                            compile_time=compile_time, solve_time=solve_time,
                            interaction_method=METHOD_NAMES[method], scheme=sch.name,
                            mesh_cells=cells, snapshot_times=np.array(reached))
