"""The mean-field phase transition: propagation of chaos is not uniform in time below λ_c.

Double well V = x⁴/4 − x²/2 with the attractive interaction W = κx²/2 (Desai–Zwanzig,
Dawson), overdamped, configs ``examples/phase_transition_below.toml`` (λ = 0.25) and
``examples/phase_transition_above.toml`` (λ = 0.6). One command::

    python examples/phase_transition.py            # about 1–2 min on 2 cores
    python examples/phase_transition.py --quick    # a smoke run (few seeds, short times)

It computes λ_c, m*(λ) and the Landau barrier ΔΦ = Φ(0) − Φ(m*) from
:mod:`vfp.validation.exact`, solves the mean-field PDE on the grid (``vfp.pipeline``) to
t = 500, runs N-particle systems (N = 5 … 500, several seeds each) to the same time
recording the empirical mean m_N(t), prints the flip statistics and writes

* ``examples/figures/phase_transition_trajectories.png`` — m_N(t) for a few N against the
  grid's m(t), below and above λ_c;
* ``examples/figures/phase_transition_vs_n.png`` — the bifurcation diagram m*(λ), the
  long-time mean, the fraction of time spent in the other well, and the mean residence
  time in a well against N with the Kramers prediction ∝ exp(N ΔΦ/λ).

Each particle run uses one Numba thread (for N ≤ 500 a step is too short to share) and the
runs are spread over ``--workers`` processes.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CONFIGS = {"below": HERE / "phase_transition_below.toml",
           "above": HERE / "phase_transition_above.toml"}
PHASES = ("below", "above")
NS = (5, 10, 15, 20, 25, 30, 50, 100, 500)
FLIP_NS = (5, 10, 15, 20, 25, 30)      # below λ_c these flip within t_end: more seeds
TRAJECTORY_NS = (5, 20, 50, 500)


# ---------------------------------------------------------------------------------------
# runs


def _init_worker():
    import numba

    numba.set_num_threads(1)


def particle_means(path, n, seed_index, times):
    """m_N(t) = (1/N) Σ X^i(t) at ``times`` for N particles of the config at ``path``, with
    the sweep's seed of (N, seed index).

    Returns
    -------
    ndarray, shape (len(times),)
    """
    import vfp
    from vfp import pipeline
    from vfp.sweep import task_seed

    cfg = vfp.load_config(path)
    means = np.empty(len(times))

    def record(k, t, x, v):
        means[k] = x.mean()

    pipeline.simulate_particles(cfg, n=n, seed=task_seed(cfg.particles.seed, n, seed_index),
                                times=times, on_snapshot=record)
    return means


def grid_means(cfg, times):
    """m(t) = ∫x ρ(t, x) dx of the grid solution at ``times``."""
    from vfp import pipeline

    solution, problem, _ = pipeline.solve_grid(cfg, times)
    x, h = problem.x.centres, problem.x.h
    return np.array([np.sum(state * x) * h for state in solution.states])


def theory(cfg):
    """λ_c, m*, ΔΦ = Φ(0) − Φ(m*) and Φ''(m*) for the config's κ, λ and grid interval."""
    from vfp.validation import exact

    lo, hi = cfg.grid.x.min, cfg.grid.x.max
    w_grad = cfg.model.interaction.grad_polynomial
    if w_grad is None or len(w_grad) != 2 or w_grad[0] != 0.0:
        raise ValueError("the phase-transition example needs W = κx²/2 (kind = 'quadratic')")
    kappa, lam, v = float(w_grad[1]), cfg.model.temperature, cfg.model.potential.value
    lambda_c = exact.critical_temperature(v, kappa, lo, hi)
    m_star = exact.ordered_mean(v, kappa, lam, lo, hi)
    d = 1e-3                            # Φ to ~1e-14: Φ'' to ~1e-7 by central differences

    def phi(m):
        return exact.mean_free_energy(v, kappa, lam, m, lo, hi)

    def curvature(m):
        return (phi(m - d) - 2.0 * phi(m) + phi(m + d)) / d ** 2

    out = dict(kappa=kappa, temperature=lam, lambda_c=lambda_c, m_star=m_star,
               barrier=phi(0.0) - phi(m_star), lo=lo, hi=hi)
    if m_star > 0:
        # Kramers for dm = −Φ'(m) dt + √(2λ/N) dB: τ = 2π/√(Φ''(m*)|Φ''(0)|) · e^{NΔΦ/λ}
        out["kramers_prefactor"] = 2.0 * np.pi / np.sqrt(curvature(m_star) * abs(curvature(0.0)))
    return out


