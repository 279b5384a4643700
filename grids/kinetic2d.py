"""Kinetic Vlasov–Fokker–Planck solver on R² × R² (2x2v, a 4-D phase space).

Equation, unknown f(t, x1, x2, v1, v2)::

    ∂t f + v·∇x f = ∇v·((γ v + G) f) + γλ Δv f,   G = ∇V(x) + (∇W * ρ)(x),  ρ = ∫ f dv

State: cell averages ``f[i1, i2, j1, j2]``, shape ``(nx1, nx2, nv1, nv2)``, C order (the
v2 index contiguous); density normalisation ``sum(f)·hx1·hx2·hv1·hv2 = mass``. A *block*
is the ``(nv1, nv2)`` velocity grid of one x-cell ``(i1, i2)``.

One forward-Euler stage (the d = 1 conventions of DESIGN §3, per axis)::

    L(f) = −Σ_k (F^k_{+} − F^k_{−})/hxk − Σ_k (J^k_{+} − J^k_{−})/hvk

    F^k  = v_k f^{up}   (x_k-faces, upwind on the sign of v_k)
    J^k  = −a_k f^{up} − γλ (f_{j_k+1} − f_{j_k})/hvk,  a_k = γ v_{k,face} + G_k(x),
           f^{up} from the lower cell if −a_k > 0, else from the upper one;  J^k = 0 on
           the outer v-faces (zero total flux).

Specular x-walls per axis: the ghost cell beyond an x1-wall holds the wall cell mirrored
in v1 (``f[i1, i2, nv1−1−j1, j2]``, v2 unchanged), beyond an x2-wall mirrored in v2. The
v-centres are exactly antisymmetric (:func:`grids.grid.symmetric_centres`), so the mass
leaving through a wall at v_k re-enters the wall cell at −v_k to the last bit: mass is
conserved to round-off. ``upwind`` uses cell values as face values, ``muscl``
MC-limited linear reconstructions (the face value lies between neighbouring averages,
hence in ``[0, 2 f]`` on the outflow side).

Step rule (DESIGN §3, the sum over both axes bounds every cell's total outflow rate: one
x-outflow face per axis, at most one drift-outflow v-face per axis since a_k increases
with v_k, and the diffusion)::

    Δt = c / (Σ_k max|v_k|/hxk + Σ_k max|a_k|/hvk + Σ_k 2γλ/hvk²)

Schemes (the d = 1 names): ``upwind`` (forward Euler, c ≤ 1), ``muscl`` (SSP-RK2 / Heun,
c ≤ 1/2) and ``sg_imex`` (Strang splitting of an implicit Scharfetter–Gummel velocity
step per x-cell and an explicit MUSCL x-transport; only the transport limits the step).

The kernels run in parallel over x1 (``prange``) with the v2 loops innermost and
contiguous; an explicit stage is one fused pass over the state (x- and v-fluxes
together) that also writes the per-block sums, minima and maxima the time loop checks.
Every kernel has a NumPy twin in :mod:`grids.reference_kinetic2d`.
"""

from __future__ import annotations

import math
from collections import namedtuple
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
from numba import njit, prange

from .convolution2d import Convolver2D, conv2_apply, conv2_apply_pair
from .driver import check_partials, threaded, variant
from .grid import Axis, symmetric_centres
from .implicit import (GAMMA, _trbdf2, blend_positive, sg_coefficients, thomas_factor,
                       thomas_solve)
from .kernels import PARALLEL_MIN_CELLS, energy_value, has_energy, mc_slope, mf_update
from .scheme import Scheme, check_energy, pack_energy

__all__ = ["KineticProblem2D", "Kinetic2DArrays", "Kinetic2DWork", "KINETIC2D",
           "Upwind2D", "MUSCL2D", "SGImex2D", "SCHEMES_2D", "scheme_2d", "pack_kinetic2d",
           "marginals", "kin2_update_upwind", "kin2_update_muscl", "kin2_collide",
           "kin2_force", "radial_components", "SCHEME_CODES", "k2_step", "k2_rule"]


# ---------------------------------------------------------------------------------------
# the problem
# ---------------------------------------------------------------------------------------

def _positive(name, value):
    try:
        value = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number, got {value!r}") from exc
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value


@dataclass
class KineticProblem2D:
    """Kinetic VFP problem on the phase-space grid ``x1 × x2 × v1 × v2``.

    Parameters
    ----------
    x1, x2, v1, v2 : Axis
        Position and velocity axes; the state has shape
        ``(x1.cells, x2.cells, v1.cells, v2.cells)``.
    gamma : float
        Friction γ > 0.
    temperature : float
        λ > 0.
    potential : callable
        ``potential(x1, x2)`` → V, broadcasting over arrays.
    grad_potential : callable
        ``grad_potential(x1, x2)`` → tuple ``(∂1V, ∂2V)``, broadcasting.
    interaction, grad_interaction : callable or None
        Radial profile W(r) and W'(r) of the distance r = |x − y| ≥ 0, vectorised; both
        or neither. The force on x from y is −W'(|x − y|)(x − y)/|x − y|.
    energy : object or None
        A mean-field energy F on R² (DESIGN §9, :mod:`grids.meanfield`): the force gets
        ∇x δF/δμ(ρ) at the x-centres, the free energy F(ρ); see
        :class:`grids.solver.KineticProblem`.

    Raises
    ------
    ValueError
        If a v-axis is not symmetric about 0: the x-walls reflect specularly
        (v_k → −v_k per axis), which pairs every velocity cell with its mirror.
    """

    x1: Axis
    x2: Axis
    v1: Axis
    v2: Axis
    gamma: float
    temperature: float
    potential: Callable
    grad_potential: Callable
    interaction: Optional[Callable] = None
    grad_interaction: Optional[Callable] = None
    energy: Optional[object] = None

    def __post_init__(self):
        for name in ("x1", "x2", "v1", "v2"):
            if not isinstance(getattr(self, name), Axis):
                raise TypeError(f"KineticProblem2D: {name} must be a grids.grid.Axis")
        for name in ("v1", "v2"):
            ax = getattr(self, name)
            if abs(ax.lo + ax.hi) > 1e-12 * max(abs(ax.lo), abs(ax.hi)):
                raise ValueError(
                    f"KineticProblem2D: the {name}-axis must be symmetric about 0 "
                    f"({name}.lo == -{name}.hi), got [{ax.lo:g}, {ax.hi:g}]: the x-walls "
                    f"reflect specularly, which pairs each velocity cell with its mirror")
        self.gamma = _positive("gamma", self.gamma)
        self.temperature = _positive("temperature", self.temperature)
        if (self.interaction is None) != (self.grad_interaction is None):
            raise ValueError("interaction and grad_interaction must be given together")
        for name in ("potential", "grad_potential", "interaction", "grad_interaction"):
            fn = getattr(self, name)
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be a vectorised callable, got "
                                f"{type(fn).__name__}")
        check_energy(self.energy, 2)

    @property
    def shape(self):
        """State shape ``(x1.cells, x2.cells, v1.cells, v2.cells)``."""
        return (self.x1.cells, self.x2.cells, self.v1.cells, self.v2.cells)

    @property
    def cell_volume(self):
        """hx1·hx2·hv1·hv2."""
        return self.x1.h * self.x2.h * self.v1.h * self.v2.h


