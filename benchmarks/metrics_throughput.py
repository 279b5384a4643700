"""Throughput of validation.metrics on the sizes the study needs; prints a table.

Targets (2 cores): exact 1-D W2 at N = 10^7 ≤ 3 s; sliced W2 with 200 projections at
N = 10^6 on a 256 × 256 grid ≤ 15 s, memory < 1 GB. Peak memory is the process RSS
high-water mark increase measured around the call (ru_maxrss, so only increases show);
NumPy allocations are also traced with tracemalloc.

Usage: python benchmarks/metrics_throughput.py [--quick]
"""

from __future__ import annotations

import resource
import sys
import time
import tracemalloc

import numpy as np
from scipy.stats import norm

from vfp.validation import metrics as M


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _gauss_grid(n_cells, lo=-6.0, hi=6.0):
    e = np.linspace(lo, hi, n_cells + 1)
    d = np.diff(norm.cdf(e)) / np.diff(e)
    return e, d


def timed(fn, *args, **kw):
    tracemalloc.start()
    r0 = _rss_mb()
    t = time.perf_counter()
    out = fn(*args, **kw)
    dt = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return out, dt, max(peak / 2**20, _rss_mb() - r0)


def main(quick=False):
    rng = np.random.default_rng(1)
    rows = []
    ex, dx = _gauss_grid(256)
    f2 = np.outer(dx, dx)

    # warm-up: JIT compile (cached on disk after the first run)
    M.w2_1d_grid(rng.normal(size=100), ex, dx)
    M.sliced_w2(rng.normal(size=100), rng.normal(size=100), ex, ex, f2, n_projections=2)

    n1 = 10**6 if quick else 10**7
    x = rng.normal(size=n1)
    val, dt, mem = timed(M.w2_1d_grid, x, ex, dx)
    rows.append((f"w2_1d_grid  N={n1:.0e}, 256 cells", dt, mem, 3.0, f"W2={val:.3e}"))

    n2 = 10**5 if quick else 10**6
    x, v = rng.normal(size=n2), rng.normal(size=n2)
    val, dt, mem = timed(M.sliced_w2, x, v, ex, ex, f2, n_projections=200, seed=0)
    rows.append((f"sliced_w2   N={n2:.0e}, 200 proj, 256x256", dt, mem, 15.0,
                 f"SW2={val:.3e}"))

    ex64, d64 = _gauss_grid(64)
    f64 = np.outer(d64, d64)
    logq = M.grid_log_density(ex64, ex64, f64)
    for nk in ([10**5] if quick else [10**5, 10**6]):
        x, v = M.sample_grid(ex64, ex64, f64, nk, rng)
        val, dt, mem = timed(M.kl_knn, np.column_stack([x, v]), logq)
        rows.append((f"kl_knn      N={nk:.0e}, d=2", dt, mem, None, f"KL={val:+.2e}"))

    x, v = rng.normal(size=10**5), rng.normal(size=10**5)
    r, dt, mem = timed(M.w2_emd, x, v, ex64, ex64, f64, subsample=1000)
    rows.append((f"w2_emd      1000 vs {r.n_atoms} cells", dt, mem, None,
                 f"W2={r.value:.3e}"))

    print(f"{'case':44s} {'time [s]':>9s} {'peak MB':>9s} {'target':>8s}  result")
    print("-" * 92)
    for name, dt, mem, target, res in rows:
        tgt = "" if target is None else (f"{target:.0f} s " + ("ok" if dt <= target else "MISS"))
        print(f"{name:44s} {dt:9.2f} {mem:9.0f} {tgt:>8s}  {res}")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
