"""Exact reference solutions: Gaussian flows, Gibbs laws and self-consistent equilibria.

Everything here takes plain numbers, arrays and vectorised callables; nothing imports
``vfp``. The formulas are the ones collected in ``shared/ORACLES.md`` and are derived in
the docstrings.
"""

from __future__ import annotations

import numpy as np
from scipy import integrate, linalg, signal

__all__ = [
    "kinetic_gaussian_moments",
    "overdamped_gaussian_moments",
    "gaussian_pdf_1d",
    "gaussian_pdf_2d",
    "gibbs_density",
    "self_consistent_equilibrium",
    "n_particle_kl",
    "linear_gaussian_moments_nd",
    "tilted_gibbs_moments",
    "mean_map",
    "critical_temperature",
    "ordered_mean",
    "mean_free_energy",
]


def _drift_matrix(stiffness: float, gamma: float) -> np.ndarray:
    """A_c = [[0, 1], [-c, -gamma]]: the linear kinetic drift for a force -c x."""
    return np.array([[0.0, 1.0], [-float(stiffness), -float(gamma)]])


def kinetic_gaussian_moments(t, mean0, cov0, a, kappa, gamma, temperature):
    """Mean and covariance of the kinetic VFP solution for V = a x²/2, W = κ x²/2.

    The law stays Gaussian. The interaction force κ(x − m_x) has zero mean, so the mean
    follows ṁ = A_a m, while the covariance follows Σ̇ = A_c Σ + Σ A_cᵀ + Q with
    c = a + κ and Q = diag(0, 2γλ). Both are solved in closed form: m(t) = e^{A_a t} m₀ and,
    by Van Loan's block exponential exp([[A, Q], [0, −Aᵀ]] t) = [[Φ, Ψ], [0, Φ^{-T}]],
    Σ(t) = Φ Σ₀ Φᵀ + Ψ Φᵀ.

    Parameters
    ----------
    t : float
        Time ≥ 0.
    mean0 : array_like, shape (2,)
        Initial mean (x, v).
    cov0 : array_like, shape (2, 2)
        Initial covariance.
    a, kappa, gamma, temperature : float
        Confinement a (= ω²), interaction strength κ, friction γ, temperature λ.

    Returns
    -------
    mean : ndarray, shape (2,)
    cov : ndarray, shape (2, 2)
    """
    mean0 = np.asarray(mean0, dtype=float)
    cov0 = np.asarray(cov0, dtype=float)
    mean = linalg.expm(_drift_matrix(a, gamma) * t) @ mean0
    A = _drift_matrix(a + kappa, gamma)
    Q = np.diag([0.0, 2.0 * gamma * temperature])
    block = np.zeros((4, 4))
    block[:2, :2] = A
    block[:2, 2:] = Q
    block[2:, 2:] = -A.T
    E = linalg.expm(block * t)
    Phi, Psi = E[:2, :2], E[:2, 2:]
    cov = Phi @ cov0 @ Phi.T + Psi @ Phi.T
    return mean, 0.5 * (cov + cov.T)


def linear_gaussian_moments_nd(t, mean0, cov0, hessian, kappa, temperature, gamma=None):
    """Mean and covariance of the d-dimensional linear-Gaussian law (ORACLES "d
    dimensions"): V(x) = ½ xᵀHx, W(r) = κ|r|²/2, Gaussian start.

    The interaction force κ(x − m) has zero mean, so the mean and the covariance follow
    different matrices. Overdamped (``gamma`` None), state x ∈ R^d:
    m' = −H m,  C' = −A C − C A + 2λ I,  A = H + κI.
    Kinetic, state z = (x, v) ∈ R^{2d}: m' = B_H m,  C' = B_A C + C B_Aᵀ + Q with
    B_M = [[0, I], [−M, −γI]] and Q = diag(0, 2γλ I). Each is one matrix exponential; the
    covariance by Van Loan's block exponential of [[B, Q], [0, −Bᵀ]].

    Parameters
    ----------
    t : float
    mean0 : array_like, shape (D,)
        D = d (overdamped) or 2d (kinetic: positions then velocities).
    cov0 : array_like, shape (D, D)
    hessian : array_like, shape (d, d)
        Symmetric H.
    kappa, temperature : float
    gamma : float or None
        Friction (kinetic); None for the overdamped law.

    Returns
    -------
    mean : ndarray, shape (D,)
    cov : ndarray, shape (D, D)
    """
    H = np.atleast_2d(np.asarray(hessian, dtype=float))
    d = H.shape[0]
    eye = np.eye(d)
    A = H + float(kappa) * eye
    if gamma is None:
        drift_mean, drift_cov = -H, -A
        Q = 2.0 * float(temperature) * eye
    else:
        g = float(gamma)

        def block(M):
            return np.block([[np.zeros((d, d)), eye], [-M, -g * eye]])

        drift_mean, drift_cov = block(H), block(A)
        Q = np.zeros((2 * d, 2 * d))
        Q[d:, d:] = 2.0 * g * float(temperature) * eye
    D = drift_cov.shape[0]
    mean = linalg.expm(drift_mean * t) @ np.asarray(mean0, dtype=float)
    big = np.zeros((2 * D, 2 * D))
    big[:D, :D] = drift_cov
    big[:D, D:] = Q
    big[D:, D:] = -drift_cov.T
    E = linalg.expm(big * t)
    Phi, Psi = E[:D, :D], E[:D, D:]
    cov = Phi @ np.asarray(cov0, dtype=float) @ Phi.T + Psi @ Phi.T
    return mean, 0.5 * (cov + cov.T)