def kramers_time(info, n):
    """Mean residence time in a well predicted for N particles (no fitted parameter)."""
    return info["kramers_prefactor"] * np.exp(n * info["barrier"] / info["temperature"])


def bifurcation(potential, kappa, lo, hi, temperatures):
    """m*(λ) at each temperature (0 above λ_c)."""
    from vfp.validation import exact

    return np.array([exact.ordered_mean(potential, kappa, lam, lo, hi, points=2049)
                     for lam in temperatures])


# ---------------------------------------------------------------------------------------
# statistics


def count_flips(means, threshold):
    """Transitions between the wells of a path: crossings from above +threshold to below
    −threshold or back (hysteresis, so that noise about one well is not counted)."""
    side = 1 if means[0] >= 0 else -1
    flips = 0
    for m in means:
        if side > 0 and m < -threshold:
            side, flips = -1, flips + 1
        elif side < 0 and m > threshold:
            side, flips = 1, flips + 1
    return flips


def summarise(paths, times, threshold):
    """Per N: long-time mean, fraction of time with m_N < 0, flips and residence time.

    ``paths[n]`` has shape (seeds, len(times)); "long time" is t ≥ t_end/2.
    """
    late = times >= 0.5 * times[-1]
    rows = {}
    for n, p in paths.items():
        late_means = p[:, late].mean(axis=1)
        flips = sum(count_flips(row, threshold) for row in p) if threshold > 0 else 0
        observed = p.shape[0] * times[-1]
        rows[n] = dict(seeds=p.shape[0], late_mean=late_means.mean(),
                       late_mean_sem=late_means.std(ddof=1) / np.sqrt(p.shape[0]),
                       other_well=(p[:, late] < 0).mean(),
                       other_well_sem=(p[:, late] < 0).mean(axis=1).std(ddof=1) / np.sqrt(p.shape[0]),
                       end_other_well=int((p[:, -1] < 0).sum()), flips=flips,
                       observed_time=observed,
                       residence=observed / flips if flips else np.inf)
    return rows


def fit_residence(rows, min_flips):
    """Weighted least-squares line log τ = a + b N over the N with at least ``min_flips``
    flips (the standard deviation of log τ̂ is 1/√flips); None when fewer than three N.

    Returns
    -------
    dict with ns, slope, slope_se, intercept
    """
    ns = [n for n, r in rows.items() if r["flips"] >= min_flips]
    if len(ns) < 3:
        return None
    weights = np.sqrt([rows[n]["flips"] for n in ns])          # 1/σ of each log τ̂
    (slope, intercept), cov = np.polyfit(ns, [np.log(rows[n]["residence"]) for n in ns], 1,
                                         w=weights, cov="unscaled")
    return dict(ns=ns, slope=slope, slope_se=np.sqrt(cov[0, 0]), intercept=intercept)


# ---------------------------------------------------------------------------------------
# figures


def _figure(nrows, ncols, size):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def trajectory_figure(times, grid, paths, info):
    fig, axes = _figure(1, 2, (12, 4.2))
    for ax, phase in zip(axes[0], PHASES):
        th = info[phase]
        for k, n in enumerate(TRAJECTORY_NS):
            ax.plot(times, paths[phase][n][0], lw=0.8, color=f"C{k}", label=f"N = {n}")
        ax.plot(times, grid[phase], color="k", lw=2.0, label="grid (mean field)")
        for m in (th["m_star"], -th["m_star"]):
            ax.axhline(m, color="0.4", ls="--", lw=0.8)
        ax.set_xlabel("t")
        ax.set_ylabel("mean position  m(t)")
        side = "below" if phase == "below" else "above"
        ax.set_title(f"λ = {th['temperature']:g} {side} λ_c = {th['lambda_c']:.4f}"
                     + (f":  ±m* = ±{th['m_star']:.4f}" if th["m_star"] > 0 else ": m* = 0"))
        ax.set_ylim(-1.3, 1.3)
    axes[0, 0].legend(loc="lower left", ncol=3, fontsize=8)
    return fig


