"""NumPy twins of the compiled 2-D overdamped kernels (slow, for tests only), and the
exact linear-Gaussian law used to verify them.

Each function restates one kernel of :mod:`grids.overdamped2d` with vectorised NumPy, the
convolutions as direct double sums (:meth:`grids.convolution2d.Convolver2D.direct`) and
the implicit line solves with dense matrices, so the compiled code is checked against an
independent implementation of the same formulas.
"""

from __future__ import annotations

import numpy as np

from .convolution2d import Convolver2D
from .implicit import GAMMA, blend_positive_numpy, sg_matrix_numpy
from .overdamped2d import radial_gradient
from .quadrature import cell_averages_2d
from .reference import energy_drift, energy_first_variation, has_potential, mc_slope

__all__ = ["face_drift", "max_outflow", "fluxes", "explicit_step", "potential_of_mean_force",
           "sg_step", "free_energy", "linear_gaussian_law", "gaussian_cell_averages"]


def _grid(problem):
    c1, c2 = problem.x1.centres, problem.x2.centres
    return c1, c2, problem.x1.edges[1:], problem.x2.edges[1:]


def face_drift(problem, r):
    """(a1, a2), shape (n1, n2) each: ∂1V + ∂1W * ρ at (x1_{i+1/2}, x2_j) and
    ∂2V + ∂2W * ρ at (x1_i, x2_{j+1/2}); direct convolution sums; with an energy its
    Φ = δF/δμ at the centres differenced to the interior faces (its drift at the faces for
    an energy with ``drift`` only)."""
    c1, c2, f1, f2 = _grid(problem)
    a1 = np.broadcast_to(problem.grad_potential(f1[:, None], c2[None, :])[0], r.shape).copy()
    a2 = np.broadcast_to(problem.grad_potential(c1[:, None], f2[None, :])[1], r.shape).copy()
    if problem.interaction is not None:
        x1, x2 = problem.x1, problem.x2
        a1 += Convolver2D(radial_gradient(problem.grad_interaction, 0), x1, x2,
                          (0.5 * x1.h, 0.0)).direct(r)
        a2 += Convolver2D(radial_gradient(problem.grad_interaction, 1), x1, x2,
                          (0.0, 0.5 * x2.h)).direct(r)
    energy = getattr(problem, "energy", None)
    if energy is not None and has_potential(energy):
        # Φ = δF/δμ at the centres, differenced to the interior faces (walls untouched)
        points, weights = _measure(problem, r)
        phi = energy_first_variation(energy, points, points, weights).reshape(r.shape)
        a1[:-1, :] += np.diff(phi, axis=0) / problem.x1.h
        a2[:, :-1] += np.diff(phi, axis=1) / problem.x2.h
    elif energy is not None:
        points, weights = _measure(problem, r)
        a1 += energy_drift(energy, _pairs(f1, c2), points, weights)[:, 0].reshape(r.shape)
        a2 += energy_drift(energy, _pairs(c1, f2), points, weights)[:, 1].reshape(r.shape)
    return a1, a2


def _pairs(a, b):
    """All points (a_i, b_j), C order, shape (len(a)·len(b), 2)."""
    A, B = np.meshgrid(a, b, indexing="ij")
    return np.column_stack([A.ravel(), B.ravel()])


def _measure(problem, r):
    """(x-centres (n1·n2, 2), cell masses (n1·n2,)) of a state."""
    c1, c2, _, _ = _grid(problem)
    return _pairs(c1, c2), (r * problem.x1.h * problem.x2.h).ravel()


def max_outflow(a1, a2, h1, h2):
    """max over cells of the advective outflow rate through the four interior faces."""
    n1, n2 = a1.shape
    out1 = np.zeros((n1, n2))
    out1[:-1] += np.maximum(-a1[:-1], 0.0)
    out1[1:] += np.maximum(a1[:-1], 0.0)
    out2 = np.zeros((n1, n2))
    out2[:, :-1] += np.maximum(-a2[:, :-1], 0.0)
    out2[:, 1:] += np.maximum(a2[:, :-1], 0.0)
    return float(np.max(out1 / h1 + out2 / h2))


