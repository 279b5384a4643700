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
measure's own points costs 2·n·M activations (residuals, then drift). The kernels work
on vectors over the data (pre-activations x·z_j for all j, then σ, then sums), with a
branch-free tanh that vectorises (:func:`_tanh`); every reduction has a fixed order, so
results do not depend on the number of threads (benchmarks/meanfield_throughput.py).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import njit, prange
from numba.core import types
from numba.extending import intrinsic

from .driver import threaded

__all__ = ["ACTIVATIONS", "NetworkArrays", "TwoLayerNetwork", "network_outputs",
           "network_residuals", "network_drift", "network_first_variation",
           "network_value", "network_self_drift", "network_self_potential",
           "STORE_MAX_ENTRIES"]

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


# ----------------------------------------------------------------------------------------
# a tanh that LLVM can vectorise
# ----------------------------------------------------------------------------------------
# Without Intel's SVML, Numba's math.tanh is one libm call per element and a loop over it
# stays scalar; tanh is most of the cost of the drift. _tanh below is branch-free IEEE
# arithmetic (no fastmath): tanh(u) = sign(u) e/(e + 2), e = expm1(2|u|), with expm1 by
# range reduction 2|u| = k ln2 + r, |r| ≤ ln2/2, a degree-13 Taylor polynomial of
# expm1(r) (truncation < 1e-17 relative) and 2^k built in the exponent bits. Relative
# error a few ulp (checked against np.tanh in tests/test_meanfield.py).

_LN2_HI = 6.93147180369123816490e-01      # ln 2 with 21 trailing zero bits: k·_LN2_HI exact
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e+00
_ROUND_MAGIC = 6755399441055744.0         # 1.5·2^52: x + magic rounds x to an integer
_TANH_ONE = 20.0                           # |u| ≥ 20: tanh(u) rounds to ±1


@intrinsic
def _float_bits(typingctx, x):
    """The IEEE bits of a float64 as an int64 (an LLVM bitcast, vectorisable)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return sig, codegen


@intrinsic
def _bits_float(typingctx, i):
    """The float64 with the IEEE bits of an int64 (an LLVM bitcast, vectorisable)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return sig, codegen


@njit(cache=True, inline="always")
def _tanh(u):
    """tanh(u), branch-free (selects only), so that a loop over it vectorises."""
    a = abs(u)
    a = _TANH_ONE if a > _TANH_ONE else a           # a select (NaN stays NaN)
    x = 2.0 * a                                     # 0 ≤ x ≤ 40
    shifted = x * _INV_LN2 + _ROUND_MAGIC
    kf = shifted - _ROUND_MAGIC                     # round(x / ln 2), 0 ≤ k ≤ 58
    r = (x - kf * _LN2_HI) - kf * _LN2_LO           # |r| ≤ ln2/2 (+ rounding)
    q = 1.0 / 6227020800.0
    q = q * r + 1.0 / 479001600.0
    q = q * r + 1.0 / 39916800.0
    q = q * r + 1.0 / 3628800.0
    q = q * r + 1.0 / 362880.0
    q = q * r + 1.0 / 40320.0
    q = q * r + 1.0 / 5040.0
    q = q * r + 1.0 / 720.0
    q = q * r + 1.0 / 120.0
    q = q * r + 1.0 / 24.0
    q = q * r + 1.0 / 6.0
    q = q * r + 0.5
    em1_r = r + r * r * q                           # expm1(r)
    # 2^k from the exponent bits: the low bits of `shifted` hold k
    two_k = _bits_float((_float_bits(shifted) + 1023) << 52)
    e = two_k * em1_r + (two_k - 1.0)               # expm1(x) = 2^k expm1(r) + 2^k − 1
    t = e / (e + 2.0)
    return t if u >= 0.0 else -t


@njit(cache=True, inline="always")
def _sigma(u, act):
    """σ(u)."""
    if act == 1:
        return _tanh(u)
    if act == 2:
        return u if u > 0.0 else 0.0
    if act == 3:
        if u >= 0.0:
            return 1.0 / (1.0 + math.exp(-u))
        e = math.exp(u)
        return e / (1.0 + e)
    return u


