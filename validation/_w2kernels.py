"""Numba kernels for exact one-dimensional W2 against piecewise-linear densities.

All kernels compute

    W2² = ∫₀¹ |F_N⁻¹(u) − F⁻¹(u)|² du

between the empirical measure of N sorted samples (quantile function F_N⁻¹ = x_(i) on
((i−1)/N, i/N]) and a measure with a *piecewise-linear* density q on the real line.
The density is described by sorted events at positions y_k: crossing y_k adds
``jump[k]`` to the density and ``slope[k]`` to its slope, so between two consecutive
events q(y) = f_k + s_k (y − y_k). Piecewise-constant cell densities (1-D grids) are the
case slope ≡ 0; the projection of a phase-space cell (uniform on a rectangle) onto a
direction is a trapezoid law, i.e. four slope events.

The sweep merges the N sample breakpoints u = i/N with the mass breakpoints of q in one
pass (O(N + M)). On a piece where sample i is matched with y ∈ [y_a, y_b] (a subinterval
of one linear piece of q, carrying mass exactly 1/N or less), the contribution is

    ∫_{y_a}^{y_b} (x_i − y)² q(y) dy,

the change of variables u = F(y) applied to ∫ |x_i − F⁻¹(u)|² du. The integrand is a
cubic polynomial in y, so Simpson's rule evaluates it exactly, and every term is
non-negative (no cancellation between large moments). The end y_b of a piece is found by
inverting the quadratic F on the linear piece with the cancellation-free root
t = 2r / (f + sqrt(f² + 2 s r)).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# A trapezoid whose short side is below this fraction of the long one is replaced by the
# uniform law of the long side, shifted by half the short side: this moves every point by
# at most (short side)/2 ≤ 5e-5 × (long side), and avoids slopes ~ 1/(w_a w_b) whose
# round-off would otherwise accumulate along the sweep.
TRAPEZOID_MIN_RATIO = 1e-4


@njit(cache=True)
def _piece(x, y0, fa, se, ta, tb):
    """∫_{ta}^{tb} (y0 + t − x)² (fa + se t) dt by Simpson's rule (exact for cubics)."""
    if tb <= ta:
        return 0.0
    tm = 0.5 * (ta + tb)
    da = y0 + ta - x
    dm = y0 + tm - x
    db = y0 + tb - x
    ga = da * da * (fa + se * ta)
    gm = dm * dm * (fa + se * tm)
    gb = db * db * (fa + se * tb)
    return (tb - ta) * (ga + 4.0 * gm + gb) / 6.0


@njit(cache=True)
def _invert(fa, se, r, dy):
    """t ∈ [0, dy] with fa t + se t²/2 = r (r ≥ 0), the stable root."""
    if r <= 0.0:
        return 0.0
    disc = fa * fa + 2.0 * se * r
    if disc < 0.0:
        disc = 0.0
    den = fa + np.sqrt(disc)
    if den <= 0.0:
        return dy
    t = 2.0 * r / den
    if t > dy:
        t = dy
    return t


@njit(cache=True, nogil=True)
def sweep_events(xs, pos, jump, slope):
    """W2² between sorted samples ``xs`` and the piecewise-linear density given by events.

    Parameters
    ----------
    xs : float64 (N,), sorted ascending.
    pos : float64 (M,), sorted ascending event positions.
    jump, slope : float64 (M,), density jump and slope change at each event. The
        density is assumed to integrate to 1 (round-off is tolerated: a deficit leaves
        the last sample's tail unmatched, an excess is ignored; both are O(1e-16)).
    """
    n = xs.shape[0]
    m = pos.shape[0]
    inv_n = 1.0 / n
    total = 0.0
    i = 0
    c = 0.0
    f = 0.0
    s = 0.0
    for k in range(m - 1):
        f += jump[k]
        s += slope[k]
        y0 = pos[k]
        dy = pos[k + 1] - y0
        if dy <= 0.0:
            continue
        f_left = f
        f += s * dy  # density at the next event, before its jump
        fa = f_left if f_left > 0.0 else 0.0
        fb = f
        if fb < 0.0:
            fb = 0.0
        mass = 0.5 * (fa + fb) * dy
        if mass <= 0.0:
            continue
        se = (fb - fa) / dy
        c_end = c + mass
        ta = 0.0
        while i < n:
            u_hi = (i + 1) * inv_n
            if u_hi < c_end:
                tb = _invert(fa, se, u_hi - c, dy)
                if tb < ta:
                    tb = ta
                total += _piece(xs[i], y0, fa, se, ta, tb)
                ta = tb
                i += 1
            else:
                total += _piece(xs[i], y0, fa, se, ta, dy)
                break
        c = c_end
        if i >= n:
            break
    return total


@njit(cache=True, nogil=True)
def sweep_cells(xs, edges, dens):
    """W2² between sorted samples and the piecewise-constant density ``dens`` on ``edges``.

    Same sweep as :func:`sweep_events` with the density read directly per cell (no
    accumulated jumps); ``dens`` (K,) must integrate to 1 over ``edges`` (K+1,).
    """
    n = xs.shape[0]
    kc = dens.shape[0]
    inv_n = 1.0 / n
    total = 0.0
    i = 0
    c = 0.0
    for k in range(kc):
        fa = dens[k]
        y0 = edges[k]
        dy = edges[k + 1] - y0
        mass = fa * dy
        if mass <= 0.0:
            continue
        c_end = c + mass
        ta = 0.0
        while i < n:
            u_hi = (i + 1) * inv_n
            if u_hi < c_end:
                tb = (u_hi - c) / fa
                if tb > dy:
                    tb = dy
                if tb < ta:
                    tb = ta
                total += _piece(xs[i], y0, fa, 0.0, ta, tb)
                ta = tb
                i += 1
            else:
                total += _piece(xs[i], y0, fa, 0.0, ta, dy)
                break
        c = c_end
        if i >= n:
            break
    return total


