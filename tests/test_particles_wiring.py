"""Particle simulator: the interaction wiring (sign, 1/N, mesh against pairwise), free
space (no domain) and the reflection counts per wall.

Bounds are derived, not tuned:

* mesh against pairwise. The mesh force at x_i is (1/N) Σ_j (I_a I_b g)(x_i, x_j) with
  g(a, b) = W'(a − b) and I_a, I_b the CIC (linear) interpolants on the mesh nodes: CIC
  deposit, the discrete convolution and CIC interpolation compose to exactly that. The
  tensor-product linear interpolant errs by at most h²/8 (max|g_aa| + max|g_bb|), so
  |F_mesh − F_pairwise| ≤ h²/4 · max|W'''| per particle (second order in h). One Euler
  step from the same state with the same noise moves the two runs apart by exactly
  η (F_mesh − F_pairwise) up to rounding.
* free space: overdamped Euler for V = a x²/2 maps a Gaussian law to a Gaussian law, with
  mean (1 − aη)ⁿ m₀ and variance s ← (1 − aη)² s + 2λη exactly, so the particles are
  i.i.d. samples of a known law: a KS test at α = 10⁻³ (critical value 1.95/√N).
"""

import numpy as np
import pytest
from scipy import stats

from vfp.particles import (GaussianKernel, Polynomial, Quadratic, TabulatedKernel,
                           simulate)
from vfp.particles.rng import normals

EPS = np.finfo(float).eps


def _max_abs_w3(grad_w, R):
    """max |W'''| on [−R, R] by a dense central difference of W'' (W'' from W' likewise):
    sampled on 2·10⁵ points, good to ~10⁻⁶ relative for the smooth kernels used here."""
    r = np.linspace(-R, R, 200001)
    d = r[1] - r[0]
    w1 = grad_w(r)
    return np.max(np.abs(np.diff(w1, 2))) / (d * d)


# ------------------------------------------------------------------ force wiring (closed form)

@pytest.mark.parametrize("kinetic", [False, True])
def test_interaction_force_sign_and_normalisation(kinetic):
    """Three particles, one Euler step, pairwise Gaussian kernel W = s e^{−r²/(2w²)}:
    the step must be exactly x' = x − η(V'(x_i) + (1/3) Σ_j W'(x_i − x_j)) + σ z_i (the
    j = i term is W'(0) = 0), with z the generator's own normals. A repulsive bump (s > 0)
    pushes the outer particles outwards."""
    s, w, eta, lam, gamma = 1.7, 0.8, 0.01, 1e-3, 0.5
    x0 = np.array([-0.4, 0.1, 0.5])
    v0 = np.array([0.3, -0.2, 0.1]) if kinetic else None
    spec = GaussianKernel(s, w)
    wprime = lambda r: -s * r / w**2 * np.exp(-r * r / (2 * w * w))
    grad_v = Polynomial([0.2, 0.9])                      # V' = 0.9 x + 0.2
    sol = simulate(x0, v0, grad_potential=grad_v, interaction=spec, gamma=gamma,
                   temperature=lam, dt=eta, snapshots=[eta], domain=(-5, 5), seed=3,
                   interaction_method="pairwise")
    assert sol.interaction_method == "pairwise"
    inter = np.array([sum(wprime(xi - xj) for xj in x0) / 3.0 for xi in x0])
    assert inter[0] > 0 and inter[2] < 0                 # W' < 0 for r > 0: repulsion ...
    g = 0.9 * x0 + 0.2 + inter
    z = normals(3, 0, 3)
    if kinetic:
        x_exp = x0 + eta * v0
        v_exp = (1 - gamma * eta) * v0 - eta * g + np.sqrt(2 * gamma * lam * eta) * z
        np.testing.assert_allclose(sol.v, v_exp, rtol=0, atol=8 * EPS)
    else:
        x_exp = x0 - eta * g + np.sqrt(2 * lam * eta) * z
    np.testing.assert_allclose(sol.x, x_exp, rtol=0, atol=8 * EPS)
    if not kinetic:
        # ... so the force term (without V' and noise) moves the outer particles outwards
        drift_only = sol.x - (x0 - eta * (0.9 * x0 + 0.2) + np.sqrt(2 * lam * eta) * z)
        assert drift_only[0] < 0 < drift_only[2]


