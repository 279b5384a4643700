"""Grid (Eulerian) solver of the kinetic and overdamped mean-field Fokker–Planck equations.

Kinetic (``KineticProblem``), unknown f(t, x, v) on ``x × v``::

    ∂t f + v ∂x f = ∂v((γ v + G) f) + γλ ∂v² f,   G = V'(x) + (W' * ρ)(x),  ρ = ∫ f dv

Overdamped (``OverdampedProblem``), unknown ρ(t, x)::

    ∂t ρ = ∂x((V' + W' * ρ) ρ) + λ ∂x² ρ

Conservative finite volumes on cell averages with no-flux outer faces (see
:mod:`grids.kernels` for the fluxes); explicit time steps chosen every step from the
current state,

    Δt = c / (max|v|/hx + max|a|/hv + 2γλ/hv²)      (kinetic, a = γ v_face + G)
    Δt = c / (max|a|/h + 2λ/h²)                      (overdamped, a = V' + W' * ρ at faces)

(max|v| over the v-centres, max|a| over the interior faces, the only ones that carry a
flux) and shortened to land exactly on every snapshot. The time loop is compiled (Numba): one
call advances many steps.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from . import imex as IMEX
from . import implicit as IMP
from . import kernels as K
from .convolution import Convolver, fft_tables
from .grid import Axis

__all__ = ["KineticProblem", "OverdampedProblem", "solve", "GridSolution", "SCHEMES", "Scheme",
           "Upwind", "MUSCL", "SGImplicit", "SG2Implicit", "free_energy", "boundary_mass"]

#: boundary-mass fraction above which the run's message warns that the domain is too small
BOUNDARY_WARN = 1e-6

# cells × steps per compiled call (bounds the time between progress callbacks)
_CHUNK_WORK = 6e7


def _check_callable(name, fn):
    if not callable(fn):
        raise TypeError(f"{name} must be a vectorised callable, got {type(fn).__name__}")


def _positive(name, value):
    try:
        value = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number, got {value!r}") from exc
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value


def _check_pair(problem):
    if (problem.interaction is None) != (problem.grad_interaction is None):
        raise ValueError("interaction and grad_interaction must be given together")
    for name in ("potential", "grad_potential"):
        _check_callable(name, getattr(problem, name))
    if problem.interaction is not None:
        _check_callable("interaction", problem.interaction)
        _check_callable("grad_interaction", problem.grad_interaction)


@dataclass
class KineticProblem:
    """Kinetic VFP problem on the phase-space grid ``x × v``.

    Parameters
    ----------
    x, v : Axis
        Position and velocity axes; the state has shape ``(x.cells, v.cells)``.
    gamma : float
        Friction γ > 0.
    temperature : float
        λ > 0.
    potential, grad_potential : callable
        Vectorised V(x) and V'(x).
    interaction, grad_interaction : callable or None
        Vectorised even W(y) and odd W'(y); both or neither.
    """

    x: Axis
    v: Axis
    gamma: float
    temperature: float
    potential: Callable
    grad_potential: Callable
    interaction: Optional[Callable] = None
    grad_interaction: Optional[Callable] = None

    def __post_init__(self):
        if not isinstance(self.x, Axis) or not isinstance(self.v, Axis):
            raise TypeError("KineticProblem: x and v must be grids.grid.Axis")
        self.gamma = _positive("gamma", self.gamma)
        self.temperature = _positive("temperature", self.temperature)
        _check_pair(self)

    @property
    def shape(self):
        """State shape ``(x.cells, v.cells)``."""
        return (self.x.cells, self.v.cells)


@dataclass
class OverdampedProblem:
    """Overdamped Fokker–Planck problem on the axis ``x``; state shape ``(x.cells,)``.

    Parameters as in :class:`KineticProblem` without ``v`` and ``gamma``.
    """

    x: Axis
    temperature: float
    potential: Callable
    grad_potential: Callable
    interaction: Optional[Callable] = None
    grad_interaction: Optional[Callable] = None

    def __post_init__(self):
        if not isinstance(self.x, Axis):
            raise TypeError("OverdampedProblem: x must be a grids.grid.Axis")
        self.temperature = _positive("temperature", self.temperature)
        _check_pair(self)

    @property
    def shape(self):
        """State shape ``(x.cells,)``."""
        return (self.x.cells,)


# ---------------------------------------------------------------------------------------
# schemes
# ---------------------------------------------------------------------------------------

class Scheme:
    """Base class of the time-stepping schemes (pass a subclass or its name to :func:`solve`).

    Attributes
    ----------
    name : str
    order : int
        Formal order of accuracy for smooth solutions.
    max_cfl : float
        Largest CFL number c for which the scheme keeps densities non-negative.
    default_cfl : float
    kernel : int
        Which compiled kernel family runs it (``kernels.UPWIND`` or ``kernels.MUSCL``).
        A subclass may reuse a kernel with other limits, e.g. a more cautious default.
    """

    name: str = ""
    order: int = 0
    max_cfl: float = 0.0
    default_cfl: float = 0.0
    kernel: int = -1
    #: regimes the scheme supports
    regimes: tuple = ("kinetic", "overdamped")
    #: True for implicit schemes: ``solve(..., dt=...)`` accepted, diffusion does not limit Δt
    implicit: bool = False


class Upwind(Scheme):
    """First-order upwind fluxes, forward Euler.

    Positivity for c ≤ 1: the new value of a cell is ``f (1 − Δt·out) + inflow`` with
    inflows ≥ 0 and outflow rate ``out ≤ |v_j|/hx + |a|/hv + 2γλ/hv²`` (the drift
    a = γ v_face + G_i increases with v, so at most one v-face of a cell is an outflow face),
    and ``Δt·out ≤ c ≤ 1`` by the step rule.
    """

    name = "upwind"
    order = 1
    max_cfl = 1.0
    default_cfl = 0.9
    kernel = K.UPWIND


class MUSCL(Scheme):
    """MC-limited linear reconstruction on both advective fluxes, central diffusion, SSP-RK2.

    Face values ``f_i ± s_i/2`` with the monotonised-central slope
    ``s_i = minmod(2Δ⁻, (Δ⁻ + Δ⁺)/2, 2Δ⁺)`` lie between neighbouring cell averages, hence in
    ``[0, 2 f_i]`` on the outflow side. Each forward-Euler stage therefore satisfies
    ``f_new ≥ f (1 − 2Δt(|v|/hx + |a|/hv + γλ/hv²)) ≥ f (1 − 2c) ≥ 0`` for c ≤ 1/2
    (the diffusion removes at most ``2γλ/hv²·Δt·f``), and Heun's method
    ``f^{n+1} = ½ f^n + ½ (f^(1) + Δt L(f^(1)))`` is a convex combination of such stages.
    The interaction force is recomputed at the second stage. Should the recomputed drift
    have grown so much that stage 2 would violate ``2Δt(|v|/hx + |a|/hv + γλ/hv²) ≤ 1``,
    the step is redone from stage 1 with the step rule applied to the larger drift (only
    for c ≤ 1/2), so the bound holds for both stages whatever the interaction.
    """

    name = "muscl"
    order = 2
    max_cfl = 0.5
    default_cfl = 0.45
    kernel = K.MUSCL


class SGImplicit(Scheme):
    """Scharfetter–Gummel (Chang–Cooper) exponentially fitted fluxes, implicit TR-BDF2.

    Overdamped only. The drift is the difference quotient of Φ = V + W * ρ at the centres,
    so the discrete Gibbs state ρ_i ∝ exp(−Φ_i/λ) is an exact fixed point. One tridiagonal
    (Thomas) factorisation per step (none when there is no interaction and Δt is constant),
    two solves; the interaction by a predictor–corrector (twice the work). Second order in
    space and time. Positive for every Δt: a TR-BDF2 result with a negative value is
    replaced by its largest non-negative convex combination with the backward-Euler result
    (an M-matrix solve, positive unconditionally; same mass). See :mod:`grids.implicit`.

    Step: ``solve(..., dt=...)`` splits each snapshot interval into equal steps of at most
    dt; without dt, Δt = c · h / max(max_face |∂xΦ|, λ/L) with c = ``cfl``, an advective
    Courant number that bounds the *time error*, not stability (any c > 0 is stable and
    positive, hence ``max_cfl = inf``).
    """

    name = "sg_implicit"
    order = 2
    max_cfl = math.inf
    default_cfl = 4.0
    kernel = IMP.SG_IMPLICIT
    regimes = ("overdamped",)
    implicit = True


class SG2Implicit(SGImplicit):
    """:class:`SGImplicit` with the Péclet-corrected weight of :func:`grids.implicit.fit_weight`.

    Same flux family, fixed point, positivity, step rule and cost; the face rates of
    Scharfetter–Gummel are multiplied by g(P) = (1 + (1 + 1/24) P²)/(1 + P²), which removes
    the O(P²) = O(h²) relative flux error of SG (B(P) e^{P/2} = 1 − P²/24 + …) for small cell
    Péclet numbers P and keeps SG's upwind limit (within 1 + 1/24) for large ones.
    """

    name = "sg2_implicit"
    kernel = IMP.SG2_IMPLICIT


class SGImex(Scheme):
    """Kinetic IMEX: implicit Scharfetter–Gummel velocity part, explicit MUSCL x-transport.

    Kinetic only. Strang splitting ``C(Δt/2) T(Δt) C(Δt/2)``: C solves, row by row in x,
    ``∂t f = ∂v((γv + G_i) f) + γλ ∂v² f`` (friction, force, diffusion) with exponentially
    fitted fluxes and TR-BDF2 (one tridiagonal factorisation per row; a row whose result
    has a negative value is blended with backward Euler), so each row's discrete shifted
    Maxwellian is an exact fixed point of C; T is ``∂t f + v ∂x f = 0`` with the MC-limited MUSCL fluxes
    and Heun's method. Second order in space and time; mass to round-off.

    Step: Δt = c · hx / max|v| — only the transport restricts it (positive for c ≤ 1/2),
    not the friction, force or diffusion in v. ``solve(..., dt=...)`` caps it further
    (equal steps of at most min(dt, c hx/max|v|) per snapshot interval). See
    :mod:`grids.imex`.
    """

    name = "sg_imex"
    order = 2
    max_cfl = 0.5
    default_cfl = 0.45
    kernel = IMEX.SG_IMEX
    regimes = ("kinetic",)
    implicit = True


#: registry of scheme names
SCHEMES = {"upwind": Upwind, "muscl": MUSCL, "sg_implicit": SGImplicit,
           "sg2_implicit": SG2Implicit, "sg_imex": SGImex}


def _resolve_scheme(scheme):
    if isinstance(scheme, str):
        try:
            return SCHEMES[scheme]
        except KeyError:
            raise ValueError(f"unknown scheme {scheme!r}; known: {sorted(SCHEMES)}") from None
    if isinstance(scheme, type) and issubclass(scheme, Scheme):
        cls = scheme
    elif isinstance(scheme, Scheme):
        cls = type(scheme)
    else:
        raise TypeError(f"scheme must be a name in SCHEMES or a Scheme subclass, got {scheme!r}")
    if cls.kernel not in (K.UPWIND, K.MUSCL, IMP.SG_IMPLICIT, IMP.SG2_IMPLICIT, IMEX.SG_IMEX):
        raise ValueError(f"scheme {cls.__name__} has no compiled kernel (kernel={cls.kernel!r})")
    return cls


# ---------------------------------------------------------------------------------------
# result
# ---------------------------------------------------------------------------------------

@dataclass
class GridSolution:
    """Result of :func:`solve`.

    Attributes
    ----------
    status : int
        0 finished, −1 diverged.
    message : str
    success : bool
    scheme : str
    cfl : float
    t : ndarray, shape (n_snap,)
        Snapshot times reached.
    states : list of ndarray
        Snapshot states (shape (nx, nv) or (nx,)).
    diagnostics : dict of str -> ndarray
        Keys ``t, dt, mass, min, boundary_mass, free_energy``, 1-D arrays of equal length,
        sampled every ``diagnostics_every`` steps, at t = 0 and at every snapshot. ``dt`` is
        the step that ended at ``t`` (the first entry: the step the rule proposes at t = 0).
    n_steps : int
    compile_time, solve_time : float
        Seconds spent compiling/loading the kernels and advancing the solution.
    max_boundary_mass : float
        Largest sampled fraction of the mass in the outermost ring of cells.
    """

    status: int
    message: str
    success: bool
    scheme: str
    cfl: float
    t: np.ndarray
    states: list
    diagnostics: dict
    n_steps: int
    compile_time: float
    solve_time: float
    max_boundary_mass: float


# ---------------------------------------------------------------------------------------
# assembling kernel arguments
# ---------------------------------------------------------------------------------------

def _eval(fn, x, name):
    vals = np.asarray(fn(x), dtype=np.float64)
    vals = np.ascontiguousarray(np.broadcast_to(vals, x.shape))
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"{name} is not finite on the grid")
    return vals


def _interaction_tables(problem, offset_force):
    """(has_int, khat_force, khat_energy, twiddles, bitrev)."""
    if problem.interaction is None:
        tw, rev = fft_tables(2)
        dummy = np.zeros(2, dtype=np.complex128)
        return False, dummy, dummy.copy(), tw, rev
    cf = Convolver(problem.grad_interaction, problem.x, offset=offset_force)
    ce = Convolver(problem.interaction, problem.x, offset=0.0)
    return True, cf.kernel_hat, ce.kernel_hat, cf.twiddles, cf.bitrev


class _Kinetic:
    """Packs the arrays of a kinetic problem for :func:`kernels.kinetic_advance`."""

    def __init__(self, problem):
        x, v = problem.x, problem.v
        self.cells = x.cells * v.cells
        self.vc = v.centres.copy()
        self.vf = v.edges.copy()
        self.j0 = int(np.count_nonzero(self.vc <= 0.0))
        self.vmax = float(np.max(np.abs(self.vc)))
        self.Vp = _eval(problem.grad_potential, x.centres, "grad_potential")
        self.Vc = _eval(problem.potential, x.centres, "potential")
        self.v2half = 0.5 * self.vc ** 2
        (self.has_int, self.khat, self.wkhat, self.tw, self.rev) = _interaction_tables(problem, 0.0)
        self.hx, self.hv = x.h, v.h
        self.gamma = float(problem.gamma)
        self.lam = float(problem.temperature)
        self.fixed_dt = 0.0                       # implicit (sg_imex): user step cap (0: rule)
        self.counters = np.zeros(2, dtype=np.int64)  # sg_imex: blended rows, factor sweeps

    def advance(self, kernel, f, g, cfl, t, t_stop, sample_first, sample_at_stop, n_max, step,
                every, diag):
        if kernel == IMEX.SG_IMEX:
            return IMEX.kinetic_imex_advance(
                f, g, self.vc, self.vf, self.j0, self.vmax, self.Vp, self.Vc, self.v2half,
                bool(self.has_int), self.khat, self.wkhat, self.tw, self.rev, float(self.hx),
                float(self.hv), self.gamma, self.lam, float(cfl), float(self.fixed_dt),
                float(t), float(t_stop), bool(sample_first), bool(sample_at_stop),
                int(n_max), int(step), int(every), diag, self.counters,
                bool(self.cells >= K.PARALLEL_MIN_CELLS))
        return K.kinetic_advance(int(kernel), f, g, self.vc, self.vf, self.j0, self.vmax,
                                 self.Vp, self.Vc, self.v2half, bool(self.has_int), self.khat,
                                 self.wkhat, self.tw, self.rev, float(self.hx), float(self.hv),
                                 self.gamma, self.lam, float(cfl), float(t), float(t_stop),
                                 bool(sample_first), bool(sample_at_stop), int(n_max),
                                 int(step), int(every), diag,
                                 bool(self.cells >= K.PARALLEL_MIN_CELLS))


class _Overdamped:
    """Packs the arrays of an overdamped problem for :func:`kernels.overdamped_advance`."""

    def __init__(self, problem):
        x = problem.x
        self.cells = x.cells
        self.Vpf = _eval(problem.grad_potential, x.edges[1:].copy(), "grad_potential")
        self.Vc = _eval(problem.potential, x.centres, "potential")
        (self.has_int, self.khat, self.wkhat, self.tw, self.rev) = _interaction_tables(
            problem, 0.5 * x.h)
        self.h = x.h
        self.lam = float(problem.temperature)
        self.length = x.hi - x.lo
        self.fixed_dt = 0.0                       # implicit schemes: user step (0: rule)
        self.counters = np.zeros(2, dtype=np.int64)  # implicit: blended steps, factorisations

    def advance(self, kernel, r, g, cfl, t, t_stop, sample_first, sample_at_stop, n_max, step,
                every, diag):
        if kernel in (IMP.SG_IMPLICIT, IMP.SG2_IMPLICIT):
            return IMP.sg_advance(r, g, self.Vc, bool(self.has_int), self.wkhat, self.tw,
                                  self.rev, float(self.h), self.lam, float(self.length),
                                  float(cfl), float(self.fixed_dt), float(t), float(t_stop),
                                  bool(sample_first), bool(sample_at_stop), int(n_max),
                                  int(step), int(every), diag, self.counters,
                                  bool(kernel == IMP.SG2_IMPLICIT))
        return K.overdamped_advance(int(kernel), r, g, self.Vpf, self.Vc, bool(self.has_int),
                                    self.khat, self.wkhat, self.tw, self.rev, float(self.h),
                                    self.lam, float(cfl), float(t), float(t_stop),
                                    bool(sample_first), bool(sample_at_stop), int(n_max),
                                    int(step), int(every), diag,
                                    bool(self.cells >= K.PARALLEL_MIN_CELLS))


def _pack(problem):
    if isinstance(problem, KineticProblem):
        return _Kinetic(problem)
    if isinstance(problem, OverdampedProblem):
        return _Overdamped(problem)
    raise TypeError(f"problem must be KineticProblem or OverdampedProblem, got {type(problem)}")


_WARM = set()


def _sq(x):
    return 0.5 * np.asarray(x, dtype=float) ** 2


def _lin(x):
    return np.asarray(x, dtype=float)


def warm_up(kinetic: bool = True) -> float:
    """Compile (or load from the on-disk cache) the kernels of one regime; returns seconds.

    Runs both schemes on a tiny problem with an interaction, with exactly the argument
    types :func:`solve` uses, so later calls do not compile again in this process.
    """
    key = "kinetic" if kinetic else "overdamped"
    if key in _WARM:
        return 0.0
    t0 = time.perf_counter()
    x = Axis(-2.0, 2.0, 6)
    if kinetic:
        prob = KineticProblem(x, Axis(-2.0, 2.0, 6), 1.0, 1.0, _sq, _lin, _sq, _lin)
        state = np.full(prob.shape, 1.0 / 16.0)
    else:
        prob = OverdampedProblem(x, 1.0, _sq, _lin, _sq, _lin)
        state = np.full(prob.shape, 0.25)
    packed = _pack(prob)
    for kernel in (K.UPWIND, K.MUSCL):
        f = state.copy()
        diag = np.empty((8, K.N_DIAG))
        packed.advance(kernel, f, np.empty_like(f), 0.1, 0.0, 1e-3, True, True, 2, 0, 1, diag)
    _WARM.add(key)
    return time.perf_counter() - t0


def _warm_up_implicit() -> float:
    """Compile (or load) the kernels of :class:`SGImplicit`; returns seconds."""
    if "sg_implicit" in _WARM:
        return 0.0
    t0 = time.perf_counter()
    prob = OverdampedProblem(Axis(-2.0, 2.0, 6), 1.0, _sq, _lin, _sq, _lin)
    for p in (prob, OverdampedProblem(prob.x, 1.0, _sq, _lin)):
        packed = _pack(p)
        for fixed in (0.0, 1e-4):
            packed.fixed_dt = fixed
            r = np.full(p.shape, 0.25)
            diag = np.empty((8, K.N_DIAG))
            for kern in (IMP.SG_IMPLICIT, IMP.SG2_IMPLICIT):
                packed.advance(kern, r, np.empty_like(r), 0.1, 0.0, 1e-3, True, True, 2,
                               0, 1, diag)
    _WARM.add("sg_implicit")
    return time.perf_counter() - t0


def _warm_up_imex() -> float:
    """Compile (or load) the kernels of :class:`SGImex`; returns seconds."""
    if "sg_imex" in _WARM:
        return 0.0
    t0 = time.perf_counter()
    x = Axis(-2.0, 2.0, 6)
    for prob in (KineticProblem(x, Axis(-2.0, 2.0, 6), 1.0, 1.0, _sq, _lin, _sq, _lin),
                 KineticProblem(x, Axis(-2.0, 2.0, 6), 1.0, 1.0, _sq, _lin)):
        packed = _pack(prob)
        for fixed in (0.0, 1e-4):
            packed.fixed_dt = fixed
            f = np.full(prob.shape, 1.0 / 16.0)
            diag = np.empty((8, K.N_DIAG))
            packed.advance(IMEX.SG_IMEX, f, np.empty_like(f), 0.1, 0.0, 1e-3, True, True, 2,
                           0, 1, diag)
    _WARM.add("sg_imex")
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------------------
# free energy and boundary mass (NumPy)
# ---------------------------------------------------------------------------------------

def _interaction_energy(problem, rho):
    if problem.interaction is None:
        return 0.0
    conv = Convolver(problem.interaction, problem.x, 0.0)
    return 0.5 * problem.x.h * float(np.dot(rho, conv.numpy_fft(rho)))


def free_energy(problem, state) -> float:
    """Free energy of a grid state (midpoint rule on cell averages).

    Kinetic::

        F[f] = Σ_ij (v_j²/2 + V(x_i)) f_ij hx hv + ½ hx² Σ_ik W(x_i − x_k) ρ_i ρ_k
               + λ Σ_ij f_ij log f_ij hx hv,        ρ_i = hv Σ_j f_ij,  0 log 0 = 0.

    Overdamped: drop v²/2 and use ρ (shape (nx,)) with h.

    Parameters
    ----------
    problem : KineticProblem or OverdampedProblem
    state : ndarray, shape ``problem.shape``

    Returns
    -------
    float
    """
    s = np.asarray(state, dtype=np.float64)
    if s.shape != problem.shape:
        raise ValueError(f"state has shape {s.shape}, expected {problem.shape}")
    lam = problem.temperature
    V = np.asarray(problem.potential(problem.x.centres), dtype=float)
    pos = s > 0.0
    ent = np.zeros_like(s)
    ent[pos] = s[pos] * np.log(s[pos])
    if isinstance(problem, KineticProblem):
        hx, hv = problem.x.h, problem.v.h
        vc = problem.v.centres
        e = np.sum((0.5 * vc[None, :] ** 2 + V[:, None]) * s) * hx * hv
        rho = s.sum(axis=1) * hv
        return float(e + lam * ent.sum() * hx * hv + _interaction_energy(problem, rho))
    h = problem.x.h
    return float(np.sum(V * s) * h + lam * ent.sum() * h + _interaction_energy(problem, s))


def boundary_mass(state) -> float:
    """Fraction of the total mass in the outermost ring of cells.

    Kinetic (2-D): first and last x row and first and last v column; overdamped (1-D):
    first and last cell.
    """
    s = np.asarray(state, dtype=np.float64)
    tot = s.sum()
    if s.ndim == 1:
        ring = s[0] + s[-1]
    else:
        ring = s[0].sum() + s[-1].sum() + s[1:-1, 0].sum() + s[1:-1, -1].sum()
    return float(ring / tot)


# ---------------------------------------------------------------------------------------
# solve
# ---------------------------------------------------------------------------------------

_DIAG_KEYS = ("t", "dt", "mass", "min", "boundary_mass", "free_energy")


def solve(problem, initial, snapshots, *, scheme="upwind", cfl=None, diagnostics_every=10,
          on_snapshot=None, on_progress=None, check_cfl=True, dt=None,
          on_diagnostics=None) -> GridSolution:
    """Solve a kinetic or overdamped problem from t = 0 to ``snapshots[-1]``.

    Parameters
    ----------
    problem : KineticProblem or OverdampedProblem
    initial : array_like, shape ``problem.shape``
        Cell averages at t = 0 (density normalisation: ``sum(f) * hx * hv`` = mass).
    snapshots : array_like, shape (n_snap,)
        Strictly increasing times in [0, t_end]; ``t_end = snapshots[-1]``.
    scheme : str or Scheme subclass
        ``"upwind"`` (default), ``"muscl"``, (overdamped) ``"sg_implicit"``,
        ``"sg2_implicit"`` or (kinetic) ``"sg_imex"``, see :data:`SCHEMES`.
    cfl : float, optional
        CFL number c of the step rule; default ``scheme.default_cfl``. Must lie in
        ``(0, scheme.max_cfl]`` unless ``check_cfl=False``.
    diagnostics_every : int
        Sample the diagnostics every this many steps (plus t = 0 and each snapshot).
    on_snapshot : callable(index, t, state), optional
        Called as soon as each snapshot is reached, with a copy of the state.
    on_diagnostics : callable(dict of str -> ndarray), optional
        Called with each new batch of diagnostic samples (keys as in
        ``GridSolution.diagnostics``), before the snapshot or progress callbacks of the
        same chunk, so a caller can store them as the run goes.
    on_progress : callable(t, n_steps), optional
        Called after every compiled chunk of steps.
    check_cfl : bool
        Reject ``cfl > scheme.max_cfl`` (set False to force a possibly unstable run).
    dt : float, optional
        Implicit schemes only (``"sg_implicit"``, ``"sg2_implicit"``, ``"sg_imex"``):
        largest time step; every interval between snapshots is split into equal steps of
        at most ``dt`` (overdamped: ``cfl`` is then unused; ``sg_imex``: at most
        ``min(dt, cfl·hx/max|v|)``, the transport's bound).

    Returns
    -------
    GridSolution
        Divergence (non-finite value or min < −1e-10 max|f|) is reported through
        ``status = -1`` and ``message``; it never raises.
    """
    cls = _resolve_scheme(scheme)
    if cfl is None:
        cfl = cls.default_cfl
    try:
        cfl = float(cfl)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cfl must be a real number, got {cfl!r}") from exc
    if not (math.isfinite(cfl) and cfl > 0.0):
        raise ValueError(f"cfl must be finite and > 0, got {cfl}")
    if check_cfl and cfl > cls.max_cfl:
        raise ValueError(f"cfl={cfl} exceeds the limit {cls.max_cfl} of scheme {cls.name!r} "
                         f"(largest CFL number that keeps the density non-negative)")
    if isinstance(diagnostics_every, bool) or int(diagnostics_every) != diagnostics_every \
            or diagnostics_every < 1:
        raise ValueError(f"diagnostics_every must be a positive integer, got {diagnostics_every!r}")
    every = int(diagnostics_every)
    snaps = np.atleast_1d(np.asarray(snapshots, dtype=np.float64))
    if snaps.ndim != 1 or snaps.size == 0:
        raise ValueError("snapshots must be a non-empty 1-D sequence of times")
    if not np.all(np.isfinite(snaps)) or snaps[0] < 0.0 or np.any(np.diff(snaps) <= 0.0):
        raise ValueError(f"snapshots must be finite, >= 0 and strictly increasing, got {snaps}")
    packed = _pack(problem)
    kinetic = isinstance(problem, KineticProblem)
    regime = "kinetic" if kinetic else "overdamped"
    if regime not in cls.regimes:
        raise ValueError(f"scheme {cls.name!r} supports only the {', '.join(cls.regimes)} "
                         f"regime, not {regime}")
    if dt is not None:
        if not cls.implicit:
            raise ValueError(f"dt is only accepted by implicit schemes, not {cls.name!r} "
                             f"(explicit steps follow the CFL rule)")
        packed.fixed_dt = _positive("dt", dt)
    state = np.array(initial, dtype=np.float64, order="C", copy=True)
    if state.shape != problem.shape:
        raise ValueError(f"initial has shape {state.shape}, expected {problem.shape}")
    if not np.all(np.isfinite(state)):
        raise ValueError("initial contains non-finite values")
    if state.min() < -K.NEG_TOL * np.max(np.abs(state)):
        raise ValueError(f"initial density is negative (min {state.min():.3g})")

    if cls.kernel == IMEX.SG_IMEX:
        compile_time = _warm_up_imex()
    elif cls.kernel in (IMP.SG_IMPLICIT, IMP.SG2_IMPLICIT):
        compile_time = _warm_up_implicit()
    else:
        compile_time = warm_up(kinetic)
    t_start = time.perf_counter()
    spare = np.empty_like(state)
    n_max = max(1, int(_CHUNK_WORK / packed.cells))
    buf_len = n_max // every + 3
    diag_parts = []
    times, states = [], []
    t = 0.0
    step = 0
    k = 0
    status, message = 0, ""

    def deliver(index, time_):
        snap = state.copy()
        times.append(time_)
        states.append(snap)
        if on_snapshot is not None:
            on_snapshot(index, time_, state.copy())

    sample_first = True
    if snaps[0] == 0.0:
        diag = np.empty((1, K.N_DIAG))
        packed.advance(cls.kernel, state, spare, cfl, 0.0, 0.0, True, False, 0, 0, every, diag)
        diag_parts.append(diag)
        if on_diagnostics is not None:
            on_diagnostics({key: diag[:, c].copy() for c, key in enumerate(_DIAG_KEYS)})
        sample_first = False
        deliver(0, 0.0)
        k = 1
    while k < snaps.size:
        t_stop = float(snaps[k])
        diag = np.empty((buf_len, K.N_DIAG))
        st, t, n, step, nd, dt, mn, mx = packed.advance(
            cls.kernel, state, spare, cfl, t, t_stop, sample_first, True, n_max, step, every,
            diag)
        sample_first = False
        diag_parts.append(diag[:nd])
        if on_diagnostics is not None and nd:
            on_diagnostics({key: diag[:nd, c].copy() for c, key in enumerate(_DIAG_KEYS)})
        if on_progress is not None:
            on_progress(t, step)
        if st == -1:
            status = -1
            what = (f"negative density {mn:.3g} (max {mx:.3g})"
                    if np.isfinite(mn) and np.isfinite(mx) else "non-finite value")
            message = f"diverged at t={t:.6g} (step {step}): {what}"
            break
        if st == 0:
            deliver(k, t_stop)
            k += 1
    solve_time = time.perf_counter() - t_start

    allv = np.concatenate(diag_parts, axis=0) if diag_parts else np.empty((0, K.N_DIAG))
    diagnostics = {key: allv[:, c].copy() for c, key in enumerate(_DIAG_KEYS)}
    bm = diagnostics["boundary_mass"]
    max_bm = float(np.nanmax(bm)) if bm.size and np.any(np.isfinite(bm)) else float("nan")
    if status == 0:
        message = f"finished at t={t:.6g} after {step} steps"
        if cls.implicit:
            what = "rows" if kinetic else "steps"
            message += f" ({int(packed.counters[0])} {what} blended with backward Euler)"
        if max_bm > BOUNDARY_WARN:
            message += (f"; warning: up to {max_bm:.2e} of the mass sat in the outermost cells,"
                        f" the domain may be too small")
    return GridSolution(status=status, message=message, success=status == 0, scheme=cls.name,
                        cfl=cfl, t=np.asarray(times, dtype=float), states=states,
                        diagnostics=diagnostics, n_steps=step, compile_time=compile_time,
                        solve_time=solve_time, max_boundary_mass=max_bm)
