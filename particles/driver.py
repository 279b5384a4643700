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
is counted, per wall, in ``reflections``. Without a domain (``domain=None``, free space)
there are no walls: the kernels run with lo = −∞, hi = +∞, so no position is ever outside
and nothing is mirrored (the same code, no extra branch).

Time stepping: between consecutive snapshot times the interval is covered by
⌈Δ/η⌉ steps, the last one shortened so that steps land exactly on every snapshot. The
loop between two progress reports is one compiled call ("chunk"); there is no Python
per-step loop. Noise of particle i at global step s is a pure function of
(seed, s, i), and every reduction has a fixed order, so results are bit-identical for
any number of Numba threads.

Compile-time specialisation: the force and the interaction reach the kernels as packed
named tuples (:func:`particles.forces.force_at`, :func:`particles.interaction.pack_plan`)
whose class selects the code when Numba compiles, and each scheme has its own time loop.
A run therefore compiles only the kernels of its scheme, force form and interaction
method (the quickstart — kinetic BAOAB, linear force, exact mean — compiles 9 of the
module's kernels where it compiled 13 with every method, scheme and force branch in them;
``benchmarks/compile_time_particles.py`` lists them and times a cold and a warm start).
The streaming kernels run their prange over ranges of particles, each range a serial
function (see ``RANGE``), which keeps the generator out of the parfor analysis.

Two compiled paths:

* streaming (interacting runs) — time loop outside; per step the mean-field set-up (exact mean,
  pairwise forces or the mesh field, :mod:`particles.interaction`) then one ``prange``
  update over particles (two for BAOAB); one time loop per scheme
  (:func:`_advance_euler`, :func:`_advance_baoab`);
* blocked (no interaction) — ``prange`` over blocks of 1024 particles with the time
  loop inside each block: one parallel region per chunk instead of per step, and a
  block's positions stay in L1 across its steps. Each step is a noise pass
  (:func:`particles.rng.fill_normals`, one 64-bit word per two particles) followed by
  update passes over local views that LLVM vectorises; the force form is fixed when the
  pass compiles (the packed force's class: degrees 1 and 3 written out with scalar
  coefficients), so the loop has no force branch; positions leaving the domain are only
  counted there, with a separate reflection pass when there are any. One prange driver
  per scheme and regime (:func:`_advance_independent_euler_od`, ``_euler_kin``,
  ``_baoab``). Measured on idle cores
  (double well, 20 steps of η = 0.01, 2 threads, both paths forced): 3.4e8
  (N = 10⁵), 6.4e8 (10⁶), 5.9e8 (10⁷) particle-steps/s overdamped against 1.3e8,
  2.7e8, 3.1e8 for the streaming kernel, so every non-interacting run takes it.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from numba import njit, prange
from numba.core.errors import NumbaPerformanceWarning

from .common import (BAOAB, BLOCK, CHUNK_WORK, HI_UNIT, LO_MASK, MAX_MIRRORS,  # noqa: F401
                     MAX_N, SCHEME_BAOAB, SCHEME_EULER, SCHEMES, Euler, ParticleSolution,
                     Scheme, _reflect, _step_plan, check_temperature, get_scheme)
from .forces import as_force
from .interaction import (METHOD_MESH, METHOD_NAMES, METHOD_NONE, MeshPlan, as_interaction,
                          check_mesh, pack_plan, prepare_interaction, interaction_at,
                          resolve_method)
from .forces import force_at
from .rng import fill_normals, normal, seed_key

__all__ = ["simulate", "ParticleSolution", "SCHEMES", "Scheme", "Euler", "BAOAB",
           "get_scheme", "check_temperature"]

BLOCKED_PATH = True     # non-interacting runs take the blocked path (tests switch it off)


# ----------------------------------------------------------------------------------------
# compiled pieces
# ----------------------------------------------------------------------------------------

@njit(cache=True)
def _reflect_block(xs, vs, m, lo, hi, kinetic):
    """Mirror every position of the block into [lo, hi]; returns the mirrors (lo, hi)."""
    code = np.int64(0)
    for k in range(m):
        if kinetic:
            xn, vn, c = _reflect(xs[k], vs[k], lo, hi)
            vs[k] = vn
        else:
            xn, vn, c = _reflect(xs[k], 0.0, lo, hi)
        xs[k] = xn
        code += c
    return code & LO_MASK, code >> 32


