"""Numba kernels of the finite-volume fluxes and the regime functions of the time loop.

Notation (kinetic): ``f[i, j]`` cell averages, i over x (``nx`` rows), j over v (``nv``
columns, contiguous). ``vc[j]`` are v-centres, ``vf[j]`` v-edges (``nv + 1``), ``G[i]`` the
force ``V'(x_i) + (W' * ρ)(x_i)``. One forward-Euler stage computes

    L(f)_ij = −(F_{i+1/2,j} − F_{i−1/2,j})/hx − (J_{i,j+1/2} − J_{i,j−1/2})/hv

    F_{i+1/2,j} = v_j f⁻  (upwind on sign v_j),
    x-walls (specular): F_{−1/2,j} = −F_{−1/2,j'}, F_{nx−1/2,j} = −F_{nx−1/2,j'}, j' = nv−1−j,
    J_{i,j+1/2} = −a f^{up} − γλ (f_{i,j+1} − f_{ij})/hv,  a = γ v_{j+1/2} + G_i,
                  f^{up} from cell j if −a > 0, from j + 1 otherwise;  J = 0 on outer v-faces.

The v-centres are exactly antisymmetric (``vc[j'] = −vc[j]``, see
:func:`grids.grid.symmetric_centres`), so the mass leaving through a wall at v_j is, to
the last bit, the mass entering the same wall cell at v_j' = −v_j: a ghost cell beyond
the wall holding the wall cell's values mirrored in v. ``upwind`` uses cell values as
face values; ``muscl`` uses MC-limited linear reconstructions ``f_i ± s_i/2`` (the face value stays between the neighbouring averages, in
particular in ``[0, 2 f_i]``). Overdamped: ρ[i] on ``n`` cells,

    J_{i+1/2} = −a_{i+1/2} ρ^{up} − λ (ρ_{i+1} − ρ_i)/h,   ρ^{up} from i if −a > 0.

Every update kernel also writes per-row (per-block) partial sums, minima and maxima of the
new state, so the time loop checks mass, positivity and finiteness at no extra pass.

All kernels take arrays, scalars and named tuples of them (no closures), so
``cache=True`` keeps the compiled code on disk between processes. No ``fastmath``.
Kernels with ``prange`` are declared with :func:`grids.driver.threaded` (one source, a
parallel and a serial build). The time loop itself is :func:`grids.driver.drive`.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit, prange

from .convolution import conv_apply
from .driver import N_DIAG, NEG_TOL, check_partials, record_diagnostics, threaded  # noqa: F401
from .driver import pick
from .meanfield import (network_drift, network_first_variation, network_residuals,
                        network_self_drift, network_self_potential, network_value)

# serial builds of the network kernels for the compiled steps: a parallel (gufunc) kernel
# called from a cached serial time loop crashed when the loop was loaded from the cache
_net_residuals = pick(network_residuals, False)
_net_drift = pick(network_drift, False)
_net_first_variation = pick(network_first_variation, False)
_net_self_drift = pick(network_self_drift, False)
_net_self_potential = pick(network_self_potential, False)


N_BLOCKS = 64  # overdamped: parallel blocks

#: grids with at least this many cells use the threaded kernels (below, one thread launch
#: per stage costs more than the work it splits: measured ~20-50 µs per launch here)
PARALLEL_MIN_CELLS = 32768


@njit(cache=True, inline="always")
def mc_slope(a, b, c):
    """Monotonised-central limited slope (per cell) of the middle value of (a, b, c).

    ``s = minmod(2(b − a), (c − a)/2, 2(c − b))``, written branch-free as
    ``½ (sign(dl) + sign(dr)) · min(2|dl|, 2|dr|, |dl + dr|/2)`` (zero unless the one-sided
    differences dl = b − a and dr = c − b have the same strict sign). ``b ± s/2`` lies
    between the neighbours.
    """
    dl = b - a
    dr = c - b
    t = min(2.0 * abs(dl), 2.0 * abs(dr), 0.5 * abs(dl + dr))
    return 0.5 * (np.sign(dl) + np.sign(dr)) * t


# ---------------------------------------------------------------------------------------
# mean-field energies (DESIGN §9): the drift ∇x δF/δμ of the current density
# ---------------------------------------------------------------------------------------

#: a mean-field energy packed for the compiled steps (``mf`` field of the packed problem;
#: None without an energy, so that Numba prunes every energy branch).
#:
#: net : NetworkArrays (a 1-datum placeholder for a Python energy)
#: points : (n, d) x-centres (C order of the x-cells), the measure's atoms
#: query : (q, d) points where the drift (or first variation) is evaluated: the x-centres
#:     (every scheme; the overdamped explicit ones difference δF/δμ there), or, for a
#:     Python energy with ``drift`` only on an overdamped explicit scheme, the right faces
#:     (d = 1) or the faces of both axes stacked (d = 2, (2n, 2))
#: weights : (n,) scratch, the cell masses of the current state
#: resid : (M,) scratch, the residuals f_μ(z_j) − y_j
#: out : (q, d) the drift at ``query`` (or, ``potential`` True, (q, 1): δF/δμ itself)
#: potential : bool, evaluate δF/δμ (SG schemes) rather than its gradient
#: tabulated : bool, a Python energy: the solver fills ``out`` from Python before every
#:     step (a tabulated drift, frozen over the step) and adds its value to the free
#:     energy; the compiled steps only read ``out`` (same Numba type as a network, so both
#:     share one compiled loop)
#: store : (n, M) the activations σ(x_i·z_j) of one stage (the residual pass writes them,
#:     the drift/potential pass reads them), or (0, M): recomputed (large n·M, or a query
#:     that is not the points)
#: at_points : bool, ``query`` is ``points`` (one activation pass per stage with ``store``)
#: differences : bool, ``out`` holds Φ = δF/δμ at the centres (``potential``, at_points)
#:     and the overdamped explicit steps take the face drift as (Φ_{i+1} − Φ_i)/h
MeanFieldArrays = namedtuple("MeanFieldArrays", "net points query weights resid out potential "
                                                "tabulated store at_points differences")


@njit(cache=True)
def has_energy(mf):
    """Whether a packed problem carries an energy (a compile-time constant: not inlined,
    so the ``is None`` test is resolved on the argument's type)."""
    return mf is not None


@njit(cache=True)
def mf_update(mf):
    """Evaluate the energy's drift (or potential) at ``mf.query`` from the cell masses
    already in ``mf.weights`` (O(cells × M): at the points themselves one activation pass,
    σ kept in ``mf.store``; elsewhere a residual pass and a query pass); nothing for a
    Python energy (``mf.tabulated``: ``out`` was filled by the solver)."""
    if mf.tabulated:
        return
    net = mf.net
    points, weights, query, resid, out = mf.points, mf.weights, mf.query, mf.resid, mf.out
    if mf.at_points:
        if mf.potential:
            _net_self_potential(points, weights, net, resid, out.reshape(out.shape[0]),
                                mf.store)
        else:
            _net_self_drift(points, weights, net, resid, out, mf.store)
        return
    _net_residuals(points, weights, net, resid)
    if mf.potential:
        _net_first_variation(query, net, resid, out.reshape(out.shape[0]))
    else:
        _net_drift(query, net, resid, out)


# not inlined: the ``is None`` branch is pruned only on a function's own arguments
@njit(cache=True)
def energy_value(mf, cells, scale):
    """F(μ) of the measure with masses ``scale · cells`` (flattened in C order) at the
    x-centres; 0 without an energy (``mf`` None) and for a Python energy (the solver adds
    its value)."""
    if mf is None:
        return 0.0
    if mf.tabulated:
        return 0.0
    c = cells.reshape(cells.size)
    w = mf.weights
    for i in range(w.size):
        w[i] = c[i] * scale
    _net_residuals(mf.points, w, mf.net, mf.resid)
    return network_value(mf.resid)


# ---------------------------------------------------------------------------------------
# kinetic update kernels
# ---------------------------------------------------------------------------------------

@njit(cache=True)
def _kin_update_upwind_part(i, src, out, vc, vf, G, j0, gamma, diff, lx, lv, rowsum, rowmin,
                            rowmax):
    """Body of :func:`kin_update_upwind` for one row ``i``."""
    nx, nv = src.shape
    im = i - 1 if i > 0 else 0
    ip = i + 1 if i < nx - 1 else nx - 1
    gi = G[i]
    s = 0.0
    mn = np.inf
    mx = -np.inf
    jm = 0.0
    for j in range(nv):
        fij = src[i, j]
        vj = vc[j]
        # specular walls: the ghost cell beyond a wall is the wall cell at −v (column
        # nv−1−j), so the inflow at v_j is exactly the outflow at −v_j
        if j < j0:
            fr = src[ip, j] if i < nx - 1 else src[i, nv - 1 - j]
            dfx = vj * (fr - fij)
        else:
            fl = src[im, j] if i > 0 else src[i, nv - 1 - j]
            dfx = vj * (fij - fl)
        if j < nv - 1:
            a = gamma * vf[j + 1] + gi
            fn = src[i, j + 1]
            jp = max(-a, 0.0) * fij + min(-a, 0.0) * fn - diff * (fn - fij)
        else:
            jp = 0.0
        new = fij - lx * dfx - lv * (jp - jm)
        jm = jp
        out[i, j] = new
        s += new
        mn = min(mn, new)
        mx = max(mx, new)
    rowsum[i] = s
    rowmin[i] = mn
    rowmax[i] = mx


@threaded
def kin_update_upwind(src, out, vc, vf, G, j0, gamma, diff, lx, lv, rowsum, rowmin, rowmax):
    """One forward-Euler upwind step ``out = src + dt L(src)``, specular x-walls.

    Parameters
    ----------
    src, out : float64 arrays, shape (nx, nv)
    vc : shape (nv,) v-centres (increasing, exactly antisymmetric)
    vf : shape (nv + 1,) v-edges
    G : shape (nx,) force at x-centres
    j0 : int, number of columns with ``vc <= 0`` (they upwind from the right in x)
    gamma : float;  diff : γλ/hv;  lx, lv : dt/hx, dt/hv
    rowsum, rowmin, rowmax : shape (nx,), outputs: Σ_j, min_j, max_j of ``out[i]``
    """
    nx, nv = src.shape
    for i in prange(nx):
        _kin_update_upwind_part(i, src, out, vc, vf, G, j0, gamma, diff, lx, lv, rowsum, rowmin,
                                rowmax)


@njit(cache=True)
def _x_row(src, k):
    """Row k of ``src`` (shape (nx, nv)), or beyond a specular x-wall its mirror ghost:
    row −1−k (k < 0) or 2nx−1−k (k ≥ nx) reversed in v, ``g[j] = src[., nv−1−j]``
    (a copy; only the two rows next to each wall need one)."""
    nx, nv = src.shape
    if k >= 0 and k < nx:
        return src[k]
    kk = -1 - k if k < 0 else 2 * nx - 1 - k
    g = np.empty(nv)
    for j in range(nv):
        g[j] = src[kk, nv - 1 - j]
    return g


@njit(cache=True)
def _kin_update_muscl_part(i, src, base, out, alpha, vc, vf, G, j0, gamma, diff, lx, lv, rowsum,
                           rowmin, rowmax):
    """Body of :func:`kin_update_muscl` for one row ``i``."""
    nx, nv = src.shape
    beta = 1.0 - alpha
    gi = G[i]
    f = src[i]
    fm = _x_row(src, i - 1)
    fm2 = _x_row(src, i - 2)
    fp = _x_row(src, i + 1)
    fp2 = _x_row(src, i + 2)
    b = base[i]
    o = out[i]
    sv = np.empty(nv)
    J = np.empty(nv + 1)
    sv[0] = 0.0
    sv[nv - 1] = 0.0
    for j in range(1, nv - 1):
        sv[j] = mc_slope(f[j - 1], f[j], f[j + 1])
    J[0] = 0.0
    J[nv] = 0.0
    for j in range(nv - 1):
        a = gamma * vf[j + 1] + gi
        ul = f[j] + 0.5 * sv[j]
        ur = f[j + 1] - 0.5 * sv[j + 1]
        up = ul if a < 0.0 else ur
        J[j + 1] = -a * up - diff * (f[j + 1] - f[j])
    # rows beyond a wall are mirror ghosts (_x_row): the inflow face value at v_j is then
    # exactly the outflow face value at −v_j (mc(c, b, a) = −mc(a, b, c) bit for bit)
    for j in range(j0):
        fpf = fp[j] - 0.5 * mc_slope(f[j], fp[j], fp2[j])
        fmf = f[j] - 0.5 * mc_slope(fm[j], f[j], fp[j])
        o[j] = alpha * b[j] + beta * (f[j] - lx * (vc[j] * (fpf - fmf))
                                      - lv * (J[j + 1] - J[j]))
    for j in range(j0, nv):
        fpf = f[j] + 0.5 * mc_slope(fm[j], f[j], fp[j])
        fmf = fm[j] + 0.5 * mc_slope(fm2[j], fm[j], f[j])
        o[j] = alpha * b[j] + beta * (f[j] - lx * (vc[j] * (fpf - fmf))
                                      - lv * (J[j + 1] - J[j]))
    s = 0.0
    mn = np.inf
    mx = -np.inf
    for j in range(nv):
        x = o[j]
        s += x
        mn = min(mn, x)
        mx = max(mx, x)
    rowsum[i] = s
    rowmin[i] = mn
    rowmax[i] = mx


@threaded
def kin_update_muscl(src, base, out, alpha, vc, vf, G, j0, gamma, diff, lx, lv,
                     rowsum, rowmin, rowmax):
    """MUSCL stage ``out = alpha base + (1 − alpha)(src + dt L(src))`` (MC limiter).

    x-faces: for v_j > 0 the face value at i+1/2 is ``f_i + s_i/2``, for v_j ≤ 0 it is
    ``f_{i+1} − s_{i+1}/2``, with x-slopes ``s_i = mc(f_{i−1}, f_i, f_{i+1})``. Specular
    x-walls: two ghost rows beyond each wall mirror the two end rows in v
    (``f_{−1−k, j} = f_{k, nv−1−j}``), so the end cells keep second-order slopes and the
    inflow through a wall at v_j equals, bit for bit, the outflow at −v_j. Face values
    stay in ``[0, 2 f_i]`` on the outflow side (the ghosts are ≥ 0 too). v-faces likewise with the v-slopes and the
    sign of −a. Each row works in three vectorisable passes (v-slopes, v-fluxes, update)
    with two row-sized scratch arrays.

    ``out`` may be the same array as ``base`` (each cell reads ``base`` only at itself);
    it must differ from ``src``. Shapes as in :func:`kin_update_upwind`.
    """
    nx, nv = src.shape
    for i in prange(nx):
        _kin_update_muscl_part(i, src, base, out, alpha, vc, vf, G, j0, gamma, diff, lx, lv,
                               rowsum, rowmin, rowmax)


# ---------------------------------------------------------------------------------------
# overdamped update kernels
# ---------------------------------------------------------------------------------------

@njit(cache=True, inline="always")
def od_flux_upwind(r, i, a, diff):
    """J_{i+1/2} for 0 <= i < n - 1 with cell values as face values."""
    return max(-a, 0.0) * r[i] + min(-a, 0.0) * r[i + 1] - diff * (r[i + 1] - r[i])


@njit(cache=True, inline="always")
def od_flux_muscl(r, i, a, diff):
    """J_{i+1/2} for 0 <= i < n - 1 with MC-limited reconstruction (clamped ends)."""
    n = r.size
    ri = r[i]
    rn = r[i + 1]
    if a < 0.0:
        rm = r[i - 1] if i > 0 else ri
        up = ri + 0.5 * mc_slope(rm, ri, rn)
    else:
        rn2 = r[i + 2] if i + 2 < n else rn
        up = rn - 0.5 * mc_slope(ri, rn, rn2)
    return -a * up - diff * (rn - ri)


@njit(cache=True)
def _od_update_part(b, muscl, src, base, out, alpha, aface, diff, lam_dt, bsum, bmin, bmax):
    """Body of :func:`od_update` for one block ``b``."""
    n = src.size
    nb = bsum.size
    beta = 1.0 - alpha
    lo = (b * n) // nb
    hi = ((b + 1) * n) // nb
    s = 0.0
    mn = np.inf
    mx = -np.inf
    if lo > 0:
        if muscl:
            jm = od_flux_muscl(src, lo - 1, aface[lo - 1], diff)
        else:
            jm = od_flux_upwind(src, lo - 1, aface[lo - 1], diff)
    else:
        jm = 0.0
    for i in range(lo, hi):
        if i < n - 1:
            if muscl:
                jp = od_flux_muscl(src, i, aface[i], diff)
            else:
                jp = od_flux_upwind(src, i, aface[i], diff)
        else:
            jp = 0.0
        new = alpha * base[i] + beta * (src[i] - lam_dt * (jp - jm))
        jm = jp
        out[i] = new
        s += new
        mn = min(mn, new)
        mx = max(mx, new)
    bsum[b] = s
    bmin[b] = mn
    bmax[b] = mx


@threaded
def od_update(muscl, src, base, out, alpha, aface, diff, lam_dt, bsum, bmin, bmax):
    """Overdamped stage ``out = alpha base + (1 − alpha)(src − dt/h (J_{i+1/2} − J_{i−1/2}))``.

    Parameters
    ----------
    muscl : bool, MC-limited reconstruction (True) or cell values (False) at the faces
    src, base, out : float64 arrays, shape (n,); ``out`` may be ``base``, never ``src``
    alpha : float (0 for a plain Euler stage)
    aface : shape (n,), drift a at the right face of cell i (entry n−1 unused)
    diff : λ/h;  lam_dt : dt/h
    bsum, bmin, bmax : shape (N_BLOCKS,), per-block sum, min, max of ``out``
    """
    n = src.size
    nb = bsum.size
    for b in prange(nb):
        _od_update_part(b, muscl, src, base, out, alpha, aface, diff, lam_dt, bsum, bmin, bmax)


# ---------------------------------------------------------------------------------------
# helpers used by the time loops
# ---------------------------------------------------------------------------------------

@threaded
def kin_energy_parts(f, v2half, Vc, rowsum_out):
    """Per-row Σ_j (v_j²/2 + V_i) f_ij and Σ_j f log f (0 log 0 = 0); returns (nx, 2)."""
    nx, nv = f.shape
    for i in prange(nx):
        e = 0.0
        h = 0.0
        vi = Vc[i]
        for j in range(nv):
            x = f[i, j]
            e += (v2half[j] + vi) * x
            if x > 0.0:
                h += x * np.log(x)
        rowsum_out[i, 0] = e
        rowsum_out[i, 1] = h


# not inlined: the ``is None`` branch is pruned only on a function's own arguments
@njit(cache=True)
def interaction_energy(rho, h, wkhat, tw, rev, work, tmp):
    """½ h Σ_i ρ_i (W * ρ)_i with the convolution at centres; 0 when ``wkhat`` is None (no
    interaction: Numba then compiles no FFT)."""
    if wkhat is None:
        return 0.0
    conv_apply(wkhat, rho, h, tmp)
    e = 0.0
    for i in range(rho.size):
        e += rho[i] * tmp[i]
    return 0.5 * h * e


@njit(cache=True)
def kin_force(rowsum, hx, hv, Vp, khat, tw, rev, work, rho, conv, G, mf):
    """G_i = V'(x_i) + (W' * ρ)(x_i) + ∂x δF/δμ(x_i) with ρ_i = hv Σ_j f_ij (from the row
    sums); the interaction term only when ``khat`` is not None, the energy term only when
    ``mf`` is not None (:data:`MeanFieldArrays`, query = the x-centres, masses ρ_i hx)."""
    nx = G.size
    if khat is not None:
        for i in range(nx):
            rho[i] = rowsum[i] * hv
        conv_apply(khat, rho, hx, conv)
        for i in range(nx):
            G[i] = Vp[i] + conv[i]
    else:
        for i in range(nx):
            G[i] = Vp[i]
    if mf is not None:
        w = mf.weights
        for i in range(nx):
            w[i] = rowsum[i] * (hv * hx)
        mf_update(mf)
        for i in range(nx):
            G[i] += mf.out[i, 0]


@njit(cache=True, inline="always")
def kin_amax(G, gamma, vlo, vhi):
    """max_i max(|γ v_lo + G_i|, |γ v_hi + G_i|): max |a| over the interior v-faces."""
    m = 0.0
    for i in range(G.size):
        m = max(m, abs(gamma * vlo + G[i]), abs(gamma * vhi + G[i]))
    return m


@njit(cache=True)
def od_face_drift(r, h, Vpf, khat, tw, rev, work, conv, aface, mf):
    """a_{i+1/2} = V'(x_{i+1/2}) + (W' * ρ)(x_{i+1/2}) + ∂x δF/δμ(x_{i+1/2}) (``khat``
    built with offset h/2; None: no interaction; ``mf`` None: no energy, else
    :data:`MeanFieldArrays` with masses ρ_i h and Φ at the centres (``differences``: the
    face term (Φ_{i+1} − Φ_i)/h) or the drift at the right faces); returns max |a|
    over the interior faces."""
    n = r.size
    if khat is not None:
        conv_apply(khat, r, h, conv)
        for i in range(n):
            aface[i] = Vpf[i] + conv[i]
    else:
        for i in range(n):
            aface[i] = Vpf[i]
    if mf is not None:
        w = mf.weights
        for i in range(n):
            w[i] = r[i] * h
        mf_update(mf)
        if mf.differences:
            # Φ at the centres: (Φ_{i+1} − Φ_i)/h at the interior faces (the last is a wall)
            inv_h = 1.0 / h
            for i in range(n - 1):
                aface[i] += (mf.out[i + 1, 0] - mf.out[i, 0]) * inv_h
        else:
            for i in range(n):
                aface[i] += mf.out[i, 0]
    m = 0.0
    for i in range(n - 1):
        m = max(m, abs(aface[i]))
    return m


@njit(cache=True, inline="always")
def od_max_outflow(aface, n):
    """Largest advective outflow rate (times h) of a cell, counting both of its faces.

    Cell i loses mass through its right face when a_{i+1/2} < 0 (the flux
    ``J = −a ρ^{up}`` is then > 0) and through its left face when a_{i−1/2} > 0; where the
    drift diverges (a hilltop, a repulsive interaction) it does both. Returns

        max_i ( max(−a_{i+1/2}, 0)·[i < n−1] + max(a_{i−1/2}, 0)·[i > 0] ),

    the outer faces carrying no flux. Never below max|a| over the interior faces (every face
    with a ≠ 0 is an outflow face of one of its cells), at most twice that.

    Parameters
    ----------
    aface : shape (>= n,), drift at the right face of cell i (entry n−1 unused)
    n : int, number of cells
    """
    m = 0.0
    for i in range(n):
        out = 0.0
        if i < n - 1:
            out += max(-aface[i], 0.0)
        if i > 0:
            out += max(aface[i - 1], 0.0)
        m = max(m, out)
    return m


@njit(cache=True)
def od_sample(r, h, lam, Vc, wkhat, tw, rev, work, tmp, mf):
    """(mass, boundary-mass fraction, free energy) of the overdamped state ``r``; the free
    energy F(ρ) + ∫Vρ + ½∫ρ W*ρ + λ∫ρ log ρ (F: the energy of ``mf``, 0 when None)."""
    n = r.size
    tot = 0.0
    e = 0.0
    for i in range(n):
        x = r[i]
        tot += x
        e += Vc[i] * x
        if x > 0.0:
            e += lam * x * np.log(x)
    bm = (r[0] + r[n - 1]) / tot if tot != 0.0 else np.nan
    fe = e * h + interaction_energy(r, h, wkhat, tw, rev, work, tmp) + energy_value(mf, r, h)
    return tot * h, bm, fe


# ---------------------------------------------------------------------------------------
# packed arguments and the regime functions of the time loop (grids.driver)
# ---------------------------------------------------------------------------------------

#: a kinetic problem's arrays and scalars, as the compiled steps read them: v-centres
#: (nv,), v-edges (nv + 1,), V' and V at the x-centres (nx,), v²/2 (nv,), FFT tables of W'
#: and W, number of columns with v ≤ 0, max|v|, whether W is present, hx, hv, γ, λ
#: (``has_int``: whether the force depends on the state, W or an energy; ``mf``: the
#: energy, :data:`MeanFieldArrays` or None)
KineticArrays = namedtuple("KineticArrays", "vc vf Vp Vc v2half khat wkhat tw rev j0 vmax "
                                            "has_int hx hv gamma lam mf")

#: an overdamped problem's arrays and scalars: V' at the right faces and V at the centres
#: (n,), FFT tables of W' (at faces) and W, whether W is present, h, λ, domain length,
#: number of reduction blocks of the update (1 for the serial kernels)
#: (``has_int`` and ``mf`` as in :data:`KineticArrays`)
OverdampedArrays = namedtuple("OverdampedArrays", "Vpf Vc khat wkhat tw rev has_int h lam "
                                                  "length blocks mf")

#: scratch of the kinetic schemes; the first three are the per-row sums, minima and maxima
#: the last update wrote (read by the loop's divergence check); ``sc`` holds scalars a
#: scheme keeps between steps; a scheme that does not use an array gets an empty one
KineticWork = namedtuple("KineticWork", "psum pmin pmax G G0 rho conv tmp eparts wc sc "
                                        "fell zeroG scratch")

#: scratch of the overdamped schemes (first three as in :data:`KineticWork`)
OverdampedWork = namedtuple("OverdampedWork", "psum pmin pmax aface a0 conv tmp wc sc phi "
                                              "dp dm cp inv cpb invb tmp2")


@threaded
def kinetic_stats(f, work):
    """(total, min, max, bad) of ``f`` (shape (nx, nv)); fills the per-row sums, minima and
    maxima ``work.psum, work.pmin, work.pmax`` (the row sums feed the force)."""
    nx, nv = f.shape
    rowsum = work.psum
    rowmin = work.pmin
    rowmax = work.pmax
    for i in prange(nx):
        s = 0.0
        mn = np.inf
        mx = -np.inf
        for j in range(nv):
            x = f[i, j]
            s += x
            mn = min(mn, x)
            mx = max(mx, x)
        rowsum[i] = s
        rowmin[i] = mn
        rowmax[i] = mx
    return check_partials(rowsum, rowmin, rowmax)


@threaded(parallel=False)
def kinetic_sample(f, p, work):
    """(mass, boundary-mass fraction, free energy) of ``f`` (row sums in ``work.psum``).

    The boundary mass is the share of the mass in the outermost cells (x-walls and v-ends);
    the free energy F(ρ) + ∫(v²/2 + V) f + λ ∫ f log f + ½ ∫ ρ W * ρ by the midpoint rule
    (F: the energy of ``p.mf``, 0 when None).
    """
    nx, nv = f.shape
    rowsum = work.psum
    hx = p.hx
    hv = p.hv
    tot = 0.0
    for i in range(nx):
        tot += rowsum[i]
    ring = rowsum[0] + rowsum[nx - 1]
    for i in range(1, nx - 1):
        ring += f[i, 0] + f[i, nv - 1]
    mass = tot * hx * hv
    bm = ring / tot if tot != 0.0 else np.nan
    eparts = work.eparts
    rho = work.rho
    kin_energy_parts(f, p.v2half, p.Vc, eparts)
    e = 0.0
    hh = 0.0
    for i in range(nx):
        e += eparts[i, 0]
        hh += eparts[i, 1]
        rho[i] = rowsum[i] * hv
    fe = (e + p.lam * hh) * hx * hv + interaction_energy(rho, hx, p.wkhat, p.tw, p.rev,
                                                         work.wc, work.tmp) \
        + energy_value(p.mf, rowsum, hx * hv)
    return mass, bm, fe


@njit(cache=True, inline="always")
def kinetic_mass(total, p):
    """Mass of a kinetic state whose cell values sum to ``total``."""
    return total * p.hx * p.hv


@njit(cache=True)
def overdamped_stats(r, work):
    """(total, min, max, bad) of ``r``; only min and max are computed (total 0, bad False):
    the loop's check after a step reads the update's partial sums instead."""
    mn = np.inf
    mx = -np.inf
    for i in range(r.size):
        mn = min(mn, r[i])
        mx = max(mx, r[i])
    return 0.0, mn, mx, False


@njit(cache=True)
def overdamped_sample(r, p, work):
    """(mass, boundary-mass fraction, free energy) of ``r``."""
    return od_sample(r, p.h, p.lam, p.Vc, p.wkhat, p.tw, p.rev, work.wc, work.tmp, p.mf)


@njit(cache=True, inline="always")
def overdamped_mass(total, p):
    """Mass of an overdamped state whose cell values sum to ``total``."""
    return total * p.h


#: the regime functions every kinetic or overdamped time loop binds (grids.driver)
KINETIC = dict(STATS=kinetic_stats, SAMPLE=kinetic_sample, MASS=kinetic_mass)
OVERDAMPED = dict(STATS=overdamped_stats, SAMPLE=overdamped_sample, MASS=overdamped_mass)


@njit(cache=True, inline="always")
def kinetic_work(f, p, G0_size, scratch_planes):
    """Scratch for a kinetic scheme; ``G0`` of size ``G0_size``, ``scratch`` of shape
    (scratch_planes, nx, nv) (0: empty), ``fell`` and ``zeroG`` of size nx when
    ``scratch_planes`` > 0."""
    nx, nv = f.shape
    extra = nx if scratch_planes > 0 else 0
    return KineticWork(np.empty(nx), np.empty(nx), np.empty(nx), np.empty(nx),
                       np.empty(G0_size), np.empty(nx), np.empty(nx), np.empty(nx),
                       np.empty((nx, 2)), np.empty(2 * p.tw.size, dtype=np.complex128),
                       np.zeros(4), np.zeros(extra, dtype=np.int64), np.zeros(extra),
                       np.empty((scratch_planes, nx if scratch_planes else 0,
                                 nv if scratch_planes else 0)))


@njit(cache=True, inline="always")
def overdamped_work(r, p, nwork, nsolver):
    """Scratch for an overdamped scheme: partial sums over ``p.blocks`` blocks, drift
    arrays ``aface``, ``a0`` of size ``nwork`` and tridiagonal-solver arrays of size
    ``nsolver`` (0 when a scheme does not use them)."""
    n = r.size
    return OverdampedWork(np.empty(p.blocks), np.empty(p.blocks), np.empty(p.blocks),
                          np.empty(nwork), np.empty(nwork), np.empty(n), np.empty(n),
                          np.empty(2 * p.tw.size, dtype=np.complex128), np.zeros(4),
                          np.empty(nsolver), np.empty(nsolver), np.empty(nsolver),
                          np.empty(nsolver), np.empty(nsolver), np.empty(nsolver),
                          np.empty(nsolver), np.empty(nsolver))
