"""Numba kernels of the finite-volume schemes and the compiled time loops.

Notation (kinetic): ``f[i, j]`` cell averages, i over x (``nx`` rows), j over v (``nv``
columns, contiguous). ``vc[j]`` are v-centres, ``vf[j]`` v-edges (``nv + 1``), ``G[i]`` the
force ``V'(x_i) + (W' * ρ)(x_i)``. One forward-Euler stage computes

    L(f)_ij = −(F_{i+1/2,j} − F_{i−1/2,j})/hx − (J_{i,j+1/2} − J_{i,j−1/2})/hv

    F_{i+1/2,j} = v_j f⁻  (upwind on sign v_j),   F = 0 on the outer x-faces,
    J_{i,j+1/2} = −a f^{up} − γλ (f_{i,j+1} − f_{ij})/hv,  a = γ v_{j+1/2} + G_i,
                  f^{up} from cell j if −a > 0, from j + 1 otherwise;  J = 0 on outer v-faces.

``upwind`` uses cell values as face values; ``muscl`` uses MC-limited linear
reconstructions ``f_i ± s_i/2`` (the face value stays between the neighbouring averages, in
particular in ``[0, 2 f_i]``). Overdamped: ρ[i] on ``n`` cells,

    J_{i+1/2} = −a_{i+1/2} ρ^{up} − λ (ρ_{i+1} − ρ_i)/h,   ρ^{up} from i if −a > 0.

Every update kernel also writes per-row (per-block) partial sums, minima and maxima of the
new state, so the time loop checks mass, positivity and finiteness at no extra pass.

All kernels take arrays and scalars only (no closures), so ``cache=True`` keeps the
compiled code on disk between processes. No ``fastmath``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .convolution import conv_apply

UPWIND = 0
MUSCL = 1

# columns of the diagnostics buffer
D_T, D_DT, D_MASS, D_MIN, D_BMASS, D_FE = range(6)
N_DIAG = 6

NEG_TOL = 1e-10  # divergence: min < -NEG_TOL * max|f|

N_BLOCKS = 64  # overdamped: parallel blocks

#: grids with at least this many cells use the threaded kernels (below, one thread launch
#: per stage costs more than the work it splits: measured ~20-50 µs per launch here)
PARALLEL_MIN_CELLS = 32768


@njit(cache=True)
def record_diagnostics(diag, nd, t, dt, mass, mn, boundary_mass, free_energy):
    """Write one diagnostics row (t, dt, mass, min, boundary mass, free energy) at ``nd``;
    return the next row index."""
    diag[nd, D_T] = t
    diag[nd, D_DT] = dt
    diag[nd, D_MASS] = mass
    diag[nd, D_MIN] = mn
    diag[nd, D_BMASS] = boundary_mass
    diag[nd, D_FE] = free_energy
    return nd + 1


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
# kinetic update kernels
# ---------------------------------------------------------------------------------------

@njit(cache=True)
def _kin_update_upwind_part(i, src, out, vc, vf, G, j0, gamma, diff, lx, lv, rowsum, rowmin,
                            rowmax):
    """Body of :func:`kin_update_upwind` for one row ``i``."""
    nx, nv = src.shape
    im = i - 1 if i > 0 else 0
    ip = i + 1 if i < nx - 1 else nx - 1
    cl = 1.0 if i > 0 else 0.0
    cr = 1.0 if i < nx - 1 else 0.0
    gi = G[i]
    s = 0.0
    mn = np.inf
    mx = -np.inf
    jm = 0.0
    for j in range(nv):
        fij = src[i, j]
        vj = vc[j]
        if j < j0:
            dfx = vj * (cr * src[ip, j] - cl * fij)
        else:
            dfx = vj * (cr * fij - cl * src[im, j])
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


@njit(cache=True, parallel=True)
def kin_update_upwind(src, out, vc, vf, G, j0, gamma, diff, lx, lv, rowsum, rowmin, rowmax):
    """One forward-Euler upwind step ``out = src + dt L(src)``.

    Parameters
    ----------
    src, out : float64 arrays, shape (nx, nv)
    vc : shape (nv,) v-centres (increasing);  vf : shape (nv + 1,) v-edges
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
def kin_update_upwind_serial(src, out, vc, vf, G, j0, gamma, diff, lx, lv, rowsum, rowmin,
                             rowmax):
    """Serial twin of :func:`kin_update_upwind` (for small grids, no thread launch)."""
    nx, nv = src.shape
    for i in range(nx):
        _kin_update_upwind_part(i, src, out, vc, vf, G, j0, gamma, diff, lx, lv, rowsum, rowmin,
                                rowmax)