@njit(cache=True, inline="always")
def _euler_od_pass(xs, z, m, h, lam, force, lo, hi):
    sig = np.sqrt(2.0 * lam * h)
    out = 0
    for k in range(m):
        xi = xs[k]
        xn = xi - h * force_at(xi, force) + sig * z[k]
        out += np.int64(xn < lo) + np.int64(xn > hi)
        xs[k] = xn
    if out:
        return _reflect_block(xs, xs, m, lo, hi, False)
    return 0, 0


@njit(cache=True, inline="always")
def _euler_kin_pass(xs, vs, z, m, h, gamma, lam, force, lo, hi):
    damp = 1.0 - gamma * h
    sig = np.sqrt(2.0 * gamma * lam * h)
    out = 0
    for k in range(m):
        xi = xs[k]
        vi = vs[k]
        g = force_at(xi, force)
        xn = xi + h * vi
        vs[k] = damp * vi - h * g + sig * z[k]
        out += np.int64(xn < lo) + np.int64(xn > hi)
        xs[k] = xn
    if out:
        return _reflect_block(xs, vs, m, lo, hi, True)
    return 0, 0


@njit(cache=True, inline="always")
def _baoab_pass(xs, vs, Fs, z, m, h, gamma, lam, force, lo, hi):
    half = 0.5 * h
    ou = np.exp(-gamma * h)
    sig = np.sqrt(lam * (1.0 - ou * ou))
    c_lo = 0
    c_hi = 0
    out = 0
    for k in range(m):                       # B, A
        vi = vs[k] - half * Fs[k]
        xn = xs[k] + half * vi
        out += np.int64(xn < lo) + np.int64(xn > hi)
        vs[k] = vi
        xs[k] = xn
    if out:
        a, b = _reflect_block(xs, vs, m, lo, hi, True)
        c_lo += a
        c_hi += b
    out = 0
    for k in range(m):                       # O, A
        vi = ou * vs[k] + sig * z[k]
        xn = xs[k] + half * vi
        out += np.int64(xn < lo) + np.int64(xn > hi)
        vs[k] = vi
        xs[k] = xn
    if out:
        a, b = _reflect_block(xs, vs, m, lo, hi, True)
        c_lo += a
        c_hi += b
    for k in range(m):                       # force, B
        g = force_at(xs[k], force)
        Fs[k] = g
        vs[k] = vs[k] - half * g
    return c_lo, c_hi


# Blocked path: one prange driver per scheme and regime, each with the time loop inside a
# block of BLOCK particles. Counts per block are summed afterwards (fixed order).

@njit(cache=True, parallel=True)
def _advance_independent_euler_od(x, n_steps, dt, dt_last, step0, key, lam, force, lo, hi):
    """Overdamped Euler, no interaction: ``n_steps`` steps of ``dt`` (the last ``dt_last``)
    for every particle, parallel over blocks; ``step0`` is the global index of the first
    step (the noise counter). Returns the mirrors, shape (2,): (lo, hi)."""
    n = x.shape[0]
    nblk = (n + BLOCK - 1) // BLOCK
    counts = np.zeros((nblk, 2), np.int64)
    for b in prange(nblk):
        i0 = b * BLOCK
        i1 = min(n, i0 + BLOCK)
        m = i1 - i0
        xs = x[i0:i1]
        z = np.empty(BLOCK)
        c_lo = 0
        c_hi = 0
        for s in range(n_steps):
            h = dt if s < n_steps - 1 else dt_last
            fill_normals(z, m, key, np.uint64(step0 + s), np.uint64(i0))
            a, c = _euler_od_pass(xs, z, m, h, lam, force, lo, hi)
            c_lo += a
            c_hi += c
        counts[b, 0] = c_lo
        counts[b, 1] = c_hi
    return _sum_counts(counts)