# error_model="numpy": a float division without Numba's zero-division check, whose branch
# would keep the loops from vectorising (the division e/(e + 2) has e + 2 ≥ 2)
@njit(cache=True, error_model="numpy")
def _activate(u, s, m, act):
    """s[j] = σ(u[j]), j < m: one loop per activation, so that each vectorises."""
    if act == 1:
        for j in range(m):
            s[j] = _tanh(u[j])
    elif act == 2:
        for j in range(m):
            s[j] = u[j] if u[j] > 0.0 else 0.0
    elif act == 3:
        for j in range(m):
            s[j] = _sigma(u[j], 3)
    else:
        for j in range(m):
            s[j] = u[j]


@njit(cache=True, error_model="numpy")
def _activate_prime(u, s, ds, m, act):
    """s[j] = σ(u[j]), ds[j] = σ'(u[j]) (relu'(0) = 0), j < m."""
    if act == 1:
        for j in range(m):
            t = _tanh(u[j])
            s[j] = t
            ds[j] = 1.0 - t * t
    elif act == 2:
        for j in range(m):
            pos = u[j] > 0.0
            s[j] = u[j] if pos else 0.0
            ds[j] = 1.0 if pos else 0.0
    elif act == 3:
        for j in range(m):
            t = _sigma(u[j], 3)
            s[j] = t
            ds[j] = t * (1.0 - t)
    else:
        for j in range(m):
            s[j] = u[j]
            ds[j] = 1.0


@njit(cache=True, inline="always")
def _preactivation(x, i, zt, u, m, p):
    """u[j] = x_i · z_j, j < m (zt = zᵀ (p, M): unit-stride over j, vectorised)."""
    xi = x[i, 0]
    z0 = zt[0]
    for j in range(m):
        u[j] = xi * z0[j]
    for k in range(1, p):
        xk = x[i, k]
        zk = zt[k]
        for j in range(m):
            u[j] += xk * zk[j]


@njit(cache=True, inline="always")
def _transposed(z):
    m, p = z.shape
    zt = np.empty((p, m))
    for j in range(m):
        for k in range(p):
            zt[k, j] = z[j, k]
    return zt


@njit(cache=True, inline="always")
def _dot4(a, b, m):
    """Σ_j a[j] b[j] in four interleaved partial sums (a fixed order: deterministic)."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    m4 = m - m % 4
    for j in range(0, m4, 4):
        s0 += a[j] * b[j]
        s1 += a[j + 1] * b[j + 1]
        s2 += a[j + 2] * b[j + 2]
        s3 += a[j + 3] * b[j + 3]
    for j in range(m4, m):
        s0 += a[j] * b[j]
    return (s0 + s1) + (s2 + s3)


#: points per block of the residual reduction (fixed: the sum order, hence the result,
#: does not depend on the thread count)
POINT_BLOCK = 128
#: queries per parallel task of the drift
QUERY_BLOCK = 64


@threaded
def network_outputs(points, weights, net, out):
    """out[j] = f_μ(z_j) = Σ_i w_i h(x_i; z_j).

    Parallel over fixed blocks of POINT_BLOCK points, each block's partial sums (M,) in
    point order, then the blocks summed in block order: deterministic, any thread count.

    Parameters
    ----------
    points : float64 (n, d);  weights : float64 (n,);  net : NetworkArrays
    out : float64 (M,), written
    """
    z = net.z
    m, p = z.shape
    n = points.shape[0]
    act = net.activation
    zt = _transposed(z)
    nblk = (n + POINT_BLOCK - 1) // POINT_BLOCK
    partial = np.zeros((nblk, m))
    for b in prange(nblk):
        u = np.empty(m)
        s = np.empty(m)
        acc = partial[b]
        for i in range(b * POINT_BLOCK, min(n, (b + 1) * POINT_BLOCK)):
            scale = points[i, p] if net.learned else net.c
            c = weights[i] * scale
            if c == 0.0:
                continue
            _preactivation(points, i, zt, u, m, p)
            _activate(u, s, m, act)
            for j in range(m):
                acc[j] += c * s[j]
    for j in prange(m):
        tot = 0.0
        for b in range(nblk):
            tot += partial[b, j]
        out[j] = tot


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

    Per query: the pre-activations u_j and σ(u_j), σ'(u_j) as vectors over the data, then
    the sums over j (parallel over blocks of queries; per query a fixed order).

    Parameters
    ----------
    query : float64 (nq, d);  net : NetworkArrays;  resid : float64 (M,), the residuals
    out : float64 (nq, d), written
    """
    z = net.z
    m, p = z.shape
    act = net.activation
    inv_m = 1.0 / m
    zt = _transposed(z)
    nq = query.shape[0]
    nblk = (nq + QUERY_BLOCK - 1) // QUERY_BLOCK
    for b in prange(nblk):
        u = np.empty(m)
        s = np.empty(m)
        ds = np.empty(m)
        for q in range(b * QUERY_BLOCK, min(nq, (b + 1) * QUERY_BLOCK)):
            scale = query[q, p] if net.learned else net.c
            _preactivation(query, q, zt, u, m, p)
            _activate_prime(u, s, ds, m, act)
            for j in range(m):
                ds[j] *= resid[j]                  # r_j σ'(u_j)
            for k in range(p):
                out[q, k] = scale * _dot4(ds, zt[k], m) * inv_m
            if net.learned:
                out[q, p] = _dot4(s, resid, m) * inv_m