def marginals(problem, state):
    """(ρ, g): x-marginal ``ρ = hv1 hv2 Σ_j f``, shape (nx1, nx2), and v-marginal
    ``g = hx1 hx2 Σ_i f``, shape (nv1, nv2), of a state of shape ``problem.shape``."""
    s = np.asarray(state, dtype=np.float64)
    rho = s.sum(axis=(2, 3)) * (problem.v1.h * problem.v2.h)
    g = s.sum(axis=(0, 1)) * (problem.x1.h * problem.x2.h)
    return rho, g


def radial_components(grad_interaction):
    """The two Cartesian components of the radial force kernel, as functions of (r1, r2):
    ``K_k(r) = W'(|r|) r_k/|r|`` (0 at r = 0)."""
    def component(k):
        def kernel(r1, r2):
            r1 = np.asarray(r1, dtype=float)
            r2 = np.asarray(r2, dtype=float)
            r = np.hypot(r1, r2)
            w = np.asarray(grad_interaction(r), dtype=float)
            with np.errstate(invalid="ignore", divide="ignore"):
                out = np.where(r > 0.0, w * (r1 if k == 0 else r2) / np.where(r > 0, r, 1.0),
                               0.0)
            return out
        return kernel
    return component(0), component(1)


# ---------------------------------------------------------------------------------------
# packed arguments and scratch
# ---------------------------------------------------------------------------------------

#: a 2x2v problem's arrays and scalars as the compiled steps read them: v-centres (exactly
#: antisymmetric) and v-edges per axis, |v| per axis, v_k²/2 per axis, V and ∇V at the
#: x-centres (nx1, nx2), the FFT transforms of ∂1W, ∂2W and W with the FFT sizes
#: (:class:`grids.convolution2d.Convolver2D`; 1×1 placeholders without W),
#: number of columns with v_k ≤ 0 per axis, max|v_k|, whether W is present, widths, γ, λ,
#: and the scheme's code (:data:`SCHEME_CODES`: one compiled loop serves all three); the
#: energy (:data:`grids.kernels.MeanFieldArrays`, its drift at the x-centres) or None
Kinetic2DArrays = namedtuple(
    "Kinetic2DArrays",
    "vc1 vc2 vf1 vf2 av1 av2 v2h1 v2h2 Vc dV1 dV2 khat1 khat2 khatw size1 size2 j01 j02 "
    "vmax1 vmax2 has_int hx1 hx2 hv1 hv2 gamma lam scheme mf")

#: scratch of the 2x2v schemes: per-block (flattened x-cell) sums, minima, maxima of the
#: last update (read by the loop's divergence check); force components G1, G2 and their
#: copies G01, G02 (nx1, nx2); ρ and two convolution outputs (nx1, nx2); per-block energy
#: parts (nx1·nx2, 2); scalars ``sc``; rows blended by the IMEX step ``fell`` (nx1·nx2)
Kinetic2DWork = namedtuple("Kinetic2DWork", "psum pmin pmax G1 G2 G01 G02 rho conv conv2 "
                                            "eparts sc fell")


def _eval_grid(fn, X1, X2, name):
    vals = fn(X1, X2)
    vals = np.ascontiguousarray(np.broadcast_to(np.asarray(vals, dtype=np.float64), X1.shape))
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"{name} is not finite on the grid")
    return vals


def pack_kinetic2d(problem, scheme="upwind"):
    """:data:`Kinetic2DArrays` of a :class:`KineticProblem2D` for the scheme named
    ``scheme`` (its code selects the step inside the one compiled loop)."""
    x1, x2, v1, v2 = problem.x1, problem.x2, problem.v1, problem.v2
    X1, X2 = np.meshgrid(x1.centres, x2.centres, indexing="ij")
    grad = problem.grad_potential(X1, X2)
    if not isinstance(grad, (tuple, list)) or len(grad) != 2:
        raise ValueError("grad_potential(x1, x2) must return a pair (d1V, d2V)")
    dV1 = _eval_grid(lambda a, b: grad[0], X1, X2, "grad_potential[0]")
    dV2 = _eval_grid(lambda a, b: grad[1], X1, X2, "grad_potential[1]")
    Vc = _eval_grid(problem.potential, X1, X2, "potential")
    vc1 = symmetric_centres(v1)
    vc2 = symmetric_centres(v2)
    # without W: 1×1 placeholders, so that both cases share one compiled type (one
    # compilation per scheme; the FFT is skipped at run time)
    khat1 = khat2 = khatw = np.zeros((1, 1), dtype=np.complex128)
    size1 = size2 = 1
    if problem.interaction is not None:
        khat1, khat2, khatw, (size1, size2) = _interaction_tables(problem)
    return Kinetic2DArrays(
        vc1=vc1, vc2=vc2, vf1=v1.edges.copy(), vf2=v2.edges.copy(), av1=np.abs(vc1),
        av2=np.abs(vc2), v2h1=0.5 * vc1 ** 2, v2h2=0.5 * vc2 ** 2, Vc=Vc, dV1=dV1, dV2=dV2,
        khat1=khat1, khat2=khat2, khatw=khatw, size1=int(size1), size2=int(size2), j01=int(np.count_nonzero(vc1 <= 0.0)),
        j02=int(np.count_nonzero(vc2 <= 0.0)), vmax1=float(np.max(np.abs(vc1))),
        vmax2=float(np.max(np.abs(vc2))), has_int=bool(problem.interaction is not None),
        hx1=float(x1.h), hx2=float(x2.h), hv1=float(v1.h), hv2=float(v2.h),
        gamma=float(problem.gamma), lam=float(problem.temperature),
        scheme=int(SCHEME_CODES[scheme]),
        mf=pack_energy(getattr(problem, "energy", None), *(2 * (np.column_stack(
            [X1.ravel(), X2.ravel()]),))))