@njit(cache=True, parallel=True)
def _advance_independent_euler_kin(x, v, n_steps, dt, dt_last, step0, key, gamma, lam, force,
                                   lo, hi):
    """Kinetic Euler, no interaction (see :func:`_advance_independent_euler_od`)."""
    n = x.shape[0]
    nblk = (n + BLOCK - 1) // BLOCK
    counts = np.zeros((nblk, 2), np.int64)
    for b in prange(nblk):
        i0 = b * BLOCK
        i1 = min(n, i0 + BLOCK)
        m = i1 - i0
        xs = x[i0:i1]
        vs = v[i0:i1]
        z = np.empty(BLOCK)
        c_lo = 0
        c_hi = 0
        for s in range(n_steps):
            h = dt if s < n_steps - 1 else dt_last
            fill_normals(z, m, key, np.uint64(step0 + s), np.uint64(i0))
            a, c = _euler_kin_pass(xs, vs, z, m, h, gamma, lam, force, lo, hi)
            c_lo += a
            c_hi += c
        counts[b, 0] = c_lo
        counts[b, 1] = c_hi
    return _sum_counts(counts)


@njit(cache=True, parallel=True)
def _advance_independent_baoab(x, v, F, n_steps, dt, dt_last, step0, key, gamma, lam, force,
                               lo, hi):
    """BAOAB, no interaction; ``F`` holds V'(x) at the current positions (read and
    updated). See :func:`_advance_independent_euler_od`."""
    n = x.shape[0]
    nblk = (n + BLOCK - 1) // BLOCK
    counts = np.zeros((nblk, 2), np.int64)
    for b in prange(nblk):
        i0 = b * BLOCK
        i1 = min(n, i0 + BLOCK)
        m = i1 - i0
        xs = x[i0:i1]
        vs = v[i0:i1]
        Fs = F[i0:i1]
        z = np.empty(BLOCK)
        c_lo = 0
        c_hi = 0
        for s in range(n_steps):
            h = dt if s < n_steps - 1 else dt_last
            fill_normals(z, m, key, np.uint64(step0 + s), np.uint64(i0))
            a, c = _baoab_pass(xs, vs, Fs, z, m, h, gamma, lam, force, lo, hi)
            c_lo += a
            c_hi += c
        counts[b, 0] = c_lo
        counts[b, 1] = c_hi
    return _sum_counts(counts)


@njit(cache=True, inline="always")
def _sum_counts(counts):
    out = np.zeros(2, np.int64)
    for b in range(counts.shape[0]):
        out[0] += counts[b, 0]
        out[1] += counts[b, 1]
    return out


# Streaming path: per step the interaction's set-up (prepare_interaction, dispatched on the
# plan's class) and parallel per-particle updates.

# The parallel kernels of the streaming path run a prange over ranges of RANGE particles,
# each range a call of a serial function holding the per-particle update: the parfor pass,
# whose cost grows with the size of the loop body, then sees one call instead of the
# inlined generator and reflections (a third of the compile time), and the call's cost is
# spread over RANGE particles. Per particle the operations are those of a plain prange.
RANGE = 2048


@njit(cache=True)
def _baoab_first_range(x, v, F, i0, i1, h, st, key, gamma, lam, lo, hi):
    half = 0.5 * h
    ou = np.exp(-gamma * h)
    sig = np.sqrt(lam * (1.0 - ou * ou))
    total = np.int64(0)
    for i in range(i0, i1):
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
def _baoab_first(x, v, F, h, st, key, gamma, lam, lo, hi):
    """B A O A of BAOAB with the stored force F; returns the mirror code."""
    n = x.shape[0]
    nr = (n + RANGE - 1) // RANGE
    total = np.int64(0)
    for r in prange(nr):
        total += _baoab_first_range(x, v, F, r * RANGE, min(n, (r + 1) * RANGE), h, st, key,
                                    gamma, lam, lo, hi)
    return total


