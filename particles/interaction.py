"""Interaction specifications and the compiled mean-field force (1/N) Σ_j W'(x_i − x_j).

Specs
-----
* :class:`Quadratic` — W = κx²/2. Exact O(N) form (1/N) Σ_j κ(x_i − x_j) = κ(x_i − x̄).
* :class:`GaussianKernel` — W = s·exp(−x²/(2w²)), W'(r) = −(s r/w²)·exp(−r²/(2w²)).
* :class:`TabulatedKernel` — user W' on [−R, R] (R = ``half_width``), odd-symmetrised,
  linear interpolation, W' = 0 for |r| > R.

Methods (``INTERACTION_METHODS``)
---------------------------------
* ``"pairwise"`` — exact O(N²) double sum, Numba ``prange`` over i. Each row is summed in
  a fixed j order, so the result does not depend on the number of threads.
* ``"mesh"`` — cloud-in-cell (CIC) deposit of the masses 1/N on the M + 1 nodes
  y_k = lo + k h of a uniform mesh over the domain (h = (hi − lo)/M), the discrete
  convolution φ_c = Σ_k m_k W'((c − k) h) by a zero-padded (non-periodic) FFT of length
  L ≥ 2M + 1 (a power of two; rocket-fft's compiled rfft/irfft, so the whole time loop stays in
  Numba), and CIC interpolation back, O(N + L log L). The deposit uses a fixed number of
  particle blocks, each into its own row, summed in a fixed order: thread-count
  independent. With an odd kernel and the same CIC weights for deposit and
  interpolation, the self-force is exactly zero and momentum is conserved. The error
  against ``pairwise`` is O(h²) for a smooth kernel.
* ``"auto"`` — Quadratic → exact mean form; otherwise ``pairwise`` for N ≤ 5000 and
  ``mesh`` above.

Free space (no domain): the mesh covers the domain, so ``mesh`` needs one and is refused
without it, as is ``auto`` above N = 5000 (it would pick the mesh; the O(N²) pairwise sum
is then asked for explicitly). A callable W' is tabulated on [−L, L] with L the domain's
length, so free space needs a spec (:class:`GaussianKernel`, :class:`TabulatedKernel`).

Compiled dispatch
-----------------
The time loops see the interaction as two packed named tuples whose *class* selects the
code at compile time (Numba overloads), so a run compiles only its own method:

* a plan (:func:`pack_plan`): :class:`NoInteraction`, :class:`ExactPlan` (κ),
  :class:`PairwisePlan` (workspace G and the kernel's parameters) or
  :class:`MeshPlanArgs` (mesh workspace and kernel transform);
* :func:`prepare_interaction` turns the plan and the current positions into a field,
  once per step: :class:`NoInteraction`, :class:`ExactField` (κ and the mean),
  :class:`PairwiseField` (G filled) or :class:`MeshField` (node field φ);
* :func:`interaction_at` reads particle i's force (1/N) Σ_j W'(x_i − x_j) off the field.
"""

from __future__ import annotations

import math
from collections import namedtuple
from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange
from numba.extending import overload

# The mesh convolution uses rocket-fft's numpy.fft in compiled code, as the grid solver.
import rocket_fft  # noqa: F401  (registers numpy.fft for Numba-compiled code)

__all__ = ["Quadratic", "GaussianKernel", "TabulatedKernel", "INTERACTION_METHODS",
           "as_interaction", "resolve_method", "default_mesh_cells", "MeshPlan",
           "interaction_force", "AUTO_PAIRWISE_MAX_N", "pack_plan", "prepare_interaction",
           "interaction_at", "NoInteraction", "ExactPlan", "ExactField", "PairwisePlan",
           "PairwiseField", "MeshPlanArgs", "MeshField"]

INTERACTION_METHODS = ("pairwise", "mesh", "auto")
AUTO_PAIRWISE_MAX_N = 5000

KIND_NONE = 0
KIND_QUADRATIC = 1
KIND_GAUSSIAN = 2
KIND_TABULATED = 3

METHOD_NONE = 0
METHOD_EXACT = 1
METHOD_PAIRWISE = 2
METHOD_MESH = 3
METHOD_NAMES = {METHOD_NONE: "none", METHOD_EXACT: "exact", METHOD_PAIRWISE: "pairwise",
                METHOD_MESH: "mesh"}