@njit(cache=True, error_model="numpy")
def _prime_from_sigma(s, ds, m, act):
    """ds[j] = σ'(u_j) from s[j] = σ(u_j) (each activation's derivative is a function of
    its value: tanh 1 − s², sigmoid s(1 − s), relu [s > 0], identity 1)."""
    if act == 1:
        for j in range(m):
            ds[j] = 1.0 - s[j] * s[j]
    elif act == 2:
        for j in range(m):
            ds[j] = 1.0 if s[j] > 0.0 else 0.0
    elif act == 3:
        for j in range(m):
            ds[j] = s[j] * (1.0 - s[j])
    else:
        for j in range(m):
            ds[j] = 1.0


#: the largest n·M for which :func:`network_self_drift`'s callers keep the activations
#: (8 bytes each) between the residual and the drift pass
STORE_MAX_ENTRIES = 1 << 24


@threaded
def network_self_drift(points, weights, net, resid, out, store):
    """Residuals and drift at the measure's own points in one call, σ evaluated once per
    pair when ``store`` has room for the activations.

    The same numbers as :func:`network_residuals` then :func:`network_drift` (points as
    query), bit for bit: the same operations in the same order, with σ(u_ij) kept in
    ``store[i]`` by the residual pass and σ'(u_ij) computed from it by the drift pass.

    Parameters
    ----------
    points : float64 (n, d);  weights : float64 (n,);  net : NetworkArrays
    resid : float64 (M,), written: f_μ(z_j) − y_j
    out : float64 (n, d), written: ∇x δF/δμ(x_i)
    store : float64 (n, M) workspace, or (0, M): σ recomputed in the drift pass
    """
    z = net.z
    m, p = z.shape
    n = points.shape[0]
    act = net.activation
    keep = store.shape[0] == n
    zt = _transposed(z)
    nblk = (n + POINT_BLOCK - 1) // POINT_BLOCK
    partial = np.zeros((nblk, m))
    for b in prange(nblk):
        u = np.empty(m)
        s = np.empty(m)
        acc = partial[b]
        for i in range(b * POINT_BLOCK, min(n, (b + 1) * POINT_BLOCK)):
            scale = points[i, p] if net.learned else net.c
            c = weights[i] * scale
            if c == 0.0 and not keep:
                continue
            _preactivation(points, i, zt, u, m, p)
            si = store[i] if keep else s
            _activate(u, si, m, act)
            if c == 0.0:
                continue
            for j in range(m):
                acc[j] += c * si[j]
    for j in prange(m):
        tot = 0.0
        for b in range(nblk):
            tot += partial[b, j]
        resid[j] = tot - net.y[j]
    inv_m = 1.0 / m
    nq = (n + QUERY_BLOCK - 1) // QUERY_BLOCK
    for b in prange(nq):
        u = np.empty(m)
        s = np.empty(m)
        ds = np.empty(m)
        for q in range(b * QUERY_BLOCK, min(n, (b + 1) * QUERY_BLOCK)):
            scale = points[q, p] if net.learned else net.c
            if keep:
                sq = store[q]
                _prime_from_sigma(sq, ds, m, act)
            else:
                sq = s
                _preactivation(points, q, zt, u, m, p)
                _activate_prime(u, s, ds, m, act)
            for j in range(m):
                ds[j] *= resid[j]
            for k in range(p):
                out[q, k] = scale * _dot4(ds, zt[k], m) * inv_m
            if net.learned:
                out[q, p] = _dot4(sq, resid, m) * inv_m


