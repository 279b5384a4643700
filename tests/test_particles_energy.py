"""Particles with a mean-field energy (``simulate(..., energy=)``, DESIGN §9).

Exact oracle (ORACLES "two-layer networks with identity activation"): identity activation,
output weight fixed to 1, V = ω²|x|²/2. Then ∇x δF/δμ = Σ_z m − b with m the particles'
mean, so every scheme is a *linear* recursion and its exact discrete law is computed here
by propagating means and covariances through the scheme's sub-steps (no time-step bias
in the comparison). With A = ω² I + Σ_z and ξ̄ the mean of the N noises (Cov I/N):

* the particles' mean m_k follows the scheme with force A m − b and noise ξ̄:
  E m_k and Cov(m_k) exactly (e.g. overdamped Euler: E m_{k+1} = (I − ηA) E m_k + ηb,
  P_{k+1} = (I − ηA) P_k (I − ηA)ᵀ + 2λη I/N);
* the deviations y_i = x_i − m follow the scheme with force ω² y and noise ξ_i − ξ̄
  (Cov (1 − 1/N) I): E[(1/N) Σ y_i y_iᵀ] = C_k exactly, C_0 = (1 − 1/N) C(0).

Each statistic is checked within 5 standard errors (from N) of the exact discrete law,
and the discrete law is checked against the continuous one (the ODEs of ORACLES) within
its own exactly computed distance, which is O(η).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import expm

from vfp.grids import reference_meanfield as ref
from vfp.grids.meanfield import TwoLayerNetwork
from vfp.particles import Polynomial, PolynomialND, Quadratic, simulate

OMEGA2 = 0.8
LAM = 0.3
GAMMA = 1.5


def _identity_problem(rng, p, m=12):
    z = rng.normal(size=(m, p))
    y = z @ np.linspace(0.5, -1.0, p) + 0.2 + 0.1 * rng.normal(size=m)
    net = TwoLayerNetwork(z, y, "identity", 1.0)
    sigma_z = z.T @ z / m
    b = z.T @ y / m
    return net, sigma_z, b


def _substeps(scheme, kinetic, K, f, eta, d):
    """The scheme for the linear force F(x) = K x − f as affine sub-steps (M, c, Q):
    s ← M s + c + noise with covariance Q per unit noise variance; s = x (overdamped) or
    (x, v) (kinetic)."""
    eye = np.eye(d)
    zero = np.zeros((d, d))
    if not kinetic:
        return [(eye - eta * K, eta * f, 2 * LAM * eta * eye)]
    if scheme == "euler":
        M = np.block([[eye, eta * eye], [-eta * K, (1 - GAMMA * eta) * eye]])
        Q = np.block([[zero, zero], [zero, 2 * GAMMA * LAM * eta * eye]])
        return [(M, np.concatenate([np.zeros(d), eta * f]), Q)]
    h = 0.5 * eta
    ou = np.exp(-GAMMA * eta)
    none = np.zeros((2 * d, 2 * d))
    B = (np.block([[eye, zero], [-h * K, eye]]), np.concatenate([np.zeros(d), h * f]), none)
    A = (np.block([[eye, h * eye], [zero, eye]]), np.zeros(2 * d), none)
    O = (np.block([[eye, zero], [zero, ou * eye]]), np.zeros(2 * d),
         np.block([[zero, zero], [zero, LAM * (1 - ou * ou) * eye]]))
    return [B, A, O, A, B]


def _propagate(steps, mean, cov, noise_scale, n_steps):
    for _ in range(n_steps):
        for M, c, Q in steps:
            mean = M @ mean + c
            cov = M @ cov @ M.T + noise_scale * Q
    return mean, cov


def _exact_discrete(scheme, kinetic, sigma_z, b, x_mean0, x_cov0, v_cov0, n, eta, n_steps):
    """(E m_k, Cov(m_k), E S_k) of the particles' positions, S the empirical covariance."""
    d = b.size
    A = OMEGA2 * np.eye(d) + sigma_z
    s = 2 * d if kinetic else d
    mean0 = np.concatenate([x_mean0, np.zeros(d)]) if kinetic else x_mean0
    cov0 = np.zeros((s, s))
    cov0[:d, :d] = x_cov0
    if kinetic:
        cov0[d:, d:] = v_cov0
    em, _ = _propagate(_substeps(scheme, kinetic, A, b, eta, d), mean0, np.zeros((s, s)), 0.0,
                       n_steps)
    _, pm = _propagate(_substeps(scheme, kinetic, A, b, eta, d), np.zeros(s), cov0 / n,
                       1.0 / n, n_steps)
    _, cs = _propagate(_substeps(scheme, kinetic, OMEGA2 * np.eye(d), np.zeros(d), eta, d),
                       np.zeros(s), cov0 * (1 - 1 / n), 1 - 1 / n, n_steps)
    return em[:d], pm[:d, :d], cs[:d, :d]


