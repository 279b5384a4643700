"""The implicit Scharfetter–Gummel scheme ``sg_implicit`` (grids.implicit).

Same checks as for the explicit schemes (NumPy twins, conservation, positivity, exact
Gaussian solution with observed orders, Gibbs and self-consistent equilibria), plus what
is particular to it: the discrete Gibbs state is a fixed point to round-off for any λ and
Δt, positivity for any λ and any Δt (backward-Euler fallback), second order in time.
"""

import numpy as np
import pytest

from vfp.grids import implicit as IMP
from vfp.grids.convolution import Convolver
from vfp.grids.grid import Axis
from vfp.grids.quadrature import cell_averages_1d
from vfp.grids.solver import (SCHEMES, KineticProblem, OverdampedProblem, SGImplicit,
                          free_energy, solve)
from vfp.grids.driver import N_DIAG
from vfp.grids.scheme import control
from vfp.validation.exact import (gaussian_pdf_1d, gibbs_density, overdamped_gaussian_moments,
                              self_consistent_equilibrium)


def dwell(x):
    return x ** 4 / 4 - x ** 2 / 2


def dwell_grad(x):
    return x ** 3 - x


S_W, W_W = 1.0, 0.5


def gauss_w(y):
    return S_W * np.exp(-y ** 2 / (2 * W_W ** 2))


def gauss_wp(y):
    return -y / W_W ** 2 * gauss_w(y)


def quad_w(x):
    return 0.5 * 0.8 * x ** 2


def quad_wp(x):
    return 0.8 * x


SG = ["sg_implicit", "sg2_implicit"]


def order(e_coarse, e_fine):
    return np.log2(e_coarse / e_fine)


def rough_state(rng, n):
    s = rng.random(n) ** 3
    s[s < 0.05] = 0.0
    return s + 1e-3


def w_table(p):
    x = p.x.centres
    return p.interaction(x[:, None] - x[None, :])


# --- NumPy twins ------------------------------------------------------------------------

def test_bernoulli_function():
    z = np.array([-800.0, -50.0, -1.0, -1e-9, 0.0, 1e-12, 1e-5, 0.3, 40.0, 800.0])
    got = np.array([IMP.bernoulli(v) for v in z])
    with np.errstate(over="ignore"):
        ref = np.where(z == 0, 1.0, z / np.expm1(np.where(z == 0, 1.0, z)))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0)
    # B(−z) = B(z) + z (so that B(−z) = e^z B(z)): the Gibbs identity of the flux
    for v in (1e-6, 0.1, 3.0, 30.0):
        assert IMP.bernoulli(-v) == pytest.approx(IMP.bernoulli(v) + v, rel=1e-13)


@pytest.mark.parametrize("fit", [False, True])
def test_rhs_and_thomas_match_numpy(rng, fit):
    n, lam, h = 57, 0.3, 0.1
    phi = rng.normal(size=n) * 2
    r = rough_state(rng, n)
    dp, dm = np.empty(n), np.empty(n)
    IMP.sg_coefficients(phi, lam, h, dp, dm, fit)
    out = IMP.sg_apply(r, dp, dm, np.empty(n))
    ref = IMP.sg_rhs_numpy(r, phi, lam, h, fit)
    assert np.max(np.abs(out - ref)) <= 1e-12 * np.max(np.abs(ref))
    assert abs(out.sum()) <= 1e-12 * np.abs(out).sum()        # zero column sums
    L = IMP.sg_matrix_numpy(phi, lam, h, fit)
    for c in (1e-4, 0.37, 50.0):
        cp, inv, x = np.empty(n), np.empty(n), np.empty(n)
        IMP.thomas_factor(dp, dm, c, cp, inv)
        IMP.thomas_solve(dp, c, cp, inv, r, x)
        xr = np.linalg.solve(np.eye(n) - c * L, r)
        np.testing.assert_allclose(x, xr, rtol=1e-10, atol=1e-14 * np.abs(xr).max())
        assert x.min() >= 0.0


@pytest.mark.parametrize("scheme", SG)
@pytest.mark.parametrize("interaction", [False, True])
def test_full_step_matches_numpy(rng, interaction, scheme):
    """One compiled step (fixed dt, predictor–corrector with W) against the dense twin."""
    x = Axis(-3.0, 3.5, 41)
    extra = (gauss_w, gauss_wp) if interaction else ()
    p = OverdampedProblem(x, 0.6, dwell, dwell_grad, *extra)
    r0 = rough_state(rng, x.cells)
    dt = 0.01
    ref, fb = IMP.sg_step_numpy(r0, dwell(x.centres), 0.6, x.h, dt,
                                w_table(p) if interaction else None,
                                fit=scheme == "sg2_implicit")
    s = r0.copy()
    diag = np.empty((4, N_DIAG))
    counters = np.zeros(2, dtype=np.int64)
    st, t, n, step, nd, dt_used, mn, mx = SCHEMES[scheme].advance(
        p, s, control(1.0, dt, 0.0, 10.0, False, True, 1, 0, 1), diag, counters)
    assert n == 1 and st == 1 and dt_used == dt
    assert int(counters[0]) == int(fb)
    assert np.max(np.abs(s - ref)) <= 1e-12 * np.max(np.abs(r0))


