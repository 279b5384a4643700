"""The compiled time loop shared by every scheme, and its serial/parallel variants.

One loop, :func:`drive`, does the bookkeeping of every scheme: the step rule's landing on
``t_stop``, the chunking (``n_max`` steps, a full diagnostics buffer), the divergence
check, the diagnostics samples and the status. What differs between schemes and regimes
is called through a handful of module-level names that each *variant* of the loop binds
to compiled functions:

==============  ==================================================================
``SETUP``        ``(state, prob) -> work``: the scheme's scratch arrays (a named tuple
                 with fields ``psum, pmin, pmax`` first); called from Python before each
                 call of the compiled loop (a plain Python function, or a compiled one)
``RULE``         ``(state, prob, work, cfl, dt_fixed) -> dt``: the step rule at the
                 current state (``inf`` when only ``dt_fixed`` limits the step)
``STEP``         ``(cur, nxt, prob, work, dt, land, cfl, counters) -> (dt, land,
                 swapped)``: one step; the result is in ``nxt`` when ``swapped``;
                 a scheme may shorten ``dt`` (then ``land`` becomes False)
``STATS``        ``(state, work) -> (total, min, max, bad)`` of the initial state; after
                 a step the loop reads the partial sums ``work.psum, work.pmin,
                 work.pmax`` that the step wrote (:func:`check_partials`)
``SAMPLE``       ``(state, prob, work) -> (mass, boundary_mass, free_energy)``
``MASS``         ``(total, prob) -> mass`` of a cell-value sum
==============  ==================================================================

:func:`variant` builds the loop of one (scheme, regime, serial/parallel) combination: a
:class:`Loop` that allocates the scratch with ``SETUP`` and calls a compiled copy of
:func:`drive` whose globals name that combination's functions. A variant is compiled only
when a run uses it, and every variant is cached on disk under its own name
(``cache=True``), so a second process loads it without compiling.

Serial and parallel code is written once: a kernel with ``prange`` is declared with
:func:`threaded`; :func:`pick` returns its parallel build or the same source compiled
without threads (``prange`` is then ``range``). Functions that call threaded kernels are
declared with :func:`threaded` too, so that their serial build calls the serial kernels.

Numba keys a cached function on its own source file: after editing a function in another
file that a variant calls, run ``make clean-cache``.

Compile time (issue 10): Numba compiles every called function into its own LLVM module,
then links each callee's module into its caller's and optimises and emits the whole again,
so every level of calls below the loop is optimised once per level above it. Small helpers
are therefore declared ``inline="always"`` (Numba inlines their IR before typing: no module
of their own), and regime functions do their work themselves rather than through one more
call; a call made with a constant argument compiles a separate ``Literal`` specialisation,
so flags passed to shared helpers are plain typed values. The scratch is allocated in
Python (``SETUP``), not in the compiled loop: a named tuple of a dozen ``np.empty`` built in
compiled code cost about 2.4 s of compilation per loop.
"""

from __future__ import annotations

import math
import types

import numpy as np
from numba import njit

__all__ = ["drive", "variant", "Loop", "threaded", "pick", "next_step", "record_diagnostics",
           "check_partials", "N_DIAG", "NEG_TOL", "DIAG_KEYS"]

#: columns of the diagnostics buffer
DIAG_KEYS = ("t", "dt", "mass", "min", "boundary_mass", "free_energy")
D_T, D_DT, D_MASS, D_MIN, D_BMASS, D_FE = range(6)
N_DIAG = 6

#: divergence: min < −NEG_TOL · max|f|
NEG_TOL = 1e-10

# python functions declared threaded -> their (parallel, serial) dispatchers
_THREADED = {}
# compiled variants of the loop, by (name, parallel)
_VARIANTS = {}


def _copy_function(fn, suffix, globals_):
    """A copy of ``fn`` with other globals and the qualified name ``fn + suffix``.

    Numba names a function's on-disk cache entry after its qualified name, so every copy
    is cached under its own name.
    """
    new = types.FunctionType(fn.__code__, globals_, fn.__name__ + suffix, fn.__defaults__,
                             fn.__closure__)
    new.__qualname__ = fn.__qualname__ + suffix
    new.__module__ = fn.__module__
    new.__doc__ = fn.__doc__
    new.__kwdefaults__ = fn.__kwdefaults__
    return new


