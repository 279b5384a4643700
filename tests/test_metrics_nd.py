"""Tests of validation.metrics_nd (d ≥ 2): closed forms, exact twins, floors, registry keys.

Tolerances are derived: round-off, a discretisation bound by the triangle inequality, the
measured bias of an estimator stated beside the test, or a number of standard errors of a
known sampling law.
"""

import numpy as np
import pytest
from scipy.special import ndtri
from scipy.stats import multivariate_normal, norm

from vfp.validation import _ndkernels as K
from vfp.validation import _w2kernels as K1
from vfp.validation import metrics as M
from vfp.validation import metrics_nd as N
from vfp.validation import registry


def gaussian_cells(edges, mean, sd):
    """Exact cell averages of the product of independent N(mean_a, sd_a²) on a tensor grid."""
    out = np.ones(())
    for e, m, s in zip(edges, mean, sd):
        out = np.multiply.outer(out, np.diff(norm.cdf(e, m, s)) / np.diff(e))
    return out


def quantile_w2(quantile_a, quantile_b, k=10**6):
    """W2 between two 1-D laws from their quantile functions (midpoint rule, k points)."""
    u = (np.arange(k) + 0.5) / k
    return float(np.sqrt(np.mean((quantile_a(u) - quantile_b(u)) ** 2)))


def grid_quantile(edges, masses):
    cum = np.concatenate([[0.0], np.cumsum(masses)])
    cum /= cum[-1]
    return lambda u: np.interp(u, cum, edges)


def sample_quantile(x):
    xs = np.sort(x)
    return lambda u: xs[np.minimum((u * xs.size).astype(int), xs.size - 1)]


EX = [np.linspace(-5, 5, 21), np.linspace(-4.5, 5.5, 17)]
EV = [np.linspace(-5, 5, 15), np.linspace(-4, 4, 13)]


# ----------------------------------------------------------------------------- registry
def test_registry_d2_layout_and_key_info():
    kinetic = registry.stored_keys(kinetic=True, dimension=2)
    assert kinetic[:8] == ["w2_x1", "w2_x1_floor", "w2_x2", "w2_x2_floor", "w2_v1",
                           "w2_v1_floor", "w2_v2", "w2_v2_floor"]
    assert registry.moment_keys(kinetic=True, dimension=2) == (
        "mean_x1", "mean_x2", "mean_v1", "mean_v2", "cov_x1x1", "cov_x1x2", "cov_x1v1",
        "cov_x1v2", "cov_x2x2", "cov_x2v1", "cov_x2v2", "cov_v1v1", "cov_v1v2", "cov_v2v2")
    assert registry.distance_keys(kinetic=False, dimension=2) == (
        "w2_x1", "w2_x2", "sw2", "w2_emd", "kl", "kl_binned", "tv")
    assert registry.applicable(kinetic=False, dimension=2) == (
        "w2_x", "sw2", "w2_emd", "kl_knn", "kl_binned", "tv", "mean", "cov")
    assert registry.moment_keys(kinetic=False, dimension=3)[-1] == "cov_x3x3"
    for kin in (True, False):
        for key in registry.stored_keys(kinetic=kin, dimension=2):
            info = registry.key_info(key)
            assert key.startswith(info.value_key or key)
    assert registry.key_info("cov_x1v2_floor").label == "covariance of x1 and v2 (noise floor)"
    assert registry.fit_key("w2_v2") == "w2_v2_sq" and registry.fit_key("cov_x1x2") == \
        "cov_x1x2_err2"
    with pytest.raises(ValueError):
        registry.key_info("w2_x1_grid")
    with pytest.raises(ValueError, match="dimension"):
        registry.stored_keys(dimension=4)
    # d = 1 untouched
    assert registry.stored_keys(kinetic=True, dimension=1) == registry.stored_keys(kinetic=True)


# ----------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("direction", [[0.5, -0.5, 0.5, 0.5], [1.0, 1e-3, -2e-3, 1e-4],
                                       [0.3, 0.0, -0.9, 0.2]])