def vs_n_figure(rows, info, curve, fit, grid_end):
    fig, axes = _figure(2, 2, (11, 8))
    below, above = info["below"], info["above"]
    # (a) bifurcation diagram
    ax = axes[0, 0]
    lams, ms = curve
    ax.plot(lams, ms, "k-", label="±m*(λ)  (stable)")
    ax.plot(lams, -ms, "k-")
    ax.plot(lams[ms > 0], 0 * lams[ms > 0], "k:", label="m = 0 (unstable below λ_c)")
    ax.plot(lams[ms == 0], 0 * lams[ms == 0], "k-")
    ax.axvline(below["lambda_c"], color="0.5", ls="--", lw=0.8)
    for phase, colour in zip(PHASES, ("C3", "C0")):
        th = info[phase]
        ax.plot([th["temperature"]], [th["m_star"]], "o", color=colour,
                label=f"λ = {th['temperature']:g}")
    ax.set_xlabel("temperature λ")
    ax.set_ylabel("self-consistent mean")
    ax.set_title(f"bifurcation: λ_c = {below['lambda_c']:.4f} (κ = {below['kappa']:g})")
    ax.legend(fontsize=8)
    # (b) long-time mean against N
    ax = axes[0, 1]
    for phase, colour in zip(PHASES, ("C3", "C0")):
        ns = sorted(rows[phase])
        ax.errorbar(ns, [rows[phase][n]["late_mean"] for n in ns],
                    yerr=[rows[phase][n]["late_mean_sem"] for n in ns], fmt="o-", color=colour,
                    capsize=3, label=f"particles, λ = {info[phase]['temperature']:g}")
        ax.axhline(grid_end[phase], color=colour, ls="--", lw=1.0,
                   label=f"grid m(t_end) = {round(grid_end[phase], 4) + 0.0:.4f}")
    ax.set_xscale("log")
    ax.set_xlabel("N")
    ax.set_ylabel("time average of m_N over [t_end/2, t_end]")
    ax.set_title("long-time mean (started in the right well)")
    ax.legend(fontsize=8)
    # (c) fraction of time in the left half
    ax = axes[1, 0]
    for phase, colour in zip(PHASES, ("C3", "C0")):
        ns = sorted(rows[phase])
        ax.errorbar(ns, [rows[phase][n]["other_well"] for n in ns],
                    yerr=[rows[phase][n]["other_well_sem"] for n in ns], fmt="o-",
                    color=colour, capsize=3, label=f"λ = {info[phase]['temperature']:g}")
    ax.axhline(0.5, color="0.5", ls=":", lw=0.8)
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 0.75)
    ax.set_xlabel("N")
    ax.set_ylabel("fraction of [t_end/2, t_end] with m_N < 0")
    ax.set_title("time in the other well (mean field: 0 below λ_c)")
    ax.legend(fontsize=8)
    # (d) residence times
    ax = axes[1, 1]
    r = rows["below"]
    ns = sorted(r)
    seen = [n for n in ns if r[n]["flips"] > 0]
    none = [n for n in ns if r[n]["flips"] == 0]
    ax.errorbar(seen, [r[n]["residence"] for n in seen],
                yerr=[r[n]["residence"] / np.sqrt(r[n]["flips"]) for n in seen], fmt="o",
                color="C3", capsize=3, label="measured (total time / flips)")
    if none:
        # no flip in total time S: τ > S/3 at 95% (Poisson: e^{−S/τ} ≥ 0.05)
        ax.plot(none, [r[n]["observed_time"] / 3.0 for n in none], "^", color="C3",
                mfc="none", label="no flip in total time S: τ > S/3 (95%)")
    slope = below["barrier"] / below["temperature"]
    grid_n = np.linspace(min(ns), 60, 100)
    ax.plot(grid_n, kramers_time(below, grid_n), "k-", lw=1.0,
            label=f"Kramers 2π/√(Φ''(m*)|Φ''(0)|)·exp(N ΔΦ/λ), ΔΦ/λ = {slope:.3f}")
    if fit is not None:
        sub = np.linspace(min(fit["ns"]), max(fit["ns"]), 20)
        ax.plot(sub, np.exp(fit["intercept"] + fit["slope"] * sub), "C3--", lw=1.0,
                label=f"fit: slope {fit['slope']:.3f} ± {fit['slope_se']:.3f}")
    ax.set_xlim(0, 65)
    ax.set_ylim(10, 3e5)
    ax.set_yscale("log")
    ax.set_xlabel("N")
    ax.set_ylabel("mean residence time in a well")
    ax.set_title(f"flips below λ_c (λ = {below['temperature']:g}); mean field: never")
    ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(HERE / "figures"), help="folder for the PNGs")
    parser.add_argument("--t-end", type=float, default=500.0)
    parser.add_argument("--every", type=float, default=0.5, help="sampling interval of m_N(t)")
    parser.add_argument("--seeds-flip", type=int, default=16,
                        help="seeds per N below λ_c for N in %s" % (FLIP_NS,))
    parser.add_argument("--seeds", type=int, default=4, help="seeds per N otherwise")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: t_end = 40, 2 seeds per N")
    args = parser.parse_args(argv)
    if args.quick:
        args.t_end, args.seeds_flip, args.seeds = 40.0, 2, 2

    import vfp

    start = time.perf_counter()
    times = np.linspace(0.0, args.t_end, int(round(args.t_end / args.every)) + 1)
    cfgs = {phase: vfp.load_config(CONFIGS[phase]) for phase in PHASES}
    seeds = {(phase, n): args.seeds_flip if phase == "below" and n in FLIP_NS else args.seeds
             for phase in PHASES for n in NS}
    tasks = sorted(((phase, n, k) for (phase, n), count in seeds.items() for k in range(count)),
                   key=lambda task: -task[1])
    paths = {phase: {n: np.empty((seeds[phase, n], times.size)) for n in NS} for phase in PHASES}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=context,
                             initializer=_init_worker) as pool:
        futures = {pool.submit(particle_means, str(CONFIGS[p]), n, k, times): (p, n, k)
                   for p, n, k in tasks}
        # the grid and the exact values meanwhile, in this process
        info = {phase: theory(cfgs[phase]) for phase in PHASES}
        grid = {phase: grid_means(cfgs[phase], times) for phase in PHASES}
        kappa, lo, hi = info["below"]["kappa"], info["below"]["lo"], info["below"]["hi"]
        # denser towards λ_c, where m* ∝ √(λ_c − λ) turns vertical
        lambda_c = info["below"]["lambda_c"]
        lams = np.concatenate([lambda_c - (lambda_c - 0.05) * np.linspace(1.0, 0.0, 30) ** 2,
                               [0.55, 0.7]])
        curve = (lams, bifurcation(cfgs["below"].model.potential.value, kappa, lo, hi, lams))
        for future, (phase, n, k) in futures.items():
            paths[phase][n][k] = future.result()
    elapsed = time.perf_counter() - start

    threshold = 0.5 * info["below"]["m_star"]
    rows = {phase: summarise(paths[phase], times, threshold if phase == "below" else 0.0)
            for phase in PHASES}
    fit = fit_residence(rows["below"], min_flips=5)
    grid_end = {phase: grid[phase][-1] for phase in PHASES}

    for phase in PHASES:
        th = info[phase]
        print(f"{phase} λ_c: κ = {th['kappa']:g}, λ = {th['temperature']:g}, "
              f"λ_c = {th['lambda_c']:.6f}, m* = {th['m_star']:.6f}, "
              f"ΔΦ = {th['barrier']:.6f}, ΔΦ/λ = {th['barrier'] / th['temperature']:.4f}; "
              f"grid m(t_end = {args.t_end:g}) = {grid_end[phase]:.6f}")
        if th["m_star"] > 0:
            print(f"  Kramers prefactor 2π/√(Φ''(m*)|Φ''(0)|) = {th['kramers_prefactor']:.3f}")
        print(f"  {'N':>5} {'seeds':>5} {'<m_N> late':>16} {'frac m_N<0':>16} "
              f"{'end<0':>5} {'flips':>5} {'residence':>10} {'Kramers':>10}")
        for n in NS:
            r = rows[phase][n]
            kramers = kramers_time(th, n) if th["m_star"] > 0 else np.nan
            print(f"  {n:5d} {r['seeds']:5d} {r['late_mean']:8.4f} ± {r['late_mean_sem']:.4f} "
                  f"{r['other_well']:8.3f} ± {r['other_well_sem']:.3f} {r['end_other_well']:5d} "
                  f"{r['flips']:5d} {r['residence']:10.4g} {kramers:10.4g}")
    if fit is not None:
        print(f"residence time fit over N = {fit['ns']}: log τ slope {fit['slope']:.4f} ± "
              f"{fit['slope_se']:.4f} per particle (Kramers ΔΦ/λ = "
              f"{info['below']['barrier'] / info['below']['temperature']:.4f})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "_quick" if args.quick else ""
    for name, fig in (("trajectories", trajectory_figure(times, grid, paths, info)),
                      ("vs_n", vs_n_figure(rows, info, curve, fit, grid_end))):
        path = out / f"phase_transition_{name}{suffix}.png"
        fig.savefig(path, dpi=110)
        print(f"wrote {path}")
    print(f"runs: {len(tasks)} particle systems, t_end = {args.t_end:g}, "
          f"{elapsed:.1f} s with {args.workers} workers")


if __name__ == "__main__":
    main()
