"""The particle and comparison kernels compiled in a second process during the grid stage
(vfp.background): when it starts, what it runs, and that a run is the same with it."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from test_workflow import small_config
from vfp import background
from vfp import config as cfgmod

ROOT = Path(__file__).resolve().parents[1]

def _config_file(tmp_path, regime="kinetic"):
    """A small config of both stages (grid 24 cells per axis, 400 particles, t = 0.2)."""
    return small_config(tmp_path, regime=regime, cells=24, n=400, t_end=0.2,
                        snapshots="[0.0, 0.2]")


def test_enabled_only_where_a_second_process_can_help(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.delenv("VFP_BACKGROUND_COMPILE", raising=False)
    cfg = cfgmod.load(_config_file(tmp_path))
    assert background.enabled(cfg)
    monkeypatch.setenv("VFP_BACKGROUND_COMPILE", "0")
    assert not background.enabled(cfg)
    monkeypatch.delenv("VFP_BACKGROUND_COMPILE")
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert not background.enabled(cfg)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    for missing in ("grid", "particles", "text"):
        other = cfgmod.load(_config_file(tmp_path))
        setattr(other, missing, None if missing != "text" else "")
        assert not background.enabled(other), missing


def _fresh_module(tmp_path, name, cache):
    """A module with one jitted function, compiled nowhere yet (its cache dir is new)."""
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(f"""
        from numba import njit

        @njit(cache={cache})
        def twice(x):
            return 2.0 * x
        """))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_started_by_a_cache_miss_not_by_an_uncached_compile(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.delenv("VFP_BACKGROUND_COMPILE", raising=False)
    cfg = cfgmod.load(_config_file(tmp_path))
    starts = []
    monkeypatch.setattr(background.BackgroundCompile, "_start",
                        lambda self: (starts.append(1), setattr(self, "started", True)))
    job = background.BackgroundCompile(cfg)
    with job.watch():
        assert _fresh_module(tmp_path, "bg_uncached", cache=False).twice(1.5) == 3.0
    assert starts == [] and not job.started
    with job.watch():
        assert _fresh_module(tmp_path, "bg_cached", cache=True).twice(1.5) == 3.0
        _fresh_module(tmp_path, "bg_cached2", cache=True).twice(2.5)
    assert starts == [1] and job.started          # once, at the first miss
    job.wait()                                     # nothing was spawned: returns at once
    assert job.waited == 0.0 and job.returncode is None


@pytest.mark.parametrize("regime", ["kinetic", "overdamped"])
def test_second_process_work_runs_for_the_config(regime, tmp_path):
    # what the second process does, in this process (warm cache): one particle step and a
    # small comparison against the grid's initial state, without writing anything
    source = _config_file(tmp_path, regime)
    before = set(tmp_path.iterdir())
    background._compile({"text": source.read_text(), "source": str(source)})
    assert set(tmp_path.iterdir()) == before


def test_second_process_exits_cleanly_and_a_run_is_unchanged(tmp_path, monkeypatch):
    from vfp.runner import run

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.delenv("VFP_BACKGROUND_COMPILE", raising=False)
    cfg = cfgmod.load(_config_file(tmp_path))
    job = background.BackgroundCompile(cfg)
    job._start()
    job.wait(limit=240)
    assert job.started and job.returncode == 0 and job.waited > 0.0
    # a run that starts the second process (forced: the cache here is warm) and one that
    # does not give the same numbers; the wait is reported in the timings
    monkeypatch.setattr(background, "_cached", lambda dispatcher: True)
    monkeypatch.setattr(background.BackgroundCompile, "watch", _forced_watch)
    with_bg = run(cfg, tmp_path / "a.h5", progress=False)
    monkeypatch.setenv("VFP_BACKGROUND_COMPILE", "0")
    without = run(cfg, tmp_path / "b.h5", progress=False)
    assert "background_compile_wait" in with_bg.timings
    assert "background_compile_wait" not in without.timings
    assert np.array_equal(with_bg.grid.states, without.grid.states)
    assert np.array_equal(with_bg.particles.x, without.particles.x)
    for key, values in without.compare.items():
        assert np.array_equal(with_bg.compare[key], values, equal_nan=True), key


def _forced_watch(self):
    from contextlib import nullcontext

    if background.enabled(self._cfg):
        self._start()
    return nullcontext()


@pytest.mark.slow
def test_first_run_loads_particle_kernels_compiled_in_the_background(tmp_path):
    # empty Numba cache: the grid stage misses it, the second process compiles the
    # particle kernels meanwhile, and the particle stage only loads them
    source = _config_file(tmp_path)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("VFP_BACKGROUND_COMPILE", None)
    done = subprocess.run([sys.executable, "-m", "vfp", "run", str(source), "-o",
                           str(tmp_path / "r.h5"), "--quiet"], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    import h5py

    with h5py.File(tmp_path / "r.h5", "r") as f:
        timings = json.loads(f.attrs["timings"])
    assert "background_compile_wait" in timings
    # a cache load takes a fraction of a second; compiling these kernels takes seconds
    assert timings["particles_compile"] < 1.0 < timings["grid_compile"]