def overdamped_gaussian_moments(t, mean0, var0, a, kappa, temperature):
    """Mean and variance of the overdamped FP solution for V = a x²/2, W = κ x²/2.

    m(t) = m₀ e^{−a t};  s²(t) = s₀² e^{−2ct} + (λ/c)(1 − e^{−2ct}),  c = a + κ.

    Returns
    -------
    mean, var : float
    """
    c = a + kappa
    mean = float(mean0) * np.exp(-a * t)
    var = float(var0) * np.exp(-2.0 * c * t) + temperature / c * (1.0 - np.exp(-2.0 * c * t))
    return mean, var


def gaussian_pdf_1d(x, mean, var):
    """Density of N(mean, var) at ``x`` (any shape)."""
    x = np.asarray(x, dtype=float)
    return np.exp(-0.5 * (x - mean) ** 2 / var) / np.sqrt(2.0 * np.pi * var)


def gaussian_pdf_2d(x, v, mean, cov):
    """Density of N(mean, cov) on the plane at points (x, v) (broadcast together)."""
    x = np.asarray(x, dtype=float) - mean[0]
    v = np.asarray(v, dtype=float) - mean[1]
    inv = np.linalg.inv(cov)
    q = inv[0, 0] * x * x + 2.0 * inv[0, 1] * x * v + inv[1, 1] * v * v
    return np.exp(-0.5 * q) / (2.0 * np.pi * np.sqrt(np.linalg.det(cov)))


def gibbs_density(potential, temperature, lo, hi):
    """Normalised Gibbs density ρ ∝ exp(−V/λ) on [lo, hi], as a vectorised callable.

    The normalising constant is computed by adaptive quadrature (relative error ~1e-12).
    The exponent is shifted by min V on a fine sample to avoid overflow.
    """
    sample = np.linspace(lo, hi, 4097)
    shift = float(np.min(potential(sample)))

    def unnormalised(x):
        return np.exp(-(np.asarray(potential(x), dtype=float) - shift) / temperature)

    z, _ = integrate.quad(lambda s: float(unnormalised(np.array([s]))[0]), lo, hi,
                          limit=400, epsabs=0.0, epsrel=1e-13)

    def density(x):
        return unnormalised(x) / z

    return density


def self_consistent_equilibrium(potential, interaction, temperature, lo, hi, cells=4096,
                                tol=1e-13, max_iter=20000, damping=0.5):
    """Stationary law ρ* ∝ exp(−(V + W*ρ*)/λ) on [lo, hi] by damped fixed-point iteration.

    The map ρ ↦ exp(−(V + W*ρ)/λ)/Z is evaluated at the centres of a fine uniform grid
    (midpoint rule for the convolution and Z, error O(h²)); iterates are mixed with
    ``damping`` until the sup-norm change is below ``tol``. For a strong attractive
    interaction the fixed point may not be unique; this returns the one reached from the
    interaction-free Gibbs law.

    Returns
    -------
    x : ndarray, shape (cells,)
        Cell centres.
    rho : ndarray, shape (cells,)
        Density at the centres, normalised so that sum(rho) * h = 1.
    """
    h = (hi - lo) / cells
    x = lo + h * (np.arange(cells) + 0.5)
    offsets = h * np.arange(-(cells - 1), cells)
    kernel = np.asarray(interaction(offsets), dtype=float)
    v_values = np.asarray(potential(x), dtype=float)

    def gibbs_map(rho):
        field = signal.fftconvolve(rho, kernel, mode="full")[cells - 1: 2 * cells - 1] * h
        energy = v_values + field
        w = np.exp(-(energy - energy.min()) / temperature)
        return w / (w.sum() * h)

    rho = gibbs_map(np.zeros(cells))
    for _ in range(max_iter):
        new = gibbs_map(rho)
        change = np.max(np.abs(new - rho))
        rho = (1.0 - damping) * rho + damping * new
        if change < tol * max(1.0, np.max(rho)):
            return x, gibbs_map(rho)
    raise RuntimeError(f"self-consistent iteration did not converge in {max_iter} steps")