# --- conservation and positivity --------------------------------------------------------

@pytest.mark.parametrize("scheme", SG)
@pytest.mark.parametrize("interaction", [False, True])
def test_mass_conserved_and_positive_over_many_steps(interaction, scheme):
    extra = (quad_w, quad_wp) if interaction else ()
    p = OverdampedProblem(Axis(-3.0, 3.0, 48), 0.5, dwell, dwell_grad, *extra)
    r0 = cell_averages_1d(lambda y: gaussian_pdf_1d(y, 1.0, 0.16), p.x)
    sol = solve(p, r0, [40.0], scheme=scheme, dt=0.004, diagnostics_every=50)
    assert sol.success, sol.message
    assert sol.n_steps >= 10_000
    mass = sol.diagnostics["mass"]
    assert np.max(np.abs(mass - mass[0])) <= 1e-12 * mass[0]
    assert np.min(sol.diagnostics["min"]) >= 0.0
    # free energy decays (sampled; round-off only)
    fe = sol.diagnostics["free_energy"]
    assert np.all(np.diff(fe) <= 1e-12 * np.abs(fe).max())


@pytest.mark.parametrize("scheme", SG)
@pytest.mark.parametrize("lam", [1e-3, 0.02, 1.0])
@pytest.mark.parametrize("dt", [1e-3, 0.1, 5.0])
def test_positive_for_any_lambda_and_step(lam, dt, scheme):
    """Drift-dominated to diffusion-dominated, tiny to huge steps, rough data: min >= 0."""
    x = Axis(-6.0, 6.0, 60)
    p = OverdampedProblem(x, lam, dwell, dwell_grad, quad_w, quad_wp)
    r0 = np.zeros(x.cells)
    r0[[5, 17, 18, 40]] = [1.0, 3.0, 0.5, 2.0]
    r0 /= r0.sum() * x.h
    sol = solve(p, r0, [0.5, 5.0], scheme=scheme, dt=dt, diagnostics_every=1)
    assert sol.success, sol.message
    assert min(s.min() for s in sol.states) >= 0.0
    assert np.min(sol.diagnostics["min"]) >= 0.0
    mass = sol.diagnostics["mass"]
    assert np.max(np.abs(mass - 1.0)) <= 1e-12


def test_blend_positive_largest_nonnegative_convex_combination(rng):
    """θ·high + (1 − θ)·low with the largest θ keeping every value ≥ 0: the result is
    non-negative, keeps the common mass, equals high when high ≥ 0, has its minimum ≈ 0
    (θ is maximal: within 10⁻¹² of the critical ratio) and matches the NumPy twin."""
    n = 300
    low = rng.random(n) + 1e-3
    high = low + rng.normal(0.0, 0.3, n)
    high += (low.sum() - high.sum()) / n           # equal mass
    assert high.min() < 0.0
    out = high.copy()
    theta = IMP.blend_positive(out, low)
    crit = np.min(low[high < 0] / (low[high < 0] - high[high < 0]))
    assert 0.0 < theta < 1.0 and theta == pytest.approx(crit, rel=2e-12)
    assert out.min() >= 0.0 and out.min() <= 1e-10 * low.max()
    assert out.sum() == pytest.approx(low.sum(), rel=1e-14)
    np.testing.assert_allclose(out, IMP.blend_positive_numpy(high, low), rtol=0, atol=1e-15)
    pos = np.abs(high)
    same = pos.copy()
    assert IMP.blend_positive(same, low) == 1.0
    assert np.array_equal(same, pos)


def test_fallback_used_and_positive_for_a_spike_with_a_huge_step():
    x = Axis(-3.0, 3.0, 200)
    p = OverdampedProblem(x, 1.0, lambda y: 0.5 * y ** 2, lambda y: y)
    r0 = np.zeros(x.cells)
    r0[100] = 1.0 / x.h
    packed_sol = solve(p, r0, [1.0], scheme="sg_implicit", dt=0.5)
    assert packed_sol.success
    assert "steps blended with backward Euler" in packed_sol.message
    assert "(0 steps blended" not in packed_sol.message
    assert packed_sol.states[-1].min() >= 0.0


# --- discrete Gibbs state: fixed point to round-off ----------------------------------------

