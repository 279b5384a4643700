"""Particle simulator throughput: prints a table.

1. particle-steps/s of the kinetic Euler scheme with the double well V = x⁴/4 − x²/2
   (no interaction) for N = 10⁴ … 10⁷, against a plain NumPy Euler–Maruyama loop
   (in-place operations, one ``standard_normal`` call per step) in the same process;
2. pair-interactions/s of the exact ``pairwise`` force (Gaussian kernel), N = 10³ … 2·10⁴;
3. particle-steps/s of the kinetic Euler scheme with the ``mesh`` interaction, N = 10⁵ … 10⁷;
4. peak resident memory (``resource.getrusage`` maxrss and VmHWM, in a fresh subprocess,
   measured first while the parent is small) of kinetic N = 10⁶, 10⁷ runs (double well;
   Euler without interaction and BAOAB with a mesh Gaussian interaction). Includes the
   caller's x0, v0 (16 B/particle) and the simulator's copies plus workspace.

Targets: ≥ 2× NumPy at N = 10⁶; mesh ≥ 1.5·10⁷ particle-steps/s at N = 10⁶; pairwise
≥ 3·10⁸ pairs/s; kinetic N = 10⁷ under 1.5 GB.

Usage: ``python benchmarks/particle_throughput.py [--quick]`` (``--quick`` stops at 10⁶).
Compile time is excluded (each configuration is warmed up first); every rate is the best
of 3 repeats, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vfp.particles.forces import Polynomial  # noqa: E402
from vfp.particles.interaction import GaussianKernel, interaction_force  # noqa: E402
from vfp.particles import simulate  # noqa: E402

DW = Polynomial([0.0, -1.0, 0.0, 1.0])
DOMAIN = (-6.0, 6.0)
GAMMA, LAM, DT = 1.0, 0.5, 0.01
REPEATS = 3     # best of 3: the machine may be shared


def _steps_for(n, work):
    return max(2, int(work // n))


def numpy_euler(x, v, n_steps, seed=0):
    """Plain NumPy kinetic Euler–Maruyama with reflection (reference speed)."""
    rng = np.random.default_rng(seed)
    z = np.empty_like(x)
    g = np.empty_like(x)
    sig = np.sqrt(2 * GAMMA * LAM * DT)
    lo, hi = DOMAIN
    for _ in range(n_steps):
        np.multiply(x, x, out=g)
        g -= 1.0
        g *= x                                   # V'(x) = x³ − x
        rng.standard_normal(out=z)
        x += DT * v
        v *= 1.0 - GAMMA * DT
        v -= DT * g
        z *= sig
        v += z
        out = (x < lo) | (x > hi)
        if out.any():
            x[out] = np.where(x[out] > hi, 2 * hi - x[out], 2 * lo - x[out])
            v[out] = -v[out]
    return x, v


def bench_external(n, work):
    rng = np.random.default_rng(1)
    x0 = rng.normal(0, 1, n)
    v0 = rng.normal(0, 1, n)
    steps = _steps_for(n, work)
    kw = dict(grad_potential=DW, gamma=GAMMA, temperature=LAM, dt=DT, domain=DOMAIN, seed=1)
    simulate(x0[:1000], v0[:1000], snapshots=[2 * DT], **kw)        # warm-up
    best = min(simulate(x0, v0, snapshots=[steps * DT], **kw).solve_time
               for _ in range(REPEATS))
    ours = n * steps / best
    numpy_euler(x0[:1000].copy(), v0[:1000].copy(), 2)
    best = np.inf
    for _ in range(REPEATS):
        x, v = x0.copy(), v0.copy()
        t = time.perf_counter()
        numpy_euler(x, v, steps)
        best = min(best, time.perf_counter() - t)
    return ours, n * steps / best


def bench_pairwise(n, reps):
    x = np.random.default_rng(2).normal(0, 1, n)
    spec = GaussianKernel(1.0, 0.3)
    interaction_force(x[:100], spec, "pairwise")
    best = np.inf
    for _ in range(REPEATS):
        t = time.perf_counter()
        for _ in range(reps):
            interaction_force(x, spec, "pairwise")
        best = min(best, time.perf_counter() - t)
    return n * n * reps / best


def bench_mesh(n, work):
    rng = np.random.default_rng(3)
    x0 = rng.normal(0, 1, n)
    v0 = rng.normal(0, 1, n)
    steps = _steps_for(n, work)
    kw = dict(grad_potential=DW, interaction=GaussianKernel(1.0, 0.3), gamma=GAMMA,
              temperature=LAM, dt=DT, domain=DOMAIN, seed=1, interaction_method="mesh")
    sol = simulate(x0[:1000], v0[:1000], snapshots=[2 * DT], **kw)
    best = min(simulate(x0, v0, snapshots=[steps * DT], **kw).solve_time
               for _ in range(REPEATS))
    return n * steps / best, sol.mesh_cells


_MEM_CHILD = r"""
import resource, sys, numpy as np
sys.path.insert(0, {root!r})
from vfp.particles.forces import Polynomial
from vfp.particles.interaction import GaussianKernel
from vfp.particles import simulate
n = {n}
rng = np.random.default_rng(0)
x0 = rng.normal(0, 1, n); v0 = rng.normal(0, 1, n)
sol = simulate(x0, v0, grad_potential=Polynomial([0., -1., 0., 1.]),
               interaction={inter}, gamma=1.0, temperature=0.5, dt=0.01,
               snapshots=[0.02, 0.04], domain=(-6., 6.), seed=1, scheme={scheme!r},
               interaction_method="mesh")
