"""NumPy twins of the 2x2v kinetic kernels of :mod:`grids.kinetic2d` (slow; tests only).

Each function restates one compiled kernel with whole-array NumPy operations (ghost
layers by concatenation, fluxes on all faces at once, the interaction by a direct
O(M²) sum, the implicit velocity step by dense matrices), an implementation independent
of the compiled loops.
"""

from __future__ import annotations

import numpy as np

from .grid import symmetric_centres
from .implicit import _trbdf2_numpy, blend_positive_numpy, sg_matrix_numpy
from .reference import mc_slope

__all__ = ["kinetic2d_rhs", "kinetic2d_force", "kinetic2d_step", "collide2d_numpy",
           "imex2d_step_numpy", "kinetic2d_rate"]


def _x_flux_divergence(f, axis, vaxis, vc, h, muscl):
    """−(F_{i+1/2} − F_{i−1/2})/h along x-axis ``axis`` (0 or 1) with specular walls: two
    ghost layers beyond each wall mirror the end layers in the paired v-axis ``vaxis``."""
    n = f.shape[axis]
    take = lambda idx: np.take(f, idx, axis=axis)                       # noqa: E731
    lo = np.flip(take([1, 0]), axis=vaxis)                             # layers −2, −1
    hi = np.flip(take([n - 1, n - 2]), axis=vaxis)                     # layers n, n+1
    g = np.concatenate([lo, f, hi], axis=axis)                          # layers −2 … n+1
    m = n + 4
    sl = lambda a, b: np.take(g, np.arange(a, m + b), axis=axis)       # noqa: E731
    if muscl:
        s = mc_slope(sl(0, -2), sl(1, -1), sl(2, 0))                   # layers −1 … n
    else:
        s = np.zeros_like(sl(1, -1))
    c = sl(1, -1)
    k = n + 2
    left = np.take(c, np.arange(0, k - 1), axis=axis) + 0.5 * np.take(s, np.arange(0, k - 1),
                                                                     axis=axis)
    right = np.take(c, np.arange(1, k), axis=axis) - 0.5 * np.take(s, np.arange(1, k),
                                                                  axis=axis)
    shape = [1, 1, 1, 1]
    shape[vaxis] = vc.size
    v = vc.reshape(shape)
    F = v * np.where(v > 0.0, left, right)                              # faces −1/2 … n−1/2
    Fp = np.take(F, np.arange(1, n + 1), axis=axis)
    Fm = np.take(F, np.arange(0, n), axis=axis)
    return -(Fp - Fm) / h


def _v_flux_divergence(f, vaxis, vf, G, gamma, lam, h, muscl):
    """−(J_{j+1/2} − J_{j−1/2})/h along v-axis ``vaxis`` (2 or 3); J = 0 on outer faces."""
    n = f.shape[vaxis]
    take = lambda idx: np.take(f, idx, axis=vaxis)                      # noqa: E731
    idx = np.arange(n)
    if muscl:
        s = mc_slope(take(np.maximum(idx - 1, 0)), f, take(np.minimum(idx + 1, n - 1)))
    else:
        s = np.zeros_like(f)
    lo = take(idx[:-1])
    hi = take(idx[1:])
    ul = lo + 0.5 * np.take(s, idx[:-1], axis=vaxis)
    ur = hi - 0.5 * np.take(s, idx[1:], axis=vaxis)
    shape = [1, 1, 1, 1]
    shape[vaxis] = n - 1
    a = gamma * vf[1:-1].reshape(shape) + G[:, :, None, None]
    J = -a * np.where(a < 0.0, ul, ur) - gamma * lam / h * (hi - lo)
    zero = np.zeros_like(take([0]))
    J = np.concatenate([zero, J, zero], axis=vaxis)
    return -(np.take(J, idx + 1, axis=vaxis) - np.take(J, idx, axis=vaxis)) / h


