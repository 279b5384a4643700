"""Tests of validation.metrics: closed forms, POT oracles, invariances, estimator floors.

Every tolerance is derived (round-off, a discretisation bound via the triangle
inequality, or a stated number of standard deviations of a known sampling law).
"""

import numpy as np
import ot
import pytest
from scipy.special import digamma  # noqa: F401  (documents the KL estimator constants)
from scipy.stats import norm

from vfp.validation import metrics as M
from vfp.validation import registry
from vfp.validation.exact import gaussian_pdf_2d


# ----------------------------------------------------------------------------- helpers
def gaussian_cells_1d(edges, mean, sd):
    """Exact cell averages of N(mean, sd²) on ``edges``."""
    return np.diff(norm.cdf(edges, mean, sd)) / np.diff(edges)


def gaussian_cells_2d_indep(ex, ev, mean, sd):
    return np.outer(gaussian_cells_1d(ex, mean[0], sd[0]), gaussian_cells_1d(ev, mean[1], sd[1]))


def fine_atoms_1d(edges, dens, s):
    """s equal sub-cells per cell, atoms at their centres, with their masses."""
    h = np.diff(edges)
    m = dens * h / np.sum(dens * h)
    pts = (edges[:-1, None] + h[:, None] * (np.arange(s) + 0.5) / s).ravel()
    return pts, np.repeat(m / s, s)


def fine_atoms_2d(ex, ev, f, s):
    hx, hv = np.diff(ex), np.diff(ev)
    m = f * np.outer(hx, hv)
    m = m / m.sum()
    off = (np.arange(s) + 0.5) / s
    px = ex[:-1, None] + hx[:, None] * off  # (nx, s)
    pv = ev[:-1, None] + hv[:, None] * off  # (nv, s)
    X = np.broadcast_to(px[:, :, None, None], (px.shape[0], s, pv.shape[0], s))
    V = np.broadcast_to(pv[None, None, :, :], X.shape)
    W = np.broadcast_to(m[:, None, :, None] / s**2, X.shape)
    return X.ravel(), V.ravel(), W.ravel()


# ----------------------------------------------------------------------------- 1-D W2
def test_w2_1d_grid_single_cell_closed_form(rng):
    # One cell [a, b]: F⁻¹(u) = a + L u, and ∫_{u0}^{u1} (x − a − L u)² du
    # = [(x − a − L u0)³ − (x − a − L u1)³] / (3L): an independent closed form.
    a, b = -0.7, 1.9
    L = b - a
    x = rng.normal(0.3, 1.5, size=41)
    xs = np.sort(x)
    n = x.size
    u0, u1 = np.arange(n) / n, np.arange(1, n + 1) / n
    exact = np.sum(((xs - a - L * u0) ** 3 - (xs - a - L * u1) ** 3) / (3 * L))
    got = M.w2_1d_grid(x, [a, b], [5.0], squared=True)  # un-normalised density
    assert got == pytest.approx(exact, rel=1e-12)


def test_w2_1d_grid_against_pot_fine_discretisation(rng):
    # Reference: each cell split into s equal atoms. Moving every atom's mass uniformly
    # over its sub-cell is a coupling with cost ≤ Σ m (h/s)²/12, so
    # |W2 − W2_ref| ≤ h_max/(s√12) by the triangle inequality.
    edges = np.sort(rng.uniform(-3, 3, size=14))
    dens = rng.random(13)
    dens[[2, 7]] = 0.0  # empty cells: the quantile jumps over them
    x = rng.normal(size=37)
    s = 400
    pts, w = fine_atoms_1d(edges, dens, s)
    ref = np.sqrt(ot.emd2_1d(x, pts, np.full(x.size, 1 / x.size), w))
    bound = np.diff(edges).max() / (s * np.sqrt(12))
    assert abs(M.w2_1d_grid(x, edges, dens) - ref) <= bound + 1e-12


@pytest.mark.parametrize("na,nb", [(17, 17), (13, 29), (1, 5), (100, 64)])
def test_w2_1d_samples_matches_pot(rng, na, nb):
    a = rng.normal(size=na)
    b = rng.standard_t(3, size=nb)
    ref = ot.emd2_1d(a, b)  # W2² with uniform weights
    assert M.w2_1d_samples(a, b, squared=True) == pytest.approx(ref, rel=1e-11, abs=1e-14)


def test_w2_1d_gaussians_closed_form(rng):
    # W2(N(m1,s1²), N(m2,s2²)) = sqrt((m1−m2)² + (s1−s2)²). Triangle inequality:
    # |W2(μ_N, grid) − W2_true| ≤ W2(μ_N, N1) + W2(grid, N2).
    # * grid vs Gaussian: same mass per cell, so an in-cell coupling costs ≤ h²/3
    #   (E|U − Y|² ≤ h²/12 + h²/4 for U uniform and Y anywhere in the cell) → h/√3;
    #   tails beyond ±12 sd are < 1e-30.
    # * empirical vs Gaussian: E W2 ≍ s1 √(log log N / N) (Bobkov–Ledoux); 10× that.
    m1, s1, m2, s2 = 0.4, 1.2, -0.1, 0.8
    edges = np.linspace(-10, 10, 1025)
    h = edges[1] - edges[0]
    dens = gaussian_cells_1d(edges, m2, s2)
    n = 10**6
    x = rng.normal(m1, s1, size=n)
    exact = np.hypot(m1 - m2, s1 - s2)
    tol = h / np.sqrt(3) + 10 * s1 * np.sqrt(np.log(np.log(n)) / n)
    assert abs(M.w2_1d_grid(x, edges, dens) - exact) <= tol


