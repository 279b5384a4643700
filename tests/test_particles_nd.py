"""Particles in R^d, d = 2, 3 (issue 12): exact laws, twins, walls, mesh, threads, input.

Statistical tolerances (stated next to each check) are Z5 = 5 standard errors derived
from N, plus the exactly computed time-discretisation bias of the scheme: with a linear
force (V = ½xᵀHx, W = κ|r|²/2 by the exact mean form) every scheme maps the moments
linearly, so the scheme's own mean and covariance after n steps are computed exactly by
matrix recursions (no bound needed) and |scheme − exact law| is added to the tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from vfp.particles import (GaussianKernel, PolynomialND, Quadratic, RadialKernel, TabulatedND,
                           simulate)
from vfp.particles import reference as ref
from vfp.particles.forces_nd import compiled_gradient
from vfp.particles.interaction_nd import (MeshPlan2D, interaction_force_nd, mesh_force_2d,
                                          radial_phi)

Z5 = 5.0
H2 = np.array([[1.2, 0.3], [0.3, 0.8]])         # rotated, anisotropic
H3 = np.array([[1.0, 0.2, -0.1], [0.2, 0.7, 0.15], [-0.1, 0.15, 1.3]])
B2 = np.array([0.3, -0.2])
# The default tests run every compiled loop with this one force form (AffineForceND), so
# the suite compiles each parallel driver once; the other forms are checked through the
# serial compiled_gradient here and in the loops under --runslow.
QUAD = PolynomialND.quadratic(H2, B2)
DOUBLE_WELL = PolynomialND([[4, 0], [2, 0], [1, 1], [0, 2]], [0.25, -0.5, 0.3, 0.5])


def quad_grad(x):
    return x @ H2 + B2


@pytest.fixture
def rng():
    return np.random.default_rng(20261129)


# ----------------------------------------------------------------------------------------
# exact laws (ORACLES "d dimensions: linear-Gaussian laws") and the schemes' own moments
# ----------------------------------------------------------------------------------------

def _van_loan(B, Q, C0, t):
    """C(t) for C' = BC + CBᵀ + Q: e^{Bt} C0 e^{Bᵀt} + ∫₀ᵗ e^{Bs} Q e^{Bᵀs} ds."""
    n = B.shape[0]
    M = np.block([[-B, Q], [np.zeros((n, n)), B.T]])
    E = linalg.expm(M * t)
    Phi = E[n:, n:].T
    return Phi @ C0 @ Phi.T + Phi @ E[:n, n:]


def _kin_drift(A, gamma):
    d = A.shape[0]
    return np.block([[np.zeros((d, d)), np.eye(d)], [-A, -gamma * np.eye(d)]])


def exact_overdamped(t, m0, C0, H, kappa, lam):
    d = H.shape[0]
    m = linalg.expm(-H * t) @ m0
    C = _van_loan(-(H + kappa * np.eye(d)), 2 * lam * np.eye(d), C0, t)
    return m, C


def exact_kinetic(t, m0, C0, H, kappa, gamma, lam):
    d = H.shape[0]
    m = linalg.expm(_kin_drift(H, gamma) * t) @ m0
    Q = np.zeros((2 * d, 2 * d))
    Q[d:, d:] = 2 * gamma * lam * np.eye(d)
    C = _van_loan(_kin_drift(H + kappa * np.eye(d), gamma), Q, C0, t)
    return m, C


def _step_matrices(scheme, A, h, gamma, lam, kinetic):
    """(M, K): one step maps a particle's state z to M z + K ξ, ξ ~ N(0, I_d), for the
    linear force A x (A = H for the mean, H + κI for the deviations from it)."""
    d = A.shape[0]
    I, O = np.eye(d), np.zeros((d, d))
    if not kinetic:
        return I - h * A, np.sqrt(2 * lam * h) * I
    if scheme == "euler":
        M = np.block([[I, h * I], [-h * A, (1 - gamma * h) * I]])
        return M, np.vstack([O, np.sqrt(2 * gamma * lam * h) * I])
    Bm = np.block([[I, O], [-0.5 * h * A, I]])
    Am = np.block([[I, 0.5 * h * I], [O, I]])
    c = np.exp(-gamma * h)
    Om = np.block([[I, O], [O, c * I]])
    K = Bm @ Am @ np.vstack([O, np.sqrt(lam * (1 - c * c)) * I])
    return Bm @ Am @ Om @ Am @ Bm, K


