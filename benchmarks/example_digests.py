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

``--keep DIR`` keeps the HDF5 files in DIR; ``--diff DIR_A DIR_B`` compares two such
folders instead of running anything: per example, the largest relative difference
``max|a − b| / max|a|`` over each group's snapshot datasets (for changes that are meant to
move results at round-off level only, such as another FFT)::

    python benchmarks/example_digests.py --keep /tmp/before > before.txt
    # ... change the code ...
    python benchmarks/example_digests.py --keep /tmp/after > after.txt
    python benchmarks/example_digests.py --diff /tmp/before /tmp/after
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
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


def relative_differences(path_a, path_b):
    """``{dataset name: max|a − b| / max|a|}`` over the float datasets of two HDF5 files
    of the same layout (0/0 counts as 0)."""
    out = {}
    with h5py.File(path_a, "r") as fa, h5py.File(path_b, "r") as fb:
        def visit(name, obj):
            if not isinstance(obj, h5py.Dataset) or any(s in name for s in SKIP):
                return
            if obj.dtype.kind != "f":
                return
            a = np.asarray(obj[()], dtype=np.float64)
            b = np.asarray(fb[name][()], dtype=np.float64)
            if a.dtype.kind != "f" or a.size == 0:
                return
            scale = np.nanmax(np.abs(a))
            diff = np.nanmax(np.abs(a - b))
            out[name] = 0.0 if diff == 0.0 else diff / scale
        fa.visititems(visit)
    return out


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", type=Path)
    parser.add_argument("--keep", type=Path, help="keep the HDF5 files in this folder")
    parser.add_argument("--diff", nargs=2, type=Path, metavar=("DIR_A", "DIR_B"),
                        help="compare two --keep folders instead of running")
    args = parser.parse_args(argv)
    if args.diff:
        for path_a in sorted(args.diff[0].glob("*.h5")):
            path_b = args.diff[1] / path_a.name
            if not path_b.exists():
                print(f"{path_a.name}: missing in {args.diff[1]}")
                continue
            rel = relative_differences(path_a, path_b)
            parts = []
            for group in ("grid", "particles", "compare"):
                sub = {k: v for k, v in rel.items() if k.startswith(group + "/")}
                if sub:
                    worst = max(sub, key=sub.get)
                    parts.append(f"{group} {sub[worst]:.2e} ({worst})")
            print(f"{path_a.name}: largest relative difference per group: " + "; ".join(parts))
        return
    configs = args.configs or sorted((ROOT / "examples").glob("*.toml"))
    configs = [c for c in configs if "sweep" not in c.name]
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
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
            if args.keep:
                shutil.copy(out, args.keep / out.name)


if __name__ == "__main__":
    main(sys.argv[1:])