def test_tabulated_interaction_wiring():
    """Same closed form with a user W' given as a callable (tabulated on [−L, L]): the step
    matches the exact W' up to the table's own error h_t²/8 · max|W'''| times η."""
    wprime = lambda r: np.sin(r) * np.exp(-r * r)
    x0 = np.array([-0.7, 0.2, 0.3, 0.9])
    eta, lam = 0.01, 1e-3
    sol = simulate(x0, None, grad_potential=None, interaction=wprime, temperature=lam,
                   dt=eta, snapshots=[eta], domain=(-2, 2), seed=8,
                   interaction_method="pairwise")
    inter = np.array([np.mean(wprime(xi - x0)) for xi in x0])
    expected = x0 - eta * inter + np.sqrt(2 * lam * eta) * normals(8, 0, 4)
    L = 4.0
    h_t = 2 * L / 2**14
    bound = eta * h_t**2 / 8 * _max_abs_w3(wprime, L) + 8 * EPS
    assert np.max(np.abs(sol.x - expected)) <= bound


# ------------------------------------------------------------------ mesh against pairwise

@pytest.mark.parametrize("kernel", ["gaussian", "tabulated"])
def test_mesh_step_against_pairwise(rng, kernel):
    """One overdamped Euler step of 4000 particles through ``mesh`` and ``pairwise`` (same
    state, same noise): |Δx| ≤ η · h²/4 · max|W'''| (+ the table error 2η h_t²/8 max|W'''|
    for the tabulated kernel, + rounding), at M = 60 and 120 cells; the error must also
    fall by ≥ 3 when h halves (second order), and the mesh path must have run."""
    lo, hi, eta = -3.0, 3.0, 0.05
    x0 = rng.normal(0, 0.8, 4000).clip(-2.9, 2.9)
    if kernel == "gaussian":
        spec = GaussianKernel(1.3, 0.5)
        table_err = 0.0
        m3 = _max_abs_w3(spec.grad, hi - lo)
    else:
        smooth = lambda r: np.tanh(2 * r) * np.exp(-r * r)
        spec = TabulatedKernel.from_callable(smooth, hi - lo, resolution=0.5)
        m3 = _max_abs_w3(smooth, hi - lo)
        h_t = 2 * (hi - lo) / (spec.values.size - 1)
        table_err = 2 * h_t**2 / 8 * m3
    kw = dict(grad_potential=Polynomial([0.0, 1.0]), interaction=spec, temperature=0.5,
              dt=eta, snapshots=[eta], domain=(lo, hi), seed=4)
    pair = simulate(x0, None, interaction_method="pairwise", **kw)
    assert pair.interaction_method == "pairwise"
    errors = []
    for cells in (60, 120):
        mesh = simulate(x0, None, interaction_method="mesh", mesh_cells=cells, **kw)
        assert mesh.interaction_method == "mesh" and mesh.mesh_cells == cells
        h = (hi - lo) / cells
        err = np.max(np.abs(mesh.x - pair.x))
        assert err <= eta * (h * h / 4 * m3 + table_err) + 8 * EPS * 3.0, (cells, err)
        errors.append(err)
    assert errors[0] > 0                                    # the mesh really differs
    assert errors[0] / errors[1] >= 3.0, errors


def test_quadratic_takes_exact_path_whatever_the_method(rng):
    """A quadratic W never reaches the mesh: κ(x − x̄) is exact, so ``mesh`` and
    ``pairwise`` report the exact path and give the same bytes."""
    x0 = rng.normal(0, 1, 3000).clip(-3.9, 3.9)
    kw = dict(grad_potential=None, interaction=Quadratic(0.7), temperature=0.5, dt=0.01,
              snapshots=[0.05], domain=(-4, 4), seed=1)
    a = simulate(x0, None, interaction_method="mesh", **kw)
    b = simulate(x0, None, interaction_method="pairwise", **kw)
    assert a.interaction_method == b.interaction_method == "exact"
    assert np.array_equal(a.x, b.x)


# ------------------------------------------------------------------ free space