def scheme_moments(n, scheme, m0, C0, H, kappa, h, gamma, lam, kinetic):
    """The scheme's own moments after n steps from N i.i.d. samples of N(m0, C0):
    E[mean] = M_H^n m0; Cov(mean) = S_a/N with S_a the H-recursion from C0; E[sample
    covariance (1/N)] = (N − 1)/N · S_c with S_c the (H + κI)-recursion from C0."""
    d = H.shape[0]
    Ma, Ka = _step_matrices(scheme, H, h, gamma, lam, kinetic)
    Mc, Kc = _step_matrices(scheme, H + kappa * np.eye(d), h, gamma, lam, kinetic)
    m, Sa, Sc = m0.copy(), C0.copy(), C0.copy()
    for _ in range(n):
        m = Ma @ m
        Sa = Ma @ Sa @ Ma.T + Ka @ Ka.T
        Sc = Mc @ Sc @ Mc.T + Kc @ Kc.T
    return m, Sa, Sc


def _check_moments(got, times, h, N, scheme, m0, C0, H, kappa, gamma, lam, kinetic):
    for t in times:
        Z = got[t]                                  # (N, d) or (N, 2d)
        m_emp = Z.mean(axis=0)
        S_emp = np.cov(Z.T, bias=True)
        if kinetic:
            m_ex, S_ex = exact_kinetic(t, m0, C0, H, kappa, gamma, lam)
        else:
            m_ex, S_ex = exact_overdamped(t, m0, C0, H, kappa, lam)
        m_sc, Sa, Sc = scheme_moments(int(round(t / h)), scheme, m0, C0, H, kappa, h, gamma,
                                      lam, kinetic)
        E_S = (N - 1) / N * Sc
        # mean: sd sqrt(S_a,ii / N); covariance entry: sd sqrt((C_ii C_jj + C_ij²)/N)
        tol_m = Z5 * np.sqrt(np.diag(Sa) / N) + np.abs(m_sc - m_ex)
        dg = np.diag(Sc)
        tol_S = Z5 * np.sqrt((np.outer(dg, dg) + Sc ** 2) / N) + np.abs(E_S - S_ex)
        assert np.all(np.abs(m_emp - m_ex) <= tol_m), (t, m_emp, m_ex, tol_m)
        assert np.all(np.abs(S_emp - S_ex) <= tol_S), (t, S_emp, S_ex, tol_S)
        # the test can fail: the law at t differs from the initial one by far more
        assert np.max(np.abs(S_ex - C0)) > 5 * np.max(tol_S)


def _collector(got, kinetic):
    def on_snapshot(k, t, x, v):
        got[t] = np.hstack([x, v]) if kinetic else np.array(x)
    return on_snapshot


def test_exact_law_overdamped_2d_rotated(rng):
    """Overdamped Euler, d = 2, H rotated anisotropic, κ = 0.7, N = 2·10⁴, free space."""
    N, h, kappa, lam = 20000, 0.01, 0.7, 0.4
    m0 = np.array([1.0, -0.6])
    C0 = np.array([[0.3, 0.1], [0.1, 0.2]])
    x0 = rng.multivariate_normal(m0, C0, N)
    times = [0.5, 2.0]
    got = {}
    sol = simulate(x0, None, grad_potential=PolynomialND.quadratic(H2),
                   interaction=Quadratic(kappa), temperature=lam, dt=h, snapshots=times,
                   domain=None, seed=5, on_snapshot=_collector(got, False))
    assert sol.success and sol.interaction_method == "exact" and sol.x.shape == (N, 2)
    assert sol.reflections.shape == (2, 2) and sol.n_reflected == 0
    _check_moments(got, times, h, N, "euler", m0, C0, H2, kappa, 1.0, lam, False)


