"""The mean-field phase transition of a double well with an attractive quadratic interaction
(issue 13, example 4; examples/phase_transition.py).

V = x⁴/4 − x²/2, W = κx²/2: the stationary laws are the tilted Gibbs laws
ρ_m ∝ exp(−(V + κ(x²/2 − m x))/λ) with m = R(m) (validation.exact.mean_map); the symmetric
one (m = 0) loses stability at λ_c, where R'(0) = 1, and two ordered ones ±m* appear.
Checked here: λ_c and m* against independent computations (finite differences of R,
adaptive quadrature, the square-root bifurcation), the grid's long-time state against ρ_{m*}
and ρ_0, and N particles against m* with a tolerance from N.
"""

import numpy as np
import pytest
from scipy import integrate

import vfp
from vfp import pipeline
from vfp.validation import exact

KAPPA = 1.0
LO, HI = -3.0, 3.0
BELOW, ABOVE = 0.25, 0.6


def double_well(x):
    return x ** 4 / 4 - x ** 2 / 2


@pytest.fixture(scope="module")
def lambda_c():
    return exact.critical_temperature(double_well, KAPPA, LO, HI)


def moments_by_quad(lam, tilt=0.0):
    """Mean and variance of ρ ∝ exp(−(V + κx²/2 − tilt·x)/λ) by adaptive quadrature
    (independent of the trapezoid rule of validation.exact)."""
    def weight(x, p):
        return x ** p * np.exp(-(double_well(x) + 0.5 * KAPPA * x * x - tilt * x) / lam)

    z, m1, m2 = (integrate.quad(weight, LO, HI, args=(p,), epsabs=1e-12, epsrel=1e-13,
                                limit=400)[0] for p in (0, 1, 2))
    return m1 / z, m2 / z - (m1 / z) ** 2


def test_critical_temperature_makes_the_slope_of_the_mean_map_one(lambda_c):
    """At λ_c, R'(0) = 1: by a central difference of R (error R'''δ²/6 ≈ 1e-8 for δ = 1e-4,
    round-off 1e-16/δ) and by κVar/λ with Var from adaptive quadrature."""
    delta = 1e-4
    slope = (exact.mean_map(double_well, KAPPA, lambda_c, delta, LO, HI)
             - exact.mean_map(double_well, KAPPA, lambda_c, -delta, LO, HI)) / (2 * delta)
    assert abs(slope - 1.0) < 1e-6
    assert abs(KAPPA * moments_by_quad(lambda_c)[1] / lambda_c - 1.0) < 1e-9
    # the symmetric law is stable just above λ_c and unstable just below
    for lam, sign in ((lambda_c * 1.01, -1.0), (lambda_c * 0.99, 1.0)):
        s = (exact.mean_map(double_well, KAPPA, lam, delta, LO, HI) / delta) - 1.0
        assert np.sign(s) == sign


def test_ordered_mean_is_a_stable_fixed_point_and_bifurcates_as_a_square_root(lambda_c):
    m_star = exact.ordered_mean(double_well, KAPPA, BELOW, LO, HI)
    assert 0.5 < m_star < 1.0
    assert abs(exact.mean_map(double_well, KAPPA, BELOW, m_star, LO, HI) - m_star) < 1e-12
    delta = 1e-4
    slope = (exact.mean_map(double_well, KAPPA, BELOW, m_star + delta, LO, HI)
             - exact.mean_map(double_well, KAPPA, BELOW, m_star - delta, LO, HI)) / (2 * delta)
    assert 0.0 < slope < 1.0                            # stable: |R'(m*)| < 1
    # the ordered law is the tilted Gibbs law with h = κm*: its mean by quadrature is m*
    assert abs(moments_by_quad(BELOW, KAPPA * m_star)[0] - m_star) < 1e-11
    assert exact.ordered_mean(double_well, KAPPA, ABOVE, LO, HI) == 0.0
    assert exact.ordered_mean(double_well, KAPPA, lambda_c * 1.001, LO, HI) == 0.0
    # pitchfork: m*² = A ε + B ε² + …, ε = λ_c − λ; m*²/ε at ε = 1e-3 λ_c and 2e-3 λ_c
    # differ by B ε/A, of relative order ε/λ_c ~ 1e-3: 1% leaves a factor 10
    ratios = []
    for eps in (1e-3 * lambda_c, 2e-3 * lambda_c):
        m = exact.ordered_mean(double_well, KAPPA, lambda_c - eps, LO, HI)
        assert 0.0 < m < 0.2
        ratios.append(m * m / eps)
    assert abs(ratios[0] / ratios[1] - 1.0) < 1e-2


