"""The overdamped grid solver on a box in R² (grids.overdamped2d): exact linear-Gaussian
law, observed order, mass, positivity, Gibbs state, separable problems against d = 1,
compiled kernels against their NumPy twins (grids.reference2d), bad input.

Compile cost: each scheme is compiled once with an interaction (the exact-solution tests)
and ``sg_implicit`` once more without one; the other default tests reuse those builds.
"""

import numpy as np
import pytest

from vfp.grids import reference2d as ref
from vfp.grids.driver import N_DIAG
from vfp.grids.grid import Axis
from vfp.grids.overdamped2d import (MUSCL2D, SGImplicit2D, Upwind2D, boundary_mass_2d,
                                    free_energy_2d)
from vfp.grids.scheme import control
from vfp.grids.solver import OverdampedProblem, OverdampedProblem2D, solve

H = np.array([[1.2, 0.3], [0.3, 0.8]])      # rotated, anisotropic
KAPPA = 0.5
LAM = 0.25
MEAN0 = np.array([0.8, -0.4])
COV0 = np.array([[0.16, 0.03], [0.03, 0.12]])
T_END = 0.5


def _V(x1, x2):
    return 0.5 * (H[0, 0] * x1 * x1 + 2.0 * H[0, 1] * x1 * x2 + H[1, 1] * x2 * x2)


def _gradV(x1, x2):
    return H[0, 0] * x1 + H[0, 1] * x2, H[0, 1] * x1 + H[1, 1] * x2


def _W(r):
    return 0.5 * KAPPA * r * r


def _dW(r):
    return KAPPA * r


def _gaussian_problem(n1, n2=None, lo=-3.5, hi=3.5):
    x1 = Axis(lo, hi, n1)
    x2 = Axis(lo + 0.25, hi - 0.25, n2 or n1)           # anisotropic cells when n2 = n1
    return OverdampedProblem2D(x1, x2, LAM, _V, _gradV, _W, _dW)


def _l1_error(problem, scheme, **kw):
    """L1 distance of the computed cell averages at T_END to the exact law's cell averages."""
    init = ref.gaussian_cell_averages(MEAN0, COV0, problem.x1, problem.x2)
    sol = solve(problem, init, [0.0, T_END], scheme=scheme, **kw)
    assert sol.success, sol.message
    m, C = ref.linear_gaussian_law(MEAN0, COV0, H, KAPPA, LAM, T_END)
    exact = ref.gaussian_cell_averages(m, C, problem.x1, problem.x2)
    hh = problem.x1.h * problem.x2.h
    return float(np.abs(sol.states[-1] - exact).sum() * hh), sol


def test_linear_gaussian_law_solves_its_odes():
    # the closed form against a finite-difference derivative of itself (m' = −Hm, Lyapunov)
    t, eps = 0.3, 1e-6
    m, C = ref.linear_gaussian_law(MEAN0, COV0, H, KAPPA, LAM, t)
    mp, Cp = ref.linear_gaussian_law(MEAN0, COV0, H, KAPPA, LAM, t + eps)
    mm, Cm = ref.linear_gaussian_law(MEAN0, COV0, H, KAPPA, LAM, t - eps)
    A = H + KAPPA * np.eye(2)
    np.testing.assert_allclose((mp - mm) / (2 * eps), -H @ m, atol=1e-8)
    np.testing.assert_allclose((Cp - Cm) / (2 * eps), -A @ C - C @ A + 2 * LAM * np.eye(2),
                               atol=1e-8)
    m0, C0 = ref.linear_gaussian_law(MEAN0, COV0, H, KAPPA, LAM, 0.0)
    np.testing.assert_allclose(m0, MEAN0, atol=1e-15)
    np.testing.assert_allclose(C0, COV0, atol=1e-15)


# Observed orders on 32² → 64² (fast; measured 0.80, 1.63, 1.94) and on 32² → 64² → 128²
# (slow; the last pair measured 0.89, 1.71, 1.99): upwind tends to 1 from below, MUSCL's MC
# limiter clips the extremum of the Gaussian (L1 order ≈ 1.7 at these grids, 2 away from
# extrema), sg_implicit is second order in space and time at a fixed Courant number.
FAST_ORDER = {"upwind": (0.7, 1.3), "muscl": (1.4, 2.4), "sg_implicit": (1.7, 2.3)}
SLOW_ORDER = {"upwind": (0.8, 1.2), "muscl": (1.55, 2.3), "sg_implicit": (1.85, 2.15)}


