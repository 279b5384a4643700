"""The run file and the CLI around it: one writer per output, no silent overwrite,
damaged files exit 2, dimension scales everywhere, progress lines off a terminal,
unexpected errors recorded as "failed"."""

import io
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from vfp import runner as runmod
from vfp.cli import main
from vfp.progress import Progress
from vfp.store import OutputLock, RunWriter, StoreError, is_locked, lock_path, open_run

from test_robustness import OVERDAMPED


def _writer(path, **kw):
    return RunWriter(path, "# test", grid={"x_edges": np.linspace(-1, 1, 6), "v_edges": None},
                     particles={"n": 10, "n_stored": 4, "kinetic": False, "seed": 3},
                     compare_keys=("w2_x", "w2_x_floor"), **kw)


def _fill(w, n=3):
    for k in range(n):
        t = float(k)
        w.write_grid_snapshot(t, np.full(5, 0.5))
        with w.batch():
            w.write_particle_snapshot(t, np.arange(10.0))
            w.write_compare(t, {"w2_x": 0.1 * k, "w2_x_floor": 0.01})
        w.append_grid_diagnostics({"t": [t], "dt": [0.1], "mass": [1.0], "min": [0.0],
                                   "boundary_mass": [0.0], "free_energy": [-1.0]})


def test_file_is_closed_and_plainly_readable_between_writes(tmp_path):
    path = tmp_path / "run.h5"
    w = _writer(path)
    _fill(w, 2)
    # mid-run, with the writer alive: a plain open (HDF5 file locking on) works
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "running"
        assert f["grid/rho"].shape == (2, 5) and f["particles/x"].shape == (2, 4)
        assert f["grid/diagnostics/mass"].shape == (2,)
    # a reader in another process holding the file open does not stop the writer
    code = ("import sys, time, h5py; f = h5py.File(sys.argv[1], 'r'); "
            "print('open', flush=True); time.sleep(60)")
    reader = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert reader.stdout.readline().strip() == "open"
        _fill(w, 1)
    finally:
        reader.kill()
        reader.wait()
    w.close()
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "finished" and f["grid/t"].shape == (3,)


def test_every_dataset_has_dimension_scales(tmp_path):
    path = tmp_path / "run.h5"
    w = RunWriter(path, "", grid={"x_edges": np.linspace(-1, 1, 6),
                                  "v_edges": np.linspace(-2, 2, 5)},
                  particles={"n": 10, "n_stored": 4, "kinetic": True},
                  compare_keys=("w2_x", "tv"))
    w.write_grid_snapshot(0.0, np.ones((5, 4)), dv=1.0)
    w.write_particle_snapshot(0.0, np.zeros(10), np.zeros(10))
    w.write_compare(0.0, {"w2_x": 1.0})
    w.close()
    unscaled = []
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and not obj.is_scale:
                for axis in range(obj.ndim):
                    if len(obj.dims[axis]) == 0:
                        unscaled.append(f"{name}[{axis}]")
        f.visititems(visit)
        assert f["grid/f"].dims[0][0].name == "/grid/t"
        assert f["particles/x"].dims[1][0].name == "/particles/particle"
        assert f["compare/w2_x"].dims[0][0].name == "/compare/t"
    assert unscaled == []


def test_xarray_reads_named_dimensions(tmp_path):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    path = tmp_path / "run.h5"
    w = _writer(path)
    _fill(w, 3)
    w.close()
    for group, dims in (("grid", {"t": 3, "x": 5, "x_edges": 6}),
                        ("grid/diagnostics", {"t": 3}),
                        ("particles", {"t": 3, "particle": 4}), ("compare", {"t": 3})):
        with xr.open_dataset(path, engine="h5netcdf", group=group) as ds:
            assert dict(ds.sizes) == dims, group
            assert not any(d.startswith("phony") for d in ds.dims)
    with xr.open_dataset(path, engine="h5netcdf", group="compare") as ds:
        assert np.allclose(ds["w2_x"].sel(t=2.0), 0.2)


