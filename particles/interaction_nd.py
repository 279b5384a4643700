"""Radial interactions in d = 2, 3: the mean-field force (1/N) Σ_j ∇W(x_i − x_j).

In d ≥ 2 the interaction is radial, W(x) = w(|x|), given by the profile's derivative
w'(r) (r ≥ 0). The force on x_i from x_j is −w'(r)(x_i − x_j)/r (0 at r = 0), so the
drift term the simulator subtracts is

    G_i = (1/N) Σ_j φ(r_ij) (x_i − x_j),     φ(r) = w'(r)/r,  r_ij = |x_i − x_j|.

Specs: :class:`particles.interaction.Quadratic` (w = κr²/2, φ = κ),
:class:`particles.interaction.GaussianKernel` (w = s e^{−r²/(2σ²)}, φ = −(s/σ²) e^{−r²/(2σ²)},
σ the width) and :class:`RadialKernel` (w' tabulated on [0, R], linear interpolation,
w' = 0 for r > R).

Methods:

* ``exact`` (Quadratic): G_i = κ(x_i − x̄), the mean per axis in fixed blocks, O(N);
* ``pairwise``: the O(N²) double sum, ``prange`` over i, each row in a fixed j order;
* ``mesh`` (d = 2, box domain only): cloud-in-cell (bilinear) deposit of the masses 1/N on
  the (M1 + 1) × (M2 + 1) nodes of the box (fixed particle blocks, rows summed in a fixed
  order), zero-padded (non-periodic) 2-D FFT convolution with the vector kernel
  K(r) = φ(|r|) r sampled at the node offsets (:mod:`grids.convolution2d`, both
  components from one forward transform), and bilinear interpolation back. The same weights for deposit and interpolation and an odd kernel
  give zero self-force. Error against ``pairwise`` O(h²) for a smooth kernel.
* ``auto``: Quadratic → exact; otherwise pairwise for N ≤ 5000 and mesh above (d = 2;
  refused in free space, as in d = 1); in d = 3 always pairwise (there is no 3-D mesh).

Compiled dispatch as in d = 1: a packed plan (:func:`pack_plan_nd`) whose class selects
the set-up code, :func:`prepare_nd` (once per step: the mean, the pairwise sums or the
mesh field, always ending in the particles' forces G (d, N), :class:`ForceFieldND`) and
:func:`add_interaction_block` (adds G into a block). One field type for every method
keeps the per-step particle kernels to one compilation each.

Mean-field energies (DESIGN §9) enter as plans wrapping the interaction's plan (``inner``,
NoInteraction when there is none); their field is the same ForceFieldND, G = energy drift
+ interaction force:

* :class:`NetworkPlanND` (a :class:`grids.meanfield.TwoLayerNetwork`, compiled): per force
  evaluation the residuals from all N particles (weights 1/N,
  :func:`grids.meanfield.network_residuals`, a fixed-order reduction), then the drift
  ∇x δF/δμ at every particle (:func:`grids.meanfield.network_drift`);
* :class:`GivenDriftPlanND` (any other energy): the drift ``E`` (d, N), filled from Python
  by the driver before each force evaluation (``energy.drift(x, x, w)``).

:class:`LinePlan` wraps a d = 1 plan of :mod:`particles.interaction` (exact, pairwise or
the 1-D mesh, any d = 1 kernel) for X of shape (1, N): the d = 1 energy runs use these
loops with the d = 1 interaction.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit, prange
from numba.extending import overload

from ..grids.convolution2d import Convolver2D, conv2_apply_pair
from ..grids.meanfield import network_drift, network_residuals
from .interaction import (AUTO_PAIRWISE_MAX_N, KIND_GAUSSIAN, KIND_TABULATED, METHOD_EXACT,
                          METHOD_MESH, METHOD_NONE, METHOD_PAIRWISE, GaussianKernel,
                          NoInteraction, Quadratic, deterministic_mean_par,
                          INTERACTION_METHODS, interaction_at, prepare_interaction)

__all__ = ["RadialKernel", "as_interaction_nd", "resolve_method_nd", "MeshPlan2D",
           "check_mesh_2d", "pack_plan_nd", "prepare_nd", "add_interaction_block",
           "pairwise_force_nd", "mesh_force_2d", "interaction_force_nd", "radial_phi",
           "LinePlan", "NetworkPlanND", "GivenDriftPlanND"]

MESH_BLOCKS_2D = 16     # fixed number of deposit blocks (thread-count independent)


class RadialKernel:
    """Radial profile derivative w'(r) tabulated on r_k = k R/(n − 1), k = 0..n − 1.

    Linear interpolation (error ≤ h²/8 max|w'''|, h = R/(n − 1)); w'(r) = 0 for r > R.
    The force uses φ(r) = w'(r)/r for r > 0 and 0 at r = 0.

    Parameters
    ----------
    values : ndarray, shape (n,)
        w' at the nodes (n ≥ 2).
    r_max : float
        R > 0.
    resolution : float, optional
        Length scale a mesh must resolve (spacing ≤ resolution/2); default R/64.
    """

    def __init__(self, values, r_max, resolution=None):
        v = np.ascontiguousarray(np.asarray(values, dtype=np.float64))
        if v.ndim != 1 or v.size < 2:
            raise ValueError(f"RadialKernel needs ≥ 2 nodes (got shape {v.shape})")
        if not np.all(np.isfinite(v)):
            raise ValueError("RadialKernel values are not finite")
        R = float(r_max)
        if not (R > 0 and math.isfinite(R)):
            raise ValueError(f"RadialKernel r_max must be > 0 and finite (got {r_max})")
        self.values = v
        self.r_max = R
        self.inv_h = (v.size - 1) / R
        self.resolution = R / 64.0 if resolution is None else float(resolution)

    @classmethod
    def from_callable(cls, grad_profile, r_max, nodes=2**14 + 1, resolution=None):
        """Tabulate a vectorised w'(r) on ``nodes`` uniform points of [0, r_max]."""
        nodes = int(nodes)
        if nodes < 2:
            raise ValueError(f"RadialKernel needs nodes ≥ 2 (got {nodes})")
        r = np.linspace(0.0, float(r_max), nodes)
        vals = np.asarray(grad_profile(r), dtype=np.float64)
        if vals.shape != r.shape:
            vals = np.broadcast_to(vals, r.shape).copy()
        return cls(vals, r_max, resolution)

    def grad(self, r):
        """Interpolated w'(r), r ≥ 0 (NumPy twin of the compiled lookup)."""
        r = np.asarray(r, dtype=np.float64)
        n = self.values.size
        u = r * self.inv_h
        inside = (u >= 0) & (u <= n - 1)
        k = np.clip(np.floor(np.where(inside, u, 0.0)), 0, n - 2).astype(np.int64)
        f = np.where(inside, u, 0.0) - k
        out = self.values[k] + f * (self.values[k + 1] - self.values[k])
        return np.where(inside, out, 0.0)

    def params(self):
        return KIND_TABULATED, np.array([self.r_max, self.inv_h, 0.0]), self.values

    def as_odd_kernel(self):
        """The d = 1 :class:`particles.interaction.TabulatedKernel` W'(r) = sign(r) w'(|r|)
        on [−R, R] (same nodes, mirrored)."""
        from .interaction import TabulatedKernel
        v = self.values
        return TabulatedKernel(np.concatenate([-v[:0:-1], v]), self.r_max, self.resolution)


def radial_phi(interaction, r):
    """φ(r) = w'(r)/r (0 at r = 0) of a radial spec, vectorised (NumPy)."""
    r = np.asarray(r, dtype=np.float64)
    if isinstance(interaction, Quadratic):
        return np.full_like(r, float(interaction.kappa))
    if isinstance(interaction, GaussianKernel):
        w2 = float(interaction.width) ** 2
        return -float(interaction.strength) / w2 * np.exp(-0.5 * r * r / w2)
    safe = np.where(r > 0, r, 1.0)
    return np.where(r > 0, interaction.grad(r) / safe, 0.0)


def as_interaction_nd(interaction):
    """None, Quadratic, GaussianKernel or RadialKernel (else ValueError)."""
    if interaction is None or isinstance(interaction, (Quadratic, GaussianKernel,
                                                       RadialKernel)):
        return interaction
    if callable(interaction):
        raise ValueError("in d ≥ 2 the interaction is radial: pass Quadratic, GaussianKernel "
                         "or RadialKernel.from_callable(w', r_max) for a profile w'(r)")
    raise ValueError("interaction: expected Quadratic, GaussianKernel, RadialKernel or None "
                     f"in d ≥ 2 (got {type(interaction).__name__})")


def resolve_method_nd(interaction, method, n, d, bounded):
    """The METHOD_* code for ``interaction`` with ``n`` particles in ``d`` dimensions."""
    if method not in INTERACTION_METHODS:
        raise ValueError(f"unknown interaction method {method!r} "
                         f"(choose from {', '.join(INTERACTION_METHODS)})")
    if interaction is None:
        return METHOD_NONE
    if isinstance(interaction, Quadratic):
        return METHOD_EXACT
    if d > 3:
        raise ValueError(f"in d = {d} > 3 only the Quadratic interaction (exact mean form) is "
                         "available (the pairwise sum exists for d = 2, 3)")
    if method == "pairwise" or (method == "auto" and (n <= AUTO_PAIRWISE_MAX_N or d != 2)):
        return METHOD_PAIRWISE
    if d != 2:
        raise ValueError(f"the mesh interaction exists for d = 2 only (got d = {d}): use "
                         "'pairwise'")
    if not bounded:
        raise ValueError("the mesh interaction" + (f" (auto, N > {AUTO_PAIRWISE_MAX_N})"
                                                   if method == "auto" else "") +
                         " needs a bounded domain for its mesh, and there is none (free "
                         "space): give a domain or ask for the O(N²) 'pairwise' method")
    return METHOD_MESH


def check_mesh_2d(interaction, lo, hi, cells):
    """Validate mesh cells (int or pair) on the box [lo, hi] (length-2 arrays); return
    (M1, M2). Default: spacing ≈ resolution/8 per axis, within [16, 1024]."""
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    res = float(interaction.resolution)
    if cells is None:
        cells = [int(min(max(math.ceil(8.0 * (hi[a] - lo[a]) / res), 16), 1024))
                 for a in range(2)]
    c = np.broadcast_to(np.asarray(cells), (2,))
    out = []
    for a in range(2):
        m = c[a]
        if isinstance(m, (bool, np.bool_)) or int(m) != m or m < 2:
            raise ValueError(f"mesh cells must be integers ≥ 2 (got {cells!r})")
        m = int(m)
        h = (hi[a] - lo[a]) / m
        if h > 0.5 * res:
            need = int(math.ceil(2.0 * (hi[a] - lo[a]) / res))
            raise ValueError(f"{m} mesh cells on axis {a + 1} give spacing {h:.4g} > half "
                             f"the kernel scale ({res:.4g}/2); use at least {need} cells")
        out.append(m)
    return tuple(out)


_NodeAxis = namedtuple("_NodeAxis", ["cells", "h"])


class MeshPlan2D:
    """Workspace and kernel transforms of the 2-D mesh for one (kernel, box, M1, M2).

    The kernel components K_a(r) = φ(|r|) r_a are sampled at the node offsets
    (k1 h1, k2 h2), |k_a| ≤ M_a, and transformed by :class:`grids.convolution2d.Convolver2D`
    on the node axes (zero padding to P_a ≥ 2(M_a + 1) − 1: linear, not periodic).
    """

    def __init__(self, interaction, lo, hi, cells):
        m1, m2 = (int(c) for c in cells)
        self.cells = (m1, m2)
        self.lo = np.asarray(lo, dtype=np.float64).copy()
        hi = np.asarray(hi, dtype=np.float64)
        self.h = (hi - self.lo) / np.array([m1, m2], dtype=np.float64)
        self.inv_h = 1.0 / self.h
        # Convolver2D reads an axis's point count and spacing (.cells, .h): the nodes
        axis1 = _NodeAxis(m1 + 1, float(self.h[0]))
        axis2 = _NodeAxis(m2 + 1, float(self.h[1]))

        def component(a):
            def k(r1, r2):
                return radial_phi(interaction, np.sqrt(r1 * r1 + r2 * r2)) * (r1, r2)[a]
            return k

        c1 = Convolver2D(component(0), axis1, axis2)
        c2 = Convolver2D(component(1), axis1, axis2)
        self.fft_size = c1.size
        self.khat1 = c1.kernel_hat
        self.khat2 = c2.kernel_hat
        self.partial = np.zeros((MESH_BLOCKS_2D, m1 + 1, m2 + 1))
        self.rho = np.zeros((m1 + 1, m2 + 1))
        self.phi = np.zeros((2, m1 + 1, m2 + 1))


# ----------------------------------------------------------------------------------------
# compiled kernels
# ----------------------------------------------------------------------------------------

@njit(cache=True, inline="always")
def _table_phi(r2, r_max, inv_h, table):
    """T(r)/r from r² for a tabulated w' (0 at r = 0 and for r > R)."""
    if r2 <= 0.0:
        return 0.0
    r = np.sqrt(r2)
    u = r * inv_h
    n = table.shape[0]
    if u <= n - 1.0:
        kf = np.floor(u)
        if kf > n - 2.0:
            kf = n - 2.0
        k = np.int64(kf)
        f = u - kf
        return (table[k] + f * (table[k + 1] - table[k])) / r
    return 0.0


@njit(cache=True, parallel=True)
def pairwise_force_nd(X, G, kind, params, table):
    """G[:, i] = (1/N) Σ_j φ(|x_i − x_j|)(x_i − x_j), exact O(N²), prange over i.

    Parameters
    ----------
    X : ndarray, shape (d, N), d = 2 or 3
    G : ndarray, shape (d, N)
        Overwritten.
    kind, params, table
        From the spec's ``params()`` (GaussianKernel: KIND_GAUSSIAN, params (s, σ), where
        φ = −(s/σ²) e^{−r²/(2σ²)}; RadialKernel: KIND_TABULATED, params (R, 1/h), table
        w'). Each row i is summed in the order j = 0 .. N − 1 (thread-count independent).
    """
    d, n = X.shape
    inv_n = 1.0 / n
    gauss = kind == KIND_GAUSSIAN
    a = 0.5 / (params[1] * params[1]) if gauss else 0.0
    coef = -params[0] / (params[1] * params[1]) * inv_n if gauss else inv_n
    r_max = params[0]
    inv_h = params[1]
    if d == 2:
        for i in prange(n):
            a1 = X[0, i]
            a2 = X[1, i]
            s1 = 0.0
            s2 = 0.0
            if gauss:       # branch-free inner loop (vectorisable)
                for j in range(n):
                    r1 = a1 - X[0, j]
                    r2 = a2 - X[1, j]
                    p = np.exp(-a * (r1 * r1 + r2 * r2))
                    s1 += p * r1
                    s2 += p * r2
            else:
                for j in range(n):
                    r1 = a1 - X[0, j]
                    r2 = a2 - X[1, j]
                    p = _table_phi(r1 * r1 + r2 * r2, r_max, inv_h, table)
                    s1 += p * r1
                    s2 += p * r2
            G[0, i] = s1 * coef
            G[1, i] = s2 * coef
    else:
        for i in prange(n):
            a1 = X[0, i]
            a2 = X[1, i]
            a3 = X[2, i]
            s1 = 0.0
            s2 = 0.0
            s3 = 0.0
            if gauss:
                for j in range(n):
                    r1 = a1 - X[0, j]
                    r2 = a2 - X[1, j]
                    r3 = a3 - X[2, j]
                    p = np.exp(-a * (r1 * r1 + r2 * r2 + r3 * r3))
                    s1 += p * r1
                    s2 += p * r2
                    s3 += p * r3
            else:
                for j in range(n):
                    r1 = a1 - X[0, j]
                    r2 = a2 - X[1, j]
                    r3 = a3 - X[2, j]
                    p = _table_phi(r1 * r1 + r2 * r2 + r3 * r3, r_max, inv_h, table)
                    s1 += p * r1
                    s2 += p * r2
                    s3 += p * r3
            G[0, i] = s1 * coef
            G[1, i] = s2 * coef
            G[2, i] = s3 * coef


@njit(cache=True, inline="always")
def _cell(x, lo, inv_h, m):
    """Cell index k ∈ [0, m − 1] and fraction f ∈ [0, 1] of x on a mesh axis (NaN → 0)."""
    u = (x - lo) * inv_h
    if not (u == u):
        return 0, 0.0
    kf = np.floor(u)
    if kf < 0.0:
        kf = 0.0
    if kf > m - 1.0:
        kf = m - 1.0
    f = u - kf
    if f > 1.0:
        f = 1.0
    if f < 0.0:
        f = 0.0
    return np.int64(kf), f


@njit(cache=True, parallel=True)
def mesh_field_2d(X, lo, inv_h, partial, rho, phi, khat1, khat2, size1, size2):
    """Node field φ_a(c) = Σ_k ρ_k K_a(c − k) into ``phi`` (2, M1 + 1, M2 + 1).

    Bilinear deposit of the masses 1/N in B fixed particle blocks (``partial`` (B, M1 + 1,
    M2 + 1)), summed in a fixed order into ``rho``, then the zero-padded FFT convolution
    with both kernel components (:func:`grids.convolution2d.conv2_apply_pair`, one forward
    transform)."""
    n = X.shape[1]
    nb, mp1, mp2 = partial.shape
    m1 = mp1 - 1
    m2 = mp2 - 1
    chunk = (n + nb - 1) // nb
    for b in prange(nb):
        row = partial[b]
        row[:, :] = 0.0
        for i in range(b * chunk, min(n, (b + 1) * chunk)):
            k1, f1 = _cell(X[0, i], lo[0], inv_h[0], m1)
            k2, f2 = _cell(X[1, i], lo[1], inv_h[1], m2)
            row[k1, k2] += (1.0 - f1) * (1.0 - f2)
            row[k1 + 1, k2] += f1 * (1.0 - f2)
            row[k1, k2 + 1] += (1.0 - f1) * f2
            row[k1 + 1, k2 + 1] += f1 * f2
    inv_n = 1.0 / n
    for c1 in prange(mp1):
        for c2 in range(mp2):
            s = 0.0
            for b in range(nb):
                s += partial[b, c1, c2]
            rho[c1, c2] = s * inv_n
    conv2_apply_pair(khat1, khat2, rho, size1, size2, 1.0, phi[0], phi[1])


@njit(cache=True, inline="always")
def _mesh_interp_2d(x1, x2, lo, inv_h, phi, a):
    m1 = phi.shape[1] - 1
    m2 = phi.shape[2] - 1
    k1, f1 = _cell(x1, lo[0], inv_h[0], m1)
    k2, f2 = _cell(x2, lo[1], inv_h[1], m2)
    return ((1.0 - f1) * ((1.0 - f2) * phi[a, k1, k2] + f2 * phi[a, k1, k2 + 1]) +
            f1 * ((1.0 - f2) * phi[a, k1 + 1, k2] + f2 * phi[a, k1 + 1, k2 + 1]))


@njit(cache=True, parallel=True)
def _mesh_interp_all(X, G, lo, inv_h, phi):
    for i in prange(X.shape[1]):
        G[0, i] = _mesh_interp_2d(X[0, i], X[1, i], lo, inv_h, phi, 0)
        G[1, i] = _mesh_interp_2d(X[0, i], X[1, i], lo, inv_h, phi, 1)


def mesh_force_2d(X, plan):
    """G (2, N) ≈ (1/N) Σ_j φ(r_ij)(x_i − x_j) by the mesh (compiled kernels)."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    mesh_field_2d(X, plan.lo, plan.inv_h, plan.partial, plan.rho, plan.phi, plan.khat1,
                  plan.khat2, plan.fft_size[0], plan.fft_size[1])
    G = np.empty_like(X)
    _mesh_interp_all(X, G, plan.lo, plan.inv_h, plan.phi)
    return G


def interaction_force_nd(points, interaction, method="auto", lo=None, hi=None,
                         mesh_cells=None):
    """(1/N) Σ_j φ(r_ij)(x_i − x_j) at ``points`` (N, d) → (N, d), by the compiled kernels.

    ``lo``, ``hi`` (length 2) are the mesh box (default: the points' range padded 1 %)."""
    P = np.asarray(points, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] not in (2, 3):
        raise ValueError(f"points must have shape (N, 2) or (N, 3) (got {P.shape})")
    X = np.ascontiguousarray(P.T)
    d, n = X.shape
    inter = as_interaction_nd(interaction)
    code = resolve_method_nd(inter, method, n, d, bounded=True)
    if code == METHOD_NONE:
        return np.zeros_like(P)
    if code == METHOD_EXACT:
        mean = np.array([deterministic_mean_par(X[a]) for a in range(d)])
        return (inter.kappa * (X - mean[:, None])).T.copy()
    if code == METHOD_PAIRWISE:
        G = np.empty_like(X)
        kind, params, table = _kernel_params(inter)
        pairwise_force_nd(X, G, kind, params, table)
        return G.T.copy()
    if lo is None or hi is None:
        span = X.max(axis=1) - X.min(axis=1)
        lo = X.min(axis=1) - 0.01 * span - 1e-12
        hi = X.max(axis=1) + 0.01 * span + 1e-12
    plan = MeshPlan2D(inter, lo, hi, check_mesh_2d(inter, lo, hi, mesh_cells))
    return mesh_force_2d(X, plan).T.copy()


# ----------------------------------------------------------------------------------------
# packed plans and fields
# ----------------------------------------------------------------------------------------

ExactPlanND = namedtuple("ExactPlanND", ["kappa", "mean", "G"])
ExactPlanND.__doc__ = ("Quadratic W = κ|r|²/2 by the exact mean form; workspaces ``mean`` (d,) "
                       "and G (d, N).")
PairwisePlanND = namedtuple("PairwisePlanND", ["G", "kind", "params", "table"])
PairwisePlanND.__doc__ = "Pairwise radial sum: workspace G (d, N), kernel kind/params/table."
MeshPlan2DArgs = namedtuple("MeshPlan2DArgs", ["lo", "inv_h", "partial", "rho", "phi", "khat1",
                                               "khat2", "size1", "size2", "G"])
MeshPlan2DArgs.__doc__ = "The 2-D mesh workspace and kernel transforms, and G (2, N)."
LinePlan = namedtuple("LinePlan", ["plan", "G"])
LinePlan.__doc__ = ("A d = 1 plan of :mod:`particles.interaction` (``plan``) for X (1, N); "
                    "workspace G (1, N).")
NetworkPlanND = namedtuple("NetworkPlanND", ["inner", "net", "weights", "points", "resid",
                                             "drift", "G"])
NetworkPlanND.__doc__ = ("Two-layer-network energy: ``inner`` the interaction's plan, ``net`` "
                         "a grids.meanfield.NetworkArrays, weights (N,) = 1/N, workspaces "
                         "points (N, d), resid (M,), drift (N, d), G (d, N).")
GivenDriftPlanND = namedtuple("GivenDriftPlanND", ["inner", "E", "G"])
GivenDriftPlanND.__doc__ = ("An energy evaluated from Python: ``inner`` the interaction's plan, "
                            "E (d, N) the drift at the current positions (written by the "
                            "driver), workspace G (d, N).")
# Every method prepares the same field, the filled G (d, N): the per-step particle kernels
# then compile once for all methods (one parfor lowering each, not one per method).
ForceFieldND = namedtuple("ForceFieldND", ["G"])
ForceFieldND.__doc__ = "G[:, i] = interaction force of particle i at the step's positions."


def _kernel_params(interaction):
    """(kind int64, params, table) of a GaussianKernel or RadialKernel."""
    kind, params, table = interaction.params()
    return np.int64(kind), params, table


def pack_plan_nd(method, interaction, n, d, mesh_plan=None):
    """The packed plan of ``method`` (METHOD_* code) for ``n`` particles in ``d`` dims."""
    if method == METHOD_NONE:
        return NoInteraction(0.0)
    if method == METHOD_EXACT:
        return ExactPlanND(float(interaction.kappa), np.zeros(d), np.zeros((d, n)))
    if method == METHOD_PAIRWISE:
        kind, params, table = _kernel_params(interaction)
        return PairwisePlanND(np.zeros((d, n)), kind, params, table)
    p = mesh_plan
    return MeshPlan2DArgs(p.lo, p.inv_h, p.partial, p.rho, p.phi, p.khat1, p.khat2,
                          np.int64(p.fft_size[0]), np.int64(p.fft_size[1]), np.zeros((2, n)))


@njit(cache=True)
def _force_field(G):
    # built in a jitted function (own globals): an overload's closure naming a module
    # global fails when Numba's parfor pass lowers it in another module
    return ForceFieldND(G)


@njit(cache=True, parallel=True)
def _exact_fill(X, mean, kappa, G):
    """G = κ(X − mean) per axis (the exact mean-field force of W = κ|r|²/2)."""
    d, n = X.shape
    for i in prange(n):
        for a in range(d):
            G[a, i] = kappa * (X[a, i] - mean[a])


def prepare_nd(X, plan):
    """Per-step set-up at positions X (d, N): the packed field (compiled dispatch)."""
    raise NotImplementedError("prepare_nd is called from compiled code")


def field_of(plan):
    """The plan's field as it stands (G not recomputed; compiled dispatch)."""
    raise NotImplementedError("field_of is called from compiled code")


def add_interaction_block(X, i0, m, G, field):
    """G[:, j] += interaction force of particle i0 + j, 0 ≤ j < m (compiled dispatch)."""
    raise NotImplementedError("add_interaction_block is called from compiled code")


def _cls(t):
    return getattr(t, "instance_class", None)


@overload(prepare_nd)
def _prepare_nd_compiled(X, plan):
    cls = _cls(plan)
    if cls is NoInteraction:
        return lambda X, plan: plan
    if cls is ExactPlanND:
        def exact(X, plan):
            for a in range(X.shape[0]):
                plan.mean[a] = deterministic_mean_par(X[a])
            _exact_fill(X, plan.mean, plan.kappa, plan.G)
            return _force_field(plan.G)
        return exact
    if cls is PairwisePlanND:
        def pairwise(X, plan):
            pairwise_force_nd(X, plan.G, plan.kind, plan.params, plan.table)
            return _force_field(plan.G)
        return pairwise
    if cls is MeshPlan2DArgs:
        def mesh(X, plan):
            mesh_field_2d(X, plan.lo, plan.inv_h, plan.partial, plan.rho, plan.phi,
                          plan.khat1, plan.khat2, plan.size1, plan.size2)
            _mesh_interp_all(X, plan.G, plan.lo, plan.inv_h, plan.phi)
            return _force_field(plan.G)
        return mesh
    return None


@njit(cache=True)
def _line_fill(x, field, g):
    """g[i] = the d = 1 interaction force of particle i from a prepared d = 1 field
    (serial: O(N), next to the field's set-up)."""
    for i in range(x.shape[0]):
        g[i] = interaction_at(x[i], i, field)


@njit(cache=True, parallel=True)
def _transpose_into(X, points):
    """points[i, a] = X[a, i] (the (N, d) layout the network kernels read)."""
    d, n = X.shape
    for i in prange(n):
        for a in range(d):
            points[i, a] = X[a, i]


@njit(cache=True, parallel=True)
def _drift_into(drift, inner_G, add_inner, G):
    """G[a, i] = drift[i, a] (+ inner_G[a, i] when ``add_inner``)."""
    d, n = G.shape
    for i in prange(n):
        for a in range(d):
            G[a, i] = drift[i, a] + inner_G[a, i] if add_inner else drift[i, a]


@njit(cache=True, parallel=True)
def _given_into(E, inner_G, add_inner, G):
    """G = E (+ inner_G when ``add_inner``), all (d, N)."""
    d, n = G.shape
    for i in prange(n):
        for a in range(d):
            G[a, i] = E[a, i] + inner_G[a, i] if add_inner else E[a, i]


def _inner_force(field):
    """(G, True) of a prepared ForceFieldND, (an empty array, False) of NoInteraction."""
    raise NotImplementedError("_inner_force is called from compiled code")


@overload(_inner_force, inline="always")
def _inner_force_compiled(field):
    cls = _cls(field)
    if cls is NoInteraction:
        return lambda field: (np.zeros((1, 1)), False)
    if cls is ForceFieldND:
        return lambda field: (field.G, True)
    return None


@overload(prepare_nd)
def _prepare_energy_compiled(X, plan):
    cls = _cls(plan)
    if cls is LinePlan:
        def line(X, plan):
            x = X[0]
            field = prepare_interaction(x, plan.plan)
            _line_fill(x, field, plan.G[0])
            return _force_field(plan.G)
        return line
    if cls is NetworkPlanND:
        def network(X, plan):
            inner_G, add_inner = _inner_force(prepare_nd(X, plan.inner))
            _transpose_into(X, plan.points)
            network_residuals(plan.points, plan.weights, plan.net, plan.resid)
            network_drift(plan.points, plan.net, plan.resid, plan.drift)
            _drift_into(plan.drift, inner_G, add_inner, plan.G)
            return _force_field(plan.G)
        return network
    if cls is GivenDriftPlanND:
        def given(X, plan):
            inner_G, add_inner = _inner_force(prepare_nd(X, plan.inner))
            _given_into(plan.E, inner_G, add_inner, plan.G)
            return _force_field(plan.G)
        return given
    return None


@overload(field_of)
def _field_of_compiled(plan):
    cls = _cls(plan)
    if cls is NoInteraction:
        return lambda plan: plan
    if cls in (ExactPlanND, PairwisePlanND, MeshPlan2DArgs, LinePlan, NetworkPlanND,
               GivenDriftPlanND):
        return lambda plan: _force_field(plan.G)
    return None


@overload(add_interaction_block, inline="always")
def _add_interaction_block_compiled(X, i0, m, G, field):
    cls = _cls(field)
    if cls is NoInteraction:
        def none(X, i0, m, G, field):
            return None
        return none
    if cls is ForceFieldND:
        def add(X, i0, m, G, field):
            for a in range(X.shape[0]):
                for j in range(m):
                    G[a, j] += field.G[a, i0 + j]
        return add
    return None