def _interaction_tables(problem):
    """(K̂1, K̂2, Ŵ, (P1, P2)): FFT transforms of the force components ∂1W, ∂2W and of W
    on the x-grid (values at the centres) and the FFT sizes."""
    k1, k2 = radial_components(problem.grad_interaction)
    W = problem.interaction

    def energy_kernel(r1, r2):
        return np.asarray(W(np.hypot(r1, r2)), dtype=float)

    convs = [Convolver2D(fn, problem.x1, problem.x2) for fn in (k1, k2, energy_kernel)]
    return convs[0].kernel_hat, convs[1].kernel_hat, convs[2].kernel_hat, convs[0].size


@njit(cache=True)
def kinetic2d_work(f, p):
    """Scratch of every 2x2v scheme (sizes of the x-grid only; no state-sized array)."""
    nx1, nx2, nv1, nv2 = f.shape
    nb = nx1 * nx2
    return Kinetic2DWork(np.empty(nb), np.empty(nb), np.empty(nb), np.empty((nx1, nx2)),
                         np.empty((nx1, nx2)), np.empty((nx1, nx2)), np.empty((nx1, nx2)),
                         np.empty((nx1, nx2)), np.empty((nx1, nx2)), np.empty((nx1, nx2)),
                         np.empty((nb, 2)),
                         np.zeros(4), np.zeros(nb, dtype=np.int64))


# ---------------------------------------------------------------------------------------
# force
# ---------------------------------------------------------------------------------------

@njit(cache=True)
def _add_force_conv(has_int, khat1, khat2, size1, size2, scale, rho, conv1, conv2, G1, G2):
    """G_k += (∂kW * ρ) by FFT (one forward transform for both components); nothing
    without an interaction."""
    if not has_int:
        return
    conv2_apply_pair(khat1, khat2, rho, size1, size2, scale, conv1, conv2)
    nx1, nx2 = G1.shape
    for i1 in range(nx1):
        for i2 in range(nx2):
            G1[i1, i2] += conv1[i1, i2]
            G2[i1, i2] += conv2[i1, i2]


@njit(cache=True)
def kin2_force(psum, p, w):
    """G_k = ∂kV + (∂kW * ρ) + ∂k δF/δμ at the x-centres, ρ = hv1 hv2 Σ_j f from the block
    sums ``psum``; without an interaction or an energy their terms are left out. Writes
    ``w.G1, w.G2`` (and ``w.rho``)."""
    nx1, nx2 = w.G1.shape
    hv = p.hv1 * p.hv2
    for i1 in range(nx1):
        for i2 in range(nx2):
            w.rho[i1, i2] = psum[i1 * nx2 + i2] * hv
            w.G1[i1, i2] = p.dV1[i1, i2]
            w.G2[i1, i2] = p.dV2[i1, i2]
    _add_force_conv(p.has_int, p.khat1, p.khat2, p.size1, p.size2, p.hx1 * p.hx2, w.rho, w.conv,
                    w.conv2, w.G1, w.G2)
    _add_energy_force(psum, p.mf, p.hx1 * p.hx2 * hv, w.G1, w.G2)


# not inlined: the ``is None`` branch is pruned only on a function's own arguments
@njit(cache=True)
def _add_energy_force(psum, mf, vol, G1, G2):
    """G_k += ∂k δF/δμ at the x-centres for the measure with masses ``vol · psum`` (block
    sums in C order of the x-cells); nothing without an energy (``mf`` None)."""
    if mf is None:
        return
    w = mf.weights
    for b in range(w.size):
        w[b] = psum[b] * vol
    mf_update(mf)
    nx1, nx2 = G1.shape
    for i1 in range(nx1):
        for i2 in range(nx2):
            b = i1 * nx2 + i2
            G1[i1, i2] += mf.out[b, 0]
            G2[i1, i2] += mf.out[b, 1]


@njit(cache=True)
def kin2_amax(G, gamma, vlo, vhi):
    """max over x-cells of max(|γ v_lo + G|, |γ v_hi + G|): max |a_k| over the interior
    v_k-faces (a_k is affine in v_k, so the extreme interior faces bound it)."""
    m = 0.0
    nx1, nx2 = G.shape
    for i1 in range(nx1):
        for i2 in range(nx2):
            g = G[i1, i2]
            m = max(m, abs(gamma * vlo + g), abs(gamma * vhi + g))
    return m


@njit(cache=True)
def explicit_rate(p, w):
    """Σ_k max|v_k|/hxk + Σ_k max|a_k|/hvk + Σ_k 2γλ/hvk² at the force in ``w``; also
    leaves max|a_1|, max|a_2| in ``w.sc[0:2]``."""
    nv1 = p.vc1.size
    nv2 = p.vc2.size
    a1 = kin2_amax(w.G1, p.gamma, p.vf1[1], p.vf1[nv1 - 1])
    a2 = kin2_amax(w.G2, p.gamma, p.vf2[1], p.vf2[nv2 - 1])
    w.sc[0] = a1
    w.sc[1] = a2
    d = p.gamma * p.lam
    return (p.vmax1 / p.hx1 + p.vmax2 / p.hx2 + a1 / p.hv1 + a2 / p.hv2
            + 2.0 * d / p.hv1 ** 2 + 2.0 * d / p.hv2 ** 2)


# ---------------------------------------------------------------------------------------
# upwind update
# ---------------------------------------------------------------------------------------

@njit(cache=True, inline="always")
def _row_stats(row, n, s, lo, hi):
    """Add ``row[:n]`` to four interleaved partial sums, minima and maxima (4-tuples).

    A pass of its own over the row just written (in L1): four independent chains per
    reduction instead of one running sum, min and max in the update loop, whose 3-cycle
    add latency bounded that loop (15-25 % of the 2x2v upwind step)."""
    s0, s1, s2, s3 = s
    m0, m1, m2, m3 = lo
    M0, M1, M2, M3 = hi
    q = n - n % 4
    for j in range(0, q, 4):
        y0 = row[j]
        y1 = row[j + 1]
        y2 = row[j + 2]
        y3 = row[j + 3]
        s0 += y0
        s1 += y1
        s2 += y2
        s3 += y3
        m0 = y0 if y0 < m0 else m0
        m1 = y1 if y1 < m1 else m1
        m2 = y2 if y2 < m2 else m2
        m3 = y3 if y3 < m3 else m3
        M0 = y0 if y0 > M0 else M0
        M1 = y1 if y1 > M1 else M1
        M2 = y2 if y2 > M2 else M2
        M3 = y3 if y3 > M3 else M3
    for j in range(q, n):
        y0 = row[j]
        s0 += y0
        m0 = y0 if y0 < m0 else m0
        M0 = y0 if y0 > M0 else M0
    return (s0, s1, s2, s3), (m0, m1, m2, m3), (M0, M1, M2, M3)