@njit(cache=True)
def _euler_update_range(x, v, i0, i1, kinetic, h, st, key, gamma, lam, force, lo, hi, field):
    total = np.int64(0)
    damp = 1.0 - gamma * h
    sigk = np.sqrt(2.0 * gamma * lam * h)
    sigo = np.sqrt(2.0 * lam * h)
    for i in range(i0, i1):
        z = normal(key, st, np.uint64(i))
        xi = x[i]
        g = force_at(xi, force) + interaction_at(xi, i, field)
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
def _euler_update(x, v, kinetic, h, st, key, gamma, lam, force, lo, hi, field):
    """One Euler step of every particle with the prepared interaction ``field``; returns
    the mirror code."""
    n = x.shape[0]
    nr = (n + RANGE - 1) // RANGE
    total = np.int64(0)
    for r in prange(nr):
        total += _euler_update_range(x, v, r * RANGE, min(n, (r + 1) * RANGE), kinetic, h, st,
                                     key, gamma, lam, force, lo, hi, field)
    return total


@njit(cache=True, parallel=True)
def _baoab_last(x, v, F, h, force, field):
    """Final B of BAOAB: F ← V'(x) + interaction, v ← v − (h/2) F."""
    half = 0.5 * h
    for i in prange(x.shape[0]):
        xi = x[i]
        f = force_at(xi, force) + interaction_at(xi, i, field)
        F[i] = f
        v[i] = v[i] - half * f


# parallel=True on the functions that call the threaded interaction set-up
# (prepare_interaction), though they have no prange of their own: Numba's on-disk cache can
# store a *serial* caller of a parallel function with a dangling link to the callee's
# threaded kernel, and loading it crashes (numba/numba#8578; reproduced here after a test
# session had filled the cache with several force forms). Their loops stay serial.
@njit(cache=True, parallel=True)
def _advance_euler(x, v, kinetic, n_steps, dt, dt_last, step0, key, gamma, lam, force, lo,
                   hi, plan):
    """Euler with interaction: ``n_steps`` steps of ``dt`` (the last ``dt_last``); time loop
    compiled, each step's interaction set-up and particle update parallel kernels.
    Returns the mirrors (lo, hi)."""
    c_lo = 0
    c_hi = 0
    for s in range(n_steps):
        h = dt if s < n_steps - 1 else dt_last
        field = prepare_interaction(x, plan)
        code = _euler_update(x, v, kinetic, h, np.uint64(step0 + s), key, gamma, lam, force,
                             lo, hi, field)
        c_lo += code & LO_MASK
        c_hi += code >> 32
    return np.array([c_lo, c_hi], dtype=np.int64)


@njit(cache=True, parallel=True)
def _advance_baoab(x, v, F, n_steps, dt, dt_last, step0, key, gamma, lam, force, lo, hi,
                   plan):
    """BAOAB with interaction (see :func:`_advance_euler`); ``F`` holds the total force at
    the current positions (read and updated)."""
    c_lo = 0
    c_hi = 0
    for s in range(n_steps):
        h = dt if s < n_steps - 1 else dt_last
        code = _baoab_first(x, v, F, h, np.uint64(step0 + s), key, gamma, lam, lo, hi)
        c_lo += code & LO_MASK
        c_hi += code >> 32
        field = prepare_interaction(x, plan)
        _baoab_last(x, v, F, h, force, field)
    return np.array([c_lo, c_hi], dtype=np.int64)


@njit(cache=True, parallel=True)
def _initial_force(x, F, force, plan):
    """F = V'(x) + interaction at the current positions (BAOAB's first B). Serial: it
    runs once per call, and a parallel kernel would cost a compilation."""
    field = prepare_interaction(x, plan)
    for i in range(x.shape[0]):
        xi = x[i]
        F[i] = force_at(xi, force) + interaction_at(xi, i, field)


def _count_nonfinite(x):
    """Number of non-finite entries of ``x`` (NumPy: one pass per chunk of steps, and no
    compiled kernel to build on a first run)."""
    return int(x.size - np.count_nonzero(np.isfinite(x)))


# ----------------------------------------------------------------------------------------
# driver
# ----------------------------------------------------------------------------------------

