"""Propagation-of-chaos helpers on plain arrays: slope fits over N, the exact N-particle
Gaussian reference, and free-energy estimators for particles and stationary laws.

Nothing here imports ``vfp``, ``grids`` or ``particles``.

Slope fits
----------
:func:`slope_fit` fits log(mean over seeds) = b + s·log N by ordinary least squares at
every time, and gives a confidence interval for s by a *seed bootstrap*: for every N the
seeds are resampled with replacement (independently across N, since different N are
independent runs), the means and the least-squares slope are recomputed, and the
percentile interval of the B bootstrap slopes is reported.

Free energy
-----------
L(μ) = ∫(|v|²/2 + V) dμ + ½∫∫ W(x − y) dρ dρ + λ ∫ μ log μ (overdamped: no v term, μ = ρ).
From particles the entropy term is the Kozachenko–Leonenko k-NN estimate (on x, or on
(x, v) in the kinetic case), the potential and kinetic energies are sample means, and
the interaction energy is the U-statistic over pairs i ≠ j (on a subsample for large N).
"""

from __future__ import annotations

import numpy as np

from .exact import (kinetic_gaussian_moments, n_particle_kl, overdamped_gaussian_moments,
                    self_consistent_equilibrium)
from .metrics import kl_knn

__all__ = [
    "slope_fit",
    "n_particle_covariance",
    "n_particle_reference",
    "gaussian_kl",
    "knn_entropy",
    "free_energy_particles",
    "free_energy_equilibrium",
    "FIT_METHOD",
]

FIT_METHOD = ("ordinary least squares of log(mean over seeds) on log N at each time; "
              "confidence interval: percentile seed bootstrap (seeds resampled with "
              "replacement independently for each N)")


# ---------------------------------------------------------------------------------------
# Slope of the mean against N


def _ols_slope(logn, logm):
    """Least-squares slope and intercept along the first axis of ``logm`` (…, n_N)."""
    xc = logn - logn.mean()
    ym = logm.mean(axis=-1, keepdims=True)
    slope = ((logm - ym) * xc).sum(axis=-1) / (xc * xc).sum()
    return slope, ym[..., 0] - slope * logn.mean()


def slope_fit(ns, values, *, n_boot=2000, level=0.95, seed=0):
    """Fit mean(values) ∝ N^s at every time, with a seed-bootstrap confidence interval.

    Parameters
    ----------
    ns : array_like, shape (n_N,)
        Particle numbers (> 0).
    values : array_like, shape (n_N, n_seed, n_t)
        One metric per (N, seed, time); NaN marks a missing task.
    n_boot : int
        Bootstrap resamples (0: no interval).
    level : float
        Confidence level of the percentile interval.
    seed : int
        Seed of the bootstrap resampling.

    Returns
    -------
    dict
        ``mean``, ``sem``, ``count`` (n_N, n_t): mean over the finite seeds, its standard
        error (NaN with one seed) and the number of seeds; ``slope``, ``intercept``,
        ``slope_lo``, ``slope_hi`` (n_t,). The slope is NaN at a time where fewer than
        two N have a finite mean or any finite mean is ≤ 0 (a noise-dominated estimator
        such as the k-NN KL near 0, for which a power law means nothing); the interval is NaN where fewer than half the
        bootstrap resamples have a positive mean at every used N.
    """
    ns = np.asarray(ns, dtype=float)
    vals = np.asarray(values, dtype=float)
    if vals.ndim != 3 or vals.shape[0] != ns.size:
        raise ValueError("values must have shape (n_N, n_seed, n_t)")
    n_n, n_s, n_t = vals.shape
    finite = np.isfinite(vals)
    count = finite.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.where(finite, vals, 0.0).sum(axis=1)
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        dev = np.where(finite, vals - mean[:, None, :], 0.0)
        var = (dev * dev).sum(axis=1) / np.maximum(count - 1, 1)
        sem = np.where(count > 1, np.sqrt(var / np.maximum(count, 1)), np.nan)
    logn = np.log(ns)
    slope = np.full(n_t, np.nan)
    icpt = np.full(n_t, np.nan)
    lo = np.full(n_t, np.nan)
    hi = np.full(n_t, np.nan)
    rng = np.random.default_rng(seed)
    alpha = 0.5 * (1.0 - level)
    # Bootstrap indices shared by all times (the same resample of seeds for every t).
    boot = None
    if n_boot > 0 and n_s > 1:
        boot = np.empty((n_n, n_boot, n_t))
        for i in range(n_n):
            idx = rng.integers(0, n_s, size=(n_boot, n_s))
            sample = vals[i][idx]                          # (n_boot, n_s, n_t)
            ok = np.isfinite(sample)
            c = ok.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                boot[i] = np.where(c > 0, np.where(ok, sample, 0.0).sum(axis=1) / c, np.nan)
    for j in range(n_t):
        use = np.isfinite(mean[:, j])
        if use.sum() < 2 or np.any(mean[use, j] <= 0):
            continue
        s, b = _ols_slope(logn[use], np.log(mean[use, j]))
        slope[j], icpt[j] = s, b
        if boot is None:
            continue
        bm = boot[use, :, j].T                             # (n_boot, n_used)
        good = np.all(np.isfinite(bm) & (bm > 0), axis=1)
        if good.sum() < 0.5 * n_boot:
            continue
        bs, _ = _ols_slope(logn[use], np.log(bm[good]))
        lo[j], hi[j] = np.quantile(bs, [alpha, 1.0 - alpha])
    return {"mean": mean, "sem": sem, "count": count, "slope": slope, "intercept": icpt,
            "slope_lo": lo, "slope_hi": hi}