@threaded
def network_self_potential(points, weights, net, resid, out, store):
    """Residuals and δF/δμ at the measure's own points in one call, σ evaluated once per
    pair when ``store`` has room for the activations.

    The same numbers as :func:`network_residuals` then :func:`network_first_variation`
    (points as query), bit for bit: the residual pass keeps σ(u_ij) in ``store[i]``, and
    δF/δμ(x_i) = (scale_i/M) Σ_j r_j σ(u_ij) is then a mat-vec with the stored σ (the grid's
    stages need the potential only at the cell centres: n·M activations per stage).

    Parameters
    ----------
    points : float64 (n, d);  weights : float64 (n,);  net : NetworkArrays
    resid : float64 (M,), written: f_μ(z_j) − y_j
    out : float64 (n,), written: δF/δμ(x_i)
    store : float64 (n, M) workspace, or (0, M): σ recomputed in the second pass
    """
    z = net.z
    m, p = z.shape
    n = points.shape[0]
    act = net.activation
    keep = store.shape[0] == n
    zt = _transposed(z)
    nblk = (n + POINT_BLOCK - 1) // POINT_BLOCK
    partial = np.zeros((nblk, m))
    for b in prange(nblk):
        u = np.empty(m)
        s = np.empty(m)
        acc = partial[b]
        for i in range(b * POINT_BLOCK, min(n, (b + 1) * POINT_BLOCK)):
            scale = points[i, p] if net.learned else net.c
            c = weights[i] * scale
            if c == 0.0 and not keep:
                continue
            _preactivation(points, i, zt, u, m, p)
            si = store[i] if keep else s
            _activate(u, si, m, act)
            if c == 0.0:
                continue
            for j in range(m):
                acc[j] += c * si[j]
    for j in prange(m):
        tot = 0.0
        for b in range(nblk):
            tot += partial[b, j]
        resid[j] = tot - net.y[j]
    nq = (n + QUERY_BLOCK - 1) // QUERY_BLOCK
    for b in prange(nq):
        u = np.empty(m)
        s = np.empty(m)
        for q in range(b * QUERY_BLOCK, min(n, (b + 1) * QUERY_BLOCK)):
            scale = points[q, p] if net.learned else net.c
            if keep:
                sq = store[q]
            else:
                sq = s
                _preactivation(points, q, zt, u, m, p)
                _activate(u, s, m, act)
            out[q] = scale * _dot4(sq, resid, m) / m


@threaded
def network_first_variation(query, net, resid, out):
    """out[q] = δF/δμ(x_q) = (1/M) Σ_j r_j h(x_q; z_j); query (nq, d), out (nq,)."""
    z = net.z
    m, p = z.shape
    act = net.activation
    zt = _transposed(z)
    nq = query.shape[0]
    nblk = (nq + QUERY_BLOCK - 1) // QUERY_BLOCK
    for b in prange(nblk):
        u = np.empty(m)
        s = np.empty(m)
        for q in range(b * QUERY_BLOCK, min(nq, (b + 1) * QUERY_BLOCK)):
            scale = query[q, p] if net.learned else net.c
            _preactivation(query, q, zt, u, m, p)
            _activate(u, s, m, act)
            out[q] = scale * _dot4(s, resid, m) / m


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