MESH_BLOCKS = 32        # fixed number of deposit blocks (thread-count independent)
SUM_BLOCK = 4096        # fixed block length of the deterministic mean


@dataclass(frozen=True)
class Quadratic:
    """W(x) = κ x²/2, W'(x) = κ x; mean-field force κ(x − x̄) computed exactly in O(N).

    Parameters
    ----------
    kappa : float
        Strength κ (κ > 0 attracts particles to their mean).
    """

    kappa: float

    def grad(self, r):
        """W'(r) = κ r (vectorised)."""
        return self.kappa * np.asarray(r, dtype=np.float64)

    def params(self):
        return KIND_QUADRATIC, np.array([float(self.kappa), 0.0, 0.0]), np.zeros(2)


@dataclass(frozen=True)
class GaussianKernel:
    """W(x) = s·exp(−x²/(2w²)); W'(x) = −(s x / w²)·exp(−x²/(2w²)).

    Parameters
    ----------
    strength : float
        s (s > 0: repulsive bump; s < 0: attractive well).
    width : float
        w > 0. A mesh must resolve it: spacing h ≤ w/2 (default h ≈ w/8).
    """

    strength: float
    width: float

    def __post_init__(self):
        if not (float(self.width) > 0.0):
            raise ValueError(f"GaussianKernel width must be > 0 "
                             f"(got {self.width})")

    @property
    def resolution(self):
        """Length scale a mesh must resolve (spacing ≤ resolution/2)."""
        return float(self.width)

    def grad(self, r):
        r = np.asarray(r, dtype=np.float64)
        w2 = float(self.width) ** 2
        return -float(self.strength) * r / w2 * np.exp(-0.5 * r * r / w2)

    def params(self):
        w = float(self.width)
        return KIND_GAUSSIAN, np.array([float(self.strength), w, 0.0]), np.zeros(2)


@dataclass(frozen=True)
class TabulatedKernel:
    """User W' tabulated on [−R, R] (R = ``half_width``), W'(r) = 0 for |r| > R.

    The table is odd-symmetrised, ``T(r) = (g(r) − g(−r))/2``, so W'(0) = 0 exactly and
    pair forces cancel. Linear interpolation: error ≤ h²/8·max|W'''| inside, h = 2R/(n−1).
    To represent a kernel with unbounded support exactly on a domain of length L, take
    R ≥ L.

    Parameters
    ----------
    values : ndarray, shape (n,)
        W' at r_k = −R + k·2R/(n − 1) (n odd so that r = 0 is a node).
    half_width : float
        R.
    resolution : float, optional
        Length scale a mesh must resolve (mesh spacing ≤ resolution/2). The kernel's own
        scale is unknown, so the default is conservative: R/64 (for R = hi − lo the default
        mesh then has 512 cells and at least 128 are required). Pass the kernel's true
        feature width to allow coarser meshes.
    """

    values: np.ndarray
    half_width: float
    resolution: float = None
    inv_h: float = field(init=False)

    def __post_init__(self):
        v = np.asarray(self.values, dtype=np.float64)
        if v.ndim != 1 or v.size < 3 or v.size % 2 == 0:
            raise ValueError("TabulatedKernel needs an odd number "
                             f"≥ 3 of nodes (got {v.size})")
        if not np.all(np.isfinite(v)):
            raise ValueError("TabulatedKernel values are not finite")
        R = float(self.half_width)
        if not R > 0:
            raise ValueError(f"TabulatedKernel half_width must be > 0 (got {R})")
        v = np.ascontiguousarray(0.5 * (v - v[::-1]))
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "half_width", R)
        res = R / 64.0 if self.resolution is None else float(self.resolution)
        object.__setattr__(self, "resolution", res)
        object.__setattr__(self, "inv_h", (v.size - 1) / (2.0 * R))

    @classmethod
    def from_callable(cls, grad_w, half_width, nodes=2**14 + 1, resolution=None):
        """Tabulate a vectorised W' on ``nodes`` uniform points of [−R, R]."""
        nodes = int(nodes) | 1
        r = np.linspace(-float(half_width), float(half_width), nodes)
        vals = np.asarray(grad_w(r), dtype=np.float64)
        if vals.shape != r.shape:
            vals = np.broadcast_to(vals, r.shape).copy()
        return cls(vals, half_width, resolution)

    def grad(self, r):
        """Interpolated W'(r) (NumPy twin of the compiled lookup)."""
        r = np.asarray(r, dtype=np.float64)
        n = self.values.size
        u = (r + self.half_width) * self.inv_h
        inside = (u >= 0) & (u <= n - 1)
        k = np.clip(np.floor(np.where(inside, u, 0.0)), 0, n - 2).astype(np.int64)
        f = u - k
        out = self.values[k] + f * (self.values[k + 1] - self.values[k])
        return np.where(inside, out, 0.0)

    def params(self):
        return (KIND_TABULATED, np.array([self.half_width, self.inv_h, 0.0]),
                self.values)