def test_landau_free_energy_has_its_minimum_at_the_ordered_law():
    """Φ(m*) is the free energy ∫Vρ + ½∫∫Wρρ + λ∫ρ log ρ of ρ_{m*} itself (computed here
    by adaptive quadrature), Φ'(m*) = 0, and the barrier Φ(0) − Φ(m*) is positive."""
    lam = BELOW
    m_star = exact.ordered_mean(double_well, KAPPA, lam, LO, HI)
    h = KAPPA * m_star
    u = lambda x: double_well(x) + 0.5 * KAPPA * x * x - h * x   # noqa: E731
    z = integrate.quad(lambda x: np.exp(-u(x) / lam), LO, HI, epsabs=0.0, epsrel=1e-13,
                       limit=400)[0]
    rho = lambda x: np.exp(-u(x) / lam) / z                         # noqa: E731
    mean_v = integrate.quad(lambda x: double_well(x) * rho(x), LO, HI, epsrel=1e-13,
                            limit=400)[0]
    entropy = integrate.quad(lambda x: rho(x) * np.log(rho(x)), LO, HI, epsrel=1e-13,
                             limit=400)[0]
    free = mean_v + 0.5 * KAPPA * moments_by_quad(lam, h)[1] + lam * entropy
    phi = exact.mean_free_energy(double_well, KAPPA, lam, m_star, LO, HI)
    assert abs(phi - free) < 1e-9
    d = 1e-4
    dphi = (exact.mean_free_energy(double_well, KAPPA, lam, m_star + d, LO, HI)
            - exact.mean_free_energy(double_well, KAPPA, lam, m_star - d, LO, HI)) / (2 * d)
    assert abs(dphi) < 1e-7
    assert exact.mean_free_energy(double_well, KAPPA, lam, 0.0, LO, HI) - phi > 0.01


CONFIG = """
[model]
regime = "overdamped"
temperature = {lam}
potential = {{ expr = "x**4/4 - x**2/2" }}
interaction = {{ kind = "quadratic", kappa = {kappa} }}
[initial]
kind = "gaussian"
mean = 1.0
std = 0.3
[time]
t_end = {t_end}
snapshots = [0.0, {t_mid}, {t_end}]
[grid]
x = {{ min = {lo}, max = {hi}, cells = {cells} }}
scheme = "{scheme}"
{dt}
[particles]
n = 4000
dt = 0.005
seed = 5
"""


def config(lam, t_end, cells=100, scheme="sg_implicit", dt=0.1):
    return vfp.loads_config(CONFIG.format(
        lam=lam, kappa=KAPPA, t_end=t_end, t_mid=t_end / 2, lo=LO, hi=HI, cells=cells,
        scheme=scheme, dt="" if dt is None else f"dt = {dt}"))


def grid_means(cfg):
    solution, problem, _ = pipeline.solve_grid(cfg)
    x, h = problem.x.centres, problem.x.h
    return solution.states, x, h, np.array([np.sum(s * x) * h for s in solution.states])


