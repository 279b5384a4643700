"""Grid (Eulerian) solver of the kinetic and overdamped mean-field Fokker–Planck equations.

Kinetic (``KineticProblem``), unknown f(t, x, v) on ``x × v``::

    ∂t f + v ∂x f = ∂v((γ v + G) f) + γλ ∂v² f,   G = V'(x) + (W' * ρ)(x),  ρ = ∫ f dv

Overdamped (``OverdampedProblem``), unknown ρ(t, x)::

    ∂t ρ = ∂x((V' + W' * ρ) ρ) + λ ∂x² ρ

Conservative finite volumes on cell averages (see :mod:`grids.kernels` for the fluxes):
no flux through the overdamped ends and the kinetic v-ends; the kinetic x-ends are
specular walls, as for the particles (mass leaving at velocity v re-enters the wall cell
at −v, which needs a v-axis symmetric about 0); explicit time steps chosen every step from the
current state,

    Δt = c / (max|v|/hx + max|a|/hv + 2γλ/hv²)      (kinetic, a = γ v_face + G)
    Δt = c / (max_i out_i/h + 2λ/h²)                 (overdamped, a = V' + W' * ρ at faces,
         out_i = max(−a_{i+1/2}, 0) + max(a_{i−1/2}, 0))

(max|v| over the v-centres, max|a| and out_i over the interior faces, the only ones that
carry a flux; each denominator bounds every cell's total outflow rate, see
:mod:`grids.explicit`) and shortened to land exactly on every snapshot. The time loop is compiled (Numba): one
call advances many steps.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from .convolution import Convolver
from .driver import DIAG_KEYS, N_DIAG, NEG_TOL
from .explicit import MUSCL, Upwind
from .grid import Axis
from .imex import SGImex
from .kinetic2d import KineticProblem2D, marginals as _marginals_2d, scheme_2d
from .implicit import SG2Implicit, SGImplicit
from .overdamped2d import OverdampedProblem2D, scheme_2d as _overdamped_scheme_2d
from .scheme import Scheme, check_energy, compiled_energy, control

__all__ = ["KineticProblem", "OverdampedProblem", "KineticProblem2D", "OverdampedProblem2D",
           "solve", "GridSolution", "SCHEMES", "Scheme",
           "Upwind", "MUSCL", "SGImplicit", "SG2Implicit", "SGImex", "free_energy",
           "boundary_mass", "warm_up", "cell_measure", "energy_value"]

#: boundary-mass fraction above which the run's message warns that the domain is too small
BOUNDARY_WARN = 1e-6

# cells × steps per compiled call (bounds the time between progress callbacks)
_CHUNK_WORK = 6e7
# fewest steps per compiled call, even: each call starts with a pass over the state (its
# sums and extrema) and ends with a copy when it took an odd number of steps, which at
# one step per call (128⁴) tripled the cost of a step
_CHUNK_MIN_STEPS = 8


def chunk_steps(cells: int) -> int:
    """Steps per compiled call of the time loop for a state of ``cells`` cells: about
    ``_CHUNK_WORK / cells``, at least ``_CHUNK_MIN_STEPS``, even."""
    n = max(_CHUNK_MIN_STEPS, int(_CHUNK_WORK / cells))
    return n + n % 2


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
    energy : object or None
        A mean-field energy F (DESIGN §9, :mod:`grids.meanfield`): its drift
        ∂x δF/δμ(ρ) is added to the force, F to the free energy. One that packs itself
        (:class:`~grids.meanfield.TwoLayerNetwork`) runs inside the compiled loop;
        any other object with ``value(points, weights)`` and ``drift(query, points,
        weights)`` is called from Python once per step (slower; its drift is frozen over
        the step, see :func:`solve`).

    Raises
    ------
    ValueError
        If the v-axis is not symmetric about 0 (``v.lo == −v.hi`` within round-off,
        relative 1e-12). The x-ends are specular walls, as for the particles: mass leaving
        through a wall at velocity v re-enters the wall cell at −v, which needs the
        velocity cells in mirror pairs (conservative and positive only then). The v-ends
        are zero-flux faces.
    """

    x: Axis
    v: Axis
    gamma: float
    temperature: float
    potential: Callable
    grad_potential: Callable
    interaction: Optional[Callable] = None
    grad_interaction: Optional[Callable] = None
    energy: Optional[object] = None

    def __post_init__(self):
        if not isinstance(self.x, Axis) or not isinstance(self.v, Axis):
            raise TypeError("KineticProblem: x and v must be grids.grid.Axis")
        lo, hi = self.v.lo, self.v.hi
        if abs(lo + hi) > 1e-12 * max(abs(lo), abs(hi)):
            raise ValueError(
                f"KineticProblem: the v-axis must be symmetric about 0 (v.lo == -v.hi), got "
                f"[{lo:g}, {hi:g}]: the x-walls reflect specularly (v -> -v), which pairs "
                f"each velocity cell with its mirror")
        self.gamma = _positive("gamma", self.gamma)
        self.temperature = _positive("temperature", self.temperature)
        _check_pair(self)
        check_energy(self.energy, 1)

    @property
    def shape(self):
        """State shape ``(x.cells, v.cells)``."""
        return (self.x.cells, self.v.cells)