def test_cells_to_nodes_matches_numpy_twin(rng, direction):
    edges = [np.sort(rng.uniform(-2, 2, n + 1)) for n in (4, 3, 5, 2)]
    masses = rng.random((4, 3, 5, 2))
    masses[1, 2, 0, 1] = 0.0
    masses /= masses.sum()
    theta = np.asarray(direction) / np.linalg.norm(direction)
    c_pad, h_pad, index, mass, lows, highs = N._projection_setup(edges, masses)
    n_nodes = 257
    lo = np.sum(np.minimum(theta * lows, theta * highs))
    hi = np.sum(np.maximum(theta * lows, theta * highs))
    dy = (hi - lo) / (n_nodes - 3)
    arrays = [np.zeros(n_nodes) for _ in range(3)]
    pc, pw = theta[:, None] * c_pad, np.abs(theta)[:, None] * h_pad
    K.cells_to_nodes(index, mass, pc, pw, lo - dy, dy, *arrays)
    q = np.empty(n_nodes)
    K.node_values(*arrays, dy, q)
    ref = K.cells_to_nodes_reference(index, mass, pc, pw, lo - dy, dy, n_nodes)
    np.testing.assert_allclose(q, ref, rtol=1e-9, atol=1e-9 * ref.max())


def test_sweep_nodes_matches_event_sweep(rng):
    q = np.abs(rng.normal(size=40))
    q[[0, -1]] = 0.0
    y0, dy = -1.3, 0.07
    q /= np.sum(0.5 * (q[1:] + q[:-1])) * dy
    xs = np.sort(rng.normal(size=300))
    pos = y0 + dy * np.arange(q.size)
    slope = np.diff(q, append=q[-1]) / dy
    slope = np.diff(slope, prepend=0.0)
    jump = np.zeros_like(q)
    jump[0] = q[0]
    assert K.sweep_nodes(xs, y0, dy, q) == pytest.approx(
        K1.sweep_events(xs, pos, jump, slope), rel=1e-10)


# ----------------------------------------------------------------------------- sliced W2
def test_sliced_nd_two_dimensions_matches_the_exact_code(rng):
    # D = 2: the moment-matched trapezoid *is* the exact projection, so the only error is
    # the node interpolation, which moves mass inside node intervals: |ΔW2(θ)| ≤ Δy.
    ex, ev = np.linspace(-4, 4, 41), np.linspace(-5, 5, 33)
    cx, cv = 0.5 * (ex[1:] + ex[:-1]), 0.5 * (ev[1:] + ev[:-1])
    f = np.exp(-(cx[:, None] ** 2 + cx[:, None] * cv[None, :] + cv[None, :] ** 2) / 1.5)
    x, v = rng.normal(size=4000), 1.2 * rng.normal(size=4000)
    dirs = M.random_directions(12, 3, 2)
    _, exact, _ = M.sliced_w2(x, v, ex, ev, f, directions=dirs, per_direction=True,
                              squared=True)
    _, ours, _ = N.sliced_w2_nd(np.column_stack([x, v]), [ex, ev], f, directions=dirs,
                                per_direction=True, squared=True)
    span = np.abs(dirs) @ np.array([8.0, 10.0])
    dy = span / (N.DEFAULT_NODES - 3)
    assert np.all(np.abs(np.sqrt(ours) - np.sqrt(exact)) <= dy)


def test_sliced_nd_mass_tail_moves_w2_by_at_most_its_bound(rng):
    # Leaving out cells holding δ of the mass (renormalised) moves the grid measure by
    # W2 ≤ √δ × diameter, hence every W2(θ) by at most that (+ the node spacing, twice).
    e = [np.linspace(-3, 3, 13), np.linspace(-2, 2, 9), np.linspace(-3, 3, 11)]
    f = gaussian_cells(e, [0.0, 0.2, -0.3], [0.8, 0.7, 1.0])
    z = rng.normal(size=(2000, 3))
    dirs = M.random_directions(6, 1, 3)
    _, full, _ = N.sliced_w2_nd(z, e, f, directions=dirs, per_direction=True, mass_tail=0.0)
    _, cut, _ = N.sliced_w2_nd(z, e, f, directions=dirs, per_direction=True, mass_tail=1e-2)
    diameter = np.sqrt(6 ** 2 + 4 ** 2 + 6 ** 2)
    dy = diameter / (N.DEFAULT_NODES - 3)
    shift = np.abs(np.sqrt(cut) - np.sqrt(full))
    assert np.all(shift <= np.sqrt(1e-2) * diameter + 2 * dy) and np.any(shift > 0)