def as_interaction(interaction, lo, hi):
    """Normalise ``interaction``: None, a spec, or a vectorised W' callable (tabulated
    with R = hi − lo, 2¹⁴ + 1 nodes; its scale is unknown, so the mesh default assumes
    features down to (hi − lo)/256, i.e. 2048 cells). In free space (``lo``, ``hi`` None)
    a callable is refused: there is no length to tabulate it over."""
    if interaction is None or isinstance(interaction, (Quadratic, GaussianKernel,
                                                       TabulatedKernel)):
        return interaction
    if callable(interaction):
        if lo is None or hi is None:
            raise ValueError("a callable interaction W' is tabulated over the domain's "
                             "length, and there is no domain (free space): pass a "
                             "GaussianKernel or a TabulatedKernel with its own half_width")
        span = float(hi) - float(lo)
        return TabulatedKernel.from_callable(interaction, span, resolution=span / 256.0)
    raise ValueError("interaction: expected Quadratic, GaussianKernel, "
                     f"TabulatedKernel, a callable W' or None (got {type(interaction).__name__})")


def resolve_method(interaction, method, n, bounded=True):
    """The method code actually used for ``interaction`` with ``n`` particles.

    ``bounded`` False (free space): ``mesh`` is refused, and so is ``auto`` when it would
    pick the mesh (N > :data:`AUTO_PAIRWISE_MAX_N`)."""
    if method not in INTERACTION_METHODS:
        raise ValueError(f"unknown interaction method {method!r} "
                         f"(choose from {', '.join(INTERACTION_METHODS)})")
    if interaction is None:
        return METHOD_NONE
    if isinstance(interaction, Quadratic):
        return METHOD_EXACT
    if method == "pairwise":
        return METHOD_PAIRWISE
    if method == "auto" and n <= AUTO_PAIRWISE_MAX_N:
        return METHOD_PAIRWISE
    if not bounded:
        raise ValueError(f"the mesh interaction{' (auto, N > %d)' % AUTO_PAIRWISE_MAX_N if method == 'auto' else ''} "
                         "needs a bounded domain for its mesh, and there is none (free "
                         "space): give a domain or ask for the O(N²) 'pairwise' method")
    return METHOD_MESH


def default_mesh_cells(interaction, lo, hi):
    """Default M: spacing h ≈ resolution/8, at least 64 cells, at most 2²⁰."""
    cells = int(math.ceil(8.0 * (hi - lo) / interaction.resolution))
    return int(min(max(cells, 64), 2**20))


# ----------------------------------------------------------------------------------------
# compiled kernels
# ----------------------------------------------------------------------------------------

@njit(cache=True, parallel=True)
def deterministic_mean_par(x):
    """Mean of x summed in fixed blocks, so the bits do not depend on the thread count."""
    n = x.shape[0]
    nb = (n + SUM_BLOCK - 1) // SUM_BLOCK
    part = np.empty(nb)
    for b in prange(nb):
        s = 0.0
        for i in range(b * SUM_BLOCK, min(n, (b + 1) * SUM_BLOCK)):
            s += x[i]
        part[b] = s
    tot = 0.0
    for b in range(nb):
        tot += part[b]
    return tot / n


@njit(cache=True, inline="always")
def tab_kernel(r, half_width, inv_h, table):
    u = (r + half_width) * inv_h
    n = table.shape[0]
    if u >= 0.0 and u <= n - 1.0:
        kf = np.floor(u)
        if kf > n - 2.0:
            kf = n - 2.0
        k = np.int64(kf)
        f = u - kf
        return table[k] + f * (table[k + 1] - table[k])
    return 0.0


