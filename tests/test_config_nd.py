"""d dimensions (issue 12): potentials of x1..xd, radial interactions, Gaussian initial
laws with full covariances (cell averages, sampling), and the config keys of DESIGN §8.

Every new key is walked: a bad value exits 2 with one line naming the key; a good d = 2
config loads; d = 1 configs load as before (tests/test_config.py, test_robustness.py)."""

import textwrap
from pathlib import Path
import time

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from vfp import config as cfgmod
from vfp import potentials as pot
from vfp.cli import main
from vfp.gaussian_cells import block_rule, coupled_cell_masses, coupled_cell_masses_reference
from vfp.initial import QUADRATURE_TOLERANCE, GaussianMixture, gaussian

RNG_POINTS = np.random.default_rng(7).uniform(-2.0, 2.0, size=(40, 2))


def _fd_grad(fn, points, h=1e-5):
    """Central differences of fn (points (m, d) → (m,)) along every axis; error O(h²)."""
    out = np.empty_like(points)
    for k in range(points.shape[1]):
        e = np.zeros(points.shape[1])
        e[k] = h
        out[:, k] = (fn(points + e) - fn(points - e)) / (2 * h)
    return out


def _eval_polynomial(powers, coefs, points):
    return np.array([sum(c * np.prod(p ** pw) for pw, c in zip(powers, coefs)) for p in points])


# ---------------------------------------------------------------------------------------
# potentials


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("kind", sorted(pot.BUILTIN_POTENTIALS))
def test_builtin_nd_gradient_and_polynomial(kind, dim):
    p = pot.builtin(kind, dimension=dim)
    pts = np.random.default_rng(dim).uniform(-2.0, 2.0, size=(30, dim))
    # central differences of a quartic: error h² V'''/6 ≲ 1e-9
    assert np.allclose(p.grad_nd(pts), _fd_grad(p.value_nd, pts), atol=1e-7)
    powers, coefs = p.polynomial()
    assert powers.shape == (len(coefs), dim) and powers.dtype.kind == "i"
    assert np.allclose(_eval_polynomial(powers, coefs, pts), p.value_nd(pts), rtol=1e-13,
                       atol=1e-13)


def test_builtin_nd_meanings():
    h = pot.builtin("harmonic", dimension=2, omega=[1.0, 2.0])
    x = np.array([[1.0, 0.0], [0.0, 1.0], [0.3, -0.7]])
    assert np.allclose(h.value_nd(x), 0.5 * x[:, 0] ** 2 + 2.0 * x[:, 1] ** 2, rtol=1e-15)
    assert np.allclose(pot.builtin("harmonic", dimension=2, omega=1.5).value_nd(x),
                       0.5 * 1.5**2 * np.sum(x**2, axis=1), rtol=1e-15)
    # double well of |x|: zero on the circle |x| = width, the barrier at 0, flat there
    dw = pot.builtin("double_well", dimension=2, barrier=0.5, width=2.0)
    ring = 2.0 * np.array([[1.0, 0.0], [0.6, 0.8], [-0.8, 0.6]])
    assert np.allclose(dw.value_nd(ring), 0.0, atol=1e-14)
    assert np.allclose(dw.grad_nd(ring), 0.0, atol=1e-14)
    assert np.isclose(dw.value_nd(np.zeros((1, 2)))[0], 0.5, rtol=1e-15)
    tilt = pot.builtin("tilted_double_well", dimension=2, tilt=0.3)
    base = pot.builtin("double_well", dimension=2)
    assert np.allclose(tilt.value_nd(x) - base.value_nd(x), 0.3 * x[:, 0], atol=1e-15)
    q = pot.builtin("quartic", dimension=3, coefficient=2.0)
    y = np.random.default_rng(1).normal(size=(5, 3))
    assert np.allclose(q.value_nd(y), 0.5 * np.sum(y**2, axis=1) ** 2, rtol=1e-14)


def test_builtin_nd_bad_parameters():
    with pytest.raises(ValueError, match="'omega'.*2 numbers"):
        pot.builtin("harmonic", dimension=2, omega=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="'omega'"):
        pot.builtin("harmonic", dimension=2, omega=[1.0, float("nan")])
    with pytest.raises(ValueError, match="'omega'"):  # d = 1 takes a number only
        pot.builtin("harmonic", omega=[1.0])
    with pytest.raises(ValueError, match="dimension"):
        pot.builtin("harmonic", dimension=4)


def test_expression_nd_exact_gradient_grid_and_polynomial():
    p = pot.from_expression("0.6*x1**2 + 0.3*x1*x2 + 0.4*x2**2 + 0.1*sin(x1)", dimension=2)
    x1, x2 = RNG_POINTS.T
    exact = np.stack([1.2 * x1 + 0.3 * x2 + 0.1 * np.cos(x1), 0.3 * x1 + 0.8 * x2], axis=1)
    assert np.allclose(p.grad_nd(RNG_POINTS), exact, rtol=0, atol=1e-14)
    assert p.polynomial() is None
    a1, a2 = np.linspace(-1, 1, 5), np.linspace(0, 2, 4)
    grid = p.grid_value(a1[:, None], a2[None, :])
    g1, g2 = p.grid_grad(a1[:, None], a2[None, :])
    pts = np.stack(np.meshgrid(a1, a2, indexing="ij"), axis=-1).reshape(-1, 2)
    assert grid.shape == g1.shape == g2.shape == (5, 4)
    assert np.allclose(grid.ravel(), p.value_nd(pts), rtol=1e-15)
    assert np.allclose(np.stack([g1.ravel(), g2.ravel()], 1), p.grad_nd(pts), rtol=1e-15)
    quad = pot.from_expression("0.6*x1**2 + 0.3*x1*x2 + 0.4*x2**2 - 1", dimension=2)
    powers, coefs = quad.polynomial()
    terms = {tuple(pw): c for pw, c in zip(powers.tolist(), coefs)}
    assert terms == pytest.approx({(0, 0): -1.0, (2, 0): 0.6, (1, 1): 0.3, (0, 2): 0.4})
    const = pot.from_expression("2.5", dimension=3)
    assert const.value_nd(np.zeros((4, 3))).shape == (4,)
    assert np.all(const.grad_nd(np.ones((4, 3))) == 0)


