"""Cost of the initial cell averages of a 2x2v grid (64⁴ = 1.7·10⁷ cells).

Three Gaussian laws on x1, x2, v1, v2 ∈ [−4, 4]⁴:

* diagonal covariance: exact products of erf differences;
* block covariance (x1–x2 correlated, velocities independent): a 2-D coupled block
  (Gauss–Legendre in x1, exact in x2) times exact 1-D factors;
* fully coupled 4-D covariance: Gauss–Legendre in x1, x2, v1 (order chosen for an L1
  error ≤ 1e-7), exact in v2, by the compiled kernel of vfp/gaussian_cells.py.

The first coupled call includes Numba's compilation (or cache load): the script warms it
on a tiny grid first and reports that separately. Prints the best of ``--repeat`` runs
(default 2) and the peak RSS. Run on a quiet machine: CPU contention inflates every figure.

Usage: python benchmarks/initial_cells_nd.py [--cells 64] [--repeat 2]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from vfp.initial import _auto_order, gaussian


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    n = args.cells
    edges = [np.linspace(-4.0, 4.0, n + 1)] * 4
    mean = np.array([0.8, -0.4, 0.0, 0.0])
    block = np.diag([0.09, 0.09, 0.16, 0.16])
    block[0, 1] = block[1, 0] = 0.04
    full = np.array([[0.09, 0.03, 0.02, 0.00], [0.03, 0.16, 0.00, 0.01],
                     [0.02, 0.00, 0.25, 0.05], [0.00, 0.01, 0.05, 0.20]])
    laws = {
        "diagonal": gaussian(mean, std=[0.3, 0.3, 0.4, 0.4]),
        "block (x1-x2)": gaussian(mean, cov=block),
        "fully coupled": gaussian(mean, cov=full),
    }
    start = time.perf_counter()
    laws["fully coupled"].cell_averages([np.linspace(-1, 1, 5)] * 4)
    print(f"compile/load of the coupled kernel (tiny grid): {time.perf_counter() - start:.2f} s")
    print(f"grid {n}^4 = {n**4:.3g} cells on [-4, 4]^4; best of {args.repeat}")
    for name, law in laws.items():
        seconds, (avg, outside) = best_of(lambda law=law: law.cell_averages(edges), args.repeat)
        order = "" if law.covs is None or name.startswith("block") else \
            f", Gauss-Legendre order {_auto_order(edges, law.covs[0], 1e-7)}"
        print(f"  {name:15s} {seconds:7.2f} s   {n**4 / seconds / 1e6:7.2f} M cells/s   "
              f"outside mass {outside:.1e}{order}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS {peak:.2f} GiB")


if __name__ == "__main__":
    main()