@njit(cache=True, parallel=True)
def pairwise_force(x, out, kind, params, table):
    """out[i] = (1/N) Σ_j W'(x_i − x_j), exact O(N²) (compiled, parallel over i).

    Parameters
    ----------
    x : ndarray, shape (N,)
    out : ndarray, shape (N,)
        Overwritten.
    kind : int
        KIND_GAUSSIAN or KIND_TABULATED.
    params, table : ndarray
        From the spec's ``params()``.
    """
    n = x.shape[0]
    inv_n = 1.0 / n
    if kind == KIND_GAUSSIAN:
        s = params[0]
        w = params[1]
        a = 0.5 / (w * w)
        coef = -s / (w * w) * inv_n
        for i in prange(n):
            xi = x[i]
            acc0 = 0.0
            acc1 = 0.0
            m = n - (n % 2)
            for j in range(0, m, 2):
                r0 = xi - x[j]
                r1 = xi - x[j + 1]
                acc0 += r0 * np.exp(-a * r0 * r0)
                acc1 += r1 * np.exp(-a * r1 * r1)
            if m < n:
                r0 = xi - x[m]
                acc0 += r0 * np.exp(-a * r0 * r0)
            out[i] = coef * (acc0 + acc1)
    else:
        hw = params[0]
        ih = params[1]
        for i in prange(n):
            xi = x[i]
            acc = 0.0
            for j in range(n):
                acc += tab_kernel(xi - x[j], hw, ih, table)
            out[i] = acc * inv_n


@njit(cache=True, inline="always")
def cic_index(xi, lo, inv_h, m):
    """Cell index k ∈ [0, m − 1] and fraction f ∈ [0, 1] of x on the mesh (NaN-safe)."""
    u = (xi - lo) * inv_h
    if u >= 0.0:
        kf = np.floor(u)
        if kf > m - 1.0:
            kf = m - 1.0
    else:
        kf = 0.0
        if not (u < 0.0):  # NaN
            return 0, 0.0
    f = u - kf
    if f > 1.0:
        f = 1.0
    if f < 0.0:
        f = 0.0
    return np.int64(kf), f


@njit(cache=True, parallel=True)
def mesh_field(x, lo, inv_h, partial, rho, khat, size):
    """Node field φ_c = Σ_k m_k W'((c − k) h) into ``rho`` (shape (M + 1,)).

    CIC deposit of the masses 1/N in a fixed number B of particle blocks (row b of
    ``partial``, shape (B, M + 1)), rows summed in a fixed order (thread-count
    independent), then the zero-padded FFT convolution with ``khat`` (the real DFT,
    length L/2 + 1, of the kernel wrapped on L = ``size`` ≥ 2M + 1 points).
    """
    n = x.shape[0]
    nb = partial.shape[0]
    mp1 = partial.shape[1]
    m = mp1 - 1
    inv_n = 1.0 / n
    chunk = (n + nb - 1) // nb
    for b in prange(nb):
        row = partial[b]
        for c in range(mp1):
            row[c] = 0.0
        for i in range(b * chunk, min(n, (b + 1) * chunk)):
            k, f = cic_index(x[i], lo, inv_h, m)
            row[k] += 1.0 - f
            row[k + 1] += f
    if mp1 * nb > 262144:       # large mesh: reduce the rows in parallel
        for c in prange(mp1):
            s = 0.0
            for b in range(nb):
                s += partial[b, c]
            rho[c] = s * inv_n
    else:                       # small mesh: serial (saves a parallel region per step)
        for c in range(mp1):
            s = 0.0
            for b in range(nb):
                s += partial[b, c]
            rho[c] = s * inv_n
    # rocket-fft's pocketfft (rfft zero-pads ρ to L)
    field = np.fft.irfft(np.fft.rfft(rho, size) * khat, size)
    for c in range(mp1):
        rho[c] = field[c]


@njit(cache=True, inline="always")
def mesh_interp(xi, lo, inv_h, phi):
    """CIC interpolation of the node field ``phi`` (shape (M + 1,)) at xi."""
    m = phi.shape[0] - 1
    k, f = cic_index(xi, lo, inv_h, m)
    return (1.0 - f) * phi[k] + f * phi[k + 1]


