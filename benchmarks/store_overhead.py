"""Cost of closing the run file between writes (crash safety) against keeping it open.

Writes the same snapshots twice: with :class:`vfp.store.RunWriter` (open, append, close
per snapshot) and with one h5py file kept open in SWMR mode and flushed per snapshot
(the previous writer). Prints milliseconds per snapshot for a few sizes.

    python benchmarks/store_overhead.py
"""

import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from vfp.store import RunWriter

KEYS = [f"m{k}" for k in range(30)]  # about as many /compare datasets as a real run


def _spec(nx, nv, n):
    return dict(grid={"x_edges": np.linspace(-1, 1, nx + 1), "v_edges": np.linspace(-1, 1, nv + 1)},
                particles={"n": n, "n_stored": n, "kinetic": True}, compare_keys=KEYS)


def per_write_close(path, nx, nv, n, snaps):
    f = np.random.default_rng(0).random((nx, nv))
    x = np.random.default_rng(1).random(n)
    w = RunWriter(path, "", **_spec(nx, nv, n))
    start = time.perf_counter()
    for k in range(snaps):
        w.write_grid_snapshot(float(k), f, dv=1.0)
        with w.batch():
            w.write_particle_snapshot(float(k), x, x)
            w.write_compare(float(k), {key: 1.0 for key in KEYS})
    elapsed = time.perf_counter() - start
    w.close()
    return elapsed / snaps


def kept_open_swmr(path, nx, nv, n, snaps):
    f = np.random.default_rng(0).random((nx, nv))
    x = np.random.default_rng(1).random(n)
    with h5py.File(path, "w", libver="latest") as h:
        g = h.create_group("grid")
        ds = {"f": g.create_dataset("f", (0, nx, nv), maxshape=(None, nx, nv), chunks=(1, nx, nv), dtype="f8"),
              "rho": g.create_dataset("rho", (0, nx), maxshape=(None, nx), chunks=(1, nx), dtype="f8"),
              "t": g.create_dataset("t", (0,), maxshape=(None,), chunks=(64,), dtype="f8"),
              "x": h.create_dataset("px", (0, n), maxshape=(None, n), chunks=(1, n), dtype="f8"),
              "v": h.create_dataset("pv", (0, n), maxshape=(None, n), chunks=(1, n), dtype="f8"),
              "pt": h.create_dataset("pt", (0,), maxshape=(None,), chunks=(64,), dtype="f8")}
        c = {key: h.create_dataset(f"c_{key}", (0,), maxshape=(None,), chunks=(64,), dtype="f8") for key in KEYS + ["t"]}
        h.swmr_mode = True
        start = time.perf_counter()
        for k in range(snaps):
            for name, val in (("f", f), ("rho", f.sum(1)), ("t", k), ("x", x), ("v", x), ("pt", k)):
                d = ds[name]
                d.resize(d.shape[0] + 1, axis=0)
                d[-1] = val
                d.flush()
            for d in c.values():
                d.resize(d.shape[0] + 1, axis=0)
                d[-1] = 1.0
                d.flush()
            h.flush()
        return (time.perf_counter() - start) / snaps


def main():
    print(f"{'grid':>10} {'particles':>10} {'close per write':>16} {'SWMR kept open':>15}  (ms per snapshot)")
    with tempfile.TemporaryDirectory() as tmp:
        for nx, nv, n in ((64, 64, 10_000), (128, 128, 100_000), (256, 256, 1_000_000)):
            snaps = 40
            a = min(per_write_close(Path(tmp) / f"a{nx}_{r}.h5", nx, nv, n, snaps) for r in range(3))
            b = min(kept_open_swmr(Path(tmp) / f"b{nx}_{r}.h5", nx, nv, n, snaps) for r in range(3))
            print(f"{nx:>4}x{nv:<5} {n:>10} {1e3 * a:>16.2f} {1e3 * b:>15.2f}")


if __name__ == "__main__":
    main()