def test_w2_1d_uniform_floor_expectation(rng):
    # Uniform law on [0, 1] (one cell): U_(i) ~ Beta(i, N+1−i), so exactly
    # E W2² = Σ_i [Var U_(i) / N + ∫_{(i−1)/N}^{i/N} (E U_(i) − u)² du].
    # The mean of R independent floors must match within 4 standard errors.
    n, reps = 50, 400
    i = np.arange(1, n + 1)
    mu = i / (n + 1)
    var = i * (n + 1 - i) / ((n + 1) ** 2 * (n + 2))
    u0, u1 = (i - 1) / n, i / n
    expect = np.sum(var / n + ((mu - u0) ** 3 - (mu - u1) ** 3) / 3)
    vals = np.array([M.w2_1d_grid(M.sample_grid([0.0, 1.0], None, [1.0], n, rng),
                                  [0.0, 1.0], [1.0], squared=True) for _ in range(reps)])
    se = vals.std(ddof=1) / np.sqrt(reps)
    assert abs(vals.mean() - expect) <= 4 * se
    assert expect == pytest.approx(1 / (6 * n), rel=0.05)  # the 1/N law


def test_w2_1d_invariances(rng):
    edges = np.linspace(-2, 3, 21)
    dens = rng.random(20)
    x = rng.normal(size=500)
    base = M.w2_1d_grid(x, edges, dens, squared=True)
    shift = 7.25  # exact in binary: edges and samples shift without round-off change
    assert M.w2_1d_grid(x + shift, edges + shift, dens, squared=True) == pytest.approx(
        base, rel=1e-9)
    assert M.w2_1d_grid(rng.permutation(x), edges, dens, squared=True) == base
    a, b = rng.normal(size=30), rng.normal(size=45)
    assert M.w2_1d_samples(b, a) == pytest.approx(M.w2_1d_samples(a, b), rel=1e-13)


def test_marginals(rng):
    ex, ev = np.sort(rng.random(6)), np.sort(rng.random(5))
    f = rng.random((5, 4))
    rx, rv = M.marginals(ex, ev, f)
    assert np.allclose(rx, (f * np.diff(ev)).sum(1))
    assert np.allclose(rv, (f * np.diff(ex)[:, None]).sum(0))
    assert np.sum(rx * np.diff(ex)) == pytest.approx(np.sum(rv * np.diff(ev)))


# ----------------------------------------------------------------------------- sliced
def _small_grid(rng):
    ex = np.concatenate([[-3.0], np.sort(rng.uniform(-2.5, 2.5, 6)), [3.0]])
    ev = np.linspace(-2.0, 2.5, 6)
    f = rng.random((ex.size - 1, ev.size - 1))
    f[1, 2] = 0.0
    return ex, ev, f


def test_sliced_axis_directions_equal_marginal_w2(rng):
    ex, ev, f = _small_grid(rng)
    x, v = rng.normal(size=300), rng.normal(size=300)
    rx, rv = M.marginals(ex, ev, f)
    _, per, _ = M.sliced_w2(x, v, ex, ev, f, directions=[[1, 0], [0, 1], [-1, 0]],
                            per_direction=True)
    wx = M.w2_1d_grid(x, ex, rx, squared=True)
    wv = M.w2_1d_grid(v, ev, rv, squared=True)
    assert per == pytest.approx([wx, wv, M.w2_1d_grid(-x, -ex[::-1], rx[::-1], squared=True)],
                                rel=1e-10)


def test_sliced_per_direction_against_pot_fine(rng):
    # Reference per direction θ: POT 1-D W2 between projected particles and the
    # projected s×s sub-cell atoms. Spreading each atom over its sub-rectangle is a
    # coupling whose projected cost is ≤ Σ m (c² hx² + s_θ² hv²)/(12 s²), hence the bound.
    ex, ev, f = _small_grid(rng)
    x, v = rng.normal(0.2, 1.0, 60), rng.normal(0.0, 0.8, 60)
    s = 40
    X, V, W = fine_atoms_2d(ex, ev, f, s)
    dirs = M.random_directions(12, seed=3)
    dirs = np.vstack([dirs, [[np.cos(3e-5), np.sin(3e-5)]]])  # near-axis (uniform) path
    _, per, d = M.sliced_w2(x, v, ex, ev, f, directions=dirs, per_direction=True)
    hx, hv = np.diff(ex).max(), np.diff(ev).max()
    for (c, sn), got in zip(d, per):
        ref = ot.emd2_1d(c * x + sn * v, c * X + sn * V, np.full(x.size, 1 / x.size), W)
        bound = np.sqrt((c * c * hx * hx + sn * sn * hv * hv) / (12 * s * s))
        assert abs(np.sqrt(got) - np.sqrt(ref)) <= bound + 1e-9


