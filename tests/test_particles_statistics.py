"""Statistical checks of the particle simulator against exact laws.

Every tolerance is derived, and stated next to the check:
* statistical part: 5 standard deviations of the estimator, computed exactly (linear
  Gaussian cases: the empirical mean/covariance of N exchangeable Gaussian particles) or
  from the data (independent particles: the standard error of per-particle averages);
* discretisation part: the exact O(dt) bias of the scheme where a closed form exists (the
  Euler recursion of a linear system is itself linear and solved exactly here), else a
  stated a-priori bound.
"""

import numpy as np
import pytest
from scipy import integrate, linalg, stats

from vfp.particles.forces import Polynomial
from vfp.particles.interaction import Quadratic
from vfp.particles import simulate
from vfp.validation.exact import (gibbs_density, kinetic_gaussian_moments,
                              overdamped_gaussian_moments)

Z5 = 5.0


def _euler_kinetic_moments(n_steps, h, mean0, cov0, a, kappa, gamma, lam):
    """Exact moments of the Euler chain Z ← M Z + ξ (M = I + hA), ξ ~ N(0, diag(0, 2γλh)).

    Returns the mean (stiffness a), the covariance of the deviations (stiffness a + κ)
    and the covariance of the centre of mass times N (stiffness a)."""
    def M(c):
        return np.array([[1.0, h], [-c * h, 1.0 - gamma * h]])
    Q = np.diag([0.0, 2.0 * gamma * lam * h])
    m = np.array(mean0, float)
    S_dev = np.array(cov0, float)
    S_com = np.array(cov0, float)
    for _ in range(n_steps):
        m = M(a) @ m
        S_dev = M(a + kappa) @ S_dev @ M(a + kappa).T + Q
        S_com = M(a) @ S_com @ M(a).T + Q
    return m, S_dev, S_com


def test_kinetic_harmonic_quadratic_moments(rng):
    """V = a x²/2, W = κx²/2, Euler, N = 2·10⁴: mean and covariance at t = 0.5, 1, 2.

    The centre of mass obeys the interaction-free linear SDE with noise/√N, so
    Var(mean) = Σ_a(t)/N exactly; the deviations span N − 1 i.i.d. Gaussian directions of
    covariance Σ_{a+κ}(t), so the empirical covariance S has E S = (N−1)/N Σ and
    Var S_pq = (N−1)(Σ_pp Σ_qq + Σ_pq²)/N². Tolerance: 5 sd + |E_Euler − exact|, the
    last computed exactly from the Euler recursion (it contains the O(dt) and O(1/N) bias).
    """
    N, h, a, kappa, gamma, lam = 20000, 0.01, 1.0, 0.5, 1.0, 0.5
    mean0, cov0 = np.array([1.5, 0.0]), np.diag([0.3**2, 0.3**2])
    x0 = rng.normal(mean0[0], 0.3, N)
    v0 = rng.normal(mean0[1], 0.3, N)
    times = [0.5, 1.0, 2.0]
    got = {}
    sol = simulate(x0, v0, grad_potential=Polynomial([0.0, a]), interaction=Quadratic(kappa),
                   gamma=gamma, temperature=lam, dt=h, snapshots=times, domain=(-12, 12),
                   seed=2024, on_snapshot=lambda k, t, x, v: got.__setitem__(
                       t, (np.array([x.mean(), v.mean()]), np.cov(np.vstack([x, v]),
                                                                  bias=True))))
    assert sol.success and sol.interaction_method == "exact"
    for t in times:
        m_emp, S_emp = got[t]
        m_ex, S_ex = kinetic_gaussian_moments(t, mean0, cov0, a, kappa, gamma, lam)
        m_eu, S_eu, S_com = _euler_kinetic_moments(int(round(t / h)), h, mean0, cov0, a,
                                                   kappa, gamma, lam)
        E_S = (N - 1) / N * S_eu
        sd_m = np.sqrt(np.diag(S_com) / N)
        assert np.all(np.abs(m_emp - m_ex) <= Z5 * sd_m + np.abs(m_eu - m_ex)), (t, m_emp, m_ex)
        d = np.diag(S_eu)
        sd_S = np.sqrt((N - 1) * (np.outer(d, d) + S_eu**2)) / N
        assert np.all(np.abs(S_emp - S_ex) <= Z5 * sd_S + np.abs(E_S - S_ex)), (t, S_emp, S_ex)