@pytest.mark.parametrize("scheme", ["upwind", "muscl",
                                    pytest.param("sg_implicit", marks=pytest.mark.slow)])
def test_exact_gaussian_and_observed_order(scheme):
    e_coarse, _ = _l1_error(_gaussian_problem(32), scheme)
    e_fine, sol = _l1_error(_gaussian_problem(64), scheme)
    order = np.log2(e_coarse / e_fine)
    lo, hi = FAST_ORDER[scheme]
    assert lo <= order <= hi, (scheme, e_coarse, e_fine, order)
    assert e_fine <= {"upwind": 0.12, "muscl": 0.01, "sg_implicit": 0.01}[scheme]
    mass = sol.diagnostics["mass"]
    assert np.max(np.abs(mass - mass[0])) <= 1e-13 * mass[0]
    assert np.min(sol.diagnostics["min"]) >= 0.0
    fe = sol.diagnostics["free_energy"]
    assert np.all(np.diff(fe) <= 1e-12)                 # free energy decreases


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["upwind", "muscl", "sg_implicit"])
def test_observed_order_study(scheme):
    errs = [_l1_error(_gaussian_problem(n), scheme)[0] for n in (32, 64, 128)]
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    lo, hi = SLOW_ORDER[scheme]
    assert lo <= orders[-1] <= hi, (errs, orders)
    assert orders[0] >= lo - 0.15, (errs, orders)


# ---------------------------------------------------------------------------------------
# compiled kernels against the NumPy twins
# ---------------------------------------------------------------------------------------

def _small_problem():
    x1 = Axis(-2.0, 2.5, 9)
    x2 = Axis(-1.5, 1.5, 7)
    return OverdampedProblem2D(x1, x2, 0.3, _V, _gradV, _W, _dW)


def _rough_state(problem, rng):
    r = rng.random(problem.shape) + 0.05
    return r / (r.sum() * problem.x1.h * problem.x2.h)


@pytest.mark.parametrize("cls", [Upwind2D, MUSCL2D])
def test_explicit_step_matches_twin(cls, rng):
    prob = _small_problem()
    r0 = _rough_state(prob, rng)
    state = r0.copy()
    diag = np.empty((4, N_DIAG))
    st, t, n, step, nd, dt, mn, mx = cls.advance(
        prob, state, control(0.4, 0.0, 0.0, 10.0, False, False, 1, 0, 1), diag)
    assert n == 1
    assert dt == pytest.approx(ref.step_rule(prob, r0, 0.4), rel=1e-13)
    expect = ref.explicit_step(prob, r0, dt, cls.name)
    np.testing.assert_allclose(state, expect, rtol=0, atol=1e-13 * np.max(expect))


def test_sg_step_matches_twin(rng):
    prob = _small_problem()
    r0 = _rough_state(prob, rng)
    state = r0.copy()
    diag = np.empty((4, N_DIAG))
    dt = 0.07
    SGImplicit2D.advance(prob, state, control(1.0, dt, 0.0, dt, False, False, 1, 0, 1), diag)
    expect = ref.sg_step(prob, r0, dt)
    np.testing.assert_allclose(state, expect, rtol=0, atol=1e-12 * np.max(expect))


def test_free_energy_and_boundary_mass_match_twins(rng):
    prob = _small_problem()
    r0 = _rough_state(prob, rng)
    sol = solve(prob, r0, [0.0], scheme="upwind")
    fe = sol.diagnostics["free_energy"][0]
    assert fe == pytest.approx(ref.free_energy(prob, r0), rel=1e-12)
    assert fe == pytest.approx(free_energy_2d(prob, r0), rel=1e-12)
    assert sol.diagnostics["boundary_mass"][0] == pytest.approx(boundary_mass_2d(r0), rel=1e-12)
    ring = np.ones(prob.shape, bool)
    ring[1:-1, 1:-1] = False
    assert boundary_mass_2d(r0) == pytest.approx(r0[ring].sum() / r0.sum(), rel=1e-14)


# ---------------------------------------------------------------------------------------
# mass, positivity, Gibbs state, separable problems
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["upwind", "muscl", "sg_implicit"])
def test_mass_and_positivity_from_a_point_mass(scheme):
    # all the mass in one cell next to a wall, a strong drift towards the opposite corner
    prob = _gaussian_problem(20)
    r0 = np.zeros(prob.shape)
    r0[1, 18] = 1.0 / (prob.x1.h * prob.x2.h)
    kw = {"dt": 0.2} if scheme == "sg_implicit" else {}
    sol = solve(prob, r0, [0.0, 0.3, 1.0], scheme=scheme, diagnostics_every=1, **kw)
    assert sol.success, sol.message
    mass = sol.diagnostics["mass"]
    assert np.max(np.abs(mass - 1.0)) <= 1e-13
    assert np.min(sol.diagnostics["min"]) >= 0.0
    assert all(s.min() >= 0.0 for s in sol.states)


