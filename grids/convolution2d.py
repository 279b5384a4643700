"""Zero-padded linear convolution on a uniform 2-D grid by FFT, usable from Numba code.

For a kernel ``K(y1, y2)`` and cell averages ``ρ[k, l]`` on the tensor grid ``axis1 × axis2``
the :class:`Convolver2D` computes

    out[i, j] = h1 h2 Σ_{k,l} K(x1_i − x1_k + o1, x2_j − x2_l + o2) ρ[k, l],

the midpoint-rule value of ``(K * ρ)(x1_i + o1, x2_j + o2)``. ``offset = (h1/2, 0)`` gives
values at the faces ``x1_{i+1/2}`` between cells along axis 1, ``(0, h2/2)`` those along
axis 2. The convolution is *linear* (zero padding, not periodic): the kernel samples for
``(k1, k2) ∈ [−(n1−1), n1−1] × [−(n2−1), n2−1]`` are placed circularly in a
``P1 × P2`` buffer (powers of two, ``Pa ≥ 2 na − 1``), so the circular convolution has
no wrap-around in the outputs. Cost O(P1 P2 log(P1 P2)).

The transforms are rocket-fft's (PyPI ``rocket-fft``: pocketfft registered as
``numpy.fft`` for Numba), real-to-complex ``rfft2``/``irfft2``, so :func:`conv2_apply`
runs inside njit code. ``benchmarks/fft_backends.py`` measured it against the package's
radix-2 FFT (:mod:`grids.convolution`) done in row/column passes: 3–5× faster per 2-D
convolution up to 256² padded, about 2× at 512², and it compiles in about 3 s instead of
about 20 s (empty cache). Two kernels on the same ρ (∂1W and ∂2W) share the forward
transform: :func:`conv2_apply_pair`.

:meth:`Convolver2D.direct` is the O((n1 n2)²) NumPy twin used in tests,
:meth:`Convolver2D.numpy_fft` a NumPy-FFT twin.
"""

from __future__ import annotations

import numpy as np
import rocket_fft  # noqa: F401  (registers numpy.fft for Numba-compiled code)
from numba import njit

from .convolution import next_pow2

__all__ = ["Convolver2D", "conv2_apply", "conv2_apply_pair"]


@njit(cache=True)
def conv2_apply(khat, rho, size1, size2, scale, out):
    """``out[i, j] = scale Σ_{k,l} K_{i−k, j−l} ρ[k, l]`` by FFT (usable in njit code).

    ``out = scale · irfft2(rfft2(ρ, (P1, P2)) · K̂)[:n1, :n2]``, the transforms being
    rocket-fft's pocketfft (zero padding of ρ to P1 × P2 by ``rfft2``'s ``s``).

    Parameters
    ----------
    khat : complex128 array, shape (P1, P2 // 2 + 1)
        Real 2-D DFT of the circularly placed kernel samples (:attr:`Convolver2D.kernel_hat`).
    rho : float64 array, shape (n1, n2), with ``2 na − 1 ≤ Pa``
    size1, size2 : int
        P1, P2 (:attr:`Convolver2D.size`).
    scale : float
        ``h1 h2`` (the quadrature weight).
    out : float64 array, shape (n1, n2)
    """
    n1, n2 = rho.shape
    full = np.fft.irfft2(np.fft.rfft2(rho, s=(size1, size2)) * khat, s=(size1, size2))
    for i in range(n1):
        for j in range(n2):
            out[i, j] = full[i, j] * scale


@njit(cache=True)
def conv2_apply_pair(khat_a, khat_b, rho, size1, size2, scale, out_a, out_b):
    """Two convolutions of the same ρ (e.g. ∂1W * ρ and ∂2W * ρ): one forward transform,
    two inverse ones; otherwise as :func:`conv2_apply`.

    Parameters
    ----------
    khat_a, khat_b : complex128 arrays, shape (P1, P2 // 2 + 1)
    rho : float64 array, shape (n1, n2)
    size1, size2 : int
    scale : float
    out_a, out_b : float64 arrays, shape (n1, n2)
    """
    n1, n2 = rho.shape
    spec = np.fft.rfft2(rho, s=(size1, size2))
    full = np.fft.irfft2(spec * khat_a, s=(size1, size2))
    for i in range(n1):
        for j in range(n2):
            out_a[i, j] = full[i, j] * scale
    full = np.fft.irfft2(spec * khat_b, s=(size1, size2))
    for i in range(n1):
        for j in range(n2):
            out_b[i, j] = full[i, j] * scale