def test_overdamped_ou_quadratic_moments(rng):
    """Overdamped V = a x²/2, W = κx²/2, Euler, N = 2·10⁴, at t = 0.25, 1, 3.

    Euler: mean m ← (1 − ah) m + N(0, 2λh/N); deviations contract by (1 − ch), c = a + κ.
    Exact: s_c ← (1 − ch)² s_c + 2λh. Var(mean) = s_a/N, E S² = (N−1)/N s_c,
    Var S² = 2(N−1)s_c²/N². Tolerance 5 sd + |E_Euler − exact|."""
    N, h, a, kappa, lam = 20000, 0.005, 1.0, 1.5, 0.4
    m0, s0 = -1.0, 0.5**2
    x0 = rng.normal(m0, 0.5, N)
    times = [0.25, 1.0, 3.0]
    got = {}
    simulate(x0, None, grad_potential=Polynomial([0.0, a]), interaction=Quadratic(kappa),
             temperature=lam, dt=h, snapshots=times, domain=(-12, 12), seed=77,
             on_snapshot=lambda k, t, x, v: got.__setitem__(t, (x.mean(), x.var())))
    for t in times:
        n = int(round(t / h))
        m_ex, s_ex = overdamped_gaussian_moments(t, m0, s0, a, kappa, lam)
        m_eu = m0 * (1 - a * h) ** n
        s_a, s_c = s0, s0
        for _ in range(n):
            s_a = (1 - a * h) ** 2 * s_a + 2 * lam * h
            s_c = (1 - (a + kappa) * h) ** 2 * s_c + 2 * lam * h
        m_emp, s_emp = got[t]
        assert abs(m_emp - m_ex) <= Z5 * np.sqrt(s_a / N) + abs(m_eu - m_ex)
        E_s = (N - 1) / N * s_c
        assert abs(s_emp - s_ex) <= Z5 * np.sqrt(2 * (N - 1)) * s_c / N + abs(E_s - s_ex)


def _gibbs_cdf(potential, lam, lo, hi):
    rho = gibbs_density(potential, lam, lo, hi)
    xs = np.linspace(lo, hi, 200001)
    cdf = integrate.cumulative_trapezoid(rho(xs), xs, initial=0.0)
    cdf /= cdf[-1]
    return lambda x: np.interp(x, xs, cdf)


@pytest.mark.parametrize("scheme", ["euler_overdamped", "baoab"])
def test_double_well_long_run_matches_gibbs(rng, scheme):
    """V = x⁴/4 − x²/2, λ = 0.5: KS test of the x-marginal at t = T against ρ∞ ∝ e^{−V/λ}.

    Particles are independent (no interaction), the initial law is symmetric so the law
    stays symmetric and the slow inter-well (odd) mode is never excited; the even modes
    relax at about the well curvature V''(±1) = 2 (overdamped, T = 12: e^{−24}) or about
    γ/2 = 0.5 (kinetic, T = 30: e^{−15}), far below the KS threshold. Threshold D ≤ 1.95/√N (KS critical value at α = 10⁻³) + bias allowance:
    for a harmonic well of curvature k, Euler's stationary variance is λ/(k(1 − kh/2)),
    a relative error kh/2, which moves a Gaussian CDF by ≤ 0.121·kh/2 in KS distance;
    with k ≤ max V'' = 6.7 on the bulk |x| ≤ 1.6 that is 0.41 h. BAOAB's configurational
    bias is O(h²) (exact for harmonic wells); allowance 0.41 h² by the same scale."""
    N, lam, lo, hi = 20000, 0.5, -4.0, 4.0
    V = lambda x: x**4 / 4 - x**2 / 2
    x0 = rng.uniform(-2, 2, N)
    if scheme == "baoab":
        h, T = 0.05, 30.0
        sol = simulate(x0, rng.normal(0, np.sqrt(lam), N), grad_potential=Polynomial([0, -1, 0, 1]),
                       gamma=1.0, temperature=lam, dt=h, snapshots=[T], domain=(lo, hi),
                       seed=5, scheme="baoab")
        allowance = 0.41 * h * h
    else:
        h, T = 0.002, 12.0
        sol = simulate(x0, None, grad_potential=Polynomial([0, -1, 0, 1]), temperature=lam,
                       dt=h, snapshots=[T], domain=(lo, hi), seed=6)
        allowance = 0.41 * h
    assert sol.success
    D = stats.kstest(sol.x, _gibbs_cdf(V, lam, lo, hi)).statistic
    assert D <= 1.95 / np.sqrt(N) + allowance, D


def _fit_slope(h, bias, se):
    """Weighted least-squares slope of log|bias| on log h and its standard error."""
    X = np.log(h)
    Y = np.log(np.abs(bias))
    w = (np.abs(bias) / se) ** 2            # var(log|b|) ≈ (se/|b|)²
    Xm = np.sum(w * X) / np.sum(w)
    Ym = np.sum(w * Y) / np.sum(w)
    slope = np.sum(w * (X - Xm) * (Y - Ym)) / np.sum(w * (X - Xm) ** 2)
    return slope, np.sqrt(1.0 / np.sum(w * (X - Xm) ** 2))