@pytest.mark.parametrize("scheme", ["euler", "baoab"])
def test_exact_law_kinetic_2d_rotated(rng, scheme):
    """Kinetic (x, v) ∈ R⁴, H rotated, κ = 0.5, γ = 1.3, N = 2·10⁴, in a box too wide to
    be reached (> 10 sd), at t = 0.5, 2."""
    N, h, kappa, gamma, lam = 20000, 0.01, 0.5, 1.3, 0.6
    m0 = np.array([0.8, -0.4, 0.3, 0.0])
    C0 = np.diag([0.09, 0.09, 0.16, 0.16])
    C0[0, 1] = C0[1, 0] = 0.03
    Z0 = rng.multivariate_normal(m0, C0, N)
    times = [0.5, 2.0]
    got = {}
    sol = simulate(Z0[:, :2], Z0[:, 2:], grad_potential=PolynomialND.quadratic(H2),
                   interaction=Quadratic(kappa), gamma=gamma, temperature=lam, dt=h,
                   snapshots=times, domain=(-12.0, 12.0), scheme=scheme, seed=11,
                   on_snapshot=_collector(got, True))
    assert sol.success and sol.n_reflected == 0 and sol.v.shape == (N, 2)
    _check_moments(got, times, h, N, scheme, m0, C0, H2, kappa, gamma, lam, True)


@pytest.mark.slow
def test_exact_law_overdamped_3d(rng):
    """d = 3, H with all off-diagonal couplings, κ = 0.4, Euler, N = 2·10⁴."""
    N, h, kappa, lam = 20000, 0.01, 0.4, 0.5
    m0 = np.array([0.5, -1.0, 0.8])
    C0 = 0.1 * np.eye(3)
    x0 = rng.multivariate_normal(m0, C0, N)
    times = [1.0]
    got = {}
    simulate(x0, None, grad_potential=PolynomialND.quadratic(H3), interaction=Quadratic(kappa),
             temperature=lam, dt=h, snapshots=times, domain=None, seed=9,
             on_snapshot=_collector(got, False))
    _check_moments(got, times, h, N, "euler", m0, C0, H3, kappa, 1.0, lam, False)


# ----------------------------------------------------------------------------------------
# compiled kernels against their NumPy twins
# ----------------------------------------------------------------------------------------