@njit(cache=True, inline="always")
def _stats_total(s, lo, hi):
    """(sum, min, max) of the partial reductions of :func:`_row_stats` (NaN: the sum is
    NaN, which the step check reads as a failure)."""
    return ((s[0] + s[1]) + (s[2] + s[3]), min(min(lo[0], lo[1]), min(lo[2], lo[3])),
            max(max(hi[0], hi[1]), max(hi[2], hi[3])))


_STATS0 = (0.0, 0.0, 0.0, 0.0)
_INF4 = (np.inf, np.inf, np.inf, np.inf)
_NINF4 = (-np.inf, -np.inf, -np.inf, -np.inf)

@njit(cache=True)
def _upwind_block(src, out, i1, i2, p, G1, G2, lx1, lx2, lv1, lv2, j1buf, glo, ghi, cp2,
                  cm2):
    """One block (x-cell) of :func:`kin2_update_upwind`; returns (sum, min, max)."""
    nx1, nx2, nv1, nv2 = src.shape
    gamma = p.gamma
    d1 = gamma * p.lam / p.hv1
    d2 = gamma * p.lam / p.hv2
    g1 = G1[i1, i2]
    g2 = G2[i1, i2]
    j01 = p.j01
    j02 = p.j02
    av2 = p.av2
    # v2-face coefficients: J2_{j+1/2} = cp2[j] f_j + cm2[j] f_{j+1}
    for j in range(nv2 - 1):
        a = gamma * p.vf2[j + 1] + g2
        cp2[j] = max(-a, 0.0) + d2
        cm2[j] = min(-a, 0.0) - d2
    for j in range(nv2):
        j1buf[j] = 0.0                     # zero flux through the lower outer v1-face
    s4 = _STATS0
    lo4 = _INF4
    hi4 = _NINF4
    blk = src[i1, i2]
    for j1 in range(nv1):
        row = blk[j1]
        o = out[i1, i2, j1]
        if j1 < nv1 - 1:
            a = gamma * p.vf1[j1 + 1] + g1
            c1p = max(-a, 0.0) + d1
            c1m = min(-a, 0.0) - d1
            rowup = blk[j1 + 1]
        else:
            c1p = 0.0
            c1m = 0.0
            rowup = row
        # x1: the upwind neighbour row; beyond a wall the ghost is this cell at −v1
        if j1 < j01:
            nb1 = src[i1 + 1, i2, j1] if i1 < nx1 - 1 else blk[nv1 - 1 - j1]
        else:
            nb1 = src[i1 - 1, i2, j1] if i1 > 0 else blk[nv1 - 1 - j1]
        w1 = lx1 * p.av1[j1]
        # x2: neighbour rows above (for v2 ≤ 0) and below (v2 > 0); ghosts mirrored in v2
        if i2 < nx2 - 1:
            up2 = src[i1, i2 + 1, j1]
        else:
            for j in range(nv2):
                ghi[j] = row[nv2 - 1 - j]
            up2 = ghi
        if i2 > 0:
            lo2 = src[i1, i2 - 1, j1]
        else:
            for j in range(nv2):
                glo[j] = row[nv2 - 1 - j]
            lo2 = glo
        jm2 = 0.0
        for j2 in range(j02):
            fc = row[j2]
            jp2 = cp2[j2] * fc + cm2[j2] * row[j2 + 1]
            jp1 = c1p * fc + c1m * rowup[j2]
            new = (fc - w1 * (fc - nb1[j2]) - lx2 * av2[j2] * (fc - up2[j2])
                   - lv1 * (jp1 - j1buf[j2]) - lv2 * (jp2 - jm2))
            j1buf[j2] = jp1
            jm2 = jp2
            o[j2] = new
        for j2 in range(j02, nv2):
            fc = row[j2]
            if j2 < nv2 - 1:
                jp2 = cp2[j2] * fc + cm2[j2] * row[j2 + 1]
            else:
                jp2 = 0.0
            jp1 = c1p * fc + c1m * rowup[j2]
            new = (fc - w1 * (fc - nb1[j2]) - lx2 * av2[j2] * (fc - lo2[j2])
                   - lv1 * (jp1 - j1buf[j2]) - lv2 * (jp2 - jm2))
            j1buf[j2] = jp1
            jm2 = jp2
            o[j2] = new
        s4, lo4, hi4 = _row_stats(o, nv2, s4, lo4, hi4)
    return _stats_total(s4, lo4, hi4)


@threaded
def kin2_update_upwind(src, out, p, G1, G2, lx1, lx2, lv1, lv2, bsum, bmin, bmax):
    """One forward-Euler upwind step ``out = src + Δt L(src)`` (fused x- and v-fluxes).

    Parameters
    ----------
    src, out : float64 arrays, shape (nx1, nx2, nv1, nv2), distinct
    p : Kinetic2DArrays
    G1, G2 : shape (nx1, nx2), force components at the x-centres
    lx1, lx2, lv1, lv2 : Δt/hx1, Δt/hx2, Δt/hv1, Δt/hv2
    bsum, bmin, bmax : shape (nx1·nx2,), outputs: sum, min, max of each block of ``out``
        (block index i1·nx2 + i2)
    """
    nx1, nx2, nv1, nv2 = src.shape
    for i1 in prange(nx1):
        j1buf = np.empty(nv2)
        glo = np.empty(nv2)
        ghi = np.empty(nv2)
        cp2 = np.empty(nv2)
        cm2 = np.empty(nv2)
        for i2 in range(nx2):
            s, mn, mx = _upwind_block(src, out, i1, i2, p, G1, G2, lx1, lx2, lv1, lv2,
                                      j1buf, glo, ghi, cp2, cm2)
            b = i1 * nx2 + i2
            bsum[b] = s
            bmin[b] = mn
            bmax[b] = mx


# ---------------------------------------------------------------------------------------
# MUSCL stage
# ---------------------------------------------------------------------------------------

@njit(cache=True)
def _x1_row(src, k, i2, j1):
    """Row ``f[k, i2, j1, :]`` or, beyond an x1-wall, its ghost: row −1−k (k < 0) or
    2·nx1−1−k (k ≥ nx1) at the mirrored velocity ``nv1−1−j1`` (a view, no copy)."""
    nx1 = src.shape[0]
    nv1 = src.shape[2]
    if k < 0:
        return src[-1 - k, i2, nv1 - 1 - j1]
    if k >= nx1:
        return src[2 * nx1 - 1 - k, i2, nv1 - 1 - j1]
    return src[k, i2, j1]


@njit(cache=True)
def _x2_row(src, i1, k, j1, buf):
    """Row ``f[i1, k, j1, :]`` or, beyond an x2-wall, its ghost (row −1−k or 2·nx2−1−k
    reversed in v2, copied into ``buf``)."""
    nx2 = src.shape[1]
    nv2 = src.shape[3]
    if k >= 0 and k < nx2:
        return src[i1, k, j1]
    kk = -1 - k if k < 0 else 2 * nx2 - 1 - k
    r = src[i1, kk, j1]
    for j in range(nv2):
        buf[j] = r[nv2 - 1 - j]
    return buf