def _double_well_problem(n):
    x = Axis(-2.5, 2.5, n)
    return OverdampedProblem2D(x, Axis(-2.0, 2.0, n - 4), 0.3,
                               lambda a, b: 0.25 * (a * a - 1.0) ** 2 + 0.5 * b * b,
                               lambda a, b: (a * (a * a - 1.0), b))


def test_gibbs_state_of_a_double_well_is_a_fixed_point():
    # SG makes every flux vanish at ρ ∝ exp(−V(centres)/λ): the long-time state is that
    # discrete Gibbs state to round-off and the convergence error, for any Δt
    prob = _double_well_problem(28)
    c1, c2 = prob.x1.centres, prob.x2.centres
    gibbs = np.exp(-prob.potential(c1[:, None], c2[None, :]) / prob.temperature)
    gibbs /= gibbs.sum() * prob.x1.h * prob.x2.h
    r0 = np.ones(prob.shape) / (5.0 * 4.0)               # uniform, mass 1
    sol = solve(prob, r0, [0.0, 40.0], scheme="sg_implicit", dt=0.5)
    assert sol.success
    assert np.max(np.abs(sol.states[-1] - gibbs)) <= 1e-9 * gibbs.max()
    # started at the Gibbs state, it stays there
    sol = solve(prob, gibbs, [0.0, 1.0], scheme="sg_implicit", dt=0.25)
    assert np.max(np.abs(sol.states[-1] - gibbs)) <= 1e-13 * gibbs.max()


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["upwind", "muscl"])
def test_gibbs_state_explicit_to_discretisation_error(scheme):
    from vfp.grids.quadrature import cell_averages_2d
    errs = []
    for n in (24, 48):
        prob = _double_well_problem(n)
        gibbs = cell_averages_2d(lambda a, b: np.exp(-prob.potential(a, b) / prob.temperature),
                                 prob.x1, prob.x2)
        gibbs /= gibbs.sum() * prob.x1.h * prob.x2.h
        sol = solve(prob, np.full(prob.shape, 1.0 / 20.0), [0.0, 40.0], scheme=scheme)
        errs.append(np.abs(sol.states[-1] - gibbs).sum() * prob.x1.h * prob.x2.h)
    assert errs[1] < errs[0] / 1.7, errs


def _separable(n1, n2):
    v1 = (lambda a: 0.25 * (a * a - 1.0) ** 2, lambda a: a * (a * a - 1.0))
    v2 = (lambda b: 0.5 * (b - 0.3) ** 2, lambda b: b - 0.3)
    x1, x2 = Axis(-2.5, 2.5, n1), Axis(-2.0, 2.5, n2)
    lam = 0.4
    p2 = OverdampedProblem2D(x1, x2, lam, lambda a, b: v1[0](a) + v2[0](b),
                             lambda a, b: (v1[1](a) + 0.0 * b, v2[1](b) + 0.0 * a))
    g1 = np.exp(-(x1.centres - 0.7) ** 2 / 0.3)
    g2 = np.exp(-(x2.centres + 0.2) ** 2 / 0.5)
    g1 /= g1.sum() * x1.h
    g2 /= g2.sum() * x2.h
    return (p2, OverdampedProblem(x1, lam, *v1), OverdampedProblem(x2, lam, *v2), g1, g2)


