"""First-run (cold) and second-run (warm) cost of the quickstart's comparison.

The quickstart (``examples/quickstart.toml``) compares N = 10^5 kinetic particles with a
128 × 128 grid density using every metric (w2_x, w2_v, sw2 with 100 projections, w2_emd
on a 500-particle subsample, kl_knn, kl_binned, tv, mean, cov) and their noise floors.
This script times, in fresh interpreters,

* **cold**: an empty Numba cache (``NUMBA_CACHE_DIR`` pointed at a new temporary folder),
  so every kernel the comparison uses is compiled;
* **warm**: a second interpreter on the same cache, so kernels are loaded from disk.

For each it prints the import time of ``vfp.validation.metrics``, Numba's start-up (a
trivial kernel: paid once per process by whatever compiles first, in a real run the grid
solver), the import of POT (``ot``, needed by w2_emd; it imports ``scipy.stats``, a cost
of every process, cold or warm), the **compile/load overhead** of the comparison (a first
``compare_snapshot`` on a tiny problem with the same argument types: compilation or cache
loading, next to no computation), and then the quickstart-sized comparison itself (computation
only, one snapshot with its noise floors).
Targets (issue 10): cold overhead ≤ 4 s, warm overhead well under 1 s. CPU contention
inflates every figure: quote the machine's load with them.

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
from numba import njit
from scipy.special import ndtr
from vfp.validation.metrics import compare_snapshot
t_import = time.perf_counter() - t0
# Numba's own start-up (LLVM, first dispatcher): paid once per process by whichever stage
# compiles first (the grid solver in a real run), so it is timed apart.
t = time.perf_counter()
njit(lambda a: a + 1.0)(1.0)
t_numba = time.perf_counter() - t
# POT (exact OT for w2_emd) imports scipy.stats: a per-process cost, cold or warm.
t = time.perf_counter()
import ot
t_pot = time.perf_counter() - t

def cells(e, m, s):
    return np.diff(ndtr((e - m) / s)) / np.diff(e)

# A tiny comparison first: it compiles (or loads) the same kernel specialisations and
# imports POT, with next to no computation, so its time is the one-off overhead.
et = np.linspace(-3.0, 3.0, 9)
rng = np.random.default_rng(1)
t = time.perf_counter()
compare_snapshot(rng.normal(0, 1, 200), rng.normal(0, 1, 200), et, et,
                 np.outer(cells(et, 0, 1), cells(et, 0, 1)), seed=1, n_projections=4,
                 emd_subsample=50)
first = time.perf_counter() - t
ex = np.linspace(-6.0, 6.0, 129)
ev = np.linspace(-6.0, 6.0, 129)
f = np.outer(cells(ex, 0.4, 0.8), cells(ev, -0.1, 0.7))
x, v = rng.normal(0.4, 0.8, 10**5), rng.normal(-0.1, 0.7, 10**5)
t = time.perf_counter()
compare_snapshot(x, v, ex, ev, f, seed=1, n_projections=100, emd_subsample=500)
second = time.perf_counter() - t
print(json.dumps(dict(import_s=t_import, numba_s=t_numba, pot_s=t_pot, first_s=first,
                      second_s=second)))
"""


def _child(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(repeat=1):
    print(f"{'run':6s} {'import [s]':>10s} {'numba [s]':>10s} {'import ot [s]':>13s} "
          f"{'overhead [s]':>12s} {'quickstart compare [s]':>22s}")
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="vfp-numba-") as cache:
            for label in ("cold", "warm"):
                r = _child(cache)
                print(f"{label:6s} {r['import_s']:10.2f} {r['numba_s']:10.2f} "
                      f"{r['pot_s']:13.2f} {r['first_s']:12.2f} {r['second_s']:22.2f}")


if __name__ == "__main__":
    k = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 1
    main(k)
