"""Free-energy gap L(μ_t) − L(μ*) against t of run files: ``vfp freeenergy A.h5 B.h5``.

Built for the overdamped-against-underdamped comparison (``examples/compare_overdamped.toml``
and ``examples/compare_kinetic.toml``: same V, W and λ), but takes any run files.

* **Grid.** L(μ_t) is the grid solver's free-energy diagnostic (midpoint rule on cell
  averages, :func:`grids.solver.free_energy`). L(μ*) is the minimum of the *same discrete*
  functional: its minimiser is the discrete self-consistent law
  ρ*_i ∝ exp(−(V(x_i) + h Σ_k W(x_i − x_k) ρ*_k)/λ) on the grid's own cells
  (:func:`validation.exact.self_consistent_equilibrium` with ``cells`` = grid cells), times
  the discrete Maxwellian M_j ∝ exp(−v_j²/2λ) in the kinetic case. So the grid gap is ≥ 0
  and tends to the scheme's own equilibrium error, not to a quadrature offset.
* **Particles.** L(μ_N,t) is estimated from the stored particles
  (:func:`validation.chaos.free_energy_particles`): sample means of V (and v²/2), the
  pair U-statistic of W, and the Kozachenko–Leonenko k-NN entropy of x (overdamped) or
  of (x, v) (kinetic). L(μ*) is the continuum value
  (:func:`validation.chaos.free_energy_equilibrium`, with the exact Maxwellian part
  −(λ/2) log 2πλ for the kinetic law). The estimate has a spread ≈ 1.28 λ/√n (k = 1),
  drawn as a dotted line: gaps below it are noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["FreeEnergyError", "free_energy_curves", "figure_free_energy", "plot_free_energy"]

DPI = 120
COLOURS = {"overdamped": "C0", "kinetic": "C3"}


class FreeEnergyError(ValueError):
    """A file that cannot give a free-energy curve."""


def _zero(s):
    return np.zeros_like(np.asarray(s, dtype=float))


def grid_equilibrium_free_energy(cfg) -> float:
    """min of the discrete free energy on the config's grid (see module docstring)."""
    from vfp.grids.solver import free_energy
    from vfp.validation.exact import self_consistent_equilibrium

    from .model import grid_problem

    m, g = cfg.model, cfg.grid
    problem, _, _ = grid_problem(m, g, cfg.initial)
    w = m.interaction.value if m.interaction is not None else _zero
    _, rho = self_consistent_equilibrium(m.potential.value, w, m.temperature, g.x.min,
                                         g.x.max, cells=g.x.cells)
    if m.kinetic:
        vc = problem.v.centres
        maxw = np.exp(-0.5 * vc ** 2 / m.temperature)
        maxw /= maxw.sum() * problem.v.h
        state = rho[:, None] * maxw[None, :]
    else:
        state = rho
    return float(free_energy(problem, state))


