"""Digests of every example's results, to show that a refactoring changed no number.

Runs each ``examples/*.toml`` (or the configs given) with ``vfp run`` into a scratch
folder and prints one SHA-256 per stored dataset (grid snapshots, particle snapshots,
comparison values, grid diagnostics). Run it before and after a change and ``diff`` the
two outputs::

    python benchmarks/example_digests.py > before.txt
    # ... change the code ...
    python benchmarks/example_digests.py > after.txt
    diff before.txt after.txt && echo bit-identical

Timings and attributes that hold dates or versions are left out on purpose.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SKIP = ("timings",)


def digests(path):
    """``{dataset name: sha256 hex}`` over every numeric dataset of an HDF5 file."""
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and not any(s in name for s in SKIP):
            data = obj[()]
            if isinstance(data, np.ndarray) and data.dtype.kind in "fiub":
                out[name] = hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()[:16]

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


def main(argv):
    configs = [Path(a) for a in argv] or sorted((ROOT / "examples").glob("*.toml"))
    configs = [c for c in configs if "sweep" not in c.name]
    with tempfile.TemporaryDirectory() as tmp:
        for cfg in configs:
            out = Path(tmp) / (cfg.stem + ".h5")
            done = subprocess.run([sys.executable, "-m", "vfp", "run", str(cfg), "-o", str(out),
                                   "--quiet"], capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{cfg.name}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
                continue
            for name, digest in sorted(digests(out).items()):
                print(f"{cfg.name} {name} {digest}")
            sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
