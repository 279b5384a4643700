"""NumPy twins of the compiled kernels (slow, for tests only).

Each function mirrors one kernel of :mod:`grids.kernels` with vectorised NumPy and the
convolution as a direct O(n²) sum, so the compiled code can be checked against an
independent implementation of the same formulas.
"""

from __future__ import annotations

import numpy as np

from .convolution import Convolver
from .grid import symmetric_centres

__all__ = ["mc_slope", "kinetic_rhs", "overdamped_rhs", "kinetic_force", "overdamped_face_drift",
           "kinetic_step", "overdamped_step", "overdamped_max_outflow", "energy_drift",
           "energy_first_variation", "has_potential"]


def _network_args(energy):
    """(z, y, activation, output_weight) of a TwoLayerNetwork for the NumPy twins of
    :mod:`grids.reference_meanfield`, or None for any other energy."""
    from .meanfield import TwoLayerNetwork
    if isinstance(energy, TwoLayerNetwork):
        return energy.z, energy.y, energy.activation, energy.output_weight
    return None


def energy_drift(energy, query, points, weights):
    """∇x δF/δμ at ``query`` (q, d): the dense NumPy twin for a TwoLayerNetwork, the
    energy's own ``drift`` otherwise."""
    from . import reference_meanfield as rm
    args = _network_args(energy)
    if args is None:
        return np.asarray(energy.drift(query, points, weights), dtype=float)
    return rm.drift(query, points, weights, *args)


def energy_first_variation(energy, query, points, weights):
    """δF/δμ at ``query`` (q,), as :func:`energy_drift`."""
    from . import reference_meanfield as rm
    args = _network_args(energy)
    if args is None:
        return np.asarray(energy.first_variation(query, points, weights), dtype=float)
    return rm.first_variation(query, points, weights, *args)


def has_potential(energy):
    """Whether the overdamped explicit schemes difference Φ = δF/δμ at the centres for
    this energy (a network, or any energy with ``first_variation``) rather than take its
    drift at the faces (grids.scheme.pack_energy_faces)."""
    return _network_args(energy) is not None or callable(getattr(energy, "first_variation",
                                                                 None))


def mc_slope(a, b, c):
    """MC-limited slope ``½ (sign dl + sign dr) min(2|dl|, 2|dr|, |dl + dr|/2)``."""
    dl = b - a
    dr = c - b
    t = np.minimum(np.minimum(2.0 * np.abs(dl), 2.0 * np.abs(dr)), 0.5 * np.abs(dl + dr))
    return 0.5 * (np.sign(dl) + np.sign(dr)) * t


def _slopes(f, axis, muscl):
    if not muscl:
        return np.zeros_like(f)
    n = f.shape[axis]
    idx = np.arange(n)
    lo = np.take(f, np.maximum(idx - 1, 0), axis=axis)
    hi = np.take(f, np.minimum(idx + 1, n - 1), axis=axis)
    return mc_slope(lo, f, hi)


def kinetic_rhs(f, scheme, vc, vf, G, gamma, lam, hx, hv):
    """L(f), shape (nx, nv): minus the divergence of the x- and v-fluxes.

    No flux through the outer v-faces (v-slopes clamped, 0 in the end columns); specular
    x-walls: two ghost rows beyond each wall mirror the end rows in v,
    ``f_{−1−k, j} = f_{k, nv−1−j}``, and the x-fluxes are upwind on every face.

    Parameters
    ----------
    f : ndarray, shape (nx, nv);  scheme : "upwind" or "muscl"
    vc : (nv,) centres, exactly antisymmetric (:func:`grids.grid.symmetric_centres`);
    vf : (nv + 1,) edges;  G : (nx,) force at x-centres
    """
    muscl = scheme == "muscl"
    nx, nv = f.shape
    g = np.concatenate([f[1::-1, ::-1], f, f[:-3:-1, ::-1]], axis=0)   # rows −2 … nx+1
    sx = mc_slope(g[:-2], g[1:-1], g[2:]) if muscl else np.zeros((nx + 2, nv))
    c = g[1:-1]                                                      # rows −1 … nx
    left = c[:-1] + 0.5 * sx[:-1]
    right = c[1:] - 0.5 * sx[1:]
    Fx = vc[None, :] * np.where(vc[None, :] > 0.0, left, right)      # faces −1/2 … nx−1/2
    sv = _slopes(f, 1, muscl)
    a = gamma * vf[None, 1:-1] + G[:, None]
    ul = f[:, :-1] + 0.5 * sv[:, :-1]
    ur = f[:, 1:] - 0.5 * sv[:, 1:]
    Jv = np.zeros((nx, nv + 1))
    Jv[:, 1:-1] = -a * np.where(a < 0.0, ul, ur) - gamma * lam / hv * (f[:, 1:] - f[:, :-1])
    return -(Fx[1:] - Fx[:-1]) / hx - (Jv[:, 1:] - Jv[:, :-1]) / hv