def kinetic2d_rhs(f, scheme, vc1, vc2, vf1, vf2, G1, G2, gamma, lam, hx1, hx2, hv1, hv2,
                  with_v=True):
    """L(f), shape (nx1, nx2, nv1, nv2): minus the divergence of all face fluxes.

    ``scheme`` is "upwind" (cell values at the faces) or "muscl" (MC-limited
    reconstruction); ``with_v`` False keeps the x-transport only.
    """
    muscl = scheme == "muscl"
    out = (_x_flux_divergence(f, 0, 2, vc1, hx1, muscl)
           + _x_flux_divergence(f, 1, 3, vc2, hx2, muscl))
    if with_v:
        out = (out + _v_flux_divergence(f, 2, vf1, G1, gamma, lam, hv1, muscl)
               + _v_flux_divergence(f, 3, vf2, G2, gamma, lam, hv2, muscl))
    return out


def kinetic2d_force(problem, f):
    """(G1, G2) at the x-centres: ∇V + h1 h2 Σ_kl ∇W(x_ij − x_kl) ρ_kl (direct sum)
    (+ ∇ δF/δμ with an energy), ρ = hv1 hv2 Σ_j f."""
    from .kinetic2d import radial_components
    X1, X2 = np.meshgrid(problem.x1.centres, problem.x2.centres, indexing="ij")
    g1, g2 = problem.grad_potential(X1, X2)
    G1 = np.broadcast_to(np.asarray(g1, dtype=float), X1.shape).copy()
    G2 = np.broadcast_to(np.asarray(g2, dtype=float), X1.shape).copy()
    if problem.grad_interaction is not None:
        rho = f.sum(axis=(2, 3)) * problem.v1.h * problem.v2.h
        k1, k2 = radial_components(problem.grad_interaction)
        d1 = X1.ravel()[:, None] - X1.ravel()[None, :]
        d2 = X2.ravel()[:, None] - X2.ravel()[None, :]
        w = problem.x1.h * problem.x2.h
        G1 += (w * k1(d1, d2) @ rho.ravel()).reshape(X1.shape)
        G2 += (w * k2(d1, d2) @ rho.ravel()).reshape(X1.shape)
    energy = getattr(problem, "energy", None)
    if energy is not None:
        from .reference import energy_drift
        points = np.column_stack([X1.ravel(), X2.ravel()])
        masses = (f.sum(axis=(2, 3)) * problem.cell_volume).ravel()
        g = energy_drift(energy, points, points, masses)
        G1 += g[:, 0].reshape(X1.shape)
        G2 += g[:, 1].reshape(X1.shape)
    return G1, G2


def _arrays(problem):
    x1, x2, v1, v2 = problem.x1, problem.x2, problem.v1, problem.v2
    return (symmetric_centres(v1), symmetric_centres(v2), v1.edges, v2.edges, problem.gamma,
            problem.temperature, x1.h, x2.h, v1.h, v2.h)


def kinetic2d_rate(problem, G1, G2):
    """Σ_k max|v_k|/hxk + Σ_k max|a_k|/hvk + Σ_k 2γλ/hvk² (the explicit step rule's
    denominator)."""
    vc1, vc2, vf1, vf2, g, lam, hx1, hx2, hv1, hv2 = _arrays(problem)
    a1 = np.max(np.maximum(np.abs(g * vf1[1] + G1), np.abs(g * vf1[-2] + G1)))
    a2 = np.max(np.maximum(np.abs(g * vf2[1] + G2), np.abs(g * vf2[-2] + G2)))
    return (np.abs(vc1).max() / hx1 + np.abs(vc2).max() / hx2 + a1 / hv1 + a2 / hv2
            + 2 * g * lam / hv1 ** 2 + 2 * g * lam / hv2 ** 2)