@pytest.mark.parametrize("scheme", SG)
@pytest.mark.parametrize("lam", [1e-3, 0.05, 0.5, 5.0])
@pytest.mark.parametrize("dt", [None, 1e-3, 10.0])
def test_discrete_gibbs_state_is_a_fixed_point(lam, dt, scheme):
    x = Axis(-2.5, 2.5, 101)
    p = OverdampedProblem(x, lam, dwell, dwell_grad)
    e = -dwell(x.centres) / lam
    g = np.exp(e - e.max())
    g /= g.sum() * x.h
    sol = solve(p, g, [1.0, 20.0], scheme=scheme, dt=dt)
    assert sol.success, sol.message
    # relative to the largest value (cells where g underflows stay 0); round-off of the
    # Thomas solves accumulates as a random walk, at most ~1e-15 per step
    tol = (1e-12 + 1e-15 * sol.n_steps) * g.max()
    for s in sol.states:
        assert np.max(np.abs(s - g)) <= tol
    one = solve(p, g, [min(dt or 1.0, 1.0)], scheme=scheme, dt=dt).states[-1]
    assert np.max(np.abs(one - g)) <= 1e-12 * g.max()


@pytest.mark.parametrize("scheme", SG)
def test_self_consistent_discrete_state_is_a_fixed_point(scheme):
    """With a gaussian W, ρ_i ∝ exp(−(V_i + (W*ρ)_i)/λ) (found by iteration) is stationary."""
    lam = 0.5
    x = Axis(-3.0, 3.0, 90)
    p = OverdampedProblem(x, lam, dwell, dwell_grad, gauss_w, gauss_wp)
    conv = Convolver(gauss_w, x, offset=0.0)
    V = dwell(x.centres)
    r = np.full(x.cells, 1.0 / 6.0)
    for _ in range(400):
        e = -(V + conv.direct(r)) / lam
        new = np.exp(e - e.max())
        new /= new.sum() * x.h
        r = 0.5 * r + 0.5 * new
    e = -(V + conv.direct(r)) / lam
    fix = np.exp(e - e.max())
    fix /= fix.sum() * x.h
    assert np.max(np.abs(fix - r)) <= 1e-13          # the iteration has converged
    sol = solve(p, r, [5.0], scheme=scheme, dt=0.05)
    assert np.max(np.abs(sol.states[-1] - r)) <= 1e-11 * r.max()


# --- accuracy -----------------------------------------------------------------------------

OM2, KAPPA, LAM, T = 1.0, 0.5, 0.5, 1.0


def ou_error(n, dt, kappa=KAPPA, lo=-6.0, hi=6.0, scheme="sg_implicit"):
    x = Axis(lo, hi, n)
    extra = (lambda y: 0.5 * kappa * y ** 2, lambda y: kappa * y) if kappa else ()
    p = OverdampedProblem(x, LAM, lambda y: 0.5 * OM2 * y ** 2, lambda y: OM2 * y, *extra)
    r0 = cell_averages_1d(lambda y: gaussian_pdf_1d(y, 2.0, 0.09), x)
    m, s2 = overdamped_gaussian_moments(T, 2.0, 0.09, OM2, kappa, LAM)
    exact = cell_averages_1d(lambda y: gaussian_pdf_1d(y, m, s2), x)
    sol = solve(p, r0, [0.5 * T, T], scheme=scheme, dt=dt, diagnostics_every=1000)
    assert sol.success, sol.message
    r = sol.states[-1]
    return np.abs(r - exact).sum() * x.h, r, x


@pytest.mark.parametrize("scheme", SG)
@pytest.mark.parametrize("kappa", [0.0, KAPPA])
def test_ou_exact_solution_second_order_in_space_and_time(kappa, scheme):
    # space and time together (dt ∝ h): observed order >= 1.8
    e1, _, _ = ou_error(200, 0.04, kappa, scheme=scheme)
    e2, _, _ = ou_error(400, 0.02, kappa, scheme=scheme)
    e3, _, _ = ou_error(800, 0.01, kappa, scheme=scheme)
    assert order(e1, e2) >= 1.8, (e1, e2)
    assert order(e2, e3) >= 1.8, (e2, e3)
    assert e3 < 1.5e-4


@pytest.mark.parametrize("kappa", [0.0, KAPPA])
def test_ou_second_order_in_time(kappa):
    """Same grid, dt halved, against a 1/64-step run: observed temporal order >= 1.8."""
    _, ref, x = ou_error(400, 0.1 / 64, kappa)
    errs = [np.abs(ou_error(400, dt, kappa)[1] - ref).sum() * x.h for dt in (0.1, 0.05, 0.025)]
    assert order(errs[0], errs[1]) >= 1.8, errs
    assert order(errs[1], errs[2]) >= 1.8, errs


