"""2-D zero-padded FFT convolution (grids.convolution2d) against its direct O((n1 n2)²) twin."""

import numpy as np
import pytest
from numba import njit

from vfp.grids.convolution2d import Convolver2D, conv2_apply, conv2_apply_pair
from vfp.grids.grid import Axis


def _kernel(r1, r2):
    # neither even nor odd in either variable, so any index or sign slip shows
    return np.exp(-(r1 - 0.3) ** 2 - 2.0 * r2 ** 2) * (1.0 + r1) + 0.1 * r2


@pytest.mark.parametrize("n1, n2, offset", [(7, 5, (0.0, 0.0)), (16, 9, (0.125, -0.2)),
                                            (3, 33, (0.5, 0.0)), (20, 20, (0.0, 0.05))])
def test_fft_matches_direct(rng, n1, n2, offset):
    ax1 = Axis(-2.0, 3.0, n1)                # anisotropic: h1 != h2, odd and even sizes
    ax2 = Axis(-1.0, 1.5, n2)
    conv = Convolver2D(_kernel, ax1, ax2, offset)
    rho = rng.random((n1, n2))
    ref = conv.direct(rho)
    scale = np.max(np.abs(ref))
    assert np.max(np.abs(conv(rho) - ref)) <= 1e-13 * scale
    assert np.max(np.abs(conv.numpy_fft(rho) - ref)) <= 1e-13 * scale


def test_direct_is_the_written_sum(rng):
    ax1, ax2 = Axis(0.0, 1.0, 4), Axis(-1.0, 2.0, 3)
    off = (0.1, 0.2)
    conv = Convolver2D(_kernel, ax1, ax2, off)
    rho = rng.random((4, 3))
    x1, x2 = ax1.centres, ax2.centres
    i, j = 2, 1
    expect = ax1.h * ax2.h * sum(_kernel(x1[i] - x1[k] + off[0], x2[j] - x2[l] + off[1])
                                 * rho[k, l] for k in range(4) for l in range(3))
    assert conv.direct(rho)[i, j] == pytest.approx(expect, rel=1e-13)


def test_not_periodic():
    # a point mass in the last cell must not wrap to the first: K = 1 for r1 < 0 only
    ax = Axis(0.0, 1.0, 8)
    conv = Convolver2D(lambda r1, r2: (r1 < 0.0) * np.ones_like(r2), ax, ax)
    rho = np.zeros((8, 8))
    rho[-1, -1] = 1.0
    out = conv(rho)
    assert np.max(np.abs(out)) > 0.0                         # cells i < 7 see it
    assert np.max(np.abs(out[-1, :])) <= 1e-15               # K(0, .) = 0: itself not
    np.testing.assert_allclose(out[:-1, :], ax.h ** 2, rtol=1e-12)


@njit(cache=True)
def _apply_twice(khat, rho, p1, p2, scale, out):
    # conv2_apply called from compiled code: out = K * (K * rho)
    tmp = np.empty_like(rho)
    conv2_apply(khat, rho, p1, p2, scale, tmp)
    conv2_apply(khat, tmp, p1, p2, scale, out)


def test_compiled_apply_in_njit(rng):
    ax1, ax2 = Axis(-1.0, 1.0, 11), Axis(-2.0, 2.0, 6)
    conv = Convolver2D(_kernel, ax1, ax2, (0.05, 0.0))
    rho = rng.random(conv.shape)
    out = np.empty(conv.shape)
    _apply_twice(conv.kernel_hat, rho, conv.size[0], conv.size[1], conv.h1 * conv.h2, out)
    ref = conv.direct(conv.direct(rho))
    assert np.max(np.abs(out - ref)) <= 1e-13 * np.max(np.abs(ref))


def test_pair_gives_both_components(rng):
    ax1, ax2 = Axis(-1.0, 2.0, 9), Axis(-1.0, 1.0, 12)
    ca = Convolver2D(lambda r1, r2: r1 * np.exp(-r1 ** 2 - r2 ** 2), ax1, ax2, (ax1.h / 2, 0.0))
    cb = Convolver2D(lambda r1, r2: r2 * np.exp(-r1 ** 2 - r2 ** 2), ax1, ax2, (0.0, ax2.h / 2))
    rho = rng.random(ca.shape)
    out_a = np.empty(ca.shape)
    out_b = np.empty(ca.shape)
    conv2_apply_pair(ca.kernel_hat, cb.kernel_hat, rho, ca.size[0], ca.size[1],
                     ca.h1 * ca.h2, out_a, out_b)
    np.testing.assert_allclose(out_a, ca.direct(rho), rtol=0, atol=1e-14)
    np.testing.assert_allclose(out_b, cb.direct(rho), rtol=0, atol=1e-14)


def test_bad_input():
    ax = Axis(0.0, 1.0, 5)
    conv = Convolver2D(_kernel, ax, ax)
    with pytest.raises(ValueError, match="expected shape"):
        conv(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="not finite"), np.errstate(divide="ignore"):
        Convolver2D(lambda r1, r2: 1.0 / (r1 * r1 + r2 * r2), ax, ax)
    with pytest.raises(TypeError, match="callable"):
        Convolver2D(3.0, ax, ax)
    with pytest.raises(TypeError, match="offset"):
        Convolver2D(_kernel, ax, ax, offset=0.5)