def _time_averaged_x2(x0, v0, h, t_burn, t_end, every, **kw):
    """Per-particle time average of x² over snapshots in (t_burn, t_end] (step-aligned)."""
    acc = np.zeros(x0.size)
    count = [0]

    def cb(k, t, x, v):
        if t > t_burn:
            acc[:] += x * x
            count[0] += 1

    k = int(round(every / h))
    snaps = h * k * np.arange(1, int(round(t_end / (h * k))) + 1)
    sol = simulate(x0, v0, dt=h, snapshots=snaps, on_snapshot=cb, **kw)
    assert sol.success
    a = acc / count[0]
    return a.mean(), a.std() / np.sqrt(x0.size)   # particles independent: exact SE


def test_weak_order_euler_harmonic(rng):
    """Kinetic Euler, V = x²/2, γ = λ = 1: stationary E x² of the chain is the (1,1) entry
    of the discrete Lyapunov solution Σ = MΣMᵀ + Q — computed exactly. The simulated bias
    (against λ/a = 1) must match it within 5 SE, and the fitted slope of log|bias| must
    match the exact chain's slope (≈ 1: weak order 1) within 5 SE of the fit."""
    N, a, gamma, lam = 100000, 1.0, 1.0, 1.0
    hs = np.array([0.2, 0.1, 0.05])
    bias, se, exact_bias = [], [], []
    for h in hs:
        M = np.array([[1.0, h], [-a * h, 1.0 - gamma * h]])
        Sig = linalg.solve_discrete_lyapunov(M, np.diag([0.0, 2 * gamma * lam * h]))
        exact_bias.append(Sig[0, 0] - lam / a)
        x0 = rng.normal(0, np.sqrt(Sig[0, 0]), N)
        v0 = rng.normal(0, np.sqrt(Sig[1, 1]), N)     # near the chain's law; burn-in 10
        m, s = _time_averaged_x2(x0, v0, h, 10.0, 50.0, 0.4, grad_potential=Polynomial([0, a]),
                                 gamma=gamma, temperature=lam, domain=(-20, 20), seed=9)
        bias.append(m - lam / a)
        se.append(s)
    bias, se, exact_bias = map(np.array, (bias, se, exact_bias))
    assert np.all(np.abs(bias - exact_bias) <= Z5 * se), (bias, exact_bias, se)
    slope, slope_se = _fit_slope(hs, bias, se)
    exact_slope = np.polyfit(np.log(hs), np.log(np.abs(exact_bias)), 1)[0]
    # the chain is weak order 1: its exact local slope tends to 1 as h → 0
    def chain_bias(h):
        M = np.array([[1.0, h], [-a * h, 1.0 - gamma * h]])
        return linalg.solve_discrete_lyapunov(M, np.diag([0.0, 2 * gamma * lam * h]))[0, 0] - lam / a
    assert abs(np.log(chain_bias(1e-3) / chain_bias(5e-4)) / np.log(2.0) - 1.0) < 0.01
    assert abs(slope - exact_slope) <= Z5 * slope_se, (slope, exact_slope, slope_se)


def test_weak_order_baoab_double_well(rng):
    """BAOAB, V = x⁴/4 − x²/2, γ = λ = 1: bias of the stationary E x² (reference by
    quadrature of the Gibbs law) at h = 0.4, 0.28, 0.2 (time average over [10, 100]). (For a harmonic well BAOAB's
    configurational law is exact, so an anharmonic potential is needed.) The fitted slope
    must be within 5 SE of 2 and more than 5 SE above 1."""
    N, lam = 500000, 1.0
    V = lambda x: x**4 / 4 - x**2 / 2
    z = integrate.quad(lambda x: np.exp(-V(x) / lam), -10, 10, epsabs=0, epsrel=1e-13)[0]
    m2 = integrate.quad(lambda x: x * x * np.exp(-V(x) / lam), -10, 10, epsabs=0,
                        epsrel=1e-13)[0] / z
    hs = np.array([0.4, 0.28, 0.2])
    bias, se = [], []
    for h in hs:
        x0 = rng.normal(0, np.sqrt(m2), N)
        v0 = rng.normal(0, np.sqrt(lam), N)
        m, s = _time_averaged_x2(x0, v0, h, 10.0, 100.0, h * round(1.0 / h),
                                 grad_potential=Polynomial([0, -1, 0, 1]), gamma=1.0,
                                 temperature=lam, domain=(-10, 10), seed=10, scheme="baoab")
        bias.append(m - m2)
        se.append(s)
    bias, se = np.array(bias), np.array(se)
    assert np.all(np.abs(bias) > 3 * se), (bias, se)        # bias resolved at every h
    slope, slope_se = _fit_slope(hs, bias, se)
    assert abs(slope - 2.0) <= Z5 * slope_se, (slope, slope_se)
    assert slope - 1.0 > Z5 * slope_se, (slope, slope_se)
