"""The base class of the time-stepping schemes and the packing of problems into arrays.

A scheme is a subclass of :class:`Scheme` that states its limits (``max_cfl``,
``default_cfl``, ``regimes``, ``implicit``) and provides, per regime, three functions
for the shared time loop of :mod:`grids.driver`: ``SETUP`` (its scratch, called from
Python), ``RULE`` (its step rule) and ``STEP`` (one step), the last two compiled.
Everything else — the loop, the serial or parallel build, the warm-up, the packing of the
problem — is inherited. See
``docs_add_a_scheme.md`` for a worked example.
"""

from __future__ import annotations

import time

import numpy as np

from .convolution import Convolver
from .driver import N_DIAG, variant
from .grid import symmetric_centres
from .kernels import (KINETIC, OVERDAMPED, N_BLOCKS, PARALLEL_MIN_CELLS, KineticArrays,
                      MeanFieldArrays, OverdampedArrays)
from .meanfield import STORE_MAX_ENTRIES, NetworkArrays

__all__ = ["Scheme", "pack_kinetic", "pack_overdamped", "pack_energy", "pack_energy_faces",
           "energy_has_potential", "compiled_energy",
           "check_energy", "control"]


def compiled_energy(energy):
    """The energy's :class:`~grids.meanfield.NetworkArrays` when it packs itself for the
    compiled kernels (``energy.pack()``), else None (a Python energy, or no energy)."""
    if energy is None or not hasattr(energy, "pack"):
        return None
    net = energy.pack()
    return net if isinstance(net, NetworkArrays) else None


def check_energy(energy, dimension):
    """Validate a problem's ``energy`` (None, or an object with callable ``value`` and
    ``drift`` and, if it says, ``dimension`` equal to the x-dimension); returns it."""
    if energy is None:
        return None
    for name in ("value", "drift"):
        if not callable(getattr(energy, name, None)):
            raise TypeError(f"energy must have a callable {name}(...) (the energy protocol "
                            f"of grids.meanfield), got {type(energy).__name__}")
    d = getattr(energy, "dimension", None)
    if d is not None and int(d) != dimension:
        raise ValueError(f"energy acts on R^{int(d)} but the grid's x-space is R^{dimension}")
    return energy


def pack_energy(energy, points, query, potential=False):
    """:data:`grids.kernels.MeanFieldArrays` of ``energy`` for the measure on ``points``
    (n, d) evaluated at ``query`` (q, d); None when ``energy`` is None.

    ``potential``: the steps read δF/δμ (shape (q, 1)) rather than ∇x δF/δμ (q, d).
    A Python energy (no ``pack``) gets ``tabulated=True`` and a placeholder network of the
    same Numba type: the solver fills ``out`` itself. A network queried at its own points
    gets an activation store (n, M) (when n·M ≤ STORE_MAX_ENTRIES): σ is evaluated once
    per stage.
    """
    return _pack_energy(energy, points, query, potential, False)


def pack_energy_faces(energy, points, faces):
    """:data:`grids.kernels.MeanFieldArrays` for the overdamped explicit schemes (measure on
    the centres ``points`` (n, d)), None when ``energy`` is None.

    When the energy gives Φ = δF/δμ (:func:`energy_has_potential`), ``out`` holds Φ at the
    centres (n, 1) and ``differences`` is True: the steps take the face drift as
    (Φ_{i+1} − Φ_i)/h, second order at the face midpoint (the discretisation of
    Scharfetter–Gummel), one activation pass per stage. A Python energy with ``drift`` only
    is queried at ``faces`` (q, d) instead (``differences`` False, ∇x δF/δμ there).
    """
    if energy_has_potential(energy):
        return _pack_energy(energy, points, points, True, True)
    return pack_energy(energy, points, faces)


def energy_has_potential(energy):
    """Whether the overdamped explicit steps can take the energy's Φ = δF/δμ at the centres
    (a network, or a Python energy with ``first_variation``); else its drift at the faces."""
    return compiled_energy(energy) is not None or callable(getattr(energy, "first_variation",
                                                                   None))