def test_second_writer_is_refused(tmp_path):
    path = tmp_path / "run.h5"
    first = _writer(path)
    assert is_locked(path)
    with pytest.raises(StoreError, match="another vfp run is writing"):
        _writer(path)
    _fill(first, 1)  # the first writer is untouched
    first.close()
    assert not is_locked(path) and not lock_path(path).exists()
    _writer(path, overwrite=True).close()


def test_cli_refuses_a_locked_output(tmp_path, capsys):
    cfg = tmp_path / "od.toml"
    cfg.write_text(OVERDAMPED)
    out = tmp_path / "od.h5"
    lock = OutputLock(out).acquire()  # as a running `vfp run` would hold it
    try:
        code = main(["run", str(cfg), "-o", str(out), "--quiet"])
    finally:
        lock.release()
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and str(out) in err, err
    assert not out.exists()


def test_lock_from_another_process(tmp_path):
    out = tmp_path / "run.h5"
    code = ("import sys, time; from vfp.store import OutputLock; "
            f"OutputLock({str(out)!r}).acquire(); print('locked', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(StoreError, match=str(out)):
            _writer(out)
    finally:
        proc.kill()
        proc.wait()
    # the kernel dropped the killed holder's lock: a stale lock file is no obstacle
    assert lock_path(out).exists() and not is_locked(out)
    _writer(out).close()


def test_finished_run_is_not_replaced_unasked(tmp_path, capsys):
    path = tmp_path / "run.h5"
    w = _writer(path)
    _fill(w, 2)
    w.close()
    with pytest.raises(StoreError, match="finished run.*--overwrite"):
        _writer(path)
    with h5py.File(path, "r") as f:
        assert f["grid/t"].shape == (2,)  # untouched
    # an unfinished run (failed, interrupted, killed: status "running") is replaced
    for status in ("failed", "interrupted"):
        w = _writer(path, overwrite=True)
        w.close(status)
        replacement = _writer(path)
        assert replacement.replaced == status
        replacement.close("running")  # as left by a SIGKILL
    assert _writer(path).replaced == "running"
    # something that is not a vfp run is never replaced unasked
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["data"] = np.arange(3)
    with pytest.raises(StoreError, match="not a vfp run"):
        _writer(other)
    (tmp_path / "notes.h5").write_text("precious")
    with pytest.raises(StoreError, match="unreadable"):
        _writer(tmp_path / "notes.h5")


def test_cli_overwrite_flag(tmp_path, capsys):
    cfg = tmp_path / "od.toml"
    cfg.write_text(OVERDAMPED)
    out = tmp_path / "od.h5"
    assert main(["run", str(cfg), "-o", str(out), "--quiet"]) == 0
    created = h5py.File(out, "r").attrs["created"]
    capsys.readouterr()
    assert main(["run", str(cfg), "-o", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "finished run" in err and "--overwrite" in err and len(err.splitlines()) == 1
    assert main(["run", str(cfg), "-o", str(out), "--quiet", "--overwrite"]) == 0
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "finished" and f.attrs["created"] >= created


def _corrupt_copies(tmp_path, source, n=12):
    data = bytearray(source.read_bytes())
    offsets = np.linspace(0, len(data) - 64, n).astype(int)
    for k, offset in enumerate(offsets):
        damaged = bytearray(data)
        damaged[offset:offset + 64] = b"\xff" * 64
        path = tmp_path / f"damaged_{k}.h5"
        path.write_bytes(bytes(damaged))
        yield path


def test_damaged_files_exit_2_with_one_line(tmp_path):
    path = tmp_path / "run.h5"
    w = _writer(path)
    _fill(w, 3)
    w.close()
    paths = [str(p) for p in _corrupt_copies(tmp_path, path)]
    # in a child process: HDF5 must not take the test runner down with it
    script = (
        "import sys, contextlib, io\n"
        "from vfp.cli import main\n"
        "for p in sys.argv[1:]:\n"
        "    for cmd in ('info', 'plot'):\n"
        "        err = io.StringIO()\n"
        "        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):\n"
        "            code = main([cmd, p] + (['-o', p + '_plots'] if cmd == 'plot' else []))\n"
        "        print(cmd, code, len(err.getvalue().strip().splitlines()), p, flush=True)\n")
    proc = subprocess.run([sys.executable, "-c", script, *paths], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert len(rows) == 2 * len(paths)
    for cmd, code, lines, p in rows:
        assert code in ("0", "2") and (code == "0" or lines == "1"), (cmd, code, lines, p)
    assert sum(code == "2" for _, code, _, _ in rows) >= 4  # most damage is detected


def test_damaged_structure_is_a_store_error(tmp_path):
    path = tmp_path / "run.h5"
    w = _writer(path)
    _fill(w, 1)
    w.close()
    with h5py.File(path, "r+") as f:
        del f["grid/rho"]  # as a second writer truncating the file mid-run might leave it
    with pytest.raises(StoreError, match="damaged run file.*grid/rho"):
        open_run(path)


def test_unexpected_error_marks_the_file_failed(tmp_path, capsys, monkeypatch):
    cfg = tmp_path / "od.toml"
    cfg.write_text(OVERDAMPED)
    out = tmp_path / "od.h5"

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(runmod, "_run_grid", broken)
    code = main(["run", str(cfg), "-o", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "disk on fire" in err, err
    assert "Traceback" not in err
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "failed" and "disk on fire" in f.attrs["message"]
    assert not is_locked(out) and not lock_path(out).exists()
    with pytest.raises(RuntimeError, match="disk on fire"):
        main(["run", str(cfg), "-o", str(out), "--quiet", "--debug"])


def test_progress_prints_a_line_per_snapshot_off_a_terminal():
    stream = io.StringIO()
    bar = Progress("grid", 2.0, n_snapshots=3, stream=stream)
    assert bar.mode == "lines"
    for k, t in enumerate((0.0, 1.0, 2.0)):
        for sub in range(50):  # many compiled chunks between snapshots
            bar(t + sub * 1e-3, n_steps=100 * k + sub)
        bar.snapshot(k, t)
    bar.close()
    text = stream.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 3 and lines[-1].startswith("grid: snapshot 3/3 at t = 2 (")
    quiet = io.StringIO()
    off = Progress("grid", 1.0, enabled=False, stream=quiet)
    off(0.5)
    off.snapshot(0, 0.5)
    assert off.mode is None and quiet.getvalue() == ""


def test_progress_uses_a_bar_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    bar = Progress("particles", 1.0, n_snapshots=2, stream=stream)
    bar(0.5, 10)
    bar.snapshot(0, 0.5)
    bar.close()
    assert bar.mode == "bar" and "particles" in stream.getvalue()


def test_cli_run_log_has_one_line_per_snapshot(tmp_path):
    cfg = tmp_path / "od.toml"
    cfg.write_text(OVERDAMPED)
    out = tmp_path / "od.h5"
    proc = subprocess.run([sys.executable, "-m", "vfp", "run", str(cfg), "-o", str(out)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr
    assert [line for line in proc.stderr.splitlines() if "snapshot" in line] == [
        line for line in proc.stderr.splitlines() if line.startswith("grid: snapshot")]
    assert sum(line.startswith("grid: snapshot") for line in proc.stderr.splitlines()) == 2


def test_replace_compare_keeps_scales_and_respects_the_lock(tmp_path):
    from vfp.store import replace_compare

    path = tmp_path / "run.h5"
    w = _writer(path)
    _fill(w, 2)
    with pytest.raises(StoreError, match="another vfp run"):
        replace_compare(path, {"t": [0.0, 1.0], "tv": [0.1, 0.2]})
    w.close()
    replace_compare(path, {"t": [0.0, 1.0], "tv": [0.1, 0.2]}, attrs={"n_used": 4})
    with h5py.File(path, "r") as f:
        assert set(f["compare"]) == {"t", "tv"} and f["compare"].attrs["n_used"] == 4
        assert f["compare/tv"].dims[0][0].name == "/compare/t"
