"""Confining forces ∇V(x), x ∈ R^d (d = 2, 3), for the particle simulator in d dimensions.

Specs and their packed (compiled) forms:

=======================  ============================  =======================================
spec                     packed class                  ∇V evaluated as
=======================  ============================  =======================================
:class:`PolynomialND`,   :class:`AffineForceND`        A x + b (A symmetric (d, d), b (d,))
total degree ≤ 2
:class:`PolynomialND`,   :class:`PolyForceND`          Σ_t c'_{k,t} Π_j x_j^{p'_{k,t,j}} per axis
other degrees                                          k: the exact derivative terms
:class:`TabulatedND`     :class:`TableForceND`         multilinear interpolation on a box
=======================  ============================  =======================================

A d = 1 packed force of :mod:`particles.forces` (LinearForce, CubicForce, HornerForce,
TableForce) is read by :func:`force_block` as well, with X of shape (1, N): the d = 1
evaluation :func:`particles.forces.force_at` per particle (the energy runs of x0 (N,)
or (N, 1) use the d-dimensional loops with the d = 1 specs).

The compiled loops read a force through :func:`force_block`, which fills the (d, m)
block ``G[:, :m]`` with ∇V at the positions ``X[:, i0:i0 + m]`` (positions are stored
axis by axis, ``X`` of shape (d, N)). The packed tuple's *class* selects the code when
Numba compiles (an overload), so a run compiles one form only; every form loops over the
particles of one axis innermost (contiguous, vectorisable).

A 1-D spec is obtained with :meth:`PolynomialND.as_1d` / :meth:`TabulatedND.as_1d`
(the simulator runs x0 of shape (N, 1) on its d = 1 path).
"""

from __future__ import annotations

import itertools
from collections import namedtuple

import numpy as np
from numba import njit
from numba.extending import overload, register_jitable

from .forces import (CubicForce, HornerForce, LinearForce, Polynomial, TableForce, Tabulated,
                     force_at)

__all__ = ["PolynomialND", "TabulatedND", "as_force_nd", "force_block", "compiled_gradient",
           "AffineForceND", "PolyForceND", "TableForceND"]

AffineForceND = namedtuple("AffineForceND", ["A", "b"])
AffineForceND.__doc__ = "Packed ∇V(x) = A x + b: A float64 (d, d), b float64 (d,)."
PolyForceND = namedtuple("PolyForceND", ["powers", "coefs"])
PolyForceND.__doc__ = ("Packed ∇V: component k = Σ_t coefs[k, t] Π_j x_j^powers[k, t, j] "
                       "(powers int64 (d, T', d), coefs float64 (d, T'), zero-padded).")
TableForceND = namedtuple("TableForceND", ["table", "lo", "inv_h", "shape"])
TableForceND.__doc__ = ("Packed tabulated ∇V: table float64 (P, d) (nodes in C order), "
                        "lo, inv_h float64 (d,), shape int64 (d,) nodes per axis.")


