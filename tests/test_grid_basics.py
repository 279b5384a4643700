"""Unit checks of the grid package: axes, quadrature, FFT convolution, NumPy twins."""

import numpy as np
import pytest

from vfp.grids import kernels as K
from vfp.grids import reference as R
from vfp.grids.convolution import Convolver
from vfp.grids.driver import D_FE, pick
from vfp.grids.scheme import control
from vfp.grids.grid import Axis
from vfp.grids.quadrature import cell_averages_1d, cell_averages_2d
from vfp.grids.solver import (MUSCL, SCHEMES, KineticProblem, OverdampedProblem, Scheme, Upwind,
                          free_energy, solve)


def quad(x):
    return 0.5 * x ** 2


def lin(x):
    return np.asarray(x, dtype=float)


def dwell(x):
    return x ** 4 / 4 - x ** 2 / 2


def dwell_grad(x):
    return x ** 3 - x


def gauss_w(x):
    return 0.7 * np.exp(-x ** 2 / (2 * 0.6 ** 2))


def gauss_wp(x):
    return -x / 0.6 ** 2 * gauss_w(x)


# --- Axis -------------------------------------------------------------------------------

def test_axis_attributes():
    ax = Axis(-1.0, 2.0, 6)
    assert ax.h == pytest.approx(0.5)
    assert ax.edges[0] == -1.0 and ax.edges[-1] == 2.0 and ax.edges.shape == (7,)
    np.testing.assert_allclose(ax.centres, [-0.75, -0.25, 0.25, 0.75, 1.25, 1.75])


@pytest.mark.parametrize("args", [(1.0, 0.0, 5), (0.0, 0.0, 5), (0.0, np.inf, 5),
                                  (0.0, 1.0, 2), (np.nan, 1.0, 5)])
def test_axis_rejects(args):
    with pytest.raises(ValueError):
        Axis(*args)


def test_axis_rejects_non_integer_cells():
    with pytest.raises(TypeError):
        Axis(0.0, 1.0, 4.5)


# --- quadrature -------------------------------------------------------------------------

def test_cell_averages_exact_for_polynomials():
    # 4-point Gauss-Legendre integrates degree <= 7 exactly: averages of x^7 are exact
    ax = Axis(-1.0, 2.0, 7)
    avg = cell_averages_1d(lambda x: x ** 7, ax)
    exact = (ax.edges[1:] ** 8 - ax.edges[:-1] ** 8) / 8 / ax.h
    np.testing.assert_allclose(avg, exact, rtol=1e-13)
    vx = Axis(0.0, 1.0, 5)
    avg2 = cell_averages_2d(lambda x, v: x ** 3 * v ** 5, ax, vx)
    ex2 = np.outer((ax.edges[1:] ** 4 - ax.edges[:-1] ** 4) / 4 / ax.h,
                   (vx.edges[1:] ** 6 - vx.edges[:-1] ** 6) / 6 / vx.h)
    np.testing.assert_allclose(avg2, ex2, rtol=1e-13)


# --- convolution ------------------------------------------------------------------------

@pytest.mark.parametrize("n", [3, 64, 97, 257])
@pytest.mark.parametrize("offset", [0.0, 0.5])
def test_convolution_matches_direct_sum(rng, n, offset):
    ax = Axis(-3.0, 2.0, n)
    conv = Convolver(lambda y: np.sin(3 * y) + y ** 3, ax, offset=offset * ax.h)
    rho = rng.random(n)
    direct = conv.direct(rho)
    scale = np.abs(conv.kernel_values).max() * np.abs(rho).sum() * ax.h
    # FFT round-off ~ eps log2(P) relative to the l1 scale of the sum
    tol = 50 * np.finfo(float).eps * np.log2(conv.size) * scale
    assert np.max(np.abs(conv(rho) - direct)) <= tol
    assert np.max(np.abs(conv.numpy_fft(rho) - direct)) <= tol


def test_convolution_is_linear_not_periodic():
    # kernel K(y) = y: out_i = h sum_j (x_i - x_j) rho_j, a periodic convolution would wrap
    ax = Axis(0.0, 1.0, 8)
    rho = np.zeros(8)
    rho[0] = 1.0
    out = Convolver(lambda y: y, ax)(rho)
    np.testing.assert_allclose(out, ax.h * (ax.centres - ax.centres[0]), atol=1e-15)


# --- NumPy twins ------------------------------------------------------------------------

def _kin_problem(nx=23, nv=20, interaction=True):
    x = Axis(-3.0, 3.5, nx)
    v = Axis(-4.0, 4.0, nv)
    if interaction:
        return KineticProblem(x, v, 0.8, 0.6, dwell, dwell_grad, gauss_w, gauss_wp)
    return KineticProblem(x, v, 0.8, 0.6, dwell, dwell_grad)


def _od_problem(n=41, interaction=True):
    x = Axis(-3.0, 3.5, n)
    if interaction:
        return OverdampedProblem(x, 0.6, dwell, dwell_grad, gauss_w, gauss_wp)
    return OverdampedProblem(x, 0.6, dwell, dwell_grad)


def _rough_state(rng, shape):
    # positive, with sharp jumps so that every limiter branch is exercised
    s = rng.random(shape) ** 3
    s[s < 0.05] = 0.0
    return s