def n_particle_kl(t, a, kappa, temperature, var0=None, cov0=None, gamma=None):
    """KL(law of the N particles ‖ μ_t^{⊗N}) for V = a x²/2, W = κ x²/2, i.i.d. Gaussian start.

    The particle system is linear. In the centre-of-mass direction 𝟙/√N the interaction
    cancels, so that coordinate evolves with confinement a; in the N − 1 orthogonal
    directions it evolves with a + κ — exactly as one mean-field particle does. Means
    agree, so the KL comes from the one direction where the covariances differ and is
    independent of N:

    * overdamped: KL_t = ½(r − 1 − ln r), r = v_a(t)/v_{a+κ}(t), v̇_c = −2c v_c + 2λ,
      v_c(0) = var0;
    * kinetic (pass ``gamma`` and ``cov0``, the 2×2 initial covariance of (x, v)):
      KL_t = ½[tr(Σ_{a+κ}⁻¹ Σ_a) − 2 + ln(det Σ_{a+κ}/det Σ_a)], Σ_c(t) the covariance
      flow of :func:`kinetic_gaussian_moments` with confinement c and no interaction.

    The normalised quantity that propagation of chaos bounds is (1/N)·KL_t, exactly of
    order 1/N. As t → ∞, KL_t → ½[κ/a − ln(1 + κ/a)] in both regimes (per dimension
    pair for the kinetic one, since the stationary velocity law is the same).

    Returns
    -------
    float
        KL_t (divide by N for the per-particle value).
    """
    if gamma is None:
        _, va = overdamped_gaussian_moments(t, 0.0, var0, a, 0.0, temperature)
        _, vc = overdamped_gaussian_moments(t, 0.0, var0, a + kappa, 0.0, temperature)
        r = va / vc
        return 0.5 * (r - 1.0 - np.log(r))
    zero = np.zeros(2)
    _, sa = kinetic_gaussian_moments(t, zero, cov0, a, 0.0, gamma, temperature)
    _, sc = kinetic_gaussian_moments(t, zero, cov0, a + kappa, 0.0, gamma, temperature)
    inv = np.linalg.inv(sc)
    return 0.5 * (np.trace(inv @ sa) - 2.0 + np.log(np.linalg.det(sc) / np.linalg.det(sa)))


# ---------------------------------------------------------------------------------------
# Mean-field phase transition with a quadratic interaction (Desai–Zwanzig, Dawson)
#
# With W = κx²/2, W*ρ(x) = κ(x²/2 − m x) + const, m = ∫xρ, so every stationary law is a
# tilted Gibbs law ρ_h ∝ exp(−(U(x) − h x)/λ), U = V + κx²/2, with h = κm: the fixed-point
# problem of self_consistent_equilibrium reduces to the scalar equation m = R(m).


