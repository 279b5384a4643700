"""Cell masses of a correlated Gaussian on a tensor grid: the compiled kernel and its
NumPy twin (used by :mod:`vfp.initial` for the coupled blocks of a full covariance).

For a coupled block of b axes the last axis is integrated exactly: given the b − 1
leading coordinates y (centred), it is Gaussian with mean t(y) = μ_b + β·y and standard
deviation s, so a cell's mass along it is Φ((e_{j+1} − t)/s) − Φ((e_j − t)/s). The
leading axes are integrated by a tensor Gauss–Legendre rule of q nodes per cell against
the leading marginal density p(y) = exp(−½ yᵀ P y)/√((2π)^{b−1} det C_L), P = C_L⁻¹.

The kernel evaluates the normal CDF only on the edges within ``WINDOW`` conditional
standard deviations of t(y): beyond, a cell's mass is below ½ erfc(WINDOW/√2) ≈ 1e-19 of
the node's weight and is dropped. The twin evaluates every edge.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange
from scipy import special

__all__ = ["BlockRule", "block_rule", "coupled_cell_masses", "coupled_cell_masses_reference",
           "WINDOW"]

WINDOW = 9.0  # conditional standard deviations either side of t(y) evaluated by the kernel


class BlockRule:
    """Everything the kernel needs for one coupled block (plain arrays and floats).

    Attributes
    ----------
    nodes, weights : ndarray, shape (b − 1, max_k n_k q)
        Gauss–Legendre nodes (centred: minus the leading mean) and weights per leading
        axis, cell by cell, zero-padded.
    counts : ndarray of int64, shape (b − 1,)
        Cells per leading axis.
    order : int
        q, nodes per cell and leading axis.
    precision : ndarray, shape (b − 1, b − 1)
        P = C_L⁻¹.
    beta : ndarray, shape (b − 1,)
        Slope of the conditional mean of the last axis.
    last_mean, cond_std, norm : float
        μ_b, s, and 1/√((2π)^{b−1} det C_L).
    last_edges : ndarray, shape (n_b + 1,)
    """

    def __init__(self, nodes, weights, counts, order, precision, beta, last_mean, cond_std,
                 norm, last_edges):
        self.nodes, self.weights, self.counts, self.order = nodes, weights, counts, order
        self.precision, self.beta = precision, beta
        self.last_mean, self.cond_std, self.norm = last_mean, cond_std, norm
        self.last_edges = last_edges


def block_rule(edges, mean, cov, order) -> BlockRule:
    """The :class:`BlockRule` of N(mean, cov) (b ≥ 2 axes) on the tensor grid ``edges``."""
    b = len(edges)
    lead_cov = cov[:-1, :-1]
    beta = np.linalg.solve(lead_cov, cov[:-1, -1])
    cond_var = cov[-1, -1] - cov[-1, :-1] @ beta
    if not cond_var > 0:
        raise ValueError("covariance must be positive definite")
    gl_nodes, gl_weights = np.polynomial.legendre.leggauss(order)
    counts = np.array([len(e) - 1 for e in edges[:-1]], dtype=np.int64)
    width = int(counts.max()) * order
    nodes = np.zeros((b - 1, width))
    weights = np.zeros((b - 1, width))
    for k, e in enumerate(edges[:-1]):
        if not np.all(np.isfinite(e)):
            raise ValueError("a correlated axis needs finite edges")
        half = 0.5 * np.diff(e)
        centre = 0.5 * (e[1:] + e[:-1]) - mean[k]
        nodes[k, :counts[k] * order] = (centre[:, None] + half[:, None] * gl_nodes).ravel()
        weights[k, :counts[k] * order] = (half[:, None] * gl_weights).ravel()
    return BlockRule(nodes, weights, counts, int(order), np.linalg.inv(lead_cov), beta,
                     float(mean[-1]), float(np.sqrt(cond_var)),
                     float(1.0 / np.sqrt((2 * np.pi) ** (b - 1) * np.linalg.det(lead_cov))),
                     np.ascontiguousarray(edges[-1], dtype=float))


def coupled_cell_masses(rule: BlockRule) -> np.ndarray:
    """Cell masses, shape (n_1, ..., n_b), by the compiled kernel (parallel over cells of
    the leading axes)."""
    n_lead = int(np.prod(rule.counts))
    out = np.zeros((n_lead, len(rule.last_edges) - 1))
    _masses_kernel(rule.nodes, rule.weights, rule.counts, rule.order, rule.precision,
                   rule.beta, rule.last_mean, rule.cond_std, rule.norm, rule.last_edges,
                   WINDOW, out)
    return np.maximum(out, 0.0).reshape(tuple(rule.counts) + (out.shape[1],))


@njit(parallel=True, cache=True)
def _masses_kernel(nodes, weights, counts, order, precision, beta, last_mean, cond_std, norm,
                   last_edges, window, out):
    lead = counts.shape[0]
    n_edges = last_edges.shape[0]
    per_cell = order ** lead
    scale = 1.0 / (cond_std * math.sqrt(2.0))
    for c in prange(out.shape[0]):
        cell = np.empty(lead, dtype=np.int64)
        y = np.empty(lead)
        tail = np.empty(n_edges)
        z = np.empty(n_edges)
        flat = c * 1  # a copy: Numba refuses writes to an alias of the prange index
        for k in range(lead - 1, -1, -1):  # C order: the last leading axis varies fastest
            cell[k] = flat % counts[k]
            flat = flat // counts[k]
        for m in range(per_cell):
            node = m
            w = norm
            for k in range(lead - 1, -1, -1):
                j = cell[k] * order + node % order
                node = node // order
                y[k] = nodes[k, j]
                w *= weights[k, j]
            quad = 0.0
            t = last_mean
            for i in range(lead):
                t += beta[i] * y[i]
                for k in range(lead):
                    quad += precision[i, k] * y[i] * y[k]
            w *= math.exp(-0.5 * quad)
            lo = np.searchsorted(last_edges, t - window * cond_std) - 1
            hi = np.searchsorted(last_edges, t + window * cond_std) + 1
            lo = max(lo, 0)
            hi = min(hi, n_edges)
            for e in range(lo, hi):
                z[e] = (last_edges[e] - t) * scale
                tail[e] = 0.5 * math.erfc(abs(z[e]))
            for j in range(lo, hi - 1):
                # tails of one sign: tiny masses in either tail survive (as in the twin)
                if z[j + 1] > 0:
                    if z[j] > 0:
                        mass = tail[j] - tail[j + 1]
                    else:
                        mass = (1.0 - tail[j]) - tail[j + 1]
                else:
                    mass = tail[j + 1] - tail[j]
                out[c, j] += w * mass


def coupled_cell_masses_reference(rule: BlockRule) -> np.ndarray:
    """NumPy twin of :func:`coupled_cell_masses` (every edge evaluated; small grids)."""
    lead = len(rule.counts)
    q = rule.order
    axes_nodes = [rule.nodes[k, :rule.counts[k] * q] for k in range(lead)]
    axes_weights = [rule.weights[k, :rule.counts[k] * q] for k in range(lead)]
    grids = np.meshgrid(*axes_nodes, indexing="ij")
    quad = sum(rule.precision[i, j] * grids[i] * grids[j]
               for i in range(lead) for j in range(lead))
    weight = rule.norm * np.exp(-0.5 * quad)
    for k, w in enumerate(axes_weights):
        weight = weight * w.reshape((-1,) + (1,) * (lead - 1 - k))
    t = rule.last_mean + sum(rule.beta[i] * grids[i] for i in range(lead))
    z = (rule.last_edges - t[..., None]) / (rule.cond_std * np.sqrt(2.0))
    tail = 0.5 * special.erfc(np.abs(z))
    ta, tb, za, zb = tail[..., :-1], tail[..., 1:], z[..., :-1], z[..., 1:]
    mass = np.where(zb > 0, np.where(za > 0, ta - tb, (1.0 - ta) - tb), tb - ta)
    masses = mass * weight[..., None]
    split = []
    for n in rule.counts:
        split += [int(n), q]
    masses = masses.reshape(tuple(split) + (len(rule.last_edges) - 1,))
    return np.maximum(masses.sum(axis=tuple(range(1, 2 * lead, 2))), 0.0)
