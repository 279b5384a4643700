"""Counter-based Gaussian random numbers for the compiled particle loops.

Every normal variate is a pure function of ``(seed, step, pair)``: there is no generator
state, so the numbers a particle receives do not depend on how the particles are split
between threads, on the number of threads, or on how the run is chunked. This is what
makes the particle simulator bit-identical for any ``NUMBA_NUM_THREADS``.

Construction
------------
* ``key = mix64(seed ⊕ K)`` (a 64-bit seed key; ``mix64`` is Stafford's "Mix13"
  finaliser used by SplitMix64, a bijection of 64-bit words with full avalanche).
* The uniform with counter ``c`` is ``mix64(key + c·φ)`` with φ = 0x9E3779B97F4A7C15
  (the SplitMix64 increment), i.e. element ``c`` of the SplitMix64 stream started at
  ``key`` — a generator that passes BigCrush. Its top 53 bits give
  ``u = (k + ½)·2⁻⁵³ ∈ (0, 1)`` (never 0 or 1).
* Step ``s`` and particle pair ``p = i // 2`` use counters ``c = 2·(s·2³² + p)`` and
  ``c + 1``; Box–Muller turns the two uniforms into two independent standard normals,
  ``r cos θ`` for the even particle ``2p`` and ``r sin θ`` for the odd one ``2p + 1``,
  with ``r = sqrt(−2 ln u₁)``, ``θ = 2π u₂``. The largest attainable |z| is
  sqrt(2·53 ln 2) ≈ 8.6.

Limits: ``pair < 2³²`` (N < 8.5·10⁹ particles) and ``step < 2³¹`` steps per run.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["seed_key", "mix64", "uniform_pair", "normal_pair", "normals", "normals_numpy"]

_PHI = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SEED_XOR = np.uint64(0x5851F42D4C957F2D)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_S32 = np.uint64(32)
_ONE = np.uint64(1)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53
_TWO_PI = 2.0 * np.pi


@njit(cache=True, inline="always")
def mix64(z):
    """Stafford Mix13 finaliser of a uint64 (bijective, full avalanche)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def seed_key(seed: int) -> np.uint64:
    """The 64-bit key of an integer seed (any Python int; reduced modulo 2⁶⁴)."""
    s = np.uint64(int(seed) % (1 << 64))
    return _mix64_py(s ^ _SEED_XOR)


def _mix64_py(z):
    with np.errstate(over="ignore"):
        z = np.uint64(z)
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
        return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def uniform_pair(key, step, pair):
    """Two uniforms in (0, 1) for ``(step, pair)`` under ``key`` (all uint64)."""
    c = ((step << _S32) + pair) << _ONE
    a = mix64(key + c * _PHI)
    b = mix64(key + (c + _ONE) * _PHI)
    u1 = (np.float64(a >> _S11) + 0.5) * _INV53
    u2 = (np.float64(b >> _S11) + 0.5) * _INV53
    return u1, u2


@njit(cache=True, inline="always")
def normal_pair(key, step, pair):
    """Two independent N(0, 1) variates for ``(step, pair)`` by Box–Muller."""
    u1, u2 = uniform_pair(key, step, pair)
    r = np.sqrt(-2.0 * np.log(u1))
    th = _TWO_PI * u2
    return r * np.cos(th), r * np.sin(th)


@njit(cache=True)
def _normals_kernel(key, step, out):
    n = out.shape[0]
    s = np.uint64(step)
    for p in range((n + 1) // 2):
        z0, z1 = normal_pair(key, s, np.uint64(p))
        out[2 * p] = z0
        if 2 * p + 1 < n:
            out[2 * p + 1] = z1


def normals(seed: int, step: int, n: int) -> np.ndarray:
    """The ``n`` normals the compiled loops draw at ``step`` (compiled; for tests).

    Returns
    -------
    ndarray, shape (n,)
        ``z[i]`` is the variate particle ``i`` receives at step ``step``.
    """
    out = np.empty(int(n))
    _normals_kernel(seed_key(seed), np.int64(step), out)
    return out


def normals_numpy(seed: int, step: int, n: int) -> np.ndarray:
    """NumPy twin of :func:`normals` (same bits up to libm rounding of log/cos/sin)."""
    key = seed_key(seed)
    pairs = np.arange((n + 1) // 2, dtype=np.uint64)
    with np.errstate(over="ignore"):
        c = ((np.uint64(step) << _S32) + pairs) << _ONE
        a = _mix64_py(key + c * _PHI)
        b = _mix64_py(key + (c + _ONE) * _PHI)
    u1 = ((a >> _S11).astype(np.float64) + 0.5) * _INV53
    u2 = ((b >> _S11).astype(np.float64) + 0.5) * _INV53
    r = np.sqrt(-2.0 * np.log(u1))
    z = np.empty(2 * pairs.size)
    z[0::2] = r * np.cos(_TWO_PI * u2)
    z[1::2] = r * np.sin(_TWO_PI * u2)
    return z[:n]