def test_sliced_nd_four_dimensional_cell_bias_is_small(rng):
    # One 4-D cell of side h, particles uniform in it: W2(θ) ≤ moment-matching bias
    # (≤ 0.025 h, _ndkernels docstring) + the 1-D sampling W2 (E W2² = ∫F(1−F)/f / n
    # ≤ h²/(6 n) for these unimodal laws on a support ≤ 2h; 5× its root). A centre atom
    # would give ≥ h/√12 · 1 = 0.29 h on average, so the test separates the two.
    h, n = 1.0, 200000
    z = rng.uniform(-h / 2, h / 2, size=(n, 4))
    edges = [np.array([-h / 2, h / 2])] * 4
    sw2, per, dirs = N.sliced_w2_nd(z, edges, np.ones((1, 1, 1, 1)), n_projections=16,
                                    seed=4, per_direction=True)
    assert np.all(np.sqrt(per) <= 0.025 * h + 5 * np.sqrt(2 * h ** 2 / (6 * n)))
    mid = np.full(4, 0.5)
    _, per_mid, _ = N.sliced_w2_nd(z, edges, np.ones((1, 1, 1, 1)),
                                   directions=mid[None, :], per_direction=True)
    # the worst case found when the bound was measured: equal projected widths
    assert np.sqrt(per_mid[0]) >= 0.01 * h


def test_sliced_nd_gaussians_closed_form(rng):
    # Overdamped d = 2 (exact projections): per direction W2²(θ) between N(m0, C0) and
    # N(m1, C1) is (θ·Δm)² + (√θᵀC0θ − √θᵀC1θ)². Triangle inequality per direction:
    # the grid vs N1 costs ≤ the in-cell coupling √(2h²/3)·(cells, any direction), the
    # sample vs N0 is computed from the quantile functions.
    e = [np.linspace(-6, 6, 401), np.linspace(-6, 6, 401)]
    h = e[0][1] - e[0][0]
    m1, s1 = np.array([0.3, -0.2]), np.array([1.0, 0.7])
    f = gaussian_cells(e, m1, s1)
    m0 = np.array([-0.4, 0.5])
    c0 = np.array([[0.8, 0.3], [0.3, 1.1]])
    z = rng.multivariate_normal(m0, c0, size=20000)
    dirs = M.random_directions(8, 7, 2)
    _, per, _ = N.sliced_w2_nd(z, e, f, directions=dirs, per_direction=True)
    for w2sq, th in zip(per, dirs):
        s0, s1t = np.sqrt(th @ c0 @ th), np.sqrt(th @ np.diag(s1 ** 2) @ th)
        exact = np.hypot(th @ (m0 - m1), s0 - s1t)
        sample = quantile_w2(sample_quantile(z @ th), lambda u: th @ m0 + s0 * ndtri(u))
        assert abs(np.sqrt(w2sq) - exact) <= sample + np.sqrt(2 * h ** 2 / 3) + 1e-3