class PolynomialND:
    """V(x) = Σ_t coefs[t] Π_k x_k^powers[t, k], x ∈ R^d; ∇V is computed exactly.

    Covers harmonic wells, rotated anisotropic quadratics, double wells and any
    polynomial (e.g. from sympy's ``Poly(expr).terms()``).

    Parameters
    ----------
    powers : array_like of int, shape (T, d)
        Exponents ≥ 0 of each term.
    coefs : array_like of float, shape (T,)
        Coefficients.

    Examples
    --------
    V = ½ xᵀHx with H = [[1.2, 0.3], [0.3, 0.8]]:
    ``PolynomialND([[2, 0], [1, 1], [0, 2]], [0.6, 0.3, 0.4])``.
    """

    def __init__(self, powers, coefs):
        p = np.asarray(powers)
        c = np.asarray(coefs, dtype=np.float64)
        if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 1:
            raise ValueError(f"polynomial powers must be a (T, d) integer array "
                             f"(got shape {p.shape})")
        if not (np.issubdtype(p.dtype, np.integer) or np.all(p == np.round(p))):
            raise ValueError("polynomial powers must be integers")
        p = p.astype(np.int64)
        if np.any(p < 0):
            raise ValueError("polynomial powers must be ≥ 0")
        if c.shape != (p.shape[0],) or not np.all(np.isfinite(c)):
            raise ValueError(f"polynomial coefs must be {p.shape[0]} finite numbers, one per "
                             f"row of powers (got shape {c.shape})")
        self.powers = np.ascontiguousarray(p)
        self.coefs = np.ascontiguousarray(c)

    @property
    def dimension(self):
        """d, the number of variables."""
        return self.powers.shape[1]

    @property
    def degree(self):
        """Largest total degree of a term with a non-zero coefficient (0 if none)."""
        nz = self.coefs != 0.0
        return int(self.powers[nz].sum(axis=1).max()) if nz.any() else 0

    @classmethod
    def quadratic(cls, hessian, gradient=None):
        """V(x) = ½ xᵀHx + bᵀx for a symmetric (d, d) ``hessian`` H and ``gradient`` b."""
        H = np.asarray(hessian, dtype=np.float64)
        if H.ndim != 2 or H.shape[0] != H.shape[1] or not np.allclose(H, H.T, rtol=0,
                                                                         atol=0):
            raise ValueError("the Hessian must be a symmetric square matrix")
        d = H.shape[0]
        b = np.zeros(d) if gradient is None else np.asarray(gradient, dtype=np.float64)
        powers, coefs = [], []
        for j in range(d):
            for k in range(j, d):
                p = np.zeros(d, np.int64)
                p[j] += 1
                p[k] += 1
                powers.append(p)
                coefs.append(0.5 * H[j, j] if j == k else H[j, k])
            p = np.zeros(d, np.int64)
            p[j] = 1
            powers.append(p)
            coefs.append(b[j])
        return cls(np.array(powers), np.array(coefs))

    def derivative_terms(self):
        """Exact ∂V/∂x_k as terms: (powers (d, T', d), coefs (d, T')), zero-padded."""
        d = self.dimension
        rows = []
        for k in range(d):
            terms = []
            for p, c in zip(self.powers, self.coefs):
                if p[k] > 0 and c != 0.0:
                    q = p.copy()
                    q[k] -= 1
                    terms.append((q, c * p[k]))
            rows.append(terms)
        T = max(1, max(len(r) for r in rows))
        powers = np.zeros((d, T, d), np.int64)
        coefs = np.zeros((d, T))
        for k, terms in enumerate(rows):
            for t, (q, c) in enumerate(terms):
                powers[k, t] = q
                coefs[k, t] = c
        return powers, coefs

    def potential(self, points):
        """V at ``points`` (m, d) → (m,) (NumPy)."""
        x = _points(points, self.dimension)
        return (self.coefs[None, :] * np.prod(x[:, None, :] ** self.powers[None], axis=2)
                ).sum(axis=1)

    def __call__(self, points):
        """∇V at ``points`` (m, d) → (m, d) (NumPy twin of the compiled evaluation)."""
        x = _points(points, self.dimension)
        powers, coefs = self.derivative_terms()
        out = np.empty_like(x)
        for k in range(self.dimension):
            out[:, k] = (coefs[k][None, :] *
                         np.prod(x[:, None, :] ** powers[k][None], axis=2)).sum(axis=1)
        return out

    def packed(self):
        """:class:`AffineForceND` when the degree is ≤ 2, else :class:`PolyForceND`."""
        d = self.dimension
        if self.degree <= 2:
            A = np.zeros((d, d))
            b = np.zeros(d)
            for p, c in zip(self.powers, self.coefs):
                deg = int(p.sum())
                nzk = np.nonzero(p)[0]
                if deg == 1:
                    b[nzk[0]] += c
                elif deg == 2 and nzk.size == 1:
                    A[nzk[0], nzk[0]] += 2.0 * c
                elif deg == 2:
                    A[nzk[0], nzk[1]] += c
                    A[nzk[1], nzk[0]] += c
            return AffineForceND(A, b)
        powers, coefs = self.derivative_terms()
        return PolyForceND(powers, coefs)

    def as_1d(self):
        """The d = 1 spec :class:`particles.forces.Polynomial` of V' (d must be 1)."""
        if self.dimension != 1:
            raise ValueError(f"as_1d needs a polynomial in 1 variable (has {self.dimension})")
        deg = int(self.powers.max())
        c = np.zeros(max(deg, 1))
        for p, a in zip(self.powers[:, 0], self.coefs):
            if p > 0:
                c[p - 1] += a * p
        return Polynomial(c)


