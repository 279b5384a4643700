"""Compile the particle and comparison kernels in a second process while the grid compiles.

Numba compiles in one thread under a global lock, so a first run on an empty cache compiles
its grid kernels, then its particle kernels, then the comparison's, one after the other
(issue 10: about 24 s of compilation for the quickstart, on 2 cores). When the grid
stage misses the on-disk cache, :class:`BackgroundCompile` starts ``python -m
vfp.background`` on the same config: it draws the same N particles, takes **one** time step
with the same scheme, force plan and threads, and compares a small subsample of them with
the grid's initial state (every metric but the exact-OT ``w2_emd``, which has no Numba
kernel), so every particle and comparison kernel the run will use is
compiled and written to the cache by the second process while the first one compiles
and solves the grid. Before its particle stage the run waits for that process, then loads
those kernels from the cache (a fraction of a second).

Nothing of the second process's results is used: it only fills the cache, and if it fails
or is not finished in time the run compiles what it still needs itself, as before. With a
warm cache nothing is started. ``VFP_BACKGROUND_COMPILE=0`` turns it off; it is off on a
single core, with ``NUMBA_DISABLE_JIT`` and for configs that exist only in Python (no TOML
text to hand over).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

__all__ = ["BackgroundCompile", "enabled"]

#: particles compared with the grid in the second process (the kernels' types do not
#: depend on the number of particles; a small sample keeps that comparison short)
COMPARE_SAMPLE = 2000

#: metrics without Numba kernels, skipped in the second process (POT's import and its
#: linear programme would only cost time there)
UNCOMPILED_METRICS = ("w2_emd",)

#: seconds the run waits for the second process before compiling what is left itself
WAIT_LIMIT = 600.0


def enabled(cfg) -> bool:
    """Whether a run of ``cfg`` may compile its particle kernels in a second process."""
    if os.environ.get("VFP_BACKGROUND_COMPILE", "1").strip() in ("0", "", "false", "no"):
        return False
    from numba.core import config as numba_config

    if numba_config.DISABLE_JIT or (os.cpu_count() or 1) < 2:
        return False
    return cfg.grid is not None and cfg.particles is not None and bool(cfg.text)


class BackgroundCompile:
    """Start the second process at the grid stage's first cache miss; wait for it later.

    Use as a context manager around the grid stage::

        background = BackgroundCompile(cfg)
        with background.watch():          # the grid's solve
            ...
        background.wait()                 # before the particle stage
        background.close()                # always (kills a process still running)

    Attributes
    ----------
    started : bool
        A second process was started.
    waited : float
        Seconds :meth:`wait` spent waiting for it.
    returncode : int or None
    """

    def __init__(self, cfg):
        self._cfg = cfg
        self._enabled = enabled(cfg)
        self._process = None
        self.started = False
        self.waited = 0.0
        self.returncode = None

    # -- the trigger: Numba's compile event fires on a real compilation, not a cache load
    def watch(self):
        from contextlib import nullcontext

        if not self._enabled:
            return nullcontext()
        from numba.core import event

        outer = self

        class _FirstMiss(event.Listener):
            def on_start(self, ev):
                if not outer.started and _cached(ev.data.get("dispatcher")):
                    outer._start()

            def on_end(self, ev):
                pass

        return event.install_listener("numba:compile", _FirstMiss())

    def _start(self):
        self.started = True
        payload = json.dumps({"text": self._cfg.text, "source": self._cfg.source})
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "vfp.background"], stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
            self._process.stdin.write(payload)
            self._process.stdin.close()
        except OSError:
            self._process = None

    @property
    def running(self) -> bool:
        """The second process was started and has not finished yet."""
        return self._process is not None and self._process.poll() is None

    def wait(self, limit: float = WAIT_LIMIT) -> None:
        """Wait (at most ``limit`` s) for the second process to fill the cache."""
        if self._process is None:
            return
        start = time.perf_counter()
        try:
            self.returncode = self._process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            self.close()
        self.waited = time.perf_counter() - start

    def close(self) -> None:
        """Stop the second process if it still runs."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()


def _cached(dispatcher) -> bool:
    """Whether ``dispatcher`` keeps its compilations on disk (a compile of it = a miss)."""
    cache = getattr(dispatcher, "_cache", None)
    return cache is not None and type(cache).__name__ != "NullCache"


def _compile(payload: dict) -> None:
    """The second process: one particle step and one small comparison of the config."""
    import dataclasses

    import numpy as np

    from . import config as cfgmod
    from . import pipeline
    from .model import grid_problem

    cfg = cfgmod.loads(payload["text"], source=payload.get("source"))
    times = np.array([0.0, cfg.particles.dt])
    grid_state = []
    if cfg.compares:
        _, initial, _ = grid_problem(cfg.model, cfg.grid, cfg.initial)
        four_d = cfg.dimension > 1 and cfg.model.kinetic
        grid_state.append(np.asarray(initial, dtype=np.float32) if four_d else initial)
    x_edges, v_edges = pipeline.grid_edges(cfg)
    energy = cfg.model.functional
    compare = None
    if cfg.compares:
        metrics = tuple(m for m in cfg.compare.metrics if m not in UNCOMPILED_METRICS)
        compare = dataclasses.replace(cfg.compare, metrics=metrics) if metrics else None

    def on_snapshot(index, t, x, v):
        if index != 0:
            return
        if energy is not None:
            pipeline.particle_risk(energy, x)
        if grid_state and compare is not None:
            m = min(len(x), COMPARE_SAMPLE)
            xs = np.ascontiguousarray(x[:m])
            vs = None if v is None else np.ascontiguousarray(v[:m])
            pipeline.compare_states(xs, vs, x_edges, v_edges, grid_state[0], compare)

    pipeline.simulate_particles(cfg, times=times, on_snapshot=on_snapshot)


if __name__ == "__main__":
    _compile(json.loads(sys.stdin.read()))