# ----------------------------------------------------------------------------- per-axis W2
def test_per_axis_w2_four_dimensional_gaussians(rng):
    # Kinetic d = 2, product Gaussian on the grid, correlated Gaussian particles: each
    # per-axis W2 equals the 1-D Gaussian W2 of the marginals within the triangle
    # inequality W2(sample_a, N0_a) + W2(grid_a, N1_a), both computed from quantile
    # functions (midpoint rule on 10⁶ points: error < 1e-4).
    edges = [np.linspace(-6, 6, 49), np.linspace(-5, 7, 41), np.linspace(-6, 6, 37),
             np.linspace(-6, 6, 33)]
    m1, s1 = np.array([0.0, 1.0, 0.0, 0.2]), np.array([1.0, 0.8, 1.2, 0.9])
    f = gaussian_cells(edges, m1, s1)
    m0 = np.array([0.3, 0.6, -0.2, 0.2])
    a = rng.normal(size=(4, 4)) * 0.2
    c0 = np.diag([1.1, 0.6, 1.4, 0.8]) + a @ a.T
    z = rng.multivariate_normal(m0, c0, size=20000)
    r = N.compare_snapshot_nd(z[:, :2], z[:, 2:], edges[:2], edges[2:], f,
                              metrics=("w2_x", "w2_v"), noise_floor=False)
    marg = N.axis_marginals(N.cell_masses_nd(edges, f))
    for ax, key in enumerate(("w2_x1", "w2_x2", "w2_v1", "w2_v2")):
        sd0 = np.sqrt(c0[ax, ax])
        exact = np.hypot(m0[ax] - m1[ax], sd0 - s1[ax])
        tol = (quantile_w2(sample_quantile(z[:, ax]), lambda u: m0[ax] + sd0 * ndtri(u))
               + quantile_w2(grid_quantile(edges[ax], marg[ax]),
                             lambda u: m1[ax] + s1[ax] * ndtri(u)) + 1e-4)
        assert abs(r[key] - exact) <= tol, key


# ----------------------------------------------------------------------------- KL
def test_kl_knn_four_dimensions_against_gaussian_kl(rng):
    # KL̂(particles ‖ grid) = KL̂(particles ‖ N1) + mean(log N1 − log q_grid) exactly (same
    # points), and its floor estimates KL(q‖q) = 0 with the same estimator. In D = 4 the
    # 1-NN estimator is biased by ≈ +0.014 at n = 2·10⁴ for *both* (measured: 0.014 with
    # P ≠ q, 0.015 at KL = 0; 20 repetitions each), so value − floor cancels it; spread of
    # each ≈ √(π²/6 + Var_P log(p/q))/√n. Tolerance: 5 standard deviations of the
    # difference + the 0.003 measured difference of the biases.
    edges = [np.linspace(-6, 6, 25)] * 4
    m1, s1 = np.zeros(4), np.array([1.0, 0.9, 1.2, 1.1])
    f = gaussian_cells(edges, m1, s1)
    m0 = np.array([0.5, -0.3, 0.2, 0.0])
    c0 = np.array([[0.8, 0.2, 0.0, 0.1], [0.2, 0.7, 0.1, 0.0], [0.0, 0.1, 1.0, 0.2],
                   [0.1, 0.0, 0.2, 0.9]])
    c1 = np.diag(s1 ** 2)
    exact = 0.5 * (np.trace(np.linalg.solve(c1, c0)) + (m1 - m0) @ np.linalg.solve(c1, m1 - m0)
                   - 4 + np.log(np.linalg.det(c1) / np.linalg.det(c0)))
    n = 20000
    z = rng.multivariate_normal(m0, c0, size=n)
    r = N.compare_snapshot_nd(z[:, :2], z[:, 2:], edges[:2], edges[2:], f,
                              metrics=("kl_knn",), seed=3)
    logq = N.grid_log_density_nd(edges, f)
    log_n1 = multivariate_normal(m1, c1).logpdf(z)
    correction = np.mean(log_n1 - logq(z))
    log_ratio = multivariate_normal(m0, c0).logpdf(z) - log_n1
    sd = np.sqrt((np.pi ** 2 / 6 + log_ratio.var()) / n + (np.pi ** 2 / 6) / n)
    assert r["kl_outside"] == 0.0
    assert abs((r["kl"] - r["kl_floor"]) - (exact + correction)) <= 5 * sd + 0.003


def test_grid_log_density_nd_values():
    edges = [np.array([0.0, 1.0, 3.0]), np.array([-1.0, 0.0, 2.0])]
    f = np.array([[1.0, 2.0], [0.0, 4.0]])
    logq = N.grid_log_density_nd(edges, f)
    total = 1 * 1 + 2 * 2 + 0 + 4 * 4
    pts = np.array([[0.5, -0.5], [0.5, 1.0], [2.0, 1.9], [2.0, -0.5], [5.0, 0.0]])
    np.testing.assert_allclose(logq(pts)[:3], np.log(np.array([1, 2, 4]) / total))
    assert logq(pts)[3] == -np.inf and logq(pts)[4] == -np.inf