# ---------------------------------------------------------------------------------------
# Exact N-particle Gaussian reference (V = a x²/2, W = κ x²/2)


def _one_particle_flows(t, a, kappa, temperature, var0, cov0, gamma):
    """Covariances of one particle under confinement a (centre of mass) and a + κ."""
    if gamma is None:
        _, va = overdamped_gaussian_moments(t, 0.0, var0, a, 0.0, temperature)
        _, vc = overdamped_gaussian_moments(t, 0.0, var0, a + kappa, 0.0, temperature)
        return np.array([[va]]), np.array([[vc]])
    zero = np.zeros(2)
    _, sa = kinetic_gaussian_moments(t, zero, cov0, a, 0.0, gamma, temperature)
    _, sc = kinetic_gaussian_moments(t, zero, cov0, a + kappa, 0.0, gamma, temperature)
    return sa, sc


def n_particle_covariance(t, n, a, kappa, temperature, var0=None, cov0=None, gamma=None):
    """Covariance of the N-particle law at time t (i.i.d. Gaussian start, linear model).

    With P = 𝟙𝟙ᵀ/N the projector on the centre-of-mass direction, the linear particle
    system decouples into that direction (confinement a; the interaction cancels) and its
    orthogonal complement (confinement a + κ), so

        Σ_N(t) = Σ_a(t) ⊗ P + Σ_{a+κ}(t) ⊗ (I − P),

    with Σ_c(t) the one-particle covariance flow (1×1 overdamped, 2×2 kinetic on (x, v)).
    Coordinates are ordered particle-major: (x₁, [v₁,] x₂, [v₂,] …).

    Returns
    -------
    ndarray, shape (N, N) overdamped or (2N, 2N) kinetic
    """
    n = int(n)
    sa, sc = _one_particle_flows(t, a, kappa, temperature, var0, cov0, gamma)
    p = np.full((n, n), 1.0 / n)
    return np.kron(p, sa) + np.kron(np.eye(n) - p, sc)


def n_particle_reference(t, n, a, kappa, temperature, var0=None, cov0=None, gamma=None):
    """Quantities of the exact N-particle law that a sweep measures.

    Returns
    -------
    dict of str → float
        ``kl``: KL(law of N particles ‖ μ_t^{⊗N}) (:func:`validation.exact.n_particle_kl`),
        ``kl_per_particle`` = kl / N (an upper bound of the one-particle-marginal KL);
        ``com_var`` = E(x̄ − m_t)² = Σ_a[x,x]/N (empirical mean error of the particles),
        ``iid_com_var`` = Σ_{a+κ}[x,x]/N (the same for an i.i.d. sample of μ_t);
        ``emp_var`` = E (1/N)Σ(x_i − x̄)² = (N − 1)/N · Σ_{a+κ}[x,x].
    """
    sa, sc = _one_particle_flows(t, a, kappa, temperature, var0, cov0, gamma)
    kl = float(n_particle_kl(t, a, kappa, temperature, var0=var0, cov0=cov0, gamma=gamma))
    return {"kl": kl, "kl_per_particle": kl / n, "com_var": float(sa[0, 0]) / n,
            "iid_com_var": float(sc[0, 0]) / n, "emp_var": (n - 1) / n * float(sc[0, 0])}


def gaussian_kl(mean0, cov0, mean1, cov1):
    """KL(N(mean0, cov0) ‖ N(mean1, cov1)) in any dimension."""
    m0 = np.atleast_1d(np.asarray(mean0, dtype=float))
    m1 = np.atleast_1d(np.asarray(mean1, dtype=float))
    s0 = np.atleast_2d(np.asarray(cov0, dtype=float))
    s1 = np.atleast_2d(np.asarray(cov1, dtype=float))
    d = m0.size
    c1 = np.linalg.cholesky(s1)
    inv_s0 = np.linalg.solve(c1, np.linalg.solve(c1, s0).T)   # L⁻¹ S0 L⁻ᵀ (symmetric)
    diff = np.linalg.solve(c1, m1 - m0)
    _, logdet1 = np.linalg.slogdet(s1)
    _, logdet0 = np.linalg.slogdet(s0)
    return 0.5 * float(np.trace(inv_s0) + diff @ diff - d + logdet1 - logdet0)


