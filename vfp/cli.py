"""Command line: ``vfp run | compare | plot | info | sweep | freeenergy``.

Exit codes: 0 success; 1 the run failed (diverged, or any error during the work: one line
on stderr, the file's status is "failed" with the message; ``--debug`` shows the
traceback); 2 a bad config or file, an output locked by another run or a finished run
that ``--overwrite`` does not allow to replace (one line, before any work); 130
interrupted by Ctrl-C (status "interrupted"; the file keeps every finished snapshot).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"vfp: error: {message}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


def _parser():
    from . import __version__

    p = _Parser(prog="vfp", description="Mean-field Langevin particles against their "
                                        "Vlasov-Fokker-Planck limit.")
    p.add_argument("--version", action="version", version=f"vfp {__version__}")
    # --debug is accepted before or after the command name
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of an unexpected error")
    p.add_argument("--debug", action="store_true", default=False,
                   help="show the full traceback of an unexpected error")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_parser = sub.add_parser

    def add_parser(*args, **kw):
        return _add_parser(*args, parents=[common], **kw)

    sub.add_parser = add_parser

    r = sub.add_parser("run", help="run grid and/or particles from a TOML config, then compare")
    r.add_argument("config", help="TOML config file")
    r.add_argument("-o", "--output", help="HDF5 output file (default: [output] path)")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    r.add_argument("--plots", metavar="DIR", help="also write the PNG figures to DIR")
    r.add_argument("--overwrite", action="store_true",
                   help="replace the output if it holds a finished run (a file left by an "
                        "unfinished run is always replaced)")

    c = sub.add_parser("compare", help="recompute the comparison from stored snapshots")
    c.add_argument("file", help="HDF5 run file")
    c.add_argument("--metrics", help="comma-separated metric names (default: all)")
    c.add_argument("--subsample", type=int, help="particle subsample for exact OT (w2_emd)")
    c.add_argument("--projections", type=int, help="projections for sliced W2")
    c.add_argument("--seed", type=int, help="seed for projections and noise floors "
                                            "(default: the run's compare.seed)")

    pl = sub.add_parser("plot", help="PNG figures: snapshot panels, distances, diagnostics")
    pl.add_argument("file", help="HDF5 run file")
    pl.add_argument("-o", "--output", help="output folder (default: next to the file)")

    i = sub.add_parser("info", help="summarise a run file")
    i.add_argument("file", help="HDF5 run file")

    s = sub.add_parser("sweep", help="particles for every (N, seed) against one grid "
                                     "solve: errors against N and t, fitted slopes")
    s.add_argument("config", help="TOML config file (needs [grid] and [particles])")
    s.add_argument("--n", help="comma-separated particle numbers, e.g. 1000,10000,100000 "
                               "(default: particles.n/1000 … particles.n by factors of 10)")
    s.add_argument("--seeds", type=int, default=8, help="seeds per N (default 8)")
    s.add_argument("-o", "--output", help="sweep file (default runs/<config>_sweep.h5)")
    s.add_argument("--workers", type=int, help="local worker processes (default: one per "
                                               "core; 1 runs in this process)")
    s.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run the tasks on this Dask scheduler (needs vfp[dask])")
    s.add_argument("--resume", action="store_true",
                   help="keep the finished tasks of the output file, run the missing ones")
    s.add_argument("--metrics", help="comma-separated metric names (default: all but w2_emd)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.add_argument("--plots", metavar="DIR", help="also write the sweep figures to DIR")

    fe = sub.add_parser("freeenergy", help="free-energy gap L(mu_t) - L(mu*) against t of "
                                           "run files (e.g. overdamped and kinetic)")
    fe.add_argument("files", nargs="+", help="HDF5 run files (grid and/or particles)")
    fe.add_argument("-o", "--output", default="freeenergy.png", help="PNG file")
    fe.add_argument("--entropy-subsample", type=int, default=200000,
                    help="particles used by the k-NN entropy (default 200000)")
    return p


def _fail(message, code=EXIT_BAD_INPUT):
    print(f"vfp: error: {message}", file=sys.stderr)
    return code


def _cmd_run(args):
    from . import config as cfgmod
    from .runner import run

    cfg = cfgmod.load(args.config)
    out = Path(args.output) if args.output else cfg.output_path()
    note = cfgmod.memory_note(cfg)  # big runs say what they will need before they start
    if note and not args.quiet:
        print(f"vfp: {note}", file=sys.stderr)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("ignore")
        result = run(cfg, output=out, progress=not args.quiet, overwrite=args.overwrite)
    for text in result.warnings:
        print(f"vfp: warning: {text}", file=sys.stderr)
    sol = result.particles
    if sol is not None and not args.quiet and hasattr(sol, "reflected_fraction"):
        print(f"vfp: particles: {sol.reflected_fraction:.3g} reflections per particle-step "
              f"at the walls ({sol.n_reflected} in all)", file=sys.stderr)
    if not result.success:
        return _fail(f"{result.message}; snapshots written so far are in {out}", EXIT_FAILED)
    timing = ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items()
                       if isinstance(v, float))
    if not args.quiet:
        print(f"vfp: wrote {out} ({timing})", file=sys.stderr)
    if args.plots:
        from .plots import plot_run

        for path in plot_run(out, args.plots):
            print(path)
    return EXIT_OK


def _cmd_compare(args):
    from .analysis import recompute_compare

    metrics = tuple(m.strip() for m in args.metrics.split(",")) if args.metrics else None
    done = recompute_compare(args.file, metrics=metrics, emd_subsample=args.subsample,
                             n_projections=args.projections, seed=args.seed)
    for line in done.warnings:
        print(f"vfp: warning: {line}", file=sys.stderr)
    print(f"vfp: recomputed {len(done.keys)} comparison datasets in {args.file} "
          f"(seed {done.settings['seed']})", file=sys.stderr)
    return EXIT_OK


def _cmd_plot(args):
    from .plots import plot_run
    from .sweep import is_sweep_file

    out = args.output or str(Path(args.file).with_suffix("")) + "_plots"
    if is_sweep_file(args.file):
        from .sweep_plots import plot_sweep

        for path in plot_sweep(args.file, out):
            print(path)
        return EXIT_OK
    for path in plot_run(args.file, out):
        print(path)
    return EXIT_OK


def _cmd_info(args):
    from .analysis import describe

    print(describe(args.file))
    return EXIT_OK


def _cmd_sweep(args):
    from .sweep import SweepError

    try:
        from .sweep_cli import cmd_sweep

        return cmd_sweep(args)
    except SweepError as exc:
        return _fail(str(exc))


def _cmd_freeenergy(args):
    from .freeenergy import FreeEnergyError, plot_free_energy

    try:
        print(plot_free_energy(args.files, args.output,
                               entropy_subsample=args.entropy_subsample))
    except FreeEnergyError as exc:
        return _fail(str(exc))
    return EXIT_OK


def main(argv=None) -> int:
    """Entry point of the ``vfp`` console script; returns the exit code."""
    from .config import ConfigError
    from .store import StoreError

    args = _parser().parse_args(argv)
    handler = {"run": _cmd_run, "compare": _cmd_compare, "plot": _cmd_plot,
               "info": _cmd_info, "sweep": _cmd_sweep,
               "freeenergy": _cmd_freeenergy}[args.command]
    try:
        return handler(args)
    except (ConfigError, StoreError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        print("vfp: interrupted; the output file keeps every finished snapshot",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        return _fail(_unexpected(args, exc), _unexpected_code(args))


# h5py raises these for damaged metadata read after the file opened (bad checksums).
_READ_COMMANDS = ("info", "plot", "compare")


def _unexpected_code(args):
    return EXIT_BAD_INPUT if args.command in _READ_COMMANDS else EXIT_FAILED


def _unexpected(args, exc):
    """One line for an error nobody anticipated (the traceback is behind --debug)."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    if args.command in _READ_COMMANDS:
        return f"{args.file}: damaged or unreadable run file ({text}) (--debug for details)"
    return f"{args.command} failed: {text} (--debug for the traceback)"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