# ----------------------------------------------------------------------------- moments
def test_moments_grid_nd_against_subcell_quadrature(rng):
    # Uniform inside cells: 2-point Gauss–Legendre per axis integrates the quadratic
    # moments exactly, so the brute-force quadrature over all sub-points is an
    # independent computation of the same numbers (round-off agreement).
    edges = [np.sort(rng.uniform(-2, 2, n + 1)) for n in (5, 4, 3, 6)]
    f = rng.random((5, 4, 3, 6))
    mean, cov = N.moments_grid_nd(edges, f)
    g = np.array([-1, 1]) / np.sqrt(3)
    pts, wts = [], []
    m = N.cell_masses_nd(edges, f)
    for idx in np.ndindex(m.shape):
        lo = np.array([edges[a][idx[a]] for a in range(4)])
        h = np.array([edges[a][idx[a] + 1] - edges[a][idx[a]] for a in range(4)])
        for s in np.ndindex(2, 2, 2, 2):
            pts.append(lo + h * (1 + g[list(s)]) / 2)
            wts.append(m[idx] / 16)
    pts, wts = np.array(pts), np.array(wts)
    mu = wts @ pts
    np.testing.assert_allclose(mean, mu, atol=1e-14)
    np.testing.assert_allclose(cov, (pts - mu).T @ ((pts - mu) * wts[:, None]), atol=1e-13)


def test_moment_keys_against_exact_with_standard_errors(rng):
    # Particles from N(m, C): every mean within 5 SE √(C_aa/N), every covariance entry
    # within 5 SE √((C_aa C_bb + C_ab²)/N) of the exact value (Gaussian 4th moments).
    m = np.array([0.2, -0.1, 0.4, 0.0])
    a = rng.normal(size=(4, 4)) * 0.3
    c = np.diag([1.0, 0.5, 1.5, 0.8]) + a @ a.T
    n = 20000
    z = rng.multivariate_normal(m, c, size=n)
    f = gaussian_cells(EX + EV, [0, 0, 0, 0], [1, 1, 1, 1])
    r = N.compare_snapshot_nd(z[:, :2], z[:, 2:], EX, EV, f, metrics=("mean", "cov"))
    names = registry.components(True, 2)
    for i, ci in enumerate(names):
        assert abs(r[f"mean_{ci}"] - m[i]) <= 5 * np.sqrt(c[i, i] / n)
        for j in range(i, 4):
            key = f"cov_{ci}{names[j]}"
            se = np.sqrt((c[i, i] * c[j, j] + c[i, j] ** 2) / n)
            assert abs(r[key] - c[i, j]) <= 5 * se, key
    gmean, gcov = N.moments_grid_nd(EX + EV, f)
    assert r["cov_x2v1_grid"] == pytest.approx(gcov[1, 2], abs=1e-15)
    assert r["mean_v2_grid"] == pytest.approx(gmean[3], abs=1e-15)


