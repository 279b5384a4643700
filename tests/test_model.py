"""Potentials (built-in, expression, Python object) and initial data."""

import sys
import textwrap

import numpy as np
import pytest

from vfp import potentials as pot
from vfp.initial import GaussianMixture, gaussian

X = np.linspace(-3.0, 3.0, 61)


def _finite_difference(fn, x, h=1e-5):
    return (fn(x + h) - fn(x - h)) / (2 * h)


@pytest.mark.parametrize("kind", sorted(pot.BUILTIN_POTENTIALS))
def test_builtin_gradients_match_values(kind):
    p = pot.builtin(kind)
    # central difference error is O(h² V''') ~ 1e-9 on [-3, 3]
    assert np.allclose(p.grad(X), _finite_difference(p.value, X), atol=1e-6)
    coeffs = p.grad_polynomial
    assert coeffs is not None
    assert np.allclose(np.polynomial.polynomial.polyval(X, coeffs), p.grad(X), atol=1e-12)


def test_double_well_shape():
    p = pot.builtin("double_well", barrier=0.5, width=2.0)
    assert np.allclose(p.value(np.array([-2.0, 2.0])), 0.0)
    assert np.isclose(p.value(np.array([0.0]))[0], 0.5)
    assert np.allclose(p.grad(np.array([-2.0, 0.0, 2.0])), 0.0)


@pytest.mark.parametrize("kind", sorted(pot.BUILTIN_INTERACTIONS))
def test_builtin_interactions_even_with_odd_gradient(kind):
    w = pot.builtin(kind, interaction=True)
    assert np.allclose(w.value(X), w.value(-X))
    assert np.allclose(w.grad(X), -w.grad(-X))
    assert np.allclose(w.grad(X), _finite_difference(w.value, X), atol=1e-6)


def test_expression_exact_derivative():
    p = pot.from_expression("x**4/4 - x**2/2 + 0.3*sin(2*x) + exp(-x**2)")
    exact = X**3 - X + 0.6 * np.cos(2 * X) - 2 * X * np.exp(-X**2)
    assert np.allclose(p.grad(X), exact, rtol=0, atol=1e-13)
    assert p.grad_polynomial is None


def test_polynomial_expression_is_detected():
    p = pot.from_expression("x**4/4 - x**2/2 + 0.1*x")
    assert p.grad_polynomial == pytest.approx((0.1, -1.0, 0.0, 1.0))


def test_constant_expression_broadcasts():
    p = pot.from_expression("2.5")
    assert p.value(X).shape == X.shape and np.all(p.grad(X) == 0)


@pytest.mark.parametrize("text", [
    "__import__('os')", "x.real", "(lambda: 1)()", "[x]", "x if x else 1", "open('f')",
    "x**100000", "y", "", "exp(x, 2)", "1e400*x",
])
def test_unsafe_or_invalid_expressions_rejected(text):
    with pytest.raises(pot.ExpressionError):
        pot.from_expression(text)


def test_python_potential_with_and_without_grad(tmp_path, monkeypatch):
    (tmp_path / "mypots.py").write_text(textwrap.dedent("""
        import numpy as np

        class Wiggly:
            def value(self, x):
                return x**2 / 2 + 0.2 * np.cos(3 * x)
            def grad(self, x):
                return x - 0.6 * np.sin(3 * x)

        def bare(x):
            return np.log(np.cosh(x))
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("mypots", None)
    w = pot.from_python("mypots:Wiggly")
    assert np.allclose(w.grad(X), X - 0.6 * np.sin(3 * X), atol=0)
    b = pot.from_python("mypots:bare")
    # derived gradient: 4th-order central differences, error ~1e-12
    assert np.allclose(b.grad(X), np.tanh(X), atol=1e-10)
    with pytest.raises(ImportError):
        pot.from_python("mypots_missing:V")
    with pytest.raises(AttributeError):
        pot.from_python("mypots:nothing")


def test_gaussian_cell_averages_exact_and_normalised():
    law = gaussian([0.4, -0.2], [0.5, 0.7])
    xe, ve = np.linspace(-4, 4, 41), np.linspace(-5, 5, 51)
    avg, outside = law.cell_averages(xe, ve)
    hx, hv = np.diff(xe)[0], np.diff(ve)[0]
    assert np.isclose(avg.sum() * hx * hv, 1.0, rtol=1e-14)
    assert 0 < outside < 1e-8
    # a cell average lies between the density's extremes on the cell; compare with a
    # 5x5 Gauss–Legendre cell quadrature (error far below 1e-8 for these cells)
    nodes, weights = np.polynomial.legendre.leggauss(5)
    i, j = 17, 25
    xs = 0.5 * (xe[i] + xe[i + 1]) + 0.5 * hx * nodes
    vs = 0.5 * (ve[j] + ve[j + 1]) + 0.5 * hv * nodes
    quad = 0.25 * np.einsum("a,b,ab->", weights, weights, law.pdf(xs[:, None], vs[None, :]))
    assert np.isclose(avg[i, j] * (1 - outside), quad, rtol=1e-9)


def test_far_tail_cell_masses_are_positive():
    law = gaussian(0.0, 0.1)
    avg, _ = law.cell_averages(np.linspace(-6, 6, 121))
    assert np.all(avg >= 0)
    # 60 standard deviations out the mass underflows to exactly 0, never to a negative
    assert avg[-1] == 0.0 and avg[60] > 0


def test_mixture_sample_moments(rng):
    law = GaussianMixture([0.3, 0.7], [[-1.0, 0.0], [1.0, 0.5]], [[0.3, 0.5], [0.4, 0.2]])
    n = 200_000
    s = law.sample(n, rng)
    assert s.shape == (n, 2)
    cov = law.cov()
    # 5-sigma bound on the sample mean: sqrt(var/n)
    assert np.all(np.abs(s.mean(axis=0) - law.mean()) < 5 * np.sqrt(np.diag(cov) / n))
    # sample variance: sd ≈ sqrt((m4 - σ⁴)/n) ≤ sqrt(2·kurtosis)·σ²/sqrt(n); use 10σ²/sqrt(n)
    assert np.all(np.abs(np.var(s, axis=0) - np.diag(cov)) < 10 * np.diag(cov) / np.sqrt(n))


def test_sample_in_domain(rng):
    law = gaussian(2.5, 1.0)
    s = law.sample_in(10_000, rng, -3.0, 3.0)
    assert s.min() >= -3.0 and s.max() <= 3.0
