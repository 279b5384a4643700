"""Mean-field energies of a measure given by points and weights: the two-layer network.

A measure is μ = Σ_i w_i δ_{x_i}, x_i ∈ R^d: cell centres with cell masses on the grid,
particle positions with weights 1/N. An *energy* F(μ) enters the dynamics through its
first variation δF/δμ(x), whose gradient is added to ∇V (DESIGN §9). Any object with

* ``value(points, weights) -> float``: F(μ);
* ``drift(query, points, weights) -> (q, d) array``: ∇x δF/δμ(x) at the query points,

(points of shape (n, d), weights (n,), query (q, d)) is an energy for the grid and the
particle solvers; they call it from Python once per step. The built-in
:class:`TwoLayerNetwork` also packs itself (:meth:`TwoLayerNetwork.pack`) for the compiled
kernels below, which the solvers call inside their compiled loops.

Two-layer network, squared loss over data (z_j, y_j), j = 1..M, z_j ∈ R^p::

    f_μ(z) = ∫ h(x; z) dμ(x),       F(μ) = 1/(2M) Σ_j (f_μ(z_j) − y_j)²
    h(x; z) = a σ(w·z),  x = (w, a) ∈ R^{p+1}    (output weight learned, d = p + 1)
    h(x; z) = c σ(w·z),  x = w ∈ R^p              (output weight fixed to c, d = p)
    δF/δμ(x) = (1/M) Σ_j r_j h(x; z_j),     r_j = f_μ(z_j) − y_j   (the residuals)
    ∇x δF/δμ(x) = (1/M) Σ_j r_j ∇x h(x; z_j)

σ ∈ {identity, tanh, relu, sigmoid}; relu'(0) = 0. One evaluation of the drift at the
measure's own points costs 2·n·M activations (residuals, then drift).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from .driver import threaded

__all__ = ["ACTIVATIONS", "NetworkArrays", "TwoLayerNetwork", "network_outputs",
           "network_residuals", "network_drift", "network_first_variation",
           "network_value"]

#: activation name -> code used by the compiled kernels
ACTIVATIONS = {"identity": 0, "tanh": 1, "relu": 2, "sigmoid": 3}


class NetworkArrays(NamedTuple):
    """The two-layer network packed for the compiled kernels.

    z : float64 (M, p), C order;  y : float64 (M,);  activation : int (see ACTIVATIONS);
    learned : bool (x = (w, a) when True, x = w when False);  c : float, the fixed output
    weight (unused when learned).
    """
    z: np.ndarray
    y: np.ndarray
    activation: int
    learned: bool
    c: float


@njit(cache=True, inline="always")
def _sigma(u, act):
    """σ(u)."""
    if act == 1:
        return math.tanh(u)
    if act == 2:
        return u if u > 0.0 else 0.0
    if act == 3:
        if u >= 0.0:
            return 1.0 / (1.0 + math.exp(-u))
        e = math.exp(u)
        return e / (1.0 + e)
    return u


@njit(cache=True, inline="always")
def _sigma_prime(u, act):
    """(σ(u), σ'(u))."""
    if act == 1:
        s = math.tanh(u)
        return s, 1.0 - s * s
    if act == 2:
        if u > 0.0:
            return u, 1.0
        return 0.0, 0.0
    if act == 3:
        s = _sigma(u, act)
        return s, s * (1.0 - s)
    return u, 1.0


@threaded
def network_outputs(points, weights, net, out):
    """out[j] = f_μ(z_j) = Σ_i w_i h(x_i; z_j).

    Parameters
    ----------
    points : float64 (n, d);  weights : float64 (n,);  net : NetworkArrays
    out : float64 (M,), written
    """
    z = net.z
    m, p = z.shape
    n = points.shape[0]
    act = net.activation
    for j in prange(m):
        acc = 0.0
        for i in range(n):
            wi = weights[i]
            if wi == 0.0:
                continue
            u = 0.0
            for k in range(p):
                u += points[i, k] * z[j, k]
            scale = points[i, p] if net.learned else net.c
            acc += wi * scale * _sigma(u, act)
        out[j] = acc


@threaded(parallel=False)
def network_residuals(points, weights, net, resid):
    """resid[j] = f_μ(z_j) − y_j (shapes as :func:`network_outputs`)."""
    network_outputs(points, weights, net, resid)
    for j in range(resid.size):
        resid[j] -= net.y[j]


@njit(cache=True)
def network_value(resid):
    """F = (1/(2M)) Σ_j r_j² from the residuals (M,)."""
    s = 0.0
    for j in range(resid.size):
        s += resid[j] * resid[j]
    return 0.5 * s / resid.size


@threaded
def network_drift(query, net, resid, out):
    """out[q] = ∇x δF/δμ(x_q) = (1/M) Σ_j r_j ∇x h(x_q; z_j).

    Parameters
    ----------
    query : float64 (nq, d);  net : NetworkArrays;  resid : float64 (M,), the residuals
    out : float64 (nq, d), written
    """
    z = net.z
    m, p = z.shape
    act = net.activation
    inv_m = 1.0 / m
    for q in prange(query.shape[0]):
        for k in range(out.shape[1]):
            out[q, k] = 0.0
        scale = query[q, p] if net.learned else net.c
        for j in range(m):
            u = 0.0
            for k in range(p):
                u += query[q, k] * z[j, k]
            s, ds = _sigma_prime(u, act)
            g = resid[j] * scale * ds
            for k in range(p):
                out[q, k] += g * z[j, k]
            if net.learned:
                out[q, p] += resid[j] * s
        for k in range(out.shape[1]):
            out[q, k] *= inv_m


@threaded
def network_first_variation(query, net, resid, out):
    """out[q] = δF/δμ(x_q) = (1/M) Σ_j r_j h(x_q; z_j); query (nq, d), out (nq,)."""
    z = net.z
    m, p = z.shape
    act = net.activation
    for q in prange(query.shape[0]):
        scale = query[q, p] if net.learned else net.c
        acc = 0.0
        for j in range(m):
            u = 0.0
            for k in range(p):
                u += query[q, k] * z[j, k]
            acc += resid[j] * _sigma(u, act)
        out[q] = scale * acc / m


def _as_points(points, d, name):
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim == 1 and d == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != d:
        raise ValueError(f"{name} must have shape (n, {d}), got {np.shape(points)}")
    return np.ascontiguousarray(arr)


class TwoLayerNetwork:
    """The squared-loss risk of a mean-field two-layer network (see the module doc).

    Parameters
    ----------
    z : array (M, p)
        Inputs of the data.
    y : array (M,)
        Targets.
    activation : {"identity", "tanh", "relu", "sigmoid"}
    output_weight : "learned" or float
        ``"learned"``: a neuron is x = (w, a) ∈ R^{p+1}; a number c: x = w ∈ R^p with the
        output weight fixed to c.
    """

    def __init__(self, z, y, activation="tanh", output_weight="learned"):
        z = np.asarray(z, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if z.ndim == 1:
            z = z[:, None]
        if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] == 0:
            raise ValueError(f"z must have shape (M, p) with M, p >= 1, got {z.shape}")
        if y.shape != (z.shape[0],):
            raise ValueError(f"y must have shape ({z.shape[0]},) to match z, got {y.shape}")
        if not (np.all(np.isfinite(z)) and np.all(np.isfinite(y))):
            raise ValueError("z and y must be finite")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, "
                             f"got {activation!r}")
        if isinstance(output_weight, str):
            if output_weight != "learned":
                raise ValueError("output_weight must be 'learned' or a number, "
                                 f"got {output_weight!r}")
            learned, c = True, 0.0
        else:
            c = float(output_weight)
            if not np.isfinite(c):
                raise ValueError("output_weight must be finite")
            learned = False
        self.z = np.ascontiguousarray(z)
        self.y = np.ascontiguousarray(y)
        self.activation = activation
        self.output_weight = "learned" if learned else c
        self._net = NetworkArrays(self.z, self.y, ACTIVATIONS[activation], learned, c)

    @property
    def dimension(self) -> int:
        """d: p + 1 with a learned output weight, p with a fixed one."""
        return self.z.shape[1] + (1 if self._net.learned else 0)

    @property
    def n_data(self) -> int:
        return self.z.shape[0]

    def pack(self) -> NetworkArrays:
        """The arrays the compiled kernels take."""
        return self._net

    def residuals(self, points, weights):
        """r_j = f_μ(z_j) − y_j, shape (M,)."""
        x = _as_points(points, self.dimension, "points")
        w = np.ascontiguousarray(weights, dtype=np.float64)
        if w.shape != (x.shape[0],):
            raise ValueError(f"weights must have shape ({x.shape[0]},), got {w.shape}")
        r = np.empty(self.n_data)
        network_residuals(x, w, self._net, r)
        return r

    def value(self, points, weights) -> float:
        """F(μ) = 1/(2M) Σ_j (f_μ(z_j) − y_j)²."""
        return float(network_value(self.residuals(points, weights)))

    def drift(self, query, points, weights):
        """∇x δF/δμ at ``query`` (q, d) for μ = Σ w_i δ_{points_i}; shape (q, d)."""
        q = _as_points(query, self.dimension, "query")
        out = np.empty_like(q)
        network_drift(q, self._net, self.residuals(points, weights), out)
        return out

    def first_variation(self, query, points, weights):
        """δF/δμ at ``query`` (q, d); shape (q,)."""
        q = _as_points(query, self.dimension, "query")
        out = np.empty(q.shape[0])
        network_first_variation(q, self._net, self.residuals(points, weights), out)
        return out

    def predict(self, z_new, points, weights):
        """f_μ at new inputs ``z_new`` (K, p); shape (K,)."""
        x = _as_points(points, self.dimension, "points")
        zz = np.ascontiguousarray(np.atleast_2d(np.asarray(z_new, dtype=np.float64)))
        if zz.shape[1] != self.z.shape[1]:
            raise ValueError(f"z_new must have {self.z.shape[1]} columns, got {zz.shape[1]}")
        out = np.empty(zz.shape[0])
        network_outputs(x, np.ascontiguousarray(weights, dtype=np.float64),
                        self._net._replace(z=zz, y=np.zeros(zz.shape[0])), out)
        return out
