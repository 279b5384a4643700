"""Short NumPy reference twins of the compiled kernels (for tests; slow, clear).

Each function mirrors one compiled kernel of :mod:`particles.driver` /
:mod:`particles.interaction` operation by operation, with the same noise
(:func:`particles.rng.normals_numpy`), so the two agree to round-off.
"""

from __future__ import annotations

import numpy as np

from .rng import normals_numpy

__all__ = ["reflect", "euler_step", "baoab_step", "pairwise_force", "mesh_force",
           "normals_nd", "reflect_nd", "euler_step_nd", "baoab_step_nd", "pairwise_force_nd",
           "mesh_force_2d"]


def reflect(x, v, lo, hi):
    """Mirror into [lo, hi] (repeatedly), reversing v per mirror. Returns (x, v, count)."""
    x = np.array(x, dtype=float)
    v = np.array(v, dtype=float)
    count = 0
    for _ in range(8):
        up = x > hi
        dn = x < lo
        if not (up.any() or dn.any()):
            break
        x = np.where(up, 2 * hi - x, np.where(dn, 2 * lo - x, x))
        v = np.where(up | dn, -v, v)
        count += int(up.sum() + dn.sum())
    return x, v, count


def euler_step(x, v, *, force, interaction_force, h, gamma, temperature, seed, step, lo,
               hi):
    """One Euler–Maruyama step; ``v`` None → overdamped. ``force``: V' callable;
    ``interaction_force``: x ↦ (1/N)Σ W'(x_i − x_j) callable (or None)."""
    z = normals_numpy(seed, step, x.size)
    g = force(x) + (interaction_force(x) if interaction_force is not None else 0.0)
    if v is None:
        xn = x - h * g + np.sqrt(2 * temperature * h) * z
        xn, _, c = reflect(xn, np.zeros_like(xn), lo, hi)
        return xn, None, c
    xn = x + h * v
    vn = (1 - gamma * h) * v - h * g + np.sqrt(2 * gamma * temperature * h) * z
    return reflect(xn, vn, lo, hi)


def baoab_step(x, v, F, *, force, interaction_force, h, gamma, temperature, seed, step,
               lo, hi):
    """One BAOAB step with stored force F = G(x). Returns (x, v, F_new, reflections)."""
    z = normals_numpy(seed, step, x.size)
    v = v - 0.5 * h * F
    x = x + 0.5 * h * v
    x, v, c1 = reflect(x, v, lo, hi)
    ou = np.exp(-gamma * h)
    v = ou * v + np.sqrt(temperature * (1 - ou * ou)) * z
    x = x + 0.5 * h * v
    x, v, c2 = reflect(x, v, lo, hi)
    Fn = force(x) + (interaction_force(x) if interaction_force is not None else 0.0)
    v = v - 0.5 * h * Fn
    return x, v, Fn, c1 + c2


def pairwise_force(x, grad_w):
    """(1/N) Σ_j W'(x_i − x_j) by broadcasting (O(N²) memory; small N only)."""
    x = np.asarray(x, dtype=float)
    return grad_w(x[:, None] - x[None, :]).mean(axis=1)


def mesh_force(x, grad_w, lo, hi, cells):
    """CIC deposit, zero-padded ``numpy.fft`` convolution with W'(d h), CIC interpolation."""
    x = np.asarray(x, dtype=float)
    m = int(cells)
    h = (hi - lo) / m
    u = (x - lo) / h
    k = np.clip(np.floor(u), 0, m - 1).astype(np.int64)
    f = np.clip(u - k, 0.0, 1.0)
    rho = np.bincount(k, 1 - f, m + 1) + np.bincount(k + 1, f, m + 1)
    rho /= x.size
    L = 2 * m + 1
    d = np.arange(-m, m + 1)
    kern = grad_w(d * h)                       # index j ↔ offset j − m
    full = np.fft.irfft(np.fft.rfft(rho, L + m + 1) * np.fft.rfft(kern, L + m + 1), L + m + 1)
    phi = full[m: 2 * m + 1]                   # node c ↔ full index c + m
    return (1 - f) * phi[k] + f * phi[k + 1]


# ----------------------------------------------------------------------------------------
# d = 2, 3 (particles.driver_nd, particles.interaction_nd); arrays (N, d)
# ----------------------------------------------------------------------------------------

def normals_nd(seed, step, n, d):
    """The (N, d) normals of step ``step``: column k is the d = 1 stream at step·d + k."""
    return np.stack([normals_numpy(seed, step * d + k, n) for k in range(d)], axis=1)