def _pack_energy(energy, points, query, potential, differences):
    if energy is None:
        return None
    net = compiled_energy(energy)
    points = np.ascontiguousarray(points, dtype=np.float64)
    query = np.ascontiguousarray(query, dtype=np.float64)
    tabulated = net is None
    if tabulated:
        net = NetworkArrays(np.zeros((1, 1)), np.zeros(1), 0, False, 0.0)
    at_points = bool(query.shape == points.shape and np.array_equal(query, points))
    n, m = points.shape[0], net.z.shape[0]
    keep = not tabulated and at_points and n * m <= STORE_MAX_ENTRIES
    width = 1 if potential else query.shape[1]
    return MeanFieldArrays(net=net, points=points, query=query,
                           weights=np.zeros(n), resid=np.zeros(m),
                           out=np.zeros((query.shape[0], width)), potential=bool(potential),
                           tabulated=bool(tabulated), store=np.zeros((n if keep else 0, m)),
                           at_points=at_points, differences=bool(differences))


def _eval(fn, x, name):
    vals = np.asarray(fn(x), dtype=np.float64)
    vals = np.ascontiguousarray(np.broadcast_to(vals, x.shape))
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"{name} is not finite on the grid")
    return vals


def _interaction_tables(problem, offset_force):
    """(has_int, khat_force, khat_energy, tw, rev); the transforms are None without an
    interaction, so that the compiled code for that case has no FFT.

    ``tw`` and ``rev`` are empty arrays (complex128, int64): the fields of the former
    radix-2 FFT's tables, kept so that the packed tuples and the force functions keep
    their fields and signatures; :func:`grids.convolution.conv_apply` needs only the
    kernel transform.
    """
    tw, rev = np.empty(0, dtype=np.complex128), np.empty(0, dtype=np.int64)
    if problem.interaction is None:
        return False, None, None, tw, rev
    cf = Convolver(problem.grad_interaction, problem.x, offset=offset_force)
    ce = Convolver(problem.interaction, problem.x, offset=0.0)
    return True, cf.kernel_hat, ce.kernel_hat, tw, rev


def pack_kinetic(problem):
    """:class:`grids.kernels.KineticArrays` of a kinetic problem (``has_int`` also True
    with an energy: the force then depends on the state; the energy's drift at the
    x-centres, ``mf``)."""
    x, v = problem.x, problem.v
    energy = getattr(problem, "energy", None)
    vc = symmetric_centres(v)          # exact mirror pairs for the specular x-walls
    has_int, khat, wkhat, tw, rev = _interaction_tables(problem, 0.0)
    return KineticArrays(
        vc=vc, vf=v.edges.copy(), Vp=_eval(problem.grad_potential, x.centres, "grad_potential"),
        Vc=_eval(problem.potential, x.centres, "potential"), v2half=0.5 * vc ** 2, khat=khat,
        wkhat=wkhat, tw=tw, rev=rev, j0=int(np.count_nonzero(vc <= 0.0)),
        vmax=float(np.max(np.abs(vc))), has_int=bool(has_int or energy is not None),
        hx=float(x.h), hv=float(v.h), gamma=float(problem.gamma),
        lam=float(problem.temperature),
        mf=pack_energy(energy, x.centres[:, None], x.centres[:, None]))


def pack_overdamped(problem, parallel):
    """:class:`grids.kernels.OverdampedArrays` of an overdamped problem; the update's
    partial sums run over ``min(N_BLOCKS, n)`` blocks when ``parallel``, else one. With an
    energy, ``has_int`` is True (a state-dependent drift) and ``mf`` gives its drift at
    the right faces (:func:`pack_energy_faces`)."""
    x = problem.x
    energy = getattr(problem, "energy", None)
    has_int, khat, wkhat, tw, rev = _interaction_tables(problem, 0.5 * x.h)
    return OverdampedArrays(
        Vpf=_eval(problem.grad_potential, x.edges[1:].copy(), "grad_potential"),
        Vc=_eval(problem.potential, x.centres, "potential"), khat=khat, wkhat=wkhat, tw=tw,
        rev=rev, has_int=bool(has_int or energy is not None), h=float(x.h),
        lam=float(problem.temperature), length=float(x.hi - x.lo),
        blocks=int(min(N_BLOCKS, x.cells) if parallel else 1),
        mf=pack_energy_faces(energy, x.centres[:, None], x.edges[1:, None]))


