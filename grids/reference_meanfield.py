"""NumPy reference twins of the compiled two-layer-network kernels of
:mod:`grids.meanfield` (same formulas, dense (n, M) arrays; for tests)."""

from __future__ import annotations

import numpy as np

__all__ = ["activation", "outputs", "drift", "first_variation", "value"]


def activation(u, name):
    """(σ(u), σ'(u)) elementwise; relu'(0) = 0."""
    if name == "tanh":
        s = np.tanh(u)
        return s, 1.0 - s * s
    if name == "relu":
        return np.maximum(u, 0.0), (u > 0.0).astype(float)
    if name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-u))
        return s, s * (1.0 - s)
    if name == "identity":
        return u, np.ones_like(u)
    raise ValueError(f"unknown activation {name!r}")


def _split(points, p, output_weight):
    """(w (n, p), a (n,)) of the neurons."""
    points = np.asarray(points, dtype=float).reshape(len(points), -1)
    if output_weight == "learned":
        return points[:, :p], points[:, p]
    return points[:, :p], np.full(len(points), float(output_weight))


def outputs(points, weights, z, act, output_weight):
    """f_μ(z_j) = Σ_i w_i a_i σ(w_i·z_j), shape (M,)."""
    w, a = _split(points, z.shape[1], output_weight)
    s, _ = activation(w @ z.T, act)                       # (n, M)
    return (weights * a) @ s


def value(points, weights, z, y, act, output_weight):
    """F(μ) = 1/(2M) Σ_j (f_μ(z_j) − y_j)²."""
    r = outputs(points, weights, z, act, output_weight) - y
    return 0.5 * np.mean(r * r)


def first_variation(query, points, weights, z, y, act, output_weight):
    """δF/δμ(x) = (1/M) Σ_j r_j a σ(w·z_j), shape (q,)."""
    r = outputs(points, weights, z, act, output_weight) - y
    w, a = _split(query, z.shape[1], output_weight)
    s, _ = activation(w @ z.T, act)
    return a * (s @ r) / len(y)


def drift(query, points, weights, z, y, act, output_weight):
    """∇x δF/δμ(x): (1/M) Σ_j r_j (a σ'(w·z_j) z_j, σ(w·z_j)), shape (q, d)."""
    r = outputs(points, weights, z, act, output_weight) - y
    w, a = _split(query, z.shape[1], output_weight)
    s, ds = activation(w @ z.T, act)                      # (q, M)
    grad_w = a[:, None] * ((ds * r) @ z) / len(y)
    if output_weight == "learned":
        return np.column_stack([grad_w, (s @ r) / len(y)])
    return grad_w