def free_energy_curves(path, *, entropy_subsample=200_000, seed=0) -> dict:
    """Free-energy gaps of one run file.

    Returns
    -------
    dict
        ``regime``, ``temperature``; ``grid_t``, ``grid_gap`` (diagnostic samples) and
        ``grid_F_star`` when the file has a grid; ``particle_t``, ``particle_gap``,
        ``particle_F``, ``F_star``, ``particle_spread`` (≈ 1.28 λ/√n) when it has particles.
    """
    from vfp.validation.chaos import free_energy_equilibrium, free_energy_particles

    from . import config as cfgmod
    from .store import StoreError, read_run

    try:
        run = read_run(path)
    except StoreError as exc:
        raise FreeEnergyError(str(exc)) from None
    text = run.attrs.get("config", "")
    if not text:
        raise FreeEnergyError(f"{path}: the run file holds no config text")
    try:
        cfg = cfgmod.loads(str(text), source=str(path))
    except cfgmod.ConfigError as exc:
        raise FreeEnergyError(f"{path}: stored config: {exc}") from None
    m = cfg.model
    out = {"regime": m.regime, "temperature": m.temperature, "path": str(path)}
    d = run.diagnostics or {}
    if cfg.grid is not None and len(d.get("t", [])):
        f_star = grid_equilibrium_free_energy(cfg)
        order = np.argsort(d["t"], kind="stable")
        out.update(grid_t=d["t"][order], grid_gap=d["free_energy"][order] - f_star,
                   grid_F_star=f_star)
    if run.particle_x is not None and len(run.particle_x):
        axis = cfg.particles.x if cfg.particles.x is not None else cfg.grid.x
        lo, hi = axis.min, axis.max
        w = m.interaction.value if m.interaction is not None else None
        f_star, _, _ = free_energy_equilibrium(m.potential.value, w, m.temperature, lo, hi,
                                               kinetic=m.kinetic)
        values = []
        n_used = run.particle_x.shape[1]
        for i in range(len(run.particle_x)):
            x = run.particle_x[i]
            v = run.particle_v[i] if run.particle_v is not None else None
            est = free_energy_particles(x, v, m.potential.value, w, m.temperature,
                                        entropy_subsample=entropy_subsample, rng=seed + i)
            values.append(est["free_energy"])
        n_used = min(n_used, entropy_subsample or n_used)
        out.update(particle_t=run.particle_t[:len(values)], particle_F=np.array(values),
                   particle_gap=np.array(values) - f_star, F_star=f_star,
                   particle_spread=1.28 * m.temperature / np.sqrt(n_used), particle_n=n_used)
    if "grid_t" not in out and "particle_t" not in out:
        raise FreeEnergyError(f"{path}: no grid diagnostics or particle snapshots")
    return out


def figure_free_energy(curves):
    """Two panels: the gap on a log scale (decay) and on a linear scale (early transport)."""
    fig = Figure(figsize=(11.0, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax_log, ax_lin = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    t_max = 0.0
    spreads = set()
    for k, c in enumerate(curves):
        colour = COLOURS.get(c["regime"], f"C{k + 1}")
        name = c["regime"]
        if "grid_t" in c:
            gap = c["grid_gap"]
            ax_log.plot(c["grid_t"], np.where(gap > 0, gap, np.nan), "-", color=colour,
                        label=f"{name}: grid")
            ax_lin.plot(c["grid_t"], gap, "-", color=colour, label=f"{name}: grid")
            t_max = max(t_max, c["grid_t"][-1])
        if "particle_t" in c:
            gap = c["particle_gap"]
            ax_log.plot(c["particle_t"], np.where(gap > 0, gap, np.nan), "o", color=colour,
                        mfc="none", label=f"{name}: particles (k-NN entropy)")
            ax_lin.plot(c["particle_t"], gap, "o", color=colour, mfc="none",
                        label=f"{name}: particles")
            spread = round(float(c["particle_spread"]), 12)
            if spread not in spreads:
                spreads.add(spread)
                ax_log.axhline(spread, color=colour if len(curves) == 1 else "0.4", ls=":",
                               lw=1, label=f"particle estimator spread 1.28λ/√n "
                                           f"(n = {c['particle_n']:,})")
            t_max = max(t_max, c["particle_t"][-1])
    ax_log.set_yscale("log")
    ax_log.set_title("free-energy gap L(μ_t) − L(μ*) (log scale)")
    ax_lin.set_title("the same, linear scale: early transport")
    ax_lin.axhline(0.0, color="k", lw=0.8)
    for ax in (ax_log, ax_lin):
        ax.set_xlabel("t")
        ax.legend(fontsize=7)
    ax_lin.set_xlim(0.0, max(t_max / 3.0, 1e-9))
    return fig


def plot_free_energy(paths, output, *, entropy_subsample=200_000) -> str:
    """Write the free-energy-gap figure of ``paths`` to ``output`` (PNG); returns the path."""
    curves = [free_energy_curves(p, entropy_subsample=entropy_subsample) for p in paths]
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure_free_energy(curves).savefig(out, dpi=DPI)
    return str(out)
