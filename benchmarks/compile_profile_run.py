"""Every Numba compilation of a whole ``vfp run`` (grid, particles, comparison), with its CPU.

Run in a fresh interpreter on an empty cache::

    NUMBA_CACHE_DIR=$(mktemp -d) python benchmarks/compile_profile_run.py [CONFIG.toml]

Runs ``vfp run CONFIG`` (default ``examples/quickstart.toml``) in this process while Numba's
``numba:compile`` events are recorded, then prints the stored stage timings and one line per
compiled (function, signature): inclusive CPU seconds (nested compilations included), self
CPU seconds, nesting depth, module-qualified name, argument types; then the number of
compilations, their total CPU and the part spent in LLVM. CPU seconds are the figure to
compare on a shared machine (wall times there are inflated by the other processes).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import h5py
from numba.core import event

ROOT = Path(__file__).resolve().parent.parent


def main(argv):
    config = argv[0] if argv else str(ROOT / "examples" / "quickstart.toml")
    spans = []
    llvm = []

    class Compiles(event.Listener):
        def __init__(self):
            self.stack = []

        def on_start(self, ev):
            self.stack.append((ev.data["dispatcher"], ev.data["args"], time.process_time(), []))

        def on_end(self, ev):
            disp, args, t0, children = self.stack.pop()
            total = time.process_time() - t0
            if self.stack:
                self.stack[-1][3].append(total)
            name = f"{disp.py_func.__module__}.{disp.py_func.__qualname__}"
            spans.append((total, total - sum(children), len(self.stack), name, str(args)))

    class LLVM(event.Listener):
        def on_start(self, ev):
            self.t0 = time.process_time()

        def on_end(self, ev):
            llvm.append(time.process_time() - self.t0)

    from vfp.cli import main as cli

    wall0 = time.perf_counter()
    cpu0 = time.process_time()
    with tempfile.TemporaryDirectory() as tmp, \
            event.install_listener("numba:compile", Compiles()), \
            event.install_listener("numba:llvm_lock", LLVM()):
        out = Path(tmp) / "run.h5"
        try:
            cli(["run", config, "-o", str(out), "--quiet"])
        except SystemExit as exc:
            if exc.code:
                raise
        with h5py.File(out, "r") as f:
            timings = json.loads(f.attrs["timings"])
    print("stage timings (wall):", ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
    for total, own, depth, name, args in sorted(spans, reverse=True):
        print(f"{total:7.2f} {own:7.2f} d{depth} {name}  {args[:100]}")
    print(f"{len(spans)} compilations, {sum(s[1] for s in spans):.2f} s CPU "
          f"({sum(llvm):.2f} s in LLVM); whole run wall {time.perf_counter() - wall0:.1f} s, "
          f"cpu {time.process_time() - cpu0:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