def threaded(fn=None, *, parallel=True):
    """Declare a function with a parallel and a serial build (decorator).

    ``parallel=True`` compiles the function itself with ``parallel=True`` (its ``prange``
    loops run on threads); ``parallel=False`` declares a function that has no ``prange``
    of its own but calls threaded kernels. Either way its serial build resolves every
    threaded global to the serial build. Returns the parallel build.

    Serial builds are declared ``inline="always"``: Numba inlines them into their caller,
    which saves compiling, optimising and emitting one more module per call level (see
    the module doc).
    """
    def wrap(f):
        par = njit(cache=True, parallel=parallel)(f)
        _THREADED[f] = {True: par, False: None}
        par._vfp_py = f
        return par
    return wrap(fn) if fn is not None else wrap


def _serial_globals(fn):
    """``fn``'s globals with every threaded function it names replaced by its serial build."""
    g = dict(fn.__globals__)
    for name in fn.__code__.co_names:
        value = g.get(name)
        if getattr(value, "_vfp_py", None) in _THREADED:
            g[name] = pick(value, False)
    return g


def pick(kernel, parallel):
    """The parallel build of a :func:`threaded` kernel, or its serial build (compiled
    from the same source without threads) — the one place where the choice is made."""
    py = kernel._vfp_py
    builds = _THREADED[py]
    if parallel:
        return builds[True]
    if builds[False] is None:
        # inlined into its (serial) caller: one module less to optimise and emit per level
        builds[False] = njit(cache=True, inline="always")(
            _copy_function(py, "__serial", _serial_globals(py)))
    return builds[False]


class Loop:
    """One variant of the time loop: ``loop(state, spare, prob, control, diag, counters)``
    allocates the scratch ``work = setup(state, prob)`` and runs the compiled
    :func:`drive` on it (same arguments and results as :func:`drive`, less ``work``).

    Attributes
    ----------
    setup : callable ``(state, prob) -> work`` (Python or compiled)
    compiled : numba dispatcher of the loop (``stats`` is its cache statistics)
    """

    def __init__(self, setup, compiled):
        self.setup = setup
        self.compiled = compiled

    @property
    def stats(self):
        """Numba's compile and cache statistics of the compiled loop."""
        return self.compiled.stats

    def __call__(self, state, spare, prob, control, diag, counters):
        return self.compiled(state, spare, prob, self.setup(state, prob), control, diag,
                             counters)


def variant(name, parallel, **functions):
    """The time loop :func:`drive` bound to ``functions`` (see the module doc).

    Parameters
    ----------
    name : str
        Identifier of the combination (scheme and regime), part of the cache file name.
    parallel : bool
        Serial or threaded build of every :func:`threaded` function involved.
    **functions
        ``SETUP, RULE, STEP, STATS, SAMPLE, MASS``: compiled functions (``SETUP`` may be
        a Python function); threaded ones are replaced by their serial builds when
        ``parallel`` is False.

    Returns
    -------
    Loop
        Called as ``loop(state, spare, prob, control, diag, counters)``.
    """
    key = (name, bool(parallel))
    if key not in _VARIANTS:
        functions = dict(functions)
        setup = functions.pop("SETUP")
        if hasattr(setup, "_vfp_py"):
            setup = pick(setup, parallel)
        g = _serial_globals(drive) if not parallel else dict(globals())
        for role, fn in functions.items():
            g[role] = pick(fn, parallel) if hasattr(fn, "_vfp_py") else fn
        suffix = f"__{name}__{'parallel' if parallel else 'serial'}"
        _VARIANTS[key] = Loop(setup, njit(cache=True)(_copy_function(drive, suffix, g)))
    return _VARIANTS[key]


@njit(cache=True, inline="always")
def record_diagnostics(diag, nd, t, dt, mass, mn, boundary_mass, free_energy):
    """Write one diagnostics row (t, dt, mass, min, boundary mass, free energy) at ``nd``;
    return the next row index."""
    diag[nd, D_T] = t
    diag[nd, D_DT] = dt
    diag[nd, D_MASS] = mass
    diag[nd, D_MIN] = mn
    diag[nd, D_BMASS] = boundary_mass
    diag[nd, D_FE] = free_energy
    return nd + 1


@njit(cache=True, inline="always")
def check_partials(sum_arr, min_arr, max_arr):
    """(total, min, max, bad) of partial reductions; bad if non-finite or
    min < −NEG_TOL · max(max, −min)."""
    tot = 0.0
    mn = np.inf
    mx = -np.inf
    for k in range(sum_arr.size):
        tot += sum_arr[k]
        mn = min(mn, min_arr[k])
        mx = max(mx, max_arr[k])
    scale = max(mx, -mn)
    bad = not np.isfinite(tot) or not np.isfinite(mn) or not np.isfinite(mx) \
        or not (mn >= -NEG_TOL * scale)
    return tot, mn, mx, bad


