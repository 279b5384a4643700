"""Numba kernels for sliced W2 between particles and a grid density in D ≥ 2 dimensions.

One direction θ (unit vector in R^D) at a time. A cell of the tensor grid, of mass m,
centre c and sides h, is uniform on its box, so its projection θ·z is the law of
θ·c + Σ_a U_a with independent U_a ~ U(±w_a/2), w_a = |θ_a| h_a: a B-spline of degree
D − 1, which no closed-form quantile sweep handles for D > 2. Each cell is therefore
replaced by the *moment-matched trapezoid*: the law of θ·c + U + U' with the two widths

    w_short = the second-largest w_a,   w_long = sqrt(Σ_a w_a² − w_short²),

which has the cell's exact mean and variance (Σ w_a²/12) and is exact when D = 2 (then
w_long is the largest width). The shape error is small: measured for D = 4 and unit θ, the
W2 distance between a cell's exact projection and its trapezoid is at most ≈ 0.025 × the
cell's longest side (equal projected widths are the worst case found), against h/√12 ≈
0.29 h for a centre atom. By the cell-wise coupling the same bound holds for the whole
mixture, so per direction |W2(est) − W2(exact)| ≤ 0.025 max h.

The mixture of trapezoids is a piecewise-linear density. Instead of sorting its 4K corners
(K cells: 4·10⁶ corners at 32⁴ cells, too slow per direction) its values are accumulated
*exactly* on M equally spaced nodes y_j = y0 + j Δy in O(K + M): a trapezoid is a sum of
four ramps s (y − p)_+, and a ramp at p ∈ [y_b, y_{b+1}) adds s (y_{b+1} − p) to the node
value and s to the slope from node b + 1 on. The density used is the linear interpolant of
those node values (it differs from the mixture only inside the node intervals that hold a
corner, by O(s Δy)), renormalised to mass 1. Δy is far below the cell sizes
(M = 32768 nodes over the projected grid), so this adds a W2 error of order Δy.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._w2kernels import _invert, _piece


@njit(cache=True, nogil=True)
def cells_to_nodes(index, mass, proj_centre, proj_width, y0, dy, slope_inc,
                   value_jump, point):
    """Accumulate the moment-matched trapezoids of the cells on the nodes y0 + j dy.

    Parameters
    ----------
    index : int32 (K, D)
        Multi-indices of the cells (of positive mass) to project.
    mass : float64 (K,)
        Their masses.
    proj_centre : float64 (D, n_max)
        θ_a × centre of cell i along axis a (padded rows).
    proj_width : float64 (D, n_max)
        |θ_a| × width of cell i along axis a.
    y0, dy : float
        First node and node spacing; every projected cell must lie in
        [y0 + dy, y0 + (M − 2) dy].
    slope_inc, value_jump, point : float64 (M,)
        Outputs, zeroed by the caller: slope change and value jump at each node, and
        direct node values (cells narrower than 2 dy, deposited as hat functions).
        Node values: q_{j+1} = q_j + dy Σ_{i≤j} slope_inc_i + value_jump_{j+1}, plus point.
    """
    d = index.shape[1]
    n_nodes = slope_inc.shape[0]
    for q in range(index.shape[0]):
        z0 = 0.0
        w_first = 0.0
        w_second = 0.0
        sum_sq = 0.0
        for a in range(d):
            i = index[q, a]
            z0 += proj_centre[a, i]
            w = proj_width[a, i]
            sum_sq += w * w
            if w > w_first:
                w_second = w_first
                w_first = w
            elif w > w_second:
                w_second = w
        w_short = w_second
        w_long = np.sqrt(max(sum_sq - w_short * w_short, 0.0))
        m = mass[q]
        if w_long <= 2.0 * dy:
            # Narrower than two node spacings: a hat at the centre (mass and mean kept).
            t = (z0 - y0) / dy
            b = int(np.floor(t))
            b = min(max(b, 0), n_nodes - 2)
            frac = t - b
            point[b] += m * (1.0 - frac) / dy
            point[b + 1] += m * frac / dy
            continue
        lo = z0 - 0.5 * (w_short + w_long)
        if w_short > dy:
            s = m / (w_short * w_long)
            _ramp(lo, s, y0, dy, slope_inc, value_jump)
            _ramp(lo + w_short, -s, y0, dy, slope_inc, value_jump)
            _ramp(lo + w_long, -s, y0, dy, slope_inc, value_jump)
            _ramp(lo + w_short + w_long, s, y0, dy, slope_inc, value_jump)
        else:
            # Short side below one node spacing: a box of the long side (moves mass by at
            # most dy/2, the order of the node interpolation itself); avoids huge slopes.
            h = m / w_long
            _step(lo + 0.5 * w_short, h, y0, dy, value_jump)
            _step(lo + 0.5 * w_short + w_long, -h, y0, dy, value_jump)


@njit(cache=True, nogil=True)
def _ramp(p, s, y0, dy, slope_inc, value_jump):
    """Add s (y − p)_+ on the nodes: value s (y_{b+1} − p) at node b + 1, slope s after."""
    b = int(np.floor((p - y0) / dy))
    b = min(max(b, 0), slope_inc.shape[0] - 2)
    y_next = y0 + (b + 1) * dy
    value_jump[b + 1] += s * (y_next - p)
    slope_inc[b + 1] += s


@njit(cache=True, nogil=True)
def _step(p, h, y0, dy, value_jump):
    """Add h 1{y ≥ p} on the nodes (jump at the first node at or after p)."""
    b = int(np.floor((p - y0) / dy))
    b = min(max(b, 0), value_jump.shape[0] - 2)
    value_jump[b + 1] += h


@njit(cache=True, nogil=True)
def node_values(slope_inc, value_jump, point, dy, out):
    """Node values of the accumulated density (clipped at 0), normalised to mass 1 under
    the trapezoid rule (the linear interpolant's mass); returns the mass before."""
    n = slope_inc.shape[0]
    slope = 0.0
    val = 0.0
    for j in range(n):
        val += value_jump[j]
        out[j] = val
        slope += slope_inc[j]
        val += slope * dy
    total = 0.0
    for j in range(n):
        v = out[j] + point[j]
        if v < 0.0:
            v = 0.0
        out[j] = v
    for j in range(n - 1):
        total += 0.5 * (out[j] + out[j + 1]) * dy
    if total > 0.0:
        for j in range(n):
            out[j] /= total
    return total


@njit(cache=True, nogil=True)
def sweep_nodes(xs, y0, dy, q):
    """W2² between sorted samples ``xs`` and the piecewise-linear density with node values
    ``q`` (M,) at y0 + j dy (integrating to 1), exactly (closed form on every piece).

    Same merge as :func:`vfp.validation._w2kernels.sweep_events`, the density read from
    the nodes instead of accumulated events.
    """
    n = xs.shape[0]
    m = q.shape[0]
    inv_n = 1.0 / n
    total = 0.0
    i = 0
    c = 0.0
    for k in range(m - 1):
        fa = q[k]
        fb = q[k + 1]
        mass = 0.5 * (fa + fb) * dy
        if mass <= 0.0:
            continue
        y_start = y0 + k * dy
        se = (fb - fa) / dy
        c_end = c + mass
        ta = 0.0
        while i < n:
            u_hi = (i + 1) * inv_n
            if u_hi < c_end:
                tb = _invert(fa, se, u_hi - c, dy)
                if tb < ta:
                    tb = ta
                total += _piece(xs[i], y_start, fa, se, ta, tb)
                ta = tb
                i += 1
            else:
                total += _piece(xs[i], y_start, fa, se, ta, dy)
                break
        c = c_end
        if i >= n:
            break
    return total


def cells_to_nodes_reference(index, mass, proj_centre, proj_width, y0, dy, n_nodes):
    """NumPy twin of :func:`cells_to_nodes` + :func:`node_values` (for tests).

    Evaluates the mixture of moment-matched trapezoids (boxes, hats) directly at every
    node: ramps s (y_j − p)_+ summed, steps h 1{y_j ≥ first node ≥ p}. Returns the
    normalised node values, shape (M,).
    """
    idx = index.T
    d = index.shape[1]
    z0 = sum(proj_centre[a, idx[a]] for a in range(d))
    w = np.stack([proj_width[a, idx[a]] for a in range(d)])  # (D, K)
    ws = np.sort(w, axis=0)
    w_short = ws[-2]
    w_long = np.sqrt(np.maximum((w ** 2).sum(axis=0) - w_short ** 2, 0.0))
    y = y0 + dy * np.arange(n_nodes)
    out = np.zeros(n_nodes)
    hat = w_long <= 2 * dy
    trap = ~hat & (w_short > dy)
    box = ~hat & ~trap
    lo = z0 - 0.5 * (w_short + w_long)

    def snap(p):  # the first node strictly after the interval holding p
        b = np.clip(np.floor((p - y0) / dy).astype(np.int64), 0, n_nodes - 2)
        return y0 + (b + 1) * dy

    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(trap, mass / (w_short * w_long), 0.0)
        h = np.where(box, mass / w_long, 0.0)
    for p, sign in ((lo, 1), (lo + w_short, -1), (lo + w_long, -1),
                    (lo + w_short + w_long, 1)):
        p_t, s_t = p[trap], sign * s[trap]
        start = snap(p_t)
        out += np.sum(np.where(y[:, None] >= start[None, :] - 0.5 * dy,
                               s_t * (y[:, None] - p_t), 0.0), axis=1)
    for p, sign in ((lo + 0.5 * w_short, 1), (lo + 0.5 * w_short + w_long, -1)):
        start = snap(p[box])
        out += np.sum(np.where(y[:, None] >= start[None, :] - 0.5 * dy,
                               sign * h[box], 0.0), axis=1)
    t = (z0[hat] - y0) / dy
    b = np.clip(np.floor(t).astype(np.int64), 0, n_nodes - 2)
    frac = t - b
    np.add.at(out, b, mass[hat] * (1 - frac) / dy)
    np.add.at(out, b + 1, mass[hat] * frac / dy)
    out = np.maximum(out, 0.0)
    total = np.sum(0.5 * (out[1:] + out[:-1])) * dy
    return out / total if total > 0 else out