def control(cfl, dt_fixed, t, t_stop, sample_first, sample_at_stop, n_max, step, every):
    """The control tuple of :func:`grids.driver.drive`, with its exact types."""
    return (float(cfl), float(dt_fixed), float(t), float(t_stop), bool(sample_first),
            bool(sample_at_stop), int(n_max), int(step), int(every))


class Scheme:
    """Base class of the time-stepping schemes (pass a subclass or its name to
    :func:`grids.solver.solve`).

    Attributes
    ----------
    name : str
        Registry name (:data:`grids.solver.SCHEMES`).
    order : int
        Formal order of accuracy for smooth solutions.
    max_cfl : float
        Largest CFL number c for which the scheme keeps densities non-negative.
    default_cfl : float
    regimes : tuple of str
        ``"kinetic"`` and/or ``"overdamped"``.
    implicit : bool
        True: ``solve(..., dt=...)`` is accepted (a cap on the step).
    counts : str
        What ``counters[0]`` counts (implicit schemes: steps or rows blended with
        backward Euler); empty when nothing.

    A subclass implements :meth:`functions`; the rest is inherited.
    """

    name: str = ""
    order: int = 0
    max_cfl: float = 0.0
    default_cfl: float = 0.0
    regimes: tuple = ("kinetic", "overdamped")
    implicit: bool = False
    counts: str = ""

    @classmethod
    def functions(cls, regime):
        """``dict(SETUP=..., RULE=..., STEP=...)``: the compiled functions of the scheme in
        ``regime`` for the loop of :mod:`grids.driver` (signatures there)."""
        raise NotImplementedError(f"scheme {cls.__name__} defines no compiled step")

    @classmethod
    def parallel(cls, problem):
        """Whether the threaded build pays for this problem (at least
        ``PARALLEL_MIN_CELLS`` cells; below, a thread launch costs more than it saves)."""
        return int(np.prod(problem.shape)) >= PARALLEL_MIN_CELLS

    @classmethod
    def pack(cls, problem, parallel):
        """The problem's arrays as the compiled functions read them."""
        if len(problem.shape) == 2:
            return pack_kinetic(problem)
        return pack_overdamped(problem, parallel)

    @classmethod
    def loop(cls, regime, parallel):
        """The compiled time loop of this scheme in ``regime`` (built on first use)."""
        shared = KINETIC if regime == "kinetic" else OVERDAMPED
        return variant(f"{cls.name}_{regime}", parallel, **cls.functions(regime), **shared)

    @classmethod
    def advance(cls, problem, state, control_, diag, counters=None, parallel=None):
        """Run the compiled loop once on ``problem`` (a low-level entry for tests and
        tools; :func:`grids.solver.solve` is the public one).

        Parameters
        ----------
        problem : KineticProblem or OverdampedProblem
        state : ndarray, shape ``problem.shape``, advanced in place
        control_ : tuple from :func:`control`
        diag : ndarray, shape (K, N_DIAG)
        counters : int64 ndarray, shape (2,), optional
        parallel : bool, optional; default :meth:`parallel` of the problem

        Returns
        -------
        the loop's ``(status, t, n, step, nd, dt, min, max)``
        """
        regime = "kinetic" if len(problem.shape) == 2 else "overdamped"
        par = cls.parallel(problem) if parallel is None else bool(parallel)
        if counters is None:
            counters = np.zeros(2, dtype=np.int64)
        return cls.loop(regime, par)(state, np.empty_like(state), cls.pack(problem, par),
                                     control_, diag, counters)

    @classmethod
    def warm_up(cls, regime, state, packed, parallel):
        """Compile (or load from the on-disk cache) the loop for these argument types,
        without advancing anything; returns seconds."""
        t0 = time.perf_counter()
        loop = cls.loop(regime, parallel)
        loop(state.copy(), np.empty_like(state), packed,
             control(1.0, 0.0, 0.0, 0.0, False, False, 0, 0, 1), np.empty((0, N_DIAG)),
             np.zeros(2, dtype=np.int64))
        return time.perf_counter() - t0
