"""Sweep throughput: (N, seed) tasks per minute, in-process against 2 local processes
against a 2-worker Dask LocalCluster (cold: first use of the workers; warm: the same
cluster again, imports and compiled kernels already loaded).

    python benchmarks/sweep_throughput.py [--n 20000,100000] [--seeds 4]

The grid is solved once per sweep and not counted; the pool / cluster start-up is
counted for the local processes (a new pool per sweep) and for the cold Dask row.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

CONFIG = """
[model]
regime = "overdamped"
temperature = 0.5
potential = { kind = "harmonic", omega = 1.0 }
interaction = { kind = "quadratic", kappa = 1.0 }

[initial]
kind = "gaussian"
mean = 1.0
std = 0.3

[time]
t_end = 1.0
snapshots = [0.0, 0.5, 1.0]

[grid]
x = { min = -5.0, max = 5.0, cells = 256 }
scheme = "muscl"

[particles]
n = 10000
dt = 0.002
seed = 1

[compare]
metrics = ["w2_x", "kl_knn", "tv", "mean", "cov"]
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", default="20000,100000")
    ap.add_argument("--seeds", type=int, default=4)
    args = ap.parse_args()

    from vfp import config as cfgmod
    from vfp.sweep import parse_ns, run_sweep

    ns = parse_ns(args.n)
    tmp = Path(tempfile.mkdtemp(prefix="vfp_sweep_bench_"))
    cfg_path = tmp / "bench.toml"
    cfg_path.write_text(CONFIG)
    cfg = cfgmod.load(cfg_path)
    n_tasks = len(ns) * args.seeds
    rows = []

    def measure(label, **kw):
        res = run_sweep(cfg, ns, args.seeds, tmp / f"{label.split()[0]}.h5", progress=False,
                        n_boot=200, **kw)
        sec = res.timings["tasks"]
        rows.append((label, res.engine, n_tasks, sec, 60.0 * n_tasks / sec))
        return res

    measure("in-process", workers=1)
    measure("processes", workers=2)
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        rows.append(("dask", "not installed (pip install 'vfp[dask]')", n_tasks, float("nan"),
                      float("nan")))
    else:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            measure("dask-cold LocalCluster(2)", client=client)
            measure("dask-warm LocalCluster(2)", client=client)

    print(f"sweep throughput: N = {ns}, {args.seeds} seeds, {n_tasks} tasks; "
          f"overdamped, t_end = 1, dt = 0.002, 3 snapshots, metrics w2_x, kl_knn, tv, mean, cov")
    print(f"{'engine':<28}{'':<16}{'tasks':>6}{'seconds':>10}{'tasks/min':>11}")
    for label, engine, n, sec, rate in rows:
        print(f"{label:<28}{engine:<16}{n:>6}{sec:>10.1f}{rate:>11.1f}")


if __name__ == "__main__":
    main()