@pytest.mark.parametrize("lam, t_end", [(BELOW, 60.0), (ABOVE, 200.0)])
def test_grid_long_time_state_is_the_self_consistent_law(lam, t_end):
    """sg_implicit's stationary state is the discrete Gibbs law ρ_i ∝ exp(−Φ_i/λ), Φ_i with
    the midpoint-rule convolution (grids.implicit): for W = κx²/2 that is ρ_{m_h}(x_i) with
    m_h = R_h(m_h), R_h the midpoint rule for R. The integrand is analytic and ~e^{−70}
    at the walls, so R_h = R to round-off and the only error left is the time decay
    e^{−r t} (r ≈ 0.57 below λ_c, 0.14 above, measured): 1e-9 at these t_end."""
    states, x, h, means = grid_means(config(lam, t_end))
    m_star = exact.ordered_mean(double_well, KAPPA, lam, LO, HI)
    assert (m_star > 0.5) == (lam < 0.4569)
    _, _, log_z = exact.tilted_gibbs_moments(double_well, KAPPA, lam, KAPPA * m_star, LO, HI)
    target = np.exp(-(double_well(x) + 0.5 * KAPPA * x * x - KAPPA * m_star * x) / lam - log_z)
    errors = np.abs(means - m_star)
    assert errors[2] < errors[1] < errors[0]             # converging, not sitting
    assert errors[2] < 1e-9
    assert np.sum(np.abs(states[-1] - target)) * h < 1e-9


def test_particles_settle_at_the_ordered_mean_within_their_fluctuation():
    """N particles started in the right well, below λ_c, at t = 20 (the mean-field mean is
    within 2e-6 of m* by then): the N-particle mean fluctuates about m* with variance
    λ/(N Φ''(m*)) (the Gibbs law of the empirical mean is ≈ exp(−NΦ(m)/λ)), checked at 4σ;
    the Euler bias at η = 0.005 (measured ≲ 1e-3 with N = 10⁵) is far below σ ≈ 0.009.
    Above λ_c at t = 60 (mean field 2e-4) it fluctuates about 0 with variance λ/(N Φ''(0)),
    σ ≈ 0.03."""
    for lam, t_end in ((BELOW, 20.0), (ABOVE, 60.0)):
        cfg = config(lam, t_end)
        m_star = exact.ordered_mean(double_well, KAPPA, lam, LO, HI)
        d = 1e-3
        phi = [exact.mean_free_energy(double_well, KAPPA, lam, m_star + k * d, LO, HI)
               for k in (-1, 0, 1)]
        curvature = (phi[0] - 2 * phi[1] + phi[2]) / d ** 2
        n = cfg.particles.n
        sigma = np.sqrt(lam / (n * curvature))
        solution = pipeline.simulate_particles(cfg, times=np.array([0.0, t_end]))
        assert abs(solution.x.mean() - m_star) < 4 * sigma, (lam, solution.x.mean(), m_star)


@pytest.mark.slow
def test_muscl_stationary_mean_converges_at_second_order():
    """muscl (second order in space) has no exact discrete Gibbs state: the stationary mean
    errs by O(h²); 100 → 200 cells on [−3, 3] (measured 1.3e-4 → 3.7e-5)."""
    errors = []
    m_star = exact.ordered_mean(double_well, KAPPA, BELOW, LO, HI)
    for cells in (100, 200):
        _, _, _, means = grid_means(config(BELOW, 60.0, cells=cells, scheme="muscl", dt=None))
        assert abs(means[2] - means[1]) < 1e-3 * abs(means[2] - m_star)   # stationary
        errors.append(abs(means[2] - m_star))
    order = np.log2(errors[0] / errors[1])
    assert 1.6 < order < 2.4, errors


@pytest.mark.slow
def test_phase_transition_example_runs(tmp_path):
    """examples/phase_transition.py --quick writes its two figures and prints the λ_c of
    validation.exact and the grid's m(t_end) = m* (sg_implicit: exact discrete fixed point)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "phase_transition.py"
    out = subprocess.run([sys.executable, str(script), "--quick", "--workers", "1", "--out",
                          str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    lambda_c = exact.critical_temperature(double_well, KAPPA, LO, HI)
    m_star = exact.ordered_mean(double_well, KAPPA, BELOW, LO, HI)
    assert f"λ_c = {lambda_c:.6f}, m* = {m_star:.6f}" in out.stdout
    assert f"grid m(t_end = 40) = {m_star:.6f}" in out.stdout
    for name in ("trajectories", "vs_n"):
        assert (tmp_path / f"phase_transition_{name}_quick.png").stat().st_size > 10_000