@dataclass
class OverdampedProblem:
    """Overdamped Fokker–Planck problem on the axis ``x``; state shape ``(x.cells,)``.

    Parameters as in :class:`KineticProblem` without ``v`` and ``gamma``; the drift of
    ``energy`` is added at the faces: ∂t ρ = ∂x(ρ ∂x(V + W * ρ + δF/δμ)) + λ ∂x² ρ, as
    (Φ_{i+1} − Φ_i)/h with Φ = δF/δμ at the centres (one network evaluation per stage; a
    Python energy without ``first_variation``: its ``drift`` at the faces).
    """

    x: Axis
    temperature: float
    potential: Callable
    grad_potential: Callable
    interaction: Optional[Callable] = None
    grad_interaction: Optional[Callable] = None
    energy: Optional[object] = None

    def __post_init__(self):
        if not isinstance(self.x, Axis):
            raise TypeError("OverdampedProblem: x must be a grids.grid.Axis")
        self.temperature = _positive("temperature", self.temperature)
        _check_pair(self)
        check_energy(self.energy, 1)

    @property
    def shape(self):
        """State shape ``(x.cells,)``."""
        return (self.x.cells,)


# ---------------------------------------------------------------------------------------
# schemes
# ---------------------------------------------------------------------------------------

#: registry of the schemes by name (a :class:`~grids.scheme.Scheme` subclass each)
SCHEMES = {cls.name: cls for cls in (Upwind, MUSCL, SGImplicit, SG2Implicit, SGImex)}


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
    if cls.functions is Scheme.functions:
        raise ValueError(f"scheme {cls.__name__} defines no compiled step (Scheme.functions)")
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
        Snapshot states (shape (nx, nv) or (nx,); 2x2v: (nx1, nx2, nv1, nv2)); empty
        when ``solve(..., keep_states=False)``.
    diagnostics : dict of str -> ndarray
        Keys ``t, dt, mass, min, boundary_mass, free_energy``, 1-D arrays of equal length,
        sampled every ``diagnostics_every`` steps, at t = 0 and at every snapshot. ``dt`` is
        the step that ended at ``t`` (the first entry: the step the rule proposes at t = 0).
    n_steps : int
    compile_time, solve_time : float
        Seconds spent compiling/loading the kernels and advancing the solution.
    max_boundary_mass : float
        Largest sampled fraction of the mass in the outermost ring of cells (the mass at
        the walls, diagnostics key ``boundary_mass``). Overdamped: the two end cells, next
        to zero-flux faces. Kinetic: the first and last x-rows and the first and last
        v-columns. The x-ends are specular walls, as for the particles, so mass in the
        x-end rows is a legitimate part of a run in a box (it reflects there); mass in
        the v-end columns means the velocity grid is too short (its faces carry no flux,
        truncating the Maxwellian tails).
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
    #: x-marginal at every snapshot: (nx,) in d = 1 (the state itself when overdamped),
    #: (nx1, nx2) in 2x2v
    rho: list = field(default_factory=list)
    #: v-marginal at every snapshot (kinetic): (nv,) in d = 1, (nv1, nv2) in 2x2v
    g: list = field(default_factory=list)


