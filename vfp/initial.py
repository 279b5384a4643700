"""Initial data, defined once: exact cell averages for the grid, samples for the particles.

An initial law is a mixture of axis-aligned Gaussians in one (overdamped: x) or two
(kinetic: x, v) dimensions. Its cell averages over a rectangle are exact products of
error-function differences, so the grid starts from the same law the particles are
drawn from, without quadrature error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = ["GaussianMixture", "gaussian", "SAMPLE_IN_ROUNDS"]

SAMPLE_IN_ROUNDS = 16  # redraw rounds before exact truncated sampling takes over


def _interval_masses(edges, mean, std):
    """P(edges[k] < X < edges[k+1]) for X ~ N(mean, std²), accurate in both tails."""
    z = (np.asarray(edges, dtype=float) - mean) / (std * np.sqrt(2.0))
    # Use erfc on the upper tail so tiny masses are not lost to cancellation.
    upper = z > 0
    cdf = np.where(upper, 1.0 - 0.5 * special.erfc(z), 0.5 * special.erfc(-z))
    sf = np.where(upper, 0.5 * special.erfc(z), 1.0 - 0.5 * special.erfc(-z))
    masses = np.where(z[1:] > 0, sf[:-1] - sf[1:], cdf[1:] - cdf[:-1])
    return np.maximum(masses, 0.0)


@dataclass(frozen=True)
class GaussianMixture:
    """Σ_k w_k N(mean_k, diag(std_k²)) in ``dim`` = 1 (x) or 2 (x, v) dimensions.

    Parameters
    ----------
    weights : array_like, shape (K,)
        Non-negative, normalised on construction.
    means, stds : array_like, shape (K, dim)
        Component means and standard deviations (std > 0).
    """

    weights: np.ndarray
    means: np.ndarray
    stds: np.ndarray

    def __post_init__(self):
        w = np.atleast_1d(np.asarray(self.weights, dtype=float))
        m = np.asarray(self.means, dtype=float).reshape(len(w), -1)
        s = np.asarray(self.stds, dtype=float).reshape(len(w), -1)
        if m.shape != s.shape or m.shape[1] not in (1, 2):
            raise ValueError("means and stds must have shape (components, 1 or 2)")
        if np.any(w < 0) or w.sum() <= 0 or not np.all(np.isfinite(w)):
            raise ValueError("weights must be non-negative with a positive sum")
        if np.any(s <= 0) or not np.all(np.isfinite(s)) or not np.all(np.isfinite(m)):
            raise ValueError("std must be > 0 and finite")
        object.__setattr__(self, "weights", w / w.sum())
        object.__setattr__(self, "means", m)
        object.__setattr__(self, "stds", s)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def mean(self) -> np.ndarray:
        """Mean vector, shape (dim,)."""
        return self.weights @ self.means

    def cov(self) -> np.ndarray:
        """Covariance matrix, shape (dim, dim)."""
        m = self.mean()
        second = sum(w * (np.diag(s**2) + np.outer(mu, mu))
                     for w, mu, s in zip(self.weights, self.means, self.stds))
        return second - np.outer(m, m)

    def pdf(self, x, v=None):
        """Density at x (1-D) or at (x, v) (2-D), broadcasting the inputs."""
        x = np.asarray(x, dtype=float)
        total = 0.0
        for w, mu, s in zip(self.weights, self.means, self.stds):
            term = np.exp(-0.5 * ((x - mu[0]) / s[0]) ** 2) / (s[0] * np.sqrt(2 * np.pi))
            if self.dim == 2:
                v = np.asarray(v, dtype=float)
                term = term * np.exp(-0.5 * ((v - mu[1]) / s[1]) ** 2) / (s[1] * np.sqrt(2 * np.pi))
            total = total + w * term
        return total

    def cell_masses(self, x_edges, v_edges=None) -> np.ndarray:
        """Exact probability of each cell: shape (n_x,) or (n_x, n_v)."""
        total = 0.0
        for w, mu, s in zip(self.weights, self.means, self.stds):
            px = _interval_masses(x_edges, mu[0], s[0])
            if self.dim == 2:
                total = total + w * np.outer(px, _interval_masses(v_edges, mu[1], s[1]))
            else:
                total = total + w * px
        return total

    def cell_averages(self, x_edges, v_edges=None, normalise=True):
        """Exact cell averages of the density (masses / cell volume).

        With ``normalise`` the result is rescaled to unit mass on the domain, so the grid
        and the particles describe the same probability law; the mass that fell outside
        the domain is returned alongside.

        Returns
        -------
        averages : ndarray, shape (n_x,) or (n_x, n_v)
        outside : float
            Probability mass of the initial law outside the domain.
        """
        if (self.dim == 2) != (v_edges is not None):
            raise ValueError("give v_edges exactly when the law is two-dimensional")
        masses = self.cell_masses(x_edges, v_edges)
        volume = np.diff(x_edges)[:, None] * np.diff(v_edges)[None, :] if self.dim == 2 \
            else np.diff(x_edges)
        inside = float(masses.sum())
        if normalise and inside > 0:
            masses = masses / inside
        return masses / volume, max(0.0, 1.0 - inside)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` points: shape (n,) in 1-D, (n, 2) in 2-D."""
        counts = rng.multinomial(n, self.weights)
        parts = [rng.normal(mu, s, size=(c, self.dim))
                 for c, mu, s in zip(counts, self.means, self.stds)]
        out = np.concatenate(parts, axis=0)
        out = out[rng.permutation(n)] if len(self.weights) > 1 else out
        return out[:, 0].copy() if self.dim == 1 else out

    def inside_mass(self, lo, hi) -> float:
        """P(lo ≤ X ≤ hi) for the x-component X."""
        return float(sum(w * _interval_masses(np.array([lo, hi]), mu[0], s[0])[0]
                         for w, mu, s in zip(self.weights, self.means, self.stds)))

    def sample_in(self, n, rng, lo, hi, max_rounds=SAMPLE_IN_ROUNDS):
        """Sample conditioned on x ∈ [lo, hi] (matches the normalised grid data).

        Points outside are redrawn from the whole law for at most ``max_rounds`` rounds
        (cheap when little mass lies outside); whatever is still outside then is drawn
        exactly from the conditioned law (component chosen with weights w_k·P_k(inside),
        x from the truncated normal by inverse CDF, v from its normal), so the work is
        bounded however little mass lies inside.

        Raises
        ------
        ValueError
            No mass of the law lies inside [lo, hi] (in floating point).
        """
        out = self.sample(n, rng)
        xs = out if self.dim == 1 else out[:, 0]
        bad = (xs < lo) | (xs > hi)
        rounds = 0
        while np.any(bad) and rounds < max_rounds:
            redraw = self.sample(int(bad.sum()), rng)
            out[bad] = redraw
            xs = out if self.dim == 1 else out[:, 0]
            bad = (xs < lo) | (xs > hi)
            rounds += 1
        if np.any(bad):
            out[bad] = self._sample_truncated(int(bad.sum()), rng, lo, hi)
        return out

    def _sample_truncated(self, m, rng, lo, hi):
        from scipy.stats import truncnorm

        inside = np.array([_interval_masses(np.array([lo, hi]), mu[0], s[0])[0]
                           for mu, s in zip(self.means, self.stds)])
        weights = self.weights * inside
        if not weights.sum() > 0:
            raise ValueError(f"the initial law has no mass inside [{lo:g}, {hi:g}]")
        counts = rng.multinomial(m, weights / weights.sum())
        parts = []
        for c, mu, s in zip(counts, self.means, self.stds):
            if c == 0:
                continue
            a, b = (lo - mu[0]) / s[0], (hi - mu[0]) / s[0]
            x = truncnorm.rvs(a, b, loc=mu[0], scale=s[0], size=c, random_state=rng)
            x = np.clip(x, lo, hi)  # the inverse CDF may round a hair outside
            if self.dim == 2:
                x = np.column_stack([x, rng.normal(mu[1], s[1], size=c)])
            parts.append(x)
        out = np.concatenate(parts, axis=0)
        return out[rng.permutation(m)]


def gaussian(mean, std) -> GaussianMixture:
    """A single Gaussian; ``mean``/``std`` are scalars (1-D) or pairs (x, v)."""
    mean = np.atleast_1d(np.asarray(mean, dtype=float))
    std = np.atleast_1d(np.asarray(std, dtype=float))
    return GaussianMixture(np.ones(1), mean[None, :], std[None, :])
