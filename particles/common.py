"""Pieces shared by the d = 1 driver (:mod:`particles.driver`) and the d = 2, 3 driver
(:mod:`particles.driver_nd`): scheme registry, the solution record, the compiled mirror
of one coordinate into an interval, the step plan and the temperature check.

(They live here so that neither driver imports the other's module at its top.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

__all__ = ["SCHEMES", "Scheme", "Euler", "BAOAB", "get_scheme", "ParticleSolution",
           "check_temperature"]

SCHEME_EULER = 0
SCHEME_BAOAB = 1
BLOCK = 1024            # particles per block in the blocked independent path
CHUNK_WORK = 5.0e7      # particle-steps per compiled call between progress reports
MAX_MIRRORS = 8


class Scheme:
    """Base class of the time-stepping schemes (registry :data:`SCHEMES`).

    Attributes
    ----------
    name : str
    code : int
        Dispatch code of the compiled loops.
    supports_overdamped : bool
    weak_order : int
    drifts_per_step : int
        Position updates (A steps) per time step, each followed by the wall check.
    """

    name = "scheme"
    code = -1
    supports_overdamped = True
    weak_order = 1
    drifts_per_step = 1


class Euler(Scheme):
    """Euler–Maruyama, exactly the report's scheme (kinetic and overdamped); weak order 1."""

    name = "euler"
    code = SCHEME_EULER
    supports_overdamped = True
    weak_order = 1
    drifts_per_step = 1


class BAOAB(Scheme):
    """BAOAB splitting (kinetic only); configurational weak order 2."""

    name = "baoab"
    code = SCHEME_BAOAB
    supports_overdamped = False
    weak_order = 2
    drifts_per_step = 2


SCHEMES = {"euler": Euler, "baoab": BAOAB}


def get_scheme(scheme):
    """Look a scheme up by name in :data:`SCHEMES`, or accept a :class:`Scheme` subclass."""
    if isinstance(scheme, str):
        if scheme not in SCHEMES:
            raise ValueError(f"unknown particle scheme {scheme!r} "
                             f"(choose from {', '.join(SCHEMES)})")
        return SCHEMES[scheme]
    if isinstance(scheme, type) and issubclass(scheme, Scheme) and scheme.code in (
            SCHEME_EULER, SCHEME_BAOAB):
        return scheme
    raise ValueError(f"unknown particle scheme {scheme!r} (choose from {', '.join(SCHEMES)})")


@dataclass
class ParticleSolution:
    """Result of :func:`simulate`.

    Attributes
    ----------
    status : int
        0 success, −1 diverged (non-finite state).
    message : str
    success : bool
    t : ndarray, shape (K',)
        The snapshot times reached (``on_snapshot`` was called for each); all K of them on
        success. Same meaning as the grid solution's ``t`` and the stored ``/particles/t``.
    t_final : float
        Time reached (the last snapshot on success; the time of the failing chunk if not).
    x, v : ndarray, shape (N,) or (N, d)
        Final positions / velocities, the shape of x0 (``v`` is None in the overdamped
        case).
    n_steps : int
        Time steps taken.
    reflections : ndarray of int64, shape (d, 2) (d = 1 for x0 of shape (N,))
        Mirror events per axis and wall: ``reflections[k, 0]`` at the lower wall lo_k,
        ``reflections[k, 1]`` at the upper wall hi_k (a coordinate mirrored twice in one
        drift counts 2). Zero in free space.
    drifts : int
        Particle drifts checked against the walls: N · n_steps · (1 for euler, 2 for
        BAOAB, whose two half drifts are each followed by the check).
    compile_time, solve_time : float
        Seconds spent compiling / loading the Numba kernels, and stepping.
    interaction_method : str
        ``"none"``, ``"exact"``, ``"pairwise"`` or ``"mesh"``.
    scheme : str
    mesh_cells : int or None
    domain : (float, float), ((lo_1, .., lo_d), (hi_1, .., hi_d)) or None
        The reflecting domain (floats for x0 of shape (N,) or (N, 1), tuples of d floats
        for d ≥ 2); None in free space.
    """

    status: int
    message: str
    success: bool
    t: np.ndarray
    t_final: float
    x: np.ndarray
    v: np.ndarray | None
    n_steps: int
    reflections: np.ndarray
    drifts: int
    compile_time: float
    solve_time: float
    interaction_method: str
    scheme: str = "euler"
    mesh_cells: int | None = None
    domain: tuple | None = None

    @property
    def n_reflected(self):
        """All mirror events, both walls: ``reflections.sum()``."""
        return int(self.reflections.sum())

    @property
    def reflected_fraction(self):
        """Fraction of particle drifts that ended outside the domain and were mirrored,
        n_reflected / drifts (0 when no step was taken)."""
        return self.n_reflected / max(self.drifts, 1)

    @property
    def reflected_fraction_per_wall(self):
        """``reflections / drifts``, shape (d, 2): [axis, (lower, upper) wall]."""
        return self.reflections / max(self.drifts, 1)


# Mirror counts travel as one integer, m_lo + m_hi·2³², so that a prange loop has a
# single reduction variable (Numba's parfor pass fails on an IR-inlined function with two
# counters). Each kernel call's code is decoded at once; a drift mirrors at most
# MAX_MIRRORS + 1 = 9 times and a BAOAB step has two drifts, so a call's lower-wall count
# stays below 18 N < 2³² for N ≤ MAX_N.
HI_UNIT = np.int64(1) << np.int64(32)
LO_MASK = HI_UNIT - np.int64(1)
MAX_N = 200_000_000


@njit(cache=True, inline="always")
def _reflect(x, v, lo, hi):
    """Mirror x into [lo, hi] (reversing v for each mirror).

    Returns (x, v, code) with code = mirrors at lo + 2³² · mirrors at hi. With lo = −∞,
    hi = +∞ (free space) a finite or NaN x is returned as it is."""
    code = np.int64(0)
    if x >= lo and x <= hi:
        return x, v, code
    above = x > hi
    for _ in range(MAX_MIRRORS):
        if x > hi:
            x = 2.0 * hi - x
            v = -v
            code += HI_UNIT
        elif x < lo:
            x = 2.0 * lo - x
            v = -v
            code += 1
        else:
            return x, v, code
    if x >= lo and x <= hi:
        return x, v, code
    # far outside (blow-up): fold with period 2L; NaN/inf stay non-finite. The fold counts
    # one more mirror, at the wall the particle first crossed.
    L = hi - lo
    y = (x - lo) - 2.0 * L * np.floor((x - lo) / (2.0 * L))
    if y > L:
        y = 2.0 * L - y
        v = -v
    code += HI_UNIT if above else 1
    return lo + y, v, code


def _step_plan(t0, t1, dt):
    """(n_steps, dt_last) covering [t0, t1] with steps dt and a shortened last step."""
    span = t1 - t0
    if span <= 0.0:
        return 0, dt
    n = int(math.ceil(span / dt * (1.0 - 1e-12)))
    n = max(n, 1)
    last = span - (n - 1) * dt
    return n, last


def check_temperature(temperature):
    """The temperature λ as a float; λ > 0 and finite (DESIGN §2), else ValueError."""
    try:
        lam = float(temperature)
    except (TypeError, ValueError):
        raise ValueError(f"temperature must be a number > 0 (got {temperature!r})") from None
    if not (lam > 0.0 and math.isfinite(lam)):
        raise ValueError(f"temperature must be > 0 and finite (got {temperature!r})")
    return lam