@njit(cache=True)
def _muscl_block(src, base, out, alpha, i1, i2, p, G1, G2, lx1, lx2, lv1, lv2, with_v,
                 sA, sB, J1m, J2, sv2, gb0, gb1, gb2, gb3):
    """One block of :func:`kin2_update_muscl`; returns (sum, min, max)."""
    nx1, nx2, nv1, nv2 = src.shape
    gamma = p.gamma
    d1 = gamma * p.lam / p.hv1
    d2 = gamma * p.lam / p.hv2
    g1 = G1[i1, i2]
    g2 = G2[i1, i2]
    beta = 1.0 - alpha
    blk = src[i1, i2]
    for j in range(nv2):
        J1m[j] = 0.0
        sA[j] = 0.0                         # v1-slope of row 0 (end row: 0)
    s = 0.0
    mn = np.inf
    mx = -np.inf
    for j1 in range(nv1):
        row = blk[j1]
        o = out[i1, i2, j1]
        b = base[i1, i2, j1]
        if with_v:
            # v1-slope of the next row (0 in the end rows)
            if j1 + 1 < nv1 - 1:
                r0 = blk[j1]
                r1 = blk[j1 + 1]
                r2 = blk[j1 + 2]
                for j in range(nv2):
                    sB[j] = mc_slope(r0[j], r1[j], r2[j])
            else:
                for j in range(nv2):
                    sB[j] = 0.0
            # v2-slopes and the v2-face fluxes J2[j] at face j − 1/2 (0 on outer faces)
            sv2[0] = 0.0
            sv2[nv2 - 1] = 0.0
            for j in range(1, nv2 - 1):
                sv2[j] = mc_slope(row[j - 1], row[j], row[j + 1])
            J2[0] = 0.0
            J2[nv2] = 0.0
            for j in range(nv2 - 1):
                a = gamma * p.vf2[j + 1] + g2
                ul = row[j] + 0.5 * sv2[j]
                ur = row[j + 1] - 0.5 * sv2[j + 1]
                up = ul if a < 0.0 else ur
                J2[j + 1] = -a * up - d2 * (row[j + 1] - row[j])
        # x1 rows: i1−2 … i1+2 (ghosts beyond the walls, views)
        m2 = _x1_row(src, i1 - 2, i2, j1)
        m1 = _x1_row(src, i1 - 1, i2, j1)
        p1 = _x1_row(src, i1 + 1, i2, j1)
        p2 = _x1_row(src, i1 + 2, i2, j1)
        q2 = _x2_row(src, i1, i2 - 2, j1, gb0)
        q1 = _x2_row(src, i1, i2 - 1, j1, gb1)
        r1 = _x2_row(src, i1, i2 + 1, j1, gb2)
        r2 = _x2_row(src, i1, i2 + 2, j1, gb3)
        v1 = p.vc1[j1]
        neg1 = j1 < p.j01
        if with_v and j1 < nv1 - 1:
            a1 = gamma * p.vf1[j1 + 1] + g1
            rowup = blk[j1 + 1]
        else:
            a1 = 0.0
            rowup = row
        last1 = j1 == nv1 - 1 or not with_v
        for j2 in range(nv2):
            fc = row[j2]
            # x1-faces
            if neg1:
                fp = p1[j2] - 0.5 * mc_slope(fc, p1[j2], p2[j2])
                fm = fc - 0.5 * mc_slope(m1[j2], fc, p1[j2])
            else:
                fp = fc + 0.5 * mc_slope(m1[j2], fc, p1[j2])
                fm = m1[j2] + 0.5 * mc_slope(m2[j2], m1[j2], fc)
            dx1 = v1 * (fp - fm)
            # x2-faces
            v2 = p.vc2[j2]
            if j2 < p.j02:
                fp = r1[j2] - 0.5 * mc_slope(fc, r1[j2], r2[j2])
                fm = fc - 0.5 * mc_slope(q1[j2], fc, r1[j2])
            else:
                fp = fc + 0.5 * mc_slope(q1[j2], fc, r1[j2])
                fm = q1[j2] + 0.5 * mc_slope(q2[j2], q1[j2], fc)
            dx2 = v2 * (fp - fm)
            rhs = fc - lx1 * dx1 - lx2 * dx2
            if with_v:
                if last1:
                    jp1 = 0.0
                else:
                    ul = fc + 0.5 * sA[j2]
                    ur = rowup[j2] - 0.5 * sB[j2]
                    up = ul if a1 < 0.0 else ur
                    jp1 = -a1 * up - d1 * (rowup[j2] - fc)
                rhs -= lv1 * (jp1 - J1m[j2]) + lv2 * (J2[j2 + 1] - J2[j2])
                J1m[j2] = jp1
            new = alpha * b[j2] + beta * rhs
            o[j2] = new
            s += new
            mn = min(mn, new)
            mx = max(mx, new)
        if with_v:
            for j in range(nv2):
                sA[j] = sB[j]
    return s, mn, mx


@threaded
def kin2_update_muscl(src, base, out, alpha, p, G1, G2, lx1, lx2, lv1, lv2, with_v,
                      bsum, bmin, bmax):
    """MUSCL stage ``out = alpha·base + (1 − alpha)(src + Δt L(src))`` (MC limiter).

    x_k-faces: for v_k > 0 the face value at i+1/2 is ``f_i + s_i/2``, for v_k ≤ 0 it is
    ``f_{i+1} − s_{i+1}/2``, with ``s_i = mc(f_{i−1}, f_i, f_{i+1})`` along x_k; two
    ghost rows beyond each wall mirror the two end rows in v_k, so the inflow through a
    wall at v_k equals the outflow at −v_k bit for bit. v_k-faces likewise with the
    v_k-slopes (0 in the end cells) and the sign of −a_k. ``with_v`` False drops the
    v-terms (the pure x-transport of the IMEX scheme).

    ``out`` may be ``base`` (each cell reads ``base`` only at itself), never ``src``.
    Shapes as in :func:`kin2_update_upwind`.
    """
    nx1, nx2, nv1, nv2 = src.shape
    for i1 in prange(nx1):
        sA = np.empty(nv2)
        sB = np.empty(nv2)
        J1m = np.empty(nv2)
        J2 = np.empty(nv2 + 1)
        sv2 = np.empty(nv2)
        gb0 = np.empty(nv2)
        gb1 = np.empty(nv2)
        gb2 = np.empty(nv2)
        gb3 = np.empty(nv2)
        for i2 in range(nx2):
            s, mn, mx = _muscl_block(src, base, out, alpha, i1, i2, p, G1, G2, lx1, lx2,
                                     lv1, lv2, with_v, sA, sB, J1m, J2, sv2, gb0, gb1, gb2,
                                     gb3)
            b = i1 * nx2 + i2
            bsum[b] = s
            bmin[b] = mn
            bmax[b] = mx


