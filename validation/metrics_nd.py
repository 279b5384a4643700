"""Particles against a grid density in d ≥ 2 space dimensions: W2, sliced W2, KL, TV, moments.

Conventions
-----------
Space dimension d (the grid has d = 1 or 2; the functions accept any d); phase-space
dimension D = d (overdamped) or 2d (kinetic). Phase-space points are
z = (x1, …, xd) or z = (x1, …, xd, v1, …, vd).

* Particles: ``x`` of shape (n, d), ``v`` of shape (n, d) or None (overdamped).
* Grid: ``x_edges`` a list of d strictly increasing edge arrays, ``v_edges`` a list of d
  or None; the density is the full state ``f`` of shape (nx1, …, nxd, nv1, …, nvd)
  (kinetic) or ``rho`` of shape (nx1, …, nxd) (overdamped), *cell averages*, uniform
  inside every cell (the finite-volume reading). Every metric renormalises the cell
  masses to 1, so an un-normalised density is accepted.

The 1-D estimators of :mod:`vfp.validation.metrics` are reused per axis (exact W2 of each
marginal against the grid's piecewise-linear marginal CDF) and for the k-NN KL; the
phase-space estimators are new here (sliced W2 with moment-matched cell projections, exact
OT on heavy blocks). Stored names: :mod:`vfp.validation.registry` (``dimension = 2``).

Noise floors: every metric is also evaluated on an independent N-sample of the grid
density (a cell drawn by its mass, then a uniform point in it), so the excess over the
floor is what the particles add; the floors are of the same order as the
propagation-of-chaos signal (per-axis W2² ≍ 1/N; sliced W2² between log N/N and
(log N)²/N in the plane; binned KL ≈ (K − 1)/(2N)), and for the one-particle marginal the
excess is small — O(1/N²) in KL (Lacker) — so agreeing particles sit *at* their floors.

This module never imports ``vfp``'s wiring, ``grids`` or ``particles``.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import _ndkernels as _nk
from . import metrics as _m1
from . import registry as _registry

__all__ = [
    "cell_masses_nd",
    "axis_marginals",
    "w2_axes",
    "sliced_w2_nd",
    "w2_emd_nd",
    "grid_log_density_nd",
    "kl_knn_nd",
    "binned_masses_nd",
    "kl_binned_nd",
    "tv_binned_nd",
    "moments_particles_nd",
    "moments_grid_nd",
    "sample_grid_nd",
    "compare_snapshot_nd",
    "compare_marginals_nd",
    "UNAVAILABLE_KEY",
]

UNAVAILABLE_KEY = "unavailable_reason"
"""Text key of :func:`compare_marginals_nd`: which values are NaN and why."""

DEFAULT_NODES = 32768
DEFAULT_TAIL = 1e-14


# --------------------------------------------------------------------------- checks
def _edges_list(edges, name):
    if edges is None:
        raise ValueError(f"{name} is required")
    if isinstance(edges, np.ndarray) and edges.ndim == 1:
        edges = [edges]
    out = [_m1._edges(e, f"{name}[{a}]") for a, e in enumerate(edges)]
    if not out:
        raise ValueError(f"{name} is empty")
    return out


def _grid(edges, f, name="f"):
    f = np.asarray(f, dtype=np.float64)
    shape = tuple(e.size - 1 for e in edges)
    if f.shape != shape:
        raise ValueError(f"{name} has shape {f.shape}, expected {shape} from the edges")
    if not np.all(np.isfinite(f)) or np.any(f < 0):
        raise ValueError(f"{name} must be finite and non-negative")
    return f


def _points(a, name, d=None):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] == 0:
        raise ValueError(f"{name} must have shape (n, d) with n ≥ 1")
    if d is not None and a.shape[1] != d:
        raise ValueError(f"{name} has {a.shape[1]} columns, the grid has {d} axes")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} has non-finite entries")
    return a


def _phase_points(x, v, d, kinetic):
    x = _points(x, "x", d)
    if not kinetic:
        return np.ascontiguousarray(x)
    if v is None:
        raise ValueError("a phase-space grid (v_edges) is given but v is None")
    v = _points(v, "v", d)
    if v.shape[0] != x.shape[0]:
        raise ValueError("x and v must have the same number of rows")
    return np.ascontiguousarray(np.hstack([x, v]))


def cell_masses_nd(edges, f):
    """Normalised cell masses of a tensor-grid density.

    Parameters
    ----------
    edges : list of D arrays, shapes (n_a + 1,)
    f : array_like, shape (n_1, …, n_D)
        Cell averages ≥ 0, not all zero.

    Returns
    -------
    ndarray, shape (n_1, …, n_D)
        m = f Π_a h_a / Σ f Π_a h_a (Σ m = 1).
    """
    edges = _edges_list(edges, "edges")
    f = _grid(edges, f)
    m = f * _cell_volumes(edges)
    total = m.sum()
    if not total > 0:
        raise ValueError("the grid density has zero total mass")
    return m / total


def _cell_volumes(edges):
    vol = np.ones(())
    for e in edges:
        vol = np.multiply.outer(vol, np.diff(e))
    return vol


def axis_marginals(masses):
    """The 1-D marginal masses of a normalised mass array, one per axis.

    Returns
    -------
    list of ndarray, shapes (n_a,)
    """
    d = masses.ndim
    return [masses.sum(axis=tuple(b for b in range(d) if b != a)) for a in range(d)]


# --------------------------------------------------------------------------- per-axis W2
def w2_axes(points, edges, f):
    """Exact 1-D W2 of every coordinate marginal against the grid's marginal.

    Column a of ``points`` against the marginal of the grid density along axis a,
    uniform inside its cells (piecewise-linear CDF): :func:`metrics.w2_1d_grid`.

    Parameters
    ----------
    points : array_like, shape (n, D)
    edges : list of D edge arrays
    f : array_like, shape (n_1, …, n_D), cell averages

    Returns
    -------
    ndarray, shape (D,)
    """
    edges = _edges_list(edges, "edges")
    z = _points(points, "points", len(edges))
    marg = axis_marginals(cell_masses_nd(edges, f))
    return np.array([_m1.w2_1d_grid(z[:, a], edges[a], marg[a] / np.diff(edges[a]))
                     for a in range(len(edges))])


# --------------------------------------------------------------------------- sliced W2
def _projection_setup(edges, masses, mass_tail=0.0):
    """Per-axis centres and widths (padded rows), and the multi-indices and masses of the
    cells to project: positive mass, leaving out the lightest cells that together hold at
    most ``mass_tail`` (renormalised)."""
    centres = [0.5 * (e[1:] + e[:-1]) for e in edges]
    widths = [np.diff(e) for e in edges]
    n_max = max(c.size for c in centres)
    c_pad = np.zeros((len(edges), n_max))
    h_pad = np.zeros((len(edges), n_max))
    for a, (c, h) in enumerate(zip(centres, widths)):
        c_pad[a, :c.size] = c
        h_pad[a, :h.size] = h
    flat_mass = masses.ravel()
    flat = np.flatnonzero(flat_mass > 0)
    if mass_tail > 0 and flat.size:
        order = np.argsort(flat_mass[flat], kind="stable")
        light = np.searchsorted(np.cumsum(flat_mass[flat[order]]), mass_tail, side="right")
        flat = np.sort(flat[order[light:]])
    mass = np.ascontiguousarray(flat_mass[flat])
    mass /= mass.sum()
    index = np.ascontiguousarray(
        np.stack(np.unravel_index(flat, masses.shape), axis=1).astype(np.int32))
    lows = np.array([e[0] for e in edges])
    highs = np.array([e[-1] for e in edges])
    return c_pad, h_pad, index, mass, lows, highs


def _direction_w2sq(point_sets, theta, setup, n_nodes, bufs, nodes):
    """W2² between each particle set projected on θ and the projected grid (module
    :mod:`vfp.validation._ndkernels`); the grid is projected once for all sets."""
    c_pad, h_pad, index, mass, lows, highs = setup
    lo = float(np.sum(np.minimum(theta * lows, theta * highs)))
    hi = float(np.sum(np.maximum(theta * lows, theta * highs)))
    dy = (hi - lo) / (n_nodes - 3)
    y0 = lo - dy
    slope_inc, value_jump, point, q = nodes
    slope_inc[:] = 0.0
    value_jump[:] = 0.0
    point[:] = 0.0
    _nk.cells_to_nodes(index, mass, theta[:, None] * c_pad, np.abs(theta)[:, None] * h_pad,
                       y0, dy, slope_inc, value_jump, point)
    _nk.node_values(slope_inc, value_jump, point, dy, q)
    out = []
    for z, buf in zip(point_sets, bufs):
        np.dot(z, theta, out=buf)
        buf.sort()
        out.append(_nk.sweep_nodes(buf, y0, dy, q))
    return out


def sliced_w2_nd(points, edges, f, n_projections=200, seed=0, *, directions=None,
                 n_nodes=DEFAULT_NODES, mass_tail=DEFAULT_TAIL, squared=False,
                 per_direction=False, workers=None, chunk=None):
    """Sliced W2 between particles and a tensor-grid density in D ≥ 2 dimensions.

    SW2² = (1/P) Σ_θ W2²(θ·Z_N, θ_# q), θ uniform on S^{D−1} (seeded,
    :func:`metrics.random_directions`); each W2²(θ) is computed exactly by a quantile
    sweep between the sorted projected particles and a piecewise-linear projected grid
    density. How the grid measure is projected: each cell (uniform on its box) is replaced
    by its *moment-matched trapezoid* — the exact projection when D = 2, the same mean and
    variance and a shape error ≤ ≈ 0.025 × the longest cell side in W2 for D = 4 — and the
    mixture is evaluated on ``n_nodes`` equally spaced nodes (module docstring of
    :mod:`vfp.validation._ndkernels`). So per direction the bias of W2(θ) is at most
    ≈ 0.025 max h (D = 4; 0 for D = 2 up to the node spacing), against the h/√12 per
    dimension that centre atoms would add. SW2 ≤ W2/√D.

    Cost per direction: O(N log N) (sort of the projections) + O(K D) (K cells of positive
    mass) + O(n_nodes); directions run in ``workers`` threads (the kernels, the dot
    product and the sort release the GIL). Memory: the (N, D) points, the cells' (K, D)
    int32 indices, plus one (N,) buffer and 4 node arrays per worker — about 60 MB at
    N = 10⁶ and 32⁴ cells, whatever ``n_projections``. :func:`compare_snapshot_nd`
    projects the grid once per direction for the particles and the floor sample together.

    Parameters
    ----------
    points : array_like, shape (n, D)
    edges : list of D edge arrays
    f : array_like, shape (n_1, …, n_D), cell averages ≥ 0
    n_projections : int
    seed : int
    directions : array_like, shape (P, D), optional
        Explicit directions (normalised here), overriding ``n_projections`` and ``seed``.
    n_nodes : int
        Nodes of the projected grid density (≥ 16).
    mass_tail : float
        The lightest cells holding together at most this mass are left out (the rest
        renormalised): this moves the grid measure by W2 ≤ √mass_tail × the grid's
        diameter (10⁻⁷ × diameter at the default 10⁻¹⁴), and skips the far tails of a
        4-D density (a quarter of the cells of a Gaussian on 32⁴).
    squared : bool
        Return SW2² instead of SW2.
    per_direction : bool
        Also return W2²(θ), shape (P,), and the directions (P, D).
    workers : int, optional
        Threads (default: the available cores).
    chunk : int, optional
        Directions submitted at a time (default 4 × workers).

    Returns
    -------
    float, or (float, ndarray (P,), ndarray (P, D)) when ``per_direction``.
    """
    vals, per, dirs = _sliced_many([points], edges, f, n_projections, seed, directions,
                                   n_nodes, mass_tail, workers, chunk)
    val = vals[0] if squared else math.sqrt(vals[0])
    return (val, per[0], dirs) if per_direction else val


def _sliced_many(point_sets, edges, f, n_projections=200, seed=0, directions=None,
                 n_nodes=DEFAULT_NODES, mass_tail=DEFAULT_TAIL, workers=None, chunk=None):
    """SW2² of several particle sets against one grid with the same directions (each
    grid projection computed once): (list of SW2², list of W2²(θ) arrays, directions)."""
    edges = _edges_list(edges, "edges")
    dim = len(edges)
    zs = [np.ascontiguousarray(_points(p, "points", dim)) for p in point_sets]
    masses = cell_masses_nd(edges, f)
    n_nodes = int(n_nodes)
    if n_nodes < 16:
        raise ValueError("n_nodes must be at least 16")
    if directions is None:
        dirs = _m1.random_directions(n_projections, seed, dim)
    else:
        dirs = np.asarray(directions, dtype=np.float64).reshape(-1, dim)
        dirs = dirs / np.linalg.norm(dirs, axis=1)[:, None]
    if not 0.0 <= mass_tail < 1.0:
        raise ValueError("mass_tail must be in [0, 1)")
    setup = _projection_setup(edges, masses, float(mass_tail))
    nw = _m1._n_workers(workers)
    chunk = 4 * nw if chunk is None else max(1, int(chunk))
    out = np.empty((len(zs), dirs.shape[0]))
    local = threading.local()

    def one(k):
        if getattr(local, "bufs", None) is None:
            local.bufs = [np.empty(z.shape[0]) for z in zs]
            local.nodes = tuple(np.empty(n_nodes) for _ in range(4))
        out[:, k] = _direction_w2sq(zs, np.ascontiguousarray(dirs[k]), setup, n_nodes,
                                    local.bufs, local.nodes)

    if nw == 1:
        for k in range(dirs.shape[0]):
            one(k)
    else:
        with ThreadPoolExecutor(max_workers=nw) as pool:
            for start in range(0, dirs.shape[0], chunk):
                list(pool.map(one, range(start, min(start + chunk, dirs.shape[0]))))
    out = np.maximum(out, 0.0)
    return [float(row.mean()) for row in out], list(out), dirs


# --------------------------------------------------------------------------- EMD
def _heavy_block_atoms(edges, masses, max_atoms, mass_tail):
    """Atoms for exact OT: the heaviest blocks of b_1 × … × b_D cells holding at least
    1 − ``mass_tail`` of the mass, at most ``max_atoms`` of them.

    Blocks start as single cells; while too many blocks are needed, the block factor of
    the axis with the most blocks is doubled. Each atom sits at its block's mass-weighted
    centroid with the block's mass; the kept masses are renormalised.

    Returns
    -------
    atoms (k, D), weights (k,), factors (D,), dropped mass (float)
    """
    dim = masses.ndim
    shape = masses.shape
    centres = [0.5 * (e[1:] + e[:-1]) for e in edges]
    factors = [1] * dim
    while True:
        groups = [-(-shape[a] // factors[a]) for a in range(dim)]
        pad = np.zeros(tuple(g * b for g, b in zip(groups, factors)))
        pad[tuple(slice(0, s) for s in shape)] = masses
        split = tuple(x for g, b in zip(groups, factors) for x in (g, b))
        inner = tuple(2 * a + 1 for a in range(dim))
        block = pad.reshape(split).sum(axis=inner).ravel()
        order = np.argsort(block)[::-1]
        cum = np.cumsum(block[order])
        need = int(np.searchsorted(cum, (1.0 - mass_tail) * cum[-1])) + 1
        need = min(need, int(np.count_nonzero(block)))
        if need <= max_atoms or all(factors[a] >= shape[a] for a in range(dim)):
            break
        a = max((a for a in range(dim) if factors[a] < shape[a]), key=lambda a: groups[a])
        factors[a] *= 2
    keep = order[:need]
    atoms = np.empty((keep.size, dim))
    for a in range(dim):
        c = np.zeros(groups[a] * factors[a])
        c[:shape[a]] = centres[a]
        bc = np.broadcast_to(c.reshape([-1 if b == a else 1 for b in range(dim)]), pad.shape)
        moment = (pad * bc).reshape(split).sum(axis=inner).ravel()
        atoms[:, a] = moment[keep] / block[keep]
    w = block[keep]
    dropped = float(max(1.0 - w.sum() / block.sum(), 0.0))
    return atoms, w / w.sum(), factors, dropped


def w2_emd_nd(points, edges, f, subsample=1000, seed=0, *, max_atoms=4096,
              mass_tail=1e-3, num_iter_max=10**7):
    """Exact-OT W2 (POT ``ot.emd2``) between a particle subsample and grid atoms, D ≥ 2.

    Estimator: n ≤ ``subsample`` particles drawn without replacement (seeded), weights
    1/n, against atoms of the grid: the heaviest blocks of cells (single cells when few
    enough) holding all but at most ``mass_tail`` of the mass, at most ``max_atoms`` of
    them (blocks of 2^k cells per axis, the axis with the most blocks doubled first),
    each at its mass-weighted centroid, masses renormalised; cost |z − z'|², so
    ``ot.emd2`` returns W2². Built-in biases, carried equally by the noise floor: the
    subsample floor (E W2² of an n-sample), the atom floor (≈ Σ_a H_a²/12 with H_a the
    block sides), and the dropped tail mass (stated in ``estimator``). In 4-D the atoms
    are coarse (32⁴ cells → blocks of about 4⁴ cells for 4096 atoms), so read this value
    against its floor. Cost grows as n × atoms (1000 × 4096: ~2 s).

    Returns
    -------
    metrics.EMDResult
        ``estimator`` names the subsample, the atoms, the block factors and the dropped
        mass.
    """
    import ot

    edges = _edges_list(edges, "edges")
    z = _points(points, "points", len(edges))
    masses = cell_masses_nd(edges, f)
    if not 0.0 <= mass_tail < 1.0:
        raise ValueError("mass_tail must be in [0, 1)")
    if int(max_atoms) < 1:
        raise ValueError("max_atoms must be at least 1")
    rng = np.random.default_rng(seed)
    n = min(int(subsample), z.shape[0])
    idx = rng.choice(z.shape[0], size=n, replace=False) if n < z.shape[0] else \
        np.arange(z.shape[0])
    atoms, w, factors, dropped = _heavy_block_atoms(edges, masses, int(max_atoms),
                                                    float(mass_tail))
    cost = ot.dist(z[idx], atoms, metric="sqeuclidean")
    w2sq = max(float(ot.emd2(np.full(n, 1.0 / n), w, cost,
                             numItermax=int(num_iter_max))), 0.0)
    block = "x".join(str(b) for b in factors)
    what = "cell centres" if all(b == 1 for b in factors) else \
        f"centroids of {block}-cell blocks"
    return _m1.EMDResult(value=math.sqrt(w2sq), w2sq=w2sq, subsample=n,
                         n_atoms=int(atoms.shape[0]),
                         estimator=f"ot.emd2, {n} particles vs {atoms.shape[0]} heaviest "
                                   f"{what} (grid mass left out: {dropped:.2g})")


# --------------------------------------------------------------------------- KL
def grid_log_density_nd(edges, f, *, floor=None):
    """Vectorised log of the normalised piecewise-constant density on a tensor grid.

    q(z) = m_cell(z)/|cell(z)| inside the grid, 0 outside; log q = −inf where q = 0
    unless ``floor`` is given (then log max(q, floor), a finite but arbitrary penalty).

    Returns
    -------
    callable
        ``logq(points)``, points of shape (n, D) → shape (n,).
    """
    edges = _edges_list(edges, "edges")
    masses = cell_masses_nd(edges, f)
    with np.errstate(divide="ignore"):
        q = masses / _cell_volumes(edges)
        if floor is not None:
            q = np.maximum(q, float(floor))
        logq = np.log(q).ravel()
    outside = -np.inf if floor is None else float(np.log(floor))
    shape = masses.shape

    def logq_fn(points):
        p = np.asarray(points, dtype=np.float64).reshape(-1, len(edges))
        flat, ok = _flat_cell_index(edges, shape, p)
        out = np.full(p.shape[0], outside)
        out[ok] = logq[flat[ok]]
        return out

    return logq_fn


def _flat_cell_index(edges, shape, p):
    """Flat C-order cell index of every point (n, D) and whether it lies in the grid."""
    ok = np.ones(p.shape[0], dtype=bool)
    flat = np.zeros(p.shape[0], dtype=np.int64)
    for a, e in enumerate(edges):
        i = _m1._cell_index(e, p[:, a])
        ok &= i >= 0
        flat = flat * shape[a] + np.maximum(i, 0)
    return flat, ok


def kl_knn_nd(points, edges, f, k=1, *, workers=-1):
    """Kozachenko–Leonenko k-NN estimate of KL(particles ‖ grid density) in D dimensions.

    :func:`metrics.kl_knn` with the grid log density of :func:`grid_log_density_nd`:
    KL̂ = −Ĥ − (1/n) Σ log q(Z_i), Ĥ = ψ(n) − ψ(k) + log V_D + (D/n) Σ log ρ_k(i).
    Its spread at KL ≈ 0 is ≈ 1.28/√n (k = 1) plus that of log p/q; +inf when a particle
    sits where q = 0.
    """
    edges = _edges_list(edges, "edges")
    z = _points(points, "points", len(edges))
    return _m1.kl_knn(z, grid_log_density_nd(edges, f), k=k, workers=workers)


# --------------------------------------------------------------------------- binned
def binned_masses_nd(points, edges):
    """Fraction of the points in each cell of a tensor grid, and the fraction outside.

    Returns
    -------
    p : ndarray, shape (n_1, …, n_D)
    outside : float
    """
    edges = _edges_list(edges, "edges")
    z = _points(points, "points", len(edges))
    shape = tuple(e.size - 1 for e in edges)
    flat, ok = _flat_cell_index(edges, shape, z)
    n = z.shape[0]
    p = np.bincount(flat[ok], minlength=int(np.prod(shape))).reshape(shape) / n
    return p, float(1.0 - ok.sum() / n)


def kl_binned_nd(points, edges, f):
    """Plug-in KL Σ p_c log(p_c/q_c) of binned particle fractions against cell masses.

    +inf if a point is outside the grid or in a cell with q_c = 0. For an i.i.d. sample
    of q, 2N·KL → χ²_{K−1}: E KL ≈ (K − 1)/(2N) for K cells of positive mass (when
    N q_c ≫ 1 everywhere; measured floor otherwise).
    """
    q = cell_masses_nd(edges, f)
    p, outside = binned_masses_nd(points, edges)
    if outside > 0 or np.any((p > 0) & (q == 0)):
        return float("inf")
    nz = p > 0
    return float(max(np.sum(p[nz] * np.log(p[nz] / q[nz])), 0.0))


def tv_binned_nd(points, edges, f):
    """Total variation ½ Σ_c |p_c − q_c| (+ ½ the fraction outside the grid)."""
    q = cell_masses_nd(edges, f)
    p, outside = binned_masses_nd(points, edges)
    return float(0.5 * (np.abs(p - q).sum() + outside))


# --------------------------------------------------------------------------- moments
def moments_particles_nd(points):
    """Mean vector (D,) and covariance (D, D) of the empirical measure (1/N)."""
    z = _points(points, "points")
    mean = z.mean(axis=0)
    dz = z - mean
    return mean, dz.T @ dz / z.shape[0]


def moments_grid_nd(edges, f):
    """Exact mean and covariance of the piecewise-constant (uniform-in-cell) density.

    E z_a = Σ m c_a; Cov_ab = Σ m (c_a − μ_a)(c_b − μ_b) + δ_ab Σ m h_a²/12 (coordinates
    are independent and uniform inside a cell), from the 1-D and 2-D marginals.

    Returns
    -------
    mean : ndarray (D,), cov : ndarray (D, D)
    """
    edges = _edges_list(edges, "edges")
    masses = cell_masses_nd(edges, f)
    return _moments_from_masses(edges, masses)


def _moments_from_masses(edges, masses, blocks=None):
    """Moments from a normalised mass array; ``blocks`` (list of axis groups) restricts the
    covariance to pairs inside one group (others NaN) when only group marginals are known:
    then ``masses`` is a list of one normalised mass array per group."""
    dim = len(edges)
    centres = [0.5 * (e[1:] + e[:-1]) for e in edges]
    widths = [np.diff(e) for e in edges]
    if blocks is None:
        blocks, arrays = [list(range(dim))], [masses]
    else:
        arrays = masses
    mean = np.empty(dim)
    cov = np.full((dim, dim), np.nan)
    for axes, arr in zip(blocks, arrays):
        marg = axis_marginals(arr)
        for j, a in enumerate(axes):
            mean[a] = marg[j] @ centres[a]
        for j, a in enumerate(axes):
            ca = centres[a] - mean[a]
            cov[a, a] = marg[j] @ (ca ** 2 + widths[a] ** 2 / 12.0)
            for jb in range(j + 1, len(axes)):
                b = axes[jb]
                pair = arr.sum(axis=tuple(c for c in range(arr.ndim) if c not in (j, jb)))
                cov[a, b] = cov[b, a] = ca @ pair @ (centres[b] - mean[b])
    return mean, cov


# --------------------------------------------------------------------------- sampling
def sample_grid_nd(edges, f, n, rng):
    """I.i.d. sample of the grid density: a cell drawn by its mass, then uniform in it.

    Parameters
    ----------
    edges : list of D edge arrays
    f : array_like, shape (n_1, …, n_D)
    n : int
    rng : numpy.random.Generator or int

    Returns
    -------
    ndarray, shape (n, D)
    """
    rng = np.random.default_rng(rng)
    edges = _edges_list(edges, "edges")
    m = cell_masses_nd(edges, f).ravel()
    cdf = np.cumsum(m)
    cdf /= cdf[-1]
    n = int(n)
    cell = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), m.size - 1)
    idx = np.unravel_index(cell, tuple(e.size - 1 for e in edges))
    out = np.empty((n, len(edges)))
    for a, e in enumerate(edges):
        out[:, a] = e[idx[a]] + np.diff(e)[idx[a]] * rng.random(n)
    return out


# --------------------------------------------------------------------------- snapshot
def _grid_setup(x_edges, v_edges):
    xe = _edges_list(x_edges, "x_edges")
    kinetic = v_edges is not None
    ve = _edges_list(v_edges, "v_edges") if kinetic else []
    if kinetic and len(ve) != len(xe):
        raise ValueError(f"x_edges has {len(xe)} axes but v_edges has {len(ve)}")
    return xe, ve, kinetic


def _values(z, d, kinetic, xe, edges, f, masses, logq, metrics, options, marginal_only,
            sw2=None):
    """The chosen metrics for one sample z (n, D); see :func:`compare_snapshot_nd`.

    ``masses``: the normalised full mass array, or (marginal_only) the pair (rho masses,
    g masses); ``f`` is then unused. ``sw2``: the sliced W2 when already computed.
    """
    dim = z.shape[1]
    names = _registry.components(kinetic, d)
    out = {}
    if marginal_only:
        rho_m, g_m = masses
        marg = axis_marginals(rho_m) + (axis_marginals(g_m) if kinetic else [])
        x_masses = rho_m
    else:
        marg = axis_marginals(masses)
        x_masses = masses.sum(axis=tuple(range(d, dim))) if kinetic else masses
    w2 = {}
    if "w2_x" in metrics or "w2_v" in metrics:
        for a in range(dim):
            if (a < d and "w2_x" in metrics) or (a >= d and "w2_v" in metrics):
                w2[a] = _m1.w2_1d_grid(z[:, a], edges[a], marg[a] / np.diff(edges[a]))
    nan = float("nan")
    for name in metrics:
        if name == "w2_x":
            out.update({f"w2_x{a + 1}": w2[a] for a in range(d)})
        elif name == "w2_v":
            out.update({f"w2_v{a + 1}": w2[d + a] for a in range(d)})
        elif name == "sw2":
            out["sw2"] = nan if marginal_only else sw2 if sw2 is not None else sliced_w2_nd(
                z, edges, f, n_projections=options["n_projections"], seed=options["seed"])
        elif name == "w2_emd":
            if marginal_only:
                out.update(w2_emd=nan, w2_emd_subsample=0)
            else:
                r = w2_emd_nd(z, edges, f, subsample=options["emd_subsample"],
                              seed=options["seed"], max_atoms=options["emd_max_atoms"],
                              mass_tail=options["emd_mass_tail"])
                out.update(w2_emd=r.value, w2_emd_subsample=r.subsample,
                           w2_emd_estimator=r.estimator)
        elif name == "kl_knn":
            out["kl"] = nan if marginal_only else _m1.kl_knn(z, logq, k=1)
        elif name == "kl_binned":
            out["kl_binned"] = _kl_from(binned_masses_nd(z[:, :d], xe), x_masses)
        elif name == "tv":
            p, outside = binned_masses_nd(z[:, :d], xe)
            out["tv"] = float(0.5 * (np.abs(p - x_masses).sum() + outside))
        elif name == "mean":
            mean = z.mean(axis=0)
            out.update({f"mean_{c}": float(mean[a]) for a, c in enumerate(names)})
        elif name == "cov":
            _, cov = moments_particles_nd(z)
            for a in range(dim):
                for b in range(a, dim):
                    cross = marginal_only and (a < d) != (b < d)
                    out[f"cov_{names[a]}{names[b]}"] = nan if cross else float(cov[a, b])
    return out


def _kl_from(binned, q):
    p, outside = binned
    if outside > 0 or np.any((p > 0) & (q == 0)):
        return float("inf")
    nz = p > 0
    return float(max(np.sum(p[nz] * np.log(p[nz] / q[nz])), 0.0))


def _grid_moment_values(edges, masses, d, kinetic, marginal_only):
    names = _registry.components(kinetic, d)
    dim = len(names)
    if marginal_only:
        rho_m, g_m = masses
        blocks = [list(range(d))] + ([list(range(d, dim))] if kinetic else [])
        arrays = [rho_m] + ([g_m] if kinetic else [])
        mean, cov = _moments_from_masses(edges, arrays, blocks)
    else:
        mean, cov = _moments_from_masses(edges, masses)
    out = {f"mean_{c}": float(mean[a]) for a, c in enumerate(names)}
    out.update({f"cov_{names[a]}{names[b]}": float(cov[a, b])
                for a in range(dim) for b in range(a, dim)})
    return out


def _check_metrics(metrics):
    unknown = set(metrics) - set(_registry.METRIC_NAMES)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; "
                         f"known: {list(_registry.METRIC_NAMES)}")


def _compare(z, d, kinetic, xe, edges, f, masses, metrics, seed, rng, options, noise_floor,
             floor_sampler, marginal_only):
    metrics = _registry.applicable(
        [m for m in _registry.METRIC_NAMES if m in metrics], kinetic, d)
    logq = None if marginal_only or "kl_knn" not in metrics else \
        grid_log_density_nd(edges, f)
    zs = None
    if noise_floor:
        # Distinct from default_rng(seed), as in d = 1: the floor sample never coincides
        # with particles drawn from the same seed.
        gen = np.random.default_rng(
            np.random.SeedSequence([int(seed), 0x0F100D]) if rng is None else rng)
        zs = floor_sampler(z.shape[0], gen)
    sw2 = [None, None]
    if "sw2" in metrics and not marginal_only:
        # one projection of the grid per direction serves the particles and the floor
        sets = [z] if zs is None else [z, zs]
        vals, _, _ = _sliced_many(sets, edges, f, options["n_projections"], options["seed"])
        sw2[:len(vals)] = [math.sqrt(v) for v in vals]
    out = {"n": int(z.shape[0])}
    out.update(_values(z, d, kinetic, xe, edges, f, masses, logq, metrics, options,
                       marginal_only, sw2[0]))
    if "kl_knn" in metrics:
        out["kl_outside"] = float("nan") if marginal_only else \
            float(np.mean(~np.isfinite(logq(z))))
    grid_moments = _grid_moment_values(edges, masses, d, kinetic, marginal_only)
    for key, val in grid_moments.items():
        if key in out:
            out[key + _registry.GRID_SUFFIX] = val
    if noise_floor:
        fl = _values(zs, d, kinetic, xe, edges, f, masses, logq, metrics, options,
                     marginal_only, sw2[1])
        moments = set(_registry.moment_keys(kinetic=kinetic, dimension=d))
        for key, val in fl.items():
            if isinstance(val, str) or _registry.is_bookkeeping(key):
                continue
            if key in moments:
                out[key + _registry.FLOOR_SUFFIX] = float(abs(val - grid_moments[key]))
            else:
                out[key + _registry.FLOOR_SUFFIX] = val
    return out


def compare_snapshot_nd(x, v, x_edges, v_edges, f, *, metrics=_registry.METRIC_NAMES,
                        seed=0, n_projections=200, emd_subsample=1000, emd_max_atoms=4096,
                        emd_mass_tail=1e-3, noise_floor=True, rng=None):
    """All comparison metrics for one snapshot in d ≥ 1, with their i.i.d. noise floors.

    d = 1 (one edge array per list, or ``x`` of shape (n,)/(n, 1)) is delegated to
    :func:`metrics.compare_snapshot` unchanged (same keys and values as before d = 2).

    Parameters
    ----------
    x : array_like, shape (n, d)
    v : array_like, shape (n, d), or None (overdamped)
    x_edges : list of d edge arrays
    v_edges : list of d edge arrays, or None (overdamped)
    f : array_like
        Cell averages: shape (nx1, …, nxd, nv1, …, nvd) (kinetic, the full state) or
        (nx1, …, nxd) (overdamped, rho).
    metrics : iterable of str
        Names of :data:`vfp.validation.registry.METRIC_NAMES`; those that do not apply
        (``w2_v`` overdamped) are skipped. Values come out in registry order.
    seed : int
        Seeds the sliced directions, the EMD subsample and (by default) the floor sample.
    n_projections : int
        Directions of the sliced W2 (:func:`sliced_w2_nd`).
    emd_subsample, emd_max_atoms, emd_mass_tail :
        :func:`w2_emd_nd` (``subsample``, ``max_atoms``, ``mass_tail``).
    noise_floor : bool
        Also evaluate every metric on an i.i.d. N-sample of the grid density
        (:func:`sample_grid_nd`), stored as ``<key>_floor``.
    rng : numpy.random.Generator or int, optional
        Source of the floor sample.

    Returns
    -------
    dict
        Exactly the keys ``registry.stored_keys(metrics, kinetic, dimension=d)`` plus
        ``n`` and, when exact OT ran, ``w2_emd_estimator`` (text). Distances: ``w2_x1``,
        ``w2_x2``, ``w2_v1``, ``w2_v2`` (exact 1-D W2 per marginal), ``sw2``, ``w2_emd``
        and ``kl`` (k-NN, k = 1) on the whole phase space, ``kl_binned`` and ``tv`` on the
        x-marginal cells. Moments ``mean_<c>``, ``cov_<a><b>`` of the particles (1/N),
        ``<key>_grid`` of the grid (exact, uniform cells), and ``<key>_floor`` =
        |moment(i.i.d. sample) − moment(grid)|. ``kl_outside``: fraction of particles
        where the grid density is 0.
    """
    xe = _edges_list(x_edges, "x_edges")
    if len(xe) == 1:
        x1 = np.asarray(x, dtype=np.float64).reshape(-1)
        v1 = None if v is None else np.asarray(v, dtype=np.float64).reshape(-1)
        ve = None if v_edges is None else _edges_list(v_edges, "v_edges")[0]
        return _m1.compare_snapshot(x1, v1, xe[0], ve, f, metrics=tuple(metrics), rng=rng,
                                    seed=seed, n_projections=n_projections,
                                    emd_subsample=emd_subsample, emd_max_atoms=emd_max_atoms,
                                    noise_floor=noise_floor)
    _check_metrics(metrics)
    xe, ve, kinetic = _grid_setup(xe, v_edges)
    d = len(xe)
    edges = xe + ve
    f = _grid(edges, f)
    z = _phase_points(x, v, d, kinetic)
    masses = cell_masses_nd(edges, f)
    options = dict(n_projections=n_projections, seed=seed, emd_subsample=emd_subsample,
                   emd_max_atoms=emd_max_atoms, emd_mass_tail=emd_mass_tail)

    def sampler(n, gen):
        return sample_grid_nd(edges, f, n, gen)

    return _compare(z, d, kinetic, xe, edges, f, masses, metrics, seed, rng, options,
                    noise_floor, sampler, marginal_only=False)


def compare_marginals_nd(x, v, x_edges, v_edges, rho, g, *, metrics=_registry.METRIC_NAMES,
                         seed=0, noise_floor=True, rng=None):
    """The metrics that need only the marginals, when the full state f is not stored.

    From the x-marginal ``rho`` (nx1, …, nxd) and the v-marginal ``g`` (nv1, …, nvd)
    (kinetic; None overdamped) this computes exactly what :func:`compare_snapshot_nd`
    computes from f for: the per-axis W2 (``w2_x*``, ``w2_v*``), ``kl_binned`` and ``tv``
    (x-marginal cells), the means and the covariance blocks within x and within v. The
    phase-space metrics ``sw2``, ``w2_emd``, ``kl`` (and ``kl_outside``) and the x–v
    cross-covariances (``cov_x*v*``, values, grids and floors) are NaN, and
    ``unavailable_reason`` (text) says which and why; ``w2_emd_subsample`` is 0.
    The floor sample draws x from rho and v from g independently (the marginal metrics
    only see the marginals, so their floors have the same law as with f).

    Overdamped, rho *is* the full state: :func:`compare_snapshot_nd` is called instead.

    Parameters
    ----------
    x, v, x_edges, v_edges : as :func:`compare_snapshot_nd`
    rho : array_like, shape (nx1, …, nxd)
    g : array_like, shape (nv1, …, nvd), or None (overdamped)
    metrics, seed, noise_floor, rng : as :func:`compare_snapshot_nd`

    Returns
    -------
    dict
        The keys of ``registry.stored_keys(metrics, kinetic, dimension=d)`` plus ``n``
        and ``unavailable_reason``.
    """
    if v_edges is None:
        return compare_snapshot_nd(x, None, x_edges, None, rho, metrics=metrics, seed=seed,
                                   noise_floor=noise_floor, rng=rng)
    _check_metrics(metrics)
    xe, ve, kinetic = _grid_setup(x_edges, v_edges)
    d = len(xe)
    if d == 1:
        raise ValueError("compare_marginals_nd needs d ≥ 2 (d = 1 stores the full state)")
    if g is None:
        raise ValueError("kinetic: g (the v-marginal) is required")
    edges = xe + ve
    rho = _grid(xe, rho, "rho")
    g = _grid(ve, g, "g")
    z = _phase_points(x, v, d, kinetic)
    masses = (cell_masses_nd(xe, rho), cell_masses_nd(ve, g))

    def sampler(n, gen):
        return np.hstack([sample_grid_nd(xe, rho, n, gen), sample_grid_nd(ve, g, n, gen)])

    out = _compare(z, d, kinetic, xe, edges, None, masses, metrics, seed, rng, {},
                   noise_floor, sampler, marginal_only=True)
    missing = [k for k in _registry.value_keys(metrics, kinetic, dimension=d)
               if k in out and isinstance(out[k], float) and math.isnan(out[k])]
    if missing:
        out[UNAVAILABLE_KEY] = (", ".join(missing) + ": the full phase-space density f is "
                                "not stored at this snapshot (only its marginals rho and g)")
    return out
