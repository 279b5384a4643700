"""Working with finished run files: summaries (``vfp info``) and recomputed comparisons
(``vfp compare``)."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from . import config as cfgmod
from .store import StoreError, open_run, read_run, replace_compare

__all__ = ["describe", "compare_summary", "recompute_compare", "Recomputation"]


def describe_sweep(path) -> str:
    """A summary of a sweep file: tasks done, and the fitted slope against N at the last time."""
    from .sweep import read_sweep

    d = read_sweep(path)
    done = int((d.done == 1).sum())
    lines = [str(path),
             f"  vfp sweep {d.attrs.get('vfp_version', '?')}, created {d.attrs.get('created', '?')}, "
             f"regime {d.attrs.get('regime', '?')}, status {d.attrs.get('status', '?')}",
             f"  N = {', '.join(str(int(n)) for n in d.ns)}; {len(d.seeds)} seeds; "
             f"{done}/{d.done.size} tasks finished; {len(d.t)} snapshots up to t = {d.t[-1]:.3g}",
             f"  fit: {d.attrs.get('fit_method', '?')}"]
    if d.grid_risk is not None:
        lines.append(f"  risk F(ρ_t) of the grid: {d.grid_risk[0]:.6e} at t = {d.t[0]:.3g} → "
                     f"{d.grid_risk[-1]:.6e} at t = {d.t[-1]:.3g}; risk_gap = F(μ^N_t) − "
                     "F(ρ_t) (theory: slope −1)")
    for key, summ in sorted(d.summary.items()):
        slope = summ.get("slope")
        if slope is None or not len(slope):
            continue
        lo, hi = summ["slope_lo"][-1], summ["slope_hi"][-1]
        lines.append(f"    {key:<16} slope vs N at t = {d.t[-1]:.3g}: {slope[-1]:+.3f} "
                     f"[{lo:+.3f}, {hi:+.3f}]")
    return "\n".join(lines)


def compare_summary(group) -> list[str]:
    """The ``vfp info`` lines of a ``/compare`` group (or a dict of arrays), last snapshot.

    Per metric of :mod:`vfp.validation.registry`, what can be compared: a distance with its
    i.i.d. noise floor and the excess over it (value − floor); a moment with the particles'
    value, the grid's, their difference and the floor of that difference (|moment of an
    i.i.d. sample − moment of the grid|). Bookkeeping keys (``n``, ``kl_outside``,
    ``w2_emd_subsample``) are left out; keys the registry does not know are listed as is.
    """
    from vfp.validation import registry

    n = group["t"].shape[0]
    if not n:
        return ["  compare: 0 snapshots"]
    t_last = float(group["t"][n - 1])
    last = {k: float(group[k][n - 1]) for k in group if group[k].shape[0] >= n}
    lines = [f"  compare: {n} snapshots; at the last, t = {t_last:.3g} (distances: value, "
             "i.i.d. noise floor, excess = value − floor; moments: particles, grid, "
             "difference, floor of the difference)"]
    shown = set()
    for metric in registry.REGISTRY.values():
        # every key this metric can write (d = 1, and per axis in d = 2)
        candidates = dict.fromkeys(metric.values + metric.value_keys(True, 2)
                                   + metric.value_keys(False, 2))
        for key in candidates:
            if key not in last:
                continue
            floor = last.get(key + registry.FLOOR_SUFFIX)
            shown.update({key, key + registry.FLOOR_SUFFIX})
            if metric.kind == "distance":
                text = f"{last[key]:.3e}"
                if floor is not None:
                    text += f"  floor {floor:.3e}  excess {last[key] - floor:+.3e}"
            else:
                grid = last.get(key + registry.GRID_SUFFIX)
                shown.add(key + registry.GRID_SUFFIX)
                text = f"particles {last[key]:+.4e}"
                if grid is not None:
                    text += f"  grid {grid:+.4e}  difference {last[key] - grid:+.3e}"
                if floor is not None:
                    text += f"  floor of difference {floor:.3e}"
            lines.append(f"    {key:<10} {text}")
    rest = sorted(k for k in last if k not in shown and not registry.is_bookkeeping(k))
    for key in rest:
        lines.append(f"    {key:<10} {last[key]:.3e}")
    return lines


def describe(path) -> str:
    """A human-readable summary of what a run (or sweep) file holds."""
    from .sweep import is_sweep_file

    if is_sweep_file(path):
        return describe_sweep(path)
    lines = [str(path)]
    with open_run(path) as f:
        a = f.attrs
        lines.append(f"  vfp {a.get('vfp_version', '?')}, created {a.get('created', '?')}, "
                     f"regime {a.get('regime', '?')}, status {a.get('status', '?')}")
        if a.get("message"):
            lines.append(f"  message: {a['message']}")
        if "timings" in a:
            t = json.loads(a["timings"])
            lines.append("  timings: " + ", ".join(
                f"{k} {v:.2f} s" if isinstance(v, float) else f"{k} {v}" for k, v in t.items()))
        if "model" in f:
            lines.extend(model_summary(f))
        if "grid" in f:
            g = f["grid"]
            ts = g["t"][()]
            if int(g.attrs.get("dimension", 1)) == 2:
                cells = "x".join(map(str, g["rho"].shape[1:]))
                if "g" in g:
                    cells += " x " + "x".join(map(str, g["g"].shape[1:]))
                cells = f"d = 2, {cells}"
            else:
                shape = g["f"].shape if "f" in g else g["rho"].shape
                cells = "x".join(map(str, shape[1:]))
            lines.append(f"  grid: {cells} cells, "
                         f"scheme {g.attrs.get('scheme', '?')}, cfl {g.attrs.get('cfl', '?')}, "
                         f"{len(ts)} snapshots at t = {np.array2string(ts, precision=3)}")
            if "f_t" in g:
                lines.append(f"        full density f (float32, gzip) at "
                             f"t = {np.array2string(g['f_t'][()], precision=3)}; marginals "
                             "rho (x) and g (v) at every snapshot")
            d = g["diagnostics"]
            if d["mass"].shape[0]:
                mass = d["mass"][()]
                drift = np.max(np.abs(mass - mass[0])) / mass[0]
                lines.append(f"        {d['t'].shape[0]} diagnostic samples; relative mass drift "
                             f"{drift:.1e}; min density {np.min(d['min'][()]):.2e}; "
                             f"max boundary mass {np.max(d['boundary_mass'][()]):.1e}")
                if "model" in f and d["free_energy"].shape[0]:
                    obj = d["free_energy"][()]
                    lines.append(f"        objective F + ∫V + λ·entropy"
                                 f"{' + kinetic' if 'f' in g or 'g' in g else ''} "
                                 f"(diagnostics free_energy): {obj[0]:.6g} at t = "
                                 f"{d['t'][0]:.3g} → {obj[-1]:.6g} at t = {d['t'][-1]:.3g}")
        if "particles" in f:
            p = f["particles"]
            ts = p["t"][()]
            dim = int(p.attrs.get("dimension", 1))
            lines.append(f"  particles: {'d = %d, ' % dim if dim > 1 else ''}"
                         f"n = {p.attrs.get('n', '?')} ({p['x'].shape[1]} stored), "
                         f"scheme {p.attrs.get('scheme', '?')}, dt {p.attrs.get('dt', '?')}, "
                         f"seed {p.attrs.get('seed', '?')}, {len(ts)} snapshots")
        if "model" in f:
            lines.extend(risk_rows(f))
        if "compare" in f:
            lines.extend(compare_summary(f["compare"]))
    return "\n".join(lines)


def model_summary(f) -> list[str]:
    """The ``vfp info`` line of /model: the energy, its data and their origin."""
    a = f["model"].attrs
    kind = str(a.get("kind", "?"))
    try:
        source = json.loads(str(a.get("source", "{}")))
    except ValueError:
        source = {}
    if "teacher" in source:
        t = source["teacher"]
        origin = (f"teacher (width {t.get('width')}, {t.get('activation')}, seed "
                  f"{t.get('seed')}, noise {t.get('noise')})")
    elif "path" in source:
        origin = f"file {source['path']}"
    elif "python" in source:
        origin = f"python {source['python']}"
    else:
        origin = ", ".join(f"{k} {v}" for k, v in source.items()) or "?"
    if kind == "two_layer_network":
        shapes = ""
        if "data" in f["model"]:
            z, y = f["model/data/z"], f["model/data/y"]
            shapes = f", z [{', '.join(map(str, z.shape))}], y [{y.shape[0]}]"
        return [f"  model.functional: two-layer network, activation {a.get('activation')}, "
                f"output weight {a.get('output_weight')}, d = {a.get('dimension')}; data "
                f"from {origin}{shapes}"]
    return [f"  model.functional: {kind} energy, {origin} (type {a.get('type', '?')}), "
            f"d = {a.get('dimension')}"]


#: ``vfp info`` lists at most this many risk rows (first and last ones)
RISK_ROWS = 12


def risk_rows(f) -> list[str]:
    """The ``vfp info`` rows of the risk: t, grid F(ρ_t), particles F(μ^N_t) and their
    gap, one row per snapshot (at most :data:`RISK_ROWS`, the middle ones elided)."""
    series = {}
    for group in ("grid", "particles"):
        if group in f and "risk" in f[group]:
            n = f[group]["t"].shape[0]
            series[group] = (f[group]["t"][:n], f[group]["risk"][:n])
    if not series:
        return []
    times = np.unique(np.concatenate([t for t, _ in series.values()]))
    lines = [f"  risk F: {len(times)} snapshots"
             + ("" if "particles" not in series else
                f" (particles: all n = {f['particles'].attrs.get('n', '?')})")]
    header = f"    {'t':>9}" + "".join(f"  {name:>13}" for name in series)
    if len(series) == 2:
        header += f"  {'gap':>11}"
    lines.append(header)
    shown = range(len(times))
    if len(times) > RISK_ROWS:
        half = RISK_ROWS // 2
        shown = list(range(half)) + [None] + list(range(len(times) - half, len(times)))
    for i in shown:
        if i is None:
            lines.append("    ...")
            continue
        t = times[i]
        vals = []
        for ts, risk in series.values():
            hit = np.flatnonzero(np.isclose(ts, t, rtol=0, atol=1e-12 * max(1.0, abs(t))))
            vals.append(float(risk[hit[0]]) if hit.size else np.nan)
        row = f"    {t:>9.4g}" + "".join(f"  {v:>13.6e}" for v in vals)
        if len(vals) == 2:
            row += f"  {vals[1] - vals[0]:>+11.3e}"
        lines.append(row)
    return lines


def _writable(path: Path) -> h5py.File:
    """Open for writing; a file left by a killed writer is first rewritten cleanly."""
    try:
        return h5py.File(path, "r+")
    except OSError as exc:
        if "already open for write" not in str(exc):
            raise StoreError(f"{path}: cannot open for writing ({exc})") from None
    # The SWMR consistency flags of a killed writer block normal opening: copy the
    # readable content into a fresh file and put it in place.
    with h5py.File(path, "r", swmr=True) as src, tempfile.NamedTemporaryFile(
            dir=path.parent, suffix=".h5", delete=False) as tmp:
        tmp_path = Path(tmp.name)
        with h5py.File(tmp_path, "w") as dst:
            for key, val in src.attrs.items():
                dst.attrs[key] = val
            for key in src:
                src.copy(src[key], dst, name=key)
    shutil.move(tmp_path, path)
    return h5py.File(path, "r+")


@dataclass
class Recomputation:
    """What :func:`recompute_compare` did.

    Attributes
    ----------
    keys : list of str
        The ``/compare`` datasets written (``t`` excluded).
    settings : dict
        The comparison settings used: ``metrics``, ``seed``, ``n_projections``,
        ``emd_subsample``, ``noise_floor`` (the stored config's unless overridden).
    n_used : int
        Particles per snapshot the recomputation compared (those stored).
    n_particles : int or None
        Particles the run simulated (and compared), when the file says.
    warnings : list of str
        One line each: a subset of the particles compared, an unreadable stored config.
    """

    keys: list
    settings: dict
    n_used: int
    n_particles: int | None
    warnings: list = field(default_factory=list)

    @property
    def subset(self) -> bool:
        """True when the run stored fewer particles than it simulated."""
        return self.n_particles is not None and self.n_used < self.n_particles


def _grid_state(data, index, t, notes):
    """The grid state at snapshot ``index`` for the comparison: f or ρ in d = 1; in d = 2
    kinetic the stored full density when it was kept at ``t``, else the marginals (ρ, g)
    (the phase-space metrics are then NaN, and a note says so)."""
    if data.dimension == 1:
        return data.grid_f[index] if data.kinetic else data.grid_rho[index]
    if not data.kinetic:
        return data.grid_rho[index]
    if data.grid_f_t is not None:
        hit = np.flatnonzero(np.isclose(data.grid_f_t, t, rtol=0, atol=1e-12 * max(1.0, t)))
        if hit.size:
            return np.asarray(data.grid_f[hit[0]], dtype=np.float64)
    notes.append(f"t = {t:.6g}: the full density was not stored (grid.full_snapshots); only "
                 "the marginal metrics were recomputed (sw2, w2_emd, kl are NaN)")
    return (data.grid_rho[index], data.grid_g[index])


def recompute_compare(path, metrics=None, emd_subsample=None, n_projections=None,
                      seed=None) -> Recomputation:
    """Recompute /compare from the stored grid and particle snapshots.

    Every setting not given is the stored config's ``[compare]`` value (its ``seed``,
    ``n_projections``, ``emd_subsample``, ``noise_floor`` and ``metrics``), so with the
    run's particles this reproduces the run's values bit for bit. When the run stored
    fewer particles than it simulated (``particles.store`` < ``particles.n``), the metrics
    describe the stored subset, not what the run compared: the result's ``warnings`` say
    so, and the group's attributes ``n_used``, ``n_particles`` and ``subset`` record it.

    Parameters
    ----------
    path : path-like
        A vfp run file with grid and particle snapshots.
    metrics : sequence of str, optional
        Metric names (:data:`vfp.validation.registry.METRIC_NAMES`).
    emd_subsample, n_projections, seed : int, optional
        Overrides of the stored ``[compare]`` settings.

    Returns
    -------
    Recomputation
    """
    from vfp.validation import registry

    from .pipeline import compare_states

    path = Path(path)
    data = read_run(path)
    if data.grid_t is None or data.particle_t is None:
        raise StoreError(f"{path}: needs both grid and particle snapshots to compare")
    notes = []
    try:
        from .energies import energy_from_run

        cfg = cfgmod.loads(str(data.attrs.get("config", "")), source=f"{path}:/config",
                           functional=energy_from_run(data.model))
        base = cfg.compare or cfgmod.CompareConfig()
    except cfgmod.ConfigError as exc:
        base = cfgmod.CompareConfig()
        notes.append(f"{path}: the stored config is unreadable ({exc}); the comparison "
                     "uses the default [compare] settings")
    chosen = tuple(metrics) if metrics else tuple(base.metrics)
    for name in chosen:
        if name not in registry.METRIC_NAMES:
            raise StoreError(f"--metrics: unknown metric {name!r} "
                             f"(choose from {', '.join(registry.METRIC_NAMES)})")
    compare_cfg = cfgmod.CompareConfig(
        metrics=chosen,
        n_projections=n_projections if n_projections else base.n_projections,
        emd_subsample=emd_subsample if emd_subsample is not None else base.emd_subsample,
        noise_floor=base.noise_floor, seed=base.seed if seed is None else int(seed))
    kinetic = data.kinetic
    dimension = data.dimension
    keys = registry.stored_keys(chosen, kinetic, dimension)
    n_used = int(data.particle_x.shape[1])
    n_particles = (data.particle_attrs or {}).get("n")
    n_particles = int(n_particles) if n_particles is not None else None
    if n_particles is not None and n_used < n_particles:
        notes.append(f"{path}: the run stored {n_used} of its {n_particles} particles per "
                     f"snapshot (particles.store): the recomputed comparison describes these "
                     f"{n_used}, not the {n_particles} the run compared, so values and noise "
                     "floors differ from the run's")
    rows = []
    for index, t in enumerate(data.particle_t):
        match = np.flatnonzero(np.isclose(data.grid_t, t, rtol=0, atol=1e-12 * max(1.0, t)))
        if not len(match):
            continue
        state = _grid_state(data, match[0], t, notes)
        v = data.particle_v[index] if kinetic else None
        row = compare_states(data.particle_x[index], v, data.x_edges, data.v_edges, state,
                             compare_cfg, snapshot_index=index)
        row["t"] = t
        rows.append(row)
    columns = {key: np.array([row.get(key, np.nan) for row in rows], dtype=float)
               for key in ["t"] + keys}
    attrs = {"n_used": n_used, "metrics": ",".join(chosen), "seed": int(compare_cfg.seed)}
    if n_particles is not None:
        attrs.update(n_particles=n_particles, subset=bool(n_used < n_particles))
    estimators = {row["w2_emd_estimator"] for row in rows if "w2_emd_estimator" in row}
    if estimators:
        attrs["w2_emd_estimator"] = "; ".join(sorted(estimators))
    try:
        replace_compare(path, columns, attrs)
    except StoreError as exc:
        if "already open for write" not in str(exc):
            raise
        # a file of an older vfp, left in SWMR mode by a killed writer: rewrite it cleanly
        _writable(path).close()
        replace_compare(path, columns, attrs)
    settings = dict(metrics=chosen, seed=compare_cfg.seed,
                    n_projections=compare_cfg.n_projections,
                    emd_subsample=compare_cfg.emd_subsample,
                    noise_floor=compare_cfg.noise_floor)
    return Recomputation(keys=keys, settings=settings, n_used=n_used,
                         n_particles=n_particles, warnings=notes)
