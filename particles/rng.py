"""Counter-based Gaussian random numbers for the compiled particle loops.

Every normal variate is a pure function of ``(seed, step, particle)``: there is no
generator state, so the number a particle receives does not depend on how particles are
split between threads, on the number of threads, or on how the run is chunked. This is
what makes the particle simulator bit-identical for any ``NUMBA_NUM_THREADS``.

Construction
------------
* ``mix64`` is Stafford's "Mix13" finaliser (the SplitMix64 output function), a
  bijection of 64-bit words with full avalanche; ``key = mix64(seed ⊕ K)``.
* Particle ``i`` at step ``s`` starts from the word ``a₀ = mix64(key + c·φ)`` with
  counter ``c = s·2³² + i`` and φ = 0x9E3779B97F4A7C15: element ``c`` of the SplitMix64
  stream started at ``key`` (a generator that passes BigCrush). Further words, needed
  only on the rare rejection branches, are ``a_{k+1} = mix64(a_k + φ)``.
* Each word is turned into a standard normal by the **ziggurat method** (Marsaglia &
  Tsang 2000, in Doornik's 2005 "ZIGNOR" form with 256 layers): the low 8 bits choose
  the layer j, the top 53 bits read as a signed integer r ∈ [−2⁵², 2⁵²) give the
  uniform u = r·2⁻⁵² ∈ [−1, 1); ``u·X_j`` is returned at once when |u| < X_{j+1}/X_j
  (≈ 98.8 % of draws). The fast path compares integers, |r| < ⌈2⁵² X_{j+1}/X_j⌉, and
  multiplies once by X_j·2⁻⁵² (exact power-of-two scalings, so it equals u·X_j
  bit for bit); that form is ~15 % faster than the floating-point test. Otherwise the
  wedge is tested exactly
  against exp(−x²/2) or, for the base layer, the tail beyond R = 3.6541528853610088 is
  sampled by Marsaglia's exact tail method. Rejection sampling is exact: the output is
  N(0, 1) up to the 2⁻⁵³ resolution of the uniforms. The layer table is built at import
  with the common area V = R e^{−R²/2} + sqrt(π/2) erfc(R/√2), which closes the top layer
  to 10⁻¹⁵.

Limits: ``particle < 2³²`` and ``step < 2³²`` per run.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["seed_key", "mix64", "normal", "fill_normals", "normals", "normals_numpy", "ZIG_X", "ZIG_R"]

_PHI = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SEED_XOR = np.uint64(0x5851F42D4C957F2D)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_S32 = np.uint64(32)
_MASK8 = np.uint64(0xFF)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53
_INV52 = 2.0 * _INV53
_S11I = np.int64(11)

ZIG_LAYERS = 256
ZIG_RTAIL = 3.6541528853610088


def _zig_tables():
    r = ZIG_RTAIL
    f = math.exp(-0.5 * r * r)
    v = r * f + math.sqrt(math.pi / 2.0) * math.erfc(r / math.sqrt(2.0))
    x = np.zeros(ZIG_LAYERS + 1)
    x[0] = v / f
    x[1] = r
    for i in range(2, ZIG_LAYERS):
        x[i] = math.sqrt(-2.0 * math.log(v / x[i - 1] + f))
        f = math.exp(-0.5 * x[i] * x[i])
    x[ZIG_LAYERS] = 0.0
    ratio = np.zeros(ZIG_LAYERS)
    ratio[:] = x[1:] / x[:-1]
    return x, ratio


ZIG_X, ZIG_R = _zig_tables()
_ZX = ZIG_X
_ZR = ZIG_R
# integer fast-path tables: accept iff |r| < _ZK[j] ⇔ |r·2⁻⁵²| < _ZR[j]; then r·_ZW[j]
_ZK = np.ceil(ZIG_R * 2.0 ** 52).astype(np.int64)
_ZW = ZIG_X[:ZIG_LAYERS] * 2.0 ** -52


@njit(cache=True, inline="always")
def mix64(z):
    """Stafford Mix13 finaliser of a uint64 (bijective, full avalanche)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def _mix64_py(z):
    with np.errstate(over="ignore"):
        z = np.asarray(z, dtype=np.uint64)
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
        return z ^ (z >> _S31)


def seed_key(seed: int) -> np.uint64:
    """The 64-bit key of an integer seed (any Python int; reduced modulo 2⁶⁴)."""
    s = np.uint64(int(seed) % (1 << 64))
    return np.uint64(_mix64_py(s ^ _SEED_XOR))


