"""Figures for particle-versus-grid comparisons, on plain NumPy arrays.

Every function returns a :class:`matplotlib.figure.Figure` attached to an Agg canvas; no
pyplot state is touched, so figures are freed with the object and nothing leaks between
calls. Save them with ``fig.savefig(path, dpi=120)``.

Conventions: ``x_edges`` (n_x + 1,) and ``v_edges`` (n_v + 1,) are cell edges; grid
densities are cell averages normalised so that ``sum(f * dx * dv)`` is the mass; particle
arrays hold one row per snapshot; a histogram is normalised by the number of (finite)
particles, so particles that left the domain lower its mass instead of being rescaled.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from . import registry

__all__ = ["snapshot_panels", "distances_over_time", "grid_diagnostics", "moments_over_time",
           "choose_snapshots", "MOMENT_KEYS"]

GRID_COLOUR, PARTICLE_COLOUR = "C3", "C0"
EPS = np.finfo(float).eps
_AXIS_W2_KEYS = registry.w2_keys(("w2_x", "w2_v"), kinetic=True, dimension=2)
METRIC_GROUPS = {
    "Wasserstein-2": ("w2_x", "w2_v") + _AXIS_W2_KEYS + ("w2_phase",) + tuple(
        k for k in registry.w2_keys() if k not in ("w2_x", "w2_v")),
    "Kullback–Leibler": tuple(k for k in registry.distance_keys() if k.startswith("kl")),
    "total variation": ("tv",),
}
METRIC_LABELS = {k: registry.key_info(k).label for k in
                 registry.distance_keys() + registry.distance_keys(dimension=2)}
METRIC_LABELS["w2_phase"] = "W₂ on (x, v)"
MOMENT_KEYS = {k: registry.key_info(k).label for k in registry.moment_keys()}
"""Moment value key → label, in registry order (``mean_x``, ``mean_v``, ``var_x`` …)."""
_ND_MOMENT_KEYS = {k: registry.key_info(k).label
                   for k in registry.moment_keys(kinetic=True, dimension=2)}
_MOMENT_SYMBOLS = {"mean_x": "⟨x⟩", "var_x": "Var x", "mean_v": "⟨v⟩", "var_v": "Var v",
                   "cov_xv": "Cov(x, v)"}


def _moment_symbol(key):
    """Axis label of a moment key: d = 1 symbols, or ⟨x1⟩, Var x1, Cov(x1, v2) in d = 2."""
    if key in _MOMENT_SYMBOLS:
        return _MOMENT_SYMBOLS[key]
    if key.startswith("mean_"):
        return f"⟨{key[5:]}⟩"
    a, b = key[4:6], key[6:]
    return f"Var {a}" if a == b else f"Cov({a}, {b})"


# ---------------------------------------------------------------------------------------
# Helpers


def _figure(width, height):
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _panel_axes(fig, n, per_row=3):
    """``n`` axes in rows of up to ``per_row``, the last row stretched (no empty slots)."""
    rows = -(-n // per_row)
    width = int(np.lcm.reduce(np.arange(1, per_row + 1)))  # divisible by 1..per_row
    gs = fig.add_gridspec(rows, width)
    axes = []
    for r in range(rows):
        k = min(per_row, n - r * per_row)
        span = width // k
        axes += [fig.add_subplot(gs[r, i * span:(i + 1) * span]) for i in range(k)]
    return axes


def _finite(a):
    a = np.asarray(a, dtype=float).ravel()
    return a[np.isfinite(a)]


def _set_scale(ax, *arrays):
    """Log y if every finite value is positive; symlog if the series' typical sizes span
    decades (a near-zero estimator beside a biased one); linear otherwise."""
    values = np.concatenate([_finite(a) for a in arrays]) if arrays else np.array([])
    if values.size and np.all(values > 0):
        ax.set_yscale("log")
        return
    ax.axhline(0.0, color="0.6", lw=0.8, zorder=0)
    scales = [np.median(np.abs(a)) for a in map(_finite, arrays) if a.size]
    scales = [m for m in scales if m > 0]
    if scales and max(scales) > 100 * min(scales):
        ax.set_yscale("symlog", linthresh=10.0 ** np.floor(np.log10(min(scales))))


def _positive_or_note(ax, t, y, **kw):
    """Plot ``y`` on a log axis, dropping values <= 0, and return a note saying so.

    With no positive value at all the series is drawn on a linear axis instead.
    """
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(y) & (y > 0)
    if not keep.any():
        ax.plot(t, y, **kw)
        return ""
    ax.plot(t[keep], y[keep], **kw)
    ax.set_yscale("log")
    zeros, neg = int(np.sum(y == 0)), int(np.sum(y < 0))
    parts = [f"{zeros} zeros"] * bool(zeros) + [f"{neg} negatives"] * bool(neg)
    return f"{' and '.join(parts)} of {y.size} not shown" if parts else ""


def choose_snapshots(n, max_snapshots=6):
    """Indices of at most ``max_snapshots`` of ``n`` snapshots, evenly spread, ends kept."""
    if n <= max_snapshots:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max_snapshots)).astype(int))


def _support(edges, cell_masses, samples, q=1e-3):
    """An axis range holding all but ``q`` of the grid mass and of the particles."""
    lo, hi = edges[-1], edges[0]
    for m in cell_masses:
        cdf = np.cumsum(np.clip(m, 0, None))
        if cdf[-1] > 0:
            cdf = cdf / cdf[-1]
            lo = min(lo, edges[np.searchsorted(cdf, q)])
            hi = max(hi, edges[min(np.searchsorted(cdf, 1 - q) + 1, len(edges) - 1)])
    for s in samples:
        s = _finite(s)
        if s.size:
            a, b = np.quantile(s, [q, 1 - q])
            lo, hi = min(lo, a), max(hi, b)
    if not lo < hi:
        return edges[0], edges[-1]
    pad = 0.08 * (hi - lo)
    return max(edges[0], lo - pad), min(edges[-1], hi + pad)


def _hist(samples, edges):
    """Histogram density of ``samples`` on ``edges``, normalised by the finite count."""
    s = _finite(samples)
    h, _ = np.histogram(s, bins=edges)
    return h / (max(s.size, 1) * np.diff(edges))


# ---------------------------------------------------------------------------------------
# Snapshots


def snapshot_panels(t, x_edges, v_edges, grid_f, particle_x, particle_v, *, grid_rho=None,
                    max_snapshots=6):
    """Grid density against particle histograms at (up to ``max_snapshots``) snapshot times.

    Parameters
    ----------
    t : array, shape (n_t,)
        Snapshot times.
    x_edges : array, shape (n_x + 1,)
        Cell edges in x (the particle histograms use the same cells).
    v_edges : array, shape (n_v + 1,) or None
        Cell edges in v; ``None`` for the overdamped regime.
    grid_f : array, shape (n_t, n_x, n_v) or None
        Phase-space density (kinetic); ``None`` when there is no grid solution.
    particle_x, particle_v : array, shape (n_t, n_p) or None
        Particle positions and velocities (``particle_v`` is ``None`` when overdamped).
    grid_rho : array, shape (n_t, n_x), optional
        Spatial density; required for an overdamped grid, computed from ``grid_f``
        otherwise.
    max_snapshots : int
        At most this many snapshots are drawn, evenly chosen (first and last kept).

    Returns
    -------
    Figure
        Kinetic: one row per snapshot with the grid f(x, v), the particle histogram on
        the same cells with the same colour scale, the x-marginal and the v-marginal.
        Overdamped: one panel per snapshot with ρ(x) against the particle histogram.
    """
    t = np.atleast_1d(np.asarray(t, dtype=float))
    x_edges = np.asarray(x_edges, dtype=float)
    has_grid = grid_f is not None or grid_rho is not None
    has_particles = particle_x is not None
    if not (has_grid or has_particles):
        raise ValueError("snapshot_panels needs a grid density or particles")
    dx = np.diff(x_edges)
    if grid_f is not None and v_edges is not None:
        grid_f = np.asarray(grid_f, dtype=float)
        if grid_rho is None:
            grid_rho = grid_f @ np.diff(v_edges)
    if grid_rho is not None:
        grid_rho = np.asarray(grid_rho, dtype=float)
    idx = choose_snapshots(len(t), max_snapshots)
    x_lim = _support(x_edges, [grid_rho[i] * dx for i in idx] if grid_rho is not None else [],
                     [particle_x[i] for i in idx] if has_particles else [])
    n_label = f" (N = {np.asarray(particle_x).shape[1]:,})" if has_particles else ""

    def marginal(ax, edges, grid, samples, symbol, lim):
        if samples is not None:
            ax.stairs(_hist(samples, edges), edges, fill=True, color=PARTICLE_COLOUR,
                      alpha=0.35, label="particles" + n_label)
        if grid is not None:
            ax.stairs(grid, edges, color=GRID_COLOUR, lw=1.4, label="grid")
        ax.set_xlim(*lim)
        ax.set_ylim(bottom=0)
        ax.set_xlabel(symbol)

    if v_edges is None:  # overdamped: one panel per snapshot, equal sizes
        cols = 2 if len(idx) == 4 else min(3, len(idx))
        rows = -(-len(idx) // cols)
        fig = _figure(4.2 * cols, 3.1 * rows + 0.5)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax in axes[len(idx):]:
            ax.remove()
        for ax, i in zip(axes, idx):
            marginal(ax, x_edges, None if grid_rho is None else grid_rho[i],
                     particle_x[i] if has_particles else None, "x", x_lim)
            ax.set_ylabel("density ρ(x)")
            ax.set_title(f"t = {t[i]:.4g}")
        if has_grid and has_particles:
            fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center",
                       ncols=2)
        return fig

    v_edges = np.asarray(v_edges, dtype=float)
    dv = np.diff(v_edges)
    grid_g = None if grid_f is None else np.einsum("tij,i->tj", grid_f, dx)
    v_lim = _support(v_edges, [grid_g[i] * dv for i in idx] if grid_g is not None else [],
                     [particle_v[i] for i in idx] if has_particles else [])
    maps = (["grid"] if grid_f is not None else []) + (["particles"] if has_particles else [])
    ncols = len(maps) + 2
    fig = _figure(3.6 * ncols + 0.8, 2.9 * len(idx) + 0.3)
    gs = fig.add_gridspec(len(idx), ncols)
    for r, i in enumerate(idx):
        images = {}
        if grid_f is not None:
            images["grid"] = grid_f[i]
        if has_particles:
            h, _, _ = np.histogram2d(*(_finite_pairs(particle_x[i], particle_v[i])),
                                     bins=[x_edges, v_edges])
            images["particles"] = h / (max(np.sum(np.isfinite(particle_x[i])), 1)
                                       * np.outer(dx, dv))
        vmax = max(float(np.nanmax(images[m])) for m in maps) or 1.0
        map_axes = []
        for c, m in enumerate(maps):
            ax = fig.add_subplot(gs[r, c])
            mesh = ax.pcolormesh(x_edges, v_edges, images[m].T, vmin=0.0, vmax=vmax,
                                 cmap="viridis", shading="flat")
            ax.set_xlim(*x_lim)
            ax.set_ylim(*v_lim)
            ax.set_xlabel("x")
            ax.set_ylabel("v")
            ax.set_title(f"{'grid f(x, v)' if m == 'grid' else 'particles' + n_label}, "
                         f"t = {t[i]:.4g}", fontsize=10)
            map_axes.append(ax)
        fig.colorbar(mesh, ax=map_axes, label="f(x, v)", shrink=0.9, pad=0.02)
        ax = fig.add_subplot(gs[r, len(maps)])
        marginal(ax, x_edges, None if grid_rho is None else grid_rho[i],
                 particle_x[i] if has_particles else None, "x", x_lim)
        ax.set_ylabel("density ρ(x)")
        ax.set_title(f"x-marginal, t = {t[i]:.4g}", fontsize=10)
        if r == 0 and has_grid and has_particles:
            fig.legend(*ax.get_legend_handles_labels(), loc="outside upper center", ncols=2)
        ax = fig.add_subplot(gs[r, len(maps) + 1])
        marginal(ax, v_edges, None if grid_g is None else grid_g[i],
                 particle_v[i] if has_particles else None, "v", v_lim)
        ax.set_ylabel("density of v")
        ax.set_title(f"v-marginal, t = {t[i]:.4g}", fontsize=10)
    return fig


def _finite_pairs(x, v):
    keep = np.isfinite(x) & np.isfinite(v)
    return np.asarray(x)[keep], np.asarray(v)[keep]


# ---------------------------------------------------------------------------------------
# Time series


def distances_over_time(t, metrics: dict, floors: dict | None = None):
    """Distances between particles and grid over time, each with its i.i.d. noise floor.

    Parameters
    ----------
    t : array, shape (n_t,)
        Snapshot times.
    metrics : dict of str -> array, shape (n_t,)
        Metric values, e.g. ``w2_x``, ``w2_v``, ``sw2``, ``w2_emd``, ``kl``, ``kl_binned``,
        ``tv``. W2-type, KL-type and TV go on separate axes; other names on a fourth.
    floors : dict of str -> array, shape (n_t,), optional
        Noise floor of each metric (same key as in ``metrics``): the metric between an
        independent N-sample of the grid density and the grid density.

    Returns
    -------
    Figure
        One axes per group, log y where every value is positive; a floor is a dashed line
        of the metric's colour with the band below it shaded.
    """
    t = np.asarray(t, dtype=float)
    floors = floors or {}
    metrics = {k: np.asarray(v, dtype=float) for k, v in metrics.items()
               if _finite(v).size}
    known = {k for keys in METRIC_GROUPS.values() for k in keys}
    groups = {title: [k for k in keys if k in metrics] for title, keys in METRIC_GROUPS.items()}
    groups["other"] = sorted(k for k in metrics if k not in known)
    groups = {title: keys for title, keys in groups.items() if keys}
    if not groups:
        raise ValueError("distances_over_time: no metric with a finite value")
    fig = _figure(4.8 * len(groups), 4.6)
    axes = fig.subplots(1, len(groups), squeeze=False)[0]
    marker = "o" if len(t) < 40 else None
    for ax, (title, keys) in zip(axes, groups.items()):
        series = []
        for j, key in enumerate(keys):
            ax.plot(t, metrics[key], color=f"C{j}", marker=marker, ms=4, lw=1.5,
                    label=METRIC_LABELS.get(key, key))
            series.append(metrics[key])
            fl = np.asarray(floors.get(key, []), dtype=float)
            if fl.size == t.size and np.isfinite(fl).any():
                ax.plot(t, fl, color=f"C{j}", ls="--", lw=1.1)
                series.append(fl)
        _set_scale(ax, *series)
        ax.relim()
        ax.autoscale_view()
        bottom, top = ax.get_ylim()
        for j, key in enumerate(keys):
            fl = np.asarray(floors.get(key, []), dtype=float)
            if fl.size == t.size and np.isfinite(fl).any():
                ax.fill_between(t, bottom, fl, color=f"C{j}", alpha=0.12, lw=0)
        ax.set_ylim(bottom, top)
        handles, labels = ax.get_legend_handles_labels()
        if any(k in floors for k in keys):
            handles.append(Line2D([], [], color="0.4", ls="--"))
            labels.append("noise floor (i.i.d. sample)")
        ax.legend(handles, labels, fontsize=8, loc="upper center", ncols=2,
                  bbox_to_anchor=(0.5, -0.16))
        ax.set_title(title)
        ax.set_xlabel("t")
        ax.set_ylabel("distance" if title != "Kullback–Leibler" else "divergence")
        ax.grid(alpha=0.3, which="major")
    return fig


def grid_diagnostics(diag: dict):
    """Conservation and stability diagnostics of the grid solver over time.

    Parameters
    ----------
    diag : dict of str -> array, shape (n_steps,)
        Keys ``t`` (required), ``mass``, ``min``, ``boundary_mass``, ``free_energy``,
        ``dt`` (any may be missing or empty).

    Returns
    -------
    Figure
        Relative mass error |m − m₀|/m₀ (log), minimum of the density, mass in the
        boundary cells (log), free energy and time step, each against t.
    """
    t = np.asarray(diag["t"], dtype=float)
    have = {k: np.asarray(diag[k], dtype=float) for k in
            ("mass", "min", "boundary_mass", "free_energy", "dt")
            if k in diag and len(diag[k]) == len(t) and _finite(diag[k]).size}
    if not t.size or not have:
        raise ValueError("grid_diagnostics: no diagnostics recorded")
    fig = _figure(13.0, 6.6 if len(have) > 3 else 3.6)
    kw = dict(lw=1.2, marker="." if len(t) < 60 else None)
    for ax, key in zip(_panel_axes(fig, len(have)), have):
        y, note = have[key], ""
        if key == "mass":  # errors below round-off are drawn at machine epsilon
            m0 = y[np.isfinite(y)][0]
            err = np.abs(y - m0) / (abs(m0) or 1.0)
            note = _positive_or_note(ax, t, np.where(err < EPS, EPS, err), color="C0", **kw)
            ax.axhline(EPS, color="0.5", ls=":", lw=1.0)
            ax.set_ylim(bottom=EPS / 3)
            ax.set_ylabel("|m − m₀| / m₀")
            ax.set_title(f"relative mass error (m₀ = {m0:.6g}; dotted: machine ε)")
        elif key == "boundary_mass":
            note = _positive_or_note(ax, t, y, color="C1", **kw)
            ax.set_ylabel("mass in boundary cells")
            ax.set_title("boundary mass")
        elif key == "min":  # the sign matters: symlog when it goes negative, else log
            neg = _finite(y)[_finite(y) < 0]
            if neg.size:
                ax.plot(t, y, color="C2", **kw)
                ax.axhline(0.0, color="0.6", lw=0.8, zorder=0)
                ax.set_yscale("symlog", linthresh=max(10.0 ** np.floor(np.log10(
                    np.abs(neg).min())), 1e-300))
                ax.set_title("minimum of the density (goes negative)")
            else:
                note = _positive_or_note(ax, t, y, color="C2", **kw)
                ax.set_title("minimum of the density (never negative)")
            ax.set_ylabel("min of density")
        elif key == "free_energy":
            ax.plot(t, y, color="C3", **kw)
            ax.set_ylabel("free energy F")
            ax.set_title("free energy")
        else:
            ax.plot(t, y, color="C4", **kw)
            ax.set_ylabel("Δt")
            ax.set_title("time step")
        ax.set_xlabel(f"t    ({note})" if note else "t")
        ax.grid(alpha=0.3)
    return fig


def moments_over_time(t, compare: dict):
    """Particle against grid moments over time.

    Parameters
    ----------
    t : array, shape (n_t,)
        Snapshot times.
    compare : dict of str -> array, shape (n_t,)
        Particle moments ``mean_x``, ``var_x``, ``mean_v``, ``var_v``, ``cov_xv`` (d = 1) or
        ``mean_x1`` … ``cov_v2v2`` (d = 2, :mod:`vfp.validation.registry`) and the grid
        ones under the same name with ``_grid`` appended (either may be missing).

    Returns
    -------
    Figure
        One panel per moment: particles as markers, grid as a line, and the largest
        difference in the title.
    """
    t = np.asarray(t, dtype=float)
    labels = {**MOMENT_KEYS, **_ND_MOMENT_KEYS}
    keys = [k for k in labels if _finite(compare.get(k, [])).size
            or _finite(compare.get(k + "_grid", [])).size]
    if not keys:
        raise ValueError("moments_over_time: no moments in compare")
    fig = _figure(13.0, 3.4 * -(-len(keys) // 3) + 0.2)
    for ax, key in zip(_panel_axes(fig, len(keys)), keys):
        p, g = compare.get(key), compare.get(key + "_grid")
        if g is not None:
            ax.plot(t, g, color=GRID_COLOUR, lw=1.5, label="grid")
        if p is not None:
            ax.plot(t, p, color=PARTICLE_COLOUR, ls="none", marker="o", ms=4,
                    label="particles")
        title = labels[key]
        if p is not None and g is not None and _finite(np.subtract(p, g)).size:
            title += f"  (max |Δ| = {np.nanmax(np.abs(np.subtract(p, g))):.2g})"
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("t")
        ax.set_ylabel(_moment_symbol(key))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig
