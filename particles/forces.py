"""External force specifications V'(x) for the particle simulator.

A force spec is turned into plain arrays and scalars (:meth:`arrays`) that the compiled
loops read through :func:`external_force`; nothing is captured in closures, so Numba's
disk cache stays valid across runs and potentials.

* :class:`Polynomial` — V'(x) = Σ_k c_k x^k, evaluated exactly by Horner's rule.
* :class:`Tabulated` — V' sampled on a uniform table, linear interpolation.

Any vectorised callable ``grad(x)`` passed to :func:`particles.simulate.simulate` is
converted with :meth:`Tabulated.from_callable` on the simulation domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

__all__ = ["Polynomial", "Tabulated", "as_force", "external_force", "FORCE_POLYNOMIAL",
           "FORCE_TABULATED"]

FORCE_POLYNOMIAL = 0
FORCE_TABULATED = 1


@dataclass(frozen=True)
class Polynomial:
    """V'(x) = Σ_{k=0}^{K} c_k x^k, evaluated by Horner's rule (exact up to round-off).

    Parameters
    ----------
    coeffs : array_like, shape (K + 1,)
        Coefficients in increasing degree: ``coeffs[k]`` multiplies x^k. For the double
        well V = x⁴/4 − x²/2, V' = x³ − x, use ``Polynomial([0, -1, 0, 1])``.
    """

    coeffs: np.ndarray

    def __post_init__(self):
        c = np.ascontiguousarray(np.atleast_1d(np.asarray(self.coeffs, dtype=np.float64)))
        if c.ndim != 1 or c.size == 0 or not np.all(np.isfinite(c)):
            raise ValueError("model.potential: polynomial coefficients must be a non-empty "
                             f"finite 1-D sequence (got {self.coeffs!r})")
        object.__setattr__(self, "coeffs", c)

    def __call__(self, x):
        """V'(x) on an array (NumPy, same Horner order as the compiled kernel)."""
        x = np.asarray(x, dtype=np.float64)
        acc = np.full_like(x, self.coeffs[-1])
        for c in self.coeffs[-2::-1]:
            acc = acc * x + c
        return acc

    def arrays(self):
        """``(kind, coeffs, table, table_lo, table_inv_h)`` for :func:`external_force`."""
        return FORCE_POLYNOMIAL, self.coeffs, np.zeros(2), 0.0, 1.0


@dataclass(frozen=True)
class Tabulated:
    """V' from a uniform table ``values[k] = V'(lo + k h)``, linearly interpolated.

    Error bound: on [lo, hi] the interpolant I_h satisfies
    ``|V'(x) − I_h V'(x)| ≤ h²/8 · max|V'''|`` (h = (hi − lo)/(nodes − 1)); with the
    default 2¹⁶ + 1 nodes on a domain of length 12 that is 4.2·10⁻⁹ · max|V'''|.
    Outside [lo, hi] the end segments are extended linearly (particles are kept inside
    the domain, so this only matters for forces evaluated by users).

    Parameters
    ----------
    values : ndarray, shape (nodes,)
        V' at the nodes.
    lo, hi : float
        Table interval.
    """

    values: np.ndarray
    lo: float
    hi: float
    inv_h: float = field(init=False)

    def __post_init__(self):
        v = np.ascontiguousarray(np.asarray(self.values, dtype=np.float64))
        if v.ndim != 1 or v.size < 2:
            raise ValueError("model.potential: a tabulated force needs at least 2 nodes")
        if not np.all(np.isfinite(v)):
            raise ValueError("model.potential: the tabulated force V' is not finite on "
                             f"[{self.lo}, {self.hi}]")
        if not (float(self.hi) > float(self.lo)):
            raise ValueError(f"model.potential: table needs lo < hi (got {self.lo}, {self.hi})")
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "lo", float(self.lo))
        object.__setattr__(self, "hi", float(self.hi))
        object.__setattr__(self, "inv_h", (v.size - 1) / (self.hi - self.lo))

    @classmethod
    def from_callable(cls, grad_fn, lo, hi, nodes=2**16 + 1):
        """Sample a vectorised ``grad_fn`` (V') at ``nodes`` uniform points of [lo, hi]."""
        nodes = int(nodes)
        if nodes < 2:
            raise ValueError(f"model.potential: nodes must be ≥ 2 (got {nodes})")
        xs = np.linspace(float(lo), float(hi), nodes)
        vals = np.asarray(grad_fn(xs), dtype=np.float64)
        if vals.shape != xs.shape:
            vals = np.broadcast_to(vals, xs.shape).copy()
        return cls(vals, lo, hi)

    def __call__(self, x):
        """Interpolated V'(x) on an array (NumPy twin of the compiled lookup)."""
        x = np.asarray(x, dtype=np.float64)
        n = self.values.size
        u = (x - self.lo) * self.inv_h
        k = np.clip(np.floor(np.nan_to_num(u, nan=0.0)), 0, n - 2).astype(np.int64)
        f = u - k
        return self.values[k] + f * (self.values[k + 1] - self.values[k])

    def arrays(self):
        """``(kind, coeffs, table, table_lo, table_inv_h)`` for :func:`external_force`."""
        return FORCE_TABULATED, np.zeros(1), self.values, self.lo, self.inv_h


def as_force(grad_potential, lo, hi):
    """Normalise a user's ``grad_potential`` into a :class:`Polynomial` or :class:`Tabulated`.

    ``None`` means V = 0; a callable is tabulated on [lo, hi] with 2¹⁶ + 1 nodes.
    """
    if grad_potential is None:
        return Polynomial([0.0])
    if isinstance(grad_potential, (Polynomial, Tabulated)):
        return grad_potential
    if callable(grad_potential):
        return Tabulated.from_callable(grad_potential, lo, hi)
    raise ValueError("model.potential: grad_potential must be a Polynomial, a Tabulated or a "
                     f"vectorised callable (got {type(grad_potential).__name__})")


@njit(cache=True, inline="always")
def external_force(x, kind, coeffs, table, t_lo, t_inv_h):
    """V'(x) for one position (compiled). A NaN position gives a NaN force."""
    if kind == FORCE_POLYNOMIAL:
        k = coeffs.shape[0] - 1
        # Degrees 1 and 3 (harmonic, double wells) written out: a loop with a run-time
        # trip count in the innermost particle loop cost ~40 % of an overdamped step.
        # Same operation order as the Horner loop below, so the results are identical.
        if k == 1:
            return coeffs[1] * x + coeffs[0]
        if k == 3:
            return ((coeffs[3] * x + coeffs[2]) * x + coeffs[1]) * x + coeffs[0]
        acc = coeffs[k]
        for j in range(k - 1, -1, -1):
            acc = acc * x + coeffs[j]
        return acc
    n = table.shape[0]
    u = (x - t_lo) * t_inv_h
    if u >= 0.0:
        kf = np.floor(u)
        if kf > n - 2:
            kf = n - 2.0
    elif u < 0.0:
        kf = 0.0
    else:  # NaN: never index with it
        return u
    k = np.int64(kf)
    f = u - kf
    return table[k] + f * (table[k + 1] - table[k])
