"""The HDF5 run file: written snapshot by snapshot, readable after any interruption.

Layout (see DESIGN §6)::

    /                       attrs: vfp_version, created, config, versions, status, ...
    /grid/x, /grid/v        cell centres (dimension scales); /grid/x_edges, /grid/v_edges
    /grid/t                 snapshot times written so far (dimension scale)
    /grid/f                 [t, x, v] (kinetic);  /grid/rho [t, x] always
    /grid/diagnostics/      t (dimension scale), dt, mass, min, boundary_mass, free_energy
    /particles/t, /particles/particle (index, dimension scales)
    /particles/x, /particles/v   [t, particle]; attrs n, n_stored, seed, scheme, dt,
                            reflected_fraction (when the pipeline records it)
    /compare/t, /compare/<metric>   [t]
    /model                  mean-field energy (when the model has one): attrs kind,
                            dimension, source (JSON), activation, output_weight, n_data,
                            inputs; /model/data/z [M, p], /model/data/y [M] (networks)
    /grid/risk, /particles/risk   [t] the energy F at every snapshot (grid: F(ρ_t) of the
                            x-marginal's cell masses; particles: F(μ^N_t) of all N)

Every dataset has a dimension scale on every axis, so xarray reads each group with named
dimensions: ``xarray.open_dataset(path, engine="h5netcdf", group="compare")``.

Crash safety. The file is *closed between writes*: every append opens it, writes, and
closes it again (:meth:`RunWriter.batch` groups the writes of one snapshot into one
open). A run killed at any moment (SIGKILL, out of memory, power to the process) leaves
a plain HDF5 file that opens with ``h5py.File(path, "r")`` and holds every snapshot
written before the kill. No SWMR mode and no "latest" file format are used: both leave
the file marked "already open for write" after a kill, which ordinary tools refuse; the
HDF5 1.8 format used instead has checksummed metadata and no such flag.

One writer per file. :class:`RunWriter` holds an exclusive ``fcntl.flock`` on the lock
file ``<name>.lock`` beside the output for its whole life; a second writer is refused
with :class:`StoreError` naming the file. The HDF5 library's own file locking is
switched off for the writer (``locking=False``), so a reader that keeps the file open
(a notebook, ``vfp info`` in a loop) never makes a run fail. A finished run is never
replaced unless ``overwrite=True``; a file left by an unfinished vfp run (status
``running``, ``failed`` or ``interrupted``) is replaced.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

try:  # POSIX advisory locks; elsewhere the one-writer check is skipped
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["RunWriter", "StoreError", "OutputLock", "open_run", "read_run", "RunData",
           "package_versions", "lock_path", "is_locked", "replace_compare"]

RUN_FORMAT = "vfp-run-1"
_LIBVER = ("v108", "v108")
_DIAGNOSTICS = ("t", "dt", "mass", "min", "boundary_mass", "free_energy")
# h5py/HDF5 raise these for damaged metadata (bad checksums, truncated files).
_H5_ERRORS = (OSError, KeyError, RuntimeError, ValueError, TypeError)


class StoreError(ValueError):
    """A file that is missing, damaged, not a vfp run file, locked, or not replaceable."""


def package_versions() -> dict:
    import numba
    import scipy

    from . import __version__

    return {"vfp": __version__, "numpy": np.__version__, "numba": numba.__version__,
            "scipy": scipy.__version__, "h5py": h5py.__version__,
            "hdf5": h5py.version.hdf5_version}


# ---------------------------------------------------------------------------------------
# One writer per output file


def lock_path(path) -> Path:
    """The lock file of an output: ``<name>.lock`` in the same folder."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