def _exact_continuous(kinetic, sigma_z, b, x_mean0, x_cov0, v_cov0, t):
    """(m(t), C(t)) of the positions, ORACLES (kinetic: the linear SDE's moments)."""
    d = b.size
    A = OMEGA2 * np.eye(d) + sigma_z
    if not kinetic:
        star = np.linalg.solve(A, b)
        m = star + expm(-A * t) @ (x_mean0 - star)
        e = np.exp(-2 * OMEGA2 * t)
        return m, e * x_cov0 + LAM / OMEGA2 * (1 - e) * np.eye(d)
    eye = np.eye(d)
    zero = np.zeros((d, d))
    gen_mean = np.block([[zero, eye], [-A, -GAMMA * eye]])
    drive = np.concatenate([np.zeros(d), b])
    s0 = np.concatenate([x_mean0, np.zeros(d)])
    star = np.linalg.solve(gen_mean, -drive)
    mean = star + expm(gen_mean * t) @ (s0 - star)
    # covariance: Lyapunov flow C' = G C + C Gᵀ + D, by the exact (vectorised) exponential
    G = np.block([[zero, eye], [-OMEGA2 * eye, -GAMMA * eye]])
    D = np.block([[zero, zero], [zero, 2 * GAMMA * LAM * eye]])
    C0 = np.block([[x_cov0, zero], [zero, v_cov0]])
    s = 2 * d
    L = np.kron(np.eye(s), G) + np.kron(G, np.eye(s))
    vec = C0.reshape(-1, order="F")
    big = np.zeros((s * s + 1, s * s + 1))
    big[:s * s, :s * s] = L
    big[:s * s, s * s] = D.reshape(-1, order="F")
    out = expm(big * t) @ np.concatenate([vec, [1.0]])
    C = out[:s * s].reshape(s, s, order="F")
    return mean[:d], C[:d, :d]


def _run_identity(rng, d, scheme, kinetic, n, eta, n_steps, seed=7):
    net, sigma_z, b = _identity_problem(rng, d)
    x_mean0 = np.linspace(1.0, -0.5, d)
    x_sd0, v_sd0 = 0.6, 0.8
    x0 = x_mean0 + x_sd0 * rng.normal(size=(n, d))
    v0 = v_sd0 * rng.normal(size=(n, d)) if kinetic else None
    if d == 1:
        x0 = x0[:, 0]
        v0 = None if v0 is None else v0[:, 0]
        force = Polynomial([0.0, OMEGA2])
    else:
        force = PolynomialND.quadratic(OMEGA2 * np.eye(d))
    t_end = eta * n_steps
    sol = simulate(x0, v0, grad_potential=force, gamma=GAMMA, temperature=LAM, dt=eta,
                   snapshots=[t_end], domain=None, scheme=scheme, seed=seed, energy=net)
    assert sol.success and sol.n_steps == n_steps
    x = sol.x.reshape(n, d)
    x_cov0 = x_sd0 ** 2 * np.eye(d)
    v_cov0 = v_sd0 ** 2 * np.eye(d)
    disc = _exact_discrete(scheme, kinetic, sigma_z, b, x_mean0, x_cov0, v_cov0, n, eta,
                           n_steps)
    cont = _exact_continuous(kinetic, sigma_z, b, x_mean0, x_cov0, v_cov0, t_end)
    return x, disc, cont


def _check_against_exact(x, disc, cont, n):
    em, pm, cs = disc
    m = x.mean(axis=0)
    S = np.cov(x.T, bias=True).reshape(len(m), len(m))
    se_m = np.sqrt(np.diag(pm))
    # S − C: for Gaussian deviations Var(S_ab) ≈ (C_aa C_bb + C_ab²)/N
    se_S = np.sqrt((np.outer(np.diag(cs), np.diag(cs)) + cs * cs) / n)
    assert np.all(np.abs(m - em) <= 5 * se_m), (m, em, se_m)
    assert np.all(np.abs(S - cs) <= 5 * se_S), (S, cs, se_S)
    # against the continuous law: the same noise floor plus the scheme's exact bias
    bias_m = np.abs(em - cont[0])
    bias_S = np.abs(cs * n / (n - 1) - cont[1])
    assert np.all(np.abs(m - cont[0]) <= 5 * se_m + bias_m)
    assert np.all(np.abs(S * n / (n - 1) - cont[1]) <= 5 * se_S + bias_S + np.abs(cs) / n)
    return bias_m, bias_S