def test_separable_problem_is_the_product_of_1d_solutions():
    # Without interaction and with V = V1(x1) + V2(x2), the axis operators commute, so
    # Strang's X(Δt/2) Y(Δt) X(Δt/2), N times, is X(Δt/2)^{2N} Y(Δt)^N: the d = 1 scheme with
    # steps Δt/2 along x1 and Δt along x2. Equal up to round-off only, not bit-identical:
    # the 2-D differences Φ_{i+1,j} − Φ_ij = (V1_{i+1} + V2_j) − (V1_i + V2_j) round
    # differently from V1_{i+1} − V1_i, and the product ρ1 ρ2 is rounded.
    p2, p1a, p1b, g1, g2 = _separable(24, 18)
    dt, t_end = 0.1, 1.0
    sol2 = solve(p2, np.outer(g1, g2), [0.0, t_end], scheme="sg_implicit", dt=dt)
    sol_a = solve(p1a, g1, [0.0, t_end], scheme="sg_implicit", dt=dt / 2)
    sol_b = solve(p1b, g2, [0.0, t_end], scheme="sg_implicit", dt=dt)
    assert "(0 " in sol2.message                        # no line blended: linear steps
    product = np.outer(sol_a.states[-1], sol_b.states[-1])
    assert np.max(np.abs(sol2.states[-1] - product)) <= 1e-11 * product.max()
    assert np.max(np.abs(sol2.states[-1] - np.outer(g1, g2))) > 1e-2 * product.max()


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["upwind", "muscl"])
def test_separable_explicit_agrees_with_1d_to_the_time_error(scheme):
    # The unsplit explicit 2-D step is not the product of 1-D steps (its Δt comes from the
    # 2-D rule, and forward Euler of L1 + L2 has the cross term Δt² L1 L2), so the two
    # agree to the time discretisation error: it shrinks with the CFL number.
    p2, p1a, p1b, g1, g2 = _separable(24, 18)
    diffs = []
    for cfl in (0.4, 0.1):
        s2 = solve(p2, np.outer(g1, g2), [0.0, 1.0], scheme=scheme, cfl=cfl).states[-1]
        sa = solve(p1a, g1, [0.0, 1.0], scheme=scheme, cfl=cfl).states[-1]
        sb = solve(p1b, g2, [0.0, 1.0], scheme=scheme, cfl=cfl).states[-1]
        diffs.append(np.abs(s2 - np.outer(sa, sb)).sum() * p2.x1.h * p2.x2.h)
    assert diffs[1] < diffs[0] / 2.5, diffs


# ---------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------

def test_bad_input():
    prob = _gaussian_problem(8)
    good = np.full(prob.shape, 1.0)
    with pytest.raises(ValueError, match="initial has shape"):
        solve(prob, np.ones((8, 9)), [0.0, 1.0])
    with pytest.raises(ValueError, match="exceeds the limit"):
        solve(prob, good, [0.0, 1.0], scheme="muscl", cfl=0.6)
    with pytest.raises(ValueError, match="no 2-D overdamped version"):
        solve(prob, good, [0.0, 1.0], scheme="sg2_implicit")
    with pytest.raises(ValueError, match="dt is only accepted"):
        solve(prob, good, [0.0, 1.0], scheme="upwind", dt=0.1)
    x = Axis(-1.0, 1.0, 6)
    with np.errstate(divide="ignore", invalid="ignore"):
        bad_v = OverdampedProblem2D(x, x, 1.0, lambda a, b: np.log(a) + b, _gradV)
        with pytest.raises(ValueError, match="potential is not finite"):
            solve(bad_v, np.ones((6, 6)), [0.0, 1.0])
    bad_grad = OverdampedProblem2D(x, x, 1.0, _V, lambda a, b: a + b)
    with pytest.raises(ValueError, match="must return a pair"):
        solve(bad_grad, np.ones((6, 6)), [0.0, 1.0])
    with pytest.raises(ValueError, match="given together"):
        OverdampedProblem2D(x, x, 1.0, _V, _gradV, _W)
    with pytest.raises(TypeError, match="Axis"):
        OverdampedProblem2D(np.linspace(0, 1, 5), x, 1.0, _V, _gradV)
    with pytest.raises(ValueError, match="temperature"):
        OverdampedProblem2D(x, x, -1.0, _V, _gradV)
    with pytest.raises(ValueError, match="negative"):
        solve(prob, -good, [0.0, 1.0])


@pytest.mark.slow
@pytest.mark.parametrize("cls", [Upwind2D, MUSCL2D, SGImplicit2D])
def test_threaded_build_matches_serial(cls):
    # the threaded kernels split rows between threads and keep per-row partial sums, so
    # the two builds compute the same numbers in the same order: equal to the last bit
    prob = _gaussian_problem(40)
    init = ref.gaussian_cell_averages(MEAN0, COV0, prob.x1, prob.x2)
    out = []
    for par in (False, True):
        state = init.copy()
        ctl = control(cls.default_cfl, 0.05 if cls.implicit else 0.0, 0.0, 0.3, False, False,
                      10 ** 6, 0, 1)
        st, *_ = cls.advance(prob, state, ctl, np.empty((10 ** 4, N_DIAG)), parallel=par)
        assert st == 0
        out.append(state)
    assert np.array_equal(out[0], out[1])
