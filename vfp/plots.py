"""PNG figures of a run file: ``vfp plot OUT.h5`` and ``vfp run --plots DIR``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vfp.validation import plots as vp
from vfp.validation import registry

from .store import StoreError, read_run

__all__ = ["plot_run"]

DPI = 120


def _match_times(grid_t, particle_t):
    """Index pairs (grid, particle) of the snapshot times both hold."""
    pairs = []
    for i, t in enumerate(grid_t):
        j = np.flatnonzero(np.isclose(particle_t, t, rtol=1e-9, atol=1e-12))
        if j.size:
            pairs.append((i, int(j[0])))
    return np.array(pairs, dtype=int).reshape(-1, 2)


def _snapshots(run):
    """Arguments of :func:`validation.plots.snapshot_panels`, or ``None`` without snapshots."""
    has_grid = run.grid_t is not None and len(run.grid_t) > 0
    has_particles = run.particle_x is not None and len(run.particle_x) > 0
    if has_grid and has_particles:
        pairs = _match_times(run.grid_t, run.particle_t[:len(run.particle_x)])
        if len(pairs):
            gi, pi = pairs.T
            return dict(t=run.grid_t[gi], x_edges=run.x_edges, v_edges=run.v_edges,
                        grid_f=None if run.grid_f is None else run.grid_f[gi],
                        grid_rho=run.grid_rho[gi], particle_x=run.particle_x[pi],
                        particle_v=None if run.particle_v is None else run.particle_v[pi])
        has_particles = False  # no common time: show the grid alone
    if has_grid:
        return dict(t=run.grid_t, x_edges=run.x_edges, v_edges=run.v_edges,
                    grid_f=run.grid_f, grid_rho=run.grid_rho, particle_x=None,
                    particle_v=None)
    if has_particles:  # particles only: cells spanning the samples, ~2 N^(1/3) per axis
        bins = int(np.clip(2 * np.cbrt(run.particle_x.shape[1]), 10, 100))

        def edges(a):
            a = a[np.isfinite(a)]
            return np.histogram_bin_edges(a, bins) if a.size else np.linspace(-1, 1, bins + 1)

        return dict(t=run.particle_t[:len(run.particle_x)], x_edges=edges(run.particle_x),
                    v_edges=None if run.particle_v is None else edges(run.particle_v),
                    grid_f=None, grid_rho=None, particle_x=run.particle_x,
                    particle_v=run.particle_v)
    return None


def _unknown_keys(compare):
    """Keys the registry does not know (e.g. from a newer vfp), minus their floors."""
    out = []
    for k in compare:
        try:
            registry.key_info(k)
        except ValueError:
            if not k.endswith(registry.FLOOR_SUFFIX):
                out.append(k)
    return out


def plot_run(path, outdir) -> list[str]:
    """Write the PNG figures of a run file and return their paths.

    Parameters
    ----------
    path : path-like
        A vfp run file (complete or interrupted).
    outdir : path-like
        Directory for the figures (created if needed).

    Returns
    -------
    list of str
        The files written, among ``snapshots.png`` (grid against particle densities),
        ``distances.png`` (metrics with noise floors), ``diagnostics.png`` (grid solver)
        and ``moments.png`` (particle against grid moments); with a mean-field energy
        ``risk.png`` (risk F and objective against t) and, for networks with scalar
        inputs (p = 1), ``predictions.png`` (f_μ(z) against the data at a few snapshots);
        a figure is written only when the file holds its data.

    Raises
    ------
    StoreError
        When the file is missing, not a vfp run file, or holds nothing to plot.
    """
    try:
        run = read_run(path)
    except StoreError:
        raise
    except (KeyError, OSError, ValueError, TypeError) as exc:
        raise StoreError(f"{path}: unreadable run file ({exc})") from None
    if run.dimension == 2:
        figures = _figures_2d(run)
        return _write(path, outdir, figures, ("x_marginal", "v_marginal", "marginals_1d",
                                              "distances", "diagnostics", "moments", "risk",
                                              "predictions"))
    figures = {}
    snaps = _snapshots(run)
    if snaps is not None:
        figures["snapshots"] = lambda: vp.snapshot_panels(**snaps)
    c = run.compare or {}
    if "t" in c and len(c["t"]):
        # Distances with their floors (the registry says which keys are distances; moments
        # and bookkeeping entries such as the EMD subsample size go elsewhere or nowhere).
        distances = registry.distance_keys()
        metrics = {k: c[k] for k in distances if k in c and np.isfinite(c[k]).any()}
        metrics.update({k: c[k] for k in _unknown_keys(c) if np.isfinite(c[k]).any()})
        floors = {k: c[k + registry.FLOOR_SUFFIX] for k in metrics
                  if k + registry.FLOOR_SUFFIX in c}
        if metrics:
            figures["distances"] = lambda: vp.distances_over_time(c["t"], metrics, floors)
        if any(np.isfinite(c.get(k, [np.nan])).any() for k in registry.moment_keys()):
            figures["moments"] = lambda: vp.moments_over_time(c["t"], c)
    _diagnostics_figure(run, figures)
    _energy_figures(run, figures)
    return _write(path, outdir, figures, ("snapshots", "distances", "diagnostics", "moments",
                                          "risk", "predictions"))


def _diagnostics_figure(run, figures):
    d = run.diagnostics or {}
    if len(d.get("t", [])) and any(len(d.get(k, [])) == len(d["t"])
                                   and np.isfinite(d[k]).any() for k in d if k != "t"):
        figures["diagnostics"] = lambda: vp.grid_diagnostics(d)


def _energy_figures(run, figures):
    """risk.png and predictions.png of a run with a mean-field energy."""
    if run.model is None:
        return
    if any(r is not None and np.isfinite(r).any() for r in (run.grid_risk, run.particle_risk)):
        figures["risk"] = lambda: risk_figure(run)
    from .energies import energy_from_run

    net = energy_from_run(run.model)
    if net is not None and net.z.shape[1] == 1 and (
            (run.grid_rho is not None and len(run.grid_rho)) or
            (run.particle_x is not None and len(run.particle_x))):
        figures["predictions"] = lambda: predictions_figure(run, net)


def _panels(n_panels, width=5.0, height=3.8):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * n_panels, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, [fig.add_subplot(1, n_panels, i + 1) for i in range(n_panels)]


def risk_figure(run):
    """Risk F against t (grid F(ρ_t), particles F(μ^N_t) of all N) and the grid's MFLD
    objective F + ∫V + λ·entropy (+ kinetic energy) against t (diagnostics ``free_energy``)."""
    d = run.diagnostics or {}
    has_objective = len(d.get("free_energy", [])) > 0 and np.isfinite(d["free_energy"]).any()
    fig, axes = _panels(2 if has_objective else 1)
    ax = axes[0]
    positive = True
    for t, risk, label, style in ((run.grid_t, run.grid_risk, "grid F(ρ_t)", "o-"),
                                  (run.particle_t, run.particle_risk, "particles F(μᴺ_t)",
                                   "s--")):
        if risk is None or not np.isfinite(risk).any():
            continue
        ax.plot(t[:len(risk)], risk, style, ms=4, label=label)
        positive &= bool(np.all(risk[np.isfinite(risk)] > 0))
    if positive:
        ax.set_yscale("log")
    ax.set_xlabel("t")
    ax.set_ylabel("risk F")
    n_part = (run.particle_attrs or {}).get("n")
    ax.set_title("risk" + (f" (particles: all N = {n_part})" if n_part is not None else ""))
    ax.legend(fontsize=8)
    if has_objective:
        ax = axes[1]
        ax.plot(d["t"], d["free_energy"], "-", color="C2")
        ax.set_xlabel("t")
        ax.set_ylabel("objective")
        kinetic = " + ∫|v|²/2 f" if run.kinetic else ""
        ax.set_title(f"grid objective F + ∫V ρ + λ∫ρ log ρ{kinetic}", fontsize=10)
    return fig


#: snapshots drawn in predictions.png
PREDICTION_SNAPSHOTS = 4


def predictions_figure(run, net):
    """f_μ(z) against the data (z, y) at a few snapshots: the grid's measure (solid) and
    the stored particles (dashed), for a network with scalar inputs (p = 1)."""
    from .pipeline import grid_measure, particle_measure

    fig, (ax,) = _panels(1, width=6.5, height=4.5)
    z = net.z[:, 0]
    ax.scatter(z, net.y, s=8, color="0.6", label="data", zorder=1)
    zs = np.linspace(z.min(), z.max(), 200)[:, None]
    has_grid = run.grid_rho is not None and len(run.grid_rho) > 0
    has_particles = run.particle_x is not None and len(run.particle_x) > 0
    times = run.grid_t[:len(run.grid_rho)] if has_grid else \
        run.particle_t[:len(run.particle_x)]
    pick = np.unique(np.linspace(0, len(times) - 1, min(PREDICTION_SNAPSHOTS, len(times)))
                     .round().astype(int))
    for c, i in enumerate(pick):
        t = times[i]
        colour = f"C{c}"
        if has_grid:
            points, weights = grid_measure((run.grid_rho[i], None), run.x_edges, None)
            ax.plot(zs[:, 0], net.predict(zs, points, weights), "-", color=colour,
                    label=f"grid, t = {t:.3g}")
        if has_particles:
            hit = np.flatnonzero(np.isclose(run.particle_t[:len(run.particle_x)], t,
                                            rtol=0, atol=1e-12 * max(1.0, abs(t))))
            if hit.size:
                points, _ = particle_measure(run.particle_x[hit[0]])
                ok = np.isfinite(points).all(axis=1)
                ax.plot(zs[:, 0], net.predict(zs, points[ok], np.full(ok.sum(), 1 / ok.sum())),
                        "--", color=colour, label=f"particles, t = {t:.3g}")
    stored = f" (particles: the {run.particle_x.shape[1]} stored)" if has_particles else ""
    ax.set_xlabel("input z")
    ax.set_ylabel("f_μ(z)")
    ax.set_title(f"network predictions against the data{stored}", fontsize=10)
    ax.legend(fontsize=7)
    return fig


def _figures_2d(run):
    """d = 2: x-marginal heat maps (grid beside particles), v-marginal heat maps
    (kinetic), the 1-D marginal of every axis, distances over time, grid diagnostics and
    moments."""
    from vfp.validation import plots_nd as vpn

    figures = {}
    kinetic = run.kinetic
    has_grid = run.grid_t is not None and len(run.grid_t) > 0
    has_particles = run.particle_x is not None and len(run.particle_x) > 0
    if has_grid:
        gi = np.arange(len(run.grid_t))
        pi = None
        if has_particles:
            pairs = _match_times(run.grid_t, run.particle_t[:len(run.particle_x)])
            if len(pairs):
                gi, pi = pairs.T
        t = run.grid_t[gi]
        px = None if pi is None else run.particle_x[pi]
        pv = None if pi is None or run.particle_v is None else run.particle_v[pi]
        figures["x_marginal"] = lambda: vpn.marginal_heatmaps(
            t, run.x_edges, run.grid_rho[gi], px, symbol="x")
        edges = list(run.x_edges)
        grid_1d = vpn.grid_axis_marginals(run.x_edges, run.grid_rho[gi])
        points = px
        if kinetic and run.grid_g is not None:
            figures["v_marginal"] = lambda: vpn.marginal_heatmaps(
                t, run.v_edges, run.grid_g[gi], pv, symbol="v")
            edges += list(run.v_edges)
            grid_1d += vpn.grid_axis_marginals(run.v_edges, run.grid_g[gi])
            points = None if px is None or pv is None else np.concatenate([px, pv], axis=2)
        figures["marginals_1d"] = lambda: vpn.axis_marginals_figure(t, edges, grid_1d, points)
    elif has_particles:
        t = run.particle_t[:len(run.particle_x)]
        points = run.particle_x if run.particle_v is None else \
            np.concatenate([run.particle_x, run.particle_v], axis=2)
        finite = points[np.isfinite(points).all(axis=2)]
        bins = int(np.clip(2 * np.cbrt(points.shape[1]), 10, 100))
        edges = [np.histogram_bin_edges(finite[:, k], bins) if finite.size else
                 np.linspace(-1, 1, bins + 1) for k in range(points.shape[2])]
        figures["marginals_1d"] = lambda: vpn.axis_marginals_figure(t, edges, None, points)
    c = run.compare or {}
    if "t" in c and len(c["t"]):
        if any(np.isfinite(c[k]).any() for k in registry.distance_keys(
                kinetic=kinetic, dimension=2) if k in c):
            figures["distances"] = lambda: vpn.distances_over_time_nd(
                c["t"], c, dimension=2, kinetic=kinetic)
        if any(np.isfinite(c.get(k, [np.nan])).any()
               for k in registry.moment_keys(kinetic=kinetic, dimension=2)):
            figures["moments"] = lambda: vp.moments_over_time(c["t"], c)
    _diagnostics_figure(run, figures)
    _energy_figures(run, figures)
    return figures


def _write(path, outdir, figures, order):
    if not figures:
        raise StoreError(f"{path}: the run file holds no snapshots, comparisons or "
                         "diagnostics to plot")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in order:
        if name in figures:
            out = outdir / f"{name}.png"
            figures[name]().savefig(out, dpi=DPI)
            written.append(str(out))
    return written