# ---------------------------------------------------------------------------------------
# implicit velocity step (IMEX)
# ---------------------------------------------------------------------------------------

@njit(cache=True)
def _collide_line(line, dp, dm, dt, cp, inv, cpb, invb, tmp, out):
    """TR-BDF2 over ``dt`` on one velocity line (factors of I − γΔt/2 L in cp, inv),
    blended with backward Euler where negative; result in ``line``. Returns blended."""
    mn = _trbdf2(line, dp, dm, dt, cp, inv, tmp, out)
    fell = False
    if not (mn >= 0.0):
        thomas_factor(dp, dm, dt, cpb, invb)
        thomas_solve(dp, dt, cpb, invb, line, tmp)
        blend_positive(out, tmp)
        fell = True
    for j in range(line.size):
        line[j] = out[j]
    return fell


@njit(cache=True)
def _collide_block(blk, g1, g2, p, dt, s):
    """The implicit velocity step over ``dt`` on one block (in place): the v2-lines, then
    the v1-lines, each with Scharfetter–Gummel fluxes and TR-BDF2. ``s`` holds 1-D
    scratch rows (see :func:`kin2_collide`). Returns the number of lines blended."""
    nv1, nv2 = blk.shape
    gamma = p.gamma
    temp = gamma * p.lam
    fell = 0
    # v2-lines (contiguous rows): ψ2 = γ v2²/2 + G2 v2 at the centres
    psi = s[0]
    for j in range(nv2):
        psi[j] = gamma * p.v2h2[j] + g2 * p.vc2[j]
    dp, dm, cp, inv, cpb, invb, tmp, out = s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8]
    sg_coefficients(psi[:nv2], temp, p.hv2, dp[:nv2], dm[:nv2], False)
    thomas_factor(dp[:nv2], dm[:nv2], 0.5 * GAMMA * dt, cp[:nv2], inv[:nv2])
    for j1 in range(nv1):
        if _collide_line(blk[j1], dp[:nv2], dm[:nv2], dt, cp[:nv2], inv[:nv2], cpb[:nv2],
                         invb[:nv2], tmp[:nv2], out[:nv2]):
            fell += 1
    # v1-lines (stride nv2): gathered into a contiguous line
    for j in range(nv1):
        psi[j] = gamma * p.v2h1[j] + g1 * p.vc1[j]
    sg_coefficients(psi[:nv1], temp, p.hv1, dp[:nv1], dm[:nv1], False)
    thomas_factor(dp[:nv1], dm[:nv1], 0.5 * GAMMA * dt, cp[:nv1], inv[:nv1])
    line = s[9]
    for j2 in range(nv2):
        for j in range(nv1):
            line[j] = blk[j, j2]
        if _collide_line(line[:nv1], dp[:nv1], dm[:nv1], dt, cp[:nv1], inv[:nv1],
                         cpb[:nv1], invb[:nv1], tmp[:nv1], out[:nv1]):
            fell += 1
        for j in range(nv1):
            blk[j, j2] = line[j]
    return fell


@threaded
def kin2_collide(f, G1, G2, p, dt, bsum, bmin, bmax, fell):
    """The velocity part ``∂t f = ∇v·((γv + G) f) + γλ Δv f`` over ``dt`` on every block,
    in place (blocks independent; parallel over x1).

    In one block the operator is L1 ⊗ I + I ⊗ L2 (L_k the 1-D Scharfetter–Gummel operator
    along v_k with the potential ψ_k = γ v_k²/2 + G_k v_k; the coefficients of L1 do not
    depend on v2 and vice versa), so L1 and L2 commute and the product
    ``exp(Δt L1) exp(Δt L2)`` is exact; each factor is approximated by TR-BDF2 on every
    line (one tridiagonal factorisation per block and direction), blended with backward
    Euler where negative. The discrete Gibbs state ``exp(−(ψ1 + ψ2)/(γλ))`` is a fixed
    point, and the block mass is conserved (G is constant during the step).

    ``fell[b]`` receives the number of lines of block b that were blended.
    """
    nx1, nx2, nv1, nv2 = f.shape
    nmax = max(nv1, nv2)
    for i1 in prange(nx1):
        s = np.empty((10, nmax))
        for i2 in range(nx2):
            blk = f[i1, i2]
            nb = _collide_block(blk, G1[i1, i2], G2[i1, i2], p, dt, s)
            tot = 0.0
            mn = np.inf
            mx = -np.inf
            for j1 in range(nv1):
                for j2 in range(nv2):
                    x = blk[j1, j2]
                    tot += x
                    mn = min(mn, x)
                    mx = max(mx, x)
            b = i1 * nx2 + i2
            bsum[b] = tot
            bmin[b] = mn
            bmax[b] = mx
            fell[b] = nb


# ---------------------------------------------------------------------------------------
# statistics and diagnostics
# ---------------------------------------------------------------------------------------

@threaded
def kin2_block_stats(f, bsum, bmin, bmax):
    """Per-block sum, min, max of ``f``."""
    nx1, nx2, nv1, nv2 = f.shape
    for i1 in prange(nx1):
        for i2 in range(nx2):
            blk = f[i1, i2]
            s = 0.0
            mn = np.inf
            mx = -np.inf
            for j1 in range(nv1):
                for j2 in range(nv2):
                    x = blk[j1, j2]
                    s += x
                    mn = min(mn, x)
                    mx = max(mx, x)
            b = i1 * nx2 + i2
            bsum[b] = s
            bmin[b] = mn
            bmax[b] = mx


@threaded
def kin2_energy_parts(f, p, parts):
    """Per block: Σ_j (|v|²/2 + V_i) f and Σ_j f log f (0 log 0 = 0), into ``parts``
    (nx1·nx2, 2)."""
    nx1, nx2, nv1, nv2 = f.shape
    for i1 in prange(nx1):
        for i2 in range(nx2):
            blk = f[i1, i2]
            vi = p.Vc[i1, i2]
            e = 0.0
            h = 0.0
            for j1 in range(nv1):
                c = p.v2h1[j1] + vi
                for j2 in range(nv2):
                    x = blk[j1, j2]
                    e += (c + p.v2h2[j2]) * x
                    if x > 0.0:
                        h += x * np.log(x)
            b = i1 * nx2 + i2
            parts[b, 0] = e
            parts[b, 1] = h