@njit(cache=True, parallel=True)
def mesh_force(x, out, lo, inv_h, partial, rho, khat, size):
    """out[i] ≈ (1/N) Σ_j W'(x_i − x_j) by CIC deposit, FFT convolution, CIC interpolation.

    Parameters
    ----------
    x, out : ndarray, shape (N,)
    lo, inv_h : float
        Mesh origin and 1/h.
    partial : ndarray, shape (B, M + 1)
        Per-block deposit rows (workspace).
    rho : ndarray, shape (M + 1,)
        Node masses, then the node field φ (workspace).
    khat : complex ndarray, shape (L/2 + 1,)
        Real DFT of the wrapped kernel samples W'(d h), d = −M..M, at index d mod L.
    size : int
        L, the FFT length (power of two ≥ 2M + 1).
    """
    mesh_field(x, lo, inv_h, partial, rho, khat, size)
    for i in prange(x.shape[0]):
        out[i] = mesh_interp(x[i], lo, inv_h, rho)


class MeshPlan:
    """Workspace and kernel transform of the mesh method for one (kernel, domain, M).

    Attributes
    ----------
    cells : int
        M (mesh spacing h = (hi − lo)/M, M + 1 nodes).
    fft_size : int
        L = smallest power of two ≥ 2M + 1.
    """

    def __init__(self, interaction, lo, hi, cells):
        self.cells = m = int(cells)
        self.lo = float(lo)
        self.h = (float(hi) - float(lo)) / m
        self.inv_h = 1.0 / self.h
        L = 1
        while L < 2 * m + 1:
            L *= 2
        self.fft_size = L
        d = np.arange(-m, m + 1)
        kern = np.zeros(L)
        kern[d % L] = interaction.grad(d * self.h)
        self.khat = np.ascontiguousarray(np.fft.rfft(kern), dtype=np.complex128)
        self.partial = np.zeros((MESH_BLOCKS, m + 1))
        self.rho = np.zeros(m + 1)

    def args(self):
        return (self.lo, self.inv_h, self.partial, self.rho, self.khat, self.fft_size)


def check_mesh(interaction, lo, hi, cells):
    """Validate a mesh size for ``interaction`` on [lo, hi]; return M."""
    if cells is None:
        cells = default_mesh_cells(interaction, lo, hi)
    if isinstance(cells, bool) or int(cells) != cells or cells < 2:
        raise ValueError(f"mesh cells must be an integer ≥ 2 (got {cells!r})")
    h = (hi - lo) / int(cells)
    if h > 0.5 * interaction.resolution:
        need = int(math.ceil(2.0 * (hi - lo) / interaction.resolution))
        raise ValueError(f"{int(cells)} mesh cells give spacing {h:.4g} > "
                         f"half the kernel scale ({interaction.resolution:.4g}/2); use at least "
                         f"{need} cells")
    return int(cells)


def interaction_force(x, interaction, method="auto", lo=None, hi=None, mesh_cells=None):
    """(1/N) Σ_j W'(x_i − x_j) for all i, by the compiled kernels (helper for users/tests).

    Parameters
    ----------
    x : array_like, shape (N,)
    interaction : Quadratic | GaussianKernel | TabulatedKernel
    method : {"pairwise", "mesh", "auto"}
    lo, hi : float
        Domain (needed for ``mesh``; default: the range of x padded by 1 %).
    mesh_cells : int, optional

    Returns
    -------
    ndarray, shape (N,)
    """
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    out = np.empty_like(x)
    code = resolve_method(interaction, method, x.size)
    if code == METHOD_NONE:
        out[:] = 0.0
        return out
    if code == METHOD_EXACT:
        return interaction.kappa * (x - deterministic_mean_par(x))
    kind, params, table = interaction.params()
    if code == METHOD_PAIRWISE:
        pairwise_force(x, out, kind, params, table)
        return out
    if lo is None or hi is None:
        span = x.max() - x.min()
        lo, hi = x.min() - 0.01 * span - 1e-12, x.max() + 0.01 * span + 1e-12
    plan = MeshPlan(interaction, lo, hi, check_mesh(interaction, lo, hi, mesh_cells))
    mesh_force(x, out, *plan.args())
    return out