def kinetic2d_step(problem, f, scheme, cfl):
    """One full explicit step (upwind: Euler; muscl: Heun) → (f_new, Δt) with the rule."""
    vc1, vc2, vf1, vf2, g, lam, hx1, hx2, hv1, hv2 = _arrays(problem)
    G1, G2 = kinetic2d_force(problem, f)
    dt = cfl / kinetic2d_rate(problem, G1, G2)
    args = (vc1, vc2, vf1, vf2)
    f1 = f + dt * kinetic2d_rhs(f, scheme, *args, G1, G2, g, lam, hx1, hx2, hv1, hv2)
    if scheme == "upwind":
        return f1, dt
    H1, H2 = kinetic2d_force(problem, f1)
    f2 = f1 + dt * kinetic2d_rhs(f1, scheme, *args, H1, H2, g, lam, hx1, hx2, hv1, hv2)
    return 0.5 * f + 0.5 * f2, dt


def _line_step(line, L, dt):
    r = _trbdf2_numpy(line, L, dt)
    if r.min() < 0.0:
        r = blend_positive_numpy(r, np.linalg.solve(np.eye(line.size) - dt * L, line))
        return r, 1
    return r, 0


def collide2d_numpy(problem, f, G1, G2, dt):
    """The implicit velocity step over ``dt`` with dense matrices: per x-cell, TR-BDF2
    on every v2-line, then on every v1-line (Scharfetter–Gummel operators of
    ψ_k = γ v_k²/2 + G_k v_k), each blended with backward Euler where negative.
    Returns ``(f_new, lines_blended)``."""
    vc1, vc2, vf1, vf2, g, lam, hx1, hx2, hv1, hv2 = _arrays(problem)
    out = np.array(f, dtype=float, copy=True)
    fell = 0
    nx1, nx2, nv1, nv2 = f.shape
    for i1 in range(nx1):
        for i2 in range(nx2):
            L2 = sg_matrix_numpy(g * 0.5 * vc2 ** 2 + G2[i1, i2] * vc2, g * lam, hv2)
            L1 = sg_matrix_numpy(g * 0.5 * vc1 ** 2 + G1[i1, i2] * vc1, g * lam, hv1)
            blk = out[i1, i2]
            for j1 in range(nv1):
                blk[j1], k = _line_step(blk[j1], L2, dt)
                fell += k
            for j2 in range(nv2):
                blk[:, j2], k = _line_step(blk[:, j2].copy(), L1, dt)
                fell += k
    return out, fell


def imex2d_step_numpy(problem, f, dt):
    """One Strang step ``C(Δt/2) ∘ T(Δt) ∘ C(Δt/2)``: dense C, the MUSCL x-transport with
    Heun's method for T. Returns ``(f_new, lines_blended)``."""
    vc1, vc2, vf1, vf2, g, lam, hx1, hx2, hv1, hv2 = _arrays(problem)
    G1, G2 = kinetic2d_force(problem, f)
    f1, n1 = collide2d_numpy(problem, f, G1, G2, 0.5 * dt)
    args = (vc1, vc2, vf1, vf2, G1, G2, g, lam, hx1, hx2, hv1, hv2)
    s1 = f1 + dt * kinetic2d_rhs(f1, "muscl", *args, with_v=False)
    s2 = s1 + dt * kinetic2d_rhs(s1, "muscl", *args, with_v=False)
    f2 = 0.5 * f1 + 0.5 * s2
    H1, H2 = kinetic2d_force(problem, f2)
    f3, n2 = collide2d_numpy(problem, f2, H1, H2, 0.5 * dt)
    return f3, n1 + n2


# ---------------------------------------------------------------------------------------
# exact linear-Gaussian law (ORACLES "d dimensions") and its cell averages
# ---------------------------------------------------------------------------------------

