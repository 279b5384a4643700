"""The two-layer-network energy (grids.meanfield): compiled kernels against their NumPy
twins, and the drift against finite differences of the risk (its defining property:
d/dε F(μ with x_i moved by ε e_k) = w_i ∂_k δF/δμ(x_i))."""

from __future__ import annotations

import numpy as np
import pytest

from vfp.grids import reference_meanfield as ref
from vfp.grids.meanfield import TwoLayerNetwork

CASES = [(act, ow) for act in ("identity", "tanh", "relu", "sigmoid")
         for ow in ("learned", 0.7)]


def _problem(rng, act, ow, n=37, m=23, p=2):
    z = rng.normal(size=(m, p))
    y = np.sin(z[:, 0]) + 0.3 * z[:, -1]
    d = p + 1 if ow == "learned" else p
    x = rng.normal(size=(n, d))
    w = rng.uniform(0.5, 1.5, size=n)
    w /= w.sum()
    return TwoLayerNetwork(z, y, act, ow), x, w, z, y


@pytest.mark.parametrize("act, ow", CASES)
def test_kernels_match_numpy_twin(rng, act, ow):
    net, x, w, z, y = _problem(rng, act, ow)
    q = rng.normal(size=(11, x.shape[1]))
    np.testing.assert_allclose(net.value(x, w), ref.value(x, w, z, y, act, ow), rtol=1e-13)
    np.testing.assert_allclose(net.drift(q, x, w), ref.drift(q, x, w, z, y, act, ow),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(net.first_variation(q, x, w),
                               ref.first_variation(q, x, w, z, y, act, ow),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(net.predict(z[:5], x, w), ref.outputs(x, w, z[:5], act, ow),
                               rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("act, ow", [c for c in CASES if c[0] != "relu"])
def test_drift_is_the_gradient_of_the_first_variation(rng, act, ow):
    """Central differences of F in one neuron's coordinates: error O(ε²) ≈ 1e-9 here."""
    net, x, w, _, _ = _problem(rng, act, ow)
    g = net.drift(x, x, w)
    eps = 1e-5
    for i in (0, 5):
        for k in range(x.shape[1]):
            xp, xm = x.copy(), x.copy()
            xp[i, k] += eps
            xm[i, k] -= eps
            fd = (net.value(xp, w) - net.value(xm, w)) / (2 * eps)
            assert fd == pytest.approx(w[i] * g[i, k], rel=1e-6, abs=1e-10)


def test_identity_network_is_linear_in_the_mean(rng):
    """Identity activation, fixed output weight 1: f_μ(z) = m·z with m the mean, and the
    drift is Σ_z m − b everywhere (ORACLES, two-layer networks with identity activation)."""
    net, x, w, z, y = _problem(rng, "identity", 1.0)
    m = w @ x
    sigma_z = z.T @ z / len(y)
    b = z.T @ y / len(y)
    q = rng.normal(size=(4, x.shape[1]))
    np.testing.assert_allclose(net.drift(q, x, w), np.tile(sigma_z @ m - b, (4, 1)),
                               rtol=1e-12, atol=1e-14)
    risk = 0.5 * (m @ sigma_z @ m - 2 * b @ m + np.mean(y * y))
    assert net.value(x, w) == pytest.approx(risk, rel=1e-12)


def test_bad_inputs_are_refused():
    z = np.zeros((4, 2))
    with pytest.raises(ValueError, match="y must have shape"):
        TwoLayerNetwork(z, np.zeros(3))
    with pytest.raises(ValueError, match="activation"):
        TwoLayerNetwork(z, np.zeros(4), "softplus")
    with pytest.raises(ValueError, match="output_weight"):
        TwoLayerNetwork(z, np.zeros(4), "tanh", "fixed")
    net = TwoLayerNetwork(z, np.zeros(4), "tanh")
    with pytest.raises(ValueError, match=r"points must have shape \(n, 3\)"):
        net.value(np.zeros((5, 2)), np.ones(5))


def test_vectorisable_tanh_matches_numpy_to_a_few_ulp(rng):
    """The branch-free tanh of the kernels (grids.meanfield._tanh) against np.tanh: at
    most 4 ulp over every scale, ±1 beyond |u| = 20, odd, NaN kept."""
    from numba import njit

    from vfp.grids.meanfield import _tanh

    @njit
    def apply(u, out):
        for j in range(u.size):
            out[j] = _tanh(u[j])

    u = np.concatenate([rng.normal(size=20_000) * s for s in (1e-9, 1e-3, 0.3, 1.0, 4.0, 30.0)]
                       + [np.array([0.0, 0.3465735902799727, 18.5, 20.0, 1e300, -1e300])])
    out = np.empty_like(u)
    apply(u, out)
    expect = np.tanh(u)
    assert np.all(np.abs(out - expect) <= 4 * np.spacing(np.abs(expect)))
    neg = np.empty_like(u)
    apply(-u, neg)
    np.testing.assert_array_equal(neg, -out)
    nan = np.empty(1)
    apply(np.array([np.nan]), nan)
    assert np.isnan(nan[0])


def test_kernels_do_not_depend_on_the_thread_count(rng):
    import numba
    net, x, w, _, _ = _problem(rng, "tanh", "learned", n=1000, m=50, p=3)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = net.drift(x, x, w)
        numba.set_num_threads(max(2, before))
        many = net.drift(x, x, w)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one, many)


@pytest.mark.parametrize("act, ow", [("tanh", "learned"),
                                     pytest.param("relu", 0.7, marks=pytest.mark.slow),
                                     pytest.param("sigmoid", "learned", marks=pytest.mark.slow),
                                     pytest.param("identity", 1.3, marks=pytest.mark.slow)])
def test_self_drift_is_residuals_then_drift_bit_for_bit(rng, act, ow):
    """network_self_drift (activations kept, or recomputed) = network_residuals then
    network_drift at the same points, exactly."""
    from vfp.grids.meanfield import network_drift, network_residuals, network_self_drift
    net, x, w, _, _ = _problem(rng, act, ow, n=300, m=29, p=3)
    w[::7] = 0.0                                  # points without mass still get a drift
    packed = net.pack()
    r_ref = np.empty(net.n_data)
    network_residuals(x, w, packed, r_ref)
    g_ref = np.empty_like(x)
    network_drift(x, packed, r_ref, g_ref)
    for store in (np.empty((x.shape[0], net.n_data)), np.empty((0, net.n_data))):
        r = np.empty(net.n_data)
        g = np.empty_like(x)
        network_self_drift(x, w, packed, r, g, store)
        np.testing.assert_array_equal(r, r_ref)
        np.testing.assert_array_equal(g, g_ref)