def _marginals(problem, state):
    """(x-marginal, v-marginal or None) of a grid state."""
    if isinstance(problem, KineticProblem2D):
        return _marginals_2d(problem, state)
    if isinstance(problem, KineticProblem):
        return state.sum(axis=1) * problem.v.h, state.sum(axis=0) * problem.x.h
    return state.copy(), None


# ---------------------------------------------------------------------------------------
# warm-up
# ---------------------------------------------------------------------------------------

def _sq(x):
    return 0.5 * np.asarray(x, dtype=float) ** 2


def _lin(x):
    return np.asarray(x, dtype=float)


def warm_up(kinetic: bool = True, schemes=("upwind", "muscl"), parallel=(False, True),
            interaction=True) -> float:
    """Compile (or load from the on-disk cache) the time loops of ``schemes`` in one regime;
    returns seconds.

    :func:`solve` compiles only the loop a run uses; this is for benchmarks and for
    preparing a cache ahead of many runs. The argument types do not depend on whether
    the problem has an interaction (``interaction`` only chooses the tiny problem).
    """
    t0 = time.perf_counter()
    x = Axis(-2.0, 2.0, 6)
    extra = (_sq, _lin) if interaction else ()
    if kinetic:
        prob = KineticProblem(x, Axis(-2.0, 2.0, 6), 1.0, 1.0, _sq, _lin, *extra)
    else:
        prob = OverdampedProblem(x, 1.0, _sq, _lin, *extra)
    regime = "kinetic" if kinetic else "overdamped"
    state = np.full(prob.shape, 1.0)
    for name in schemes:
        cls = _resolve_scheme(name)
        if regime not in cls.regimes:
            continue
        for par in parallel:
            cls.warm_up(regime, state, cls.pack(prob, par), par)
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
    """Free energy of a grid state (midpoint rule on cell averages): with an energy F,
    the whole MFLD objective.

    Kinetic::

        F[f] = Σ_ij (v_j²/2 + V(x_i)) f_ij hx hv + ½ hx² Σ_ik W(x_i − x_k) ρ_i ρ_k
               + λ Σ_ij f_ij log f_ij hx hv + F(μ),   ρ_i = hv Σ_j f_ij,  0 log 0 = 0,

    μ the measure with masses ρ_i hx at the x-centres (:func:`cell_measure`).

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
        return float(e + lam * ent.sum() * hx * hv + _interaction_energy(problem, rho)
                     + energy_value(problem, s))
    h = problem.x.h
    return float(np.sum(V * s) * h + lam * ent.sum() * h + _interaction_energy(problem, s)
                 + energy_value(problem, s))


def cell_measure(problem, state):
    """The x-marginal of a grid state as a measure: (points (n, d), weights (n,)), the
    x-centres (C order of the x-cells) with the cell masses (ρ_i h, ρ_ij h1 h2)."""
    s = np.asarray(state, dtype=np.float64)
    if isinstance(problem, KineticProblem):
        return problem.x.centres[:, None], s.sum(axis=1) * (problem.v.h * problem.x.h)
    if isinstance(problem, OverdampedProblem):
        return problem.x.centres[:, None], s * problem.x.h
    if isinstance(problem, OverdampedProblem2D):
        x1, x2 = problem.x1, problem.x2
        masses = s * (x1.h * x2.h)
    elif isinstance(problem, KineticProblem2D):
        x1, x2 = problem.x1, problem.x2
        masses = s.sum(axis=(2, 3)) * problem.cell_volume
    else:
        raise TypeError(f"not a grid problem: {type(problem).__name__}")
    X1, X2 = np.meshgrid(x1.centres, x2.centres, indexing="ij")
    return np.column_stack([X1.ravel(), X2.ravel()]), masses.ravel()


def energy_value(problem, state) -> float:
    """F(ρ) of the problem's energy at the x-marginal of ``state`` (0 without an energy)."""
    energy = getattr(problem, "energy", None)
    if energy is None:
        return 0.0
    return float(energy.value(*cell_measure(problem, state)))


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