# ----------------------------------------------------------------------------------------
# packed interaction: plans, per-step fields, compile-time dispatch
# ----------------------------------------------------------------------------------------

NoInteraction = namedtuple("NoInteraction", ["unused"])
NoInteraction.__doc__ = "No interaction (plan and field); ``unused`` is any float."
ExactPlan = namedtuple("ExactPlan", ["kappa"])
ExactPlan.__doc__ = "Quadratic W = κx²/2 by the exact mean form."
ExactField = namedtuple("ExactField", ["kappa", "mean"])
ExactField.__doc__ = "κ and the particles' mean x̄ (force κ(x_i − x̄))."
PairwisePlan = namedtuple("PairwisePlan", ["G", "kind", "params", "table"])
PairwisePlan.__doc__ = ("Pairwise sum: workspace G (N,), the kernel's kind, params and "
                        "table (:meth:`GaussianKernel.params`, :meth:`TabulatedKernel.params`).")
PairwiseField = namedtuple("PairwiseField", ["G"])
PairwiseField.__doc__ = "G[i] = (1/N) Σ_j W'(x_i − x_j), filled."
MeshPlanArgs = namedtuple("MeshPlanArgs", ["lo", "inv_h", "partial", "rho", "khat", "size"])
MeshPlanArgs.__doc__ = "The mesh workspace and kernel transform (:meth:`MeshPlan.args`)."
MeshField = namedtuple("MeshField", ["lo", "inv_h", "phi"])
MeshField.__doc__ = "Node field φ (M + 1,) on the mesh lo + k/inv_h."


def pack_plan(method, interaction, n, mesh_plan=None):
    """The packed plan of ``method`` (a METHOD_* code) for ``n`` particles.

    Parameters
    ----------
    method : int
    interaction : Quadratic | GaussianKernel | TabulatedKernel | None
    n : int
    mesh_plan : MeshPlan, optional
        Needed for METHOD_MESH.
    """
    if method == METHOD_NONE:
        return NoInteraction(0.0)
    if method == METHOD_EXACT:
        return ExactPlan(float(interaction.kappa))
    if method == METHOD_PAIRWISE:
        kind, params, table = interaction.params()
        return PairwisePlan(np.zeros(n), np.int64(kind), params, table)
    return MeshPlanArgs(*mesh_plan.args())


def prepare_interaction(x, plan):
    """Per-step set-up of the interaction at positions ``x`` (N,): the packed field.

    Exact: the mean (fixed-order blocks); pairwise: fills ``plan.G``; mesh: deposits and
    convolves into the node field. Compiled: dispatched on the plan's class."""
    raise NotImplementedError("prepare_interaction is called from compiled code")


def interaction_at(xi, i, field):
    """(1/N) Σ_j W'(x_i − x_j) for particle ``i`` at ``xi`` from a prepared field
    (compiled; dispatched on the field's class)."""
    raise NotImplementedError("interaction_at is called from compiled code")


def _cls(t):
    return getattr(t, "instance_class", None)


@overload(prepare_interaction)
def _prepare_compiled(x, plan):
    cls = _cls(plan)
    if cls is NoInteraction:
        return lambda x, plan: plan
    if cls is ExactPlan:
        return lambda x, plan: ExactField(plan.kappa, deterministic_mean_par(x))

    if cls is PairwisePlan:
        def pairwise(x, plan):
            pairwise_force(x, plan.G, plan.kind, plan.params, plan.table)
            return PairwiseField(plan.G)
        return pairwise
    if cls is MeshPlanArgs:
        def mesh(x, plan):
            mesh_field(x, plan.lo, plan.inv_h, plan.partial, plan.rho, plan.khat, plan.size)
            return MeshField(plan.lo, plan.inv_h, plan.rho)
        return mesh
    return None


@overload(interaction_at, inline="always")
def _interaction_at_compiled(xi, i, field):
    cls = _cls(field)
    if cls is NoInteraction:
        return lambda xi, i, field: 0.0
    if cls is ExactField:
        return lambda xi, i, field: field.kappa * (xi - field.mean)
    if cls is PairwiseField:
        return lambda xi, i, field: field.G[i]
    if cls is MeshField:
        return lambda xi, i, field: mesh_interp(xi, field.lo, field.inv_h, field.phi)
    return None