class TabulatedND:
    """∇V tabulated on a uniform grid of a box, multilinear interpolation.

    Error: for ∇V ∈ C², the multilinear interpolant I_h satisfies
    |∂_kV − I_h ∂_kV| ≤ Σ_j h_j²/8 · max|∂_j² ∂_kV| = O(h²) inside the box
    (h_j = (hi_j − lo_j)/(nodes_j − 1)). Outside the box the end cells are extended
    linearly; the simulator only evaluates it inside (box domains only).

    Parameters
    ----------
    values : ndarray, shape (n_1, ..., n_d, d)
        ∇V at the nodes lo + i ∘ h.
    lo, hi : array_like, shape (d,)
        Box corners.
    """

    def __init__(self, values, lo, hi):
        v = np.asarray(values, dtype=np.float64)
        d = v.ndim - 1
        if d < 1 or v.shape[-1] != d:
            raise ValueError("tabulated ∇V values must have shape (n_1, ..., n_d, d) "
                             f"(got {v.shape})")
        if any(n < 2 for n in v.shape[:-1]):
            raise ValueError("a tabulated force needs at least 2 nodes per axis")
        if not np.all(np.isfinite(v)):
            raise ValueError("the tabulated force ∇V is not finite on the box")
        lo = np.broadcast_to(np.asarray(lo, dtype=np.float64), (d,)).copy()
        hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), (d,)).copy()
        if not np.all(hi > lo):
            raise ValueError(f"a tabulated force needs lo < hi on every axis "
                             f"(got {lo.tolist()}, {hi.tolist()})")
        self.values = np.ascontiguousarray(v)
        self.lo = lo
        self.hi = hi
        self.inv_h = (np.array(v.shape[:-1], dtype=np.float64) - 1.0) / (hi - lo)

    @property
    def dimension(self):
        return self.values.shape[-1]

    @classmethod
    def from_callable(cls, grad_fn, lo, hi, nodes):
        """Tabulate ``grad_fn(points (m, d)) → (m, d)`` on the box [lo, hi].

        Parameters
        ----------
        grad_fn : callable
        lo, hi : array_like, shape (d,)
            The box (both finite; free space has none: ValueError).
        nodes : int or sequence of int
            Nodes per axis (≥ 2).
        """
        if lo is None or hi is None:
            raise ValueError("a tabulated force needs a bounded box [lo, hi], and there is "
                             "none (free space): pass a PolynomialND")
        lo = np.atleast_1d(np.asarray(lo, dtype=np.float64))
        hi = np.atleast_1d(np.asarray(hi, dtype=np.float64))
        if lo.shape != hi.shape or lo.ndim != 1:
            raise ValueError("lo and hi must be sequences of the same length d")
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise ValueError("a tabulated force needs a finite box (free space has none): "
                             "pass a PolynomialND")
        d = lo.size
        n = np.broadcast_to(np.asarray(nodes, dtype=np.int64), (d,))
        if np.any(n < 2):
            raise ValueError(f"a tabulated force needs nodes ≥ 2 per axis (got {nodes})")
        axes = [np.linspace(lo[k], hi[k], int(n[k])) for k in range(d)]
        mesh = np.meshgrid(*axes, indexing="ij")
        pts = np.stack([m.ravel() for m in mesh], axis=1)
        vals = np.asarray(grad_fn(pts), dtype=np.float64)
        if vals.shape != pts.shape:
            raise ValueError(f"grad_fn must map points (m, {d}) to (m, {d}) "
                             f"(got {vals.shape})")
        return cls(vals.reshape(tuple(int(k) for k in n) + (d,)), lo, hi)

    def __call__(self, points):
        """Interpolated ∇V at ``points`` (m, d) → (m, d) (NumPy twin)."""
        x = _points(points, self.dimension)
        d = self.dimension
        shape = np.array(self.values.shape[:-1])
        u = (x - self.lo) * self.inv_h
        k = np.clip(np.floor(u), 0, shape - 2).astype(np.int64)
        f = u - k
        out = np.zeros_like(x)
        for corner in itertools.product((0, 1), repeat=d):
            c = np.array(corner)
            w = np.prod(np.where(c == 1, f, 1.0 - f), axis=1)
            out += w[:, None] * self.values[tuple((k + c).T)]
        return out

    def packed(self):
        d = self.dimension
        shape = np.array(self.values.shape[:-1], dtype=np.int64)
        return TableForceND(self.values.reshape(-1, d), self.lo.copy(), self.inv_h.copy(),
                            shape)

    def as_1d(self):
        """The d = 1 spec :class:`particles.forces.Tabulated` (d must be 1)."""
        if self.dimension != 1:
            raise ValueError(f"as_1d needs a 1-variable table (has {self.dimension})")
        return Tabulated(self.values[:, 0], self.lo[0], self.hi[0])


def _points(points, d):
    x = np.asarray(points, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"points must have shape (m, {d}) (got {x.shape})")
    return x


