"""FFT backends for the zero-padded convolutions: the package's radix-2 FFT against rocket-fft.

rocket-fft (PyPI) registers ``numpy.fft``/``scipy.fft`` for Numba, backed by pocketfft.
This script measures, per convolution (best of several repetitions):

* 1-D, padded sizes P = 256 .. 8192 (n = P/2 cells): :func:`radix2_conv_apply` below
  (radix-2, real data packed into a half-length complex transform; ``grids.convolution``
  used it until rocket-fft replaced it) against ``irfft(rfft(ρ, P) · K̂)`` compiled with
  rocket-fft (``grids.convolution.conv_apply``);
* 2-D, padded P × P = 64² .. 512² (n = P/2 per axis): ``conv2_apply`` below
  (radix-2 row/column passes of :func:`fft_inplace` below, complex, one thread and all threads) for one real kernel and
  for a *pair* of kernels (two results from one complex transform, the overdamped solver's
  ∂1W and ∂2W), against rocket-fft ``irfft2(rfft2(ρ) · K̂)`` (one kernel) and one forward
  ``rfft2`` with two inverse ``irfft2`` (a pair);
* first-call time of each path in a fresh process with an empty NUMBA_CACHE_DIR (compile)
  and again with the cache that run wrote (load).

Run:  python benchmarks/fft_backends.py      (about a minute; prints two tables)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from numba import njit, prange, types

# ---- the measured alternative: the radix-2 FFT that grids/convolution.py used before ----


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
def radix2_conv_apply(khat, tw, rev, work, rho, h, out):
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


# ---- the measured alternative: 2-D radix-2 FFT convolution in row/column passes ----------
# (grids/convolution2d.py keeps rocket-fft; this is the code it was measured against)

# columns per block of the axis-0 butterflies (one block per thread task)
_COL_BLOCK = 64


@njit(cache=True, parallel=True)
def _fft_rows(z, nrows, tw, rev, inverse):
    """In-place length-P2 DFT of the rows ``z[0:nrows, :]`` (threaded over rows)."""
    for r in prange(nrows):
        fft_inplace(z[r], tw, rev, inverse)


@njit(cache=True, parallel=True)
def _fft_axis0(z, tw, rev, inverse):
    """In-place length-P1 DFT along axis 0 of ``z`` (shape (P1, P2)), all columns.

    Radix-2 decimation in time with whole-row butterflies: the bit-reversal permutes rows,
    each butterfly updates two rows column by column (contiguous). Threaded over blocks of
    ``_COL_BLOCK`` columns; every block runs the full transform on its columns.
    """
    n = z.shape[0]
    ncol = z.shape[1]
    ts = (2 * tw.size) // n
    sh = 0
    while (1 << sh) < ts:
        sh += 1
    nblocks = (ncol + _COL_BLOCK - 1) // _COL_BLOCK
    for b in prange(nblocks):
        c0 = b * _COL_BLOCK
        c1 = min(ncol, c0 + _COL_BLOCK)
        for i in range(n):
            j = rev[i] >> sh
            if j > i:
                for c in range(c0, c1):
                    tmp = z[i, c]
                    z[i, c] = z[j, c]
                    z[j, c] = tmp
        size = 2
        while size <= n:
            half = size // 2
            stride = (n // size) * ts
            for start in range(0, n, size):
                for k in range(half):
                    w = tw[k * stride]
                    if inverse:
                        w = w.conjugate()
                    ra = start + k
                    rb = ra + half
                    for c in range(c0, c1):
                        u = z[ra, c]
                        t = w * z[rb, c]
                        z[ra, c] = u + t
                        z[rb, c] = u - t
            size *= 2


@njit(cache=True)
def fft2_inplace(z, nrows, tw1, rev1, tw2, rev2, inverse):
    """In-place unnormalised 2-D DFT of ``z`` (complex128, shape (P1, P2), powers of two).

    Forward: rows ``0..nrows−1`` along axis 1 (the other rows must be zero), then axis 0.
    Inverse (conjugate twiddles, no 1/(P1 P2)): axis 0, then only rows ``0..nrows−1``
    along axis 1 (the only rows a caller reads afterwards).
    """
    if not inverse:
        _fft_rows(z, nrows, tw2, rev2, False)
        _fft_axis0(z, tw1, rev1, False)
    else:
        _fft_axis0(z, tw1, rev1, True)
        _fft_rows(z, nrows, tw2, rev2, True)


@njit(cache=True, parallel=True)
def _load(z, rho):
    n1, n2 = rho.shape
    p1, p2 = z.shape
    for i in prange(p1):
        if i < n1:
            for j in range(n2):
                z[i, j] = rho[i, j]
            for j in range(n2, p2):
                z[i, j] = 0.0
        else:
            for j in range(p2):
                z[i, j] = 0.0


@njit(cache=True, parallel=True)
def _multiply(z, khat):
    for i in prange(z.shape[0]):
        for j in range(z.shape[1]):
            z[i, j] = z[i, j] * khat[i, j]


@njit(cache=True, parallel=True)
def _store(z, scale, out_re, out_im):
    n1, n2 = out_re.shape
    for i in prange(n1):
        for j in range(n2):
            v = z[i, j]
            out_re[i, j] = v.real * scale
            out_im[i, j] = v.imag * scale


@njit(cache=True)
def conv2_apply(khat, tw1, rev1, tw2, rev2, work, rho, scale, out_re, out_im):
    """``out_re + i out_im = scale Σ_{k,l} K_{i−k, j−l} ρ[k, l]`` by FFT (usable in njit code).

    Parameters
    ----------
    khat : complex128 array, shape (P1, P2)
        DFT of the circularly placed kernel samples (:attr:`Convolver2D.kernel_hat`, or
        :func:`pair_kernel_hat` of two convolvers).
    tw1, rev1 : twiddles (P1/2,) and bit reversal (P1,) (:func:`fft_tables`)
    tw2, rev2 : the same for P2
    work : complex128 array, shape (P1, P2)
        Scratch.
    rho : float64 array, shape (n1, n2), C-contiguous, ``2 na − 1 ≤ Pa``
    scale : float
        ``h1 h2`` (the quadrature weight).
    out_re, out_im : float64 arrays, shape (n1, n2)
        Real and imaginary parts of the result: for a real kernel ``out_re`` is the
        convolution (``out_im`` is round-off); for ``Ka + i Kb`` they are ``Ka * ρ`` and
        ``Kb * ρ``.
    """
    n1 = rho.shape[0]
    _load(work, rho)
    fft2_inplace(work, n1, tw1, rev1, tw2, rev2, False)
    _multiply(work, khat)
    fft2_inplace(work, n1, tw1, rev1, tw2, rev2, True)
    _store(work, scale / (work.shape[0] * work.shape[1]), out_re, out_im)



def _best(fn, reps):
    best = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _rocket_kernels():
    import rocket_fft  # noqa: F401  (registers np.fft for Numba)

    @njit(cache=True)
    def rocket_conv1(khat, rho, P, h):
        return np.fft.irfft(np.fft.rfft(rho, P) * khat, P)[: rho.size] * h

    @njit(cache=True)
    def rocket_conv2(khat, rho, P1, P2, scale):
        n1, n2 = rho.shape
        return np.fft.irfft2(np.fft.rfft2(rho, s=(P1, P2)) * khat, s=(P1, P2))[:n1, :n2] * scale

    @njit(cache=True)
    def rocket_conv2_pair(khat_a, khat_b, rho, P1, P2, scale):
        n1, n2 = rho.shape
        spec = np.fft.rfft2(rho, s=(P1, P2))
        a = np.fft.irfft2(spec * khat_a, s=(P1, P2))[:n1, :n2] * scale
        b = np.fft.irfft2(spec * khat_b, s=(P1, P2))[:n1, :n2] * scale
        return a, b

    return rocket_conv1, rocket_conv2, rocket_conv2_pair


def _compile_one(which):
    """First call (compile, empty cache) of one path; prints seconds."""
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    if which == "radix2_1d":
        tw, rev = fft_tables(64)
        radix2_conv_apply(np.ones(64, complex), tw, rev, np.empty(64, complex), rng.random(32),
                          1.0, np.empty(32))
    elif which == "radix2_2d":
        tw, rev = fft_tables(64)
        conv2_apply(np.ones((64, 64), complex), tw, rev, tw, rev, np.empty((64, 64), complex),
                    rng.random((32, 32)), 1.0, np.empty((32, 32)), np.empty((32, 32)))
    else:
        t_import = time.perf_counter()
        r1, r2, r2p = _rocket_kernels()
        t0 = t_import
        if which == "rocket_1d":
            r1(np.ones(33, complex), rng.random(32), 64, 1.0)
        elif which == "rocket_2d":
            r2(np.ones((64, 33), complex), rng.random((32, 32)), 64, 64, 1.0)
        elif which == "rocket_2d_pair":
            r2p(np.ones((64, 33), complex), np.ones((64, 33), complex), rng.random((32, 32)),
                64, 64, 1.0)
    print(f"{time.perf_counter() - t0:.3f}")


def compile_times():
    out = {}
    for which in ("radix2_1d", "radix2_2d", "rocket_1d", "rocket_2d", "rocket_2d_pair"):
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            secs = []
            for _ in range(2):      # empty cache, then the cache the first run wrote
                res = subprocess.run([sys.executable, __file__, "--compile", which], env=env,
                                     capture_output=True, text=True, check=True)
                secs.append(float(res.stdout.strip().splitlines()[-1]))
            out[which] = secs
    return out


def main():
    import numba
    rocket1, rocket2, rocket2p = _rocket_kernels()
    rng = np.random.default_rng(1)
    threads = numba.get_num_threads()

    print("1-D zero-padded convolution, ms per call (best of reps), n = P/2 cells")
    print(f"{'P':>6} {'radix2':>10} {'rocket':>10} {'ratio r2/rocket':>16}")
    for P in (256, 512, 1024, 2048, 4096, 8192):
        n = P // 2
        rho = rng.random(n)
        khat_c = np.fft.fft(rng.random(P)).astype(np.complex128)
        khat_r = np.ascontiguousarray(khat_c[: P // 2 + 1])
        tw, rev = fft_tables(P)
        work = np.empty(P, complex)
        out = np.empty(n)
        radix2_conv_apply(khat_c, tw, rev, work, rho, 1.0, out)
        rocket1(khat_r, rho, P, 1.0)
        reps = max(5, int(2e5 / P))
        t_r2 = _best(lambda: radix2_conv_apply(khat_c, tw, rev, work, rho, 1.0, out), reps)
        t_rk = _best(lambda: rocket1(khat_r, rho, P, 1.0), reps)
        print(f"{P:>6} {1e3 * t_r2:>10.4f} {1e3 * t_rk:>10.4f} {t_r2 / t_rk:>16.2f}")

    print()
    print(f"2-D zero-padded convolution, ms per call (best of reps), n = P/2 per axis; "
          f"radix2 with 1 thread and with {threads}")
    print(f"{'P1xP2':>9} {'r2 1thr':>9} {'r2 ' + str(threads) + 'thr':>9} {'rocket':>9}"
          f" {'r2/rocket':>10} | pair: {'r2 1thr':>9} {'rocket':>9} {'r2/rocket':>10}")
    for P in (64, 128, 256, 512):
        n = P // 2
        rho = rng.random((n, n))
        kc = np.fft.fft2(rng.random((P, P)) + 1j * rng.random((P, P)))
        ka = np.fft.rfft2(rng.random((P, P)))
        kb = np.fft.rfft2(rng.random((P, P)))
        tw, rev = fft_tables(P)
        work = np.empty((P, P), complex)
        o1 = np.empty((n, n))
        o2 = np.empty((n, n))

        def r2():
            conv2_apply(kc, tw, rev, tw, rev, work, rho, 1.0, o1, o2)
        r2()
        rocket2(ka, rho, P, P, 1.0)
        rocket2p(ka, kb, rho, P, P, 1.0)
        reps = max(3, int(2e6 / (P * P)))
        numba.set_num_threads(1)
        t1 = _best(r2, reps)
        numba.set_num_threads(threads)
        tn = _best(r2, reps)
        t_rk = _best(lambda: rocket2(ka, rho, P, P, 1.0), reps)
        t_rkp = _best(lambda: rocket2p(ka, kb, rho, P, P, 1.0), reps)
        print(f"{P:>4}x{P:<4} {1e3 * t1:>9.3f} {1e3 * tn:>9.3f} {1e3 * t_rk:>9.3f}"
              f" {t1 / t_rk:>10.2f} |       {1e3 * t1:>9.3f} {1e3 * t_rkp:>9.3f}"
              f" {t1 / t_rkp:>10.2f}")

    print()
    print("first call in a fresh process (compile or cache load + run), s")
    print(f"  {'path':<16} {'empty cache':>12} {'warm cache':>12}")
    for which, (cold, warm) in compile_times().items():
        print(f"  {which:<16} {cold:12.2f} {warm:12.2f}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--compile":
        _compile_one(sys.argv[2])
    else:
        main()
