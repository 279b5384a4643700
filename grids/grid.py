"""Uniform one-dimensional axes; phase-space grids are tensor products of two of them."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Axis", "symmetric_centres"]


class Axis:
    """A uniform partition of ``[lo, hi]`` into ``cells`` cells.

    Parameters
    ----------
    lo, hi : float
        Finite end points, ``lo < hi``.
    cells : int
        Number of cells, at least 3.

    Attributes
    ----------
    lo, hi : float
    cells : int
    h : float
        Cell width ``(hi - lo) / cells``.
    centres : ndarray, shape (cells,)
        ``lo + (i + 1/2) h``.
    edges : ndarray, shape (cells + 1,)
        ``lo + i h``; ``edges[0] == lo`` and ``edges[-1] == hi`` exactly.
    """

    __slots__ = ("lo", "hi", "cells", "h", "centres", "edges")

    def __init__(self, lo, hi, cells):
        if isinstance(cells, bool) or not isinstance(cells, (int, np.integer)):
            raise TypeError(f"Axis: cells must be an integer, got {cells!r}")
        try:
            lo_f = float(lo)
            hi_f = float(hi)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"Axis: lo and hi must be real numbers, got {lo!r}, {hi!r}") from exc
        if not (math.isfinite(lo_f) and math.isfinite(hi_f)):
            raise ValueError(f"Axis: lo and hi must be finite, got {lo_f}, {hi_f}")
        if not lo_f < hi_f:
            raise ValueError(f"Axis: need lo < hi, got lo={lo_f}, hi={hi_f}")
        cells = int(cells)
        if cells < 3:
            raise ValueError(f"Axis: need cells >= 3, got {cells}")
        self.lo = lo_f
        self.hi = hi_f
        self.cells = cells
        self.h = (hi_f - lo_f) / cells
        edges = lo_f + self.h * np.arange(cells + 1, dtype=np.float64)
        edges[0] = lo_f
        edges[-1] = hi_f
        self.edges = edges
        self.centres = lo_f + self.h * (np.arange(cells, dtype=np.float64) + 0.5)

    def __repr__(self) -> str:
        return f"Axis(lo={self.lo!r}, hi={self.hi!r}, cells={self.cells!r})"

    def __eq__(self, other) -> bool:
        if not isinstance(other, Axis):
            return NotImplemented
        return (self.lo, self.hi, self.cells) == (other.lo, other.hi, other.cells)

    def __hash__(self) -> int:
        return hash((self.lo, self.hi, self.cells))


def symmetric_centres(axis):
    """Cell centres of an axis symmetric about 0, made exactly antisymmetric.

    ``c[j] = ½ (centres[j] − centres[n−1−j])``, so ``c[n−1−j] == −c[j]`` to the last bit
    (and the middle centre of an odd count is exactly 0); they differ from
    ``axis.centres`` by round-off. The kinetic x-walls pair the velocity cell j with its
    mirror n−1−j, and conservation to round-off needs ``v_{n−1−j} = −v_j`` exactly.

    Parameters
    ----------
    axis : Axis
        With ``lo == −hi`` within round-off.

    Returns
    -------
    ndarray, shape (axis.cells,)
    """
    c = axis.centres
    return 0.5 * (c - c[::-1])