def _python_energy_loop(problem, packed, loop, scheme_name):
    """The compiled loop wrapped for a Python energy (one step per call): before each
    call the energy's drift (SG schemes: its first variation δF/δμ) at the packed query
    points is computed from the current state and written into ``packed.mf.out``, which
    the compiled steps read instead of evaluating a network (a tabulated drift, frozen
    over the step); after it the energy's value is added to the free-energy column of
    the diagnostics rows written (the compiled sample adds 0 for a Python energy)."""
    energy = problem.energy
    mf = packed.mf
    if mf.potential and not callable(getattr(energy, "first_variation", None)):
        raise ValueError(f"scheme {scheme_name!r} reads the potential δF/δμ itself: a Python "
                         f"energy needs first_variation(query, points, weights) for it "
                         f"(or use upwind or muscl)")
    fe = DIAG_KEYS.index("free_energy")

    def run(state, spare, packed_, control_, diag, counters):
        points, weights = cell_measure(problem, state)
        if mf.potential:
            mf.out[:, 0] = np.asarray(energy.first_variation(mf.query, points, weights),
                                      dtype=float).reshape(-1)
        else:
            mf.out[...] = np.asarray(energy.drift(mf.query, points, weights),
                                     dtype=float).reshape(mf.out.shape)
        sample_first = control_[4]
        first_value = energy.value(points, weights) if sample_first else 0.0
        result = loop(state, spare, packed_, control_, diag, counters)
        nd = result[4]
        k0 = 0
        if sample_first and nd > 0:
            diag[0, fe] += first_value
            k0 = 1
        if nd > k0:
            diag[k0:nd, fe] += energy.value(*cell_measure(problem, state))
        return result
    return run