def test_sliced_mean_over_directions_and_seed(rng):
    ex, ev, f = _small_grid(rng)
    x, v = rng.normal(size=200), rng.normal(size=200)
    val, per, d = M.sliced_w2(x, v, ex, ev, f, n_projections=16, seed=5, per_direction=True,
                              squared=True)
    assert val == pytest.approx(per.mean(), rel=1e-14)
    assert np.allclose(d, M.random_directions(16, 5))
    assert np.allclose(np.linalg.norm(d, axis=1), 1.0)
    # single thread, other chunking: identical numbers
    val1 = M.sliced_w2(x, v, ex, ev, f, n_projections=16, seed=5, squared=True,
                       workers=1, chunk=3)
    assert val1 == val


def test_sliced_gaussians_closed_form(rng):
    # Per direction θ the projections are N(θ·m, θᵀΣθ), so W2²(θ) is the 1-D closed
    # form; average over the same directions. Error per direction ≤ grid term
    # (in-cell coupling, |θ·Δ| ≤ |Δ| ≤ diag·… → √((hx²+hv²)/3)) + sampling term
    # (10 × the 1-D rate √(log log N/N) × projected sd); Minkowski carries it to SW2.
    m1, S1 = np.array([0.3, -0.2]), np.array([[1.0, 0.3], [0.3, 0.6]])
    m2, sd2 = np.array([-0.1, 0.1]), np.array([0.8, 0.9])
    ex, ev = np.linspace(-8, 8, 161), np.linspace(-8, 8, 161)
    f = gaussian_cells_2d_indep(ex, ev, m2, sd2)
    n = 200_000
    z = rng.multivariate_normal(m1, S1, size=n)
    val, per, d = M.sliced_w2(z[:, 0], z[:, 1], ex, ev, f, n_projections=64, seed=1,
                              per_direction=True)
    S2 = np.diag(sd2**2)
    s1 = np.sqrt(np.einsum("pi,ij,pj->p", d, S1, d))
    s2 = np.sqrt(np.einsum("pi,ij,pj->p", d, S2, d))
    exact = np.sqrt(np.mean((d @ (m1 - m2)) ** 2 + (s1 - s2) ** 2))
    h = ex[1] - ex[0]
    tol = np.sqrt(2 * h * h / 3) + 10 * s1.max() * np.sqrt(np.log(np.log(n)) / n)
    assert abs(val - exact) <= tol


def test_sliced_translation_and_order_invariance(rng):
    ex, ev, f = _small_grid(rng)
    x, v = rng.normal(size=150), rng.normal(size=150)
    base = M.sliced_w2(x, v, ex, ev, f, n_projections=10, squared=True)
    moved = M.sliced_w2(x + 1.5, v - 0.75, ex + 1.5, ev - 0.75, f, n_projections=10,
                        squared=True)
    assert moved == pytest.approx(base, rel=1e-9)
    p = rng.permutation(x.size)
    assert M.sliced_w2(x[p], v[p], ex, ev, f, n_projections=10, squared=True) == base


# ----------------------------------------------------------------------------- EMD
def test_w2_emd_matches_pot_and_records_subsample(rng):
    ex, ev, f = _small_grid(rng)
    x, v = rng.normal(size=300), rng.normal(size=300)
    r = M.w2_emd(x, v, ex, ev, f, subsample=1000)
    assert r.subsample == 300 and "ot.emd2" in r.estimator
    m = M.cell_masses(ex, ev, f)
    cx, cv = 0.5 * (ex[1:] + ex[:-1]), 0.5 * (ev[1:] + ev[:-1])
    i, j = np.nonzero(m > 0)
    cost = ot.dist(np.column_stack([x, v]), np.column_stack([cx[i], cv[j]]))
    ref = ot.emd2(np.full(300, 1 / 300), m[i, j], cost)
    assert r.w2sq == pytest.approx(ref, rel=1e-10)
    assert r.n_atoms == i.size
    r2 = M.w2_emd(x, v, ex, ev, f, subsample=100, seed=4)
    assert r2.subsample == 100
    assert r2.value == M.w2_emd(x, v, ex, ev, f, subsample=100, seed=4).value


def test_w2_emd_block_merging(rng):
    # Moving each cell's mass to its block centroid costs ≤ max block diameter²,
    # so |W2(blocks) − W2(cells)| ≤ block diagonal.
    ex, ev = np.linspace(-3, 3, 17), np.linspace(-3, 3, 17)
    f = gaussian_cells_2d_indep(ex, ev, [0, 0], [1, 1])
    x, v = rng.normal(size=200), rng.normal(size=200)
    full = M.w2_emd(x, v, ex, ev, f, subsample=200)
    merged = M.w2_emd(x, v, ex, ev, f, subsample=200, max_atoms=64)
    assert merged.n_atoms <= 64 and "blocks" in merged.estimator
    diag = np.hypot(4 * (ex[1] - ex[0]), 4 * (ev[1] - ev[0]))  # 256 → 64 atoms: 2×2... ≤4×4
    assert abs(merged.value - full.value) <= diag