@njit(cache=True)
def _ring_mass(f, bsum):
    """Sum of f over the outermost x-ring and v-ring (every cell with an index at an end
    of its axis, counted once), from the block sums for the x-ring blocks."""
    nx1, nx2, nv1, nv2 = f.shape
    ring = 0.0
    for i1 in range(nx1):
        for i2 in range(nx2):
            if i1 == 0 or i1 == nx1 - 1 or i2 == 0 or i2 == nx2 - 1:
                ring += bsum[i1 * nx2 + i2]
                continue
            blk = f[i1, i2]
            for j2 in range(nv2):
                ring += blk[0, j2] + blk[nv1 - 1, j2]
            for j1 in range(1, nv1 - 1):
                ring += blk[j1, 0] + blk[j1, nv2 - 1]
    return ring


@njit(cache=True)
def _interaction_energy(has_int, khat, size1, size2, hx1, hx2, rho, conv):
    """½ hx1 hx2 Σ ρ (W * ρ); 0 without an interaction."""
    if not has_int:
        return 0.0
    conv2_apply(khat, rho, size1, size2, hx1 * hx2, conv)
    e = 0.0
    nx1, nx2 = rho.shape
    for i1 in range(nx1):
        for i2 in range(nx2):
            e += rho[i1, i2] * conv[i1, i2]
    return 0.5 * hx1 * hx2 * e


@threaded(parallel=False)
def kinetic2d_stats(f, w):
    """(total, min, max, bad) of ``f``; fills the block sums ``w.psum``."""
    kin2_block_stats(f, w.psum, w.pmin, w.pmax)
    return check_partials(w.psum, w.pmin, w.pmax)


@threaded(parallel=False)
def kinetic2d_sample(f, p, w):
    """(mass, boundary-mass fraction, free energy) of ``f`` (block sums in ``w.psum``).

    Free energy ∫(|v|²/2 + V) f + ½∫∫ W ρρ + λ∫ f log f (+ F(ρ) with an energy; midpoint
    rule on the cells)."""
    vol = p.hx1 * p.hx2 * p.hv1 * p.hv2
    tot = 0.0
    for b in range(w.psum.size):
        tot += w.psum[b]
    ring = _ring_mass(f, w.psum)
    bm = ring / tot if tot != 0.0 else np.nan
    kin2_energy_parts(f, p, w.eparts)
    e = 0.0
    hh = 0.0
    for b in range(w.psum.size):
        e += w.eparts[b, 0]
        hh += w.eparts[b, 1]
    nx1, nx2 = w.rho.shape
    hv = p.hv1 * p.hv2
    for i1 in range(nx1):
        for i2 in range(nx2):
            w.rho[i1, i2] = w.psum[i1 * nx2 + i2] * hv
    fe = (e + p.lam * hh) * vol + _interaction_energy(p.has_int, p.khatw, p.size1, p.size2, p.hx1, p.hx2, w.rho,
                                                          w.conv) \
        + energy_value(p.mf, w.psum, vol)
    return tot * vol, bm, fe


@njit(cache=True)
def kinetic2d_mass(total, p):
    """Mass of a state whose cell values sum to ``total``."""
    return total * p.hx1 * p.hx2 * p.hv1 * p.hv2


#: the regime functions of every 2x2v time loop (grids.driver)
KINETIC2D = dict(STATS=kinetic2d_stats, SAMPLE=kinetic2d_sample, MASS=kinetic2d_mass)


# ---------------------------------------------------------------------------------------
# schemes: the functions of the shared time loop
# ---------------------------------------------------------------------------------------

#: codes of the schemes in :data:`Kinetic2DArrays` ``.scheme``
SCHEME_CODES = {"upwind": 0, "muscl": 1, "sg_imex": 2}


@njit(cache=True)
def k2_setup(f, p):
    """Scratch of every 2x2v scheme."""
    w = kinetic2d_work(f, p)
    w.sc[2] = -1.0
    return w


@njit(cache=True)
def k2_rule_explicit(f, p, w, cfl, dt_fixed):
    """Δt = c / (Σ max|v_k|/hxk + Σ max|a_k|/hvk + Σ 2γλ/hvk²) at the force of ``f`` (from
    the block sums in ``w.psum``); leaves the force in ``w.G1, w.G2``."""
    kin2_force(w.psum, p, w)
    return cfl / explicit_rate(p, w)


@threaded(parallel=False)
def k2_step_upwind(cur, nxt, p, w, dt, land, cfl, counters):
    """One forward-Euler upwind step into ``nxt`` with the force in ``w``."""
    kin2_update_upwind(cur, nxt, p, w.G1, w.G2, dt / p.hx1, dt / p.hx2, dt / p.hv1,
                       dt / p.hv2, w.psum, w.pmin, w.pmax)
    return dt, land, True


@threaded(parallel=False)
def k2_step_muscl(cur, nxt, p, w, dt, land, cfl, counters):
    """One Heun (SSP-RK2) MUSCL step, result in ``cur``; the force is recomputed at the
    second stage. With an interaction and c ≤ 1/2, if the recomputed force would break
    the stage-2 positivity bound 2Δt·rate ≤ 1, stage 1 is redone with the larger rate
    (the step then no longer lands on the stop time), as in d = 1."""
    G1, G2, G01, G02 = w.G1, w.G2, w.G01, w.G02
    nx1, nx2 = G1.shape
    rate = explicit_rate(p, w)
    for i1 in range(nx1):
        for i2 in range(nx2):
            G01[i1, i2] = G1[i1, i2]
            G02[i1, i2] = G2[i1, i2]
    for attempt in range(8):
        kin2_update_muscl(cur, cur, nxt, 0.0, p, G1, G2, dt / p.hx1, dt / p.hx2, dt / p.hv1,
                          dt / p.hv2, True, w.psum, w.pmin, w.pmax)
        kin2_force(w.psum, p, w)
        if not ((p.has_int or has_energy(p.mf)) and cfl <= 0.5):
            break
        rate2 = explicit_rate(p, w)
        if 2.0 * dt * rate2 <= 1.0:
            break
        rate = max(rate, rate2)
        dt = min(dt, cfl / rate)
        land = False
        for i1 in range(nx1):
            for i2 in range(nx2):
                G1[i1, i2] = G01[i1, i2]
                G2[i1, i2] = G02[i1, i2]
    kin2_update_muscl(nxt, cur, cur, 0.5, p, G1, G2, dt / p.hx1, dt / p.hx2, dt / p.hv1,
                      dt / p.hv2, True, w.psum, w.pmin, w.pmax)
    return dt, land, False


