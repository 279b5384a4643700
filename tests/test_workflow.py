"""The whole workflow: vfp run / compare / info / plot, the HDF5 contract, signals."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from vfp import config as cfgmod
from vfp.cli import main
from vfp.runner import run
from vfp.store import read_run

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

SMALL = """
[model]
regime = "{regime}"
temperature = 0.5
potential = {{ kind = "harmonic", omega = 1.0 }}
interaction = {{ kind = "quadratic", kappa = 0.5 }}
{gamma}
[initial]
kind = "gaussian"
mean = {mean}
std = {std}

[time]
t_end = {t_end}
snapshots = {snapshots}

[grid]
x = {{ min = -6.0, max = 6.0, cells = {cells} }}
{v}
scheme = "upwind"

[particles]
n = {n}
dt = 0.01
scheme = "euler"
seed = 5
"""


def small_config(tmp_path, regime="kinetic", cells=48, n=5000, t_end=1.0,
                 snapshots="[0.0, 0.5, 1.0]", extra=""):
    kinetic = regime == "kinetic"
    text = SMALL.format(
        regime=regime, gamma="gamma = 1.0" if kinetic else "",
        mean="[1.5, 0.0]" if kinetic else "1.5", std="[0.3, 0.3]" if kinetic else "0.3",
        t_end=t_end, snapshots=snapshots, cells=cells, n=n,
        v=f"v = {{ min = -6.0, max = 6.0, cells = {cells} }}" if kinetic else "") + extra
    path = tmp_path / f"{regime}.toml"
    path.write_text(text)
    return path


def _vfp(*args, **kw):
    return subprocess.run([sys.executable, "-m", "vfp", *args], capture_output=True, text=True,
                          timeout=kw.pop("timeout", 300), cwd=kw.pop("cwd", None), **kw)


def _quickstart_end_to_end(tmp_path, cells, n):
    """``vfp run`` of examples/quickstart.toml (with ``cells`` per axis and ``n`` particles
    when they differ from the file's 128 and 100000), then ``vfp info``."""
    config = EXAMPLES / "quickstart.toml"
    if (cells, n) != (128, 100000):
        text = config.read_text()
        assert text.count("cells = 128") == 2 and text.count("n = 100000") == 1
        config = tmp_path / "quickstart.toml"
        config.write_text(text.replace("cells = 128", f"cells = {cells}")
                          .replace("n = 100000", f"n = {n}"))
    out = tmp_path / "quick.h5"
    plots = tmp_path / "plots"
    proc = _vfp("run", str(config), "-o", str(out), "--quiet", "--plots", str(plots),
                timeout=600)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "finished"
        assert "[model]" in f.attrs["config"] and f.attrs["vfp_version"]
        assert "numba" in f.attrs["versions"]
        t = f["grid/t"][()]
        assert np.allclose(t, [0.0, 0.5, 1.0, 2.0, 5.0])
        assert f["grid/f"].shape == (5, cells, cells) and f["grid/rho"].shape == (5, cells)
        assert f["grid/f"].dims[1][0].name == f["grid/x"].name  # dimension scales
        assert f["grid/f"].dims[2][0].name == f["grid/v"].name
        assert f["particles/x"].shape == (5, n)
        assert f["particles/x"].attrs["n"] == n and f["particles/x"].attrs["seed"] == 1
        assert np.allclose(f["compare/t"][()], t)
        for key in ("w2_x", "w2_v", "sw2", "kl", "tv", "w2_x_floor", "mean_x", "mean_x_grid"):
            assert key in f["compare"], key
            assert np.all(np.isfinite(f[f"compare/{key}"][()])), key
        diag = f["grid/diagnostics"]
        mass = diag["mass"][()]
        assert np.max(np.abs(mass - mass[0])) < 1e-12 * mass[0]
        # grid and particles agree in the mean to within the particles' sampling error
        mx, mxg = f["compare/mean_x"][()], f["compare/mean_x_grid"][()]
        var = f["compare/var_x"][()]
        assert np.all(np.abs(mx - mxg) < 5 * np.sqrt(var / n) + 0.02)
    assert sorted(p.name for p in plots.glob("*.png"))
    info = _vfp("info", str(out))
    assert info.returncode == 0 and "grid" in info.stdout and "particles" in info.stdout


def test_quickstart_config_end_to_end(tmp_path):
    """The quickstart's model, schemes and snapshots through ``vfp run --plots`` and
    ``vfp info``, on 64 cells per axis and 5000 particles (the file's sizes: slow test)."""
    _quickstart_end_to_end(tmp_path, cells=64, n=5000)


@pytest.mark.slow
def test_quickstart_example_end_to_end(tmp_path):
    """examples/quickstart.toml exactly as shipped (128² cells, 100000 particles)."""
    _quickstart_end_to_end(tmp_path, cells=128, n=100000)


def test_overdamped_run_from_python(tmp_path):
    cfg = cfgmod.load(small_config(tmp_path, "overdamped", cells=200, n=20000))
    result = run(cfg, output=tmp_path / "od.h5", progress=False)
    assert result.success and result.status == 0
    data = read_run(tmp_path / "od.h5")
    assert data.grid_f is None and data.grid_rho.shape == (3, 200)
    assert data.particle_v is None and data.particle_x.shape == (3, 20000)
    assert set(result.compare) >= {"t", "w2_x", "kl", "tv", "mean_x"}
    assert "w2_v" not in result.compare


def test_overdamped_implicit_scheme_from_config(tmp_path):
    path = small_config(tmp_path, "overdamped", cells=200, n=5000)
    path.write_text(path.read_text().replace('scheme = "upwind"',
                                             'scheme = "sg2_implicit"\ndt = 0.01'))
    cfg = cfgmod.load(path)
    result = run(cfg, output=tmp_path / "imp.h5", progress=False)
    assert result.success
    data = read_run(tmp_path / "imp.h5")
    assert data.attrs["status"] == "finished"
    mass = data.diagnostics["mass"]
    assert np.max(np.abs(mass - mass[0])) < 1e-12 * mass[0] and np.min(data.grid_rho) >= 0
    # 100 steps of dt = 0.01 to t = 1 (plus none wasted): the step came from grid.dt
    assert result.grid.n_steps == 100


def test_particles_only_and_grid_only(tmp_path):
    text = small_config(tmp_path).read_text()
    grid_only = text.split("[particles]")[0]
    cfg = cfgmod.loads(grid_only, "grid_only.toml")
    r = run(cfg, output=tmp_path / "g.h5", progress=False)
    assert r.success and r.particles is None and r.compare == {}
    part_only = text.replace("[grid]", "[unused]").split("[unused]")[0] + \
        "[particles]\nn = 2000\ndt = 0.01\nseed = 2\nx = { min = -6.0, max = 6.0 }\n"
    cfg = cfgmod.loads(part_only, "particles_only.toml")
    r = run(cfg, output=tmp_path / "p.h5", progress=False)
    assert r.success and r.grid is None
    data = read_run(tmp_path / "p.h5")
    assert data.particle_x.shape == (3, 2000)
    # DESIGN §4: the fraction of reflected particles is an attribute of /particles
    assert data.particle_attrs["reflected_fraction"] == r.particles.reflected_fraction
    assert data.particle_attrs["n_reflected"] == r.particles.n_reflected


def test_particles_without_domain_run_in_free_space(tmp_path):
    text = small_config(tmp_path).read_text()
    part_only = text.replace("[grid]", "[unused]").split("[unused]")[0] + \
        "[particles]\nn = 2000\ndt = 0.01\nseed = 2\n"
    cfg = cfgmod.loads(part_only, "free.toml")
    assert cfg.particles.x is None
    r = run(cfg, output=tmp_path / "free.h5", progress=False)
    assert r.success and r.particles.n_reflected == 0


def test_diverging_run_stops_and_keeps_snapshots(tmp_path):
    cfg = cfgmod.load(small_config(tmp_path, cells=48, t_end=2.0,
                                   snapshots="[0.0, 0.01, 2.0]"))
    cfg.grid.cfl = 3.0
    result = run(cfg, output=tmp_path / "bad.h5", progress=False, check_cfl=False)
    assert not result.success and result.status == -1
    assert "t=" in result.message and "step" in result.message
    data = read_run(tmp_path / "bad.h5")
    assert data.attrs["status"] == "failed"
    assert len(data.grid_t) >= 1 and data.grid_t[0] == 0.0
    assert np.all(np.isfinite(data.grid_f))


def test_compare_recomputes_stored_values(tmp_path):
    out = tmp_path / "c.h5"
    # a small EMD subsample and few projections keep this test quick
    cfg = cfgmod.load(small_config(tmp_path, n=3000,
                                   extra="[compare]\nemd_subsample = 200\nn_projections = 50\n"))
    first = run(cfg, output=out, progress=False).compare
    proc = _vfp("compare", str(out))
    assert proc.returncode == 0, proc.stderr
    data = read_run(out)
    for key in ("w2_x", "w2_v", "kl", "tv", "mean_x"):
        assert np.allclose(data.compare[key], first[key], rtol=1e-12, atol=0), key
    proc = _vfp("compare", str(out), "--metrics", "w2_x,tv")
    assert proc.returncode == 0
    assert set(read_run(out).compare) == {"t", "w2_x", "w2_x_floor", "tv", "tv_floor"}


@pytest.mark.parametrize("command", ["compare", "plot", "info"])
@pytest.mark.parametrize("kind", ["missing", "not_hdf5", "foreign_hdf5"])
def test_bad_files_exit_2(tmp_path, capsys, command, kind):
    path = tmp_path / "file.h5"
    if kind == "not_hdf5":
        path.write_text("not an HDF5 file\n")
    elif kind == "foreign_hdf5":
        with h5py.File(path, "w") as f:
            f["data"] = np.arange(3)
    code = main([command, str(path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and str(path) in err, err


def _wait_for_snapshots(path, count, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if path.exists() and len(read_run(path, load_particles=False).grid_t) >= count:
                return
        except Exception:  # the writer may be mid-creation
            pass
        time.sleep(0.1)
    raise AssertionError("run produced no snapshot in time")


def _long_run(tmp_path):
    # A grid run that takes many seconds: fine grid, long horizon, many snapshots.
    cfg = small_config(tmp_path, cells=256, t_end=200.0,
                       snapshots="[" + ", ".join(str(0.5 * k) for k in range(401)) + "]")
    text = cfg.read_text().split("[particles]")[0]
    cfg.write_text(text)
    return cfg


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGKILL, -9)])
def test_signals_leave_readable_file(tmp_path, sig, code):
    cfg = _long_run(tmp_path)
    out = tmp_path / "sig.h5"
    # Under pytest-xdist the worker ignores SIGINT and a child inherits an ignored signal
    # (Python then installs no KeyboardInterrupt handler): restore the default, as a shell
    # gives it to a `vfp run` started by hand.
    proc = subprocess.Popen([sys.executable, "-m", "vfp", "run", str(cfg), "-o", str(out),
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        _wait_for_snapshots(out, 3, proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    # a plain open, as any HDF5 tool does it, works after SIGINT and SIGKILL alike
    with h5py.File(out, "r") as f:
        n_plain = f["grid/t"].shape[0]
        assert n_plain >= 3 and f["grid/f"].shape[0] >= n_plain
        diag_t = f["grid/diagnostics/t"][()]
        # diagnostics are written as the run goes, up to the last snapshot at least
        assert len(diag_t) > n_plain and diag_t[-1] >= f["grid/t"][n_plain - 1]
        assert f.attrs["status"] == ("interrupted" if sig == signal.SIGINT else "running")
    data = read_run(out)
    n = len(data.grid_t)
    assert n >= 3 and data.grid_f.shape[0] == n
    assert np.allclose(data.grid_t, 0.5 * np.arange(n))
    assert np.all(np.isfinite(data.grid_f))
    if sig == signal.SIGINT:
        assert data.attrs["status"] == "interrupted" and "Traceback" not in err
    # an interrupted file can still be summarised
    assert main(["info", str(out)]) == 0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["double_well_kinetic", "harmonic_interaction",
                                  "overdamped_double_well"])
def test_examples_run(tmp_path, name):
    out = tmp_path / f"{name}.h5"
    proc = _vfp("run", str(EXAMPLES / f"{name}.toml"), "-o", str(out), "--quiet", timeout=1800)
    assert proc.returncode == 0, proc.stderr
    data = read_run(out, load_particles=False)
    assert data.attrs["status"] == "finished" and data.compare is not None
    assert np.all(np.isfinite(data.compare["w2_x"]))