# ----------------------------------------------------------------------------- KL
def test_kl_knn_gaussians_closed_form(rng):
    # P = N(0, I₂), q = N(m, Σ): KL from the closed form. The per-point terms have
    # variance ≈ ψ'(1) = π²/6 (log of an Exp(1) variable) + Var(log p/q)(X);
    # allow 5 standard errors.
    n = 20_000
    m = np.array([0.5, -0.3])
    S = np.array([[1.5, 0.4], [0.4, 0.8]])
    pts = rng.normal(size=(n, 2))
    Si = np.linalg.inv(S)
    exact = 0.5 * (np.trace(Si) + m @ Si @ m - 2 + np.log(np.linalg.det(S)))

    def logq(p):
        return np.log(gaussian_pdf_2d(p[:, 0], p[:, 1], m, S))

    logp = -0.5 * np.sum(pts**2, 1) - np.log(2 * np.pi)
    sd = np.sqrt(np.pi**2 / 6 + np.var(logp - logq(pts))) / np.sqrt(n)
    assert abs(M.kl_knn(pts, logq) - exact) <= 5 * sd


def test_kl_knn_against_grid_floor_and_duplicates(rng):
    ex, ev = np.linspace(-5, 5, 41), np.linspace(-5, 5, 41)
    f = gaussian_cells_2d_indep(ex, ev, [0, 0], [1, 1.3])
    n = 20_000
    x, v = M.sample_grid(ex, ev, f, n, rng)
    logq = M.grid_log_density(ex, ev, f)
    pts = np.column_stack([x, v])
    kl = M.kl_knn(pts, logq)
    assert abs(kl) <= 5 * np.sqrt(np.pi**2 / 6) / np.sqrt(n)  # true KL = 0
    dup = np.vstack([pts, pts[:50], pts[:5]])
    assert np.isfinite(M.kl_knn(dup, logq))
    assert M.kl_knn(np.vstack([pts, [[9.0, 0.0]]]), logq) == np.inf  # outside support


def test_grid_log_density_values():
    ex, ev = np.array([0.0, 1.0, 3.0]), np.array([0.0, 2.0])
    f = np.array([[1.0], [0.0]])
    lq = M.grid_log_density(ex, ev, f)
    out = lq(np.array([[0.5, 1.0], [2.0, 1.0], [-1.0, 1.0], [1.0, 2.0]]))
    # masses: cell 0 has all the mass, area 2 → q = 1/2; cell 1 empty; outside −inf
    assert out[0] == pytest.approx(np.log(0.5))
    assert out[1] == -np.inf and out[2] == -np.inf
    assert out[3] == -np.inf  # x = 1 belongs to cell 1 (right-open cells)
    lq1 = M.grid_log_density([0.0, 2.0, 4.0], None, [3.0, 1.0], floor=1e-300)
    assert lq1(np.array([1.0, 3.0, 4.0, 5.0])) == pytest.approx(
        [np.log(3 / 8), np.log(1 / 8), np.log(1 / 8), np.log(1e-300)])


def test_kl_binned_bias(rng):
    # i.i.d. sample of q with K cells: 2N·KL → χ²_{K−1}: mean (K−1)/(2N), sd √(2(K−1))/(2N).
    K, n, reps = 64, 20_000, 40
    edges = np.linspace(0, 1, K + 1)
    dens = 1 + 0.5 * np.sin(2 * np.pi * np.arange(K) / K)
    vals = np.array([M.kl_binned(M.sample_grid(edges, None, dens, n, rng), None, edges, None,
                                 dens) for _ in range(reps)])
    sd = np.sqrt(2 * (K - 1)) / (2 * n)
    assert abs(vals.mean() - (K - 1) / (2 * n)) <= 5 * sd / np.sqrt(reps)


def test_binned_identical_masses_zero_and_outside():
    ex, ev = np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 3.0])
    counts = np.array([[1, 3], [2, 4]])
    cx, cv = np.array([0.5, 1.5]), np.array([0.5, 2.0])
    i, j = np.nonzero(counts)
    x = np.repeat(cx[i], counts[i, j])
    v = np.repeat(cv[j], counts[i, j])
    f = counts / np.outer(np.diff(ex), np.diff(ev))
    assert M.tv_binned(x, v, ex, ev, f) == pytest.approx(0.0, abs=1e-15)
    assert M.kl_binned(x, v, ex, ev, f) == pytest.approx(0.0, abs=1e-15)
    # one particle moved outside: TV = its mass, KL = inf
    x2 = x.copy()
    x2[0] = 5.0
    assert M.tv_binned(x2, v, ex, ev, f) == pytest.approx(1 / x.size)
    assert M.kl_binned(x2, v, ex, ev, f) == np.inf


def test_tv_floor_order(rng):
    # E|p_c − q_c| ≈ √(2 q_c(1−q_c)/(πN)) (normal approximation); TV = ½ Σ.
    # With K = 200 cells the sum's relative spread is ≈ √(1−2/π)/√K ≈ 4 %; allow 20 %.
    K, n = 200, 100_000
    edges = np.linspace(-4, 4, K + 1)
    dens = gaussian_cells_1d(edges, 0, 1.2)
    q = M.cell_masses(edges, None, dens)
    expect = 0.5 * np.sum(np.sqrt(2 * q * (1 - q) / (np.pi * n)))
    tv = M.tv_binned(M.sample_grid(edges, None, dens, n, rng), None, edges, None, dens)
    assert tv == pytest.approx(expect, rel=0.2)