# ---------------------------------------------------------------------------------------
# Free energy


def knn_entropy(points, k=1):
    """Kozachenko–Leonenko k-NN estimate of the differential entropy of a sample.

    Ĥ = ψ(n) − ψ(k) + log V_d + (d/n) Σ log ρ_k(i) (see :func:`validation.metrics.kl_knn`,
    of which this is minus the estimate against q ≡ 1). Spread ≈ 1.28/√n for k = 1.
    """
    pts = np.asarray(points, dtype=float)
    zero = np.zeros(pts.shape[0])
    return -kl_knn(pts, lambda p: zero, k=k)


def free_energy_particles(x, v, potential, interaction, temperature, *, k=1,
                          pair_subsample=4000, entropy_subsample=None, rng=0):
    """Estimate L(μ) from a sample of μ (overdamped: v = None).

    Parameters
    ----------
    x : array_like, shape (N,)
    v : array_like, shape (N,), or None
    potential : callable
        Vectorised V.
    interaction : callable or None
        Vectorised even W; the energy ½ E W(X − X′) is the U-statistic over pairs i ≠ j
        of at most ``pair_subsample`` particles (a random subsample when N is larger).
    temperature : float
        λ.
    k : int
        k-NN order of the entropy estimator.
    entropy_subsample : int, optional
        Estimate the entropy on this many particles (the k-NN estimator is consistent
        at any sample size; a subsample bounds the cost).
    rng : numpy Generator or int

    Returns
    -------
    dict of str → float
        ``potential``, ``kinetic`` (0 overdamped), ``interaction``, ``entropy`` (Ĥ),
        ``free_energy`` = potential + kinetic + interaction − λ Ĥ.
    """
    rng = np.random.default_rng(rng)
    x = np.asarray(x, dtype=float).ravel()
    n = x.size
    out = {"potential": float(np.mean(potential(x))), "kinetic": 0.0, "interaction": 0.0}
    if v is not None:
        v = np.asarray(v, dtype=float).ravel()
        out["kinetic"] = float(0.5 * np.mean(v * v))
    if interaction is not None and n > 1:
        sub = x if n <= pair_subsample else x[rng.choice(n, pair_subsample, replace=False)]
        m = sub.size
        total = 0.0
        for start in range(0, m, 512):                     # bounded memory
            block = sub[start:start + 512]
            total += float(np.sum(interaction(block[:, None] - sub[None, :])))
        diag = float(np.sum(interaction(np.zeros(m))))
        out["interaction"] = 0.5 * (total - diag) / (m * (m - 1))
    idx = None
    if entropy_subsample is not None and n > entropy_subsample:
        idx = rng.choice(n, int(entropy_subsample), replace=False)
    xs = x if idx is None else x[idx]
    pts = xs if v is None else np.column_stack([xs, v if idx is None else v[idx]])
    out["entropy"] = float(knn_entropy(pts, k=k))
    out["free_energy"] = (out["potential"] + out["kinetic"] + out["interaction"]
                          - temperature * out["entropy"])
    return out


def free_energy_equilibrium(potential, interaction, temperature, lo, hi, *, kinetic=False,
                            cells=4096):
    """Free energy of the self-consistent stationary law μ* on [lo, hi].

    ρ* ∝ exp(−(V + W*ρ*)/λ) from :func:`validation.exact.self_consistent_equilibrium`
    (midpoint rule on ``cells`` cells), L(ρ*) by the same midpoint rule. Kinetic:
    μ* = ρ* ⊗ M with M = N(0, λ), whose kinetic energy plus λ × (negative entropy) is
    λ/2 − (λ/2)(1 + log 2πλ) = −(λ/2) log(2πλ), added exactly.

    Returns
    -------
    value : float
    x : ndarray (cells,)
    rho : ndarray (cells,)
    """
    lam = float(temperature)
    w = interaction if interaction is not None else (lambda s: np.zeros_like(np.asarray(s, float)))
    x, rho = self_consistent_equilibrium(potential, w, lam, lo, hi, cells=cells)
    h = (hi - lo) / cells
    pot = float(np.sum(np.asarray(potential(x), float) * rho) * h)
    inter = 0.0
    if interaction is not None:
        offsets = h * np.arange(-(cells - 1), cells)
        kern = np.asarray(interaction(offsets), dtype=float)
        from scipy.signal import fftconvolve

        field = fftconvolve(rho, kern, mode="full")[cells - 1: 2 * cells - 1] * h
        inter = 0.5 * float(np.sum(field * rho) * h)
    pos = rho > 0
    ent = float(np.sum(rho[pos] * np.log(rho[pos])) * h)
    value = pot + inter + lam * ent
    if kinetic:
        value += -0.5 * lam * np.log(2.0 * np.pi * lam)
    return value, x, rho