@njit(cache=True, inline="always")
def _unit(a):
    """Top 53 bits of a word as a uniform in (0, 1)."""
    return (np.float64(np.int64(a >> _S11)) + 0.5) * _INV53


@njit(cache=True)
def _zig_slow(a, j, u):
    """Rejection branches of the ziggurat (wedge or tail), then retries; rare."""
    while True:
        if j == 0:
            neg = u < 0.0
            while True:
                a = mix64(a + _PHI)
                xt = np.log(_unit(a)) / ZIG_RTAIL
                a = mix64(a + _PHI)
                y = np.log(_unit(a))
                if -2.0 * y >= xt * xt:
                    break
            return xt - ZIG_RTAIL if neg else ZIG_RTAIL - xt
        x = u * _ZX[j]
        f0 = np.exp(-0.5 * (_ZX[j] * _ZX[j] - x * x))
        f1 = np.exp(-0.5 * (_ZX[j + 1] * _ZX[j + 1] - x * x))
        a = mix64(a + _PHI)
        if f1 + _unit(a) * (f0 - f1) < 1.0:
            return x
        a = mix64(a + _PHI)
        j = np.int64(a & _MASK8)
        u = 2.0 * _unit(a) - 1.0
        if abs(u) < _ZR[j]:
            return u * _ZX[j]


@njit(cache=True, inline="always")
def _normal_at(key, counter):
    """The N(0, 1) variate of stream position ``counter`` under ``key``."""
    a = mix64(key + counter * _PHI)
    j = np.int64(a & _MASK8)
    r = np.int64(a) >> _S11I            # arithmetic shift: signed top 53 bits
    if abs(r) < _ZK[j]:
        return np.float64(r) * _ZW[j]
    return _zig_slow(a, j, np.float64(r) * _INV52)


@njit(cache=True, inline="always")
def normal(key, step, i):
    """The N(0, 1) variate of particle ``i`` at ``step`` under ``key`` (uint64 arguments)."""
    return _normal_at(key, (step << _S32) + i)


@njit(cache=True, inline="always")
def fill_normals(out, m, key, step, i0):
    """``out[k] = normal(key, step, i0 + k)`` for 0 ≤ k < m (uint64 ``step``, ``i0``)."""
    base = (step << _S32) + i0
    for k in range(m):
        out[k] = _normal_at(key, base + np.uint64(k))


@njit(cache=True, parallel=True)
def _normals_kernel(key, step, out):
    s = np.uint64(step)
    for i in prange(out.shape[0]):
        out[i] = normal(key, s, np.uint64(i))


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


def _unit_py(a):
    return ((np.asarray(a, dtype=np.uint64) >> _S11).astype(np.float64) + 0.5) * _INV53


def normals_numpy(seed: int, step: int, n: int) -> np.ndarray:
    """NumPy twin of :func:`normals`: vectorised fast path, scalar rejection branches.
    Equal to the compiled variates up to libm rounding in the rare exp/log branches."""
    key = seed_key(seed)
    idx = np.arange(int(n), dtype=np.uint64)
    with np.errstate(over="ignore"):
        a = _mix64_py(key + ((np.uint64(step) << _S32) + idx) * _PHI)
    j = (a & _MASK8).astype(np.int64)
    u = (a.view(np.int64) >> 11).astype(np.float64) * _INV52
    z = u * ZIG_X[j]
    slow = np.nonzero(~(np.abs(u) < ZIG_R[j]))[0]
    for k in slow:
        z[k] = _zig_slow_py(a[k], int(j[k]), float(u[k]))
    return z


def _zig_slow_py(a, j, u):
    def nxt(w):
        with np.errstate(over="ignore"):
            return np.uint64(_mix64_py(np.uint64(w) + _PHI))
    X, R = ZIG_X, ZIG_R
    while True:
        if j == 0:
            neg = u < 0.0
            while True:
                a = nxt(a)
                xt = math.log(float(_unit_py(a))) / ZIG_RTAIL
                a = nxt(a)
                y = math.log(float(_unit_py(a)))
                if -2.0 * y >= xt * xt:
                    break
            return xt - ZIG_RTAIL if neg else ZIG_RTAIL - xt
        x = u * X[j]
        f0 = math.exp(-0.5 * (X[j] * X[j] - x * x))
        f1 = math.exp(-0.5 * (X[j + 1] * X[j + 1] - x * x))
        a = nxt(a)
        if f1 + float(_unit_py(a)) * (f0 - f1) < 1.0:
            return x
        a = nxt(a)
        j = int(np.uint64(a) & _MASK8)
        u = 2.0 * float(_unit_py(a)) - 1.0
        if abs(u) < R[j]:
            return u * X[j]
