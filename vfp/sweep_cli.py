"""``vfp sweep``: argument checks and the run (the parser lives in :mod:`vfp.cli`)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from .sweep import SweepError, parse_ns, run_sweep

__all__ = ["cmd_sweep", "default_ns"]


def default_ns(n: int) -> list[int]:
    """particles.n/1000, n/100, n/10, n (those ≥ 10)."""
    out = sorted({n // 10 ** k for k in range(4) if n // 10 ** k >= 10})
    return out or [max(int(n), 2)]


def cmd_sweep(args) -> int:
    from . import config as cfgmod

    # Argument checks first, so a bad option is reported before the config is read.
    ns = parse_ns(args.n) if args.n is not None else None
    if args.seeds < 1:
        raise SweepError("--seeds", f"must be an integer ≥ 1 (got {args.seeds})")
    if args.workers is not None and args.workers < 1:
        raise SweepError("--workers", f"must be an integer ≥ 1 (got {args.workers})")
    if args.scheduler is not None and "://" not in args.scheduler:
        raise SweepError("--scheduler", f"expected an address like tcp://HOST:PORT "
                                        f"(got {args.scheduler!r})")
    metrics = None
    if args.metrics:
        metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
        bad = [m for m in metrics if m not in cfgmod.COMPARE_METRICS]
        if bad or not metrics:
            raise SweepError("--metrics", f"unknown metric {bad[0] if bad else ''!r} "
                                          f"(choose from {', '.join(cfgmod.COMPARE_METRICS)})")
    cfg = cfgmod.load(args.config)
    if cfg.grid is None or cfg.particles is None:
        raise SweepError(f"{args.config}: grid", "a sweep needs both [grid] and [particles]")
    if ns is None:
        ns = default_ns(cfg.particles.n)
    out = Path(args.output) if args.output else Path("runs") / f"{Path(args.config).stem}_sweep.h5"
    if args.resume and out.exists():
        from .sweep import is_sweep_file

        if not is_sweep_file(out):
            raise SweepError("--resume", f"{out} is not a vfp sweep file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_sweep(cfg, ns, args.seeds, out, workers=args.workers,
                           scheduler=args.scheduler, resume=args.resume, metrics=metrics,
                           progress=not args.quiet)
    for text in result.warnings:
        print(f"vfp: warning: {text}", file=sys.stderr)
    if not args.quiet:
        print(f"vfp: wrote {out} ({result.ran} tasks run, {result.skipped} kept, engine "
              f"{result.engine}, {result.timings.get('tasks', 0.0):.1f} s)", file=sys.stderr)
        key = next((k for k in ("w2_x_sq", "kl", "tv") if k in result.summary), None)
        if key is not None:
            s = result.summary[key]
            print(f"vfp: slope of mean {key} against N at t = {result.t[-1]:.3g}: "
                  f"{s['slope'][-1]:.3f} [{s['slope_lo'][-1]:.3f}, {s['slope_hi'][-1]:.3f}]",
                  file=sys.stderr)
        if "risk_gap" in result.summary:
            s = result.summary["risk_gap"]
            print(f"vfp: risk gap E F(μ^N) − F(ρ) at t = {result.t[-1]:.3g}: "
                  + ", ".join(f"N = {n}: {m:.3e} ± {e:.1e}" for n, m, e in
                              zip(result.ns, s["mean"][:, -1], s["sem"][:, -1]))
                  + f"; slope against N {s['slope'][-1]:.3f} [{s['slope_lo'][-1]:.3f}, "
                  f"{s['slope_hi'][-1]:.3f}] (theory −1)", file=sys.stderr)
    if args.plots:
        from .sweep_plots import plot_sweep

        for path in plot_sweep(out, args.plots):
            print(path)
    return 0
