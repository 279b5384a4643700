"""Zero-padded linear convolution on a uniform axis by FFT, usable from Numba code.

For a kernel ``K`` (e.g. W or W') and cell values ``ρ_j`` the :class:`Convolver` computes

    out_i = h Σ_{j=0}^{n-1} K((i − j) h + offset) ρ_j ,      i = 0 .. n−1,

i.e. the midpoint-rule value of ``(K * ρ)(x_i + offset)``. ``offset = 0`` evaluates at cell
centres, ``offset = h/2`` at the right faces ``x_{i+1/2}``. The sum is a *linear*
(non-periodic) convolution: the kernel samples for ``k = i − j ∈ [−(n−1), n−1]`` are placed
circularly in a buffer of length ``P ≥ 2n − 1`` (a power of two), so the circular
convolution of length P has no wrap-around in the outputs 0..n−1. Cost O(P log P).

The transforms are rocket-fft's (PyPI ``rocket-fft``: pocketfft registered as
``numpy.fft`` for Numba), real-to-complex ``rfft``/``irfft``, so :func:`conv_apply` runs
inside njit code; the kernel's transform is computed once, by NumPy. It replaced a
hand-written radix-2 FFT: ``benchmarks/fft_backends.py`` measured rocket-fft 1.3–2.6×
faster per 1-D convolution (P = 256 … 8192) and cheaper to compile.
:meth:`Convolver.direct` is the O(n²) NumPy twin used in tests, :meth:`Convolver.numpy_fft`
a NumPy-FFT twin.
"""

from __future__ import annotations

import numpy as np
import rocket_fft  # noqa: F401  (registers numpy.fft for Numba-compiled code)
from numba import njit

__all__ = ["Convolver", "conv_apply", "next_pow2"]


def next_pow2(n: int) -> int:
    """Smallest power of two ≥ n (and ≥ 2)."""
    p = 2
    while p < n:
        p *= 2
    return p


@njit(cache=True)
def conv_apply(khat, rho, h, out):
    """``out_i = h Σ_j K_{i−j} ρ_j`` for i < n with the kernel transform ``khat``.

    ``out = h · irfft(rfft(ρ, P) · K̂, P)[:n]`` with P = 2 (``khat.size`` − 1), ρ zero-padded
    to P by ``rfft``'s ``n``.

    Parameters
    ----------
    khat : complex128 array, shape (P/2 + 1,)
        Real DFT of the circularly placed kernel samples (:attr:`Convolver.kernel_hat`).
    rho : float64 array, shape (n,), 2n − 1 ≤ P
    h : float
    out : float64 array, shape (n,)
    """
    n = rho.size
    size = 2 * (khat.size - 1)
    full = np.fft.irfft(np.fft.rfft(rho, size) * khat, size)
    for i in range(n):
        out[i] = full[i] * h


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
    kernel_hat : ndarray, complex, shape (P/2 + 1,)
        Real DFT of the circularly placed samples; pass to :func:`conv_apply`.
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
        circ = np.zeros(self.size)
        circ[k % self.size] = vals
        self.kernel_hat = np.ascontiguousarray(np.fft.rfft(circ), dtype=np.complex128)

    def __call__(self, rho, out=None):
        """FFT convolution. ``rho`` shape (n,), returns shape (n,)."""
        rho = np.ascontiguousarray(rho, dtype=np.float64)
        if rho.shape != (self.n,):
            raise ValueError(f"Convolver: expected shape ({self.n},), got {rho.shape}")
        if out is None:
            out = np.empty(self.n)
        conv_apply(self.kernel_hat, rho, self.h, out)
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