@njit(cache=True)
def k2_rule_imex(f, p, w, cfl, dt_fixed):
    """Δt = c / (max|v1|/hx1 + max|v2|/hx2): only the explicit transport limits it."""
    return cfl / (p.vmax1 / p.hx1 + p.vmax2 / p.hx2)


@threaded(parallel=False)
def k2_step_imex(f, g, p, w, dt, land, cfl, counters):
    """One Strang step C(Δt/2) T(Δt) C(Δt/2) of ``f`` in place (``g`` scratch): C the
    implicit velocity step (:func:`kin2_collide`) with the force of the current ρ, T the
    x-transport (MUSCL, Heun). ``counters[0]`` += lines blended with backward Euler."""
    half = 0.5 * dt
    kin2_force(w.psum, p, w)
    kin2_collide(f, w.G1, w.G2, p, half, w.psum, w.pmin, w.pmax, w.fell)
    counters[0] += w.fell.sum()
    lx1 = dt / p.hx1
    lx2 = dt / p.hx2
    kin2_update_muscl(f, f, g, 0.0, p, w.G1, w.G2, lx1, lx2, 0.0, 0.0, False, w.psum,
                      w.pmin, w.pmax)
    kin2_update_muscl(g, f, f, 0.5, p, w.G1, w.G2, lx1, lx2, 0.0, 0.0, False, w.psum,
                      w.pmin, w.pmax)
    # C conserves each block's mass, so the force of ρ^{n+1} is known before it
    kin2_force(w.psum, p, w)
    kin2_collide(f, w.G1, w.G2, p, half, w.psum, w.pmin, w.pmax, w.fell)
    counters[0] += w.fell.sum()
    counters[1] += 2
    return dt, land, False


@njit(cache=True)
def k2_rule(f, p, w, cfl, dt_fixed):
    """The step rule of the scheme ``p.scheme`` (:func:`k2_rule_explicit` or
    :func:`k2_rule_imex`)."""
    if p.scheme == 2:
        return k2_rule_imex(f, p, w, cfl, dt_fixed)
    return k2_rule_explicit(f, p, w, cfl, dt_fixed)


@threaded(parallel=False)
def k2_step(cur, nxt, p, w, dt, land, cfl, counters):
    """One step of the scheme ``p.scheme`` (upwind, muscl or sg_imex).

    The three schemes share one compiled time loop: Numba re-optimises a loop together
    with every kernel it calls, so one loop instead of three divides the compile time
    of a first run by about three."""
    if p.scheme == 0:
        return k2_step_upwind(cur, nxt, p, w, dt, land, cfl, counters)
    if p.scheme == 1:
        return k2_step_muscl(cur, nxt, p, w, dt, land, cfl, counters)
    return k2_step_imex(cur, nxt, p, w, dt, land, cfl, counters)


class _Kinetic2DScheme(Scheme):
    """Common part of the 2x2v schemes: packing, the loop's regime functions, threads.

    All three share one compiled loop (:func:`k2_step` selects the step by the code in
    the packed arrays)."""

    regimes = ("kinetic2d",)

    @classmethod
    def parallel(cls, problem):
        return int(np.prod(problem.shape)) >= PARALLEL_MIN_CELLS

    @classmethod
    def pack(cls, problem, parallel):
        return pack_kinetic2d(problem, cls.name)

    @classmethod
    def functions(cls, regime):
        return dict(SETUP=k2_setup, RULE=k2_rule, STEP=k2_step)

    @classmethod
    def loop(cls, regime, parallel):
        return variant("kinetic2d", parallel, **cls.functions(regime), **KINETIC2D)

    @classmethod
    def warm_up(cls, regime, state, packed, parallel):
        """Compile (or load) the loop on a 3⁴ stand-in of ``state`` (same type; no
        copy of a state that may take gigabytes); returns seconds."""
        return super().warm_up(regime, np.zeros((3, 3, 3, 3)), packed, parallel)

    @classmethod
    def advance(cls, problem, state, control_, diag, counters=None, parallel=None):
        """Run the compiled loop once (low-level entry for tests; see
        :meth:`grids.scheme.Scheme.advance`)."""
        par = cls.parallel(problem) if parallel is None else bool(parallel)
        if counters is None:
            counters = np.zeros(2, dtype=np.int64)
        return cls.loop("kinetic2d", par)(state, np.empty_like(state), cls.pack(problem, par),
                                          control_, diag, counters)


class Upwind2D(_Kinetic2DScheme):
    """First-order upwind fluxes on all four axes, forward Euler; positive for c ≤ 1 (each
    cell's new value is ``f (1 − Δt·out) + inflow`` with ``Δt·out ≤ c`` by the step rule)."""

    name = "upwind"
    order = 1
    max_cfl = 1.0
    default_cfl = 0.9



class MUSCL2D(_Kinetic2DScheme):
    """MC-limited reconstruction on all four advective fluxes, central diffusion, SSP-RK2
    (Heun); each stage satisfies ``f_new ≥ f (1 − 2Δt·rate) ≥ 0`` for c ≤ 1/2 (face
    values in ``[0, 2f]`` on the outflow side), as in d = 1."""

    name = "muscl"
    order = 2
    max_cfl = 0.5
    default_cfl = 0.45



class SGImex2D(_Kinetic2DScheme):
    """IMEX: implicit Scharfetter–Gummel velocity step per x-cell, explicit MUSCL transport.

    Strang splitting ``C(Δt/2) T(Δt) C(Δt/2)``: C (:func:`kin2_collide`) solves the 2-D
    velocity Fokker–Planck equation of each x-cell by its two commuting 1-D parts (v2-lines
    then v1-lines, TR-BDF2 with exponentially fitted fluxes, backward-Euler blend where
    negative; the discrete shifted Maxwellian is a fixed point); T is ``∂t f + v·∇x f = 0``
    with MC-limited fluxes and Heun's method (positive for c ≤ 1/2). Step
    Δt = c / (max|v1|/hx1 + max|v2|/hx2); ``dt`` caps it further.
    """

    name = "sg_imex"
    order = 2
    max_cfl = 0.5
    default_cfl = 0.45
    implicit = True
    counts = "lines"



#: the 2x2v schemes by their d = 1 names
SCHEMES_2D = {cls.name: cls for cls in (Upwind2D, MUSCL2D, SGImex2D)}


def scheme_2d(cls):
    """The 2x2v scheme of the same name as the scheme class ``cls`` (ValueError if none)."""
    if issubclass(cls, _Kinetic2DScheme):
        return cls
    try:
        return SCHEMES_2D[cls.name]
    except KeyError:
        raise ValueError(f"scheme {cls.name!r} has no 2x2v kinetic version; known: "
                         f"{sorted(SCHEMES_2D)}") from None