# ----------------------------------------------------------------------------- moments
def test_moments_grid_exact(rng):
    # Midpoint atoms of s sub-cells have the same mean and covariance except the
    # in-cell variance: s equispaced atoms have h²(1 − 1/s²)/12 instead of h²/12,
    # so add back Σ m h²/(12 s²).
    ex, ev, f = _small_grid(rng)
    mean, cov = M.moments_grid(ex, ev, f)
    s = 7
    X, V, W = fine_atoms_2d(ex, ev, f, s)
    mx, mv = W @ X, W @ V
    m = M.cell_masses(ex, ev, f)
    corr_x = m.sum(1) @ (np.diff(ex) ** 2) / (12 * s**2)
    corr_v = m.sum(0) @ (np.diff(ev) ** 2) / (12 * s**2)
    assert mean == pytest.approx([mx, mv], abs=1e-13)
    assert cov[0, 0] == pytest.approx(W @ (X - mx) ** 2 + corr_x, rel=1e-12)
    assert cov[1, 1] == pytest.approx(W @ (V - mv) ** 2 + corr_v, rel=1e-12)
    assert cov[0, 1] == pytest.approx(W @ ((X - mx) * (V - mv)), abs=1e-13)
    m1, c1 = M.moments_grid([0.0, 2.0], None, [1.0])
    assert m1 == pytest.approx([1.0]) and c1.ravel() == pytest.approx([4 / 12])


def test_moments_particles_and_sampler(rng):
    x, v = rng.normal(size=1000), rng.normal(size=1000)
    mean, cov = M.moments_particles(x, v)
    assert np.allclose(mean, [x.mean(), v.mean()])
    assert np.allclose(cov, np.cov(np.vstack([x, v]), bias=True))
    # sampler reproduces the exact grid moments within 5 standard errors
    ex, ev, f = _small_grid(rng)
    n = 200_000
    xs, vs = M.sample_grid(ex, ev, f, n, rng)
    gm, gc = M.moments_grid(ex, ev, f)
    sm, _ = M.moments_particles(xs, vs)
    assert np.all(np.abs(sm - gm) <= 5 * np.sqrt(np.diag(gc) / n))
    assert np.all((xs >= ex[0]) & (xs <= ex[-1]) & (vs >= ev[0]) & (vs <= ev[-1]))
    # no sample falls in the empty cell (1, 2)
    assert not np.any((xs > ex[1]) & (xs < ex[2]) & (vs > ev[2]) & (vs < ev[3]))


# ----------------------------------------------------------------------------- snapshot
def test_compare_snapshot_kinetic_keys_and_floors(rng):
    # A broad Gaussian on 16 × 16 cells: every cell has N q_c ≫ 1, where the χ²
    # law behind the binned-KL floor holds.
    ex, ev = np.linspace(-5, 5, 17), np.linspace(-5, 5, 17)
    f = gaussian_cells_2d_indep(ex, ev, [0, 0], [3, 3])
    n = 20_000
    x, v = M.sample_grid(ex, ev, f, n, rng)
    r = M.compare_snapshot(x, v, ex, ev, f, n_projections=20, emd_subsample=300)
    for key in ["w2_x", "w2_v", "sw2", "w2_emd", "kl", "kl_binned", "tv", "mean_x",
                "mean_v", "var_x", "var_v", "cov_xv"]:
        assert key in r and key + "_floor" in r
    assert r["w2_emd_subsample"] == 300
    for key in ["mean_x", "mean_v", "var_x", "var_v", "cov_xv"]:
        assert key + "_grid" in r
    # The full /compare layout of the registry, and nothing else but n and the estimator.
    assert list(r) != [] and set(r) == set(registry.stored_keys(kinetic=True)) | {
        "n", "w2_emd_estimator"}
    # floors of the right order: binned KL ≈ (K−1)/(2N) (5 sd), k-NN KL ≈ 0 (5 sd)
    K = np.count_nonzero(M.cell_masses(ex, ev, f))
    assert abs(r["kl_binned_floor"] - (K - 1) / (2 * n)) <= 5 * np.sqrt(2 * (K - 1)) / (2 * n)
    assert abs(r["kl_floor"]) <= 5 * 1.29 / np.sqrt(n)
    # W2² floor of a 1-D marginal: Bobkov–Ledoux E W2² ≤ 2 J2/(N+1),
    # J2 = ∫ F(1−F)/ρ dx (finite here: ρ bounded below on the grid). Markov at 20×
    # for the upper side; for the near-uniform marginal E W2² ≈ J2/N, so a value
    # 20× below would be as suspicious.
    rx, _ = M.marginals(ex, ev, f)
    rx = rx / np.sum(rx * np.diff(ex))
    yy = np.linspace(ex[0], ex[-1], 20001)[1:-1]
    idx = np.searchsorted(ex, yy) - 1
    cdf = np.concatenate([[0], np.cumsum(rx * np.diff(ex))])[idx] + rx[idx] * (yy - ex[idx])
    g = cdf * (1 - cdf) / rx[idx]
    j2 = np.sum(0.5 * (g[1:] + g[:-1]) * np.diff(yy))
    assert j2 / (20 * n) < r["w2_x_floor"] ** 2 < 20 * 2 * j2 / (n + 1)