class Convolver2D:
    """Linear convolution ``out[i,j] = h1 h2 Σ_{k,l} K(x1_i − x1_k + o1, x2_j − x2_l + o2) ρ[k,l]``.

    Parameters
    ----------
    kernel_fn : callable
        Vectorised kernel ``K(r1, r2)`` of two broadcasting arrays (e.g. ∂1W).
    axis1, axis2 : Axis
        The grid of ρ; ``ρ`` has shape ``(axis1.cells, axis2.cells)``.
    offset : pair of float, optional
        Evaluation shift ``(o1, o2)``: ``(0, 0)`` gives values at centres, ``(h1/2, 0)``
        at the faces between cells along axis 1.

    Attributes
    ----------
    shape : (n1, n2)
    size : (P1, P2), FFT lengths (powers of two ≥ 2 na − 1)
    h1, h2 : float
    kernel_values : ndarray, shape (2 n1 − 1, 2 n2 − 1)
        ``K(k1 h1 + o1, k2 h2 + o2)`` for ``k1 = −(n1−1)..n1−1``, ``k2`` likewise.
    kernel_hat : complex128 ndarray, shape (P1, P2 // 2 + 1)
        Real DFT of the circularly placed samples; pass to :func:`conv2_apply`.
    """

    def __init__(self, kernel_fn, axis1, axis2, offset=(0.0, 0.0)):
        if not callable(kernel_fn):
            raise TypeError(f"Convolver2D: kernel_fn must be callable, got {type(kernel_fn).__name__}")
        try:
            o1, o2 = (float(o) for o in offset)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"Convolver2D: offset must be a pair of numbers, got {offset!r}") from exc
        n1, n2 = axis1.cells, axis2.cells
        self.shape = (n1, n2)
        self.h1, self.h2 = float(axis1.h), float(axis2.h)
        self.offset = (o1, o2)
        self.size = (next_pow2(2 * n1 - 1), next_pow2(2 * n2 - 1))
        k1 = np.arange(-(n1 - 1), n1)
        k2 = np.arange(-(n2 - 1), n2)
        r1 = (k1 * self.h1 + o1)[:, None]
        r2 = (k2 * self.h2 + o2)[None, :]
        vals = np.asarray(kernel_fn(r1, r2), dtype=np.float64)
        vals = np.broadcast_to(vals, (k1.size, k2.size)).copy()
        if not np.all(np.isfinite(vals)):
            raise ValueError("Convolver2D: kernel is not finite on the grid offsets")
        self.kernel_values = vals
        self.kernel_hat = np.ascontiguousarray(np.fft.rfft2(self._circular()), dtype=np.complex128)

    def _circular(self):
        """Kernel samples placed circularly in a (P1, P2) array (index k mod P)."""
        n1, n2 = self.shape
        P1, P2 = self.size
        circ = np.zeros((P1, P2))
        k1 = np.arange(-(n1 - 1), n1)
        k2 = np.arange(-(n2 - 1), n2)
        circ[np.ix_(k1 % P1, k2 % P2)] = self.kernel_values
        return circ

    def _check(self, rho):
        rho = np.ascontiguousarray(rho, dtype=np.float64)
        if rho.shape != self.shape:
            raise ValueError(f"Convolver2D: expected shape {self.shape}, got {rho.shape}")
        return rho

    def __call__(self, rho, out=None):
        """FFT convolution (compiled). ``rho`` shape (n1, n2); returns shape (n1, n2)."""
        rho = self._check(rho)
        if out is None:
            out = np.empty(self.shape)
        conv2_apply(self.kernel_hat, rho, self.size[0], self.size[1], self.h1 * self.h2, out)
        return out

    def direct(self, rho):
        """O((n1 n2)²) NumPy twin: the double sum written out."""
        rho = self._check(rho)
        n1, n2 = self.shape
        i1 = np.arange(n1)
        i2 = np.arange(n2)
        d1 = (i1[:, None] - i1[None, :]) + (n1 - 1)          # (i, k)
        d2 = (i2[:, None] - i2[None, :]) + (n2 - 1)          # (j, l)
        kern = self.kernel_values[d1[:, None, :, None], d2[None, :, None, :]]  # (i, j, k, l)
        return self.h1 * self.h2 * np.einsum("ijkl,kl->ij", kern, rho)

    def numpy_fft(self, rho):
        """NumPy-FFT twin of :meth:`__call__`."""
        rho = self._check(rho)
        n1, n2 = self.shape
        full = np.fft.irfft2(np.fft.rfft2(self._circular()) * np.fft.rfft2(rho, self.size),
                             self.size)
        return self.h1 * self.h2 * full[:n1, :n2]