def test_default_step_rule():
    """Without dt: Δt = cfl h / max(max_face |Φ'|, λ/L) (constant here: V = x²/2)."""
    x = Axis(-6.0, 6.0, 120)
    p = OverdampedProblem(x, LAM, lambda y: 0.5 * y ** 2, lambda y: y)
    r0 = cell_averages_1d(lambda y: gaussian_pdf_1d(y, 2.0, 0.09), x)
    sol = solve(p, r0, [1.0], scheme="sg_implicit", cfl=2.0, diagnostics_every=1)
    amax = np.max(np.abs(np.diff(0.5 * x.centres ** 2))) / x.h
    expect = 2.0 * x.h / amax
    assert sol.diagnostics["dt"][0] == pytest.approx(expect, rel=1e-12)
    assert sol.n_steps == int(np.ceil(1.0 / expect))


def overdamped_equilibrium_error(n, interaction, scheme="sg_implicit"):
    lam, lo, hi = 0.5, -3.0, 3.0
    x = Axis(lo, hi, n)
    extra = interaction if interaction else ()
    p = OverdampedProblem(x, lam, dwell, dwell_grad, *extra)
    r0 = cell_averages_1d(lambda y: gaussian_pdf_1d(y, 0.0, 0.6), x)
    sol = solve(p, r0, [4.0, 30.0], scheme=scheme, dt=0.05, diagnostics_every=500)
    assert sol.success, sol.message
    if interaction:
        fine = 40 * 120
        _, rho_f = self_consistent_equilibrium(dwell, interaction[0], lam, lo, hi, cells=fine)
        exact = rho_f.reshape(n, -1).mean(axis=1)
    else:
        exact = cell_averages_1d(gibbs_density(dwell, lam, lo, hi), x)
    return np.abs(sol.states[-1] - exact).sum() * x.h


@pytest.mark.parametrize("scheme", SG)
def test_double_well_gibbs_second_order(scheme):
    e1, e2 = (overdamped_equilibrium_error(n, None, scheme) for n in (60, 120))
    assert order(e1, e2) >= 1.8, (e1, e2)


@pytest.mark.parametrize("scheme", SG)
def test_self_consistent_equilibrium_gaussian_interaction(scheme):
    e1, e2 = (overdamped_equilibrium_error(n, (gauss_w, gauss_wp), scheme) for n in (60, 120))
    assert order(e1, e2) >= 1.5, (e1, e2)


def test_free_energy_decreases_to_discrete_minimum():
    lam = 0.5
    x = Axis(-3.0, 3.0, 80)
    p = OverdampedProblem(x, lam, dwell, dwell_grad)
    r0 = cell_averages_1d(lambda y: gaussian_pdf_1d(y, 1.0, 0.1), x)
    sol = solve(p, r0, [1.0, 40.0], scheme="sg_implicit", dt=0.1, diagnostics_every=1)
    fe = sol.diagnostics["free_energy"]
    assert np.all(np.diff(fe) <= 1e-13)
    f_min = -lam * np.log(np.exp(-dwell(x.centres) / lam).sum() * x.h)
    assert free_energy(p, sol.states[-1]) == pytest.approx(f_min, abs=1e-10)


# --- API --------------------------------------------------------------------------------

def test_registry_and_arguments():
    cls = SCHEMES["sg_implicit"]
    assert cls is SGImplicit and cls.order == 2 and cls.implicit
    assert cls.max_cfl == np.inf and 0 < cls.default_cfl
    assert cls.regimes == ("overdamped",)
    x = Axis(-2.0, 2.0, 10)
    p = OverdampedProblem(x, 1.0, dwell, dwell_grad)
    r = np.full(10, 0.25)
    with pytest.raises(ValueError, match="implicit"):
        solve(p, r, [0.1], scheme="upwind", dt=0.01)
    with pytest.raises(ValueError, match="dt"):
        solve(p, r, [0.1], scheme="sg_implicit", dt=-1.0)
    kp = KineticProblem(x, x, 1.0, 1.0, dwell, dwell_grad)
    with pytest.raises(ValueError, match="overdamped"):
        solve(kp, np.full(kp.shape, 1 / 16), [0.1], scheme="sg_implicit")
    # large cfl is accepted (stability does not depend on it)
    sol = solve(p, r, [0.1, 0.2], scheme="sg_implicit", cfl=1e6)
    assert sol.success and np.allclose(sol.t, [0.1, 0.2])


def test_sg2_more_accurate_than_sg_on_ou():
    """The corrected weight removes SG's O(P²) flux error: smaller OU error at equal N."""
    e_sg = ou_error(200, 0.01, 0.0, scheme="sg_implicit")[0]
    e_sg2 = ou_error(200, 0.01, 0.0, scheme="sg2_implicit")[0]
    assert e_sg2 < 0.5 * e_sg, (e_sg, e_sg2)
    assert SCHEMES["sg2_implicit"].order == 2 and SCHEMES["sg2_implicit"].implicit