def _axis_flux(r, a, diff, muscl):
    """Fluxes through the interior faces along axis 0 of ``r`` (shape (n−1, m))."""
    ri, rn = r[:-1], r[1:]
    if muscl:
        rm = np.concatenate([r[:1], r[:-2]], axis=0)      # clamped neighbours
        rn2 = np.concatenate([r[2:], r[-1:]], axis=0)
        left = ri + 0.5 * mc_slope(rm, ri, rn)
        right = rn - 0.5 * mc_slope(ri, rn, rn2)
    else:
        left, right = ri, rn
    up = np.where(a < 0.0, left, right)
    return -a * up - diff * (rn - ri)


def fluxes(r, a1, a2, lam, h1, h2, muscl):
    """(F1, F2): fluxes through the interior faces, shapes (n1 − 1, n2) and (n1, n2 − 1)."""
    F1 = _axis_flux(r, a1[:-1], lam / h1, muscl)
    F2 = _axis_flux(r.T, a2[:, :-1].T, lam / h2, muscl).T
    return F1, F2


def _rhs(problem, r, muscl):
    a1, a2 = face_drift(problem, r)
    h1, h2 = problem.x1.h, problem.x2.h
    F1, F2 = fluxes(r, a1, a2, problem.temperature, h1, h2, muscl)
    F1 = np.pad(F1, ((1, 1), (0, 0)))                       # zero flux at the walls
    F2 = np.pad(F2, ((0, 0), (1, 1)))
    return -(F1[1:] - F1[:-1]) / h1 - (F2[:, 1:] - F2[:, :-1]) / h2


def explicit_step(problem, r, dt, scheme):
    """One step of ``upwind`` (forward Euler) or ``muscl`` (Heun, drift recomputed at the
    second stage, without the stage-2 guard)."""
    if scheme == "upwind":
        return r + dt * _rhs(problem, r, False)
    s1 = r + dt * _rhs(problem, r, True)
    return 0.5 * r + 0.5 * (s1 + dt * _rhs(problem, s1, True))


def step_rule(problem, r, cfl):
    """Δt = cfl / (max outflow + 2λ/h1² + 2λ/h2²) of the explicit schemes."""
    a1, a2 = face_drift(problem, r)
    h1, h2, lam = problem.x1.h, problem.x2.h, problem.temperature
    return cfl / (max_outflow(a1, a2, h1, h2) + 2 * lam / h1 ** 2 + 2 * lam / h2 ** 2)


def potential_of_mean_force(problem, r):
    """Φ = V + W * ρ at the centres (direct sum), shape (n1, n2)."""
    c1, c2, _, _ = _grid(problem)
    phi = np.broadcast_to(problem.potential(c1[:, None], c2[None, :]), r.shape).astype(float)
    if problem.interaction is not None:
        phi = phi + Convolver2D(lambda y1, y2: problem.interaction(np.hypot(y1, y2)),
                                problem.x1, problem.x2).direct(r)
    energy = getattr(problem, "energy", None)
    if energy is not None:
        points, weights = _measure(problem, r)
        phi = phi + energy_first_variation(energy, points, points, weights).reshape(r.shape)
    return phi


def _line_step(r0, L, dt):
    """TR-BDF2 with the dense line matrix L, blended with backward Euler if negative."""
    n = r0.size
    c = 0.5 * GAMMA * dt
    M = np.eye(n) - c * L
    rg = np.linalg.solve(M, r0 + c * (L @ r0))
    a = 1.0 / (GAMMA * (2.0 - GAMMA))
    out = np.linalg.solve(M, a * rg - (a - 1.0) * r0)
    if out.min() >= 0.0:
        return out
    return blend_positive_numpy(out, np.linalg.solve(np.eye(n) - dt * L, r0))


def _sweep(r, phi, lam, h, dt, fit):
    """Every line along axis 0 of ``r`` over Δt."""
    out = np.empty_like(r)
    for j in range(r.shape[1]):
        out[:, j] = _line_step(r[:, j], sg_matrix_numpy(phi[:, j], lam, h, fit), dt)
    return out


def sg_step(problem, r, dt, fit=False):
    """One ``sg_implicit`` step: Strang ``X(Δt/2) Y(Δt) X(Δt/2)`` of SG line solves, with
    the predictor–corrector Φ(ρ^n), Φ(½(ρ^n + ρ*)) when there is an interaction."""
    lam, h1, h2 = problem.temperature, problem.x1.h, problem.x2.h

    def strang(phi):
        s = _sweep(r, phi, lam, h1, 0.5 * dt, fit)
        s = _sweep(s.T, phi.T, lam, h2, dt, fit).T
        return _sweep(s, phi, lam, h1, 0.5 * dt, fit)

    pred = strang(potential_of_mean_force(problem, r))
    if problem.interaction is None and getattr(problem, "energy", None) is None:
        return pred
    return strang(potential_of_mean_force(problem, 0.5 * (r + pred)))


def free_energy(problem, r):
    """h1 h2 Σ (V r + λ r log r) + ½ (h1 h2) Σ r (W * r) (direct sum)."""
    hh = problem.x1.h * problem.x2.h
    c1, c2, _, _ = _grid(problem)
    V = np.broadcast_to(problem.potential(c1[:, None], c2[None, :]), r.shape)
    ent = np.where(r > 0.0, r * np.log(np.where(r > 0.0, r, 1.0)), 0.0)
    e = hh * float(np.sum(V * r) + problem.temperature * ent.sum())
    energy = getattr(problem, "energy", None)
    if problem.interaction is not None:
        phi = potential_of_mean_force(problem.__class__(
            problem.x1, problem.x2, problem.temperature, problem.potential,
            problem.grad_potential, problem.interaction, problem.grad_interaction), r)
        e += 0.5 * hh * float(np.sum(r * (phi - V)))
    if energy is not None:
        from . import reference_meanfield as rm
        from .reference import _network_args
        args = _network_args(energy)
        points, weights = _measure(problem, r)
        e += float(rm.value(points, weights, *args) if args is not None
                   else energy.value(points, weights))
    return e


def linear_gaussian_law(mean0, cov0, hessian, kappa, lam, t):
    """Exact law at time t for V = ½ xᵀHx, W = κ|r|²/2 in free space (ORACLES).

    ``m' = −H m``, ``C' = −A C − C A + 2λ I`` with ``A = H + κ I`` (the interaction force
    κ(x − m) moves no mean). With ``H = Q diag(h) Qᵀ``: ``m(t) = Q e^{−ht} Qᵀ m0``;
    in the same basis ``C̃_kl(t) = e^{−(a_k + a_l)t} C̃0_kl + δ_kl λ(1 − e^{−2 a_k t})/a_k``,
    ``a = h + κ``.

    Returns
    -------
    (mean (2,), cov (2, 2))
    """
    H = np.asarray(hessian, dtype=float)
    hv, Q = np.linalg.eigh(H)
    m = Q @ (np.exp(-hv * t) * (Q.T @ np.asarray(mean0, dtype=float)))
    a = hv + kappa
    C0 = Q.T @ np.asarray(cov0, dtype=float) @ Q
    Ct = np.exp(-(a[:, None] + a[None, :]) * t) * C0 + np.diag(lam * (-np.expm1(-2 * a * t)) / a)
    return m, Q @ Ct @ Q.T


def gaussian_cell_averages(mean, cov, axis1, axis2, order=6):
    """Cell averages of the N(mean, cov) density on ``axis1 × axis2`` (Gauss–Legendre)."""
    P = np.linalg.inv(cov)
    norm = 1.0 / (2.0 * np.pi * np.sqrt(np.linalg.det(cov)))

    def density(x1, x2):
        d1, d2 = x1 - mean[0], x2 - mean[1]
        return norm * np.exp(-0.5 * (P[0, 0] * d1 * d1 + 2 * P[0, 1] * d1 * d2 + P[1, 1] * d2 * d2))

    return cell_averages_2d(density, axis1, axis2, order)
