"""Which compiled functions the grid part of a run compiles, and how long each takes.

Run in a fresh interpreter on an empty cache, e.g.::

    NUMBA_CACHE_DIR=$(mktemp -d) python benchmarks/compile_profile_grid.py [CONFIG.toml]

Solves the config's grid problem up to a tiny time (which compiles the run's loop) while
Numba's ``numba:compile`` events are recorded, then prints one line per compiled
(function, signature): its inclusive compile CPU seconds (nested compilations included)
and self CPU seconds (nested ones excluded), slowest first, with the totals, the wall time of
the solve and the CPU time (``time.process_time``) it used, of which the part spent in LLVM (``numba:llvm_lock``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv):
    config = argv[0] if argv else str(ROOT / "examples" / "quickstart.toml")
    from numba.core import event

    from vfp.config import load
    from vfp.grids.solver import solve
    from vfp.model import grid_problem

    cfg = load(config)
    problem, initial, _ = grid_problem(cfg.model, cfg.grid, cfg.initial)
    spans = []

    class Listener(event.Listener):
        def __init__(self):
            self.stack = []

        def on_start(self, ev):
            self.stack.append((ev.data["dispatcher"], ev.data["args"], time.process_time(), []))

        def on_end(self, ev):
            disp, args, t0, children = self.stack.pop()
            total = time.process_time() - t0
            child = sum(children)
            if self.stack:
                self.stack[-1][3].append(total)
            spans.append((total, total - child, disp.py_func.__qualname__, str(args)))

    listener = Listener()
    llvm = []

    class LLVMListener(event.Listener):
        def on_start(self, ev):
            self.t0 = time.process_time()

        def on_end(self, ev):
            llvm.append(time.process_time() - self.t0)

    wall0 = time.perf_counter()
    cpu0 = time.process_time()
    with event.install_listener("numba:compile", listener), \
            event.install_listener("numba:llvm_lock", LLVMListener()):
        sol = solve(problem, initial, [1e-9], scheme=cfg.grid.scheme,
                    cfl=cfg.grid.effective_cfl(), dt=cfg.grid.dt)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    spans.sort(reverse=True)
    for total, own, name, args in spans:
        print(f"{total:7.2f} {own:7.2f}  {name}  {args[:150]}")
    print(f"{len(spans)} compilations; self time {sum(s[1] for s in spans):.2f} s; "
          f"solve wall {wall:.2f} s, cpu {cpu:.2f} s; compile_time {sol.compile_time:.2f} s "
          f"(scheme {sol.scheme}); cpu in LLVM {sum(llvm):.2f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