@pytest.mark.parametrize("text, dim, interaction, match", [
    ("x**2", 2, False, "'x'.*dimension = 1"),
    ("x1**2 + x3", 2, False, "'x3'.*x1, x2"),
    ("x1 + r", 2, False, "'r'"),
    ("exp(-x1**2)", 2, True, "radial.*r = "),
    ("r**2", 1, False, "only x and pi"),
    ("__import__('os')", 2, False, "not allowed"),
])
def test_expression_nd_names_rejected(text, dim, interaction, match):
    with pytest.raises(pot.ExpressionError, match=match):
        pot.from_expression(text, dimension=dim, interaction=interaction)


@pytest.mark.parametrize("build", [
    lambda: pot.builtin("quadratic", interaction=True, dimension=2, kappa=0.7),
    lambda: pot.builtin("gaussian", interaction=True, dimension=2, strength=-1.0, width=0.5),
    lambda: pot.from_expression("exp(-r) * (1 + r)", dimension=2, interaction=True),
], ids=["quadratic", "gaussian", "expr"])
def test_radial_interaction_profile_and_cartesian_gradient(build):
    w = build()
    assert w.radial and w.dim is None
    r = np.linspace(0.05, 3.0, 30)
    assert np.allclose(w.profile_grad(r), (w.profile(r + 1e-6) - w.profile(r - 1e-6)) / 2e-6,
                       atol=1e-8)
    assert w.profile_grad(np.array([0.0]))[0] == 0.0
    z = RNG_POINTS
    dist = np.linalg.norm(z, axis=1)
    expect = w.profile_grad(dist)[:, None] * z / dist[:, None]
    assert np.allclose(w.grad_nd(z), expect, rtol=1e-14)
    assert np.allclose(w.value_nd(z), w.profile(dist), rtol=1e-15)
    g1, g2 = w.grid_grad(np.array([0.0, 3.0]), np.array([0.0, 4.0]))
    assert g1[0] == 0.0 and g2[0] == 0.0  # no self-force at zero lag
    assert np.allclose([g1[1], g2[1]], w.profile_grad(np.array([5.0]))[0] * np.array([0.6, 0.8]))


def test_radial_builtins_expose_kind_and_params():
    q = pot.builtin("quadratic", interaction=True, dimension=2, kappa=0.7)
    assert (q.kind, q.params) == ("quadratic", {"kappa": 0.7})
    assert np.allclose(q.profile_grad(np.array([0.0, 2.0])), [0.0, 1.4])
    g = pot.builtin("gaussian", interaction=True, dimension=3, strength=2.0, width=0.5)
    assert (g.kind, g.params) == ("gaussian", {"strength": 2.0, "width": 0.5})
    assert pot.from_expression("r**2", dimension=2, interaction=True).kind == "expr"


def test_d1_objects_offer_the_nd_interface():
    v = pot.builtin("double_well")
    x = np.linspace(-2, 2, 9)
    assert np.array_equal(v.value_nd(x[:, None]), v.value(x))
    assert np.array_equal(v.grad_nd(x[:, None]), v.grad(x)[:, None])
    assert np.array_equal(v.grid_value(x), v.value(x))
    powers, coefs = v.polynomial()
    assert powers.shape == (3, 1)
    assert np.allclose(_eval_polynomial(powers, coefs, x[:, None]), v.value(x), rtol=1e-14)
    e = pot.from_expression("x**4/4 - x**2/2")
    assert {tuple(p): c for p, c in zip(e.polynomial()[0].tolist(), e.polynomial()[1])} == \
        pytest.approx({(2,): -0.5, (4,): 0.25})
    assert pot.from_expression("cos(x)").polynomial() is None