def test_compare_snapshot_overdamped(rng):
    edges = np.linspace(-4, 4, 65)
    dens = gaussian_cells_1d(edges, 0.2, 0.9)
    x = M.sample_grid(edges, None, dens, 5000, rng)
    r = M.compare_snapshot(x, None, edges, None, dens)
    assert {"w2_x", "kl", "kl_binned", "tv", "mean_x", "var_x"} <= set(r)
    assert not {"w2_v", "sw2", "w2_emd", "mean_v", "var_v", "cov_xv"} & set(r)
    assert "w2_x_floor" in r and "kl_floor" in r
    r2 = M.compare_snapshot(x, None, edges, None, dens, metrics=("tv",), noise_floor=False)
    assert set(r2) == {"n", "tv"}
    with pytest.raises(ValueError):
        M.compare_snapshot(x, None, edges, None, dens, metrics=("nope",))


def test_registry_and_validation():
    assert set(M.METRICS) >= {"w2_x", "w2_v", "sw2", "w2_emd", "kl_knn", "kl_binned", "tv",
                              "mean", "cov"}
    with pytest.raises(ValueError):
        M.w2_1d_grid([0.0], [0.0, 1.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        M.w2_1d_grid([0.0], [1.0, 0.0], [1.0])
    with pytest.raises(ValueError):
        M.w2_1d_grid([0.0], [0.0, 1.0], [0.0])


def test_validation_imports_no_siblings():
    import subprocess
    import sys
    code = ("import sys, validation.metrics; "
            "bad = [m for m in ('vfp', 'grids', 'particles') if m in sys.modules]; "
            "sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.slow
def test_w2_1d_grid_large_n_time(rng):
    import time
    x = rng.normal(size=10**7)
    edges = np.linspace(-8, 8, 513)
    dens = gaussian_cells_1d(edges, 0, 1)
    M.w2_1d_grid(x[:1000], edges, dens)
    t = time.perf_counter()
    w = M.w2_1d_grid(x, edges, dens)
    assert time.perf_counter() - t < 3.0
    assert w < 0.01


# ----------------------------------------------------------------------------- registry
def test_registry_stored_keys_layout():
    # The HDF5 layout (contract): per metric its values, floors, grid moments, bookkeeping.
    kinetic = ["w2_x", "w2_x_floor", "w2_v", "w2_v_floor", "sw2", "sw2_floor", "w2_emd",
               "w2_emd_floor", "w2_emd_subsample", "kl", "kl_floor", "kl_outside",
               "kl_binned", "kl_binned_floor", "tv", "tv_floor",
               "mean_x", "mean_x_grid", "mean_x_floor", "mean_v", "mean_v_grid", "mean_v_floor",
               "var_x", "var_x_grid", "var_x_floor", "var_v", "var_v_grid", "var_v_floor",
               "cov_xv", "cov_xv_grid", "cov_xv_floor"]
    assert registry.stored_keys(kinetic=True) == kinetic
    overdamped = [k for k in kinetic if not (k.startswith(("w2_v", "sw2", "w2_emd", "cov_xv"))
                                            or "_v" in k)]
    assert registry.stored_keys(kinetic=False) == overdamped
    assert registry.METRIC_NAMES == ("w2_x", "w2_v", "sw2", "w2_emd", "kl_knn", "kl_binned",
                                     "tv", "mean", "cov")
    assert registry.distance_keys() == ("w2_x", "w2_v", "sw2", "w2_emd", "kl", "kl_binned",
                                        "tv")
    assert registry.w2_keys(kinetic=False) == ("w2_x",)
    assert registry.moment_keys(kinetic=False) == ("mean_x", "var_x")
    assert registry.fit_keys(("w2_x", "kl_knn", "cov")) == (
        "w2_x_sq", "kl", "var_x_err2", "var_v_err2", "cov_xv_err2")
    assert set(registry.BOOKKEEPING_KEYS) == {"t", "n", "kl_outside", "w2_emd_subsample"}
    assert registry.key_info("var_x_floor").role == "floor"
    assert registry.key_info("mean_v_grid").value_key == "mean_v"
    with pytest.raises(ValueError, match="unknown metric 'w3'"):
        registry.stored_keys(["w3"])
    with pytest.raises(ValueError):
        registry.key_info("kl_grid")           # a distance has no grid value
    for name, m in registry.REGISTRY.items():
        assert callable(M.METRICS[name]) and M.METRICS[name].__name__ == m.function


# The /compare layout is a file-format contract (README "The HDF5 file"): these lists are
# what files written since the first release hold, in this order.
_LAYOUT_KINETIC = [
    "w2_x", "w2_x_floor", "w2_v", "w2_v_floor", "sw2", "sw2_floor",
    "w2_emd", "w2_emd_floor", "w2_emd_subsample", "kl", "kl_floor", "kl_outside",
    "kl_binned", "kl_binned_floor", "tv", "tv_floor",
    "mean_x", "mean_x_grid", "mean_x_floor", "mean_v", "mean_v_grid", "mean_v_floor",
    "var_x", "var_x_grid", "var_x_floor", "var_v", "var_v_grid", "var_v_floor",
    "cov_xv", "cov_xv_grid", "cov_xv_floor"]
_LAYOUT_OVERDAMPED = [
    "w2_x", "w2_x_floor", "kl", "kl_floor", "kl_outside", "kl_binned", "kl_binned_floor",
    "tv", "tv_floor", "mean_x", "mean_x_grid", "mean_x_floor", "var_x", "var_x_grid",
    "var_x_floor"]


def test_registry_keeps_the_file_layout():
    assert registry.stored_keys(registry.METRIC_NAMES, True) == _LAYOUT_KINETIC
    assert registry.stored_keys(registry.METRIC_NAMES, False) == _LAYOUT_OVERDAMPED
    # a subset keeps the order in which the metrics are asked for
    assert registry.stored_keys(("tv", "w2_x"), False) == ["tv", "tv_floor", "w2_x",
                                                             "w2_x_floor"]
    from vfp.pipeline import compare_keys

    assert compare_keys(("cov", "kl_knn"), True) == registry.stored_keys(("cov", "kl_knn"), True)


@pytest.mark.parametrize("kinetic", [True, False])
def test_compare_snapshot_writes_exactly_the_registry_keys(rng, kinetic):
    ex = np.linspace(-4, 4, 13)
    ev = np.linspace(-4, 4, 11) if kinetic else None
    f = gaussian_cells_2d_indep(ex, ev, [0, 0], [1, 1]) if kinetic else \
        gaussian_cells_1d(ex, 0, 1)
    pts = M.sample_grid(ex, ev, f, 400, rng)
    x, v = pts if kinetic else (pts, None)
    for metrics in [("tv", "w2_x"), ("cov", "kl_knn"), registry.METRIC_NAMES]:
        r = M.compare_snapshot(x, v, ex, ev, f, metrics=metrics, n_projections=4,
                               emd_subsample=40)
        extra = {"n"} | ({"w2_emd_estimator"} if kinetic and "w2_emd" in metrics else set())
        assert set(r) == set(registry.stored_keys(metrics, kinetic)) | extra


# ----------------------------------------------------------------------------- floors
def test_iid_particles_sit_at_the_floor(rng):
    # Particles that *are* an i.i.d. sample of the grid density: value and floor are two
    # independent draws of the same statistic, so their mean difference over R repetitions
    # is 0 within 5 standard errors (from the observed spread); the binned-KL floor has
    # its known size (K − 1)/(2N) within 5 standard errors of its χ² law.
    edges = np.linspace(-5, 5, 41)
    dens = gaussian_cells_1d(edges, 0.3, 1.2)
    n, reps = 4000, 30
    keys = ("w2_x", "kl", "kl_binned", "tv")
    diff = {k: [] for k in keys}
    binned_floor = []
    for r in range(reps):
        x = M.sample_grid(edges, None, dens, n, rng)
        out = M.compare_snapshot(x, None, edges, None, dens, seed=r,
                                 metrics=("w2_x", "kl_knn", "kl_binned", "tv"))
        for k in keys:
            diff[k].append(out[k] - out[k + "_floor"])
        binned_floor.append(out["kl_binned_floor"])
    for k in keys:
        d = np.asarray(diff[k])
        assert np.std(d) > 0, k                    # independent samples, not the same one
        assert abs(d.mean()) <= 5 * d.std(ddof=1) / np.sqrt(reps), k
    m = M.cell_masses(edges, None, dens)
    big = m * n > 5                                # cells where the χ² law holds
    kk = int(big.sum())
    expected = (kk - 1) / (2 * n)
    sd = np.sqrt(2 * (kk - 1)) / (2 * n)
    tail = 0.5 * np.sum(~big) / n                  # a sparse cell adds at most ~1/(2N)
    assert abs(np.mean(binned_floor) - expected) <= 5 * sd / np.sqrt(reps) + tail


def _j2(edges, dens):
    """J2 = ∫ F(1 − F)/ρ for a piecewise-constant density (Bobkov–Ledoux: E W2² ≤ 2J2/(N+1))."""
    m = M.cell_masses(edges, None, dens)
    rho = m / np.diff(edges)
    keep = rho > 1e-300
    yy = np.linspace(edges[0], edges[-1], 40001)[1:-1]
    idx = np.searchsorted(edges, yy) - 1
    cdf = np.concatenate([[0], np.cumsum(m)])[idx] + rho[idx] * (yy - edges[idx])
    g = np.where(keep[idx], cdf * (1 - cdf) / np.where(keep[idx], rho[idx], 1.0), 0.0)
    return float(np.sum(0.5 * (g[1:] + g[:-1]) * np.diff(yy)))


def test_shifted_cloud_excess_is_the_shift(rng):
    # Particles: an i.i.d. sample of the grid density shifted by δ = 20 cells. W2 of a
    # translate: W2²(T_δ μ_N, μ) = W2²(μ_N, μ) + 2δ(x̄_N − m) + δ² exactly (1-D), so the
    # excess W2² − floor² is δ² up to 2δ(x̄_N − m) (sd 2δσ/√N) and two floor-size terms
    # (each ≤ 20 · 2J2/(N+1) by Markov on Bobkov–Ledoux). KL: the shift is a whole number
    # of cells, so KL(T_δ q ‖ q) is a finite sum over cells; the k-NN excess matches it
    # within 5 sd (per point sd² = ψ'(1) + Var_p log(p/q), two independent estimates), the
    # binned excess within 5 sd plus the difference of the two (K − 1)/(2N) biases.
    edges = np.linspace(-8, 8, 321)
    h = edges[1] - edges[0]
    dens = gaussian_cells_1d(edges, 0.0, 1.0)
    n, shift = 20000, 20
    delta = shift * h
    x0 = M.sample_grid(edges, None, dens, n, rng)
    x = x0 + delta
    metrics = ("w2_x", "kl_knn", "kl_binned", "mean")
    r = M.compare_snapshot(x, None, edges, None, dens, metrics=metrics, seed=11)
    r0 = M.compare_snapshot(x0, None, edges, None, dens, metrics=("w2_x",), seed=11,
                            noise_floor=False)
    m_grid = r["mean_x_grid"]
    # exact identity of the estimator (round-off only)
    assert r["w2_x"] ** 2 == pytest.approx(
        r0["w2_x"] ** 2 + 2 * delta * (x0.mean() - m_grid) + delta ** 2, rel=1e-9)
    sigma = 1.0
    j2 = _j2(edges, dens)
    tol_w2 = 5 * 2 * delta * sigma / np.sqrt(n) + 2 * 20 * 2 * j2 / (n + 1)
    assert abs(r["w2_x"] ** 2 - r["w2_x_floor"] ** 2 - delta ** 2) <= tol_w2
    # KL of the shifted step density against the grid's, cell by cell
    q = M.cell_masses(edges, None, dens)
    p = np.zeros_like(q)
    p[shift:] = q[:-shift]
    s = p > 0
    logr = np.log(p[s] / q[s])
    kl_exact = float(np.sum(p[s] * logr))
    var_lr = float(np.sum(p[s] * logr ** 2) - kl_exact ** 2)
    assert kl_exact > 0.4                          # the signal is far above the tolerances
    sd_knn = np.sqrt(2 * (np.pi ** 2 / 6 + var_lr) / n)
    assert abs(r["kl"] - r["kl_floor"] - kl_exact) <= 5 * sd_knn
    occupied = lambda w: int(np.count_nonzero(w * n > 1))  # noqa: E731
    bias_gap = abs(occupied(p) - occupied(q)) / (2 * n) + 20 / (2 * n)
    sd_binned = np.sqrt(var_lr / n + 2 * 2 * occupied(q) / (2 * n) ** 2)
    assert abs(r["kl_binned"] - r["kl_binned_floor"] - kl_exact) <= 5 * sd_binned + bias_gap
    # moments: the difference is the shift, its floor is sampling noise
    assert abs(r["mean_x"] - r["mean_x_grid"] - delta) <= 5 * sigma / np.sqrt(n)
    assert r["mean_x_floor"] <= 5 * sigma / np.sqrt(n)


def test_sliced_w2_of_a_translate(rng):
    # Shift the particles by (δ, 0): per direction θ = (c, s) the projections move by δc,
    # so SW2² = SW2²(unshifted) + mean_θ[δ²c² + 2δc(c(x̄ − m_x) + s(v̄ − m_v))] exactly,
    # with the same seeded directions. And the excess over the floor is ≈ δ² mean c².
    ex, ev = np.linspace(-6, 6, 49), np.linspace(-5, 5, 41)
    f = gaussian_cells_2d_indep(ex, ev, [0.2, -0.1], [1.0, 0.8])
    n, delta, p_dirs, seed = 20000, 0.75, 24, 9
    x0, v0 = M.sample_grid(ex, ev, f, n, rng)
    kw = dict(metrics=("sw2", "mean"), n_projections=p_dirs, seed=seed)
    r = M.compare_snapshot(x0 + delta, v0, ex, ev, f, **kw)
    r0 = M.compare_snapshot(x0, v0, ex, ev, f, noise_floor=False, **kw)
    c, s = M.random_directions(p_dirs, seed, 2).T
    dm = c * (x0.mean() - r0["mean_x_grid"]) + s * (v0.mean() - r0["mean_v_grid"])
    shift_term = np.mean(delta ** 2 * c ** 2 + 2 * delta * c * dm)
    assert r["sw2"] ** 2 == pytest.approx(r0["sw2"] ** 2 + shift_term, rel=1e-9)
    # statistical: the linear term has sd ≤ 2δ·max σ/√N; the floor-size terms are bounded
    # by the unshifted value and the floor themselves (both O(1/N)), taken 20×.
    tol = 5 * 2 * delta * 1.0 / np.sqrt(n) + 20 * (r0["sw2"] ** 2 + r["sw2_floor"] ** 2)
    assert abs(r["sw2"] ** 2 - r["sw2_floor"] ** 2 - delta ** 2 * np.mean(c ** 2)) <= tol


@pytest.mark.parametrize("direction", [(0.6, 0.8), (-0.28, 0.96), (1.0, 1e-7), (0.0, -1.0)])
def test_project_direction_kernel_matches_numpy_twin(rng, direction):
    # Trapezoids, near-axis boxes (short side below TRAPEZOID_MIN_RATIO) and exact axes.
    from vfp.validation import _w2kernels as K

    c, s = direction
    x, v = rng.normal(size=500), rng.normal(size=500)
    k = 300
    cx, cv = rng.normal(size=k), rng.normal(size=k)
    hx, hv = rng.uniform(0.05, 0.3, k), rng.uniform(0.05, 0.3, k)
    m = rng.random(k)
    z, pos, jump, slope = np.empty(500), np.empty(4 * k), np.empty(4 * k), np.empty(4 * k)
    K.project_direction(x, v, c, s, cx, cv, hx, hv, m, z, pos, jump, slope)
    ref = K.project_direction_reference(x, v, c, s, cx, cv, hx, hv, m)
    for got, want in zip((z, pos, jump, slope), ref):
        np.testing.assert_array_equal(got, want)