# ----------------------------------------------------------------------------- floors
def test_per_axis_w2_floor_scales_as_one_over_n(rng):
    # For a density bounded below on a bounded support, N·E W2² → ∫ F(1−F)/f dx
    # (the 1-D empirical quantile process). On a 2-D grid with a smooth positive density
    # the x1-floor over R repetitions matches it within 5 standard errors at N = 4000,
    # and halves (≈) when N doubles is the same statement; the constant is computed
    # from the grid marginal itself (piecewise constant f, piecewise linear F).
    e = [np.linspace(0, 1, 21), np.linspace(0, 2, 11)]
    c1 = 0.5 * (e[0][1:] + e[0][:-1])
    f = np.outer(1.0 + 0.5 * np.cos(3 * c1), np.ones(10))
    marg = N.axis_marginals(N.cell_masses_nd(e, f))[0]
    dens = marg / np.diff(e[0])
    # ∫ F(1−F)/f per cell, F linear inside (Simpson exact for the quadratic numerator)
    cum = np.concatenate([[0.0], np.cumsum(marg)])
    fa, fb = cum[:-1], cum[1:]
    fm = 0.5 * (fa + fb)
    g = lambda F: F * (1 - F)  # noqa: E731
    const = np.sum(np.diff(e[0]) * (g(fa) + 4 * g(fm) + g(fb)) / 6 / dens)
    for n in (1000, 4000):
        reps = 60
        vals = []
        for r in range(reps):
            out = N.compare_snapshot_nd(N.sample_grid_nd(e, f, n, rng), None, e, None, f,
                                        metrics=("w2_x",), seed=r)
            vals.append(n * out["w2_x1_floor"] ** 2)
        vals = np.array(vals)
        assert abs(vals.mean() - const) <= 5 * vals.std(ddof=1) / np.sqrt(reps)


def test_kl_binned_floor_size(rng):
    # 2N·KL_binned → χ²_{K−1} on the x-marginal cells (K = 12·10 cells, N q_c ≥ 30).
    e = [np.linspace(0, 1, 13), np.linspace(0, 2, 11)]
    f = np.ones((12, 10))
    n, reps = 4000, 40
    vals = np.array([N.compare_snapshot_nd(np.zeros((n, 2)) + 0.5, None, e, None, f,
                                           metrics=("kl_binned",), seed=r)["kl_binned_floor"]
                     for r in range(reps)])
    k = 120
    assert abs(vals.mean() - (k - 1) / (2 * n)) <= 5 * np.sqrt(2 * (k - 1)) / (2 * n) / np.sqrt(reps)


# ----------------------------------------------------------------------------- snapshot
@pytest.mark.parametrize("kinetic", [True, False])
def test_compare_snapshot_nd_keys_are_the_registry_keys(rng, kinetic):
    edges = EX + (EV if kinetic else [])
    f = gaussian_cells(edges, [0.0] * len(edges), [1.0] * len(edges))
    z = N.sample_grid_nd(edges, f, 300, rng)
    for metrics in (("tv", "w2_x"), ("cov", "kl_knn"), registry.METRIC_NAMES):
        r = N.compare_snapshot_nd(z[:, :2], z[:, 2:] if kinetic else None, EX,
                                  EV if kinetic else None, f, metrics=metrics,
                                  n_projections=4, emd_subsample=40)
        extra = {"n"} | ({"w2_emd_estimator"} if "w2_emd" in metrics else set())
        assert set(r) == set(registry.stored_keys(metrics, kinetic, dimension=2)) | extra
        assert all(np.isfinite(v) for k, v in r.items() if not isinstance(v, str))
    # the shared grid projection gives what the public function gives, value and floor
    zs = N.sample_grid_nd(edges, f, 300, np.random.default_rng(
        np.random.SeedSequence([0, 0x0F100D])))
    assert r["sw2"] == pytest.approx(N.sliced_w2_nd(z, edges, f, n_projections=4), rel=1e-12)
    assert r["sw2_floor"] == pytest.approx(N.sliced_w2_nd(zs, edges, f, n_projections=4),
                                           rel=1e-12)


def test_compare_snapshot_nd_delegates_d1(rng):
    ex, ev = np.linspace(-4, 4, 21), np.linspace(-4, 4, 17)
    f = gaussian_cells([ex, ev], [0, 0], [1, 1])
    x, v = M.sample_grid(ex, ev, f, 500, rng)
    a = M.compare_snapshot(x, v, ex, ev, f, n_projections=5, emd_subsample=50, seed=2)
    b = N.compare_snapshot_nd(x[:, None], v[:, None], [ex], [ev], f, n_projections=5,
                              emd_subsample=50, seed=2)
    assert a == b