def overdamped_rhs(rho, scheme, aface, lam, h):
    """L(ρ), shape (n,); ``aface[i]`` is the drift at face i+1/2 (last entry unused)."""
    muscl = scheme == "muscl"
    s = _slopes(rho, 0, muscl)
    a = aface[:-1]
    ul = rho[:-1] + 0.5 * s[:-1]
    ur = rho[1:] - 0.5 * s[1:]
    J = np.zeros(rho.size + 1)
    J[1:-1] = -a * np.where(a < 0.0, ul, ur) - lam / h * (rho[1:] - rho[:-1])
    return -(J[1:] - J[:-1]) / h


def kinetic_force(problem, f):
    """G_i = V'(x_i) + h Σ_k W'(x_i − x_k) ρ_k (+ ∂x δF/δμ(x_i) with an energy),
    ρ = hv Σ_j f (direct sum)."""
    G = np.asarray(problem.grad_potential(problem.x.centres), dtype=float).copy()
    rho = f.sum(axis=1) * problem.v.h
    if problem.grad_interaction is not None:
        G += Convolver(problem.grad_interaction, problem.x).direct(rho)
    energy = getattr(problem, "energy", None)
    if energy is not None:
        xc = problem.x.centres[:, None]
        G += energy_drift(energy, xc, xc, rho * problem.x.h)[:, 0]
    return G


def overdamped_face_drift(problem, rho):
    """a_{i+1/2} = V'(x_{i+1/2}) + h Σ_k W'(x_{i+1/2} − x_k) ρ_k (+ the energy's term:
    (Φ_{i+1} − Φ_i)/h with Φ = δF/δμ at the centres, or ∂x δF/δμ(x_{i+1/2}) for an energy
    with ``drift`` only), shape (n,)."""
    x = problem.x
    a = np.asarray(problem.grad_potential(x.edges[1:]), dtype=float).copy()
    if problem.grad_interaction is not None:
        a += Convolver(problem.grad_interaction, x, offset=0.5 * x.h).direct(rho)
    energy = getattr(problem, "energy", None)
    if energy is not None and has_potential(energy):
        phi = energy_first_variation(energy, x.centres[:, None], x.centres[:, None], rho * x.h)
        a[:-1] += np.diff(phi) / x.h
    elif energy is not None:
        a += energy_drift(energy, x.edges[1:, None], x.centres[:, None], rho * x.h)[:, 0]
    return a


def kinetic_step(problem, f, scheme, cfl):
    """One full step (upwind: Euler; muscl: Heun) → (f_new, dt) with the CFL rule."""
    x, v = problem.x, problem.v
    g, lam = problem.gamma, problem.temperature
    vc, vf = symmetric_centres(v), v.edges
    G = kinetic_force(problem, f)
    amax = np.max(np.maximum(np.abs(g * vf[1] + G), np.abs(g * vf[-2] + G)))
    dt = cfl / (np.max(np.abs(vc)) / x.h + amax / v.h + 2.0 * g * lam / v.h ** 2)
    f1 = f + dt * kinetic_rhs(f, scheme, vc, vf, G, g, lam, x.h, v.h)
    if scheme == "upwind":
        return f1, dt
    G1 = kinetic_force(problem, f1)
    f2 = f1 + dt * kinetic_rhs(f1, scheme, vc, vf, G1, g, lam, x.h, v.h)
    return 0.5 * f + 0.5 * f2, dt


def overdamped_max_outflow(aface):
    """max_i (max(−a_{i+1/2}, 0) + max(a_{i−1/2}, 0)) over the cells, interior faces only:
    the largest advective outflow rate (times h) of a cell, both faces counted."""
    a = aface[:-1]
    out = np.zeros(aface.size)
    out[:-1] += np.maximum(-a, 0.0)
    out[1:] += np.maximum(a, 0.0)
    return float(out.max())


def overdamped_step(problem, rho, scheme, cfl):
    """One full overdamped step → (rho_new, dt)."""
    h, lam = problem.x.h, problem.temperature
    a = overdamped_face_drift(problem, rho)
    dt = cfl / (overdamped_max_outflow(a) / h + 2.0 * lam / h ** 2)
    r1 = rho + dt * overdamped_rhs(rho, scheme, a, lam, h)
    if scheme == "upwind":
        return r1, dt
    a1 = overdamped_face_drift(problem, r1)
    r2 = r1 + dt * overdamped_rhs(r1, scheme, a1, lam, h)
    return 0.5 * rho + 0.5 * r2, dt