def tilted_gibbs_moments(potential, kappa, temperature, h, lo, hi, points=8193):
    """Mean, variance and log-normaliser of ρ_h ∝ exp(−(V(x) + κx²/2 − h x)/λ) on [lo, hi].

    Trapezoid rule on ``points`` equally spaced nodes (exponentially accurate when the
    density is negligible at both ends, O(h²) otherwise), exponent shifted by its maximum.

    Parameters
    ----------
    potential : callable
        Vectorised V.
    kappa, temperature : float
        Interaction strength κ (W = κx²/2) and temperature λ > 0.
    h : float or array_like, shape (K,)
        Tilts (external fields).
    lo, hi : float
        The interval.
    points : int

    Returns
    -------
    mean, var, log_z : ndarray, shape of ``h``
        ∫x ρ_h, ∫(x − mean)² ρ_h and log ∫exp(−(U − h x)/λ) dx.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0 (got {temperature})")
    x = np.linspace(float(lo), float(hi), int(points))
    tilt = np.asarray(h, dtype=float)
    exponent = -(np.asarray(potential(x), dtype=float) + 0.5 * kappa * x * x
                 - tilt[..., None] * x) / temperature
    top = exponent.max(axis=-1, keepdims=True)
    w = np.exp(exponent - top)
    z = np.trapezoid(w, x, axis=-1)
    mean = np.trapezoid(w * x, x, axis=-1) / z
    var = np.trapezoid(w * (x - mean[..., None]) ** 2, x, axis=-1) / z
    return mean, var, np.log(z) + top[..., 0]


def mean_map(potential, kappa, temperature, m, lo, hi, points=8193):
    """R(m) = ∫x ρ_m dx with ρ_m ∝ exp(−(V(x) + κ(x²/2 − m x))/λ) on [lo, hi].

    The stationary laws of ∂tρ = ∂x((V' + W'*ρ)ρ) + λ∂x²ρ with W = κx²/2 are the ρ_m with
    m = R(m). For an even V, m = 0 is always one; R'(0) = (κ/λ)Var_{ρ_0}(x).

    Parameters
    ----------
    m : float or array_like, shape (K,)
    (others as :func:`tilted_gibbs_moments`)

    Returns
    -------
    ndarray, shape of ``m``
    """
    return tilted_gibbs_moments(potential, kappa, temperature, kappa * np.asarray(m, dtype=float),
                                lo, hi, points)[0]


def critical_temperature(potential, kappa, lo, hi, bracket=(1e-3, 1e3), points=8193):
    """λ_c of the symmetric state of an even V with W = κx²/2 (κ > 0): R'(0) = 1, i.e.
    κ Var_{ρ_0}(x) = λ with ρ_0 ∝ exp(−(V + κx²/2)/λ).

    Below λ_c the symmetric law is unstable and two more stationary laws ρ_{±m*} appear.
    Solved by Brent's method in log λ on ``bracket``, which must hold exactly one sign
    change of κVar(λ)/λ − 1 on a 200-point scan (else ValueError).

    Returns
    -------
    float
    """
    from scipy import optimize

    if not kappa > 0:
        raise ValueError(f"kappa must be > 0 for a phase transition (got {kappa})")

    def excess(log_lam):
        lam = np.exp(log_lam)
        return np.log(kappa * tilted_gibbs_moments(potential, kappa, lam, 0.0, lo, hi,
                                                   points)[1] / lam)

    scan = np.linspace(np.log(bracket[0]), np.log(bracket[1]), 200)
    values = np.array([excess(s) for s in scan])
    changes = np.flatnonzero(np.sign(values[:-1]) != np.sign(values[1:]))
    if changes.size != 1:
        raise ValueError(f"R'(0) − 1 changes sign {changes.size} times on temperatures "
                         f"{bracket}; expected exactly one")
    k = changes[0]
    return float(np.exp(optimize.brentq(excess, scan[k], scan[k + 1], xtol=1e-14,
                                        rtol=1e-14)))


def ordered_mean(potential, kappa, temperature, lo, hi, points=8193):
    """m* ≥ 0: the largest positive solution of m = R(m), or 0.0 when there is none
    (above λ_c for the double well).

    The root of (R(m) − m)/m (its limit at 0⁺ is R'(0) − 1; dividing by m keeps the
    bifurcating root isolated from m = 0) is bracketed on a 200-point scan of (0, hi) and
    refined by Brent's method.

    Returns
    -------
    float
    """
    from scipy import optimize

    def gap(m):
        return (mean_map(potential, kappa, temperature, m, lo, hi, points) - m) / m

    ms = np.linspace(0.0, float(hi), 201)[1:]
    ms[0] = min(ms[0], 1e-6 * float(hi))
    values = gap(ms)
    down = np.flatnonzero((values[:-1] > 0) & (values[1:] <= 0))
    if down.size == 0:
        return 0.0
    k = down[-1]
    return float(optimize.brentq(lambda m: float(gap(np.array(m))), ms[k], ms[k + 1],
                                 xtol=1e-14, rtol=1e-14))


def mean_free_energy(potential, kappa, temperature, m, lo, hi, points=8193):
    """Φ(m): the least free energy of a law with mean m (Landau free energy per particle).

    F(ρ) = ∫Vρ + ½∫∫W(x−y)ρρ + λ∫ρ log ρ with W = κx²/2 is ∫Uρ + λ∫ρ log ρ − κm²/2,
    U = V + κx²/2; minimised at fixed mean by a tilted Gibbs law ρ_h (Lagrange multiplier
    h, chosen so that its mean is m):

        Φ(m) = h m − λ log Z(h) − κ m²/2,   Φ'(m) = h − κ m,

    so the critical points of Φ are the stationary laws. For N particles the law of the
    empirical mean at equilibrium is ≈ exp(−N Φ(m)/λ), so escaping a well takes a time
    ≈ exp(N ΔΦ/λ) with ΔΦ = Φ(0) − Φ(m*) (Kramers) — finite for every N.

    Parameters
    ----------
    m : float
        Inside the open range of means reachable on [lo, hi].

    Returns
    -------
    float
    """
    from scipy import optimize

    m = float(m)

    def mismatch(h):
        return float(tilted_gibbs_moments(potential, kappa, temperature, h, lo, hi,
                                          points)[0]) - m

    span = 1.0
    while mismatch(-span) > 0 or mismatch(span) < 0:
        span *= 2.0
        if span > 1e6:
            raise ValueError(f"mean {m} is not reachable on [{lo}, {hi}]")
    h = optimize.brentq(mismatch, -span, span, xtol=1e-14, rtol=1e-14)
    log_z = float(tilted_gibbs_moments(potential, kappa, temperature, h, lo, hi, points)[2])
    return h * m - temperature * log_z - 0.5 * kappa * m * m