def test_marginal_only_recomputation_agrees(rng):
    edges = EX + EV
    f = gaussian_cells(edges, [0.2, 0.5, 0.0, -0.1], [1.0, 0.8, 1.1, 0.9])
    f = f * (1 + 0.3 * np.sin(np.arange(f.size)).reshape(f.shape))  # correlated, not a product
    z = N.sample_grid_nd(edges, f, 2000, rng) + 0.05
    hx = np.multiply.outer(np.diff(EX[0]), np.diff(EX[1]))
    hv = np.multiply.outer(np.diff(EV[0]), np.diff(EV[1]))
    rho = np.einsum("ijkl,kl->ij", f, hv)
    g = np.einsum("ijkl,ij->kl", f, hx)
    full = N.compare_snapshot_nd(z[:, :2], z[:, 2:], EX, EV, f, n_projections=8,
                                 emd_subsample=100)
    part = N.compare_marginals_nd(z[:, :2], z[:, 2:], EX, EV, rho, g)
    assert set(part) == set(full) - {"w2_emd_estimator"} | {N.UNAVAILABLE_KEY}
    cross = {k for k in registry.moment_keys(kinetic=True, dimension=2)
             if k.startswith("cov_x") and "v" in k[4:]}
    unavailable = {"sw2", "w2_emd", "kl"} | cross
    for key, val in full.items():
        if isinstance(val, str) or key.endswith("_floor") or key in ("w2_emd_subsample",
                                                                     "kl_outside"):
            continue
        base = key[:-5] if key.endswith("_grid") else key
        if base in unavailable:
            assert np.isnan(part[key]), key
        else:
            assert part[key] == pytest.approx(val, rel=1e-12, abs=1e-14), key
    for key in unavailable:
        assert key in part[N.UNAVAILABLE_KEY]
    # floors of the marginal metrics come from a product-of-marginals sample: same law
    assert 0 < part["w2_x1_floor"] < 10 * full["w2_x1_floor"]
    # overdamped: rho is the whole state
    rho_only = N.compare_marginals_nd(z[:, :2], None, EX, None, rho, None, seed=1)
    assert rho_only == N.compare_snapshot_nd(z[:, :2], None, EX, None, rho, seed=1)


def test_w2_emd_nd_estimator_and_atoms(rng):
    edges = EX + EV
    f = gaussian_cells(edges, [0, 0, 0, 0], [1, 1, 1, 1])
    z = N.sample_grid_nd(edges, f, 500, rng)
    r = N.w2_emd_nd(z, edges, f, subsample=200, max_atoms=500, mass_tail=1e-2)
    assert r.subsample == 200 and r.n_atoms <= 500 and "200 particles" in r.estimator
    assert "grid mass left out" in r.estimator
    atoms, w, factors, dropped = N._heavy_block_atoms(edges, N.cell_masses_nd(edges, f),
                                                      500, 1e-2)
    assert dropped <= 1e-2 and w.sum() == pytest.approx(1.0) and max(factors) > 1
    # no cap: every cell its own atom, the mean of the atoms is the grid mean
    atoms, w, factors, dropped = N._heavy_block_atoms(EX, N.cell_masses_nd(EX, f[:, :, 0, 0]),
                                                      10**6, 0.0)
    assert factors == [1, 1] and dropped == 0.0
    np.testing.assert_allclose(w @ atoms, N.moments_grid_nd(EX, f[:, :, 0, 0])[0], atol=1e-12)


def test_bad_input_messages(rng):
    f = gaussian_cells(EX, [0, 0], [1, 1])
    with pytest.raises(ValueError, match="shape"):
        N.compare_snapshot_nd(np.zeros((5, 2)), None, EX, None, f[:-1])
    with pytest.raises(ValueError, match="columns"):
        N.compare_snapshot_nd(np.zeros((5, 3)), None, EX, None, f)
    with pytest.raises(ValueError, match="v is None"):
        N.compare_snapshot_nd(np.zeros((5, 2)), None, EX, EV, np.ones((20, 16, 14, 12)))
    with pytest.raises(ValueError, match="unknown metrics"):
        N.compare_snapshot_nd(np.zeros((5, 2)), None, EX, None, f, metrics=("w3",))
    with pytest.raises(ValueError, match="non-negative"):
        N.cell_masses_nd(EX, -f)