def gaussian_moments_2x2v(t, mean0, cov0, H, kappa, gamma, temperature):
    """Mean (4,) and covariance (4, 4) of Z = (x1, x2, v1, v2) at time t for
    V = ½ xᵀHx, W = κ|r|²/2 (free space).

    m' = B_H m,  C' = B C + C Bᵀ + Q,  B_A = [[0, I], [−A, −γI]], B = B_{H+κI},
    Q = diag(0, 2γλI); C by Van Loan's block exponential of [[B, Q], [0, −Bᵀ]].
    """
    from scipy import linalg
    H = np.asarray(H, dtype=float)
    eye = np.eye(2)

    def drift(A):
        B = np.zeros((4, 4))
        B[:2, 2:] = eye
        B[2:, :2] = -A
        B[2:, 2:] = -gamma * eye
        return B

    mean = linalg.expm(drift(H) * t) @ np.asarray(mean0, dtype=float)
    B = drift(H + kappa * eye)
    Q = np.zeros((4, 4))
    Q[2:, 2:] = 2.0 * gamma * temperature * eye
    block = np.zeros((8, 8))
    block[:4, :4] = B
    block[:4, 4:] = Q
    block[4:, 4:] = -B.T
    E = linalg.expm(block * t)
    Phi, Psi = E[:4, :4], E[:4, 4:]
    cov = Phi @ np.asarray(cov0, dtype=float) @ Phi.T + Psi @ Phi.T
    return mean, 0.5 * (cov + cov.T)


def gaussian_cell_averages_2d(axis1, axis2, mean, cov, order=4):
    """Cell averages of the density of N(mean, cov) on the plane (tensor Gauss–Legendre,
    ``order`` points per axis and cell), shape (axis1.cells, axis2.cells)."""
    from .quadrature import cell_averages_2d
    mean = np.asarray(mean, dtype=float)
    inv = np.linalg.inv(cov)
    norm = 1.0 / (2.0 * np.pi * np.sqrt(np.linalg.det(cov)))

    def pdf(a, b):
        a = a - mean[0]
        b = b - mean[1]
        return norm * np.exp(-0.5 * (inv[0, 0] * a * a + 2 * inv[0, 1] * a * b
                                     + inv[1, 1] * b * b))
    return cell_averages_2d(pdf, axis1, axis2, order)


def gaussian_cell_averages_4d(axes, mean, std):
    """Cell averages of a Gaussian with independent components (exact, by erf differences
    of each axis), shape of the four axes' cells."""
    from scipy.special import erf
    parts = []
    for ax, m, s in zip(axes, mean, std):
        c = 0.5 * (1.0 + erf((ax.edges - m) / (np.sqrt(2.0) * s)))
        parts.append(np.diff(c) / ax.h)
    return np.einsum("a,b,c,d->abcd", *parts)


def moments_2x2v(problem, f):
    """Mean (4,) and covariance (4, 4) of the piecewise-constant density of a grid state
    (mass normalised), in the order (x1, x2, v1, v2): the moments of the cell centres
    weighted by the cell masses, plus h_a²/12 on the diagonal (the variance inside a
    cell)."""
    axes = (problem.x1.centres, problem.x2.centres, symmetric_centres(problem.v1),
            symmetric_centres(problem.v2))
    widths = (problem.x1.h, problem.x2.h, problem.v1.h, problem.v2.h)
    w = np.asarray(f, dtype=float)
    tot = w.sum()
    marg = [w.sum(axis=tuple(k for k in range(4) if k != a)) / tot for a in range(4)]
    mean = np.array([np.dot(m, c) for m, c in zip(marg, axes)])
    cov = np.empty((4, 4))
    for a in range(4):
        for b in range(a, 4):
            if a == b:
                cov[a, a] = np.dot(marg[a], (axes[a] - mean[a]) ** 2) + widths[a] ** 2 / 12
            else:
                pair = w.sum(axis=tuple(k for k in range(4) if k not in (a, b))) / tot
                cov[a, b] = cov[b, a] = (axes[a] - mean[a]) @ pair @ (axes[b] - mean[b])
    return mean, cov
