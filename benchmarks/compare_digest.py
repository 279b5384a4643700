"""Every value of ``validation.metrics.compare_snapshot`` on fixed inputs, to show that a
change to the metrics left their numbers bit-identical.

Prints one line per (case, key) with the value's exact ``repr``. Run it before and after a
change and ``diff`` the two outputs::

    python benchmarks/compare_digest.py > before.txt
    # ... change the code ...
    python benchmarks/compare_digest.py > after.txt
    diff before.txt after.txt && echo bit-identical

Cases: a kinetic 64 × 48 grid (every metric, non-zero seed), an overdamped 1-D grid (every
metric), a kinetic subset of metrics, and a run without noise floors.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from vfp.validation.metrics import compare_snapshot


def _gauss_cells(edges, mean, std):
    return np.diff(norm.cdf(edges, mean, std)) / np.diff(edges)


def cases():
    """``(name, args, kwargs)`` of every case."""
    ex = np.linspace(-5.0, 5.0, 65)
    ev = np.linspace(-4.0, 4.0, 49)
    f = np.outer(_gauss_cells(ex, 0.3, 1.1), _gauss_cells(ev, -0.2, 0.9))
    f[:5, :] = 0.0                      # empty cells: exercised by every estimator
    rng = np.random.default_rng(42)
    n = 3000
    x = rng.normal(0.35, 1.05, n)
    v = rng.normal(-0.2, 0.95, n)
    x = np.clip(x, -2.9, 4.9)           # inside the positive-mass cells
    v = np.clip(v, -3.9, 3.9)
    rho = _gauss_cells(ex, 0.1, 1.3)
    x1 = np.clip(rng.normal(0.0, 1.2, 2500), -4.9, 4.9)
    kin = dict(n_projections=20, emd_subsample=200)
    return [
        ("kinetic_all", (x, v, ex, ev, f), dict(seed=5, **kin)),
        ("overdamped_all", (x1, None, ex, None, rho), dict(seed=3, **kin)),
        ("kinetic_subset", (x, v, ex, ev, f), dict(metrics=("mean", "kl_knn", "w2_v"), seed=7,
                                                    **kin)),
        ("kinetic_no_floor", (x, v, ex, ev, f), dict(seed=1005, noise_floor=False, **kin)),
    ]


def main():
    for name, args, kwargs in cases():
        out = compare_snapshot(*args, **kwargs)
        for key, val in out.items():
            print(f"{name:18s} {key:22s} {val!r}")


if __name__ == "__main__":
    main()