@njit(cache=True)
def _kin_update_muscl_part(i, src, base, out, alpha, vc, vf, G, j0, gamma, diff, lx, lv, rowsum,
                           rowmin, rowmax):
    """Body of :func:`kin_update_muscl` for one row ``i``."""
    nx, nv = src.shape
    beta = 1.0 - alpha
    im2 = max(i - 2, 0)
    im = max(i - 1, 0)
    ip = min(i + 1, nx - 1)
    ip2 = min(i + 2, nx - 1)
    cl = 1.0 if i > 0 else 0.0
    cr = 1.0 if i < nx - 1 else 0.0
    gi = G[i]
    f = src[i]
    fm = src[im]
    fm2 = src[im2]
    fp = src[ip]
    fp2 = src[ip2]
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
    for j in range(j0):
        fpf = fp[j] - 0.5 * mc_slope(f[j], fp[j], fp2[j])
        fmf = f[j] - 0.5 * mc_slope(fm[j], f[j], fp[j])
        o[j] = alpha * b[j] + beta * (f[j] - lx * (vc[j] * (cr * fpf - cl * fmf))
                                      - lv * (J[j + 1] - J[j]))
    for j in range(j0, nv):
        fpf = f[j] + 0.5 * mc_slope(fm[j], f[j], fp[j])
        fmf = fm[j] + 0.5 * mc_slope(fm2[j], fm[j], f[j])
        o[j] = alpha * b[j] + beta * (f[j] - lx * (vc[j] * (cr * fpf - cl * fmf))
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


@njit(cache=True, parallel=True)
def kin_update_muscl(src, base, out, alpha, vc, vf, G, j0, gamma, diff, lx, lv,
                     rowsum, rowmin, rowmax):
    """MUSCL stage ``out = alpha base + (1 − alpha)(src + dt L(src))`` (MC limiter).

    x-faces: for v_j > 0 the face value at i+1/2 is ``f_i + s_i/2``, for v_j ≤ 0 it is
    ``f_{i+1} − s_{i+1}/2``, with x-slopes ``s_i = mc(f_{i−1}, f_i, f_{i+1})`` (indices
    clamped, so the slope of an end cell is 0). v-faces likewise with the v-slopes and the
    sign of −a. Each row works in three vectorisable passes (v-slopes, v-fluxes, update)
    with two row-sized scratch arrays.

    ``out`` may be the same array as ``base`` (each cell reads ``base`` only at itself);
    it must differ from ``src``. Shapes as in :func:`kin_update_upwind`.
    """
    nx, nv = src.shape
    for i in prange(nx):
        _kin_update_muscl_part(i, src, base, out, alpha, vc, vf, G, j0, gamma, diff, lx, lv,
                               rowsum, rowmin, rowmax)


@njit(cache=True)
def kin_update_muscl_serial(src, base, out, alpha, vc, vf, G, j0, gamma, diff, lx, lv,
                            rowsum, rowmin, rowmax):
    """Serial twin of :func:`kin_update_muscl` (for small grids, no thread launch)."""
    nx, nv = src.shape
    for i in range(nx):
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
def _od_update_part(b, scheme, src, base, out, alpha, aface, diff, lam_dt, bsum, bmin, bmax):
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
        if scheme == UPWIND:
            jm = od_flux_upwind(src, lo - 1, aface[lo - 1], diff)
        else:
            jm = od_flux_muscl(src, lo - 1, aface[lo - 1], diff)
    else:
        jm = 0.0
    for i in range(lo, hi):
        if i < n - 1:
            if scheme == UPWIND:
                jp = od_flux_upwind(src, i, aface[i], diff)
            else:
                jp = od_flux_muscl(src, i, aface[i], diff)
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


@njit(cache=True, parallel=True)
def od_update(scheme, src, base, out, alpha, aface, diff, lam_dt, bsum, bmin, bmax):
    """Overdamped stage ``out = alpha base + (1 − alpha)(src − dt/h (J_{i+1/2} − J_{i−1/2}))``.

    Parameters
    ----------
    scheme : int, UPWIND or MUSCL
    src, base, out : float64 arrays, shape (n,); ``out`` may be ``base``, never ``src``
    alpha : float (0 for a plain Euler stage)
    aface : shape (n,), drift a at the right face of cell i (entry n−1 unused)
    diff : λ/h;  lam_dt : dt/h
    bsum, bmin, bmax : shape (N_BLOCKS,), per-block sum, min, max of ``out``
    """
    n = src.size
    nb = bsum.size
    for b in prange(nb):
        _od_update_part(b, scheme, src, base, out, alpha, aface, diff, lam_dt, bsum, bmin, bmax)


@njit(cache=True)
def od_update_serial(scheme, src, base, out, alpha, aface, diff, lam_dt, bsum, bmin, bmax):
    """Serial twin of :func:`od_update` (for small grids, no thread launch)."""
    n = src.size
    nb = bsum.size
    for b in range(nb):
        _od_update_part(b, scheme, src, base, out, alpha, aface, diff, lam_dt, bsum, bmin, bmax)



# ---------------------------------------------------------------------------------------
# helpers used by the time loops
# ---------------------------------------------------------------------------------------

@njit(cache=True, parallel=True)
def kin_row_stats(f, rowsum, rowmin, rowmax):
    """Per-row sum, min and max of ``f`` (shape (nx, nv))."""
    nx, nv = f.shape
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


@njit(cache=True, parallel=True)
def copy2d(src, dst):
    nx = src.shape[0]
    for i in prange(nx):
        dst[i, :] = src[i, :]


@njit(cache=True, parallel=True)
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


@njit(cache=True)
def interaction_energy(rho, h, has_int, wkhat, tw, rev, work, tmp):
    """½ h Σ_i ρ_i (W * ρ)_i with the convolution at centres (0 when no interaction)."""
    if not has_int:
        return 0.0
    conv_apply(wkhat, tw, rev, work, rho, h, tmp)
    e = 0.0
    for i in range(rho.size):
        e += rho[i] * tmp[i]
    return 0.5 * h * e


@njit(cache=True)
def kin_force(rowsum, hx, hv, Vp, has_int, khat, tw, rev, work, rho, conv, G):
    """G_i = V'(x_i) + (W' * ρ)(x_i) with ρ_i = hv Σ_j f_ij (from the row sums)."""
    nx = G.size
    if has_int:
        for i in range(nx):
            rho[i] = rowsum[i] * hv
        conv_apply(khat, tw, rev, work, rho, hx, conv)
        for i in range(nx):
            G[i] = Vp[i] + conv[i]
    else:
        for i in range(nx):
            G[i] = Vp[i]


@njit(cache=True)
def kin_amax(G, gamma, vlo, vhi):
    """max_i max(|γ v_lo + G_i|, |γ v_hi + G_i|): max |a| over the interior v-faces."""
    m = 0.0
    for i in range(G.size):
        m = max(m, abs(gamma * vlo + G[i]), abs(gamma * vhi + G[i]))
    return m


@njit(cache=True)
def kin_sample(f, rowsum, hx, hv, lam, v2half, Vc, has_int, wkhat, tw, rev, work, rho, tmp,
               eparts, want_fe):
    """(mass, boundary_mass fraction, free energy) of ``f``; free energy NaN unless want_fe."""
    nx, nv = f.shape
    tot = 0.0
    for i in range(nx):
        tot += rowsum[i]
    ring = rowsum[0] + rowsum[nx - 1]
    for i in range(1, nx - 1):
        ring += f[i, 0] + f[i, nv - 1]
    mass = tot * hx * hv
    bm = ring / tot if tot != 0.0 else np.nan
    fe = np.nan
    if want_fe:
        kin_energy_parts(f, v2half, Vc, eparts)
        e = 0.0
        hh = 0.0
        for i in range(nx):
            e += eparts[i, 0]
            hh += eparts[i, 1]
            rho[i] = rowsum[i] * hv
        fe = (e + lam * hh) * hx * hv + interaction_energy(rho, hx, has_int, wkhat, tw, rev,
                                                           work, tmp)
    return mass, bm, fe


@njit(cache=True)
def _check(sum_arr, min_arr, max_arr):
    """(total, min, max, bad) of the partial reductions; bad if non-finite or too negative."""
    tot = 0.0
    mn = np.inf
    mx = -np.inf
    for k in range(sum_arr.size):
        tot += sum_arr[k]
        mn = min(mn, min_arr[k])
        mx = max(mx, max_arr[k])
    scale = max(mx, -mn)
    bad = not np.isfinite(tot) or not np.isfinite(mn) or not np.isfinite(mx) \
        or not (mn >= -NEG_TOL * scale)
    return tot, mn, mx, bad


# ---------------------------------------------------------------------------------------
# compiled time loops
# ---------------------------------------------------------------------------------------

@njit(cache=True)
def kinetic_advance(scheme, f, g, vc, vf, j0, vmax, Vp, Vc, v2half, has_int, khat, wkhat,
                    tw, rev, hx, hv, gamma, lam, cfl, t, t_stop, sample_first, sample_at_stop,
                    n_max, step, diag_every, diag, par):
    """Advance the kinetic state ``f`` (in place) from ``t`` towards ``t_stop``.

    Each step: ρ_i = hv Σ_j f_ij, G = V'(x) + W' * ρ (FFT), Δt = cfl / (max|v|/hx +
    max|a|/hv + 2γλ/hv²) with max|a| over the interior v-faces, shortened to land on
    ``t_stop``; then one upwind Euler step or one SSP-RK2 (Heun) MUSCL step with the force
    recomputed at the second stage. Stops at ``t_stop``, after ``n_max`` steps, when the
    diagnostics buffer ``diag`` (shape (K, 6)) is full, or on divergence. ``par`` selects
    the threaded update kernels (worth it from a few ×10⁴ cells; below, the thread launch
    costs more than it saves).

    Returns
    -------
    status : int
        0 reached ``t_stop``; 1 stopped early (step or buffer limit); −1 diverged.
    t : float, time reached;  n : steps taken;  step : global step count;  nd : samples
    written;  dt : last step;  mn, mx : min and max of the last state.
    """
    nx, nv = f.shape
    rowsum = np.empty(nx)
    rowmin = np.empty(nx)
    rowmax = np.empty(nx)
    G = np.empty(nx)
    G0 = np.empty(nx)
    rho = np.empty(nx)
    conv = np.empty(nx)
    tmp = np.empty(nx)
    eparts = np.empty((nx, 2))
    work = np.empty(khat.size, dtype=np.complex128)
    diff = gamma * lam / hv
    vlo = vf[1]
    vhi = vf[nv - 1]
    K = diag.shape[0]
    kin_row_stats(f, rowsum, rowmin, rowmax)
    tot, mn, mx, bad = _check(rowsum, rowmin, rowmax)
    cur = f
    nxt = g
    swapped = False
    nd = 0
    n = 0
    dt = 0.0
    status = 1
    if sample_first and K > 0:
        kin_force(rowsum, hx, hv, Vp, has_int, khat, tw, rev, work, rho, conv, G)
        amax = kin_amax(G, gamma, vlo, vhi)
        mass, bm, fe = kin_sample(cur, rowsum, hx, hv, lam, v2half, Vc, has_int, wkhat, tw,
                                  rev, work, rho, tmp, eparts, True)
        nd = record_diagnostics(diag, 0, t, cfl / (vmax / hx + amax / hv + 2.0 * diff / hv), mass, mn, bm, fe)
    while t < t_stop and n < n_max and nd < K:
        kin_force(rowsum, hx, hv, Vp, has_int, khat, tw, rev, work, rho, conv, G)
        amax = kin_amax(G, gamma, vlo, vhi)
        dt = cfl / (vmax / hx + amax / hv + 2.0 * diff / hv)
        land = False
        if not (dt > 0.0 and np.isfinite(dt)):
            status = -1
            mn = np.nan
            break
        if t + dt >= t_stop:
            dt = t_stop - t
            land = True
        lx = dt / hx
        lv = dt / hv
        if scheme == UPWIND:
            if par:
                kin_update_upwind(cur, nxt, vc, vf, G, j0, gamma, diff, lx, lv, rowsum, rowmin,
                                  rowmax)
            else:
                kin_update_upwind_serial(cur, nxt, vc, vf, G, j0, gamma, diff, lx, lv, rowsum,
                                         rowmin, rowmax)
            tmp2 = cur
            cur = nxt
            nxt = tmp2
            swapped = not swapped
        else:
            # Heun stages; if the force recomputed for stage 2 has grown so much that
            # 2Δt(max|v|/hx + max|a|/hv + γλ/hv²) > 1 (stage-2 positivity bound), redo
            # stage 1 with the step rule applied to the larger drift (only when c <= 1/2,
            # i.e. when the run asked for guaranteed positivity).
            for k in range(G.size):
                G0[k] = G[k]
            for attempt in range(8):
                lx = dt / hx
                lv = dt / hv
                if par:
                    kin_update_muscl(cur, cur, nxt, 0.0, vc, vf, G, j0, gamma, diff, lx, lv,
                                     rowsum, rowmin, rowmax)
                else:
                    kin_update_muscl_serial(cur, cur, nxt, 0.0, vc, vf, G, j0, gamma, diff, lx,
                                            lv, rowsum, rowmin, rowmax)
                kin_force(rowsum, hx, hv, Vp, has_int, khat, tw, rev, work, rho, conv, G)
                if not (has_int and cfl <= 0.5):
                    break
                amax2 = kin_amax(G, gamma, vlo, vhi)
                if 2.0 * dt * (vmax / hx + amax2 / hv + diff / hv) <= 1.0:
                    break
                amax = max(amax, amax2)
                dt = min(dt, cfl / (vmax / hx + amax / hv + 2.0 * diff / hv))
                land = False
                for k in range(G.size):
                    G[k] = G0[k]
            if par:
                kin_update_muscl(nxt, cur, cur, 0.5, vc, vf, G, j0, gamma, diff, lx, lv,
                                 rowsum, rowmin, rowmax)
            else:
                kin_update_muscl_serial(nxt, cur, cur, 0.5, vc, vf, G, j0, gamma, diff, lx, lv,
                                        rowsum, rowmin, rowmax)
        t = t_stop if land else t + dt
        n += 1
        step += 1
        tot, mn, mx, bad = _check(rowsum, rowmin, rowmax)
        if bad:
            status = -1
            if nd < K:
                nd = record_diagnostics(diag, nd, t, dt, tot * hx * hv, mn, np.nan, np.nan)
            break
        if step % diag_every == 0 or (land and sample_at_stop):
            mass, bm, fe = kin_sample(cur, rowsum, hx, hv, lam, v2half, Vc, has_int, wkhat,
                                      tw, rev, work, rho, tmp, eparts, True)
            nd = record_diagnostics(diag, nd, t, dt, mass, mn, bm, fe)
        if land:
            status = 0
            break
    if status == 1 and t >= t_stop:
        status = 0
    if swapped:
        if par:
            copy2d(cur, f)
        else:
            f[:, :] = cur
    return status, t, n, step, nd, dt, mn, mx


@njit(cache=True)
def od_face_drift(r, h, Vpf, has_int, khat, tw, rev, work, conv, aface):
    """a_{i+1/2} = V'(x_{i+1/2}) + (W' * ρ)(x_{i+1/2}) (``khat`` built with offset h/2)."""
    n = r.size
    if has_int:
        conv_apply(khat, tw, rev, work, r, h, conv)
        for i in range(n):
            aface[i] = Vpf[i] + conv[i]
    else:
        for i in range(n):
            aface[i] = Vpf[i]
    m = 0.0
    for i in range(n - 1):
        m = max(m, abs(aface[i]))
    return m


@njit(cache=True)
def od_sample(r, h, lam, Vc, has_int, wkhat, tw, rev, work, tmp):
    """(mass, boundary-mass fraction, free energy) of the overdamped state ``r``."""
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
    fe = e * h + interaction_energy(r, h, has_int, wkhat, tw, rev, work, tmp)
    return tot * h, bm, fe


@njit(cache=True)
def overdamped_advance(scheme, r, g, Vpf, Vc, has_int, khat, wkhat, tw, rev, h, lam, cfl,
                       t, t_stop, sample_first, sample_at_stop, n_max, step, diag_every, diag,
                       par):
    """Advance the overdamped state ``r`` (shape (n,), in place) towards ``t_stop``.

    Δt = cfl / (max|a|/h + 2λ/h²), max over interior faces, recomputed every step;
    otherwise as :func:`kinetic_advance` (same return values).
    """
    n = r.size
    nb = min(N_BLOCKS, n) if par else 1
    bsum = np.empty(nb)
    bmin = np.empty(nb)
    bmax = np.empty(nb)
    aface = np.empty(n)
    a0 = np.empty(n)
    conv = np.empty(n)
    tmp = np.empty(n)
    work = np.empty(khat.size, dtype=np.complex128)
    diff = lam / h
    K = diag.shape[0]
    cur = r
    nxt = g
    swapped = False
    nd = 0
    nstep = 0
    dt = 0.0
    status = 1
    mn = np.inf
    mx = -np.inf
    for i in range(n):
        mn = min(mn, r[i])
        mx = max(mx, r[i])
    if sample_first and K > 0:
        amax = od_face_drift(cur, h, Vpf, has_int, khat, tw, rev, work, conv, aface)
        mass, bm, fe = od_sample(cur, h, lam, Vc, has_int, wkhat, tw, rev, work, tmp)
        nd = record_diagnostics(diag, 0, t, cfl / (amax / h + 2.0 * diff / h), mass, mn, bm, fe)
    while t < t_stop and nstep < n_max and nd < K:
        amax = od_face_drift(cur, h, Vpf, has_int, khat, tw, rev, work, conv, aface)
        dt = cfl / (amax / h + 2.0 * diff / h)
        land = False
        if not (dt > 0.0 and np.isfinite(dt)):
            status = -1
            mn = np.nan
            break
        if t + dt >= t_stop:
            dt = t_stop - t
            land = True
        ldt = dt / h
        if scheme == UPWIND:
            if par:
                od_update(UPWIND, cur, cur, nxt, 0.0, aface, diff, ldt, bsum, bmin, bmax)
            else:
                od_update_serial(UPWIND, cur, cur, nxt, 0.0, aface, diff, ldt, bsum, bmin, bmax)
            tmp2 = cur
            cur = nxt
            nxt = tmp2
            swapped = not swapped
        else:
            # Heun stages with the same stage-2 positivity guard as the kinetic loop:
            # 2Δt(max|a|/h + λ/h²) <= 1 for the recomputed drift.
            for k in range(n):
                a0[k] = aface[k]
            for attempt in range(8):
                ldt = dt / h
                if par:
                    od_update(MUSCL, cur, cur, nxt, 0.0, aface, diff, ldt, bsum, bmin, bmax)
                else:
                    od_update_serial(MUSCL, cur, cur, nxt, 0.0, aface, diff, ldt, bsum, bmin,
                                     bmax)
                amax2 = od_face_drift(nxt, h, Vpf, has_int, khat, tw, rev, work, conv, aface)
                if not (has_int and cfl <= 0.5):
                    break
                if 2.0 * dt * (amax2 / h + diff / h) <= 1.0:
                    break
                amax = max(amax, amax2)
                dt = min(dt, cfl / (amax / h + 2.0 * diff / h))
                land = False
                for k in range(n):
                    aface[k] = a0[k]
            if par:
                od_update(MUSCL, nxt, cur, cur, 0.5, aface, diff, ldt, bsum, bmin, bmax)
            else:
                od_update_serial(MUSCL, nxt, cur, cur, 0.5, aface, diff, ldt, bsum, bmin, bmax)
        t = t_stop if land else t + dt
        nstep += 1
        step += 1
        tot, mn, mx, bad = _check(bsum, bmin, bmax)
        if bad:
            status = -1
            if nd < K:
                nd = record_diagnostics(diag, nd, t, dt, tot * h, mn, np.nan, np.nan)
            break
        if step % diag_every == 0 or (land and sample_at_stop):
            mass, bm, fe = od_sample(cur, h, lam, Vc, has_int, wkhat, tw, rev, work, tmp)
            nd = record_diagnostics(diag, nd, t, dt, mass, mn, bm, fe)
        if land:
            status = 0
            break
    if status == 1 and t >= t_stop:
        status = 0
    if swapped:
        r[:] = cur
    return status, t, nstep, step, nd, dt, mn, mx
