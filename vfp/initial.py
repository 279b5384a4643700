"""Initial data, defined once: cell averages for the grid, samples for the particles.

An initial law is a mixture of Gaussians in D dimensions: D = d (overdamped: x1..xd) or
D = 2d (kinetic: x1..xd, then v1..vd). A component's covariance is diagonal (``stds``)
or a full symmetric positive-definite matrix (``covs``).

Cell averages on a tensor grid. With diagonal covariances they are exact products of
error-function differences, so the grid starts from the same law the particles are drawn
from, without quadrature error. A full covariance is split into its independent blocks
(connected components of the non-zero pattern; a block of one axis is exact as above).
In a coupled block of b axes the last axis is integrated exactly, conditioned on the
others (the conditional law of a Gaussian is Gaussian, its mean linear in the other
axes), and the b − 1 leading axes by a tensor Gauss–Legendre rule of q nodes per cell,
in a compiled kernel parallel over cells (:mod:`vfp.gaussian_cells`; no arrays beyond the
result, so a 64⁴ coupled grid of 1.7e7 cells needs only its 134 MB of output). q is
chosen per block so that the L1 error of the cell masses stays below
``QUADRATURE_TOLERANCE`` = 1e-7 (:func:`_auto_order`: an error model measured on 2-D
laws, checked in tests/test_config_nd.py against an independent bivariate normal CDF);
typical grids (cell width h ≤ σ/2) take q = 3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = ["GaussianMixture", "gaussian", "SAMPLE_IN_ROUNDS", "QUADRATURE_TOLERANCE"]

SAMPLE_IN_ROUNDS = 16      # redraw rounds before exact truncated sampling takes over
QUADRATURE_TOLERANCE = 1e-7  # L1 error aimed at by the full-covariance cell masses
MAX_QUADRATURE_ORDER = 16    # Gauss–Legendre nodes per cell and coupled axis, at most
BOX_CDF_TOLERANCE = 1e-6     # correlated box probabilities in ≥ 3 dimensions (Genz QMC)
SYMMETRY_TOLERANCE = 1e-12  # |C − Cᵀ| ≤ tol·max|C| counts as symmetric


def _interval_masses(edges, mean, std):
    """P(edges[k] < X < edges[k+1]) for X ~ N(mean, std²), accurate in both tails.

    ``edges`` runs along the last axis; ``mean`` may be an array broadcasting against
    ``edges[..., :1]`` (one Gaussian per leading index)."""
    z = (np.asarray(edges, dtype=float) - mean) / (std * np.sqrt(2.0))
    # tail = P(beyond |z|) from erfc of one sign, so tiny masses in either tail are not
    # lost to cancellation (and erfc runs once per edge)
    tail = 0.5 * special.erfc(np.abs(z))
    ta, tb = tail[..., :-1], tail[..., 1:]
    za, zb = z[..., :-1], z[..., 1:]
    masses = np.where(zb > 0, np.where(za > 0, ta - tb, (1.0 - ta) - tb), tb - ta)
    return np.maximum(masses, 0.0)


def _edges_list(edges):
    """Accept ``f(e1, e2, ...)`` and ``f([e1, e2, ...])``: a tuple of 1-D float arrays."""
    if len(edges) == 1 and isinstance(edges[0], (list, tuple)) and edges[0] and \
            all(np.ndim(e) == 1 for e in edges[0]):
        edges = tuple(edges[0])
    out = tuple(np.asarray(e, dtype=float) for e in edges)
    for e in out:
        if e.ndim != 1 or len(e) < 2 or np.any(np.diff(e) <= 0):
            raise ValueError("edges must be increasing 1-D arrays of at least two values")
    return out


def _blocks(cov):
    """Independent blocks of a covariance: lists of axes, connected by C_ij ≠ 0."""
    dim = len(cov)
    seen, blocks = set(), []
    for start in range(dim):
        if start in seen:
            continue
        block, todo = [], [start]
        seen.add(start)
        while todo:
            i = todo.pop()
            block.append(i)
            for j in np.flatnonzero(cov[i] != 0.0):
                if int(j) not in seen:
                    seen.add(int(j))
                    todo.append(int(j))
        blocks.append(sorted(block))
    return blocks


def _auto_order(edges, cov, tolerance):
    """Gauss–Legendre nodes per cell for a coupled block: the fewest q ≥ 2 with
    10·(r/10)^{2q} ≤ tolerance, r = max_k h_k/s_k the widest cell of a leading axis over
    the narrowest scale of the integrand along it (the conditional standard deviation
    1/√P_kk of the leading density, and s/|β_k| of the exact last-axis factor). The
    error model 10·(r/10)^{2q} is the L1 error measured for 2-D laws at r = 0.16 ... 2.5
    and q = 2 ... 10 (tests/test_config_nd.py checks the tolerance)."""
    lead_cov = cov[:-1, :-1]
    precision = np.linalg.inv(lead_cov)
    beta = np.linalg.solve(lead_cov, cov[:-1, -1])
    cond_std = np.sqrt(cov[-1, -1] - cov[-1, :-1] @ beta)
    ratio = 0.0
    for k, e in enumerate(edges[:-1]):
        scale = 1.0 / np.sqrt(precision[k, k])
        if beta[k] != 0:
            scale = min(scale, cond_std / abs(beta[k]))
        ratio = max(ratio, float(np.max(np.diff(e))) / scale)
    if ratio >= 10.0:
        return MAX_QUADRATURE_ORDER
    q = np.log(tolerance / 10.0) / (2.0 * np.log(ratio / 10.0)) if ratio > 0 else 2
    return int(np.clip(np.ceil(q), 2, MAX_QUADRATURE_ORDER))


def _coupled_block_masses(edges, mean, cov, order):
    """Cell masses of N(mean, cov) on the tensor grid ``edges`` (b ≥ 2 coupled axes):
    the last axis exactly (conditional Gaussian), the others by Gauss–Legendre
    (:mod:`vfp.gaussian_cells`)."""
    from .gaussian_cells import block_rule, coupled_cell_masses

    if order is None:
        order = _auto_order(edges, cov, QUADRATURE_TOLERANCE)
    return coupled_cell_masses(block_rule(edges, mean, cov, order))


@dataclass(frozen=True)
class GaussianMixture:
    """Σ_k w_k N(mean_k, C_k) in ``dim`` = D dimensions.

    Parameters
    ----------
    weights : array_like, shape (K,)
        Non-negative, normalised on construction.
    means : array_like, shape (K, D)
        Component means.
    stds : array_like, shape (K, D), optional
        Standard deviations (std > 0) of diagonal covariances C_k = diag(std_k²).
    covs : array_like, shape (K, D, D), optional
        Full symmetric positive-definite covariances, instead of ``stds`` (then ``stds``
        holds the square roots of their diagonals).

    D = d for an overdamped law (x1..xd), 2d for a kinetic one (x1..xd, v1..vd); with
    d = 1 the axes are x (and v) as before.
    """

    weights: np.ndarray
    means: np.ndarray
    stds: np.ndarray | None = None
    covs: np.ndarray | None = None

    def __post_init__(self):
        w = np.atleast_1d(np.asarray(self.weights, dtype=float))
        m = np.asarray(self.means, dtype=float).reshape(len(w), -1)
        if (self.stds is None) == (self.covs is None):
            raise ValueError("give stds or covs (exactly one)")
        if np.any(w < 0) or w.sum() <= 0 or not np.all(np.isfinite(w)):
            raise ValueError("weights must be non-negative with a positive sum")
        if m.shape[1] < 1 or not np.all(np.isfinite(m)):
            raise ValueError("means must be finite, shape (components, dimension)")
        covs = None
        if self.covs is not None:
            covs = np.asarray(self.covs, dtype=float)
            if covs.shape != (len(w), m.shape[1], m.shape[1]):
                raise ValueError(f"cov must be a {m.shape[1]}×{m.shape[1]} matrix per component "
                                 f"(got shape {covs.shape[1:]})")
            if not np.all(np.isfinite(covs)):
                raise ValueError("cov must be finite")
            for c in covs:
                if np.max(np.abs(c - c.T)) > SYMMETRY_TOLERANCE * np.max(np.abs(c)):
                    raise ValueError("cov must be symmetric")
                try:
                    np.linalg.cholesky(0.5 * (c + c.T))
                except np.linalg.LinAlgError:
                    raise ValueError("cov must be positive definite") from None
            covs = 0.5 * (covs + np.swapaxes(covs, 1, 2))
            s = np.sqrt(np.einsum("kii->ki", covs))
        else:
            s = np.asarray(self.stds, dtype=float).reshape(len(w), -1)
        if m.shape != s.shape:
            raise ValueError("means and stds must have the same shape (components, dimension)")
        if np.any(s <= 0) or not np.all(np.isfinite(s)):
            raise ValueError("std must be > 0 and finite")
        object.__setattr__(self, "weights", w / w.sum())
        object.__setattr__(self, "means", m)
        object.__setattr__(self, "stds", s)
        object.__setattr__(self, "covs", covs)

    @property
    def dim(self) -> int:
        """D, the number of coordinates of a point of the law."""
        return self.means.shape[1]

    def component_covs(self) -> np.ndarray:
        """Covariance of every component, shape (K, D, D)."""
        if self.covs is not None:
            return self.covs.copy()
        return np.stack([np.diag(s**2) for s in self.stds])

    def mean(self) -> np.ndarray:
        """Mean vector, shape (D,)."""
        return self.weights @ self.means

    def cov(self) -> np.ndarray:
        """Covariance matrix, shape (D, D)."""
        m = self.mean()
        second = sum(w * (c + np.outer(mu, mu))
                     for w, mu, c in zip(self.weights, self.means, self.component_covs()))
        return second - np.outer(m, m)

    def pdf(self, *coords):
        """Density at points given by D broadcasting coordinate arrays (x, v in 1x1v)."""
        if len(coords) == 2 and coords[1] is None and self.dim == 1:
            coords = coords[:1]  # pdf(x, None): the d = 1 overdamped call
        if len(coords) != self.dim:
            raise ValueError(f"give {self.dim} coordinate arrays (got {len(coords)})")
        arrays = np.broadcast_arrays(*(np.asarray(c, dtype=float) for c in coords))
        total = 0.0
        for w, mu, s, c in zip(self.weights, self.means, self.stds, self.component_covs()):
            if self.covs is None:
                term = 1.0
                for a, mk, sk in zip(arrays, mu, s):
                    term = term * np.exp(-0.5 * ((a - mk) / sk) ** 2) / (sk * np.sqrt(2 * np.pi))
            else:
                prec = np.linalg.inv(c)
                y = [a - mk for a, mk in zip(arrays, mu)]
                quad = sum(prec[i, j] * y[i] * y[j]
                           for i in range(self.dim) for j in range(self.dim))
                term = np.exp(-0.5 * quad) / np.sqrt((2 * np.pi) ** self.dim * np.linalg.det(c))
            total = total + w * term
        return total

    def cell_masses(self, *edges, order: int | None = None) -> np.ndarray:
        """Probability of each cell of the tensor grid ``edges`` (one array per axis, or
        one list of them): shape (n_1, ..., n_D). Exact for diagonal covariances; a full
        covariance within the stated quadrature tolerance (module docstring). ``order``:
        Gauss–Legendre nodes per cell on coupled axes (None: chosen for the tolerance)."""
        if len(edges) == 2 and edges[1] is None:
            edges = edges[:1]  # cell_masses(x_edges, None): the d = 1 overdamped call
        edges = _edges_list(edges)
        if len(edges) != self.dim:
            raise ValueError(f"give edges for {self.dim} axes (got {len(edges)})")
        total = 0.0
        for w, mu, s, c in zip(self.weights, self.means, self.stds, self.component_covs()):
            blocks = [[k] for k in range(self.dim)] if self.covs is None else _blocks(c)
            factors = []
            for block in blocks:
                if len(block) == 1:
                    k = block[0]
                    factors.append(_interval_masses(edges[k], mu[k], s[k]))
                else:
                    factors.append(_coupled_block_masses([edges[k] for k in block], mu[block],
                                                         c[np.ix_(block, block)], order))
            total = total + w * _outer_blocks(factors, blocks, self.dim)
        return total

    def cell_averages(self, *edges, normalise=True, order: int | None = None):
        """Cell averages of the density (masses / cell volume) on a tensor grid.

        With ``normalise`` the result is rescaled to unit mass on the domain, so the grid
        and the particles describe the same probability law; the mass that fell outside
        the domain is returned alongside.

        Parameters
        ----------
        *edges : 1-D arrays, one per axis (or one list of them)
            Cell edges of each of the D axes, positions first (d = 1: x_edges, v_edges).

        Returns
        -------
        averages : ndarray, shape (n_1, ..., n_D)
        outside : float
            Probability mass of the initial law outside the domain.
        """
        if len(edges) == 2 and edges[1] is None and self.dim != 1:
            raise ValueError("give v_edges exactly when the law is two-dimensional")
        if len(edges) == 2 and edges[1] is None:
            edges = edges[:1]
        edges = _edges_list(edges)
        if len(edges) != self.dim:
            if self.dim <= 2 and len(edges) <= 2:
                raise ValueError("give v_edges exactly when the law is two-dimensional")
            raise ValueError(f"give edges for {self.dim} axes (got {len(edges)})")
        masses = self.cell_masses(*edges, order=order)
        volume = np.diff(edges[0])
        for e in edges[1:]:
            volume = np.multiply.outer(volume, np.diff(e))
        inside = float(masses.sum())
        if normalise and inside > 0:
            masses = masses / inside
        return masses / volume, max(0.0, 1.0 - inside)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` points: shape (n,) when D = 1, else (n, D)."""
        counts = rng.multinomial(n, self.weights)
        if self.covs is None:
            parts = [rng.normal(mu, s, size=(c, self.dim))
                     for c, mu, s in zip(counts, self.means, self.stds)]
        else:
            parts = [mu + rng.standard_normal((c, self.dim)) @ np.linalg.cholesky(cov).T
                     for c, mu, cov in zip(counts, self.means, self.covs)]
        out = np.concatenate(parts, axis=0)
        out = out[rng.permutation(n)] if len(self.weights) > 1 else out
        return out[:, 0].copy() if self.dim == 1 else out

    @staticmethod
    def _box(lo, hi):
        lo = np.atleast_1d(np.asarray(lo, dtype=float))
        hi = np.atleast_1d(np.asarray(hi, dtype=float))
        if lo.shape != hi.shape or lo.ndim != 1:
            raise ValueError("lo and hi must be numbers or arrays of the same length")
        return lo, hi

    def _component_box_masses(self, lo, hi):
        """P_k(lo ≤ first len(lo) coordinates ≤ hi) for every component k, shape (K,)."""
        lo, hi = self._box(lo, hi)
        b = len(lo)
        if b > self.dim:
            raise ValueError(f"a box of {b} axes for a law of {self.dim}")
        out = []
        for mu, s, c in zip(self.means, self.stds, self.component_covs()):
            box_cov = c[:b, :b]
            if self.covs is None or np.count_nonzero(box_cov - np.diag(np.diag(box_cov))) == 0:
                p = 1.0
                for k in range(b):
                    p *= _interval_masses(np.array([lo[k], hi[k]]), mu[k], s[k])[0]
            else:
                # union bound from the exact 1-D marginals: P ≥ 1 − Σ_k P(X_k ∉ [lo_k, hi_k]);
                # when it is within 1e-12 of 1 it is the answer to 1e-12
                miss = sum(1.0 - _interval_masses(np.array([lo[k], hi[k]]), mu[k], s[k])[0]
                           for k in range(b))
                if miss <= 1e-12:
                    out.append(1.0 - miss)
                    continue
                from scipy.stats import multivariate_normal

                # exact-to-round-off in 2-D; Genz's quasi-Monte Carlo beyond, whose cost
                # grows fast with the accuracy asked (4-D: 0.4 s at 1e-6, 11 s at 1e-8)
                eps = 1e-10 if b == 2 else BOX_CDF_TOLERANCE
                p = float(multivariate_normal.cdf(hi, mu[:b], box_cov, lower_limit=lo,
                                                  abseps=eps, releps=eps,
                                                  rng=np.random.default_rng(0)))
            out.append(max(float(p), 0.0))
        return np.array(out)

    def inside_mass(self, lo, hi) -> float:
        """P(lo ≤ X ≤ hi) for the first len(lo) coordinates X (a number: the x of d = 1).

        Exact (erf) for independent coordinates; a correlated box uses scipy's
        multivariate normal CDF: to 1e-10 in 2-D, to ``BOX_CDF_TOLERANCE`` = 1e-6 (absolute
        and relative) in 3 or more dimensions."""
        return float(self.weights @ self._component_box_masses(lo, hi))

    def sample_in(self, n, rng, lo, hi, max_rounds=SAMPLE_IN_ROUNDS):
        """Sample conditioned on the positions lying in the box [lo, hi] (matches the
        normalised grid data); ``lo``, ``hi``: numbers (the x of d = 1) or arrays of
        length d, boxing the first d coordinates (velocities are not boxed).

        Points outside are redrawn from the whole law for at most ``max_rounds`` rounds
        (cheap when little mass lies outside); whatever is still outside then is drawn
        exactly from the conditioned law (component chosen with weights w_k·P_k(inside);
        diagonal covariances: each boxed coordinate from its truncated normal by inverse
        CDF, the others from their normals; a full covariance: batched rejection from the
        component, whose expected work is 1/P_k(inside) draws per point), so the work is
        bounded however little mass lies inside a diagonal law's box.

        Raises
        ------
        ValueError
            No mass of the law lies inside the box (in floating point).
        """
        box_lo, box_hi = self._box(lo, hi)
        out = self.sample(n, rng)

        def outside(points):
            pos = points[:, None] if self.dim == 1 else points[:, :len(box_lo)]
            return np.any((pos < box_lo) | (pos > box_hi), axis=1)

        bad = outside(out)
        rounds = 0
        while np.any(bad) and rounds < max_rounds:
            redraw = self.sample(int(bad.sum()), rng)
            out[bad] = redraw
            bad = outside(out)
            rounds += 1
        if np.any(bad):
            out[bad] = self._sample_truncated(int(bad.sum()), rng, box_lo, box_hi)
        return out

    def _sample_truncated(self, m, rng, lo, hi):
        from scipy.stats import truncnorm

        inside = self._component_box_masses(lo, hi)
        weights = self.weights * inside
        if not weights.sum() > 0:
            where = f"[{lo[0]:g}, {hi[0]:g}]" if len(lo) == 1 else \
                " × ".join(f"[{a:g}, {b:g}]" for a, b in zip(lo, hi))
            raise ValueError(f"the initial law has no mass inside {where}")
        counts = rng.multinomial(m, weights / weights.sum())
        parts = []
        for k, (c, mu, s) in enumerate(zip(counts, self.means, self.stds)):
            if c == 0:
                continue
            if self.covs is not None:
                parts.append(self._rejection(c, rng, k, lo, hi, inside[k]))
                continue
            cols = []
            for axis in range(len(lo)):
                a, b = (lo[axis] - mu[axis]) / s[axis], (hi[axis] - mu[axis]) / s[axis]
                x = truncnorm.rvs(a, b, loc=mu[axis], scale=s[axis], size=c, random_state=rng)
                cols.append(np.clip(x, lo[axis], hi[axis]))  # inverse CDF may round a hair out
            for axis in range(len(lo), self.dim):
                cols.append(rng.normal(mu[axis], s[axis], size=c))
            parts.append(cols[0] if self.dim == 1 else np.column_stack(cols))
        out = np.concatenate(parts, axis=0)
        return out[rng.permutation(m)]

    def _rejection(self, count, rng, k, lo, hi, p_inside, max_draws=50_000_000):
        """``count`` points of component k conditioned on the box, by batched rejection."""
        chol = np.linalg.cholesky(self.covs[k])
        kept, have, drawn = [], 0, 0
        while have < count:
            batch = int(min(max_draws, max(1024, 1.2 * (count - have) / max(p_inside, 1e-12))))
            if drawn + batch > max_draws:
                raise ValueError(f"the initial law has too little mass inside the box "
                                 f"({p_inside:.2e}) to sample it by rejection")
            pts = self.means[k] + rng.standard_normal((batch, self.dim)) @ chol.T
            drawn += batch
            pos = pts[:, :len(lo)]
            pts = pts[np.all((pos >= lo) & (pos <= hi), axis=1)]
            kept.append(pts)
            have += len(pts)
        return np.concatenate(kept, axis=0)[:count]


def _outer_blocks(factors, blocks, dim):
    """Assemble per-block mass arrays into one array over all ``dim`` axes."""
    if len(blocks) == 1 and blocks[0] == list(range(dim)):
        return factors[0]
    result = np.ones(())
    order = []
    for f, block in zip(factors, blocks):
        result = np.multiply.outer(result, f)
        order += block
    return np.transpose(result, np.argsort(order))


def gaussian(mean, std=None, cov=None) -> GaussianMixture:
    """A single Gaussian; ``mean``/``std`` are scalars (d = 1 overdamped), pairs (x, v)
    or vectors of length D; or ``cov``, a full D×D covariance instead of ``std``."""
    mean = np.atleast_1d(np.asarray(mean, dtype=float))
    if (std is None) == (cov is None):
        raise ValueError("give std or cov (exactly one)")
    if cov is not None:
        cov = np.atleast_2d(np.asarray(cov, dtype=float))
        return GaussianMixture(np.ones(1), mean[None, :], covs=cov[None, :, :])
    std = np.atleast_1d(np.asarray(std, dtype=float))
    return GaussianMixture(np.ones(1), mean[None, :], std[None, :])