def reflect_nd(x, v, lo, hi):
    """Mirror each column k into [lo_k, hi_k], reversing v[:, k]; returns (x, v, counts
    (d, 2)) with counts[k] = (mirrors at lo_k, at hi_k)."""
    x = np.array(x, dtype=float)
    v = np.array(v, dtype=float)
    d = x.shape[1]
    lo = np.broadcast_to(lo, (d,))
    hi = np.broadcast_to(hi, (d,))
    counts = np.zeros((d, 2), np.int64)
    for _ in range(8):
        up = x > hi
        dn = x < lo
        if not (up.any() or dn.any()):
            break
        x = np.where(up, 2 * hi - x, np.where(dn, 2 * lo - x, x))
        v = np.where(up | dn, -v, v)
        counts[:, 0] += dn.sum(axis=0)
        counts[:, 1] += up.sum(axis=0)
    return x, v, counts


def euler_step_nd(x, v, *, force, interaction_force, h, gamma, temperature, seed, step, lo,
                  hi):
    """One Euler step in d dims (``v`` None → overdamped); ``force``, ``interaction_force``
    map (N, d) → (N, d). Returns (x, v, counts (d, 2))."""
    n, d = x.shape
    z = normals_nd(seed, step, n, d)
    g = force(x) + (interaction_force(x) if interaction_force is not None else 0.0)
    if v is None:
        xn = x - h * g + np.sqrt(2 * temperature * h) * z
        xn, _, c = reflect_nd(xn, np.zeros_like(xn), lo, hi)
        return xn, None, c
    xn = x + h * v
    vn = (1 - gamma * h) * v - h * g + np.sqrt(2 * gamma * temperature * h) * z
    return reflect_nd(xn, vn, lo, hi)


def baoab_step_nd(x, v, F, *, force, interaction_force, h, gamma, temperature, seed, step,
                  lo, hi):
    """One BAOAB step in d dims with stored force F (N, d). Returns (x, v, F_new, counts)."""
    n, d = x.shape
    z = normals_nd(seed, step, n, d)
    v = v - 0.5 * h * F
    x = x + 0.5 * h * v
    x, v, c1 = reflect_nd(x, v, lo, hi)
    ou = np.exp(-gamma * h)
    v = ou * v + np.sqrt(temperature * (1 - ou * ou)) * z
    x = x + 0.5 * h * v
    x, v, c2 = reflect_nd(x, v, lo, hi)
    Fn = force(x) + (interaction_force(x) if interaction_force is not None else 0.0)
    v = v - 0.5 * h * Fn
    return x, v, Fn, c1 + c2


def pairwise_force_nd(x, phi):
    """(1/N) Σ_j φ(|x_i − x_j|)(x_i − x_j) by broadcasting; ``phi(r)`` = w'(r)/r (0 at 0)."""
    x = np.asarray(x, dtype=float)
    diff = x[:, None, :] - x[None, :, :]
    p = phi(np.sqrt((diff ** 2).sum(axis=2)))
    return (p[:, :, None] * diff).mean(axis=1)


def mesh_force_2d(x, phi, lo, hi, cells):
    """Bilinear deposit on the (M1 + 1) × (M2 + 1) nodes of [lo, hi], direct (O(M⁴))
    convolution with K(r) = φ(|r|) r at the node offsets, bilinear interpolation back."""
    x = np.asarray(x, dtype=float)
    lo = np.asarray(lo, dtype=float)
    hi = np.asarray(hi, dtype=float)
    m = np.asarray(cells, dtype=np.int64)
    h = (hi - lo) / m
    u = (x - lo) / h
    k = np.clip(np.floor(u), 0, m - 1).astype(np.int64)
    f = np.clip(u - k, 0.0, 1.0)
    rho = np.zeros((m[0] + 1, m[1] + 1))
    for c1 in (0, 1):
        for c2 in (0, 1):
            w = (f[:, 0] if c1 else 1 - f[:, 0]) * (f[:, 1] if c2 else 1 - f[:, 1])
            np.add.at(rho, (k[:, 0] + c1, k[:, 1] + c2), w)
    rho /= x.shape[0]
    n1, n2 = np.meshgrid(np.arange(m[0] + 1), np.arange(m[1] + 1), indexing="ij")
    nodes = np.stack([n1.ravel() * h[0], n2.ravel() * h[1]], axis=1)
    diff = nodes[:, None, :] - nodes[None, :, :]
    p = phi(np.sqrt((diff ** 2).sum(axis=2)))
    field = (p[:, :, None] * diff * rho.ravel()[None, :, None]).sum(axis=1)
    field = field.reshape(m[0] + 1, m[1] + 1, 2)
    out = np.zeros_like(x)
    for c1 in (0, 1):
        for c2 in (0, 1):
            w = (f[:, 0] if c1 else 1 - f[:, 0]) * (f[:, 1] if c2 else 1 - f[:, 1])
            out += w[:, None] * field[k[:, 0] + c1, k[:, 1] + c2]
    return out