def test_polynomial_nd_gradient_exact():
    """∇V of V = x1⁴/4 − x1²/2 + 0.3 x1 x2³ + 0.5 x2² (d = 2) against the hand derivative,
    and the quadratic constructor's packed A = H."""
    P = PolynomialND([[4, 0], [2, 0], [1, 3], [0, 2]], [0.25, -0.5, 0.3, 0.5])
    pts = np.random.default_rng(0).normal(size=(50, 2))
    x1, x2 = pts.T
    want = np.stack([x1 ** 3 - x1 + 0.3 * x2 ** 3, 0.9 * x1 * x2 ** 2 + x2], axis=1)
    np.testing.assert_allclose(P(pts), want, rtol=1e-13, atol=1e-13)
    assert type(P.packed()).__name__ == "PolyForceND"
    np.testing.assert_allclose(compiled_gradient(P, pts), want, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(QUAD.packed().A, H2)
    np.testing.assert_array_equal(QUAD.packed().b, B2)
    np.testing.assert_allclose(QUAD(pts), quad_grad(pts), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(compiled_gradient(QUAD, pts), quad_grad(pts), rtol=1e-14,
                               atol=1e-14)


def _twin_run(scheme, kinetic, spec_force, force_fn, inter, phi, seed=3):
    rng = np.random.default_rng(1)
    N, d, h, gamma, lam = 1500, 2, 0.05, 0.8, 0.7       # two blocks of 1024, odd N
    lo, hi = np.array([-1.2, -0.9]), np.array([1.1, 1.0])
    x0 = rng.uniform(lo, hi, (N, d))
    v0 = rng.normal(0, 1.5, (N, d)) if kinetic else None
    steps = 4
    sol = simulate(x0, v0, grad_potential=spec_force, interaction=inter, gamma=gamma,
                   temperature=lam, dt=h, snapshots=[steps * h], domain=(lo, hi),
                   scheme=scheme, interaction_method="pairwise", seed=seed)
    inter_fn = None if phi is None else (lambda x: ref.pairwise_force_nd(x, phi))
    x, v = x0.copy(), None if v0 is None else v0.copy()
    counts = np.zeros((d, 2), np.int64)
    if scheme == "baoab":
        F = force_fn(x) + (inter_fn(x) if inter_fn else 0.0)
    for s in range(steps):
        kw = dict(force=force_fn, interaction_force=inter_fn, h=h, gamma=gamma,
                  temperature=lam, seed=seed, step=s, lo=lo, hi=hi)
        if scheme == "baoab":
            x, v, F, c = ref.baoab_step_nd(x, v, F, **kw)
        else:
            x, v, c = ref.euler_step_nd(x, v, **kw)
        counts += c
    return sol, x, v, counts


@pytest.mark.parametrize("scheme,kinetic,interacting", [
    ("euler", False, False), pytest.param("euler", True, True, marks=pytest.mark.slow),
    pytest.param("baoab", True, False, marks=pytest.mark.slow), ("baoab", True, True)])
def test_simulate_nd_matches_numpy_twin(scheme, kinetic, interacting):
    """4 steps in a reflecting box (both walls of both axes hit) against reference.py:
    the same noise stream (normals_nd), per-axis mirrors and counts; positions agree to
    round-off (pairwise sums in another order: 1e-12)."""
    inter = GaussianKernel(0.6, 0.5) if interacting else None
    phi = (lambda r: radial_phi(inter, r)) if interacting else None
    sol, x, v, counts = _twin_run(scheme, kinetic, QUAD, quad_grad, inter, phi)
    np.testing.assert_allclose(sol.x, x, rtol=0, atol=1e-12)
    if kinetic:
        np.testing.assert_allclose(sol.v, v, rtol=0, atol=1e-11)
    np.testing.assert_array_equal(sol.reflections, counts)
    assert np.all(counts > 0), counts


@pytest.mark.parametrize("kinetic", [False, True])
def test_affine_euler_block_equals_generic_block(rng, kinetic):
    """The one-pass d = 2 Euler block for ∇V = A x + b (force inside the update loop) and
    the generic block (∇V into a workspace, then per axis a noise and an update pass) give
    the same bits on the same particles, mirrors and their counts included: a block of odd
    length at an offset, a box that both walls of both axes hit, an A with a zero entry
    (which the generic block skips)."""
    from vfp.particles import driver_nd as dn
    from vfp.particles.interaction import NoInteraction
    from vfp.particles.rng import seed_key
    lo, hi = np.array([-1.2, -0.9]), np.array([1.1, 1.0])
    n, i0, m = 1500, 200, 1001
    for spec in (QUAD, PolynomialND.quadratic(np.array([[1.5, 0.0], [0.0, 0.4]]), B2)):
        force = spec.packed()
        X = np.ascontiguousarray(rng.uniform(lo, hi, (n, 2)).T)
        V = np.ascontiguousarray(rng.normal(0, 2.5, (n, 2)).T)
        states = []
        for one_pass in (True, False):
            x, v = X.copy(), V.copy()
            counts = np.zeros((2, 2), np.int64)
            G = np.empty((2, 1024))
            z = np.empty(1024)
            for step in range(3):
                args = (0.05, np.uint64(step), seed_key(7), 0.8, 0.7)
                if one_pass:
                    dn._euler_block_affine_2d(x, v, kinetic, G, i0, m, *args, force.A,
                                              force.b, lo, hi, counts)
                else:
                    dn._euler_block(x, v, kinetic, G, z, i0, m, *args, force,
                                    NoInteraction(0.0), lo, hi, counts)
            states.append((x, v, counts))
        (x1, v1, c1), (x2, v2, c2) = states
        assert np.all(c1 > 0), c1
        np.testing.assert_array_equal(c1, c2)
        assert np.array_equal(x1, x2) and np.array_equal(v1, v2)
        assert np.array_equal(x1[:, :i0], X[:, :i0]) and np.array_equal(x1[:, i0 + m:],
                                                                        X[:, i0 + m:])


@pytest.mark.slow
@pytest.mark.parametrize("kinetic", [False, True])
def test_affine_euler_one_pass_equals_generic_block(rng, monkeypatch, kinetic):
    """d = 2 Euler without interaction and ∇V = A x + b runs one fused pass per block
    (force inside the update loop); the generic block (forced through the streaming
    path) must give the same bits, mirrors included: a box that both walls of both axes
    hit, N odd and not a multiple of the block, a shortened last step, an A with a zero
    entry (the generic block skips it)."""
    from vfp.particles import driver_nd
    n = 2 * 1024 + 37
    lo, hi = np.array([-1.2, -0.9]), np.array([1.1, 1.0])
    x0 = rng.uniform(lo, hi, (n, 2))
    v0 = rng.normal(0, 1.5, (n, 2)) if kinetic else None
    for spec in (QUAD, PolynomialND.quadratic(np.array([[1.5, 0.0], [0.0, 0.4]]), B2)):
        kw = dict(grad_potential=spec, gamma=0.8, temperature=0.7, dt=0.05,
                  snapshots=[0.1, 0.33], domain=(lo, hi), scheme="euler", seed=11)
        fused = simulate(x0, v0, **kw)
        with monkeypatch.context() as mp:
            mp.setattr(driver_nd, "STREAMING_ONLY", True)
            generic = simulate(x0, v0, **kw)
        assert np.all(fused.reflections > 0), fused.reflections
        np.testing.assert_array_equal(fused.reflections, generic.reflections)
        assert np.array_equal(fused.x, generic.x)
        if kinetic:
            assert np.array_equal(fused.v, generic.v)


@pytest.mark.slow
@pytest.mark.parametrize("scheme,kinetic", [("euler", False), ("euler", True),
                                            ("baoab", True)])
def test_simulate_nd_twin_other_force_forms(scheme, kinetic):
    """The loops with the general polynomial (PolyForceND) and a TabulatedND force,
    blocked (no interaction) and streaming (pairwise), against the twins."""
    T = TabulatedND.from_callable(DOUBLE_WELL, [-1.5, -1.5], [1.5, 1.5], [61, 51])
    for spec in (DOUBLE_WELL, T):
        for inter in (None, GaussianKernel(0.6, 0.5)):
            phi = None if inter is None else (lambda r: radial_phi(inter, r))
            sol, x, v, counts = _twin_run(scheme, kinetic, spec, spec, inter, phi)
            np.testing.assert_allclose(sol.x, x, rtol=0, atol=1e-12)
            if kinetic:
                np.testing.assert_allclose(sol.v, v, rtol=0, atol=1e-11)
            np.testing.assert_array_equal(sol.reflections, counts)


def test_tabulated_nd_and_radial_kernel_twins():
    """TabulatedND (multilinear; compiled and NumPy) and RadialKernel (pairwise, table,
    in the compiled loop) against the twins; TabulatedND reproduces a bilinear ∇V exactly and a smooth one to
    O(h²) (bound Σ_j h_j²/8 max|∂_j²∂_kV|)."""
    grad = lambda p: np.stack([np.sin(p[:, 0]) + 0.2 * p[:, 1], 0.2 * p[:, 0] + p[:, 1] ** 3],
                              axis=1)
    T = TabulatedND.from_callable(grad, [-1.5, -1.5], [1.5, 1.5], [121, 101])
    pts = np.random.default_rng(2).uniform(-1.5, 1.5, (2000, 2))
    h = 3.0 / np.array([120, 100])
    bound = np.array([h[0] ** 2 / 8 * 1.0, h[1] ** 2 / 8 * 6 * 1.5])   # |sin''| ≤ 1, |(x³)''| ≤ 9
    err = np.abs(T(pts) - grad(pts)).max(axis=0)
    assert np.all(err <= bound), (err, bound)
    bil = lambda p: np.stack([1 + 2 * p[:, 0] - p[:, 1] + 0.5 * p[:, 0] * p[:, 1],
                              -p[:, 0] * p[:, 1]], axis=1)
    Tb = TabulatedND.from_callable(bil, [-1.5, -1.5], [1.5, 1.5], 7)
    np.testing.assert_allclose(Tb(pts), bil(pts), atol=1e-13)
    np.testing.assert_allclose(compiled_gradient(T, pts), T(pts), rtol=0, atol=1e-14)
    R = RadialKernel.from_callable(lambda r: -r * np.exp(-r * r), 3.0, nodes=3001)
    sol, x, v, counts = _twin_run("baoab", True, QUAD, quad_grad, R,
                                  lambda r: np.where(r > 0, R.grad(r) / np.where(r > 0, r, 1),
                                                     0.0))
    np.testing.assert_allclose(sol.x, x, rtol=0, atol=1e-12)
    np.testing.assert_allclose(sol.v, v, rtol=0, atol=1e-11)
    np.testing.assert_array_equal(sol.reflections, counts)


# ----------------------------------------------------------------------------------------
# walls, free space
# ----------------------------------------------------------------------------------------

def test_reflection_per_axis():
    """A particle flying at the upper wall of axis 1 only: x1 mirrored, v1 reversed, x2 and
    v2 untouched; counts[0, 1] = 1 and nothing else (λ = 1e-300: no noise to speak of)."""
    x0 = np.array([[0.95, 0.0]])
    v0 = np.array([[1.0, 0.25]])
    sol = simulate(x0, v0, grad_potential=None, gamma=1e-12, temperature=1e-300, dt=0.1,
                   snapshots=[0.1], domain=([-1.0, -2.0], [1.0, 2.0]), seed=0)
    # Euler: x ← x + h v = (1.05, 0.025) → x1 mirrored to 0.95; v1 ← −(1 − γh)·1
    np.testing.assert_allclose(sol.x, [[0.95, 0.025]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(sol.v, [[-(1 - 1e-13), 0.25 * (1 - 1e-13)]], rtol=1e-15)
    np.testing.assert_array_equal(sol.reflections, [[0, 1], [0, 0]])
    assert sol.domain == ((-1.0, -2.0), (1.0, 2.0)) and sol.reflected_fraction == 1.0


def test_box_keeps_particles_inside_and_free_space_has_no_walls(rng):
    lo, hi = np.array([-0.5, -1.0]), np.array([0.5, 1.0])
    x0 = rng.uniform(lo, hi, (3000, 2))
    kw = dict(grad_potential=None, temperature=1.0, dt=0.01, snapshots=[0.5], seed=4)
    inside = []
    sol = simulate(x0, None, domain=(lo, hi), **kw,
                   on_snapshot=lambda k, t, x, v: inside.append(
                       bool(np.all((x >= lo) & (x <= hi)))))
    assert inside == [True] and np.all(sol.reflections > 0)
    # per-wall rates: free diffusion, the narrow axis (width 1) hits its walls more often
    assert sol.reflections[0].sum() > sol.reflections[1].sum()
    free = simulate(x0, None, domain=None, **kw)
    assert free.n_reflected == 0 and free.domain is None
    assert np.any(np.abs(free.x) > hi)               # it left the box: no walls


def test_d1_columns_equal_the_1d_path(rng):
    """x0 of shape (N, 1) runs the d = 1 path: identical bytes to x0[:, 0]."""
    from vfp.particles import Polynomial
    x0 = rng.normal(0, 1, (500, 1))
    v0 = rng.normal(0, 1, (500, 1))
    kw = dict(interaction=Quadratic(0.5), temperature=0.5, dt=0.05, snapshots=[0.5],
              domain=(-3, 3), scheme="baoab", seed=8)
    a = simulate(x0, v0, grad_potential=PolynomialND([[2]], [0.5]), **kw)
    b = simulate(x0[:, 0], v0[:, 0], grad_potential=Polynomial([0.0, 1.0]), **kw)
    assert a.x.shape == (500, 1) and a.reflections.shape == (1, 2)
    assert a.x[:, 0].tobytes() == b.x.tobytes() and a.v[:, 0].tobytes() == b.v.tobytes()


# ----------------------------------------------------------------------------------------
# mesh (d = 2)
# ----------------------------------------------------------------------------------------

def test_mesh_2d_twin_and_error_bound(rng):
    """The FFT mesh equals the direct (O(M⁴)) twin to round-off; against pairwise its error
    is bounded by the multilinear interpolation bound of K(x − y) on the (x, y) product
    mesh: per component ≤ 2 Σ_a h_a²/8 max|∂_a² K_b| (deposit and interpolation are the
    same bilinear weights), and it falls ~h² when h halves."""
    g = GaussianKernel(0.8, 0.5)
    x = rng.normal(0, 0.5, (600, 2)).clip(-1.4, 1.4)
    lo, hi = np.array([-1.5, -1.5]), np.array([1.5, 1.5])
    phi = lambda r: radial_phi(g, r)
    plan = MeshPlan2D(g, lo, hi, (10, 12))
    np.testing.assert_allclose(mesh_force_2d(np.ascontiguousarray(x.T), plan).T,
                               ref.mesh_force_2d(x, phi, lo, hi, (10, 12)), rtol=0, atol=1e-13)
    exact = interaction_force_nd(x, g, "pairwise")
    np.testing.assert_allclose(exact, ref.pairwise_force_nd(x, phi), rtol=0, atol=1e-14)
    # max |∂_a² K_b| on a fine grid of offsets (K(r) = φ(|r|) r)
    s = np.linspace(-3, 3, 1201)
    ds = s[1] - s[0]
    r1, r2 = np.meshgrid(s, s, indexing="ij")
    P = phi(np.sqrt(r1 ** 2 + r2 ** 2))
    K = [P * r1, P * r2]
    d2 = [[np.abs(np.diff(Kb, 2, axis=a)).max() / ds ** 2 for a in (0, 1)] for Kb in K]
    errs = []
    for cells in (24, 48):
        h = (hi - lo) / cells
        got = interaction_force_nd(x, g, "mesh", lo=lo, hi=hi, mesh_cells=cells)
        err = np.abs(got - exact).max(axis=0)
        bound = np.array([2 * sum(h[a] ** 2 / 8 * d2[b][a] for a in (0, 1)) for b in (0, 1)])
        assert np.all(err <= bound * 1.01), (cells, err, bound)
        errs.append(err.max())
    assert errs[1] < errs[0] / 3.0, errs                         # O(h²): ratio ≈ 4


@pytest.mark.slow
def test_mesh_2d_run_close_to_pairwise(rng):
    """A short kinetic Euler run with the mesh stays close to the pairwise run (Euler:
    the threads test compiles the same mesh loop)."""
    g = GaussianKernel(0.5, 0.5)
    x0 = rng.normal(0, 0.4, (2000, 2)).clip(-1.4, 1.4)
    v0 = rng.normal(0, 0.5, (2000, 2))
    kw = dict(grad_potential=QUAD, interaction=g, temperature=0.3,
              dt=0.02, snapshots=[0.2], domain=(-1.5, 1.5), scheme="euler", seed=6)
    a = simulate(x0, v0, interaction_method="mesh", mesh_cells=64, **kw)
    b = simulate(x0, v0, interaction_method="pairwise", **kw)
    assert a.interaction_method == "mesh" and a.mesh_cells == (64, 64)
    # force error ≤ ~1e-3 (bound above at h = 3/64) integrated over t = 0.2: |Δx| ≲ 1e-4
    assert np.abs(a.x - b.x).max() < 1e-3
    assert np.abs(a.x - b.x).max() > 0                           # really another method


# ----------------------------------------------------------------------------------------
# threads, input
# ----------------------------------------------------------------------------------------

_THREADS_CHILD_ND = r"""
import json, numba, numpy as np
from vfp.particles import GaussianKernel, PolynomialND, Quadratic, simulate
assert numba.config.NUMBA_NUM_THREADS == 3, numba.config.NUMBA_NUM_THREADS
P = PolynomialND.quadratic([[1.2, 0.3], [0.3, 0.8]], [0.3, -0.2])
rng = np.random.default_rng(0)
n = 5001
x0 = rng.uniform(-1.5, 1.5, (n, 2))
v0 = rng.normal(0, 1, (n, 2))
cases = {
    "indep_euler_od": dict(v0=None),
    "indep_baoab": dict(scheme="baoab"),
    "quad_euler": dict(interaction=Quadratic(0.5)),
    "pair_baoab": dict(interaction=GaussianKernel(0.5, 0.5), scheme="baoab",
                       interaction_method="pairwise", snapshots=[0.06]),
    "mesh_euler": dict(interaction=GaussianKernel(0.5, 0.5), interaction_method="mesh",
                       mesh_cells=32),
}
out = {}
for name, kw in cases.items():
    args = dict(v0=v0, grad_potential=P, temperature=0.6, dt=0.02, snapshots=[0.2],
                domain=(-1.6, 1.6), seed=42)
    args.update(kw)
    vv = args.pop("v0")
    runs = []
    for threads in (1, 3):
        numba.set_num_threads(threads)
        s = simulate(x0, vv, **args)
        runs.append((s.x.tobytes(), None if s.v is None else s.v.tobytes(),
                     s.reflections.tolist()))
    out[name] = dict(equal=runs[0] == runs[1], reflections=runs[0][2])
print(json.dumps(out))
"""


@pytest.mark.slow
def test_threads_bit_identical_nd():
    """1 and 3 Numba threads give the same bytes in d = 2 for every compiled path."""
    import json
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, NUMBA_NUM_THREADS="3")
    done = subprocess.run([sys.executable, "-c", _THREADS_CHILD_ND], env=env, cwd=root,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(result) == 5
    for name, r in result.items():
        assert r["equal"], name
    assert sum(np.sum(r["reflections"]) for r in result.values()) > 0


@pytest.mark.parametrize("kwargs,match", [
    (dict(x0=np.zeros((5, 4))), "dimension d must be 1, 2 or 3"),
    (dict(x0=np.zeros((5, 2, 1))), r"x0 must have shape \(N,\) or \(N, d\)"),
    (dict(v0=np.zeros((5, 3))), "v0 has shape"),
    (dict(domain=([-1, -1, -1], [1, 1, 1])), "domain must be None or a pair"),
    (dict(domain=([1, -1], [-1, 1])), "lo < hi on every axis"),
    (dict(domain=(-0.5, 0.5), x0=np.full((5, 2), 0.7)), "outside the domain"),
    (dict(interaction=GaussianKernel(1, 0.5), interaction_method="mesh", domain=None),
     "needs a bounded domain"),
    (dict(x0=np.zeros((5, 3)), interaction=GaussianKernel(1, 0.5),
          interaction_method="mesh"), "mesh interaction exists for d = 2 only"),
    (dict(grad_potential=lambda p: p), "PolynomialND or a TabulatedND"),
    (dict(grad_potential=PolynomialND([[2, 0, 0]], [1.0])), "in 3 variables"),
    (dict(interaction=lambda r: r), "the interaction is radial"),
    (dict(grad_potential=TabulatedND(np.zeros((3, 3, 2)), [-1, -1], [1, 1]), domain=None),
     "free space"),
])
def test_bad_input_nd(kwargs, match):
    args = dict(x0=np.zeros((5, 2)), v0=None, grad_potential=None, temperature=1.0, dt=0.1,
                snapshots=[0.1], domain=(-1.0, 1.0), seed=0)
    args.update(kwargs)
    x0, v0 = args.pop("x0"), args.pop("v0")
    with pytest.raises(ValueError, match=match):
        simulate(x0, v0, **args)


def test_bad_specs_nd():
    with pytest.raises(ValueError, match="free space"):
        TabulatedND.from_callable(lambda p: p, None, None, 5)
    with pytest.raises(ValueError, match="powers must be ≥ 0"):
        PolynomialND([[-1, 0]], [1.0])
    with pytest.raises(ValueError, match="one per row"):
        PolynomialND([[1, 0], [0, 1]], [1.0])
    with pytest.raises(ValueError, match="r_max must be > 0"):
        RadialKernel([0.0, 1.0], 0.0)
    with pytest.raises(ValueError, match="shape"):
        PolynomialND.quadratic(H2)(np.zeros((4, 3)))
