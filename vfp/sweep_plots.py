"""Figures of a sweep file (``vfp plot SWEEP.h5``).

* ``sweep_vs_n.png`` — every fitted metric against N on log–log axes at the last snapshot:
  the seeds (dots), their mean ± standard error, the i.i.d. noise floor, the fitted power
  law with its slope and seed-bootstrap interval, a 1/N reference line and, for linear
  Gaussian models, the exact N-particle values;
* ``sweep_slopes.png`` — the fitted slope (with interval) of every metric against t;
* ``sweep_vs_t.png`` — every fitted metric against t, one curve per N, floors dashed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .store import StoreError
from .sweep import read_sweep

__all__ = ["plot_sweep", "LABELS"]

DPI = 120
LABELS = {
    "w2_x_sq": "W₂² of x-marginal", "w2_v_sq": "W₂² of v-marginal",
    "sw2_sq": "sliced W₂² on (x, v)", "w2_emd_sq": "W₂² exact OT (subsample)",
    "kl": "KL (k-NN)", "kl_binned": "KL (binned)", "tv": "TV (binned)",
    "mean_x_err2": "(mean x − grid)²", "var_x_err2": "(var x − grid)²",
    "mean_v_err2": "(mean v − grid)²", "var_v_err2": "(var v − grid)²",
    "cov_xv_err2": "(cov xv − grid)²",
    "risk_gap": "risk gap F(μᴺ) − F(ρ)",
}


def _figure(n_panels, width=4.2, height=3.4, per_row=3):
    rows = -(-n_panels // per_row)
    cols = min(per_row, n_panels)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(n_panels)]
    return fig, axes


def _positive(a):
    a = np.asarray(a, dtype=float)
    return np.where(np.isfinite(a) & (a > 0), a, np.nan)


def _keys(data):
    from .sweep import FIT_KEYS

    order = [k for k in FIT_KEYS if k in data.summary]
    order += sorted(k for k in data.summary if k not in order)
    return [k for k in order if np.isfinite(data.summary[k]["mean"]).any()]


def _exact_lines(data, key, j):
    """(label, values over N, style) of exact references for a metric at time index j."""
    e = data.exact
    if e is None:
        return []
    if key == "mean_x_err2":
        return [("exact N-particle E(x̄ − m)²", e["com_var"][:, j], "-"),
                ("i.i.d. value", e["iid_com_var"][:, j], ":")]
    if key == "kl":
        return [("exact KL_N/N (bound on marginal KL)", e["kl_per_particle"][:, j], "-")]
    return []


def figure_vs_n(data, time_index=-1):
    """Metric against N (log–log) at one snapshot, with fit, floor and 1/N reference."""
    keys = _keys(data)
    fig, axes = _figure(len(keys))
    j = time_index % len(data.t)
    ns = data.ns.astype(float)
    fine = np.geomspace(ns.min() / 1.5, ns.max() * 1.5, 50)
    for ax, key in zip(axes, keys):
        s = data.summary[key]
        vals = data.metrics[key][:, :, j]
        for i, n in enumerate(ns):
            ax.scatter(np.full(vals.shape[1], n), _positive(vals[i]), s=6, color="0.7",
                       zorder=1, label="seeds" if i == 0 else None)
        mean, sem = s["mean"][:, j], s["sem"][:, j]
        ok = np.isfinite(mean) & (mean > 0)
        ax.errorbar(ns[ok], mean[ok], yerr=np.nan_to_num(sem[ok]), fmt="o", color="C0",
                    capsize=3, zorder=3, label="mean ± s.e.")
        if "floor_mean" in s and np.isfinite(s["floor_mean"][:, j]).any():
            ax.plot(ns, _positive(s["floor_mean"][:, j]), "s--", color="C1", ms=4,
                    label="i.i.d. noise floor", zorder=2)
        if np.isfinite(s["slope"][j]):
            lo, hi = s["slope_lo"][j], s["slope_hi"][j]
            ci = f" [{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) else ""
            ax.plot(fine, np.exp(s["intercept"][j]) * fine ** s["slope"][j], "-", color="C0",
                    label=f"fit: slope {s['slope'][j]:.2f}{ci}")
        if ok.any():
            i0 = np.flatnonzero(ok)[0]
            ax.plot(fine, mean[i0] * ns[i0] / fine, ":", color="k", lw=1, label="∝ 1/N")
        for label, values, style in _exact_lines(data, key, j):
            ax.plot(ns, _positive(values), style, color="C3", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("N")
        ax.set_title(LABELS.get(key, key) + ("" if ok.all() else " (means ≤ 0 not shown)"),
                     fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle(f"Error against N at t = {data.t[j]:.3g} "
                 f"({data.metrics[keys[0]].shape[1]} seeds per N; 95% seed-bootstrap interval)")
    return fig


def figure_slopes(data):
    """Fitted slope (with interval) of every metric against t."""
    keys = _keys(data)
    fig, axes = _figure(1, width=7.0, height=4.2)
    ax = axes[0]
    for c, key in enumerate(keys):
        s = data.summary[key]
        ax.plot(data.t, s["slope"], "o-", color=f"C{c}", label=LABELS.get(key, key), ms=4)
        ax.fill_between(data.t, s["slope_lo"], s["slope_hi"], color=f"C{c}", alpha=0.15)
    ax.axhline(-1.0, color="k", lw=1, ls=":", label="−1 (1/N)")
    ax.axhline(-0.5, color="0.5", lw=1, ls=":", label="−1/2")
    ax.set_ylim(-2.5, 0.5)
    ax.set_xlabel("t")
    ax.set_ylabel("slope of log mean against log N")
    ax.set_title("Fitted exponent over time (band: 95% seed-bootstrap interval)")
    ax.legend(fontsize=7, ncol=2)
    return fig


def figure_vs_t(data):
    """Every metric against t, one curve per N (mean ± s.e.), floors dashed."""
    keys = _keys(data)
    fig, axes = _figure(len(keys))
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    colours = [cmap(x) for x in np.linspace(0.0, 0.85, len(data.ns))]
    for ax, key in zip(axes, keys):
        s = data.summary[key]
        for i, n in enumerate(data.ns):
            mean, sem = s["mean"][i], s["sem"][i]
            ax.plot(data.t, _positive(mean), "o-", ms=3, color=colours[i], label=f"N = {n:,}")
            ax.fill_between(data.t, _positive(mean - np.nan_to_num(sem)),
                            _positive(mean + np.nan_to_num(sem)), color=colours[i], alpha=0.2)
            if "floor_mean" in s:
                ax.plot(data.t, _positive(s["floor_mean"][i]), "--", lw=1, color=colours[i])
        ax.set_yscale("log")
        ax.set_xlabel("t")
        ax.set_title(LABELS.get(key, key))
    axes[0].plot([], [], "--", color="0.4", lw=1, label="i.i.d. floor")
    axes[0].legend(fontsize=7)
    fig.suptitle("Error against time for every N (band: ± standard error over seeds)")
    return fig


def plot_sweep(path, outdir) -> list[str]:
    """Write the sweep figures of ``path`` into ``outdir``; returns the files written."""
    data = read_sweep(path)
    if not (data.done != 0).any() or not _keys(data):
        raise StoreError(f"{path}: the sweep file holds no finished task to plot")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in (("sweep_vs_n", figure_vs_n), ("sweep_slopes", figure_slopes),
                       ("sweep_vs_t", figure_vs_t)):
        out = outdir / f"{name}.png"
        make(data).savefig(out, dpi=DPI)
        written.append(str(out))
    return written
