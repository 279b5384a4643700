"""Figures for particle-versus-grid comparisons in d = 2, on plain NumPy arrays.

Like :mod:`vfp.validation.plots`: every function returns a
:class:`matplotlib.figure.Figure` on an Agg canvas (no pyplot state). Conventions:

* a 2-D marginal grid density (x-marginal ρ(x1, x2) or v-marginal g(v1, v2)) is given as
  cell averages of shape (n_t, n1, n2) with its two edge arrays;
* particles as an array (n_t, n, 2) for one marginal, or (n_t, n, D) for all axes;
* particle histograms use the grid's own cells and are normalised by the number of
  finite particles (those that left the domain lower the mass rather than rescale it);
* NaN entries (a missing snapshot, a lost particle) are skipped, never fatal.
"""

from __future__ import annotations

import numpy as np

from . import registry
from .plots import (GRID_COLOUR, PARTICLE_COLOUR, _figure, _finite, _support,
                    choose_snapshots, distances_over_time)

__all__ = ["marginal_heatmaps", "axis_marginals_figure", "grid_axis_marginals",
           "distances_over_time_nd"]


def _hist2d(points, e1, e2):
    p = np.asarray(points, dtype=float).reshape(-1, 2)
    keep = np.all(np.isfinite(p), axis=1)
    h, _, _ = np.histogram2d(p[keep, 0], p[keep, 1], bins=[e1, e2])
    return h / (max(int(keep.sum()), 1) * np.outer(np.diff(e1), np.diff(e2)))


def _n_label(particles):
    return f" (N = {np.asarray(particles).shape[1]:,})" if particles is not None else ""


def marginal_heatmaps(t, edges, grid_density=None, particles=None, *, symbol="x",
                      max_snapshots=6):
    """Heat maps of a 2-D marginal: the grid beside the particles, per snapshot.

    Parameters
    ----------
    t : array, shape (n_t,)
        Snapshot times.
    edges : pair of arrays, shapes (n1 + 1,), (n2 + 1,)
        Cell edges of the two axes (the particle histogram uses these cells).
    grid_density : array, shape (n_t, n1, n2), optional
        Marginal cell averages (ρ for symbol "x", g for "v").
    particles : array, shape (n_t, n, 2), optional
        The particles' coordinates of that marginal.
    symbol : str
        "x" or "v": axis labels x1, x2 or v1, v2.
    max_snapshots : int
        At most this many snapshots, evenly chosen (ends kept).

    Returns
    -------
    Figure
        One row per snapshot: grid, particles (same colour scale, one colour bar per row).
    """
    t = np.atleast_1d(np.asarray(t, dtype=float))
    e1, e2 = (np.asarray(e, dtype=float) for e in edges)
    if grid_density is None and particles is None:
        raise ValueError("marginal_heatmaps needs a grid density or particles")
    idx = choose_snapshots(len(t), max_snapshots)
    maps = (["grid"] if grid_density is not None else []) + \
        (["particles"] if particles is not None else [])
    fig = _figure(3.9 * len(maps) + 1.0, 3.2 * len(idx) + 0.3)
    gs = fig.add_gridspec(len(idx), len(maps))
    for r, i in enumerate(idx):
        images = {}
        if grid_density is not None:
            images["grid"] = np.asarray(grid_density[i], dtype=float)
        if particles is not None:
            images["particles"] = _hist2d(particles[i], e1, e2)
        finite = [im[np.isfinite(im)] for im in images.values()]
        vmax = max((float(a.max()) for a in finite if a.size), default=0.0) or 1.0
        axes = []
        for c, name in enumerate(maps):
            ax = fig.add_subplot(gs[r, c])
            mesh = ax.pcolormesh(e1, e2, np.ma.masked_invalid(images[name]).T, vmin=0.0,
                                 vmax=vmax, cmap="viridis", shading="flat")
            ax.set_xlabel(f"{symbol}1")
            ax.set_ylabel(f"{symbol}2")
            ax.set_aspect("equal", adjustable="box")
            what = "grid" if name == "grid" else "particles" + _n_label(particles)
            ax.set_title(f"{what}, t = {t[i]:.4g}", fontsize=10)
            axes.append(ax)
        label = "ρ(x1, x2)" if symbol == "x" else f"density of ({symbol}1, {symbol}2)"
        fig.colorbar(mesh, ax=axes, label=label, shrink=0.9, pad=0.02)
    return fig