@pytest.mark.parametrize("d, scheme, kinetic", [(2, "euler", False),
                                               pytest.param(1, "euler", True, marks=pytest.mark.slow),
                                                (2, "baoab", True)])
def test_identity_network_matches_the_exact_gaussian_law(rng, d, scheme, kinetic):
    n, eta, n_steps = 20_000, 0.02, 50
    x, disc, cont = _run_identity(rng, d, scheme, kinetic, n, eta, n_steps)
    bias_m, bias_S = _check_against_exact(x, disc, cont, n)
    # the scheme's distance to the continuous law is O(η) (Euler) / O(η²) (BAOAB): a few η
    assert bias_m.max() < 0.5 * eta * (1 if scheme == "euler" else eta) + 1e-12
    assert bias_S.max() < 0.5 * eta * (1 if scheme == "euler" else eta) + 1e-12


@pytest.mark.slow
@pytest.mark.parametrize("d, scheme, kinetic", [(1, "euler", False), (2, "euler", True),
                                                (1, "baoab", True), (3, "euler", False)])
def test_identity_network_exact_law_more_cases(rng, d, scheme, kinetic):
    n, eta, n_steps = 50_000, 0.01, 150
    x, disc, cont = _run_identity(rng, d, scheme, kinetic, n, eta, n_steps)
    _check_against_exact(x, disc, cont, n)


def test_risk_gap_is_half_trace_sigma_cov_mean(rng):
    """E F(μ^N) − F(E-law) = ½ tr(Σ_z Cov(m_N)) (ORACLES), over R independent runs of N
    particles: the exact discrete Cov(m_N) against the runs' mean risk minus F at E m."""
    d, n, eta, n_steps, runs = 2, 8, 0.05, 20, 1000
    net, sigma_z, b = _identity_problem(rng, d)
    x_mean0 = np.array([1.0, -0.5])
    x_cov0 = 0.36 * np.eye(d)
    em, pm, _ = _exact_discrete("euler", False, sigma_z, b, x_mean0, x_cov0, None, n, eta,
                                n_steps)
    force = PolynomialND.quadratic(OMEGA2 * np.eye(d))
    w = np.full(n, 1.0 / n)
    risks = np.empty(runs)
    x0s = x_mean0 + 0.6 * rng.normal(size=(runs, n, d))
    for r in range(runs):
        sol = simulate(x0s[r], None, grad_potential=force, temperature=LAM, dt=eta,
                       snapshots=[eta * n_steps], domain=None, seed=r, energy=net)
        risks[r] = net.value(sol.x, w)
    f_mean = net.value(em[None, :], np.ones(1))
    gap_exact = 0.5 * np.trace(sigma_z @ pm)
    gap = risks.mean() - f_mean
    assert abs(gap - gap_exact) <= 5 * risks.std(ddof=1) / np.sqrt(runs)
    assert gap_exact > 6 * risks.std(ddof=1) / np.sqrt(runs)      # the test can see it


def _tanh_problem(rng, n=1500, m=40, p=2):
    z = rng.normal(size=(m, p))
    y = np.tanh(z @ np.array([1.0, -0.7])) - 0.3 * np.tanh(z[:, 0] + 0.5)
    net = TwoLayerNetwork(z, y, "tanh", "learned")
    x0 = rng.normal(size=(n, p + 1))
    return net, x0, z, y


class _NumpyTwinEnergy:
    """A Python energy: the NumPy twin of the network (grids.reference_meanfield)."""

    def __init__(self, z, y, act, output_weight):
        self.args = (z, y, act, output_weight)
        self.calls = 0

    def value(self, points, weights):
        return ref.value(points, weights, *self.args)

    def drift(self, query, points, weights):
        self.calls += 1
        return ref.drift(query, points, weights, *self.args)


@pytest.mark.slow
def test_compiled_drift_is_the_numpy_twin_at_the_same_positions(rng):
    """One overdamped Euler step with and without the energy (the same noise):
    x₁(no energy) − x₁(energy) = η ∇x δF/δμ(x₀) exactly, against the NumPy twin."""
    net, x0, z, y = _tanh_problem(rng)
    n = x0.shape[0]
    eta = 0.125
    common = dict(grad_potential=PolynomialND.quadratic(0.5 * np.eye(3)), temperature=0.2,
                  dt=eta, snapshots=[eta], domain=((-9, -9, -9), (9, 9, 9)), seed=3)
    with_energy = simulate(x0, None, energy=net, **common)
    without = simulate(x0, None, **common)
    drift = (without.x - with_energy.x) / eta
    expect = ref.drift(x0, x0, np.full(n, 1 / n), z, y, "tanh", "learned")
    np.testing.assert_allclose(drift, expect, rtol=0, atol=2e-13)
    assert np.abs(expect).max() > 0.05