assert sol.success
hwm = float("nan")
try:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                hwm = float(line.split()[1]) / 1024.0
except OSError:
    pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, hwm)
"""


def bench_memory(n, inter, scheme):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = _MEM_CHILD.format(root=root, n=n, inter=inter, scheme=scheme)
    # run twice: the first child may compile (and fill Numba's disk cache), which peaks
    # far above the run itself; the second child loads the cache and measures the run
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)
    maxrss, hwm = map(float, out.stdout.split()[-2:])
    return maxrss, hwm


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="stop at N = 10^6")
    args = p.parse_args(argv)
    import numba
    big = [] if args.quick else [10**7]
    print(f"numba {numba.__version__}, threads {numba.get_num_threads()}, "
          f"cpus {os.cpu_count()}, kinetic Euler, dt = {DT}, load average "
          f"{os.getloadavg()[0]:.2f}")
    print()
    # memory first, while this process is still small: Linux carries ru_maxrss across
    # fork + exec, so a child forked from a large parent reports the parent's size.
    # VmHWM (/proc/self/status) is the child's own peak and is immune to that.
    print("4. peak memory of a kinetic run (2 steps of 0.01 + 2), fresh subprocess")
    print(f"{'N':>10} {'scheme':>6} {'interaction':<26} {'maxrss':>9} {'VmHWM':>9}")
    for n in [10**6] + big:
        for inter, scheme in [("None", "euler"), ("GaussianKernel(1.0, 0.3)", "baoab")]:
            mb, hwm = bench_memory(n, inter, scheme)
            print(f"{n:>10} {scheme:>6} {inter:<26} {mb:>6.0f} MB {hwm:>6.0f} MB", flush=True)
    print()
    print("1. external potential (double well), particle-steps/s")
    print(f"{'N':>10} {'particles':>12} {'numpy loop':>12} {'speed-up':>9}")
    for n in [10**4, 10**5, 10**6] + big:
        ours, ref = bench_external(n, 5e7 if n >= 10**6 else 2e7)
        print(f"{n:>10} {ours:>12.3e} {ref:>12.3e} {ours / ref:>8.2f}x", flush=True)
    print()
    print("2. pairwise Gaussian kernel, pair-interactions/s")
    print(f"{'N':>10} {'pairs/s':>12}")
    for n in [1000, 2000, 5000, 10000, 20000]:
        print(f"{n:>10} {bench_pairwise(n, max(1, int(2e9 // (n * n)))):>12.3e}", flush=True)
    print()
    print("3. mesh Gaussian kernel (width 0.3) + double well, particle-steps/s")
    print(f"{'N':>10} {'cells':>7} {'particles':>12}")
    for n in [10**5, 10**6] + big:
        rate, cells = bench_mesh(n, 5e7 if n >= 10**6 else 2e7)
        print(f"{n:>10} {cells:>7} {rate:>12.3e}", flush=True)


if __name__ == "__main__":
    main()