def _validate(x0, v0, temperature, gamma, dt, snapshots, domain, seed):
    x = np.array(x0, dtype=np.float64, copy=True).ravel()
    n = x.size
    if n <= 0:
        raise ValueError(f"the number of particles must be > 0 (got {n})")
    if n > MAX_N:
        raise ValueError(f"the number of particles must be ≤ {MAX_N} (got {n})")
    v = None
    if v0 is not None:
        v = np.array(v0, dtype=np.float64, copy=True).ravel()
        if v.size != n:
            raise ValueError(f"v0 has {v.size} entries but x0 has {n}")
        if not np.all(np.isfinite(v)):
            raise ValueError("v0 is not finite")
    if not np.all(np.isfinite(x)):
        raise ValueError("x0 is not finite")
    if domain is None:
        lo, hi = None, None
    else:
        try:
            lo, hi = (float(domain[0]), float(domain[1]))
            if len(domain) != 2:
                raise ValueError
        except Exception:
            raise ValueError(f"domain must be a pair (lo, hi) or None (got {domain!r})") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"domain must satisfy lo < hi, both finite (got {domain!r})")
        outside = int(np.count_nonzero((x < lo) | (x > hi)))
        if outside:
            raise ValueError(f"{outside} of {n} initial positions lie outside the domain "
                             f"[{lo}, {hi}]")
    temperature = check_temperature(temperature)
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
        raise ValueError("snapshots must be ≥ 0 and strictly increasing "
                         f"(got {snaps.tolist()})")
    t_end = float(snaps[-1])
    dt = float(dt)
    if not (dt > 0.0 and np.isfinite(dt)) or (t_end > 0.0 and dt > t_end):
        raise ValueError(f"dt must be > 0 and ≤ t_end = {t_end} (got {dt})")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer (got {seed!r})")
    return x, v, n, lo, hi, temperature, gamma, dt, snaps, int(seed)