def solve(problem, initial, snapshots, *, scheme="upwind", cfl=None, diagnostics_every=10,
          on_snapshot=None, on_progress=None, check_cfl=True, dt=None,
          on_diagnostics=None, keep_states=True) -> GridSolution:
    """Solve a kinetic or overdamped problem from t = 0 to ``snapshots[-1]``.

    Parameters
    ----------
    problem : KineticProblem, OverdampedProblem or KineticProblem2D
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
    keep_states : bool
        Keep every snapshot state in ``GridSolution.states`` (default); False keeps none
        (``on_snapshot`` still receives each state; the marginals ``rho`` and ``g`` are
        kept either way) — for 4-D states that do not fit in memory many times.

    Notes
    -----
    With an ``energy`` on the problem, the diagnostics' ``free_energy`` is the whole
    MFLD objective (energy included). A :class:`~grids.meanfield.TwoLayerNetwork`
    (anything whose ``pack()`` gives :class:`~grids.meanfield.NetworkArrays`) is
    evaluated inside the compiled loop at every stage. Any other energy is a *Python
    energy*: the loop then runs one step per call, and before each step its ``drift``
    (``first_variation`` for the ``sg_*`` overdamped schemes) is evaluated once from
    Python at the current state; the steps read that table, so a multi-stage scheme
    (muscl, the SG predictor–corrector) keeps the energy's drift frozen over the step
    (first order in time in that term). With ``upwind`` both paths give the same
    numbers.

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
    if isinstance(problem, KineticProblem):
        regime = "kinetic"
    elif isinstance(problem, OverdampedProblem):
        regime = "overdamped"
    elif isinstance(problem, OverdampedProblem2D):
        regime = "overdamped2d"
        cls = _overdamped_scheme_2d(cls)
    elif isinstance(problem, KineticProblem2D):
        regime = "kinetic2d"
        cls = scheme_2d(cls)
    else:
        raise TypeError(f"problem must be KineticProblem, OverdampedProblem, "
                        f"KineticProblem2D or OverdampedProblem2D, got {type(problem)}")
    if regime not in cls.regimes:
        raise ValueError(f"scheme {cls.name!r} supports only the {', '.join(cls.regimes)} "
                         f"regime, not {regime}")
    if dt is not None:
        if not cls.implicit:
            raise ValueError(f"dt is only accepted by implicit schemes, not {cls.name!r} "
                             f"(explicit steps follow the CFL rule)")
        dt_fixed = _positive("dt", dt)
    else:
        dt_fixed = 0.0
    state = np.array(initial, dtype=np.float64, order="C", copy=True)
    if state.shape != problem.shape:
        raise ValueError(f"initial has shape {state.shape}, expected {problem.shape}")
    if not np.all(np.isfinite(state)):
        raise ValueError("initial contains non-finite values")
    if state.min() < -NEG_TOL * np.max(np.abs(state)):
        raise ValueError(f"initial density is negative (min {state.min():.3g})")

    parallel = bool(cls.parallel(problem))
    packed = cls.pack(problem, parallel)
    compile_time = cls.warm_up(regime, state, packed, parallel)
    loop = cls.loop(regime, parallel)
    counters = np.zeros(2, dtype=np.int64)
    t_start = time.perf_counter()
    spare = np.empty_like(state)
    n_max = chunk_steps(state.size)
    energy = getattr(problem, "energy", None)
    if energy is not None and compiled_energy(energy) is None:
        loop = _python_energy_loop(problem, packed, loop, cls.name)
        n_max = 1
    buf_len = n_max // every + 3
    diag_parts = []
    times, states, rhos, gs = [], [], [], []
    t = 0.0
    step = 0
    k = 0
    status, message = 0, ""

    def deliver(index, time_):
        times.append(time_)
        if keep_states:
            states.append(state.copy())
        rho_, g_ = _marginals(problem, state)
        rhos.append(rho_)
        if g_ is not None:
            gs.append(g_)
        if on_snapshot is not None:
            on_snapshot(index, time_, state.copy())

    sample_first = True
    if snaps[0] == 0.0:
        diag = np.empty((1, N_DIAG))
        loop(state, spare, packed, control(cfl, dt_fixed, 0.0, 0.0, True, False, 0, 0, every),
             diag, counters)
        diag_parts.append(diag)
        if on_diagnostics is not None:
            on_diagnostics({key: diag[:, c].copy() for c, key in enumerate(DIAG_KEYS)})
        sample_first = False
        deliver(0, 0.0)
        k = 1
    while k < snaps.size:
        t_stop = float(snaps[k])
        diag = np.empty((buf_len, N_DIAG))
        st, t, n, step, nd, dt, mn, mx = loop(
            state, spare, packed,
            control(cfl, dt_fixed, t, t_stop, sample_first, True, n_max, step, every), diag,
            counters)
        sample_first = False
        diag_parts.append(diag[:nd])
        if on_diagnostics is not None and nd:
            on_diagnostics({key: diag[:nd, c].copy() for c, key in enumerate(DIAG_KEYS)})
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

    allv = np.concatenate(diag_parts, axis=0) if diag_parts else np.empty((0, N_DIAG))
    diagnostics = {key: allv[:, c].copy() for c, key in enumerate(DIAG_KEYS)}
    bm = diagnostics["boundary_mass"]
    max_bm = float(np.nanmax(bm)) if bm.size and np.any(np.isfinite(bm)) else float("nan")
    if status == 0:
        message = f"finished at t={t:.6g} after {step} steps"
        if cls.counts:
            message += f" ({int(counters[0])} {cls.counts} blended with backward Euler)"
        if max_bm > BOUNDARY_WARN:
            if regime in ("kinetic", "kinetic2d"):
                message += (f"; note: up to {max_bm:.2e} of the mass sat in the outermost "
                            f"cells (x-walls reflect it; v-ends truncate the velocity grid)")
            else:
                message += (f"; warning: up to {max_bm:.2e} of the mass sat in the outermost "
                            f"cells, the domain may be too small")
    return GridSolution(status=status, message=message, success=status == 0, scheme=cls.name,
                        cfl=cfl, t=np.asarray(times, dtype=float), states=states,
                        diagnostics=diagnostics, n_steps=step, compile_time=compile_time,
                        solve_time=solve_time, max_boundary_mass=max_bm, rho=rhos, g=gs)
