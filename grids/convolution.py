"""Zero-padded linear convolution on a uniform axis by a Numba radix-2 FFT.

For a kernel ``K`` (e.g. W or W') and cell values ``ρ_j`` the :class:`Convolver` computes

    out_i = h Σ_{j=0}^{n-1} K((i − j) h + offset) ρ_j ,      i = 0 .. n−1,

i.e. the midpoint-rule value of ``(K * ρ)(x_i + offset)``. ``offset = 0`` evaluates at cell
centres, ``offset = h/2`` at the right faces ``x_{i+1/2}``. The sum is a *linear*
(non-periodic) convolution: the kernel samples for ``k = i − j ∈ [−(n−1), n−1]`` are placed
circularly in a buffer of length ``P ≥ 2n − 1`` (a power of two), so the circular
convolution of length P has no wrap-around in the outputs 0..n−1. Cost O(P log P).

Numba has no ``np.fft``; :func:`fft_inplace` is an iterative radix-2 Cooley–Tukey transform
with precomputed twiddles and bit-reversal permutation. The transform of the kernel is
computed once. :meth:`Convolver.direct` is the O(n²) NumPy twin used in tests.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

__all__ = ["Convolver", "fft_tables", "fft_inplace", "conv_apply", "next_pow2"]


def next_pow2(n: int) -> int:
    """Smallest power of two ≥ n (and ≥ 2)."""
    p = 2
    while p < n:
        p *= 2
    return p


def fft_tables(size: int):
    """Twiddles ``exp(−2πi k/size)``, k < size/2, shape (size/2,), and bit-reversal indices (size,)."""
    if size < 2 or size & (size - 1):
        raise ValueError(f"FFT size must be a power of two >= 2, got {size}")
    k = np.arange(size // 2)
    tw = np.exp(-2j * np.pi * k / size)
    bits = size.bit_length() - 1
    idx = np.arange(size)
    rev = np.zeros(size, dtype=np.int64)
    for b in range(bits):
        rev |= ((idx >> b) & 1) << (bits - 1 - b)
    return tw.astype(np.complex128), rev


@njit(cache=True)
def fft_inplace(a, tw, rev, inverse):
    """In-place unnormalised DFT of ``a`` (complex128, power-of-two length n).

    Forward: A_k = Σ a_m e^{−2πi km/n}; ``inverse=True`` uses conjugate twiddles (no 1/n).
    The tables may belong to a larger power of two L = 2·tw.size (a multiple of n): the
    twiddles are then read with stride L/n, and since bit reversal over log2 L bits of
    i < n equals the n-point reversal shifted left by log2(L/n), ``rev[i] >> shift`` is used.
    """
    n = a.size
    ts = (2 * tw.size) // n
    sh = 0
    while (1 << sh) < ts:
        sh += 1
    for i in range(n):
        j = rev[i] >> sh
        if j > i:
            tmp = a[i]
            a[i] = a[j]
            a[j] = tmp
    size = 2
    while size <= n:
        half = size // 2
        stride = (n // size) * ts
        for start in range(0, n, size):
            for k in range(half):
                w = tw[k * stride]
                if inverse:
                    w = w.conjugate()
                u = a[start + k]
                t = w * a[start + k + half]
                a[start + k] = u + t
                a[start + k + half] = u - t
        size *= 2


# ``inverse`` is typed plain bool: a constant argument would compile fft_inplace once more
# for each Literal[bool] value (its Python callers pass bool)
@njit(cache=True, locals={"inverse": types.boolean})
def conv_apply(khat, tw, rev, work, rho, h, out):
    """``out_i = h Σ_j K_{i−j} ρ_j`` for i < n with the kernel transform ``khat`` (length P).

    Real data, so the length-P transforms are done as length-P/2 complex ones: the packed
    z_m = x_{2m} + i x_{2m+1} gives X_k = E_k + W^k O_k with E_k = (Z_k + conj Z_{M−k})/2,
    O_k = (Z_k − conj Z_{M−k})/(2i), W = e^{−2πi/P}, M = P/2; the product Y = X·K̂ is
    Hermitian and y_{2m} + i y_{2m+1} = (1/P) IDFT_M(A + iB)_m with
    A_k = Y_k + conj Y_{M−k}, B_k = (Y_k − conj Y_{M−k}) W^{−k}.

    Parameters
    ----------
    khat : complex128 array, shape (P,)
        DFT of the circularly placed kernel samples.
    tw, rev : twiddles (P/2,) and bit reversal (P,) from :func:`fft_tables`.
    work : complex128 array, shape (≥ P/2,)
        Scratch.
    rho : float64 array, shape (n,), n ≤ P/2 + 1
    h : float
    out : float64 array, shape (n,)
    """
    n = rho.size
    P = 2 * tw.size
    M = P // 2
    z = work[:M]
    for m in range(M):
        i0 = 2 * m
        re = rho[i0] if i0 < n else 0.0
        im = rho[i0 + 1] if i0 + 1 < n else 0.0
        z[m] = complex(re, im)
    inverse = False
    fft_inplace(z, tw, rev, inverse)
    # k = 0 pairs with k = M (Z_M = Z_0)
    z0 = z[0]
    y0 = (z0.real + z0.imag) * khat[0]
    ym = (z0.real - z0.imag) * khat[M]
    a0 = y0 + ym.conjugate()
    b0 = y0 - ym.conjugate()
    z[0] = a0 + 1j * b0
    for k in range(1, M // 2 + 1):
        kk = M - k
        zk = z[k]
        zm = z[kk]
        wk = tw[k]
        ek = 0.5 * (zk + zm.conjugate())
        ok = -0.5j * (zk - zm.conjugate())
        xk = ek + wk * ok
        xm = (ek - wk * ok).conjugate()
        yk = xk * khat[k]
        ym = xm * khat[kk]
        ak = yk + ym.conjugate()
        bk = (yk - ym.conjugate()) * wk.conjugate()
        z[k] = ak + 1j * bk
        if kk != k:
            am = ym + yk.conjugate()
            bm = -(ym - yk.conjugate()) * wk
            z[kk] = am + 1j * bm
    inverse = True
    fft_inplace(z, tw, rev, inverse)
    scale = h / P
    for m in range(M):
        i0 = 2 * m
        if i0 < n:
            out[i0] = z[m].real * scale
        if i0 + 1 < n:
            out[i0 + 1] = z[m].imag * scale


class Convolver:
    """Linear convolution ``out_i = h Σ_j K((i − j)h + offset) ρ_j`` on an :class:`Axis`.

    Parameters
    ----------
    kernel_fn : callable
        Vectorised kernel K(y) (e.g. W' for the interaction force).
    axis : Axis
        The grid of ρ; ``n = axis.cells``, ``h = axis.h``.
    offset : float, optional
        Evaluation shift: 0 gives values at centres, ``h/2`` at right faces.

    Attributes
    ----------
    size : int
        FFT length P (power of two ≥ 2n − 1).
    kernel_values : ndarray, shape (2n − 1,)
        K(k h + offset) for k = −(n−1) .. n−1.
    kernel_hat : ndarray, complex, shape (P,)
        Transform of the circularly placed samples; pass to :func:`conv_apply`.
    twiddles, bitrev : FFT tables for :func:`conv_apply`.
    """

    def __init__(self, kernel_fn, axis, offset: float = 0.0):
        n = axis.cells
        self.n = n
        self.h = axis.h
        self.offset = float(offset)
        self.size = next_pow2(2 * n - 1)
        k = np.arange(-(n - 1), n)
        vals = np.asarray(kernel_fn(k * axis.h + self.offset), dtype=np.float64)
        vals = np.broadcast_to(vals, k.shape).copy()
        if not np.all(np.isfinite(vals)):
            raise ValueError("Convolver: kernel is not finite on the grid offsets")
        self.kernel_values = vals
        circ = np.zeros(self.size, dtype=np.complex128)
        circ[k % self.size] = vals
        self.twiddles, self.bitrev = fft_tables(self.size)
        fft_inplace(circ, self.twiddles, self.bitrev, False)
        self.kernel_hat = circ
        self.work = np.empty(self.size, dtype=np.complex128)

    def __call__(self, rho, out=None):
        """FFT convolution. ``rho`` shape (n,), returns shape (n,)."""
        rho = np.ascontiguousarray(rho, dtype=np.float64)
        if rho.shape != (self.n,):
            raise ValueError(f"Convolver: expected shape ({self.n},), got {rho.shape}")
        if out is None:
            out = np.empty(self.n)
        conv_apply(self.kernel_hat, self.twiddles, self.bitrev, self.work, rho, self.h, out)
        return out

    def direct(self, rho):
        """O(n²) NumPy twin: ``h Σ_j K((i − j)h + offset) ρ_j``."""
        rho = np.asarray(rho, dtype=np.float64)
        n = self.n
        idx = np.arange(n)
        mat = self.kernel_values[(idx[:, None] - idx[None, :]) + (n - 1)]
        return self.h * (mat @ rho)

    def numpy_fft(self, rho):
        """NumPy-FFT twin of :meth:`__call__`."""
        rho = np.asarray(rho, dtype=np.float64)
        k = np.arange(-(self.n - 1), self.n)
        circ = np.zeros(self.size)
        circ[k % self.size] = self.kernel_values
        full = np.fft.irfft(np.fft.rfft(circ) * np.fft.rfft(rho, self.size), self.size)
        return self.h * full[: self.n]