def test_python_potential_nd(tmp_path, monkeypatch):
    (tmp_path / "mypots2.py").write_text(textwrap.dedent("""
        import numpy as np

        class Bowl:
            def value(self, p):
                return 0.5 * p[:, 0]**2 + np.cosh(p[:, 1])
            def grad(self, p):
                return np.stack([p[:, 0], np.sinh(p[:, 1])], axis=1)

        def bare(p):
            return 0.5 * p[:, 0]**2 + np.cosh(p[:, 1])

        def wrong(p):
            return p

        def soft(r):
            return 1.0 / (1.0 + r**2)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    a = pot.from_python("mypots2:Bowl", dimension=2)
    b = pot.from_python("mypots2:bare", dimension=2)
    exact = np.stack([RNG_POINTS[:, 0], np.sinh(RNG_POINTS[:, 1])], axis=1)
    assert np.array_equal(a.grad_nd(RNG_POINTS), exact)
    # derived gradient: fourth-order differences, error ~1e-12
    assert np.allclose(b.grad_nd(RNG_POINTS), exact, atol=1e-10)
    with pytest.raises(TypeError, match=r"shape \(m,\)"):
        pot.from_python("mypots2:wrong", dimension=2)
    w = pot.from_python("mypots2:soft", dimension=2, interaction=True)
    r = np.linspace(0.0, 3.0, 13)
    assert np.allclose(w.profile_grad(r), np.where(r > 0, -2 * r / (1 + r**2) ** 2, 0.0),
                       atol=1e-10)


# ---------------------------------------------------------------------------------------
# initial laws in D dimensions


def test_diagonal_cell_averages_are_exact_products():
    law = gaussian([0.3, -0.2, 0.1, 0.0], [0.4, 0.5, 0.6, 0.7])
    edges = [np.linspace(-2, 2, 9), np.linspace(-3, 3, 7), np.linspace(-2.5, 2.5, 6),
             np.linspace(-3, 3, 5)]
    avg, outside = law.cell_averages(edges)
    assert avg.shape == (8, 6, 5, 4)
    parts = [gaussian(m, s).cell_masses(e) for m, s, e in
             zip(law.means[0], law.stds[0], edges)]
    masses = np.einsum("i,j,k,l->ijkl", *parts)
    assert np.isclose(outside, 1 - masses.sum(), rtol=1e-12)
    volume = np.einsum("i,j,k,l->ijkl", *[np.diff(e) for e in edges])
    assert np.allclose(avg * volume, masses / masses.sum(), rtol=1e-13, atol=0)
    # the same with positional edges and with a diagonal `cov`
    again, _ = law.cell_averages(*edges)
    assert np.array_equal(again, avg)
    as_cov, _ = gaussian(law.means[0], cov=np.diag(law.stds[0] ** 2)).cell_averages(edges)
    assert np.allclose(as_cov, avg, rtol=1e-14, atol=0)


def test_full_cov_cell_masses_against_the_bivariate_normal_cdf():
    mean, cov = np.array([0.3, -0.2]), np.array([[0.09, 0.04], [0.04, 0.16]])
    law = gaussian(mean, cov=cov)
    e1, e2 = np.linspace(-2, 2, 41), np.linspace(-2, 2, 33)   # h/σ ≈ 0.4 along x1
    cells = [(12, 10), (18, 15), (25, 20), (20, 14)]
    ref = np.array([multivariate_normal.cdf([e1[i + 1], e2[j + 1]], mean, cov,
                                            lower_limit=[e1[i], e2[j]], abseps=1e-13,
                                            releps=1e-11) for i, j in cells])
    for order, tol in ((3, 1e-5), (6, 1e-9)):  # module docstring: the stated tolerance
        m = law.cell_masses(e1, e2, order=order)
        got = np.array([m[i, j] for i, j in cells])
        assert np.max(np.abs(got / ref - 1)) < tol, order
    # a coarse rule is measurably worse: the test can tell the orders apart
    m1 = law.cell_masses(e1, e2, order=1)
    assert np.max(np.abs(np.array([m1[i, j] for i, j in cells]) / ref - 1)) > 1e-4


@pytest.mark.parametrize("cells", [4, 8, 16, 32, 64])
def test_automatic_order_meets_the_stated_tolerance(cells):
    # cell width over σ from 5 down to 0.3; reference: 20 nodes per cell (error < 1e-15)
    cov = np.array([[0.09, 0.05], [0.05, 0.09]])
    law = gaussian([0.3, 0.1], cov=cov)
    e = np.linspace(-3, 3, cells + 1)
    ref = law.cell_masses(e, e, order=20)
    assert np.abs(law.cell_masses(e, e) - ref).sum() <= QUADRATURE_TOLERANCE
    rotated = gaussian([0.0, 0.2, -0.1], cov=[[0.2, 0.1, 0.05], [0.1, 0.15, -0.06],
                                             [0.05, -0.06, 0.1]])
    e3 = np.linspace(-2, 2, min(cells, 16) + 1)
    ref3 = rotated.cell_masses(e3, e3, e3, order=16)
    assert np.abs(rotated.cell_masses(e3, e3, e3) - ref3).sum() <= QUADRATURE_TOLERANCE


def test_coupled_kernel_agrees_with_its_numpy_twin():
    cov = np.array([[0.09, 0.03, 0.02, 0.00], [0.03, 0.16, 0.00, 0.01],
                    [0.02, 0.00, 0.25, 0.05], [0.00, 0.01, 0.05, 0.20]])
    edges = [np.linspace(-2.5, 2.5, 9), np.linspace(-2, 2, 7), np.linspace(-2.5, 2.5, 6),
             np.linspace(-3, 3, 11)]
    rule = block_rule(edges, np.array([0.3, -0.2, 0.1, 0.0]), cov, 3)
    fast, twin = coupled_cell_masses(rule), coupled_cell_masses_reference(rule)
    assert fast.shape == twin.shape == (8, 6, 5, 10)
    # the kernel skips edges beyond 9 conditional standard deviations (≤ 1e-19 each)
    assert np.max(np.abs(fast - twin)) < 1e-16
    rule2 = block_rule(edges[:2], np.array([0.3, -0.2]), cov[:2, :2], 5)
    assert np.max(np.abs(coupled_cell_masses(rule2) - coupled_cell_masses_reference(rule2))) \
        < 1e-16


def test_coupled_4d_marginal_and_moments():
    cov = np.array([[0.09, 0.03, 0.02, 0.00], [0.03, 0.16, 0.00, 0.01],
                    [0.02, 0.00, 0.25, 0.05], [0.00, 0.01, 0.05, 0.20]])
    mean = np.array([0.3, -0.2, 0.1, 0.0])
    law = gaussian(mean, cov=cov)
    edges = [np.linspace(-2.5, 2.5, 17)] * 4
    masses = law.cell_masses(edges)
    # the (x1, x2) marginal of the 4-D cell masses is the 2-D law's (exact relation;
    # both within the quadrature tolerance)
    two = gaussian(mean[:2], cov=cov[:2, :2]).cell_masses(edges[0], edges[1], order=8)
    assert np.max(np.abs(masses.sum(axis=(2, 3)) - two)) < 1e-5 * two.max()
    # mean and covariance of the cell masses: atoms at the centres add h²/12 per axis
    c = 0.5 * (edges[0][1:] + edges[0][:-1])
    pts = np.stack(np.meshgrid(c, c, c, c, indexing="ij"), -1).reshape(-1, 4)
    w = masses.ravel() / masses.sum()
    m_hat = w @ pts
    c_hat = (pts - m_hat).T @ ((pts - m_hat) * w[:, None])
    h = edges[0][1] - edges[0][0]
    assert np.allclose(m_hat, mean, atol=1e-6)
    assert np.allclose(c_hat, cov + np.eye(4) * h**2 / 12, atol=2e-4)


def test_block_covariance_is_split_exactly():
    # positions correlated, velocities independent: 2-D block × exact 1-D factors
    cov = np.diag([0.09, 0.16, 0.25, 0.2])
    cov[0, 1] = cov[1, 0] = 0.05
    law = gaussian([0.3, -0.2, 0.1, 0.0], cov=cov)
    edges = [np.linspace(-2, 2, 11), np.linspace(-2, 2, 9), np.linspace(-2, 2, 7),
             np.linspace(-2, 2, 5)]
    block = gaussian([0.3, -0.2], cov=cov[:2, :2]).cell_masses(edges[0], edges[1])
    v1 = gaussian(0.1, 0.5).cell_masses(edges[2])
    v2 = gaussian(0.0, np.sqrt(0.2)).cell_masses(edges[3])
    assert np.allclose(law.cell_masses(edges), np.einsum("ij,k,l->ijkl", block, v1, v2),
                       rtol=1e-13, atol=0)


def test_full_cov_sampling_moments(rng):
    cov = np.array([[0.5, 0.2, 0.1], [0.2, 0.4, -0.1], [0.1, -0.1, 0.3]])
    law = gaussian([1.0, -1.0, 0.5], cov=cov)
    n = 100_000
    s = law.sample(n, rng)
    assert s.shape == (n, 3)
    # 5 standard errors: sqrt(C_ii/n) for means, sqrt((C_ii C_jj + C_ij²)/n) for covariances
    assert np.all(np.abs(s.mean(0) - law.mean()) < 5 * np.sqrt(np.diag(cov) / n))
    se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    assert np.all(np.abs(np.cov(s.T) - cov) < 5 * se)
    assert np.allclose(law.cov(), cov, rtol=1e-15)


def test_sample_in_box_diagonal_and_far_outside(rng):
    law = gaussian([0.5, 20.0, 0.0, 0.0], [0.3, 1.0, 0.4, 0.4])   # x2 ~1e-44 inside
    start = time.perf_counter()
    s = law.sample_in(20_000, rng, [-4.0, -6.0], [4.0, 6.0])
    assert time.perf_counter() - start < 20
    assert s.shape == (20_000, 4)
    assert s[:, :2].min(0).tolist() >= [-4.0, -6.0] and s[:, :2].max(0).tolist() <= [4.0, 6.0]
    # X2 | X2 ≤ 6 for N(20, 1): 6 − Exp(rate ≈ a + 1/a), a = 14 (Mills ratio)
    rate = 14.0 + 1 / 14.0
    assert abs(s[:, 1].mean() - (6 - 1 / rate)) < 5 / rate / np.sqrt(20_000) + 2e-3
    # the unboxed velocities keep their law
    assert abs(s[:, 2].mean()) < 5 * 0.4 / np.sqrt(20_000)
    with pytest.raises(ValueError, match="no mass"):
        gaussian([0.0, 1e6], [1.0, 1.0]).sample_in(10, rng, [-1.0, -1.0], [1.0, 1.0])


def test_sample_in_box_full_cov_matches_the_truncated_law(rng):
    cov = np.array([[0.5, 0.3], [0.3, 0.4]])
    law = gaussian([0.8, 0.2], cov=cov)
    lo, hi = np.array([-0.5, -1.0]), np.array([1.0, 1.0])
    n = 40_000
    s = law.sample_in(n, rng, lo, hi, max_rounds=0)  # every outside point: the exact path
    assert np.all((s >= lo) & (s <= hi))
    # the truncated law's mean from fine cell masses inside the box (midpoint error h²)
    e1, e2 = np.linspace(lo[0], hi[0], 301), np.linspace(lo[1], hi[1], 401)
    m = law.cell_masses(e1, e2)
    c1, c2 = 0.5 * (e1[1:] + e1[:-1]), 0.5 * (e2[1:] + e2[:-1])
    mean = np.array([m.sum(1) @ c1, m.sum(0) @ c2]) / m.sum()
    assert np.isclose(law.inside_mass(lo, hi), m.sum(), rtol=1e-6)
    sd = np.sqrt(np.diag(np.cov(s.T)))
    assert np.all(np.abs(s.mean(0) - mean) < 5 * sd / np.sqrt(n))


@pytest.mark.parametrize("kwargs, match", [
    (dict(mean=[0.0, 0.0], std=[1.0, 1.0], cov=np.eye(2)), "exactly one"),
    (dict(mean=[0.0, 0.0], cov=[[1.0, 0.5], [0.4, 1.0]]), "symmetric"),
    (dict(mean=[0.0, 0.0], cov=[[1.0, 2.0], [2.0, 1.0]]), "positive definite"),
    (dict(mean=[0.0, 0.0], cov=np.eye(3)), "2×2"),
    (dict(mean=[0.0, 0.0], cov=[[1.0, np.nan], [np.nan, 1.0]]), "finite"),
])
def test_bad_covariances(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gaussian(**kwargs)


def test_full_cov_pdf_integrates_to_the_cell_masses():
    cov = np.array([[0.09, 0.04], [0.04, 0.16]])
    law = gaussian([0.3, -0.2], cov=cov)
    assert np.isclose(law.pdf(0.3, -0.2), 1 / (2 * np.pi * np.sqrt(np.linalg.det(cov))))
    e1, e2 = np.linspace(-1.5, 1.5, 13), np.linspace(-1.5, 1.5, 11)
    nodes, weights = np.polynomial.legendre.leggauss(8)
    i, j = 6, 4
    h1, h2 = e1[1] - e1[0], e2[1] - e2[0]
    xs = 0.5 * (e1[i] + e1[i + 1]) + 0.5 * h1 * nodes
    ys = 0.5 * (e2[j] + e2[j + 1]) + 0.5 * h2 * nodes
    quad = 0.25 * h1 * h2 * np.einsum("a,b,ab->", weights, weights,
                                      law.pdf(xs[:, None], ys[None, :]))
    assert np.isclose(law.cell_masses(e1, e2, order=6)[i, j], quad, rtol=1e-9)


# ---------------------------------------------------------------------------------------
# config


GOOD2 = textwrap.dedent("""
    [model]
    regime = "kinetic"
    dimension = 2
    gamma = 1.0
    temperature = 0.5
    potential = { expr = "0.6*x1**2 + 0.3*x1*x2 + 0.4*x2**2" }
    interaction = { kind = "quadratic", kappa = 0.5 }

    [initial]
    kind = "gaussian"
    mean = [0.8, -0.4, 0.0, 0.0]
    std = [0.3, 0.3, 0.4, 0.4]

    [time]
    t_end = 1.0
    snapshots = [0.0, 0.5, 1.0]

    [grid]
    x = { min = -4.0, max = 4.0, cells = 12 }
    v = [ { min = -4.0, max = 4.0, cells = 10 }, { min = -3.0, max = 3.0, cells = 8 } ]
    scheme = "upwind"

    [particles]
    n = 1000
    dt = 0.01
    seed = 1
""")

OVERDAMPED2 = textwrap.dedent("""
    [model]
    regime = "overdamped"
    dimension = 2
    temperature = 0.5
    potential = { kind = "harmonic", omega = [1.0, 1.5] }
    interaction = { expr = "exp(-r**2)" }

    [initial]
    mean = [0.5, 0.0]
    cov = [[0.09, 0.02], [0.02, 0.04]]

    [time]
    t_end = 0.5

    [grid]
    x = [ { min = -3.0, max = 3.0, cells = 16 }, { min = -2.0, max = 2.0, cells = 12 } ]
""")

PARTICLES3 = textwrap.dedent("""
    [model]
    regime = "kinetic"
    dimension = 3
    temperature = 0.5
    potential = { kind = "double_well" }
    interaction = { kind = "gaussian", strength = 1.0, width = 0.5 }

    [initial]
    mean = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    std = [0.3, 0.3, 0.3, 0.5, 0.5, 0.5]

    [time]
    t_end = 0.1

    [particles]
    n = 100
    dt = 0.01
""")


def test_good_d2_kinetic_config_loads():
    cfg = cfgmod.loads(GOOD2, "k2.toml")
    assert cfg.dimension == 2 and cfg.model.dimension == 2
    assert isinstance(cfg.model.potential, pot.ExpressionPotentialND)
    assert cfg.model.interaction.radial and cfg.model.interaction.kind == "quadratic"
    g = cfg.grid
    assert isinstance(g.x, tuple) and len(g.x) == 2 and g.x[0] is not g.x[1]
    assert [a.cells for a in g.x_axes + g.v_axes] == [12, 12, 10, 8]
    assert g.shape() == (12, 12, 10, 8)
    # small run: the full density at every snapshot by default
    assert g.full_snapshots == (0.0, 0.5, 1.0) and cfg.full_snapshot_indices() == (0, 1, 2)
    assert cfg.initial.dim == 4
    need = cfgmod.memory_estimate(cfg)
    cells = 12 * 12 * 10 * 8
    # work copies, one float32 f for writing, float32 copies of f at the 3 snapshots kept
    # for the comparison with the particles, and the marginals
    assert need["grid"] == 8 * cells * cfgmod.KINETIC_2D_WORK_COPIES["upwind"] + 4 * cells + \
        3 * 4 * cells + 2 * 8 * (144 + 80) * 3
    assert need["particles"] == cfgmod.PARTICLE_BYTES * 1000 * 2
    assert cfgmod.memory_note(cfg) is None  # small runs say nothing


def test_good_d2_overdamped_and_d3_particle_configs_load():
    cfg = cfgmod.loads(OVERDAMPED2, "o2.toml")
    assert [a.cells for a in cfg.grid.x] == [16, 12]
    assert cfg.initial.covs is not None and cfg.initial.dim == 2
    assert cfg.model.interaction.kind == "expr"
    assert cfg.full_snapshot_indices() == tuple(range(len(cfg.time.times())))
    p3 = cfgmod.loads(PARTICLES3, "p3.toml")
    assert p3.dimension == 3 and p3.initial.dim == 6 and p3.particles.x is None
    box = PARTICLES3 + "x = [ { min = -3.0, max = 3.0 }, { min = -2.0, max = 2.0 }, " \
                       "{ min = -2.0, max = 2.0 } ]\n"
    cfg3 = cfgmod.loads(box, "p3.toml")
    assert [(a.min, a.max) for a in cfg3.particles.x] == [(-3, 3), (-2, 2), (-2, 2)]
    cube = cfgmod.loads(PARTICLES3 + "x = { min = -3.0, max = 3.0 }\n", "p3.toml")
    assert len(cube.particles.x) == 3


def test_full_snapshots_choices(monkeypatch):
    listed = GOOD2.replace('scheme = "upwind"', 'scheme = "upwind"\nfull_snapshots = [1.0, 0.0]')
    cfg = cfgmod.loads(listed, "k2.toml")
    assert cfg.grid.full_snapshots == (0.0, 1.0) and cfg.full_snapshot_indices() == (0, 2)
    none = cfgmod.loads(GOOD2.replace('scheme = "upwind"',
                                      'scheme = "upwind"\nfull_snapshots = "none"'), "k2.toml")
    assert none.full_snapshot_indices() == ()
    # above the size limit the default keeps the first and the last
    monkeypatch.setattr(cfgmod, "FULL_SNAPSHOT_BYTES", 4 * 12 * 12 * 10 * 8 * 2)
    big = cfgmod.loads(GOOD2, "k2.toml")
    assert big.grid.full_snapshots == (0.0, 1.0)


def test_d2_config_built_in_python_matches_the_toml():
    from_toml = cfgmod.loads(OVERDAMPED2, "o2.toml")
    cfg = cfgmod.Config(
        model=cfgmod.ModelConfig(
            regime="overdamped", dimension=2, temperature=0.5,
            potential=pot.builtin("harmonic", dimension=2, omega=[1.0, 1.5]),
            interaction=pot.from_expression("exp(-r**2)", dimension=2, interaction=True)),
        initial=gaussian([0.5, 0.0], cov=[[0.09, 0.02], [0.02, 0.04]]),
        time=cfgmod.TimeConfig(t_end=0.5),
        grid=cfgmod.GridConfig(x=[cfgmod.AxisConfig(-3.0, 3.0, 16),
                                  cfgmod.AxisConfig(-2.0, 2.0, 12)]))
    cfgmod.validate(cfg)
    assert cfg.grid.x == from_toml.grid.x
    assert np.array_equal(cfg.initial.covs, from_toml.initial.covs)
    pts = RNG_POINTS
    assert np.array_equal(cfg.model.potential.value_nd(pts),
                          from_toml.model.potential.value_nd(pts))
    # a user's object is wrapped for the model's dimension
    cfg.model.potential = lambda p: 0.5 * np.sum(p**2, axis=1)
    cfgmod.validate(cfg)
    assert isinstance(cfg.model.potential, pot.FunctionPotentialND)
    # a 1-D potential in a d = 2 model is refused, naming the key
    cfg.model.potential = pot.builtin("harmonic")
    with pytest.raises(cfgmod.ConfigError, match="model.potential: .*dimension 1.*= 2"):
        cfgmod.validate(cfg)


_X = 'x = { min = -4.0, max = 4.0, cells = 12 }'
_V2 = 'v = [ { min = -4.0, max = 4.0, cells = 10 }, { min = -3.0, max = 3.0, cells = 8 } ]'
_POT = 'potential = { expr = "0.6*x1**2 + 0.3*x1*x2 + 0.4*x2**2" }'
_INT = 'interaction = { kind = "quadratic", kappa = 0.5 }'
_MEAN = "mean = [0.8, -0.4, 0.0, 0.0]"
_STD = "std = [0.3, 0.3, 0.4, 0.4]"
# (id, old, new, key named in the message); every change is applied to GOOD2 once.
CASES = [
    ("dimension 0", "dimension = 2", "dimension = 0", "model.dimension"),
    ("dimension 4", "dimension = 2", "dimension = 4", "model.dimension"),
    ("dimension bool", "dimension = 2", "dimension = true", "model.dimension"),
    ("dimension float", "dimension = 2", "dimension = 2.0", "model.dimension"),
    ("grid in d = 3", "dimension = 2", "dimension = 3", "model.dimension"),
    ("expr uses x in d = 2", _POT, 'potential = { expr = "x**2" }', "model.potential.expr"),
    ("expr uses x3 in d = 2", _POT, 'potential = { expr = "x1**2 + x3**2" }',
     "model.potential.expr"),
    ("interaction expr in x1", _INT, 'interaction = { expr = "x1**2" }',
     "model.interaction.expr"),
    ("interaction expr not finite", _INT, 'interaction = { expr = "log(r)" }',
     "model.interaction.expr"),
    ("potential not finite on the 2-D grid", _POT,
     'potential = { expr = "x1**2 + log(x2 + 3.5)" }', "model.potential.expr"),
    ("omega of wrong length", _POT, 'potential = { kind = "harmonic", omega = [1.0, 2.0, 3.0] }',
     "model.potential.omega"),
    ("omega entry not a number", _POT, 'potential = { kind = "harmonic", omega = [1.0, "a"] }',
     "model.potential.omega"),
    ("python potential missing", _POT, 'potential = { python = "no_such_mod:V" }',
     "model.potential.python"),
    ("mean of d entries in kinetic", _MEAN, "mean = [0.8, -0.4]", "initial.mean"),
    ("std of wrong length", _STD, "std = [0.3, 0.3, 0.4]", "initial.std"),
    ("std and cov", _STD, _STD + "\ncov = [[1.0, 0.0], [0.0, 1.0]]", "initial.cov"),
    ("cov not square", _STD, "cov = [[0.1, 0.0, 0.0, 0.0], [0.0, 0.1, 0.0]]", "initial.cov"),
    ("cov wrong size", _STD, "cov = [[0.1, 0.0], [0.0, 0.1]]", "initial.cov"),
    ("cov not symmetric", _STD, "cov = [[0.1, 0.05, 0, 0], [0, 0.1, 0, 0], [0, 0, 0.1, 0], "
                                "[0, 0, 0, 0.1]]", "initial.cov"),
    ("cov not positive definite", _STD, "cov = [[0.1, 0.2, 0, 0], [0.2, 0.1, 0, 0], "
                                        "[0, 0, 0.1, 0], [0, 0, 0, 0.1]]", "initial.cov"),
    ("cov with a bool", _STD, "cov = [[true, 0, 0, 0], [0, 0.1, 0, 0], [0, 0, 0.1, 0], "
                              "[0, 0, 0, 0.1]]", "initial.cov"),
    ("cov not a matrix", _STD, "cov = 0.1", "initial.cov"),
    ("no std or cov", _STD, "", "initial.std"),
    ("mixture keys in gaussian", _STD, _STD + "\nstds = [[0.3, 0.3, 0.4, 0.4]]", "initial.stds"),
    ("initial law outside the 2-D grid", _MEAN, "mean = [0.8, 40.0, 0.0, 0.0]", "initial"),
    ("grid.x list of 3", _X, "x = [" + ", ".join(["{ min = -4.0, max = 4.0, cells = 12 }"] * 3)
     + "]", "grid.x"),
    ("grid.x empty list", _X, "x = []", "grid.x"),
    ("grid.x[1] cells", _X, "x = [{ min = -4.0, max = 4.0, cells = 12 }, "
                            "{ min = -4.0, max = 4.0, cells = 2 }]", "grid.x[1].cells"),
    ("grid.x[0] min > max", _X, "x = [{ min = 4.0, max = -4.0, cells = 12 }, "
                                "{ min = -4.0, max = 4.0, cells = 12 }]", "grid.x[0].min"),
    ("grid.x[1] unknown key", _X, "x = [{ min = -4.0, max = 4.0, cells = 12 }, "
                                  "{ min = -4.0, max = 4.0, cels = 12 }]", "grid.x[1].cels"),
    ("grid.v asymmetric", _V2, 'v = [ { min = -4.0, max = 4.0, cells = 10 }, '
                               '{ min = -3.0, max = 2.0, cells = 8 } ]', "grid.v[1]"),
    ("grid.v one asymmetric table", _V2, 'v = { min = -4.0, max = 3.0, cells = 10 }', "grid.v"),
    ("full_snapshots not a snapshot", 'scheme = "upwind"',
     'scheme = "upwind"\nfull_snapshots = [0.25]', "grid.full_snapshots"),
    ("full_snapshots unknown word", 'scheme = "upwind"',
     'scheme = "upwind"\nfull_snapshots = "some"', "grid.full_snapshots"),
    ("full_snapshots bool", 'scheme = "upwind"',
     'scheme = "upwind"\nfull_snapshots = true', "grid.full_snapshots"),
    ("full_snapshots twice", 'scheme = "upwind"',
     'scheme = "upwind"\nfull_snapshots = [0.5, 0.5]', "grid.full_snapshots"),
    ("full_snapshots overdamped", 'regime = "kinetic"\ndimension = 2\ngamma = 1.0',
     'regime = "overdamped"\ndimension = 2', "grid.full_snapshots"),
    ("grid too large for memory", _X, "x = { min = -4.0, max = 4.0, cells = 2000000 }", "grid"),
    ("particles.x list of 3", "seed = 1", "seed = 1\nx = [" +
     ", ".join(["{ min = -4.0, max = 4.0 }"] * 3) + "]", "particles.x"),
    ("particles.x not the grid's", "seed = 1", "seed = 1\nx = { min = -3.0, max = 3.0 }",
     "particles.x"),
    ("particles too many for memory", "n = 1000", "n = 1000000000000000", "particles.n"),
]


@pytest.mark.parametrize("what, old, new, key", CASES, ids=[c[0] for c in CASES])
def test_bad_d2_value_exits_2_naming_the_key(tmp_path, capsys, what, old, new, key):
    text = GOOD2
    if what == "full_snapshots overdamped":
        text = OVERDAMPED2.replace("[grid]", "[grid]\nfull_snapshots = \"all\"")
        old, new = "regime = \"overdamped\"", "regime = \"overdamped\""
    assert old in text, f"test setup: {old!r} not in the good config"
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(old, new, 1))
    code = main(["run", str(path), "-o", str(tmp_path / "out.h5"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"vfp: error: {path}: {key}: "), err
    assert not (tmp_path / "out.h5").exists()


PCASES = [
    ("mesh in d = 3", "dt = 0.01", 'dt = 0.01\ninteraction_method = "mesh"',
     "particles.interaction_method"),
    ("mean of 3 in kinetic d = 3", "mean = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]",
     "mean = [1.0, 0.0, 0.0]", "initial.mean"),
    ("free space, non-polynomial V", 'potential = { kind = "double_well" }',
     'potential = { expr = "cos(x1) + x2**2 + x3**2" }', "particles.x"),
    ("free space, tabulated interaction", 'interaction = { kind = "gaussian", strength = 1.0, '
     'width = 0.5 }', 'interaction = { expr = "1/(1 + r**2)" }', "particles.x"),
    ("initial law outside the particle box", "dt = 0.01",
     "dt = 0.01\nx = { min = 10.0, max = 12.0 }", "initial"),
    ("particle box min > max", "dt = 0.01", "dt = 0.01\nx = { min = 1.0, max = -1.0 }",
     "particles.x.min"),
    ("V not finite in the particle box", 'potential = { kind = "double_well" }',
     'potential = { expr = "x1**2 + x2**2 + x3**2 + log(x3 + 2.5)" }', "model.potential.expr"),
]


@pytest.mark.parametrize("what, old, new, key", PCASES, ids=[c[0] for c in PCASES])
def test_bad_d3_particle_value_exits_2_naming_the_key(tmp_path, capsys, what, old, new, key):
    text = PARTICLES3
    if what == "V not finite in the particle box":
        text = text.replace("dt = 0.01", "dt = 0.01\nx = { min = -3.0, max = 3.0 }")
    assert old in text, f"test setup: {old!r} not in the good config"
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(old, new, 1))
    code = main(["run", str(path), "-o", str(tmp_path / "out.h5"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"vfp: error: {path}: {key}: "), err


def test_memory_note_for_big_runs(monkeypatch):
    big = GOOD2.replace(_X, "x = { min = -4.0, max = 4.0, cells = 96 }").replace(
        _V2, "v = { min = -4.0, max = 4.0, cells = 96 }")
    monkeypatch.setattr(cfgmod, "available_memory", lambda: 10**15)
    cfg = cfgmod.loads(big, "big.toml")
    cells = 96**4
    assert cfgmod.memory_estimate(cfg)["grid"] >= 8 * cells * 2 + 4 * cells
    note = cfgmod.memory_note(cfg)
    assert note is not None and "96×96×96×96" in note and "GiB" in note
    # and above the machine's memory it is refused, naming the grid and the estimate
    monkeypatch.setattr(cfgmod, "available_memory", lambda: 2**30)
    with pytest.raises(cfgmod.ConfigError, match=r"^big.toml: grid: a 96×96×96×96 grid .*GiB"):
        cfgmod.loads(big, "big.toml")


def test_scheme_may_declare_its_dimensions(monkeypatch):
    schemes = dict(cfgmod.grid_schemes())
    one_d = type("OneD", (schemes["upwind"],), {"dimensions": (1,)})
    schemes["upwind"] = one_d
    monkeypatch.setattr(cfgmod, "grid_schemes", lambda: schemes)
    with pytest.raises(cfgmod.ConfigError, match="grid.scheme: .*dimension 2"):
        cfgmod.loads(GOOD2, "k2.toml")


def test_d1_kinetic_law_with_a_full_covariance():
    from test_config import GOOD

    text = GOOD.replace("std = [0.3, 0.3]", "cov = [[0.09, 0.05], [0.05, 0.09]]")
    cfg = cfgmod.loads(text, "c1.toml")
    assert cfg.initial.covs is not None and cfg.dimension == 1
    avg, outside = cfg.initial.cell_averages(np.linspace(-6, 6, 33), np.linspace(-6, 6, 33))
    # the true outside mass is ~1e-40: what remains is the quadrature's error (≤ 1e-7)
    assert avg.shape == (32, 32) and outside <= QUADRATURE_TOLERANCE
    # correlation shows in the cell masses: E[xv] − E[x]E[v] ≈ 0.05 (+ no h²/12 off-diagonal)
    c = np.linspace(-6, 6, 33)
    c = 0.5 * (c[1:] + c[:-1])
    w = avg / avg.sum()
    mx, mv = w.sum(1) @ c, w.sum(0) @ c
    assert abs(c @ w @ c - mx * mv - 0.05) < 1e-6
    far = text.replace("mean = [1.5, 0.0]", "mean = [60.0, 0.0]")
    with pytest.raises(cfgmod.ConfigError, match="c1.toml: initial: only"):
        cfgmod.loads(far, "c1.toml")


def test_correlated_box_mass_in_three_dimensions():
    cov = np.array([[0.2, 0.1, 0.05], [0.1, 0.15, -0.06], [0.05, -0.06, 0.1]])
    law = gaussian([0.0, 0.2, -0.1], cov=cov)
    lo, hi = np.array([-0.5, -0.3, -0.6]), np.array([0.6, 0.8, 0.3])
    # reference: the box cut into cells (within the quadrature's 1e-7); Genz: 1e-6
    edges = [np.linspace(a, b, 13) for a, b in zip(lo, hi)]
    assert abs(law.inside_mass(lo, hi) - law.cell_masses(edges).sum()) < 2e-6
    # far boxes: the union bound of the exact marginals, no sampling error at all
    wide = law.inside_mass(lo - 10, hi + 10)
    assert 1 - 1e-12 <= wide <= 1.0


@pytest.mark.parametrize("path", sorted((Path(__file__).parent.parent / "examples").glob("*.toml")),
                         ids=lambda p: p.stem)
def test_every_example_config_validates(path):
    """Each shipped example loads and passes every check (d = 1 and d = 2)."""
    cfg = cfgmod.load(path)
    cfgmod.validate(cfg)
    assert cfg.dimension in (1, 2)
