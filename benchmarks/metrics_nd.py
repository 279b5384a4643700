"""Seconds per snapshot of the d = 2 kinetic comparison (validation.metrics_nd); prints a table.

The grid is 32⁴ cells (x1, x2, v1, v2 on [-7, 7]), holding the exact cell averages of a
product Gaussian; the particles are drawn from a correlated Gaussian close to it. For
N = 10⁵ and 10⁶ the table gives the time of each metric on the particles (the noise floor
repeats the same work on an i.i.d. sample, so a full snapshot with floors costs about
twice the sum) and the time of one whole ``compare_snapshot_nd`` call with the defaults
(every metric, 200 sliced directions, exact OT of 1000 particles against ≤ 4096 atoms,
noise floors). Peak memory: the RSS high-water mark increase (ru_maxrss).

Usage: python benchmarks/metrics_nd.py [--quick]   (--quick: N = 10⁵ only)
"""

from __future__ import annotations

import resource
import sys
import time

import numpy as np
from scipy.stats import norm

from vfp.validation import metrics_nd as N


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed(fn, *args, **kw):
    r0 = _rss_mb()
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t, _rss_mb() - r0


def main(quick=False):
    rng = np.random.default_rng(1)
    edges = [np.linspace(-7.0, 7.0, 33)] * 4
    sd = np.array([1.0, 0.8, 1.2, 0.9])
    f = np.ones(())
    for e, s in zip(edges, sd):
        f = np.multiply.outer(f, np.diff(norm.cdf(e, 0.0, s)) / np.diff(e))
    cov = np.diag(sd ** 2) + 0.05
    # warm-up: JIT compilation (cached on disk after the first run)
    z = rng.multivariate_normal(np.zeros(4), cov, size=200)
    N.compare_snapshot_nd(z[:, :2], z[:, 2:], edges[:2], edges[2:], f, n_projections=2,
                          emd_subsample=20)
    print("d = 2 kinetic comparison, grid 32^4 = 1,048,576 cells, machine: "
          f"{len(__import__('os').sched_getaffinity(0))} cores (shared: figures are noisy)")
    print(f"{'N':>9} {'metric':<44} {'seconds':>8} {'ΔRSS MB':>8}  value")
    for n in ((10**5,) if quick else (10**5, 10**6)):
        z = rng.multivariate_normal(np.zeros(4), cov, size=n)
        x, v = np.ascontiguousarray(z[:, :2]), np.ascontiguousarray(z[:, 2:])
        parts = [
            ("per-axis W2 (4 marginals)", N.w2_axes, (z, edges, f), {}),
            ("sliced W2, 200 directions", N.sliced_w2_nd, (z, edges, f), {}),
            ("exact OT, 1000 particles vs <= 4096 atoms", N.w2_emd_nd, (z, edges, f), {}),
            ("k-NN KL (D = 4)", N.kl_knn_nd, (z, edges, f), {}),
            ("binned KL + TV (x-marginal)", lambda: (N.kl_binned_nd(x, edges[:2],
                                                                    f.sum(axis=(2, 3))),
                                                     N.tv_binned_nd(x, edges[:2],
                                                                    f.sum(axis=(2, 3)))),
             (), {}),
            ("moments (particles + grid)", lambda: (N.moments_particles_nd(z),
                                                    N.moments_grid_nd(edges, f)), (), {}),
        ]
        for label, fn, args, kw in parts:
            out, dt, mem = _timed(fn, *args, **kw)
            shown = out if isinstance(out, float) else getattr(out, "value", "")
            if isinstance(shown, np.ndarray):
                shown = np.array2string(shown, precision=4)
            elif isinstance(shown, float):
                shown = f"{shown:.4g}"
            print(f"{n:>9,} {label:<44} {dt:8.2f} {mem:8.0f}  {shown}")
        out, dt, mem = _timed(N.compare_snapshot_nd, x, v, edges[:2], edges[2:], f)
        print(f"{n:>9,} {'whole snapshot, every metric + noise floors':<44} {dt:8.2f} "
              f"{mem:8.0f}  sw2={out['sw2']:.4g} (floor {out['sw2_floor']:.4g}), "
              f"kl={out['kl']:.4g} (floor {out['kl_floor']:.4g})")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:])