def grid_axis_marginals(edges, density):
    """1-D marginal cell averages along each of the two axes of a 2-D marginal.

    Parameters
    ----------
    edges : pair of arrays, shapes (n1 + 1,), (n2 + 1,)
    density : array, shape (n_t, n1, n2)

    Returns
    -------
    list of two arrays, shapes (n_t, n1) and (n_t, n2)
        ∫ density d(other axis), i.e. Σ density × h_other.
    """
    d = np.asarray(density, dtype=float)
    h1, h2 = (np.diff(np.asarray(e, dtype=float)) for e in edges)
    return [d @ h2, np.einsum("tij,i->tj", d, h1)]


def axis_marginals_figure(t, edges, grid_marginals=None, particles=None, *, names=None,
                          max_snapshots=4):
    """1-D marginals per axis: grid line against the particle histogram, per snapshot.

    Parameters
    ----------
    t : array, shape (n_t,)
    edges : list of D arrays, shapes (n_a + 1,)
        Cell edges of each axis.
    grid_marginals : list of D arrays, shapes (n_t, n_a), optional
        1-D marginal cell averages (e.g. from :func:`grid_axis_marginals`).
    particles : array, shape (n_t, n, D), optional
    names : sequence of D str, optional
        Axis names (default ``registry.components``: x1, x2 or x1, x2, v1, v2).
    max_snapshots : int

    Returns
    -------
    Figure
        One row per snapshot, one column per axis.
    """
    t = np.atleast_1d(np.asarray(t, dtype=float))
    edges = [np.asarray(e, dtype=float) for e in edges]
    dim = len(edges)
    if grid_marginals is None and particles is None:
        raise ValueError("axis_marginals_figure needs grid marginals or particles")
    if names is None:
        names = registry.components(kinetic=dim == 4, dimension=2 if dim in (2, 4) else dim)
    idx = choose_snapshots(len(t), max_snapshots)
    fig = _figure(3.4 * dim + 0.4, 2.6 * len(idx) + 0.6)
    axes = fig.subplots(len(idx), dim, squeeze=False)
    for a in range(dim):
        e = edges[a]
        masses = [] if grid_marginals is None else \
            [np.nan_to_num(np.asarray(grid_marginals[a][i], dtype=float)) * np.diff(e)
             for i in idx]
        samples = [] if particles is None else [np.asarray(particles[i])[:, a] for i in idx]
        lim = _support(e, masses, samples)
        for r, i in enumerate(idx):
            ax = axes[r, a]
            if particles is not None:
                s = _finite(np.asarray(particles[i])[:, a])
                h, _ = np.histogram(s, bins=e)
                ax.stairs(h / (max(s.size, 1) * np.diff(e)), e, fill=True,
                          color=PARTICLE_COLOUR, alpha=0.35,
                          label="particles" + _n_label(particles))
            if grid_marginals is not None:
                ax.stairs(np.asarray(grid_marginals[a][i], dtype=float), e,
                          color=GRID_COLOUR, lw=1.4, label="grid")
            ax.set_xlim(*lim)
            ax.set_ylim(bottom=0)
            ax.set_xlabel(names[a])
            ax.set_title(f"{names[a]}-marginal, t = {t[i]:.4g}", fontsize=10)
    if grid_marginals is not None and particles is not None:
        fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside upper center",
                   ncols=2)
    return fig


def distances_over_time_nd(t, compare, *, dimension=2, kinetic=True):
    """Distances over time for a d ≥ 2 comparison: :func:`plots.distances_over_time` on
    the registry's distance keys (``w2_x1`` … ``tv``) with their ``_floor`` series.

    Parameters
    ----------
    t : array, shape (n_t,)
    compare : dict of str -> array, shape (n_t,)
        As read from ``/compare`` (missing keys and all-NaN series are left out).
    dimension : int
    kinetic : bool

    Returns
    -------
    Figure
    """
    keys = registry.distance_keys(kinetic=kinetic, dimension=dimension)
    metrics = {k: compare[k] for k in keys
               if k in compare and np.isfinite(np.asarray(compare[k], dtype=float)).any()}
    floors = {k: compare[k + registry.FLOOR_SUFFIX] for k in metrics
              if k + registry.FLOOR_SUFFIX in compare}
    return distances_over_time(t, metrics, floors)
