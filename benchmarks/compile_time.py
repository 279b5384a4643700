"""First-run compilation and second-run loading of a whole ``vfp run``.

Runs ``vfp run CONFIG`` (default ``examples/quickstart.toml``) twice in fresh processes
that share one empty Numba cache directory: the first run compiles every kernel it uses
and writes the cache, the second loads them. Prints, for each run, the wall time of the
process, its CPU time (all threads) and the stage timings the run stored (compile/load and solve times of the grid and
the particles, comparison time), and the difference of the two wall times: the one-off cost
of the first run.

    python benchmarks/compile_time.py [CONFIG] [--repeat K] [--no-background]

By default the particle and comparison kernels are compiled in a second process while
the grid compiles (vfp.background); ``--no-background`` (``VFP_BACKGROUND_COMPILE=0``)
compiles everything in the run's own process, one after the other. The wall overhead is
what a user waits; the CPU overhead is the compilation work itself.

Targets (issue 10): first run of the quickstart ≤ 15 s of compilation in total, the
second run loads its kernels in ≤ 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py

ROOT = Path(__file__).resolve().parent.parent


def _children_cpu():
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def one_run(config, out, cache_dir, background=True):
    """(wall s, CPU s of the process and its threads, stored stage timings) of one run."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir),
               VFP_BACKGROUND_COMPILE="1" if background else "0")
    cpu0 = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "vfp", "run", str(config), "-o", str(out),
                           "--quiet"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    cpu = _children_cpu() - cpu0
    if done.returncode != 0:
        raise SystemExit(f"vfp run failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    with h5py.File(out, "r") as f:
        timings = json.loads(f.attrs["timings"])
    return wall, cpu, timings


def import_time(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    code = ("import time; t = time.perf_counter(); import vfp.runner, vfp.pipeline; "
            "print(time.perf_counter() - t)")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True)
    return float(done.stdout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(ROOT / "examples" / "quickstart.toml"))
    parser.add_argument("--repeat", type=int, default=1, help="cold/warm pairs to run")
    parser.add_argument("--no-background", action="store_true",
                        help="compile everything in the run's process (no second process)")
    args = parser.parse_args(argv)
    keys = ("grid_compile", "grid_solve", "background_compile_wait", "particles_compile",
            "particles_solve", "compare")
    background = not args.no_background
    print(f"config: {args.config}; particle and comparison kernels compiled "
          f"{'in a second process during the grid stage' if background else 'in turn'}")
    for rep in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            cache = Path(tmp) / "numba_cache"
            cache.mkdir()
            cold, cpu_cold, t_cold = one_run(args.config, Path(tmp) / "a.h5", cache, background)
            warm, cpu_warm, t_warm = one_run(args.config, Path(tmp) / "b.h5", cache, background)
            imp = import_time(cache)
        for label, wall, cpu, t in (("first run (empty cache)", cold, cpu_cold, t_cold),
                                    ("second run (cache warm)", warm, cpu_warm, t_warm)):
            parts = ", ".join(f"{k} {t[k]:.2f} s" for k in keys if k in t)
            print(f"{label:<25} wall {wall:6.2f} s, cpu {cpu:6.2f} s: {parts}")
        print(f"first-run overhead (first − second): wall {cold - warm:.2f} s, "
              f"cpu {cpu_cold - cpu_warm:.2f} s; "
              f"kernels loaded in the second run: grid {t_warm.get('grid_compile', 0):.2f} s + "
              f"particles {t_warm.get('particles_compile', 0):.2f} s; "
              f"import of vfp.runner {imp:.2f} s")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
