"""Overdamped mean-field Fokker–Planck equation on a box in R², finite volumes.

Unknown ρ(t, x1, x2), cell averages ``r[i, j]`` on ``x1 × x2`` (shape (n1, n2), C order)::

    ∂t ρ = ∇·((∇V + ∇W * ρ) ρ) + λ Δρ,     no flux through the four walls.

Conservative form: ``dr_ij/dt = −(F_{i+1/2,j} − F_{i−1/2,j})/h1 − (E_{i,j+1/2} − E_{i,j−1/2})/h2``
with the face fluxes of the 1-D solver on each axis,

    F_{i+1/2,j} = −a1_{i+1/2,j} ρ^{up} − λ (r_{i+1,j} − r_{ij})/h1,   a1 = ∂1V + ∂1W * ρ,

ρ^{up} the value on the upwind side (``i`` when a1 < 0, the drift carrying mass towards
+x1); likewise E on axis 2 with a2 = ∂2V + ∂2W * ρ. Fluxes through the walls are zero, so
the mass changes by round-off only. ``upwind`` uses cell values as face values, ``muscl``
the MC-limited reconstruction along each axis (:func:`grids.kernels.mc_slope`).

The interaction W is radial, given by its profile W(r) and W'(r); its gradient
``∂kW(y) = W'(|y|) y_k/|y|`` (0 at y = 0) is convolved with ρ by
:class:`grids.convolution2d.Convolver2D` at the face offsets ``(h1/2, 0)`` and
``(0, h2/2)`` (one forward FFT, two inverse ones per evaluation).

Explicit step rule (DESIGN §3), chosen every step from the current state::

    Δt = c / max_ij out_ij,
    out_ij = (max(−a1_{i+1/2,j}, 0) + max(a1_{i−1/2,j}, 0))/h1
           + (max(−a2_{i,j+1/2}, 0) + max(a2_{i,j−1/2}, 0))/h2 + 2λ/h1² + 2λ/h2²

(interior faces only): the total outflow rate of cell ij through its four faces, both
faces of an axis counted where the drift diverges. The implicit scheme ``sg_implicit``
is described in :class:`SGImplicit2D`.

Everything runs in the shared compiled time loop of :mod:`grids.driver` (one variant per
scheme, regime ``overdamped2d``). NumPy twins: :mod:`grids.reference2d`.
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
from .grid import Axis
from .implicit import GAMMA, blend_positive, sg_apply, sg_coefficients, thomas_factor, thomas_solve
from .kernels import PARALLEL_MIN_CELLS, energy_value, has_energy, mc_slope, mf_update
from .scheme import Scheme, check_energy, pack_energy, pack_energy_faces

__all__ = ["OverdampedProblem2D", "Upwind2D", "MUSCL2D", "SGImplicit2D", "SCHEMES_2D",
           "scheme_2d", "radial_gradient", "pack_overdamped2d", "free_energy_2d",
           "boundary_mass_2d", "OD2Arrays"]


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
class OverdampedProblem2D:
    """Overdamped Fokker–Planck problem on the box ``x1 × x2`` with no-flux walls.

    Parameters
    ----------
    x1, x2 : Axis
        The state has shape ``(x1.cells, x2.cells)``; density normalisation
        ``sum(r) · h1 · h2`` = mass.
    temperature : float
        λ > 0.
    potential : callable
        ``potential(x1, x2)`` → V, broadcasting arrays.
    grad_potential : callable
        ``grad_potential(x1, x2)`` → ``(∂1V, ∂2V)``.
    interaction, grad_interaction : callable or None
        Radial profile W(r) and W'(r), vectorised over arrays r ≥ 0; both or neither.
    energy : object or None
        A mean-field energy F on R² (DESIGN §9, :mod:`grids.meanfield`): ∇ δF/δμ(ρ) is
        added to the drift, F to the free energy; see :class:`grids.solver.OverdampedProblem`.
    """

    x1: Axis
    x2: Axis
    temperature: float
    potential: Callable
    grad_potential: Callable
    interaction: Optional[Callable] = None
    grad_interaction: Optional[Callable] = None
    energy: Optional[object] = None

    def __post_init__(self):
        if not isinstance(self.x1, Axis) or not isinstance(self.x2, Axis):
            raise TypeError("OverdampedProblem2D: x1 and x2 must be grids.grid.Axis")
        self.temperature = _positive("temperature", self.temperature)
        if (self.interaction is None) != (self.grad_interaction is None):
            raise ValueError("interaction and grad_interaction must be given together")
        for name in ("potential", "grad_potential", "interaction", "grad_interaction"):
            fn = getattr(self, name)
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be a vectorised callable, got {type(fn).__name__}")
        check_energy(self.energy, 2)

    @property
    def shape(self):
        """State shape ``(x1.cells, x2.cells)``."""
        return (self.x1.cells, self.x2.cells)


def radial_gradient(grad_profile, component):
    """Kernel ``(y1, y2) ↦ ∂kW(y) = W'(|y|) y_k/|y|`` (0 at y = 0) of a radial W.

    Parameters
    ----------
    grad_profile : callable
        W'(r), vectorised over r ≥ 0.
    component : 0 or 1
        k − 1.

    Returns
    -------
    callable(y1, y2) for :class:`~grids.convolution2d.Convolver2D`
    """
    def kernel(y1, y2):
        y1, y2 = np.broadcast_arrays(np.asarray(y1, dtype=float), np.asarray(y2, dtype=float))
        r = np.hypot(y1, y2)
        dw = np.asarray(grad_profile(r), dtype=float)
        yk = y1 if component == 0 else y2
        out = np.zeros(r.shape)
        nz = r > 0.0
        out[nz] = (dw * np.ones(r.shape))[nz] * yk[nz] / r[nz]
        return out
    return kernel


def _grid_eval(fn, a, b, name):
    vals = np.asarray(fn(a, b), dtype=np.float64)
    # always a fresh writable C array: a read-only view (what broadcast_to returns) is
    # another Numba type and would compile the loop a second time
    vals = np.array(np.broadcast_to(vals, np.broadcast_shapes(a.shape, b.shape)), order="C")
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"{name} is not finite on the grid")
    return vals


def _grad_eval(problem, a, b, component):
    g = problem.grad_potential(a, b)
    if not isinstance(g, (tuple, list)) or len(g) != 2:
        raise ValueError("grad_potential(x1, x2) must return a pair (dV/dx1, dV/dx2)")
    return _grid_eval(lambda *_: g[component], a, b, f"grad_potential[{component}]")


#: a 2-D overdamped problem's arrays as the compiled steps read them: ∂1V at the faces
#: (i+1/2, j) and ∂2V at (i, j+1/2), shape (n1, n2) each (last row resp. column: the wall,
#: unused); V at the centres; real-FFT transforms of ∂1W (offset (h1/2, 0)), ∂2W (offset
#: (0, h2/2)) and W (offset 0), unused placeholders without interaction; FFT sizes;
#: whether W is present;
#: h1, h2, λ; the box lengths; Péclet-corrected SG weight or not; the energy
#: (:data:`grids.kernels.MeanFieldArrays`: δF/δμ at the centres, differenced to the faces
#: by the explicit schemes; a Python energy with ``drift`` only: its drift at the faces of
#: both axes stacked, (i+1/2, j) then (i, j+1/2)) or None
OD2Arrays = namedtuple("OD2Arrays", "V1f V2f Vc k1hat k2hat wkhat size1 size2 has_int h1 h2 "
                                    "lam length1 length2 fit mf")

#: scratch of the explicit 2-D schemes: per-row sums, minima, maxima of the last update
#: (first three, read by the loop), face drifts a1, a2 and their stage-1 copies, face
#: fluxes F1, F2, a row-max buffer, scalars ``sc``, a centre-valued buffer ``tmp``
OD2Work = namedtuple("OD2Work", "psum pmin pmax a1 a2 a1s a2s F1 F2 rowmax sc tmp")

#: scratch of ``sg_implicit`` in d = 2: the first three and ``sc``, ``tmp`` as in
#: :data:`OD2Work`; Φ (n1, n2) and its transpose; per-line rates and Thomas factors
#: ``rates1`` (4, n2, n1) of the x1-lines and ``rates2`` (4, n1, n2) of the x2-lines
#: (dp, dm, cp, inv); line buffers ``lines1`` (5, n2, n1: backward-Euler factors cpb,
#: invb, input, output, scratch) and ``lines2`` (4, n1, n2: cpb, invb, output, scratch);
#: per-line max |ΔΦ|/h and blend counts; ρ^n and the midpoint state of the corrector
SGWork2D = namedtuple("SGWork2D", "psum pmin pmax sc tmp phi phiT rates1 rates2 lines1 lines2 "
                                  "lamax lblend start mid")


def _energy_arrays(problem, potential):
    """:data:`grids.kernels.MeanFieldArrays` of the problem's energy (None without one):
    the measure on the x-centres (C order); δF/δμ at the centres (``potential``, for
    ``sg_implicit``; and for the explicit schemes, which difference it:
    :func:`grids.scheme.pack_energy_faces`), or (a Python energy with ``drift`` only) its
    drift at the faces (i+1/2, j) and (i, j+1/2) stacked."""
    energy = getattr(problem, "energy", None)
    if energy is None:
        return None
    x1, x2 = problem.x1, problem.x2

    def pairs(a, b):
        A, B = np.meshgrid(a, b, indexing="ij")
        return np.column_stack([A.ravel(), B.ravel()])

    centres = pairs(x1.centres, x2.centres)
    if potential:
        return pack_energy(energy, centres, centres, potential=True)
    faces = np.concatenate([pairs(x1.edges[1:], x2.centres), pairs(x1.centres, x2.edges[1:])])
    return pack_energy_faces(energy, centres, faces)


def pack_overdamped2d(problem, fit=False, potential=False):
    """:data:`OD2Arrays` of an :class:`OverdampedProblem2D` (``potential``: the energy's
    δF/δμ at the centres, for ``sg_implicit``; else packed for the face drift of the
    explicit schemes, :func:`grids.scheme.pack_energy_faces`)."""
    x1, x2 = problem.x1, problem.x2
    c1, c2 = x1.centres, x2.centres
    f1, f2 = x1.edges[1:], x2.edges[1:]
    V1f = _grad_eval(problem, f1[:, None], c2[None, :], 0)
    V2f = _grad_eval(problem, c1[:, None], f2[None, :], 1)
    Vc = _grid_eval(problem.potential, c1[:, None], c2[None, :], "potential")
    P1 = P2 = 2
    if problem.interaction is None:
        # unused placeholders of the same types, so that one compiled loop per scheme
        # serves problems with and without interaction (the FFT is skipped at run time)
        k1hat = k2hat = wkhat = np.zeros((P1, P2 // 2 + 1), dtype=np.complex128)
        has_int = False
    else:
        conv1 = Convolver2D(radial_gradient(problem.grad_interaction, 0), x1, x2, (0.5 * x1.h, 0.0))
        conv2 = Convolver2D(radial_gradient(problem.grad_interaction, 1), x1, x2, (0.0, 0.5 * x2.h))
        conw = Convolver2D(lambda y1, y2: problem.interaction(np.hypot(y1, y2)), x1, x2)
        k1hat, k2hat, wkhat = conv1.kernel_hat, conv2.kernel_hat, conw.kernel_hat
        P1, P2 = conv1.size
        has_int = True
    return OD2Arrays(V1f=V1f, V2f=V2f, Vc=Vc, k1hat=k1hat, k2hat=k2hat, wkhat=wkhat,
                     size1=int(P1), size2=int(P2), has_int=bool(has_int), h1=float(x1.h),
                     h2=float(x2.h), lam=float(problem.temperature),
                     length1=float(x1.hi - x1.lo), length2=float(x2.hi - x2.lo), fit=bool(fit),
                     mf=_energy_arrays(problem, potential))


@njit(cache=True)
def od2_work(r):
    """Scratch of the explicit 2-D schemes (:data:`OD2Work`)."""
    n1, n2 = r.shape
    return OD2Work(np.empty(n1), np.empty(n1), np.empty(n1), np.empty((n1, n2)),
                   np.empty((n1, n2)), np.empty((n1, n2)), np.empty((n1, n2)),
                   np.empty((n1, n2)), np.empty((n1, n2)), np.empty(n1), np.zeros(4),
                   np.empty((n1, n2)))


@njit(cache=True)
def sg_work_2d(r):
    """Scratch of ``sg_implicit`` in d = 2 (:data:`SGWork2D`)."""
    n1, n2 = r.shape
    nl = max(n1, n2)
    return SGWork2D(np.empty(n1), np.empty(n1), np.empty(n1), np.zeros(4), np.empty((n1, n2)),
                    np.empty((n1, n2)), np.empty((n2, n1)), np.empty((4, n2, n1)),
                    np.empty((4, n1, n2)), np.empty((5, n2, n1)), np.empty((4, n1, n2)),
                    np.empty(nl), np.zeros(nl, dtype=np.int64), np.empty((n1, n2)),
                    np.empty((n1, n2)))


# ---------------------------------------------------------------------------------------
# explicit kernels
# ---------------------------------------------------------------------------------------

@njit(cache=True)
def od2_face_drift(r, has_int, k1hat, k2hat, V1f, V2f, size1, size2, hh, a1, a2):
    """a1 = ∂1V + ∂1W * ρ at the faces (i+1/2, j), a2 = ∂2V + ∂2W * ρ at (i, j+1/2);
    ``∂V`` alone without interaction (``has_int`` False)."""
    n1, n2 = r.shape
    if has_int:
        conv2_apply_pair(k1hat, k2hat, r, size1, size2, hh, a1, a2)
        for i in range(n1):
            for j in range(n2):
                a1[i, j] += V1f[i, j]
                a2[i, j] += V2f[i, j]
    else:
        for i in range(n1):
            for j in range(n2):
                a1[i, j] = V1f[i, j]
                a2[i, j] = V2f[i, j]


# not inlined: the ``is None`` branch is pruned only on a function's own arguments
@njit(cache=True)
def od2_add_energy_drift(r, mf, h1, h2, a1, a2):
    """a1 += ∂1 δF/δμ at the faces (i+1/2, j), a2 += ∂2 δF/δμ at (i, j+1/2), for the
    measure with masses r·h1·h2 at the centres; nothing without an energy (``mf`` None).

    ``mf.differences``: Φ = δF/δμ at the centres (one activation pass) and the interior
    face terms (Φ_{i+1,j} − Φ_{ij})/h1, (Φ_{i,j+1} − Φ_{ij})/h2 (second order at the face
    midpoints; wall entries untouched). Else (a Python energy with ``drift`` only) the
    drift at the 2·n1·n2 stacked faces."""
    if mf is None:
        return
    n1, n2 = r.shape
    n = n1 * n2
    hh = h1 * h2
    w = mf.weights
    for i in range(n1):
        for j in range(n2):
            w[i * n2 + j] = r[i, j] * hh
    mf_update(mf)
    out = mf.out
    if mf.differences:
        inv1 = 1.0 / h1
        inv2 = 1.0 / h2
        for i in range(n1):
            for j in range(n2):
                phi = out[i * n2 + j, 0]
                if i < n1 - 1:
                    a1[i, j] += (out[(i + 1) * n2 + j, 0] - phi) * inv1
                if j < n2 - 1:
                    a2[i, j] += (out[i * n2 + j + 1, 0] - phi) * inv2
        return
    for i in range(n1):
        for j in range(n2):
            a1[i, j] += out[i * n2 + j, 0]
            a2[i, j] += out[n + i * n2 + j, 1]


@njit(cache=True)
def od2_add_energy_potential(r, mf, hh, phi, phiT):
    """phi += δF/δμ at the centres (and its transpose ``phiT``); nothing when ``mf`` is None."""
    if mf is None:
        return
    n1, n2 = r.shape
    w = mf.weights
    for i in range(n1):
        for j in range(n2):
            w[i * n2 + j] = r[i, j] * hh
    mf_update(mf)
    out = mf.out
    for i in range(n1):
        for j in range(n2):
            u = out[i * n2 + j, 0]
            phi[i, j] += u
            phiT[j, i] += u


@njit(cache=True)
def od2_drift(r, p, a1, a2):
    """:func:`od2_face_drift` with the problem's arrays, plus the energy's drift."""
    od2_face_drift(r, p.has_int, p.k1hat, p.k2hat, p.V1f, p.V2f, p.size1, p.size2, p.h1 * p.h2, a1, a2)
    od2_add_energy_drift(r, p.mf, p.h1, p.h2, a1, a2)


@threaded
def od2_max_outflow(a1, a2, h1, h2, rowmax):
    """max over cells of the advective outflow rate through the four faces (interior
    faces only), ``(max(−a1_{i+1/2}, 0) + max(a1_{i−1/2}, 0))/h1 + (same on axis 2)/h2``."""
    n1, n2 = a1.shape
    for i in prange(n1):
        m = 0.0
        for j in range(n2):
            o1 = 0.0
            if i < n1 - 1:
                o1 += max(-a1[i, j], 0.0)
            if i > 0:
                o1 += max(a1[i - 1, j], 0.0)
            o2 = 0.0
            if j < n2 - 1:
                o2 += max(-a2[i, j], 0.0)
            if j > 0:
                o2 += max(a2[i, j - 1], 0.0)
            m = max(m, o1 / h1 + o2 / h2)
        rowmax[i] = m
    out = 0.0
    for i in range(n1):
        out = max(out, rowmax[i])
    return out


@njit(cache=True, inline="always")
def face_flux(rm, ri, rn, rn2, a, diff, muscl):
    """Flux ``−a ρ^{up} − diff (rn − ri)`` through the face between cells with values ri
    and rn (neighbours rm before, rn2 after, clamped at the walls): ρ^{up} is ri (a < 0)
    or rn, reconstructed with the MC slope when ``muscl``."""
    if a < 0.0:
        up = ri + 0.5 * mc_slope(rm, ri, rn) if muscl else ri
    else:
        up = rn - 0.5 * mc_slope(ri, rn, rn2) if muscl else rn
    return -a * up - diff * (rn - ri)


@threaded
def od2_fluxes(muscl, r, a1, a2, diff1, diff2, F1, F2):
    """Face fluxes: F1[i, j] through (i+1/2, j) for i < n1 − 1, F2[i, j] through
    (i, j+1/2) for j < n2 − 1 (``diff`` = λ/h of the axis); wall entries untouched."""
    n1, n2 = r.shape
    for i in prange(n1):
        if i < n1 - 1:
            im = i - 1 if i > 0 else 0
            i2 = i + 2 if i + 2 < n1 else n1 - 1
            for j in range(n2):
                F1[i, j] = face_flux(r[im, j], r[i, j], r[i + 1, j], r[i2, j], a1[i, j],
                                     diff1, muscl)
        for j in range(n2 - 1):
            jm = j - 1 if j > 0 else 0
            j2 = j + 2 if j + 2 < n2 else n2 - 1
            F2[i, j] = face_flux(r[i, jm], r[i, j], r[i, j + 1], r[i, j2], a2[i, j], diff2,
                                 muscl)


@threaded
def od2_update(src, base, out, alpha, F1, F2, l1, l2, psum, pmin, pmax):
    """``out = alpha base + (1 − alpha)(src − l1 ΔF1 − l2 ΔF2)`` (``l = dt/h``; zero flux at
    the walls); per-row sum, min, max of ``out``. ``out`` may be ``base``, never ``src``."""
    n1, n2 = src.shape
    beta = 1.0 - alpha
    for i in prange(n1):
        s = 0.0
        mn = np.inf
        mx = -np.inf
        em = 0.0
        for j in range(n2):
            ep = F2[i, j] if j < n2 - 1 else 0.0
            fp = F1[i, j] if i < n1 - 1 else 0.0
            fm = F1[i - 1, j] if i > 0 else 0.0
            new = alpha * base[i, j] + beta * (src[i, j] - l1 * (fp - fm) - l2 * (ep - em))
            em = ep
            out[i, j] = new
            s += new
            mn = min(mn, new)
            mx = max(mx, new)
        psum[i] = s
        pmin[i] = mn
        pmax[i] = mx


# ---------------------------------------------------------------------------------------
# regime functions of the time loop: stats, diagnostics, mass
# ---------------------------------------------------------------------------------------

@njit(cache=True)
def od2_stats(r, work):
    """(total, min, max, bad) of ``r`` (the loop reads the update's partial sums after a step)."""
    n1, n2 = r.shape
    for i in range(n1):
        s = 0.0
        mn = np.inf
        mx = -np.inf
        for j in range(n2):
            v = r[i, j]
            s += v
            mn = min(mn, v)
            mx = max(mx, v)
        work.psum[i] = s
        work.pmin[i] = mn
        work.pmax[i] = mx
    return check_partials(work.psum, work.pmin, work.pmax)


@njit(cache=True)
def interaction_energy_2d(r, has_int, wkhat, size1, size2, hh, tmp):
    """½ h1 h2 Σ r (W * r) with the convolution at the centres; 0 without interaction."""
    if not has_int:
        return 0.0
    conv2_apply(wkhat, r, size1, size2, hh, tmp)
    n1, n2 = r.shape
    e = 0.0
    for i in range(n1):
        for j in range(n2):
            e += r[i, j] * tmp[i, j]
    return 0.5 * hh * e


@njit(cache=True)
def od2_sample(r, p, work):
    """(mass, boundary-mass fraction, free energy) of ``r``:
    ``F = h1 h2 Σ (V r + λ r log r) + ½ h1 h2 Σ r (W * r) + F(μ)`` (centres; 0 log 0 = 0;
    F(μ) the energy's value, 0 without one); the
    boundary mass is the fraction in the outermost ring of cells."""
    n1, n2 = r.shape
    tot = 0.0
    e = 0.0
    ring = 0.0
    for i in range(n1):
        for j in range(n2):
            x = r[i, j]
            tot += x
            e += p.Vc[i, j] * x
            if x > 0.0:
                e += p.lam * x * np.log(x)
            if i == 0 or i == n1 - 1 or j == 0 or j == n2 - 1:
                ring += x
    hh = p.h1 * p.h2
    fe = e * hh + interaction_energy_2d(r, p.has_int, p.wkhat, p.size1, p.size2, hh, work.tmp) \
        + energy_value(p.mf, r, hh)
    bm = ring / tot if tot != 0.0 else np.nan
    return tot * hh, bm, fe


@njit(cache=True)
def od2_mass(total, p):
    """Mass of a state whose cell values sum to ``total``."""
    return total * p.h1 * p.h2


#: the regime functions every 2-D overdamped loop binds (grids.driver)
OVERDAMPED2D = dict(STATS=od2_stats, SAMPLE=od2_sample, MASS=od2_mass)


# ---------------------------------------------------------------------------------------
# explicit schemes: functions of the time loop
# ---------------------------------------------------------------------------------------

@njit(cache=True)
def od2_setup_explicit(r, p):
    """Scratch of the explicit steps."""
    return od2_work(r)


@threaded(parallel=False)
def od2_rule_explicit(r, p, work, cfl, dt_fixed):
    """Δt = cfl / max_ij out_ij at the drift of ``r`` (left in ``work.a1``, ``work.a2``;
    the largest advective rate in ``work.sc[0]``)."""
    od2_drift(r, p, work.a1, work.a2)
    adv = od2_max_outflow(work.a1, work.a2, p.h1, p.h2, work.rowmax)
    work.sc[0] = adv
    return cfl / (adv + 2.0 * p.lam / (p.h1 * p.h1) + 2.0 * p.lam / (p.h2 * p.h2))


@threaded(parallel=False)
def od2_step_upwind(cur, nxt, p, work, dt, land, cfl, counters):
    """One forward-Euler upwind step into ``nxt``."""
    od2_fluxes(False, cur, work.a1, work.a2, p.lam / p.h1, p.lam / p.h2, work.F1, work.F2)
    od2_update(cur, cur, nxt, 0.0, work.F1, work.F2, dt / p.h1, dt / p.h2, work.psum,
               work.pmin, work.pmax)
    return dt, land, True


@threaded(parallel=False)
def od2_step_muscl(cur, nxt, p, work, dt, land, cfl, counters):
    """One Heun (SSP-RK2) MUSCL step, result in ``cur``; the drift is recomputed at stage 2.

    As in d = 1: should the recomputed drift break the stage-2 bound
    ``2Δt(out/h + λ/h1² + λ/h2²) ≤ 1`` (only with an interaction and c ≤ 1/2), stage 1 is
    redone with the rule applied to the larger drift; the step then no longer lands.
    """
    a1, a2, a1s, a2s = work.a1, work.a2, work.a1s, work.a2s
    n1, n2 = cur.shape
    for i in range(n1):
        for j in range(n2):
            a1s[i, j] = a1[i, j]
            a2s[i, j] = a2[i, j]
    d1 = p.lam / p.h1
    d2 = p.lam / p.h2
    diffrate = p.lam / (p.h1 * p.h1) + p.lam / (p.h2 * p.h2)
    out = work.sc[0]
    for attempt in range(8):
        od2_fluxes(True, cur, a1, a2, d1, d2, work.F1, work.F2)
        od2_update(cur, cur, nxt, 0.0, work.F1, work.F2, dt / p.h1, dt / p.h2, work.psum,
                   work.pmin, work.pmax)
        od2_drift(nxt, p, a1, a2)
        if not ((p.has_int or has_energy(p.mf)) and cfl <= 0.5):
            break
        out2 = od2_max_outflow(a1, a2, p.h1, p.h2, work.rowmax)
        if 2.0 * dt * (out2 + diffrate) <= 1.0:
            break
        out = max(out, out2)
        dt = min(dt, cfl / (out + 2.0 * diffrate))
        land = False
        for i in range(n1):
            for j in range(n2):
                a1[i, j] = a1s[i, j]
                a2[i, j] = a2s[i, j]
    od2_fluxes(True, nxt, a1, a2, d1, d2, work.F1, work.F2)
    od2_update(nxt, cur, cur, 0.5, work.F1, work.F2, dt / p.h1, dt / p.h2, work.psum,
               work.pmin, work.pmax)
    return dt, land, False


# ---------------------------------------------------------------------------------------
# implicit scheme: Strang splitting of Scharfetter–Gummel line solves
# ---------------------------------------------------------------------------------------

@njit(cache=True)
def potential_of_mean_force(r, Vc, has_int, wkhat, size1, size2, hh, phi, phiT):
    """Φ = V + W * ρ at the centres (``phi``, (n1, n2)) and its transpose ``phiT``; V alone
    without interaction (``has_int`` False)."""
    n1, n2 = r.shape
    if has_int:
        conv2_apply(wkhat, r, size1, size2, hh, phi)
        for i in range(n1):
            for j in range(n2):
                phi[i, j] += Vc[i, j]
    else:
        for i in range(n1):
            for j in range(n2):
                phi[i, j] = Vc[i, j]
    for i in range(n1):
        for j in range(n2):
            phiT[j, i] = phi[i, j]


@njit(cache=True)
def od2_phi(r, p, phi, phiT):
    """:func:`potential_of_mean_force` with the problem's arrays, plus δF/δμ of the energy."""
    potential_of_mean_force(r, p.Vc, p.has_int, p.wkhat, p.size1, p.size2, p.h1 * p.h2, phi, phiT)
    od2_add_energy_potential(r, p.mf, p.h1 * p.h2, phi, phiT)


@threaded
def od2_line_rates(phi_lines, lam, h, fit, rates, lamax):
    """SG rates of every line (row l of ``phi_lines``) into ``rates[0, l]``, ``rates[1, l]``
    (:func:`grids.implicit.sg_coefficients`); ``lamax[l]`` the line's max |ΔΦ|/h. Returns
    the max over lines."""
    nl = phi_lines.shape[0]
    for l in prange(nl):
        lamax[l] = sg_coefficients(phi_lines[l], lam, h, rates[0, l], rates[1, l], fit)
    m = 0.0
    for l in range(nl):
        m = max(m, lamax[l])
    return m


@threaded
def od2_line_factor(rates, c):
    """Thomas factors of ``I − c L`` of every line into ``rates[2]``, ``rates[3]``."""
    for l in prange(rates.shape[1]):
        thomas_factor(rates[0, l], rates[1, l], c, rates[2, l], rates[3, l])


@njit(cache=True)
def line_step(r0, dp, dm, dt, cp, inv, cpb, invb, tmp, out):
    """TR-BDF2 step ``r0 → out`` of one line with the factors of ``I − (γΔt/2) L``
    (``cp``, ``inv``); where the result has a negative value it is blended with the
    backward-Euler result (:func:`grids.implicit.blend_positive`). Returns True if blended."""
    n = r0.size
    c = 0.5 * GAMMA * dt
    sg_apply(r0, dp, dm, tmp)
    for i in range(n):
        tmp[i] = r0[i] + c * tmp[i]
    thomas_solve(dp, c, cp, inv, tmp, tmp)
    a = 1.0 / (GAMMA * (2.0 - GAMMA))
    b = a - 1.0                      # a − b = 1 exactly: no mass drift from rounding
    for i in range(n):
        tmp[i] = a * tmp[i] - b * r0[i]
    thomas_solve(dp, c, cp, inv, tmp, out)
    mn = np.inf
    for i in range(n):
        mn = min(mn, out[i])
    if mn >= 0.0:
        return False
    thomas_factor(dp, dm, dt, cpb, invb)
    thomas_solve(dp, dt, cpb, invb, r0, tmp)
    blend_positive(out, tmp)
    return True


@threaded
def od2_sweep_axis1(r, rates, dt, lines, blended):
    """Solve every x1-line (column ``r[:, j]``) over Δt in place (rates and factors of line
    j in ``rates[:, j]``, buffers in ``lines[:, j]``); ``blended[j]`` += 1 when the line
    was blended with backward Euler."""
    n1, n2 = r.shape
    for j in prange(n2):
        lin = lines[2, j]
        for i in range(n1):
            lin[i] = r[i, j]
        if line_step(lin, rates[0, j], rates[1, j], dt, rates[2, j], rates[3, j],
                     lines[0, j], lines[1, j], lines[4, j], lines[3, j]):
            blended[j] += 1
        lout = lines[3, j]
        for i in range(n1):
            r[i, j] = lout[i]


@threaded
def od2_sweep_axis2(r, rates, dt, lines, blended):
    """Solve every x2-line (row ``r[i, :]``) over Δt in place (``lines``: cpb, invb,
    output, scratch)."""
    n1, n2 = r.shape
    for i in prange(n1):
        if line_step(r[i], rates[0, i], rates[1, i], dt, rates[2, i], rates[3, i],
                     lines[0, i], lines[1, i], lines[3, i], lines[2, i]):
            blended[i] += 1
        lout = lines[2, i]
        row = r[i]
        for j in range(n2):
            row[j] = lout[j]


@threaded(parallel=False)
def od2_strang(r, p, w, dt, refactor):
    """Strang step ``X(Δt/2) Y(Δt) X(Δt/2)`` of ``r`` in place with the rates in ``w``
    (recomputed from ``w.phi``/``w.phiT`` and refactored when ``refactor``)."""
    if refactor:
        w.sc[0] = od2_line_rates(w.phiT, p.lam, p.h1, p.fit, w.rates1, w.lamax)
        w.sc[2] = od2_line_rates(w.phi, p.lam, p.h2, p.fit, w.rates2, w.lamax)
        od2_line_factor(w.rates1, 0.25 * GAMMA * dt)       # TR-BDF2 factor of Δt/2
        od2_line_factor(w.rates2, 0.5 * GAMMA * dt)
    half = 0.5 * dt
    od2_sweep_axis1(r, w.rates1, half, w.lines1, w.lblend)
    od2_sweep_axis2(r, w.rates2, dt, w.lines2, w.lblend)
    od2_sweep_axis1(r, w.rates1, half, w.lines1, w.lblend)


@threaded(parallel=False)
def od2_setup_sg(r, p):
    """Scratch of the implicit step; Φ and the line rates of ``r`` (max |∂kΦ| in
    ``sc[0]``, ``sc[2]``; ``sc[1]``: the Δt of the current factors, −1 none)."""
    w = sg_work_2d(r)
    od2_phi(r, p, w.phi, w.phiT)
    w.sc[0] = od2_line_rates(w.phiT, p.lam, p.h1, p.fit, w.rates1, w.lamax)
    w.sc[2] = od2_line_rates(w.phi, p.lam, p.h2, p.fit, w.rates2, w.lamax)
    w.sc[1] = -1.0
    return w


@njit(cache=True)
def od2_rule_sg(r, p, work, cfl, dt_fixed):
    """Δt = cfl / (max(max|∂1Φ|, λ/L1)/h1 + max(max|∂2Φ|, λ/L2)/h2); ``inf`` with a user step."""
    if dt_fixed > 0.0:
        return np.inf
    return cfl / (max(work.sc[0], p.lam / p.length1) / p.h1
                  + max(work.sc[2], p.lam / p.length2) / p.h2)


@threaded(parallel=False)
def od2_step_sg(r, spare, p, work, dt, land, cfl, counters):
    """One step, result in ``r``. With an interaction: predictor with Φ(ρ^n), corrector
    from ρ^n with Φ(½(ρ^n + ρ*)). ``counters[0]`` += line solves blended with backward
    Euler, ``counters[1]`` += factorisations (of all lines)."""
    w = work
    n1, n2 = r.shape
    nl = w.lblend.size
    for l in range(nl):
        w.lblend[l] = 0
    if p.has_int or has_energy(p.mf):
        for i in range(n1):
            for j in range(n2):
                w.start[i, j] = r[i, j]
        od2_phi(r, p, w.phi, w.phiT)
        od2_strang(r, p, w, dt, True)                      # r = ρ*
        for i in range(n1):
            for j in range(n2):
                w.mid[i, j] = 0.5 * (w.start[i, j] + r[i, j])
                r[i, j] = w.start[i, j]
        od2_phi(w.mid, p, w.phi, w.phiT)
        od2_strang(r, p, w, dt, True)
        counters[1] += 2
    else:
        refactor = dt != w.sc[1]
        od2_strang(r, p, w, dt, refactor)
        if refactor:
            counters[1] += 1
        w.sc[1] = dt
    for l in range(nl):
        counters[0] += w.lblend[l]
    for i in range(n1):
        s = 0.0
        mn = np.inf
        mx = -np.inf
        for j in range(n2):
            v = r[i, j]
            s += v
            mn = min(mn, v)
            mx = max(mx, v)
        w.psum[i] = s
        w.pmin[i] = mn
        w.pmax[i] = mx
    return dt, land, False


# ---------------------------------------------------------------------------------------
# the schemes
# ---------------------------------------------------------------------------------------

REGIME = "overdamped2d"


class Scheme2D(Scheme):
    """Base of the 2-D overdamped schemes: the regime functions of :data:`OVERDAMPED2D`
    and the packing :func:`pack_overdamped2d`; otherwise :class:`grids.scheme.Scheme`."""

    regimes = (REGIME,)
    fit = False

    @classmethod
    def pack(cls, problem, parallel):
        return pack_overdamped2d(problem, cls.fit, potential=cls.implicit)

    @classmethod
    def parallel(cls, problem):
        return int(np.prod(problem.shape)) >= PARALLEL_MIN_CELLS

    @classmethod
    def loop(cls, regime, parallel):
        return variant(f"{cls.name}_{REGIME}", parallel, **cls.functions(REGIME), **OVERDAMPED2D)

    @classmethod
    def advance(cls, problem, state, control_, diag, counters=None, parallel=None):
        """As :meth:`grids.scheme.Scheme.advance`, for an :class:`OverdampedProblem2D`."""
        par = cls.parallel(problem) if parallel is None else bool(parallel)
        if counters is None:
            counters = np.zeros(2, dtype=np.int64)
        return cls.loop(REGIME, par)(state, np.empty_like(state), cls.pack(problem, par),
                                     control_, diag, counters)


class Upwind2D(Scheme2D):
    """First-order upwind fluxes on both axes, forward Euler (``upwind`` in d = 2).

    Positive for c ≤ 1: ``r_new = r (1 − Δt·out_ij) + inflows``, the outflow rate
    ``out_ij`` (drift through the four faces, both faces of an axis counted, plus
    ``2λ/h1² + 2λ/h2²``) being the denominator of the step rule.
    """

    name = "upwind"
    order = 1
    max_cfl = 1.0
    default_cfl = 0.9

    @classmethod
    def functions(cls, regime):
        return dict(SETUP=od2_setup_explicit, RULE=od2_rule_explicit, STEP=od2_step_upwind)


class MUSCL2D(Scheme2D):
    """MC-limited reconstruction along each axis, central diffusion, SSP-RK2 (``muscl``).

    The face values lie between neighbouring cell averages, in ``[0, 2 r_ij]`` on the
    outflow side, so each Euler stage gives ``r_new ≥ r (1 − 2Δt(adv_out + λ/h1² + λ/h2²))
    ≥ r (1 − 2c) ≥ 0`` for c ≤ 1/2; Heun's step is a convex combination of two stages. The
    interaction is recomputed at stage 2 with the d = 1 guard (redo stage 1 with a shorter
    step if the new drift would break the stage-2 bound).
    """

    name = "muscl"
    order = 2
    max_cfl = 0.5
    default_cfl = 0.45

    @classmethod
    def functions(cls, regime):
        return dict(SETUP=od2_setup_explicit, RULE=od2_rule_explicit, STEP=od2_step_muscl)


class SGImplicit2D(Scheme2D):
    """Scharfetter–Gummel line solves, Strang splitting ``X(Δt/2) Y(Δt) X(Δt/2)`` (``sg_implicit``).

    Each sweep solves, independently for every line of one axis, the d = 1 scheme of
    :mod:`grids.implicit` along that line: SG fluxes with the difference quotients of
    Φ = V + W * ρ at the centres, TR-BDF2 with two tridiagonal (Thomas) solves, blended
    with backward Euler where a line goes negative. Properties, each inherited from the
    line solves:

    * mass: every line solve conserves its line's mass to round-off (zero column sums of
      L, ``a − b = 1`` exactly in TR-BDF2), hence the total;
    * positivity for every Δt: each line result is non-negative (M-matrix backward-Euler
      blend), so each sweep maps non-negative states to non-negative states;
    * the discrete Gibbs state ρ ∝ exp(−Φ/λ) makes every SG flux zero, on both axes, so
      it is a fixed point of every sweep and of the step;
    * order 2 in space (SG is central for small cell Péclet numbers) and in time: Strang
      splitting of second-order sweeps (TR-BDF2), with the interaction by the d = 1
      predictor–corrector (Φ at ρ^n, then at ½(ρ^n + ρ*)); measured in
      ``tests/test_grid2d_overdamped.py``.

    Step: ``solve(..., dt=...)`` splits each interval into equal steps of at most dt;
    otherwise Δt = c / (max(max|∂1Φ|, λ/L1)/h1 + max(max|∂2Φ|, λ/L2)/h2), an advective
    Courant number bounding the time error only (any c > 0 is stable and positive).
    Without an interaction the rates and factors are kept while Δt stays the same.
    """

    name = "sg_implicit"
    order = 2
    max_cfl = math.inf
    default_cfl = 4.0
    implicit = True
    counts = "line solves"

    @classmethod
    def functions(cls, regime):
        return dict(SETUP=od2_setup_sg, RULE=od2_rule_sg, STEP=od2_step_sg)


#: the 2-D schemes by the names of their d = 1 counterparts
SCHEMES_2D = {cls.name: cls for cls in (Upwind2D, MUSCL2D, SGImplicit2D)}


def scheme_2d(cls):
    """The 2-D overdamped scheme of a resolved scheme class (by its name).

    Raises
    ------
    ValueError
        If the scheme has no 2-D overdamped version.
    """
    if isinstance(cls, type) and issubclass(cls, Scheme2D):
        return cls
    name = getattr(cls, "name", cls)
    try:
        return SCHEMES_2D[name]
    except KeyError:
        raise ValueError(f"scheme {name!r} has no 2-D overdamped version; known: "
                         f"{sorted(SCHEMES_2D)}") from None


# ---------------------------------------------------------------------------------------
# NumPy helpers (the solver's free energy and boundary mass of a state)
# ---------------------------------------------------------------------------------------

def free_energy_2d(problem, state) -> float:
    """Free energy ``h1 h2 Σ (V r + λ r log r) + ½ (h1 h2)² Σ_{ij,kl} W(|x_ij − x_kl|) r_ij r_kl``
    (+ F(μ) with an energy: the MFLD objective) of a state (NumPy FFT for the double sum)."""
    r = np.asarray(state, dtype=np.float64)
    if r.shape != problem.shape:
        raise ValueError(f"state has shape {r.shape}, expected {problem.shape}")
    x1, x2 = problem.x1, problem.x2
    V = _grid_eval(problem.potential, x1.centres[:, None], x2.centres[None, :], "potential")
    hh = x1.h * x2.h
    pos = r > 0.0
    ent = np.zeros_like(r)
    ent[pos] = r[pos] * np.log(r[pos])
    e = hh * (np.sum(V * r) + problem.temperature * ent.sum())
    if problem.interaction is not None:
        conv = Convolver2D(lambda y1, y2: problem.interaction(np.hypot(y1, y2)), x1, x2)
        e += 0.5 * hh * float(np.sum(r * conv.numpy_fft(r)))
    energy = getattr(problem, "energy", None)
    if energy is not None:
        X1, X2 = np.meshgrid(x1.centres, x2.centres, indexing="ij")
        e += float(energy.value(np.column_stack([X1.ravel(), X2.ravel()]), (r * hh).ravel()))
    return float(e)


def boundary_mass_2d(state) -> float:
    """Fraction of the mass in the outermost ring of cells of a 2-D state."""
    r = np.asarray(state, dtype=np.float64)
    ring = r[0].sum() + r[-1].sum() + r[1:-1, 0].sum() + r[1:-1, -1].sum()
    return float(ring / r.sum())