def simulate(x0, v0, *, grad_potential, interaction=None, gamma=1.0, temperature, dt,
             snapshots, domain, scheme="euler", interaction_method="auto", mesh_cells=None,
             seed, on_snapshot=None, on_progress=None, energy=None) -> ParticleSolution:
    """Simulate N Langevin particles from t = 0 through the snapshot times.

    Parameters
    ----------
    x0 : array_like, shape (N,) or (N, d), d = 1, 2, 3
        Initial positions, inside ``domain`` (copied). (N, d) with d = 2, 3 runs
        :func:`particles.driver_nd.simulate_nd` (radial interactions, per-axis walls,
        ``grad_potential`` a PolynomialND or TabulatedND; see there); (N, 1) runs this d = 1
        path (the same numbers as x0[:, 0]) and shows the arrays as (N, 1).
    v0 : array_like, shape of x0, or None
        Initial velocities (copied); ``None`` selects the overdamped dynamics.
    grad_potential : Polynomial | Tabulated | callable | None
        V'. A vectorised callable is tabulated on the domain (:class:`Tabulated`); in free
        space it is refused (pass a Polynomial or a Tabulated).
    interaction : Quadratic | GaussianKernel | TabulatedKernel | callable | None
        The interaction kernel W (a spec; a callable is taken as W' and tabulated on
        [−L, L], L = hi − lo; refused in free space). None: no interaction.
    gamma : float
        Friction γ > 0 (kinetic).
    temperature : float
        λ > 0.
    dt : float
        Step η, 0 < η ≤ t_end; the last step before each snapshot is shortened.
    snapshots : array_like, shape (K,)
        Strictly increasing times ≥ 0; t_end = snapshots[-1].
    domain : (float, float) or None
        [lo, hi] with reflecting walls; None: free space (no walls; the ``mesh`` method,
        which needs a bounded mesh, is then refused, and ``auto`` with it for N > 5000).
    scheme : str or Scheme subclass
        ``"euler"`` or ``"baoab"`` (kinetic only), see :data:`SCHEMES`.
    interaction_method : {"auto", "pairwise", "mesh"}
        How the interaction force is computed (:mod:`particles.interaction`).
    mesh_cells : int, optional
        Mesh cells M for ``mesh`` (default: spacing ≈ kernel scale / 8).
    seed : int
    on_snapshot : callable(index, t, x, v), optional
        Called when snapshot ``index`` (into ``snapshots``) is reached, with read-only
        views of the live arrays (copy them to keep them); ``v`` is None if overdamped.
    on_progress : callable(t, n_steps), optional
        Called after each compiled chunk.
    energy : object, optional
        A mean-field energy F (DESIGN §9), e.g. :class:`grids.meanfield.TwoLayerNetwork`:
        ∇x δF/δμ at the particles' empirical measure is added to V'. Runs with an energy
        (every d) take :func:`particles.driver_nd.simulate_nd` (see there).

    Returns
    -------
    ParticleSolution

    Raises
    ------
    ValueError
        On invalid input, with a plain message naming the argument.
    """
    if np.ndim(x0) > 2:
        raise ValueError(f"x0 must have shape (N,) or (N, d) (got {np.shape(x0)})")
    if energy is not None:
        from .driver_nd import simulate_nd      # the energy's loops, every d
        return simulate_nd(x0, v0, grad_potential=grad_potential, interaction=interaction,
                           gamma=gamma, temperature=temperature, dt=dt, snapshots=snapshots,
                           domain=domain, scheme=scheme, interaction_method=interaction_method,
                           mesh_cells=mesh_cells, seed=seed, on_snapshot=on_snapshot,
                           on_progress=on_progress, energy=energy)
    if np.ndim(x0) == 2:
        return _simulate_columns(x0, v0, grad_potential=grad_potential,
                                 interaction=interaction, gamma=gamma, temperature=temperature,
                                 dt=dt, snapshots=snapshots, domain=domain, scheme=scheme,
                                 interaction_method=interaction_method, mesh_cells=mesh_cells,
                                 seed=seed, on_snapshot=on_snapshot, on_progress=on_progress)
    x, v, n, lo, hi, lam, gamma, dt, snaps, seed = _validate(
        x0, v0, temperature, gamma, dt, snapshots, domain, seed)
    kinetic = v is not None
    sch = get_scheme(scheme)
    if not kinetic and not sch.supports_overdamped:
        raise ValueError(f"scheme {sch.name!r} needs the kinetic regime "
                         "(v0 is None, i.e. overdamped); use 'euler'")
    bounded = lo is not None
    force = as_force(grad_potential, lo, hi)
    inter = as_interaction(interaction, lo, hi)
    method = resolve_method(inter, interaction_method, n, bounded=bounded)
    fpack = force.packed()
    key = seed_key(seed)
    # free space: infinite walls, which no finite position crosses
    wlo, whi = (lo, hi) if bounded else (-np.inf, np.inf)

    cells = None
    mesh_plan = None
    if method == METHOD_MESH:
        cells = check_mesh(inter, lo, hi, mesh_cells)
        mesh_plan = MeshPlan(inter, lo, hi, cells)
    vv = v if kinetic else np.zeros(0)
    baoab = sch.code == SCHEME_BAOAB
    F = np.zeros(n) if baoab else np.zeros(0)
    use_blocks = method == METHOD_NONE and BLOCKED_PATH

    def make_plan(m):
        return pack_plan(method, inter, m, mesh_plan)

    def advance(xa, va, Fa, plan, n_steps, h, h_last, step0):
        if use_blocks:
            if baoab:
                return _advance_independent_baoab(xa, va, Fa, n_steps, h, h_last, step0, key,
                                                  gamma, lam, fpack, wlo, whi)
            if kinetic:
                return _advance_independent_euler_kin(xa, va, n_steps, h, h_last, step0, key,
                                                      gamma, lam, fpack, wlo, whi)
            return _advance_independent_euler_od(xa, n_steps, h, h_last, step0, key, lam,
                                                 fpack, wlo, whi)
        if baoab:
            return _advance_baoab(xa, va, Fa, n_steps, h, h_last, step0, key, gamma, lam,
                                  fpack, wlo, whi, plan)
        return _advance_euler(xa, va, kinetic, n_steps, h, h_last, step0, key, gamma, lam,
                              fpack, wlo, whi, plan)

    def init_force(xa, Fa, plan):
        if baoab:
            _initial_force(xa, Fa, fpack, plan)

    # compile / load the kernels this run uses on a 2-particle copy (same types), timed
    # apart from the solve
    tc = time.perf_counter()
    m_w = min(n, 2)
    xw = x[:m_w].copy()
    vw = vv[:m_w].copy()
    Fw = F[:m_w].copy()
    plan_w = make_plan(m_w)
    with warnings.catch_warnings():
        # the set-up callers are parallel=True without a prange of their own (see
        # _advance_euler): Numba's "no transformation for parallel execution" is expected
        warnings.filterwarnings("ignore", category=NumbaPerformanceWarning,
                                message="(?s).*no transformation for parallel execution")
        init_force(xw, Fw, plan_w)
        advance(xw, vw, Fw, plan_w, 1, min(dt, 1e-12), min(dt, 1e-12), 0)
    compile_time = time.perf_counter() - tc

    ts = time.perf_counter()
    plan = make_plan(n)
    ro_x = x.view()
    ro_x.flags.writeable = False
    ro_v = None
    if kinetic:
        ro_v = v.view()
        ro_v.flags.writeable = False
    init_force(x, F, plan)
    t = 0.0
    step = 0
    reflections = np.zeros((1, 2), dtype=np.int64)
    status, message = 0, "ok"
    reached = []
    chunk = max(1, int(CHUNK_WORK // max(n, 1)))
    for k, ts_k in enumerate(snaps):
        n_int, last = _step_plan(t, float(ts_k), dt)
        done = 0
        while done < n_int:
            m = min(chunk, n_int - done)
            h_last = last if done + m == n_int else dt
            reflections[0] += np.asarray(advance(x, vv, F, plan, m, dt, h_last, step),
                                         dtype=np.int64)
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
    drifts = n * step * sch.drifts_per_step
    n_refl = int(reflections.sum())
    if status == 0:
        walls = ("no walls (free space)" if not bounded else
                 f"{n_refl} reflections ({reflections[0, 0]} at lo, {reflections[0, 1]} at hi; "
                 f"{n_refl / max(1, drifts):.3g} of the particle drifts)")
        message = f"reached t = {t:.6g} in {step} steps; {walls}"
    return ParticleSolution(status=status, message=message, success=status == 0,
                            t=np.array(reached), t_final=t, x=x, v=v, n_steps=step,
                            reflections=reflections, drifts=drifts,
                            compile_time=compile_time, solve_time=solve_time,
                            interaction_method=METHOD_NAMES[method], scheme=sch.name,
                            mesh_cells=cells, domain=None if not bounded else (lo, hi))


def _simulate_columns(x0, v0, *, grad_potential, interaction, domain, on_snapshot, **kw):
    """x0 of shape (N, d): d = 2, 3 run in :func:`particles.driver_nd.simulate_nd`; d = 1
    runs on this module's d = 1 path (the same numbers as x0[:, 0]) with the d-dimensional
    specs converted and the arrays shown as (N, 1)."""
    from .driver_nd import simulate_nd      # imported here: driver_nd imports this module
    from .forces_nd import PolynomialND, TabulatedND
    from .interaction_nd import RadialKernel

    x = np.asarray(x0)
    if x.shape[1] != 1:
        return simulate_nd(x0, v0, grad_potential=grad_potential, interaction=interaction,
                           domain=domain, on_snapshot=on_snapshot, **kw)
    if v0 is not None and np.shape(v0) != x.shape:
        raise ValueError(f"v0 has shape {np.shape(v0)} but x0 has {x.shape}")
    if isinstance(grad_potential, (PolynomialND, TabulatedND)):
        grad_potential = grad_potential.as_1d()
    if isinstance(interaction, RadialKernel):
        interaction = interaction.as_odd_kernel()
    if domain is not None:
        try:
            domain = (float(np.ravel(domain[0])[0]) if np.size(domain[0]) == 1 else domain[0],
                      float(np.ravel(domain[1])[0]) if np.size(domain[1]) == 1 else domain[1])
        except (TypeError, IndexError):
            pass                            # _validate names the bad domain

    def snap(k, t, xs, vs):
        on_snapshot(k, t, xs[:, None], None if vs is None else vs[:, None])

    sol = simulate(x[:, 0], None if v0 is None else np.asarray(v0)[:, 0],
                   grad_potential=grad_potential, interaction=interaction, domain=domain,
                   on_snapshot=None if on_snapshot is None else snap, **kw)
    sol.x = sol.x[:, None]
    if sol.v is not None:
        sol.v = sol.v[:, None]
    return sol