def test_free_space_ou_matches_exact_gaussian_law(rng):
    """domain=None: overdamped Euler, V = a x²/2, started at N(4, 0.5²) — a domain like
    [−3, 3] would be crossed by almost every particle. The final law is the chain's exact
    Gaussian; KS at α = 10⁻³ (D ≤ 1.95/√N), mean and variance within 5 sd (sd from N)."""
    N, a, lam, eta, steps = 40000, 1.0, 0.5, 0.01, 150
    m0, s0 = 4.0, 0.25
    x0 = rng.normal(m0, np.sqrt(s0), N)
    sol = simulate(x0, None, grad_potential=Polynomial([0.0, a]), temperature=lam, dt=eta,
                   snapshots=[steps * eta], domain=None, seed=12)
    assert sol.success and sol.domain is None
    assert sol.n_reflected == 0 and sol.reflected_fraction == 0.0
    m, s = m0, s0
    for _ in range(steps):
        m = (1 - a * eta) * m
        s = (1 - a * eta) ** 2 * s + 2 * lam * eta
    D = stats.kstest(sol.x, stats.norm(m, np.sqrt(s)).cdf).statistic
    assert D <= 1.95 / np.sqrt(N), D
    assert abs(sol.x.mean() - m) <= 5 * np.sqrt(s / N)
    assert abs(sol.x.var() - s) <= 5 * s * np.sqrt(2 / N)
    # the tail beyond 3, where a wall at 3 would have left nothing: binomial, 5 sd
    p = stats.norm(m, np.sqrt(s)).sf(3.0)
    assert abs(np.count_nonzero(sol.x > 3) - N * p) <= 5 * np.sqrt(N * p * (1 - p))
    assert N * p > 25


@pytest.mark.parametrize("scheme,inter", [("euler", None), ("baoab", None),
                                          ("baoab", "pairwise"), ("euler", "quadratic")])
def test_free_space_equals_a_domain_never_reached(rng, scheme, inter):
    """Free space runs the same kernels with walls at ±∞: the bytes equal those of a run
    whose domain is far beyond every particle (no reflection on either)."""
    x0 = rng.normal(0, 1, 3001)
    v0 = rng.normal(0, 1, 3001)
    spec = {None: None, "pairwise": GaussianKernel(0.5, 0.7), "quadratic": Quadratic(0.3)}[inter]
    kw = dict(grad_potential=Polynomial([0.0, -1.0, 0.0, 1.0]), interaction=spec, gamma=1.0,
              temperature=0.5, dt=0.02, snapshots=[0.1, 0.3], seed=2, scheme=scheme,
              interaction_method="pairwise")
    free = simulate(x0, v0, domain=None, **kw)
    walled = simulate(x0, v0, domain=(-1e3, 1e3), **kw)
    assert walled.n_reflected == 0 and free.n_reflected == 0
    assert np.array_equal(free.x, walled.x) and np.array_equal(free.v, walled.v)


def test_free_space_auto_refuses_the_mesh(rng):
    x0 = rng.normal(0, 1, 5001)
    with pytest.raises(ValueError, match="needs a bounded domain"):
        simulate(x0, None, grad_potential=None, interaction=GaussianKernel(1.0, 0.5),
                 temperature=0.5, dt=0.1, snapshots=[0.1], domain=None, seed=0)
    # at N ≤ 5000 auto picks pairwise, which needs no domain
    s = simulate(x0[:5000], None, grad_potential=None, interaction=GaussianKernel(1.0, 0.5),
                 temperature=0.5, dt=0.1, snapshots=[0.1], domain=None, seed=0)
    assert s.interaction_method == "pairwise"


# ------------------------------------------------------------------ reflections per wall

@pytest.mark.parametrize("scheme,drifts", [("euler", 1), ("baoab", 2)])
@pytest.mark.parametrize("interaction", [None, Quadratic(1e-9)])
def test_reflections_counted_per_wall(scheme, drifts, interaction):
    """k particles fly at +5 into the upper wall, m at −5 into the lower one, one step of
    0.1 from ±0.9 in [−1, 1] (negligible noise and force): each crosses exactly once,
    so reflections = [[m, k]], drifts = N·steps·(1 euler, 2 BAOAB), and every velocity is
    reversed. Both compiled paths (blocked: no interaction; streaming: with one)."""
    k, m = 7, 4
    x0 = np.r_[np.full(k, 0.9), np.full(m, -0.9)]
    v0 = np.r_[np.full(k, 5.0), np.full(m, -5.0)]
    sol = simulate(x0, v0, grad_potential=None, interaction=interaction, gamma=1e-9,
                   temperature=1e-12, dt=0.1, snapshots=[0.1], domain=(-1.0, 1.0), seed=0,
                   scheme=scheme)
    assert sol.reflections.tolist() == [[m, k]]
    assert sol.n_reflected == k + m and sol.drifts == (k + m) * drifts
    assert sol.reflected_fraction == (k + m) / ((k + m) * drifts)
    np.testing.assert_allclose(sol.reflected_fraction_per_wall, [[m, k]] / np.float64(
        (k + m) * drifts))
    assert np.all(np.sign(sol.v) == -np.sign(v0))
    assert np.all(np.abs(sol.x) <= 1.0)