def as_force_nd(grad_potential, d, bounded):
    """Normalise ``grad_potential`` for d ≥ 2: None (V = 0), a :class:`PolynomialND` or a
    :class:`TabulatedND` of dimension d (the latter only with a box, ``bounded``)."""
    if grad_potential is None:
        return PolynomialND(np.zeros((1, d), np.int64), [0.0])
    if isinstance(grad_potential, (PolynomialND, TabulatedND)):
        if grad_potential.dimension != d:
            raise ValueError(f"grad_potential is in {grad_potential.dimension} variables but "
                             f"the particles live in d = {d}")
        if isinstance(grad_potential, TabulatedND) and not bounded:
            raise ValueError("a TabulatedND force is defined on a box, and there is none "
                             "(free space): pass a PolynomialND or give a domain")
        return grad_potential
    if callable(grad_potential):
        raise ValueError(f"in d = {d} pass grad_potential as a PolynomialND or a TabulatedND "
                         "(TabulatedND.from_callable tabulates a callable on a box)")
    raise ValueError("grad_potential must be a PolynomialND, a TabulatedND or None in "
                     f"d ≥ 2 (got {type(grad_potential).__name__})")


# ----------------------------------------------------------------------------------------
# compiled evaluation
# ----------------------------------------------------------------------------------------

def force_block(X, i0, m, G, force):
    """G[k, j] = ∂_kV(X[:, i0 + j]) for 0 ≤ j < m (compiled; dispatched on the class)."""
    raise NotImplementedError("force_block is called from compiled code")


@register_jitable(inline="always")
def _affine_block(X, i0, m, G, A, b):
    d = X.shape[0]
    for k in range(d):
        bk = b[k]
        gk = G[k]
        for j in range(m):
            gk[j] = bk
        for a in range(d):
            c = A[k, a]
            if c != 0.0:
                xa = X[a, i0:i0 + m]
                for j in range(m):
                    gk[j] += c * xa[j]


@register_jitable(inline="always")
def _ipow(x, p):
    r = 1.0
    for _ in range(p):
        r *= x
    return r


@register_jitable
def _poly_block(X, i0, m, G, powers, coefs):
    d = X.shape[0]
    T = coefs.shape[1]
    for k in range(d):
        for j in range(m):
            G[k, j] = 0.0
        for t in range(T):
            c = coefs[k, t]
            if c == 0.0:
                continue
            for j in range(m):
                term = c
                for a in range(d):
                    term *= _ipow(X[a, i0 + j], powers[k, t, a])
                G[k, j] += term


@register_jitable
def _table_block(X, i0, m, G, table, lo, inv_h, shape):
    d = X.shape[0]
    idx = np.empty(d, np.int64)
    frac = np.empty(d)
    ncorner = 1 << d
    for j in range(m):
        nan = False
        for a in range(d):
            u = (X[a, i0 + j] - lo[a]) * inv_h[a]
            if not (u == u):
                nan = True
                u = 0.0
            kf = np.floor(u)
            if kf < 0.0:
                kf = 0.0
            if kf > shape[a] - 2.0:
                kf = shape[a] - 2.0
            idx[a] = np.int64(kf)
            frac[a] = u - kf
        for k in range(d):
            G[k, j] = 0.0
        for c in range(ncorner):
            w = 1.0
            flat = 0
            for a in range(d):
                bit = (c >> (d - 1 - a)) & 1
                w *= frac[a] if bit else 1.0 - frac[a]
                flat = flat * shape[a] + idx[a] + bit
            for k in range(d):
                G[k, j] += w * table[flat, k]
        if nan:
            for k in range(d):
                G[k, j] = np.nan


@njit(cache=True)
def _force_points(X, G, force):
    force_block(X, 0, X.shape[1], G, force)


def compiled_gradient(spec, points):
    """∇V at ``points`` (m, d) → (m, d) by the compiled :func:`force_block` of
    ``spec.packed()`` (what the time loops evaluate; for tests against ``spec(points)``)."""
    X = np.ascontiguousarray(_points(points, spec.dimension).T)
    G = np.empty_like(X)
    _force_points(X, G, spec.packed())
    return G.T.copy()


@overload(force_block, inline="always")
def _force_block_compiled(X, i0, m, G, force):
    cls = getattr(force, "instance_class", None)
    if cls is AffineForceND:
        return lambda X, i0, m, G, force: _affine_block(X, i0, m, G, force.A, force.b)
    if cls is PolyForceND:
        return lambda X, i0, m, G, force: _poly_block(X, i0, m, G, force.powers, force.coefs)
    if cls is TableForceND:
        return lambda X, i0, m, G, force: _table_block(X, i0, m, G, force.table, force.lo,
                                                       force.inv_h, force.shape)
    if cls in (LinearForce, CubicForce, HornerForce, TableForce):
        return lambda X, i0, m, G, force: _line_block(X, i0, m, G, force)
    return None


@register_jitable(inline="always")
def _line_block(X, i0, m, G, force):
    """d = 1 packed force (X of shape (1, N)): G[0, j] = V'(X[0, i0 + j])."""
    xa = X[0, i0:i0 + m]
    g = G[0]
    for j in range(m):
        g[j] = force_at(xa[j], force)