class OutputLock:
    """An exclusive advisory lock (``fcntl.flock``) on ``<output>.lock``.

    The kernel drops the lock when the holder exits, however it exits (SIGKILL
    included), so a killed run never leaves a stale lock behind: a leftover lock file
    is simply locked again by the next run.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.lock_file = lock_path(self.path)
        self.fd = None

    def acquire(self):
        if fcntl is None:  # pragma: no cover - no advisory locks on this platform
            return self
        while True:
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise StoreError(f"{self.path}: another vfp run is writing this file "
                                 f"(lock {self.lock_file.name} is held); wait for it or "
                                 "choose another output (-o)") from None
            # The previous holder may have unlinked the lock file between our open and
            # our flock: then we hold a lock on a dead inode, so try again.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.lock_file).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def release(self):
        if self.fd is None:
            return
        try:
            self.lock_file.unlink()  # while still holding the lock, see acquire()
        except FileNotFoundError:
            pass
        os.close(self.fd)
        self.fd = None


def is_locked(path) -> bool:
    """True when a live writer holds the lock of output ``path``."""
    lf = lock_path(path)
    if fcntl is None or not lf.exists():
        return False
    try:
        fd = os.open(lf, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _existing_status(path: Path):
    """(status, reason): the status attribute of a vfp run file, or None and why not."""
    try:
        with h5py.File(path, "r", locking=False) as f:
            if f.attrs.get("format") != RUN_FORMAT or "vfp_version" not in f.attrs:
                return None, "not a vfp run file"
            return str(f.attrs.get("status", "")), ""
    except Exception as exc:  # any failure to read it means: we cannot tell what it is
        return None, f"unreadable: {type(exc).__name__}: {exc}"


def check_replaceable(path, overwrite=False):
    """Refuse to replace a finished run (or a file that is not a vfp run) unasked.

    Returns the status of the unfinished run that will be replaced, or None.

    Raises
    ------
    StoreError
        ``path`` holds a finished run or something else than a vfp run, and not
        ``overwrite``.
    """
    path = Path(path)
    if not path.exists():
        return None
    if not path.is_file():
        raise StoreError(f"{path}: exists and is not a file")
    if overwrite:
        return None
    status, reason = _existing_status(path)
    if status == "finished":
        raise StoreError(f"{path}: holds a finished run; pass --overwrite (Python: "
                         "overwrite=True) to replace it, or choose another output (-o)")
    if status is None:
        raise StoreError(f"{path}: exists and is {reason}; pass --overwrite to replace it")
    return status


# ---------------------------------------------------------------------------------------
# Writing


def _growing(group, name, tail_shape, dtype="f8", chunk_rows=1):
    return group.create_dataset(name, shape=(0, *tail_shape), maxshape=(None, *tail_shape),
                                dtype=dtype, chunks=(chunk_rows, *tail_shape) if tail_shape
                                else (max(chunk_rows, 64),))


def _scale(group, name, data=None, growing=False, chunk_rows=64):
    """A dimension scale dataset named like its dimension."""
    ds = _growing(group, name, (), chunk_rows=chunk_rows) if growing else \
        group.create_dataset(name, data=np.asarray(data))
    ds.make_scale(name)
    return ds


def _attach(ds, *scales):
    for axis, scale in enumerate(scales):
        ds.dims[axis].attach_scale(scale)


def grid_dimension(x_edges) -> int:
    """1 for one array of edges, else the number of per-axis edge arrays."""
    if isinstance(x_edges, (list, tuple)):
        return len(x_edges)
    return 1


def _axes_2d(group, prefix, edges_list, what):
    """Scales ``<prefix>1``, ``<prefix>2`` (cell centres) and ``<prefix>k_edges``."""
    scales = []
    for k, edges in enumerate(edges_list, start=1):
        e = np.asarray(edges, dtype=float)
        sc = _scale(group, f"{prefix}{k}", 0.5 * (e[1:] + e[:-1]))
        sc.attrs["units"] = f"{what} along axis {k} (cell centres)"
        _scale(group, f"{prefix}{k}_edges", e)
        scales.append(sc)
    return scales


def _append(ds, values):
    n = ds.shape[0]
    ds.resize(n + 1, axis=0)
    ds[n] = np.asarray(values)


def _append_risk(group, risk):
    """Append one risk value to ``group/risk`` (NaN when the run has an energy but none
    was given); nothing without an energy."""
    if "risk" in group:
        _append(group["risk"], np.nan if risk is None else float(risk))
    elif risk is not None:
        raise StoreError("this run file has no energy, so no /risk dataset")


def _append_rows(ds, values):
    values = np.asarray(values, dtype=float)
    n = ds.shape[0]
    ds.resize(n + len(values), axis=0)
    ds[n:] = values


class RunWriter:
    """Creates the run file and appends snapshots as they arrive.

    The file is closed between writes (see the module docstring), and the writer holds
    the output's lock from construction to :meth:`close`.

    Parameters
    ----------
    path : path-like
        Output file (parent directories are created).
    config_text : str
        The TOML text of the run, stored in the root attribute ``config``.
    grid : dict or None
        ``{"x_edges", "v_edges" (None for overdamped), "attrs" (optional)}`` when the grid
        solver runs.
    particles : dict or None
        ``{"n", "n_stored" (≥ 1), "kinetic", "seed", "scheme", "dt"}`` when particles run.
    compare_keys : sequence of str
        Names of the comparison datasets written at each snapshot.
    attrs : dict
        Extra root attributes (e.g. ``regime``).
    model : dict or None
        ``{"attrs": {...}, "arrays": {"z": ..., "y": ...}}`` of a mean-field energy
        (:func:`vfp.energies.describe_energy`, :func:`vfp.energies.energy_arrays`): written
        to /model, and the risk datasets /grid/risk and /particles/risk are created.
    overwrite : bool
        Replace an existing finished run (otherwise :class:`StoreError`). A file from
        an unfinished vfp run is always replaced; its status is kept in
        :attr:`replaced`.

    Raises
    ------
    StoreError
        Another writer holds the output, or the existing file may not be replaced.
    """

    def __init__(self, path, config_text="", grid=None, particles=None, compare_keys=(),
                 attrs=None, overwrite=False, model=None):
        self.path = Path(path)
        self.model = model
        self.compare_keys = tuple(compare_keys)
        self.closed = False
        self._file = None
        self._depth = 0
        if particles is not None and int(particles["n_stored"]) < 1:
            raise ValueError(f"n_stored must be >= 1 (got {particles['n_stored']})")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = OutputLock(self.path).acquire()
        try:
            self.replaced = check_replaceable(self.path, overwrite)
            self._create(config_text, grid, particles, attrs)
        except BaseException:
            self._lock.release()
            self.closed = True
            raise

    # -- layout ---------------------------------------------------------------------------
    def _create(self, config_text, grid, particles, attrs):
        # The HDF5 1.8 format: checksummed metadata (damage is detected, not read as
        # garbage) and, unlike the "latest" (1.10+) superblock, no consistency flags that
        # a writer killed while the file is open would leave set.
        with h5py.File(self.path, "w", locking=False, libver=_LIBVER) as f:
            versions = package_versions()
            f.attrs["vfp_version"] = versions["vfp"]
            f.attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            f.attrs["config"] = config_text
            f.attrs["versions"] = json.dumps(versions)
            f.attrs["format"] = RUN_FORMAT
            f.attrs["status"] = "running"
            for key, val in (attrs or {}).items():
                f.attrs[key] = val
            if grid is not None:
                self._create_grid(f, grid)
            if particles is not None:
                self._create_particles(f, particles)
            if self.model is not None:
                self._create_model(f, self.model)
            if self.compare_keys:
                g = f.create_group("compare")
                t = _scale(g, "t", growing=True)
                for key in self.compare_keys:
                    _attach(_growing(g, key, ()), t)

    @staticmethod
    def _create_grid(f, spec):
        if grid_dimension(spec["x_edges"]) == 2:
            RunWriter._create_grid_2d(f, spec)
            return
        g = f.create_group("grid")
        x_edges = np.asarray(spec["x_edges"], dtype=float)
        x = _scale(g, "x", 0.5 * (x_edges[1:] + x_edges[:-1]))
        x.attrs["units"] = "position (cell centres)"
        _scale(g, "x_edges", x_edges)
        t = _scale(g, "t", growing=True)
        rho = _growing(g, "rho", (len(x),))
        _attach(rho, t, x)
        rho.attrs["description"] = "spatial density ρ(t, x), cell averages"
        if spec.get("v_edges") is not None:
            v_edges = np.asarray(spec["v_edges"], dtype=float)
            v = _scale(g, "v", 0.5 * (v_edges[1:] + v_edges[:-1]))
            v.attrs["units"] = "velocity (cell centres)"
            _scale(g, "v_edges", v_edges)
            fds = _growing(g, "f", (len(x), len(v)))
            _attach(fds, t, x, v)
            fds.attrs["description"] = "phase-space density f(t, x, v), cell averages"
        d = g.create_group("diagnostics")
        dt = _scale(d, "t", growing=True, chunk_rows=1024)
        for name in _DIAGNOSTICS[1:]:
            _attach(_growing(d, name, (), chunk_rows=1024), dt)
        for key, val in spec.get("attrs", {}).items():
            g.attrs[key] = val

    @staticmethod
    def _create_grid_2d(f, spec):
        """The d = 2 layout of DESIGN §8: marginals at every snapshot, the full 4-D density
        (float32, gzip level 1 with shuffle, one chunk per snapshot and x1-row) at the
        snapshots listed in ``spec["full_times"]``."""
        g = f.create_group("grid")
        t = _scale(g, "t", growing=True)
        xs = _axes_2d(g, "x", spec["x_edges"], "position")
        rho = _growing(g, "rho", tuple(len(s) for s in xs))
        _attach(rho, t, *xs)
        rho.attrs["description"] = "spatial density ρ(t, x1, x2), cell averages"
        if spec.get("v_edges") is not None:
            vs = _axes_2d(g, "v", spec["v_edges"], "velocity")
            gm = _growing(g, "g", tuple(len(s) for s in vs))
            _attach(gm, t, *vs)
            gm.attrs["description"] = "velocity density g(t, v1, v2), cell averages"
            full = [float(x) for x in (spec.get("full_times") or [])]
            if full:
                ft = _scale(g, "f_t", growing=True)
                ft.attrs["description"] = "times of the stored full densities /grid/f"
                tail = (len(xs[0]), len(xs[1]), len(vs[0]), len(vs[1]))
                fds = g.create_dataset("f", shape=(0, *tail), maxshape=(None, *tail),
                                       dtype="f4", chunks=(1, 1, *tail[1:]),
                                       compression="gzip", compression_opts=1, shuffle=True)
                _attach(fds, ft, *xs, *vs)
                fds.attrs["description"] = ("phase-space density f(t, x1, x2, v1, v2), cell "
                                            "averages, stored as float32 (gzip level 1)")
                g.attrs["full_times"] = np.asarray(full, dtype=float)
        d = g.create_group("diagnostics")
        dt = _scale(d, "t", growing=True, chunk_rows=1024)
        for name in _DIAGNOSTICS[1:]:
            _attach(_growing(d, name, (), chunk_rows=1024), dt)
        g.attrs["dimension"] = 2
        for key, val in spec.get("attrs", {}).items():
            g.attrs[key] = val

    @staticmethod
    def _create_model(f, model):
        """/model (the energy's description and data) and the risk datasets."""
        m = f.create_group("model")
        for key, val in (model.get("attrs") or {}).items():
            m.attrs[key] = val
        arrays = model.get("arrays") or {}
        if arrays:
            d = m.create_group("data")
            for key, val in arrays.items():
                d.create_dataset(key, data=np.asarray(val, dtype=float))
            d.attrs["description"] = "data of the energy: inputs z [M, p], targets y [M]"
        for group in ("grid", "particles"):
            if group in f:
                risk = _growing(f[group], "risk", ())
                _attach(risk, f[group]["t"])
                what = "F(ρ_t) of the grid's x-marginal (cell masses)" if group == "grid" \
                    else "F(μ^N_t) of the empirical measure of all N particles"
                risk.attrs["description"] = f"risk (mean-field energy) {what}"
        if "grid" in f:
            f["grid/diagnostics/free_energy"].attrs["description"] = (
                "MFLD objective F(ρ) + ∫V ρ (+ ½∫∫W ρρ) + λ∫ρ log ρ (+ ∫|v|²/2 f kinetic)")

    @staticmethod
    def _create_particles(f, spec):
        g = f.create_group("particles")
        n_stored = int(spec["n_stored"])
        t = _scale(g, "t", growing=True)
        index = _scale(g, "particle", np.arange(n_stored, dtype=np.int64))
        index.attrs["description"] = "index of a stored particle (the first n_stored of n)"
        dim = int(spec.get("dimension", 1))
        component = None
        if dim > 1:
            component = _scale(g, "component", np.arange(1, dim + 1, dtype=np.int64))
            component.attrs["description"] = "axis k of the position x_k / velocity v_k"
        for name in ("x", "v") if spec.get("kinetic", True) else ("x",):
            if dim > 1:
                ds = _growing(g, name, (n_stored, dim), chunk_rows=1)
                _attach(ds, t, index, component)
            else:
                ds = _growing(g, name, (n_stored,), chunk_rows=1)
                _attach(ds, t, index)
            ds.attrs["n"] = int(spec["n"])
            ds.attrs["seed"] = int(spec.get("seed", 0))
            ds.attrs["scheme"] = str(spec.get("scheme", ""))
        g.attrs["dimension"] = dim
        for key in ("n", "n_stored", "seed", "scheme", "dt"):
            if key in spec:
                g.attrs[key] = spec[key]

    # -- opening per write ----------------------------------------------------------------
    @contextmanager
    def batch(self):
        """Open the file once for several writes (e.g. particles and compare of one
        snapshot); it is closed, consistent on disk, when the outermost batch ends."""
        if self.closed:
            raise StoreError(f"{self.path}: the writer is closed")
        if self._depth == 0:
            self._file = h5py.File(self.path, "r+", locking=False)
        self._depth += 1
        try:
            yield self._file
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._file.close()
                self._file = None

    # -- appends --------------------------------------------------------------------------
    def write_grid_snapshot(self, t, state, dv=None, risk=None):
        """Append a grid snapshot: f [n_x, n_v] (kinetic, with ``dv``) or ρ [n_x], and the
        risk F(ρ_t) when the run has an energy."""
        state = np.asarray(state, dtype=float)
        with self.batch() as f:
            g = f["grid"]
            _append_risk(g, risk)
            if state.ndim == 2:
                _append(g["f"], state)
                _append(g["rho"], state.sum(axis=1) * dv)
            else:
                _append(g["rho"], state)
            _append(g["t"], t)  # last: a reader trusts rows [:len(t)]

    def write_grid_marginals(self, t, rho, g=None, f=None, risk=None):
        """Append a d = 2 grid snapshot: ρ [n_x1, n_x2], the velocity marginal g
        [n_v1, n_v2] (kinetic) and, when given, the full density f (stored as float32 under
        /grid/f with its time in /grid/f_t) and the risk F(ρ_t)."""
        with self.batch() as h:
            grp = h["grid"]
            _append_risk(grp, risk)
            _append(grp["rho"], np.asarray(rho, dtype=float))
            if g is not None:
                _append(grp["g"], np.asarray(g, dtype=float))
            if f is not None:
                if "f" not in grp:
                    raise StoreError(f"{self.path}: this run stores no full density")
                _append(grp["f"], np.asarray(f, dtype=np.float32))
                _append(grp["f_t"], t)
            _append(grp["t"], t)  # last: a reader trusts rows [:len(t)]

    def append_grid_diagnostics(self, diagnostics: dict):
        """Append samples of the grid diagnostics (one compiled chunk's worth).

        ``diagnostics`` maps names in (t, dt, mass, min, boundary_mass, free_energy) to
        1-D arrays of one length; call it as the run goes so a killed run keeps them.
        """
        lengths = {len(np.atleast_1d(v)) for k, v in diagnostics.items() if k in _DIAGNOSTICS}
        if len(lengths) > 1:
            raise ValueError(f"diagnostics arrays differ in length: {sorted(lengths)}")
        with self.batch() as f:
            d = f["grid/diagnostics"]
            for name in _DIAGNOSTICS[::-1]:  # "t" last, as for snapshots
                if name in diagnostics:
                    _append_rows(d[name], np.atleast_1d(diagnostics[name]))

    write_grid_diagnostics = append_grid_diagnostics

    def write_particle_snapshot(self, t, x, v=None, risk=None):
        """Append the first n_stored positions (and velocities) of a particle snapshot,
        and the risk F(μ^N_t) of all N particles when the run has an energy."""
        with self.batch() as f:
            g = f["particles"]
            _append_risk(g, risk)
            n_stored = g["x"].shape[1]
            _append(g["x"], np.asarray(x[:n_stored], dtype=float))
            if v is not None and "v" in g:
                _append(g["v"], np.asarray(v[:n_stored], dtype=float))
            _append(g["t"], t)

    def write_compare(self, t, values: dict):
        """Append one row of comparison values (missing keys are NaN)."""
        with self.batch() as f:
            g = f["compare"]
            if "w2_emd_estimator" in values:
                g.attrs["w2_emd_estimator"] = values["w2_emd_estimator"]
            for key in self.compare_keys:
                _append(g[key], float(values.get(key, np.nan)))
            _append(g["t"], t)

    def set_attrs(self, group="/", **attrs):
        """Set attributes of ``group`` (e.g. ``set_attrs("particles",
        reflected_fraction=0.012)``); dicts are stored as JSON text."""
        with self.batch() as f:
            target = f[group]
            for key, val in attrs.items():
                target.attrs[key] = json.dumps(val) if isinstance(val, dict) else val

    def close(self, status="finished", **attrs):
        """Record the final ``status`` ("finished", "failed", "interrupted") and
        ``attrs`` on the root, then release the output's lock. Idempotent."""
        if self.closed:
            return
        try:
            self.set_attrs("/", status=status, **attrs)
        finally:
            self.closed = True
            self._lock.release()

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if kind is None:
            self.close("finished")
        else:
            status = "interrupted" if issubclass(kind, KeyboardInterrupt) else "failed"
            self.close(status, message=f"{kind.__name__}: {exc}")
        return False


def replace_compare(path, columns: dict, attrs=None):
    """Replace /compare of an existing run file (``vfp compare``), under the output lock.

    Parameters
    ----------
    path : path-like
    columns : dict of str -> array_like, shape (n_t,)
        Must contain ``"t"``; every other column gets ``t`` as its dimension scale.
    attrs : dict, optional
        Attributes of the new /compare group.

    Raises
    ------
    StoreError
        A run is writing the file, or it cannot be opened for writing.
    """
    if "t" not in columns:
        raise ValueError("columns must contain 't'")
    lock = OutputLock(path).acquire()
    try:
        try:
            f = h5py.File(path, "r+", locking=False)
        except OSError as exc:
            raise StoreError(f"{path}: cannot open for writing ({exc})") from None
        with f:
            if "compare" in f:
                del f["compare"]
            g = f.create_group("compare")
            t = _scale(g, "t", np.asarray(columns["t"], dtype=float))
            for key, values in columns.items():
                if key != "t":
                    g[key] = np.asarray(values, dtype=float)
                    g[key].dims[0].attach_scale(t)
            for key, val in (attrs or {}).items():
                g.attrs[key] = val
    finally:
        lock.release()


# ---------------------------------------------------------------------------------------
# Reading


_REQUIRED = {"grid": ("x", "x_edges", "t", "rho", "diagnostics"),
             "particles": ("t", "x")}
_REQUIRED_2D = {"grid": ("x1", "x2", "x1_edges", "x2_edges", "t", "rho", "diagnostics"),
                "particles": ("t", "x")}


def _check_structure(f):
    """Touch the metadata of every object so a damaged file fails here, in one place."""
    for group, names in _REQUIRED.items():
        if group in f:
            if int(f[group].attrs.get("dimension", 1)) == 2:
                names = _REQUIRED_2D[group]
            missing = [n for n in names if n not in f[group]]
            if missing:
                raise KeyError(f"/{group}/{missing[0]} is missing")

    def visit(name, obj):
        dict(obj.attrs)
        if isinstance(obj, h5py.Dataset):
            obj.shape  # noqa: B018 - reading the header is the check

    f.visititems(visit)


def open_run(path, mode="r") -> h5py.File:
    """Open a vfp run file, raising :class:`StoreError` with one clear line otherwise.

    Missing, non-HDF5, foreign and damaged files (bad metadata checksums, truncated,
    groups missing) all raise :class:`StoreError`. While a run is writing the file a
    read may meet a write half done; it is retried for up to about a second.
    """
    path = Path(path)
    if not path.exists():
        raise StoreError(f"{path}: no such file")
    if not path.is_file():
        raise StoreError(f"{path}: not a file")
    attempts = 10
    for attempt in range(attempts):
        try:
            return _open_checked(path, mode)
        except StoreError:
            if attempt + 1 < attempts and is_locked(path):
                time.sleep(0.1)
                continue
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _open_checked(path, mode):
    try:
        if not h5py.is_hdf5(path):
            raise StoreError(f"{path}: not an HDF5 file")
        try:
            f = h5py.File(path, mode)
        except OSError as exc:
            # Files of older vfp versions (SWMR writers) killed mid-run keep a "file is
            # already open for write" flag; a SWMR reader still opens them.
            if mode != "r" or "already open for write" not in str(exc):
                raise
            f = h5py.File(path, "r", swmr=True)
    except StoreError:
        raise
    except OSError as exc:
        raise StoreError(f"{path}: cannot open as HDF5 ({exc})") from None
    try:
        if "vfp_version" not in f.attrs or not ({"grid", "particles"} & set(f.keys())):
            raise StoreError(f"{path}: HDF5 file is not a vfp run (no vfp_version attribute "
                             "or no grid/particles group)")
        _check_structure(f)
    except StoreError:
        f.close()
        raise
    except _H5_ERRORS as exc:
        f.close()
        raise StoreError(f"{path}: damaged run file ({type(exc).__name__}: {exc})") from None
    return f


@dataclass
class RunData:
    """Everything in a run file, as NumPy arrays (``None`` for absent parts)."""

    path: Path
    attrs: dict
    x_edges: np.ndarray | None = None
    v_edges: np.ndarray | None = None
    grid_t: np.ndarray | None = None
    grid_f: np.ndarray | None = None
    grid_rho: np.ndarray | None = None
    diagnostics: dict | None = None
    particle_t: np.ndarray | None = None
    particle_x: np.ndarray | None = None
    particle_v: np.ndarray | None = None
    particle_attrs: dict | None = None
    compare: dict | None = None

    grid_g: np.ndarray | None = None
    grid_f_t: np.ndarray | None = None
    dimension: int = 1
    grid_risk: np.ndarray | None = None
    particle_risk: np.ndarray | None = None
    model: dict | None = None

    @property
    def kinetic(self):
        return self.v_edges is not None or self.particle_v is not None


def read_run(path, load_particles=True) -> RunData:
    """Read a run file (complete or interrupted) into a :class:`RunData`.

    Raises :class:`StoreError` for missing, foreign or damaged files.
    """
    with open_run(path) as f:
        try:
            return _read(f, path, load_particles)
        except _H5_ERRORS as exc:
            raise StoreError(f"{path}: damaged run file ({type(exc).__name__}: {exc})") from None


def _read(f, path, load_particles):
    data = RunData(path=Path(path), attrs={k: f.attrs[k] for k in f.attrs})
    if "model" in f:
        m = f["model"]
        data.model = {"attrs": {k: m.attrs[k] for k in m.attrs}}
        if "data" in m:
            data.model.update({k: m["data"][k][()] for k in m["data"]})
    for group, name in (("grid", "grid_risk"), ("particles", "particle_risk")):
        if group in f and "risk" in f[group]:
            n = f[group]["t"].shape[0]
            setattr(data, name, f[group]["risk"][:n])
    if "particles" in f:
        data.dimension = int(f["particles"].attrs.get("dimension", 1))
    if "grid" in f and int(f["grid"].attrs.get("dimension", 1)) == 2:
        data.dimension = 2
        g = f["grid"]
        n = g["t"].shape[0]
        data.x_edges = [g["x1_edges"][()], g["x2_edges"][()]]
        data.grid_t = g["t"][()]
        data.grid_rho = g["rho"][:n]
        if "g" in g:
            data.v_edges = [g["v1_edges"][()], g["v2_edges"][()]]
            data.grid_g = g["g"][:n]
        if "f" in g and "f_t" in g:
            m = g["f_t"].shape[0]
            data.grid_f_t = g["f_t"][()]
            data.grid_f = g["f"][:m]
        d = g["diagnostics"]
        m = d["t"].shape[0]
        data.diagnostics = {k: d[k][:m] for k in d}
    elif "grid" in f:
        g = f["grid"]
        n = g["t"].shape[0]
        data.x_edges = g["x_edges"][()]
        data.grid_t = g["t"][()]
        data.grid_rho = g["rho"][:n]
        if "f" in g:
            data.v_edges = g["v_edges"][()]
            data.grid_f = g["f"][:n]
        d = g["diagnostics"]
        m = d["t"].shape[0]
        data.diagnostics = {k: d[k][:m] for k in d}
    if "particles" in f:
        p = f["particles"]
        n = p["t"].shape[0]
        data.particle_t = p["t"][()]
        data.particle_attrs = {k: p.attrs[k] for k in p.attrs}
        if load_particles:
            data.particle_x = p["x"][:n]
            if "v" in p:
                data.particle_v = p["v"][:n]
    if "compare" in f:
        c = f["compare"]
        n = c["t"].shape[0]
        data.compare = {k: c[k][:n] for k in c}
    return data