@pytest.mark.parametrize("threaded", [True, False])
@pytest.mark.parametrize("scheme", ["upwind", "muscl"])
def test_kinetic_update_kernel_matches_numpy(rng, scheme, threaded):
    p = _kin_problem()
    f = _rough_state(rng, p.shape)
    G = rng.normal(size=p.x.cells) * 3
    vc, vf = p.v.centres, p.v.edges
    dt = 1e-3
    diff = p.gamma * p.temperature / p.v.h
    j0 = int(np.count_nonzero(vc <= 0))
    out = np.empty_like(f)
    rs, rmn, rmx = (np.empty(p.x.cells) for _ in range(3))
    up = pick(K.kin_update_upwind, threaded)
    mu = pick(K.kin_update_muscl, threaded)
    if scheme == "upwind":
        up(f, out, vc, vf, G, j0, p.gamma, diff, dt / p.x.h, dt / p.v.h,
                            rs, rmn, rmx)
    else:
        mu(f, f, out, 0.0, vc, vf, G, j0, p.gamma, diff, dt / p.x.h,
                           dt / p.v.h, rs, rmn, rmx)
    ref = f + dt * R.kinetic_rhs(f, scheme, vc, vf, G, p.gamma, p.temperature, p.x.h, p.v.h)
    assert np.max(np.abs(out - ref)) <= 1e-14 * np.max(np.abs(f))
    np.testing.assert_allclose(rs, out.sum(axis=1), rtol=1e-13)
    np.testing.assert_array_equal(rmn, out.min(axis=1))
    np.testing.assert_array_equal(rmx, out.max(axis=1))


@pytest.mark.parametrize("threaded", [True, False])
@pytest.mark.parametrize("scheme", ["upwind", "muscl"])
def test_overdamped_update_kernel_matches_numpy(rng, scheme, threaded):
    p = _od_problem(n=300)
    r = _rough_state(rng, p.shape)
    a = rng.normal(size=p.x.cells) * 3
    dt = 1e-4
    out = np.empty_like(r)
    nb = min(K.N_BLOCKS, r.size) if threaded else 1
    bs, bmn, bmx = (np.empty(nb) for _ in range(3))
    pick(K.od_update, threaded)(scheme == "muscl", r, r, out, 0.0, a, p.temperature / p.x.h,
                                dt / p.x.h, bs, bmn, bmx)
    ref = r + dt * R.overdamped_rhs(r, scheme, a, p.temperature, p.x.h)
    assert np.max(np.abs(out - ref)) <= 1e-14 * np.max(np.abs(r))
    assert bs.sum() == pytest.approx(out.sum(), rel=1e-13)
    assert bmn.min() == out.min() and bmx.max() == out.max()


@pytest.mark.parametrize("scheme", ["upwind", "muscl"])
@pytest.mark.parametrize("kinetic", [True, False])
def test_full_step_matches_numpy(rng, scheme, kinetic):
    """One compiled step (force by FFT, CFL rule, Heun stages) against the NumPy twin."""
    p = _kin_problem() if kinetic else _od_problem()
    s0 = _rough_state(rng, p.shape) + 0.01
    cfl = SCHEMES[scheme].default_cfl
    ref, dt_ref = (R.kinetic_step if kinetic else R.overdamped_step)(p, s0, scheme, cfl)
    # run exactly one step: end time far away, n_max = 1 through the compiled loop
    s = s0.copy()
    diag = np.empty((4, K.N_DIAG))
    st, t, n, step, nd, dt, mn, mx = SCHEMES[scheme].advance(
        p, s, control(cfl, 0.0, 0.0, 10.0, False, True, 1, 0, 1), diag)
    assert n == 1 and st == 1
    assert dt == pytest.approx(dt_ref, rel=1e-14)
    # the FFT force differs from the direct sum by ~1e-15 relative; its effect is O(dt)
    assert np.max(np.abs(s - ref)) <= 1e-13 * np.max(np.abs(s0))


@pytest.mark.parametrize("kinetic", [True, False])
def test_free_energy_numba_matches_numpy(rng, kinetic):
    p = _kin_problem() if kinetic else _od_problem()
    s = _rough_state(rng, p.shape)
    diag = np.empty((1, K.N_DIAG))
    Upwind.advance(p, s.copy(), control(0.5, 0.0, 0.0, 0.0, True, False, 0, 0, 1), diag)
    assert diag[0, D_FE] == pytest.approx(free_energy(p, s), rel=1e-12, abs=1e-13)


def test_free_energy_formula_overdamped():
    # rho uniform 1/L on [0, L], V = 0, W = 0: F = lam * log(1/L)
    p = OverdampedProblem(Axis(0.0, 4.0, 16), 0.7, lambda x: 0 * x, lambda x: 0 * x)
    assert free_energy(p, np.full(16, 0.25)) == pytest.approx(0.7 * np.log(0.25), rel=1e-14)


# --- API --------------------------------------------------------------------------------

def test_scheme_registry():
    assert SCHEMES["upwind"] is Upwind and SCHEMES["muscl"] is MUSCL
    for cls in SCHEMES.values():
        assert issubclass(cls, Scheme) and 0 < cls.default_cfl <= cls.max_cfl
    assert (Upwind.max_cfl, Upwind.default_cfl, Upwind.order) == (1.0, 0.9, 1)
    assert (MUSCL.max_cfl, MUSCL.default_cfl, MUSCL.order) == (0.5, 0.45, 2)


def test_bad_arguments():
    p = _od_problem(n=10, interaction=False)
    r = np.full(10, 1 / 6.5)
    with pytest.raises(ValueError, match="scheme"):
        solve(p, r, [0.1], scheme="rk4")
    with pytest.raises(ValueError, match="snapshots"):
        solve(p, r, [0.2, 0.1])
    with pytest.raises(ValueError, match="shape"):
        solve(p, np.ones(11), [0.1])
    with pytest.raises(ValueError):
        OverdampedProblem(p.x, -1.0, dwell, dwell_grad)
    with pytest.raises(ValueError, match="together"):
        OverdampedProblem(p.x, 1.0, dwell, dwell_grad, interaction=gauss_w)
