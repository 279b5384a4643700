"""First-run (cold) and second-run (warm) cost of the quickstart's comparison.

The quickstart (``examples/quickstart.toml``) compares N = 10^5 kinetic particles with a
128 × 128 grid density using every metric (w2_x, w2_v, sw2 with 100 projections, w2_emd
on a 500-particle subsample, kl_knn, kl_binned, tv, mean, cov) and their noise floors.
This script times, in fresh interpreters,

* **cold**: an empty Numba cache (``NUMBA_CACHE_DIR`` pointed at a new temporary folder),
  so every kernel the comparison uses is compiled;
* **warm**: a second interpreter on the same cache, so kernels are loaded from disk.

For each it prints the import time of ``vfp.validation.metrics``, the first
``compare_snapshot`` call (compilation or cache loading + computation), a second call in
the same interpreter (computation only), and their difference, the **compile/load
overhead**. Targets (issue 10): cold overhead ≤ 4 s, warm overhead well under 1 s.

Usage: python benchmarks/compare_compile.py [--repeat K]   (K cold/warm pairs, default 1)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, time
t0 = time.perf_counter()
import numpy as np
from scipy.stats import norm
from vfp.validation.metrics import compare_snapshot
t_import = time.perf_counter() - t0

def cells(e, m, s):
    return np.diff(norm.cdf(e, m, s)) / np.diff(e)

ex = np.linspace(-6.0, 6.0, 129)
ev = np.linspace(-6.0, 6.0, 129)
f = np.outer(cells(ex, 0.4, 0.8), cells(ev, -0.1, 0.7))
rng = np.random.default_rng(1)
x, v = rng.normal(0.4, 0.8, 10**5), rng.normal(-0.1, 0.7, 10**5)
kw = dict(seed=1, n_projections=100, emd_subsample=500)
t = time.perf_counter()
compare_snapshot(x, v, ex, ev, f, **kw)
first = time.perf_counter() - t
t = time.perf_counter()
compare_snapshot(x, v, ex, ev, f, **kw)
second = time.perf_counter() - t
print(json.dumps(dict(import_s=t_import, first_s=first, second_s=second)))
"""


def _child(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(repeat=1):
    print(f"{'run':6s} {'import [s]':>10s} {'1st call [s]':>12s} {'2nd call [s]':>12s} "
          f"{'overhead [s]':>12s}")
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="vfp-numba-") as cache:
            for label in ("cold", "warm"):
                r = _child(cache)
                print(f"{label:6s} {r['import_s']:10.2f} {r['first_s']:12.2f} "
                      f"{r['second_s']:12.2f} {r['first_s'] - r['second_s']:12.2f}")


if __name__ == "__main__":
    k = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 1
    main(k)
