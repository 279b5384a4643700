"""External force specifications V'(x) for the particle simulator.

A force spec is packed (:meth:`Polynomial.packed`, :meth:`Tabulated.packed`) into a small
named tuple of scalars and arrays that the compiled loops read through :func:`force_at`.
The tuple's *class* says which form of V' it holds, so each compiled loop is specialised
at compile time to exactly one form and compiles nothing else:

=====================  ==========================  ==========================================
packed class           from                        V'(x)
=====================  ==========================  ==========================================
:class:`LinearForce`   Polynomial of degree 1      c1·x + c0
:class:`CubicForce`    Polynomial of degree 3      ((c3·x + c2)·x + c1)·x + c0
:class:`HornerForce`   Polynomial, other degrees   Horner's rule over ``coeffs``
:class:`TableForce`    Tabulated                   linear interpolation in ``table``
=====================  ==========================  ==========================================

Degrees 1 and 3 (harmonic wells, double wells) are written out with scalar coefficients:
a loop with a run-time trip count in the innermost particle loop cost ~40 % of an
overdamped step, and scalars (unlike an array, which could alias the positions) let LLVM
vectorise the blocked update passes. The operation order is Horner's in every form, so
all forms give the same bits as the general loop. Nothing is captured in closures, so
Numba's disk cache stays valid across runs and potentials.

Any vectorised callable ``grad(x)`` passed to :func:`vfp.particles.simulate` is
converted with :meth:`Tabulated.from_callable` on the simulation domain.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass, field

import numpy as np
from numba.core import types
from numba.extending import overload, register_jitable

__all__ = ["Polynomial", "Tabulated", "as_force", "force_at", "LinearForce", "CubicForce",
           "HornerForce", "TableForce"]

LinearForce = namedtuple("LinearForce", ["c0", "c1"])
LinearForce.__doc__ = "Packed V'(x) = c1·x + c0 (floats)."
CubicForce = namedtuple("CubicForce", ["c0", "c1", "c2", "c3"])
CubicForce.__doc__ = "Packed V'(x) = ((c3·x + c2)·x + c1)·x + c0 (floats)."
HornerForce = namedtuple("HornerForce", ["coeffs"])
HornerForce.__doc__ = "Packed V'(x) = Σ_k coeffs[k] x^k (float64 array, increasing degree)."
TableForce = namedtuple("TableForce", ["table", "lo", "inv_h"])
TableForce.__doc__ = ("Packed V' interpolated in ``table`` (float64 array) with nodes "
                      "lo + k/inv_h.")


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
            raise ValueError("polynomial coefficients of V' must be a non-empty "
                             f"finite 1-D sequence (got {self.coeffs!r})")
        object.__setattr__(self, "coeffs", c)

    def __call__(self, x):
        """V'(x) on an array (NumPy, same Horner order as the compiled kernel)."""
        x = np.asarray(x, dtype=np.float64)
        acc = np.full_like(x, self.coeffs[-1])
        for c in self.coeffs[-2::-1]:
            acc = acc * x + c
        return acc

    def packed(self):
        """The named tuple :func:`force_at` reads: :class:`LinearForce` (degree 1),
        :class:`CubicForce` (degree 3) or :class:`HornerForce`."""
        c = self.coeffs
        if c.size == 2:
            return LinearForce(float(c[0]), float(c[1]))
        if c.size == 4:
            return CubicForce(float(c[0]), float(c[1]), float(c[2]), float(c[3]))
        return HornerForce(c)


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
            raise ValueError("a tabulated force needs at least 2 nodes")
        if not np.all(np.isfinite(v)):
            raise ValueError("the tabulated force V' is not finite on "
                             f"[{self.lo}, {self.hi}]")
        if not (float(self.hi) > float(self.lo)):
            raise ValueError(f"a tabulated force needs lo < hi (got {self.lo}, {self.hi})")
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "lo", float(self.lo))
        object.__setattr__(self, "hi", float(self.hi))
        object.__setattr__(self, "inv_h", (v.size - 1) / (self.hi - self.lo))

    @classmethod
    def from_callable(cls, grad_fn, lo, hi, nodes=2**16 + 1):
        """Sample a vectorised ``grad_fn`` (V') at ``nodes`` uniform points of [lo, hi]."""
        nodes = int(nodes)
        if nodes < 2:
            raise ValueError(f"a tabulated force needs nodes ≥ 2 (got {nodes})")
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

    def packed(self):
        """The named tuple :func:`force_at` reads (:class:`TableForce`)."""
        return TableForce(self.values, self.lo, self.inv_h)


def as_force(grad_potential, lo, hi):
    """Normalise a user's ``grad_potential`` into a :class:`Polynomial` or :class:`Tabulated`.

    ``None`` means V = 0; a callable is tabulated on [lo, hi] with 2¹⁶ + 1 nodes. In free
    space (``lo``, ``hi`` None) there is no interval to tabulate a callable on, so a
    callable is refused there.
    """
    if grad_potential is None:
        return Polynomial([0.0])
    if isinstance(grad_potential, (Polynomial, Tabulated)):
        return grad_potential
    if callable(grad_potential):
        if lo is None or hi is None:
            raise ValueError("a callable grad_potential is tabulated on the domain, and there "
                             "is none (free space): pass a Polynomial, or a Tabulated over "
                             "the range the particles will visit")
        return Tabulated.from_callable(grad_potential, lo, hi)
    raise ValueError("grad_potential must be a Polynomial, a Tabulated or a "
                     f"vectorised callable (got {type(grad_potential).__name__})")


def force_at(x, force):
    """V'(x) for one position ``x`` (float) from a packed force (see the module table).

    In compiled code the packed tuple's class selects the form at compile time (a Numba
    overload, inlined); from Python the same formulas are evaluated. A NaN position gives
    a NaN force. A :class:`TableForce` extends its end segments linearly outside its
    table.
    """
    if isinstance(force, LinearForce):
        return force.c1 * x + force.c0
    if isinstance(force, CubicForce):
        return ((force.c3 * x + force.c2) * x + force.c1) * x + force.c0
    if isinstance(force, HornerForce):
        return _horner(x, force)
    return _table(x, force)


@register_jitable(inline="always")
def _horner(x, force):
    c = force.coeffs
    k = c.shape[0] - 1
    acc = c[k]
    for j in range(k - 1, -1, -1):
        acc = acc * x + c[j]
    return acc


@register_jitable(inline="always")
def _table(x, force):
    table = force.table
    n = table.shape[0]
    u = (x - force.lo) * force.inv_h
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


def _force_class(force):
    return getattr(force, "instance_class", None)


@overload(force_at, inline="always")
def _force_at_compiled(x, force):
    cls = _force_class(force)
    if cls is LinearForce:
        def linear(x, force):
            return force.c1 * x + force.c0
        return linear
    if cls is CubicForce:
        def cubic(x, force):
            return ((force.c3 * x + force.c2) * x + force.c1) * x + force.c0
        return cubic
    if cls is HornerForce:
        def horner(x, force):
            return _horner(x, force)
        return horner
    if cls is TableForce:
        def table_lookup(x, force):
            return _table(x, force)
        return table_lookup
    if isinstance(force, types.BaseTuple):
        raise TypeError(f"force_at: not a packed force: {force}")
    return None