@njit(cache=True, nogil=True)
def sweep_samples(a, b):
    """W2² between two sorted samples of sizes n_a, n_b (merge of i/n_a and j/n_b).

    Breakpoints are compared in exact integer arithmetic: i/n_a < j/n_b ⇔ i n_b < j n_a.
    """
    na = a.shape[0]
    nb = b.shape[0]
    total = 0.0
    i = 0
    j = 0
    prev = 0  # current u times na*nb (as integer)
    while i < na and j < nb:
        ea = (i + 1) * nb  # end of a's piece i, in units of 1/(na nb)
        eb = (j + 1) * na
        e = ea if ea < eb else eb
        d = a[i] - b[j]
        total += (e - prev) * d * d
        prev = e
        if ea == e:
            i += 1
        if eb == e:
            j += 1
    return total / (float(na) * float(nb))


@njit(cache=True, nogil=True)
def project_direction(x, v, c, s, cx, cv, hx, hv, m, z, pos, jump, slope):
    """Project particles and grid cells onto the direction (c, s), in one compiled call.

    Particles: z[i] = c x[i] + s v[i]. Cells: the events of the projection of
    uniform-on-rectangle cells. A cell of mass m, centre (cx, cv) and sides (hx, hv)
    projects to the law of z₀ + U₁ + U₂ with U₁ ~ U[−w₁/2, w₁/2], U₂ ~ U[−w₂/2, w₂/2],
    w₁ = |c| hx, w₂ = |s| hv: a trapezoid with corners lo, lo + w_a, lo + w_b,
    lo + w_a + w_b (w_a ≤ w_b, lo = z₀ − (w_a + w_b)/2) and height m / w_b; its density has
    slope ±m/(w_a w_b). Cell q fills events 4q … 4q + 3 of ``pos``, ``jump``, ``slope``
    (4K,). One kernel rather than two so a first run compiles one dispatcher less.
    """
    for i in range(x.shape[0]):
        z[i] = c * x[i] + s * v[i]
    k = cx.shape[0]
    for q in range(k):
        w1 = abs(c) * hx[q]
        w2 = abs(s) * hv[q]
        wa = w1 if w1 < w2 else w2
        wb = w2 if w1 < w2 else w1
        z0 = c * cx[q] + s * cv[q]
        lo = z0 - 0.5 * (wa + wb)
        mq = m[q]
        b = 4 * q
        if wa > TRAPEZOID_MIN_RATIO * wb:
            sl = mq / (wa * wb)
            pos[b] = lo
            pos[b + 1] = lo + wa
            pos[b + 2] = lo + wb
            pos[b + 3] = lo + wa + wb
            jump[b] = 0.0
            jump[b + 1] = 0.0
            jump[b + 2] = 0.0
            jump[b + 3] = 0.0
            slope[b] = sl
            slope[b + 1] = -sl
            slope[b + 2] = -sl
            slope[b + 3] = sl
        else:
            h = mq / wb
            pos[b] = lo + 0.5 * wa
            pos[b + 1] = lo + 0.5 * wa + wb
            pos[b + 2] = lo + 0.5 * wa + wb
            pos[b + 3] = lo + 0.5 * wa + wb
            jump[b] = h
            jump[b + 1] = -h
            jump[b + 2] = 0.0
            jump[b + 3] = 0.0
            slope[b] = 0.0
            slope[b + 1] = 0.0
            slope[b + 2] = 0.0
            slope[b + 3] = 0.0


def projected_w2sq(x, v, c, s, cx, cv, hx, hv, m, zbuf=None):
    """Exact W2² between projected particles c x + s v and the projected grid measure.

    Every step releases the GIL (Numba ``nogil`` kernels, NumPy's sort and argsort), so
    directions can run concurrently in threads. ``zbuf`` (N,) is an optional work buffer.
    """
    z = np.empty(x.shape[0]) if zbuf is None else zbuf
    k = cx.shape[0]
    pos = np.empty(4 * k)
    jump = np.empty(4 * k)
    slope = np.empty(4 * k)
    project_direction(x, v, c, s, cx, cv, hx, hv, m, z, pos, jump, slope)
    z.sort()
    order = np.argsort(pos)
    return sweep_events(z, pos[order], jump[order], slope[order])


def project_direction_reference(x, v, c, s, cx, cv, hx, hv, m):
    """NumPy twin of :func:`project_direction` (for tests): returns ``z, pos, jump, slope``."""
    z = c * x + s * v
    w1 = abs(c) * hx
    w2 = abs(s) * hv
    wa = np.minimum(w1, w2)
    wb = np.maximum(w1, w2)
    lo = (c * cx + s * cv) - 0.5 * (wa + wb)
    trap = wa > TRAPEZOID_MIN_RATIO * wb
    with np.errstate(divide="ignore", invalid="ignore"):
        sl = np.where(trap, m / (wa * wb), 0.0)
        h = np.where(trap, 0.0, m / wb)
    box = lo + 0.5 * wa
    pos = np.stack([np.where(trap, lo, box), np.where(trap, lo + wa, box + wb),
                    np.where(trap, lo + wb, box + wb), np.where(trap, lo + wa + wb, box + wb)])
    zero = np.zeros_like(lo)
    jump = np.stack([h, -h, zero, zero])
    slope = np.stack([sl, -sl, -sl, sl])
    return z, pos.ravel("F"), jump.ravel("F"), slope.ravel("F")