@njit(cache=True, inline="always")
def copy_flat(src, dst):
    """dst = src for C-contiguous arrays of equal shape (a loop: slice assignment would
    compile Numba's broadcast-error formatting, seconds of compile time)."""
    a = src.reshape(src.size)
    b = dst.reshape(dst.size)
    for k in range(a.size):
        b[k] = a[k]


@njit(cache=True, inline="always")
def next_step(t, t_stop, dt_rule, dt_fixed):
    """(Δt, lands on t_stop, ok) for the step from ``t``.

    ``dt_fixed > 0``: the rest of the interval is split into ⌈(t_stop − t)/cap⌉ equal
    steps, cap = min(dt_fixed, dt_rule). Otherwise Δt = dt_rule, shortened to land on
    ``t_stop``; ``ok`` is False when the rule gives no positive finite step.
    """
    rem = t_stop - t
    if dt_fixed > 0.0:
        cap = min(dt_fixed, dt_rule)
        m = math.ceil(rem / cap * (1.0 - 1e-12))
        if m < 1:
            m = 1
        return rem / m, m == 1, True
    dt = dt_rule
    if not (dt > 0.0 and np.isfinite(dt)):
        return dt, False, False
    if t + dt >= t_stop:
        return rem, True, True
    return dt, False, True


def drive(state, spare, prob, work, control, diag, counters):
    """Advance ``state`` (in place) from ``t`` towards ``t_stop``.

    Parameters
    ----------
    state, spare : float64 arrays of the state's shape (``spare`` is scratch)
    prob : tuple
        The problem's arrays and scalars (the scheme's packing, see :mod:`grids.scheme`).
    work : tuple
        The scheme's scratch, ``SETUP(state, prob)``.
    control : tuple
        ``(cfl, dt_fixed, t, t_stop, sample_first, sample_at_stop, n_max, step,
        diag_every)``: CFL number, user step cap (0: the rule alone), start and stop
        times, whether to sample the diagnostics at ``t`` and at ``t_stop``, most steps
        in this call, global step count so far, sampling period in steps.
    diag : float64 array, shape (K, N_DIAG)
        Diagnostics rows written from row 0.
    counters : int64 array, shape (2,)
        Scheme-specific counts (implicit schemes: blended steps or rows, factorisations).

    Returns
    -------
    status : int
        0 reached ``t_stop``; 1 stopped early (step or buffer limit); −1 diverged.
    t : float, time reached;  n : steps taken;  step : global step count;  nd : rows
    written;  dt : last step;  mn, mx : min and max of the last state.
    """
    cfl, dt_fixed, t, t_stop, sample_first, sample_at_stop, n_max, step, every = control
    tot, mn, mx, bad = STATS(state, work)                         # noqa: F821
    K = diag.shape[0]
    cur = state
    nxt = spare
    swapped = False
    nd = 0
    n = 0
    dt = 0.0
    land = False
    status = 1
    # one call site of SAMPLE (it may be inlined): a row is due at the start
    # (``sample_first``) or after a step; ``row_dt`` is the step the row reports
    due = sample_first and K > 0
    row_dt = 0.0
    if due:
        row_dt = RULE(cur, prob, work, cfl, dt_fixed)             # noqa: F821
        if dt_fixed > 0.0:
            row_dt = min(dt_fixed, row_dt)
    while True:
        if due:
            mass, bm, fe = SAMPLE(cur, prob, work)                # noqa: F821
            nd = record_diagnostics(diag, nd, t, row_dt, mass, mn, bm, fe)
        if land:
            status = 0
            break
        if not (t < t_stop and n < n_max and nd < K):
            break
        dt, land, ok = next_step(t, t_stop, RULE(cur, prob, work, cfl, dt_fixed),  # noqa: F821
                                 dt_fixed)
        if not ok:
            status = -1
            mn = np.nan
            break
        dt, land, swap = STEP(cur, nxt, prob, work, dt, land, cfl, counters)  # noqa: F821
        if swap:
            tmp = cur
            cur = nxt
            nxt = tmp
            swapped = not swapped
        t = t_stop if land else t + dt
        n += 1
        step += 1
        tot, mn, mx, bad = check_partials(work.psum, work.pmin, work.pmax)
        if bad:
            status = -1
            if nd < K:
                nd = record_diagnostics(diag, nd, t, dt, MASS(tot, prob), mn,  # noqa: F821
                                        np.nan, np.nan)
            break
        due = step % every == 0 or (land and sample_at_stop)
        row_dt = dt
    if status == 1 and t >= t_stop:
        status = 0
    if swapped:
        copy_flat(cur, state)
    return status, t, n, step, nd, dt, mn, mx
