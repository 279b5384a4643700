"""The HDF5 run file: written snapshot by snapshot, readable after any interruption.

Layout (see DESIGN §6)::

    /                       attrs: vfp_version, created, config, versions, status, ...
    /grid/x, /grid/v        cell centres (dimension scales); /grid/x_edges, /grid/v_edges
    /grid/t                 snapshot times written so far
    /grid/f                 [n_t, n_x, n_v] (kinetic);  /grid/rho [n_t, n_x] always
    /grid/diagnostics/      t, dt, mass, min, boundary_mass, free_energy
    /particles/t, /particles/x, /particles/v   [n_t, n_stored]; attrs n, seed, scheme, ...
    /compare/t, /compare/<metric>

Every dataset is created up front and the file is then switched to SWMR (single writer,
multiple readers) mode: appends only grow datasets and each ``flush`` leaves a file that
is consistent on disk, so a run killed with SIGKILL still opens and holds every snapshot
flushed before the kill. Final attributes (status, timings) are written after the run by
reopening the file normally.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

__all__ = ["RunWriter", "StoreError", "open_run", "read_run", "RunData", "package_versions"]


class StoreError(ValueError):
    """A file that is missing, not HDF5, or not a vfp run file."""


def package_versions() -> dict:
    import numba
    import scipy

    from . import __version__

    return {"vfp": __version__, "numpy": np.__version__, "numba": numba.__version__,
            "scipy": scipy.__version__, "h5py": h5py.__version__,
            "hdf5": h5py.version.hdf5_version}


def _growing(group, name, tail_shape, dtype="f8", chunk_rows=1):
    return group.create_dataset(name, shape=(0, *tail_shape), maxshape=(None, *tail_shape),
                                dtype=dtype, chunks=(chunk_rows, *tail_shape) if tail_shape
                                else (max(chunk_rows, 64),))


def _append(ds, values):
    values = np.asarray(values)
    n = ds.shape[0]
    ds.resize(n + 1, axis=0)
    ds[n] = values
    ds.flush()


class RunWriter:
    """Creates the run file and appends snapshots as they arrive.

    Parameters
    ----------
    path : path-like
        Output file (parent directories are created; an existing file is replaced).
    config_text : str
        The TOML text of the run, stored in the root attribute ``config``.
    grid : dict or None
        ``{"x_edges", "v_edges" (None for overdamped)}`` when the grid solver runs.
    particles : dict or None
        ``{"n", "n_stored", "kinetic", "seed", "scheme", "dt"}`` when particles run.
    compare_keys : sequence of str
        Names of the comparison datasets written at each snapshot.
    attrs : dict
        Extra root attributes (e.g. ``regime``).
    """

    def __init__(self, path, config_text="", grid=None, particles=None, compare_keys=(),
                 attrs=None):
        self.path = Path(path)
        self.estimator = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = h5py.File(self.path, "w", libver="latest")
        f = self.file
        f.attrs["vfp_version"] = package_versions()["vfp"]
        f.attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        f.attrs["config"] = config_text
        f.attrs["versions"] = json.dumps(package_versions())
        f.attrs["format"] = "vfp-run-1"
        f.attrs["status"] = "running"
        for key, val in (attrs or {}).items():
            f.attrs[key] = val
        self.grid_group = self._create_grid(grid) if grid is not None else None
        self.particle_group = self._create_particles(particles) if particles is not None else None
        self.compare_keys = tuple(compare_keys)
        if self.compare_keys:
            g = f.create_group("compare")
            _growing(g, "t", ())
            for key in self.compare_keys:
                _growing(g, key, ())
        f.swmr_mode = True
        f.flush()

    # -- layout ---------------------------------------------------------------------------
    def _create_grid(self, spec):
        g = self.file.create_group("grid")
        x_edges = np.asarray(spec["x_edges"], dtype=float)
        xc = 0.5 * (x_edges[1:] + x_edges[:-1])
        g["x_edges"] = x_edges
        g["x"] = xc
        g["x"].make_scale("x")
        g["x"].attrs["units"] = "position (cell centres)"
        _growing(g, "t", ())
        g["t"].make_scale("t")
        rho = _growing(g, "rho", (len(xc),))
        rho.dims[0].attach_scale(g["t"])
        rho.dims[1].attach_scale(g["x"])
        rho.attrs["description"] = "spatial density ρ(t, x), cell averages"
        if spec.get("v_edges") is not None:
            v_edges = np.asarray(spec["v_edges"], dtype=float)
            vc = 0.5 * (v_edges[1:] + v_edges[:-1])
            g["v_edges"] = v_edges
            g["v"] = vc
            g["v"].make_scale("v")
            g["v"].attrs["units"] = "velocity (cell centres)"
            fds = _growing(g, "f", (len(xc), len(vc)))
            fds.dims[0].attach_scale(g["t"])
            fds.dims[1].attach_scale(g["x"])
            fds.dims[2].attach_scale(g["v"])
            fds.attrs["description"] = "phase-space density f(t, x, v), cell averages"
        d = g.create_group("diagnostics")
        for name in ("t", "dt", "mass", "min", "boundary_mass", "free_energy"):
            _growing(d, name, (), chunk_rows=1024)
        for key, val in spec.get("attrs", {}).items():
            g.attrs[key] = val
        return g

    def _create_particles(self, spec):
        g = self.file.create_group("particles")
        n_stored = int(spec["n_stored"])
        _growing(g, "t", ())
        for name in ("x", "v") if spec.get("kinetic", True) else ("x",):
            ds = _growing(g, name, (n_stored,), chunk_rows=1)
            ds.attrs["n"] = int(spec["n"])
            ds.attrs["seed"] = int(spec.get("seed", 0))
            ds.attrs["scheme"] = str(spec.get("scheme", ""))
        for key in ("n", "n_stored", "seed", "scheme", "dt"):
            if key in spec:
                g.attrs[key] = spec[key]
        return g

    # -- appends --------------------------------------------------------------------------
    def write_grid_snapshot(self, t, state, dv=None):
        """Append a grid snapshot: f (kinetic, with ``dv``) or ρ (overdamped)."""
        g = self.grid_group
        state = np.asarray(state, dtype=float)
        if state.ndim == 2:
            _append(g["f"], state)
            _append(g["rho"], state.sum(axis=1) * dv)
        else:
            _append(g["rho"], state)
        _append(g["t"], t)
        self.file.flush()

    def write_grid_diagnostics(self, diagnostics: dict):
        d = self.grid_group["diagnostics"]
        for name, values in diagnostics.items():
            if name in d:
                values = np.asarray(values, dtype=float)
                ds = d[name]
                n = ds.shape[0]
                ds.resize(n + len(values), axis=0)
                ds[n:] = values
                ds.flush()
        self.file.flush()

    def write_particle_snapshot(self, t, x, v=None):
        g = self.particle_group
        n_stored = g["x"].shape[1]
        _append(g["x"], np.asarray(x[:n_stored], dtype=float))
        if v is not None and "v" in g:
            _append(g["v"], np.asarray(v[:n_stored], dtype=float))
        _append(g["t"], t)
        self.file.flush()

    def write_compare(self, t, values: dict):
        g = self.file["compare"]
        # Attributes cannot be added in SWMR mode: the estimator text is kept for close().
        self.estimator = values.get("w2_emd_estimator", self.estimator)
        for key in self.compare_keys:
            _append(g[key], float(values.get(key, np.nan)))
        _append(g["t"], t)
        self.file.flush()

    def close(self, status="finished", **attrs):
        """Close the SWMR file, then reopen it to record the final status and ``attrs``."""
        if self.file is None:
            return
        self.file.flush()
        self.file.close()
        self.file = None
        with h5py.File(self.path, "r+") as f:
            f.attrs["status"] = status
            if self.estimator and "compare" in f:
                f["compare"].attrs["w2_emd_estimator"] = self.estimator
            for key, val in attrs.items():
                f.attrs[key] = json.dumps(val) if isinstance(val, dict) else val


# ---------------------------------------------------------------------------------------
# Reading


def open_run(path, mode="r") -> h5py.File:
    """Open a vfp run file, raising :class:`StoreError` with one clear line otherwise."""
    path = Path(path)
    if not path.exists():
        raise StoreError(f"{path}: no such file")
    if not path.is_file():
        raise StoreError(f"{path}: not a file")
    try:
        if not h5py.is_hdf5(path):
            raise StoreError(f"{path}: not an HDF5 file")
        try:
            f = h5py.File(path, mode)
        except OSError as exc:
            # A writer killed mid-run leaves the SWMR consistency flags set; a SWMR
            # reader may still open the file and sees every flushed snapshot.
            if mode != "r" or "already open for write" not in str(exc):
                raise
            f = h5py.File(path, "r", swmr=True)
    except StoreError:
        raise
    except OSError as exc:
        raise StoreError(f"{path}: cannot open as HDF5 ({exc})") from None
    if "vfp_version" not in f.attrs or not ({"grid", "particles"} & set(f.keys())):
        f.close()
        raise StoreError(f"{path}: HDF5 file is not a vfp run (no vfp_version attribute "
                         "or no grid/particles group)")
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

    @property
    def kinetic(self):
        return self.v_edges is not None or self.particle_v is not None


def read_run(path, load_particles=True) -> RunData:
    """Read a run file (complete or interrupted) into a :class:`RunData`."""
    with open_run(path) as f:
        data = RunData(path=Path(path), attrs={k: f.attrs[k] for k in f.attrs})
        if "grid" in f:
            g = f["grid"]
            n = g["t"].shape[0]
            data.x_edges = g["x_edges"][()]
            data.grid_t = g["t"][()]
            data.grid_rho = g["rho"][:n]
            if "f" in g:
                data.v_edges = g["v_edges"][()]
                data.grid_f = g["f"][:n]
            data.diagnostics = {k: g["diagnostics"][k][()] for k in g["diagnostics"]}
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