@pytest.mark.parametrize("scheme, kinetic", [("euler", False),
                                             pytest.param("baoab", True, marks=pytest.mark.slow)])
def test_python_energy_path_equals_the_compiled_path(rng, scheme, kinetic):
    """The NumPy-twin energy called from Python once per force evaluation gives the
    compiled network's numbers (walls and a Quadratic interaction on as well)."""
    net, x0, z, y = _tanh_problem(rng, n=700)
    x0 = np.clip(x0, -2.4, 2.4)
    v0 = rng.normal(size=x0.shape) if kinetic else None
    twin = _NumpyTwinEnergy(z, y, "tanh", "learned")
    common = dict(grad_potential=PolynomialND.quadratic(0.5 * np.eye(3)),
                  interaction=Quadratic(0.4), temperature=0.2, dt=0.05,
                  snapshots=[0.5, 1.0], domain=((-2.5,) * 3, (2.5,) * 3), seed=11,
                  scheme=scheme)
    a = simulate(x0, v0, energy=net, **common)
    b = simulate(x0, v0, energy=twin, **common)
    assert a.success and b.success and a.n_reflected > 0
    assert twin.calls == a.n_steps + (1 if scheme == "baoab" else 0)
    scale = np.abs(a.x).max()
    np.testing.assert_allclose(b.x, a.x, rtol=0, atol=1e-11 * scale)
    if kinetic:
        np.testing.assert_allclose(b.v, a.v, rtol=0, atol=1e-11 * np.abs(a.v).max())
    np.testing.assert_array_equal(a.reflections, b.reflections)


def test_energy_runs_do_not_depend_on_the_thread_count(rng):
    import numba
    net, x0, _, _ = _tanh_problem(rng, n=2500)
    v0 = rng.normal(size=x0.shape)
    common = dict(grad_potential=PolynomialND.quadratic(0.5 * np.eye(3)), temperature=0.2,
                  dt=0.05, snapshots=[0.3], domain=None, seed=5, scheme="baoab", energy=net)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = simulate(x0, v0, **common)
        numba.set_num_threads(max(2, before))
        many = simulate(x0, v0, **common)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one.x, many.x)
    np.testing.assert_array_equal(one.v, many.v)


def test_d1_energy_shapes_and_interaction(rng):
    """x0 (N,) and (N, 1) give the same numbers; d = 1 shapes and float walls; a
    Quadratic interaction leaves the mean unchanged up to round-off."""
    net, _, _ = _identity_problem(rng, 1)
    x0 = rng.uniform(-1, 1, 400)
    common = dict(grad_potential=Polynomial([0.0, OMEGA2]), temperature=LAM, dt=0.05,
                  snapshots=[0.25, 0.5], domain=(-3.0, 3.0), seed=2, energy=net)
    seen = []
    flat = simulate(x0, None, on_snapshot=lambda k, t, x, v: seen.append(x.shape), **common)
    col = simulate(x0[:, None], None, **common)
    inter = simulate(x0, None, interaction=Quadratic(0.7), **common)
    assert flat.x.shape == (400,) and col.x.shape == (400, 1) and seen == [(400,), (400,)]
    assert flat.domain == (-3.0, 3.0) and flat.reflections.shape == (1, 2)
    np.testing.assert_array_equal(flat.x, col.x[:, 0])
    assert abs(inter.x.mean() - flat.x.mean()) < 1e-13


def test_energy_input_errors(rng):
    net, _, _ = _identity_problem(rng, 2)
    x0 = rng.normal(size=(10, 3))
    with pytest.raises(ValueError, match="energy is defined in d = 2"):
        simulate(x0, None, grad_potential=None, temperature=1.0, dt=0.1, snapshots=[0.1],
                 domain=None, seed=0, energy=net)
    with pytest.raises(TypeError, match="drift"):
        simulate(x0, None, grad_potential=None, temperature=1.0, dt=0.1, snapshots=[0.1],
                 domain=None, seed=0, energy=object())

    class Bad:
        def drift(self, q, p, w):
            return np.zeros((len(q), 2))
    with pytest.raises(ValueError, match="energy.drift returned shape"):
        simulate(x0, None, grad_potential=None, temperature=1.0, dt=0.1, snapshots=[0.1],
                 domain=None, seed=0, energy=Bad())
