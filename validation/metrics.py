"""Distances between particles and a grid density: W2, sliced W2, KL, TV, moments.

Conventions
-----------
A *grid density* is given by cell edges per axis and cell averages ``f``:

* 1-D (overdamped): ``edges_x`` (n_x + 1,), ``f`` (n_x,); cell masses ``f_i h_i``;
* phase space (kinetic): ``edges_x`` (n_x + 1,), ``edges_v`` (n_v + 1,), ``f`` (n_x, n_v);
  cell masses ``f_ij hx_i hv_j``.

Inside a cell the density is taken *uniform* (the finite-volume reading of a cell
average). Every metric normalises the cell masses to total mass 1, so an un-normalised
``f`` is accepted. Functions that can work in 1-D or phase space take ``edges_v=None``
(and ``v=None``) for 1-D. Particles are plain arrays ``x`` (N,) and ``v`` (N,).

Noise floors
------------
Every estimator has a floor: even an i.i.d. N-sample of the grid density is at a
positive distance from it (1-D: E W2² ≍ 1/N; 2-D: between log N/N and (log N)²/N; the
binned KL ≈ (K − 1)/(2N)). :func:`compare_snapshot` therefore also evaluates every
metric on an independent N-sample of the grid density (``<metric>_floor``). The
propagation-of-chaos signal is the *excess* over the floor, and for the one-particle
marginal it is small: KL(μ^{N,1} ‖ μ) = O(1/N²) (Lacker), far below the O(1/N) floors,
so a particle system that agrees with the PDE shows metrics *at* their floors.

This module never imports ``vfp``, ``grids`` or ``particles``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, asdict

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma, gammaln

from . import _w2kernels as _k
from . import registry as _registry

__all__ = [
    "w2_1d_grid",
    "w2_1d_samples",
    "marginals",
    "sliced_w2",
    "w2_emd",
    "EMDResult",
    "kl_knn",
    "grid_log_density",
    "kl_binned",
    "tv_binned",
    "binned_masses",
    "cell_masses",
    "moments_particles",
    "moments_grid",
    "sample_grid",
    "random_directions",
    "compare_snapshot",
    "METRICS",
]


# --------------------------------------------------------------------------- helpers
def _edges(e, name):
    e = np.ascontiguousarray(e, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or not np.all(np.diff(e) > 0):
        raise ValueError(f"{name} must be a strictly increasing 1-D array of ≥ 2 edges")
    return e


def _check_grid(edges_x, edges_v, f):
    ex = _edges(edges_x, "edges_x")
    f = np.asarray(f, dtype=np.float64)
    if edges_v is None:
        if f.shape != (ex.size - 1,):
            raise ValueError(f"f has shape {f.shape}, expected ({ex.size - 1},) for 1-D")
        ev = None
    else:
        ev = _edges(edges_v, "edges_v")
        if f.shape != (ex.size - 1, ev.size - 1):
            raise ValueError(
                f"f has shape {f.shape}, expected ({ex.size - 1}, {ev.size - 1})")
    if not np.all(np.isfinite(f)) or np.any(f < 0):
        raise ValueError("f must be finite and non-negative")
    return ex, ev, f


def cell_masses(edges_x, edges_v, f):
    """Normalised cell masses.

    Parameters
    ----------
    edges_x : array_like, shape (n_x + 1,)
    edges_v : array_like, shape (n_v + 1,), or None for 1-D
    f : array_like, shape (n_x,) or (n_x, n_v)
        Cell averages (≥ 0, not all zero).

    Returns
    -------
    m : ndarray, shape of ``f``
        m = f·hx(·hv) / Σ f·hx(·hv), so that Σ m = 1.
    """
    ex, ev, f = _check_grid(edges_x, edges_v, f)
    m = f * np.diff(ex) if ev is None else f * np.outer(np.diff(ex), np.diff(ev))
    total = m.sum()
    if not total > 0:
        raise ValueError("the grid density has zero total mass")
    return m / total


def marginals(edges_x, edges_v, f):
    """Marginal cell averages of a phase-space grid density.

    ρ_x,i = Σ_j f_ij hv_j and ρ_v,j = Σ_i f_ij hx_i (not renormalised: ∫ρ_x dx = ∫∫f).

    Parameters
    ----------
    edges_x : array_like, shape (n_x + 1,)
    edges_v : array_like, shape (n_v + 1,)
    f : array_like, shape (n_x, n_v)

    Returns
    -------
    rho_x : ndarray, shape (n_x,)
    rho_v : ndarray, shape (n_v,)
    """
    ex, ev, f = _check_grid(edges_x, edges_v, f)
    if ev is None:
        raise ValueError("marginals needs a phase-space density (edges_v given)")
    return f @ np.diff(ev), np.diff(ex) @ f


def _as_1d(a, name):
    a = np.ascontiguousarray(a, dtype=np.float64).ravel()
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} has non-finite entries")
    return a


# --------------------------------------------------------------------------- 1-D W2
def w2_1d_grid(samples, edges, density, *, squared=False, presorted=False):
    """Exact W2 between an empirical measure and a piecewise-constant 1-D density.

    The grid measure is uniform inside each cell, so its CDF F is piecewise linear and
    its quantile F⁻¹ piecewise linear on the mass breakpoints C_j = Σ_{k≤j} m_k. With
    x_(1) ≤ … ≤ x_(N) the sorted samples,

        W2² = ∫₀¹ |F_N⁻¹(u) − F⁻¹(u)|² du
            = Σ over pieces [u_a, u_b] ⊂ ((i−1)/N, i/N] ∩ [C_{j−1}, C_j] of
              ∫_{y_a}^{y_b} (x_(i) − y)² q_j dy,   y_{a,b} = F⁻¹(u_{a,b}),

    evaluated in closed form (no quadrature error) in one O(N + K) merge after the
    O(N log N) sort. Cells of zero mass are skipped (F⁻¹ jumps over them).

    Parameters
    ----------
    samples : array_like, shape (N,)
        Particle positions (equal weights 1/N).
    edges : array_like, shape (K + 1,)
        Strictly increasing cell edges.
    density : array_like, shape (K,)
        Cell averages ≥ 0; normalised here to total mass 1.
    squared : bool
        Return W2² instead of W2.
    presorted : bool
        Skip the sort when ``samples`` is already ascending.

    Returns
    -------
    float
        W2 (or W2²).
    """
    x = _as_1d(samples, "samples")
    e, _, d = _check_grid(edges, None, density)
    d = cell_masses(e, None, d) / np.diff(e)
    xs = x if presorted else np.sort(x)
    w2sq = max(_k.sweep_cells(xs, e, d), 0.0)
    return w2sq if squared else float(np.sqrt(w2sq))


def w2_1d_samples(a, b, *, squared=False):
    """Exact W2 between the empirical measures of two samples (any sizes).

    W2² = ∫₀¹ |F_a⁻¹(u) − F_b⁻¹(u)|² du; both quantile functions are step functions,
    so the integral is a finite sum over the merged breakpoints {i/n_a} ∪ {j/n_b}
    (compared exactly in integer arithmetic). For n_a = n_b this is
    mean((sort(a) − sort(b))²).

    Parameters
    ----------
    a : array_like, shape (n_a,)
    b : array_like, shape (n_b,)
    squared : bool
        Return W2² instead of W2.

    Returns
    -------
    float
    """
    a = np.sort(_as_1d(a, "a"))
    b = np.sort(_as_1d(b, "b"))
    if a.size == b.size:
        w2sq = float(np.mean((a - b) ** 2))
    else:
        w2sq = _k.sweep_samples(a, b)
    return w2sq if squared else float(np.sqrt(w2sq))


# --------------------------------------------------------------------------- sliced W2
def random_directions(n_projections, seed=0, dim=2):
    """Seeded directions uniform on the unit sphere S^{dim−1}: normalised Gaussians.

    Returns
    -------
    ndarray, shape (n_projections, dim)
    """
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((int(n_projections), dim))
    return g / np.linalg.norm(g, axis=1)[:, None]


def _nonzero_cells(ex, ev, m):
    hx, hv = np.diff(ex), np.diff(ev)
    cx, cv = 0.5 * (ex[1:] + ex[:-1]), 0.5 * (ev[1:] + ev[:-1])
    i, j = np.nonzero(m > 0)
    return (np.ascontiguousarray(cx[i]), np.ascontiguousarray(cv[j]),
            np.ascontiguousarray(hx[i]), np.ascontiguousarray(hv[j]),
            np.ascontiguousarray(m[i, j]))


def _n_workers(workers):
    if workers is None or workers < 1:
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                   else (os.cpu_count() or 1))
    return int(workers)


def sliced_w2(x, v, edges_x, edges_v, f, n_projections=200, seed=0, chunk=None, *,
              directions=None, squared=False, per_direction=False, workers=None):
    """Sliced W2 between phase-space particles and a grid density, exact per direction.

    For a unit direction θ = (c, s), the particles project to z_i = c x_i + s v_i and the
    grid measure (uniform on each cell rectangle) projects *exactly* to a mixture of
    trapezoid laws: cell (i, j) of mass m_ij, centre (x_i, v_j) and sides (hx_i, hv_j)
    projects to the law of c x_i + s v_j + U₁ + U₂, U₁ ~ U(±|c| hx_i/2),
    U₂ ~ U(±|s| hv_j/2), whose density is a trapezoid (a triangle when the widths are
    equal). The mixture density is piecewise linear, and W2²(θ) between the projected
    particles and it is computed exactly as in :func:`w2_1d_grid` (sorted merge of
    quantile breakpoints, closed-form integral on every piece). The only approximation:
    a trapezoid whose short side is below 1e-4 of its long side (θ within ~1e-4 rad of
    an axis) is replaced by the uniform law of its long side, moving mass by at most
    5e-5 × that side — no sub-cell point floor is added. Then

        SW2² = (1/P) Σ_θ W2²(θ),   θ uniform on the circle (seeded),

    the Monte-Carlo estimate of ∫_{S¹} W2²(θ) dθ/|S¹|; SW2 ≤ W2/√2 in the plane.

    Cost: one O(N log N) sort of the projected particles and one O(K log K) sort of the
    4K trapezoid corners per direction; directions run in ``workers`` threads (all
    kernels release the GIL). Memory: one (N,) buffer per worker plus O(K) per
    direction in flight, i.e. about ``workers`` × 8N bytes + 25 × 8·4K bytes — 50 MB at
    N = 10^6, K = 65536 on 2 cores, independent of ``n_projections``.

    Parameters
    ----------
    x, v : array_like, shape (N,)
        Particle positions and velocities.
    edges_x : array_like, shape (n_x + 1,)
    edges_v : array_like, shape (n_v + 1,)
    f : array_like, shape (n_x, n_v)
        Cell averages ≥ 0 (normalised here).
    n_projections : int
        Number P of random directions.
    seed : int
        Seed for the directions (:func:`random_directions`).
    chunk : int, optional
        Directions submitted to the thread pool at a time (bounds the O(K) event arrays
        in flight); default 4 × workers.
    directions : array_like, shape (P, 2), optional
        Explicit unit directions (overrides ``n_projections`` and ``seed``).
    squared : bool
        Return SW2² instead of SW2.
    per_direction : bool
        Also return the array of W2²(θ), shape (P,), and the directions (P, 2).
    workers : int, optional
        Threads (default: the available cores).

    Returns
    -------
    float, or (float, ndarray (P,), ndarray (P, 2)) when ``per_direction``.
    """
    ex, ev, f = _check_grid(edges_x, edges_v, f)
    if ev is None:
        raise ValueError("sliced_w2 needs a phase-space grid (edges_v)")
    # read-only views whatever the caller passes: the projection kernel then compiles for
    # one signature (writeable and read-only arrays are different Numba types)
    x = _as_1d(x, "x").view()
    v = _as_1d(v, "v").view()
    x.flags.writeable = False
    v.flags.writeable = False
    if x.shape != v.shape:
        raise ValueError("x and v must have the same length")
    m = cell_masses(ex, ev, f)
    cx, cv, hx, hv, mm = _nonzero_cells(ex, ev, m)
    if directions is None:
        dirs = random_directions(n_projections, seed, 2)
    else:
        dirs = np.asarray(directions, dtype=np.float64).reshape(-1, 2)
        dirs = dirs / np.linalg.norm(dirs, axis=1)[:, None]
    nw = _n_workers(workers)
    chunk = 4 * nw if chunk is None else max(1, int(chunk))
    out = np.empty(dirs.shape[0])

    import threading
    local = threading.local()

    def one(q):
        buf = getattr(local, "buf", None)
        if buf is None:
            buf = local.buf = np.empty(x.size)
        out[q] = _k.projected_w2sq(x, v, dirs[q, 0], dirs[q, 1], cx, cv, hx, hv, mm, buf)

    if nw == 1:
        for q in range(dirs.shape[0]):
            one(q)
    else:
        with ThreadPoolExecutor(max_workers=nw) as pool:
            for start in range(0, dirs.shape[0], chunk):
                list(pool.map(one, range(start, min(start + chunk, dirs.shape[0]))))
    out = np.maximum(out, 0.0)
    sw2sq = float(out.mean())
    val = sw2sq if squared else float(np.sqrt(sw2sq))
    if per_direction:
        return val, out, dirs
    return val


# --------------------------------------------------------------------------- EMD
@dataclass
class EMDResult:
    """Result of :func:`w2_emd`.

    Attributes
    ----------
    value : float
        W2 = sqrt(ot.emd2 cost) between the subsample and the cell-centre atoms.
    w2sq : float
        The optimal cost itself (W2²).
    subsample : int
        Number of particles actually used.
    n_atoms : int
        Number of grid atoms (cells of positive mass).
    estimator : str
        Human-readable name of the estimator.
    """

    value: float
    w2sq: float
    subsample: int
    n_atoms: int
    estimator: str

    def as_dict(self):
        return asdict(self)


def w2_emd(x, v, edges_x, edges_v, f, subsample=1000, seed=0, *, max_atoms=None,
           num_iter_max=10**7):
    """Exact-OT W2 (POT ``ot.emd2``) between a particle subsample and the cell centres.

    Atoms: n particles drawn without replacement (seeded; all when N ≤ ``subsample``)
    with weights 1/n, against the centres of the cells of positive mass with their
    normalised masses; cost |z − z'|² (squared Euclidean), so ``ot.emd2`` returns W2².
    Two biases are built in and must be read with the value: the subsample floor
    (E W2² of an n-sample, ≍ log n/n in 2-D), and the centre-atom floor: replacing the
    uniform-in-cell law by its centre adds about (hx² + hv²)/12 to W2². Cost grows as
    n·K (1000 × 4096: ~2 s, 0.26 GB; 2000 × 16384: ~60 s, 1.4 GB).

    Parameters
    ----------
    x : array_like, shape (N,)
    v : array_like, shape (N,), or None for 1-D (then ``edges_v`` is None)
    edges_x, edges_v, f : grid (see module docstring)
    subsample : int
        Maximum number of particles.
    seed : int
        Seed of the subsample.
    max_atoms : int, optional
        When the grid has more cells of positive mass than this, cells are merged into
        blocks of 2^a × 2^b cells (doubling the factor along the axis with more blocks)
        until the positive-mass blocks are at most ``max_atoms``; each block becomes one
        atom at its mass-weighted centroid. The centre-atom floor then grows to about
        (Hx² + Hv²)/12 with the block sides H. The estimator string says so. Default:
        no merging.
    num_iter_max : int
        Network-simplex iteration cap passed to POT.

    Returns
    -------
    EMDResult
    """
    import ot

    ex, ev, f = _check_grid(edges_x, edges_v, f)
    x = _as_1d(x, "x")
    m = cell_masses(ex, ev, f)
    rng = np.random.default_rng(seed)
    n = min(int(subsample), x.size)
    idx = rng.choice(x.size, size=n, replace=False) if n < x.size else np.arange(x.size)
    if ev is None:
        pts = x[idx][:, None]
        cx = 0.5 * (ex[1:] + ex[:-1])
        keep = m > 0
        atoms = cx[keep][:, None]
        w = m[keep]
    else:
        v = _as_1d(v, "v")
        pts = np.column_stack([x[idx], v[idx]])
        atoms, w, bx, bv = _block_atoms(ex, ev, m, max_atoms)
    w = w / w.sum()
    a = np.full(n, 1.0 / n)
    cost = ot.dist(pts, atoms, metric="sqeuclidean")
    w2sq = max(float(ot.emd2(a, w, cost, numItermax=int(num_iter_max))), 0.0)
    what = "cell centres" if ev is None or bx * bv == 1 else \
        f"centroids of {bx}x{bv}-cell blocks"
    return EMDResult(value=float(np.sqrt(w2sq)), w2sq=w2sq, subsample=n,
                     n_atoms=int(atoms.shape[0]),
                     estimator=f"ot.emd2, {n} particles vs {atoms.shape[0]} {what}")


def _block_atoms(ex, ev, m, max_atoms):
    """Atoms (centroids) and masses of positive-mass blocks of bx × bv cells."""
    cx, cv = 0.5 * (ex[1:] + ex[:-1]), 0.5 * (ev[1:] + ev[:-1])
    nx, nv = m.shape
    bx = bv = 1
    while True:
        gx, gv = -(-nx // bx), -(-nv // bv)
        pad = np.zeros((gx * bx, gv * bv))
        pad[:nx, :nv] = m
        blocks = pad.reshape(gx, bx, gv, bv)
        mass = blocks.sum(axis=(1, 3))
        if max_atoms is None or np.count_nonzero(mass) <= max_atoms or (bx >= nx and bv >= nv):
            break
        if (gx >= gv and bx < nx) or bv >= nv:
            bx *= 2
        else:
            bv *= 2
    pcx = np.zeros(gx * bx)
    pcx[:nx] = cx
    pcv = np.zeros(gv * bv)
    pcv[:nv] = cv
    with np.errstate(invalid="ignore", divide="ignore"):
        mxb = np.einsum("iajb,ia->ij", blocks, pcx.reshape(gx, bx)) / mass
        mvb = np.einsum("iajb,jb->ij", blocks, pcv.reshape(gv, bv)) / mass
    keep = mass > 0
    return np.column_stack([mxb[keep], mvb[keep]]), mass[keep], bx, bv


# --------------------------------------------------------------------------- KL
def _log_unit_ball(d):
    return 0.5 * d * np.log(np.pi) - gammaln(0.5 * d + 1.0)


def _knn_radii(points, k, workers=-1):
    """Distance to the k-th nearest *distinct-position* neighbour of every point."""
    tree = cKDTree(points)
    n = points.shape[0]
    dist, _ = tree.query(points, k=k + 1, workers=workers)
    rho = np.asarray(dist, dtype=np.float64).reshape(n, k + 1)[:, k].copy()
    bad = np.nonzero(rho <= 0)[0]
    kk = k + 1
    while bad.size:
        # Coincident points: count every position once, i.e. take the k-th smallest
        # positive distance (ties broken as if duplicates were merged).
        kk = min(2 * kk, n)
        dd, _ = tree.query(points[bad], k=kk, workers=workers)
        dd = np.asarray(dd).reshape(bad.size, kk)
        pos = np.where(dd > 0, dd, np.inf)
        pos.sort(axis=1)
        got = np.isfinite(pos[:, k - 1]) if kk - 1 >= k else np.zeros(bad.size, bool)
        rho[bad[got]] = pos[got, k - 1]
        if kk >= n:
            if np.any(~got):
                raise ValueError("fewer than k distinct points: k-NN entropy undefined")
            break
        bad = bad[~got]
    return rho


def kl_knn(points, log_density, k=1, *, workers=-1):
    """Kozachenko–Leonenko k-NN estimate of KL(P ‖ q) from a sample of P and a known q.

    KL̂ = −Ĥ − (1/n) Σ_i log q(X_i),
    Ĥ  = ψ(n) − ψ(k) + log V_d + (d/n) Σ_i log ρ_k(i),

    ρ_k(i): Euclidean distance from X_i to its k-th nearest neighbour among the others,
    V_d = π^{d/2}/Γ(d/2 + 1) the unit-ball volume, ψ the digamma function. The estimator
    is asymptotically unbiased; its spread at KL ≈ 0 with k = 1 is ≈ 1.28/√n
    (√(ψ'(1)) = π/√6 per point), plus the spread of log p/q when P ≠ q.

    Duplicate points (ρ_k = 0, e.g. after reflection at a wall or a stored-precision
    round-off) would give log 0: positions are then counted once, i.e. ρ_k(i) is the
    k-th smallest *positive* distance.

    Parameters
    ----------
    points : array_like, shape (n, d) or (n,) for d = 1
    log_density : callable
        Vectorised log q: takes an array of shape (n, d) (or (n,) when d = 1, as given)
        and returns shape (n,). −inf where q = 0 makes the estimate +inf (as KL is).
    k : int
        Neighbour order (≥ 1).
    workers : int
        Threads for ``cKDTree.query`` (−1: all).

    Returns
    -------
    float
    """
    pts = np.asarray(points, dtype=np.float64)
    arg = pts
    if pts.ndim == 1:
        pts = pts[:, None]
    if pts.ndim != 2:
        raise ValueError("points must have shape (n, d) or (n,)")
    n, d = pts.shape
    k = int(k)
    if k < 1 or n <= k:
        raise ValueError("need 1 ≤ k < n")
    rho = _knn_radii(pts, k, workers)
    h = digamma(n) - digamma(k) + _log_unit_ball(d) + d * np.mean(np.log(rho))
    logq = np.asarray(log_density(arg), dtype=np.float64).reshape(n)
    if np.any(logq == -np.inf):
        return float("inf")
    return float(-h - np.mean(logq))


def _cell_index(edges, x):
    """Index of the cell holding x (right edge included in the last cell); −1 outside."""
    i = np.searchsorted(edges, x, side="right") - 1
    i[x == edges[-1]] = edges.size - 2
    i[(x < edges[0]) | (x > edges[-1]) | ~np.isfinite(x)] = -1
    return i


def grid_log_density(edges_x, edges_v, f, *, floor=None):
    """Vectorised log of the (normalised) piecewise-constant grid density.

    q(z) = m_cell(z) / |cell(z)| inside the grid (each cell uniform), 0 outside;
    log q = −inf where q = 0 (outside the grid or in an empty cell), unless ``floor``
    is given, in which case log max(q, floor) is returned (a finite but arbitrary
    penalty: document it when you use it).

    Parameters
    ----------
    edges_x : array_like, shape (n_x + 1,)
    edges_v : array_like, shape (n_v + 1,), or None for 1-D
    f : array_like, shape (n_x,) or (n_x, n_v)
    floor : float, optional

    Returns
    -------
    callable
        ``logq(points)`` with points of shape (n,) or (n, 1) in 1-D and (n, 2) in phase
        space (columns x, v); returns shape (n,).
    """
    ex, ev, f = _check_grid(edges_x, edges_v, f)
    m = cell_masses(ex, ev, f)
    with np.errstate(divide="ignore"):
        if ev is None:
            q = m / np.diff(ex)
        else:
            q = m / np.outer(np.diff(ex), np.diff(ev))
        if floor is not None:
            q = np.maximum(q, float(floor))
        logq = np.log(q)
    outside = -np.inf if floor is None else float(np.log(floor))

    def logq_fn(points):
        p = np.asarray(points, dtype=np.float64)
        if ev is None:
            p = p.reshape(-1)
            i = _cell_index(ex, p)
            out = np.full(p.shape, outside)
            ok = i >= 0
            out[ok] = logq[i[ok]]
            return out
        p = p.reshape(-1, 2)
        i = _cell_index(ex, p[:, 0])
        j = _cell_index(ev, p[:, 1])
        out = np.full(p.shape[0], outside)
        ok = (i >= 0) & (j >= 0)
        out[ok] = logq[i[ok], j[ok]]
        return out

    return logq_fn


def binned_masses(x, v, edges_x, edges_v):
    """Fraction of particles in each grid cell, and the fraction outside the grid.

    Returns
    -------
    p : ndarray, shape (n_x,) or (n_x, n_v)
    outside : float
    """
    ex = _edges(edges_x, "edges_x")
    x = _as_1d(x, "x")
    n = x.size
    i = _cell_index(ex, x)
    if edges_v is None:
        ok = i >= 0
        p = np.bincount(i[ok], minlength=ex.size - 1) / n
    else:
        ev = _edges(edges_v, "edges_v")
        j = _cell_index(ev, _as_1d(v, "v"))
        ok = (i >= 0) & (j >= 0)
        nv = ev.size - 1
        p = np.bincount(i[ok] * nv + j[ok], minlength=(ex.size - 1) * nv)
        p = p.reshape(ex.size - 1, nv) / n
    return p, float(1.0 - ok.sum() / n)


def kl_binned(x, v, edges_x, edges_v, f):
    """Plug-in KL(p ‖ q) of binned particle fractions p against cell masses q.

    KL = Σ_{p_c > 0} p_c log(p_c / q_c) over the grid's own cells (+inf if a particle
    lies outside the grid or in a cell with q_c = 0). For an i.i.d. sample of q it is
    biased upwards: 2N·KL → χ²_{K−1}, so E KL ≈ (K − 1)/(2N) with K the number of
    cells of positive mass and standard deviation ≈ √(2(K − 1))/(2N) — far above the
    1/N² signal of the one-particle marginal. The χ² law needs N q_c ≫ 1 in every cell;
    when many cells hold ≲ 1 expected particle (Gaussian tails on a wide grid) the bias
    differs from (K − 1)/(2N) (take K ≈ the occupied cells as an order of magnitude),
    which is why :func:`compare_snapshot` reports the measured floor. Kept for
    comparison with :func:`kl_knn`.

    Parameters
    ----------
    x : array_like, shape (N,)
    v : array_like, shape (N,), or None for 1-D
    edges_x, edges_v, f : grid (see module docstring)

    Returns
    -------
    float
    """
    q = cell_masses(edges_x, edges_v, f)
    p, outside = binned_masses(x, v, edges_x, edges_v)
    if outside > 0 or np.any((p > 0) & (q == 0)):
        return float("inf")
    nz = p > 0
    return float(max(np.sum(p[nz] * np.log(p[nz] / q[nz])), 0.0))


def tv_binned(x, v, edges_x, edges_v, f):
    """Total variation ½ Σ_c |p_c − q_c| between binned particle fractions and cell masses.

    Particles outside the grid count as mass where q = 0 (they add their fraction).
    For an i.i.d. sample of q, E TV ≈ Σ_c √(q_c(1 − q_c)/(2πN)) (the floor).

    Parameters
    ----------
    x : array_like, shape (N,)
    v : array_like, shape (N,), or None for 1-D
    edges_x, edges_v, f : grid (see module docstring)

    Returns
    -------
    float
    """
    q = cell_masses(edges_x, edges_v, f)
    p, outside = binned_masses(x, v, edges_x, edges_v)
    return float(0.5 * (np.abs(p - q).sum() + outside))


# --------------------------------------------------------------------------- moments
def moments_particles(x, v=None):
    """Mean vector and covariance of the empirical measure (1/N normalisation).

    Parameters
    ----------
    x : array_like, shape (N,)
    v : array_like, shape (N,), optional

    Returns
    -------
    mean : ndarray, shape (d,)   (d = 1 or 2)
    cov : ndarray, shape (d, d)
        (1/N) Σ (z_i − z̄)(z_i − z̄)ᵀ (the covariance *of the empirical measure*, the
        quantity comparable with the grid's; multiply by N/(N−1) for the unbiased one).
    """
    z = _as_1d(x, "x")[:, None] if v is None else np.column_stack(
        [_as_1d(x, "x"), _as_1d(v, "v")])
    mean = z.mean(axis=0)
    d = z - mean
    cov = d.T @ d / z.shape[0]
    return mean, cov


def moments_grid(edges_x, edges_v, f):
    """Exact mean and covariance of the piecewise-constant grid density.

    With masses m_c, centres c and widths h per cell (uniform inside):
    E z = Σ m_c c,  E[z_a²] = Σ m_c (c_a² + h_a²/12),  E[x v] = Σ m_c c_x c_v
    (x and v are independent inside a cell, so no in-cell covariance).

    Parameters
    ----------
    edges_x : array_like, shape (n_x + 1,)
    edges_v : array_like, shape (n_v + 1,), or None
    f : array_like, shape (n_x,) or (n_x, n_v)

    Returns
    -------
    mean : ndarray, shape (d,)
    cov : ndarray, shape (d, d)
    """
    ex, ev, f = _check_grid(edges_x, edges_v, f)
    m = cell_masses(ex, ev, f)
    cx, hx = 0.5 * (ex[1:] + ex[:-1]), np.diff(ex)
    if ev is None:
        mx = m @ cx
        vx = m @ ((cx - mx) ** 2 + hx ** 2 / 12.0)
        return np.array([mx]), np.array([[vx]])
    cv, hv = 0.5 * (ev[1:] + ev[:-1]), np.diff(ev)
    px, pv = m.sum(axis=1), m.sum(axis=0)
    mx, mv = px @ cx, pv @ cv
    vx = px @ ((cx - mx) ** 2 + hx ** 2 / 12.0)
    vv = pv @ ((cv - mv) ** 2 + hv ** 2 / 12.0)
    cxv = (cx - mx) @ m @ (cv - mv)
    return np.array([mx, mv]), np.array([[vx, cxv], [cxv, vv]])


# --------------------------------------------------------------------------- sampling
def sample_grid(edges_x, edges_v, f, n, rng):
    """I.i.d. sample of size n from the grid density (cell by mass, uniform inside).

    Parameters
    ----------
    edges_x, edges_v, f : grid (see module docstring); ``edges_v=None`` for 1-D
    n : int
    rng : numpy.random.Generator or int seed

    Returns
    -------
    x : ndarray, shape (n,)            (1-D), or
    (x, v) : two ndarrays, shape (n,)  (phase space)
    """
    rng = np.random.default_rng(rng)
    ex, ev, f = _check_grid(edges_x, edges_v, f)
    m = cell_masses(ex, ev, f).ravel()
    cdf = np.cumsum(m)
    cdf /= cdf[-1]
    n = int(n)
    cell = np.searchsorted(cdf, rng.random(n), side="right")
    cell = np.minimum(cell, m.size - 1)
    if ev is None:
        return ex[cell] + np.diff(ex)[cell] * rng.random(n)
    nv = ev.size - 1
    i, j = cell // nv, cell % nv
    x = ex[i] + np.diff(ex)[i] * rng.random(n)
    v = ev[j] + np.diff(ev)[j] * rng.random(n)
    return x, v


# --------------------------------------------------------------------------- snapshot
class _Snapshot:
    """One particle sample against one grid density, with the shared pieces computed once.

    The per-metric evaluators below read it; ``options`` holds the keyword arguments of
    :func:`compare_snapshot` that tune the estimators.
    """

    def __init__(self, x, v, ex, ev, f, logq, options):
        self.x, self.v, self.ex, self.ev, self.f = x, v, ex, ev, f
        self.kinetic = ev is not None
        self.logq = logq
        self.options = options
        self._marginals = None
        self._moments = None

    def marginals(self):
        if self._marginals is None:
            self._marginals = marginals(self.ex, self.ev, self.f) if self.kinetic \
                else (self.f, None)
        return self._marginals

    def points(self):
        return self.x if not self.kinetic else np.column_stack([self.x, self.v])

    def moments(self):
        if self._moments is None:
            self._moments = moments_particles(self.x, self.v if self.kinetic else None)
        return self._moments


def _eval_w2_x(s):
    return {"w2_x": w2_1d_grid(s.x, s.ex, s.marginals()[0])}


def _eval_w2_v(s):
    return {"w2_v": w2_1d_grid(s.v, s.ev, s.marginals()[1])}


def _eval_sw2(s):
    o = s.options
    return {"sw2": sliced_w2(s.x, s.v, s.ex, s.ev, s.f, n_projections=o["n_projections"],
                             seed=o["seed"])}


def _eval_w2_emd(s):
    o = s.options
    r = w2_emd(s.x, s.v, s.ex, s.ev, s.f, subsample=o["emd_subsample"], seed=o["seed"],
               max_atoms=o["emd_max_atoms"])
    return {"w2_emd": r.value, "w2_emd_subsample": r.subsample,
            "w2_emd_estimator": r.estimator}


def _eval_kl_knn(s):
    return {"kl": kl_knn(s.points(), s.logq, k=1)}


def _eval_kl_binned(s):
    return {"kl_binned": kl_binned(s.x, s.v, s.ex, s.ev, s.f)}


def _eval_tv(s):
    return {"tv": tv_binned(s.x, s.v, s.ex, s.ev, s.f)}


def _eval_mean(s):
    mean, _ = s.moments()
    out = {"mean_x": float(mean[0])}
    if s.kinetic:
        out["mean_v"] = float(mean[1])
    return out


def _eval_cov(s):
    _, cov = s.moments()
    out = {"var_x": float(cov[0, 0])}
    if s.kinetic:
        out["var_v"] = float(cov[1, 1])
        out["cov_xv"] = float(cov[0, 1])
    return out


_EVALUATORS = {"w2_x": _eval_w2_x, "w2_v": _eval_w2_v, "sw2": _eval_sw2,
               "w2_emd": _eval_w2_emd, "kl_knn": _eval_kl_knn, "kl_binned": _eval_kl_binned,
               "tv": _eval_tv, "mean": _eval_mean, "cov": _eval_cov}


def _snapshot_values(x, v, ex, ev, f, metrics, logq, options):
    """Values of the chosen metrics (registry order) for one sample; no floors."""
    snap = _Snapshot(x, v, ex, ev, f, logq, options)
    out = {}
    for name in _registry.applicable(
            [m for m in _registry.METRIC_NAMES if m in metrics], snap.kinetic):
        out.update(_EVALUATORS[name](snap))
    return out


def _grid_moments(ex, ev, f):
    """The grid's value of every moment key, from :func:`moments_grid`."""
    gmean, gcov = moments_grid(ex, ev, f)
    out = {"mean_x": gmean[0], "var_x": gcov[0, 0]}
    if ev is not None:
        out.update(mean_v=gmean[1], var_v=gcov[1, 1], cov_xv=gcov[0, 1])
    return out


def compare_snapshot(x, v, edges_x, edges_v, f, *,
                     metrics=_registry.METRIC_NAMES, rng=None, seed=0, n_projections=200,
                     emd_subsample=1000, emd_max_atoms=4096, noise_floor=True):
    """All comparison metrics for one snapshot, with their i.i.d. noise floors.

    The metrics, their keys and the meaning of their floors are those of
    :mod:`vfp.validation.registry`.

    Parameters
    ----------
    x : array_like, shape (N,)
    v : array_like, shape (N,), or None (overdamped: only x-metrics are computed)
    edges_x, edges_v, f : grid; ``edges_v=None`` and f (n_x,) for overdamped
    metrics : tuple of str
        Any of :data:`vfp.validation.registry.METRIC_NAMES` ("w2_x", "w2_v", "sw2",
        "w2_emd", "kl_knn", "kl_binned", "tv", "mean", "cov"). Phase-space-only metrics
        (w2_v, sw2, w2_emd) are skipped in 1-D. Values come out in registry order.
    rng : numpy.random.Generator or int, optional
        Source of the floor sample (default: a stream derived from ``seed``).
    seed : int
        Seed of the sliced directions and the EMD subsample (the same for the
        particles and the floor sample, so both see the same estimator).
    n_projections : int
    emd_subsample : int
    emd_max_atoms : int or None
        Cap on the EMD atoms (see :func:`w2_emd`, ``max_atoms``): ``ot.emd2`` costs grow
        as subsample × atoms (1000 × 4096: ~2 s; 1000 × 65536: ~5 min here).
    noise_floor : bool
        Also evaluate every metric on an independent N-sample of the grid density
        (:func:`sample_grid`) and store it as ``<key>_floor``.

    Returns
    -------
    dict of str → float
        Distances: ``w2_x``, ``w2_v``, ``sw2``, ``w2_emd`` (+ ``w2_emd_subsample``,
        ``w2_emd_estimator``), ``kl`` (k-NN, k = 1), ``kl_binned``, ``tv``.
        Moments of the particles: ``mean_x``, ``mean_v``, ``var_x``, ``var_v``,
        ``cov_xv``, and of the grid: ``<key>_grid``.
        Floors: ``<distance>_floor`` is the same estimator between the i.i.d. sample and
        the grid; ``<moment>_floor`` is |moment(i.i.d. sample) − moment(grid)|, to be
        compared with |<moment> − <moment>_grid|. Also ``n`` (particles) and
        ``kl_outside`` (fraction of particles where the grid density is 0).
    """
    ex, ev, f = _check_grid(edges_x, edges_v, f)
    kinetic = ev is not None
    if kinetic and v is None:
        raise ValueError("phase-space grid given but v is None")
    x = _as_1d(x, "x")
    v = _as_1d(v, "v") if kinetic else None
    unknown = set(metrics) - set(_registry.METRIC_NAMES)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; "
                         f"known: {list(_registry.METRIC_NAMES)}")
    logq = grid_log_density(ex, ev, f)
    options = dict(n_projections=n_projections, emd_subsample=emd_subsample, seed=seed,
                   emd_max_atoms=emd_max_atoms)
    out = {"n": int(x.size)}
    out.update(_snapshot_values(x, v, ex, ev, f, metrics, logq, options))
    if "kl_knn" in metrics:
        pts = x if not kinetic else np.column_stack([x, v])
        out["kl_outside"] = float(np.mean(~np.isfinite(logq(pts))))
    grid_moments = _grid_moments(ex, ev, f)
    for key, val in grid_moments.items():
        if key in out:
            out[key + _registry.GRID_SUFFIX] = float(val)
    if noise_floor:
        # Default stream: derived from ``seed`` but distinct from default_rng(seed), so
        # the floor sample never coincides with particles drawn from the same seed.
        gen = np.random.default_rng(
            np.random.SeedSequence([int(seed), 0x0F100D]) if rng is None else rng)
        if kinetic:
            xs, vs = sample_grid(ex, ev, f, x.size, gen)
        else:
            xs, vs = sample_grid(ex, None, f, x.size, gen), None
        fl = _snapshot_values(xs, vs, ex, ev, f, metrics, logq, options)
        moments = set(_registry.moment_keys(kinetic=kinetic))
        for key, val in fl.items():
            if isinstance(val, str) or _registry.is_bookkeeping(key):
                continue
            if key in moments:
                out[key + _registry.FLOOR_SUFFIX] = float(abs(val - grid_moments[key]))
            else:
                out[key + _registry.FLOOR_SUFFIX] = val
    return out


METRICS = {name: globals()[m.function] for name, m in _registry.REGISTRY.items()}
"""Metric name (:data:`vfp.validation.registry.METRIC_NAMES`) → the estimator it calls."""
