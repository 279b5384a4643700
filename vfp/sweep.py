"""Propagation-of-chaos sweeps: one grid solve, the particle system for every (N, seed).

``vfp sweep CONFIG.toml --n 1000,10000 --seeds 8 -o SWEEP.h5`` (or :func:`run_sweep`)
solves the grid once, then runs one *task* per (N, seed index): a particle simulation
compared with the grid at every snapshot (:func:`vfp.pipeline.compare_states`). Tasks run

* in this process (``workers=1``),
* on local worker processes (``concurrent.futures.ProcessPoolExecutor``, spawn context,
  ``workers`` > 1; the default is one per core), or
* on an existing Dask cluster (``scheduler="tcp://host:port"`` or ``client=``; needs the
  ``dask`` extra: ``pip install 'vfp[dask]'``).

Each task's randomness depends only on (config seed, N, seed index) (:func:`task_seed`),
so every engine gives the same numbers. The main process writes each finished task into
the sweep file at once (SWMR, flushed), so an interrupted sweep keeps every finished
task and ``resume=True`` runs only the missing ones.

Sweep file layout (``format = "vfp-sweep-1"``)::

    /                        attrs: vfp_version, created, config (TOML), format, regime,
                             status, versions, fit_method, metrics
    /grid/x_edges, x, [v_edges, v], t, rho [n_t, n_x], [f [n_t, n_x, n_v]], diagnostics/
    /sweep/n [n_N]           particle numbers
    /sweep/seeds [n_seed]    seed indices 0 … n_seed − 1
    /sweep/t [n_t]           snapshot times
    /sweep/task_seed [n_N, n_seed]   the seed each task used (uint64)
    /sweep/done [n_N, n_seed]        1 finished, −1 particles diverged, 0 missing
    /sweep/seconds [n_N, n_seed]     wall time of each task
    /sweep/metrics/<key> [n_N, n_seed, n_t]   every comparison value, NaN where missing
    /sweep/summary/<key>/    for the fitted keys (FIT_KEYS): mean, sem, count,
                             floor_mean, floor_sem, excess, excess_sem [n_N, n_t];
                             slope, slope_lo, slope_hi, intercept,
                             floor_slope, floor_slope_lo, floor_slope_hi [n_t]
    /sweep/grid_risk [n_t]   with a mean-field energy (model.functional): F(ρ_t) of the
                             grid; /sweep/metrics/risk holds F(μ^N_t) of each task (all N
                             particles) and /sweep/metrics/risk_gap F(μ^N_t) − F(ρ_t),
                             whose seed mean E F(μ^N_t) − F(ρ_t) is fitted against N
                             (/sweep/summary/risk_gap; theory: slope −1)
    /sweep/exact/            linear Gaussian models only (V = a x²/2, W = κ x²/2,
                             Gaussian start): kl [n_t], kl_per_particle, com_var,
                             iid_com_var [n_N, n_t] (validation.chaos.n_particle_reference)

Metric keys are those of :func:`vfp.pipeline.compare_keys` (``w2_x``, ``kl``, ``mean_x`` …,
each distance with its i.i.d. noise floor ``<key>_floor``) plus derived squared errors
that scale like 1/N: ``<w2 key>_sq`` = W2² and ``<moment>_err2`` = (particles − grid)²,
with floors squared likewise. With a mean-field energy, ``risk`` and ``risk_gap`` (no
noise floor: the gap itself is the finite-N effect).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import time
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import h5py
import numpy as np

from vfp.validation import registry

from . import config as cfgmod
from . import pipeline

__all__ = ["SweepError", "SweepResult", "SweepData", "run_sweep", "run_task", "task_seed",
           "parse_ns", "read_sweep", "is_sweep_file", "sweep_metric_keys", "FIT_KEYS",
           "RISK_KEYS",
           "SWEEP_FORMAT", "solve_grid_states", "exact_reference_params"]

SWEEP_FORMAT = "vfp-sweep-1"
SWEEP_DEFAULT_EXCLUDED = ("w2_emd",)   # exact OT is opt-in for sweeps (seconds per call)
# from the metric registry: W2-type keys (fitted as W2²), moments (fitted as the squared
# error particles − grid) and every fitted quantity
# (d = 1 keys, then the per-axis keys of d = 2)
W2_KEYS = tuple(dict.fromkeys(registry.w2_keys() + registry.w2_keys(dimension=2)))
MOMENT_KEYS = tuple(dict.fromkeys(registry.moment_keys() + registry.moment_keys(dimension=2)))
FIT_KEYS = tuple(dict.fromkeys(registry.fit_keys() + registry.fit_keys(dimension=2)))
#: per-task risk keys of a sweep with a mean-field energy; ``risk_gap`` is fitted against N
RISK_KEYS = ("risk", "risk_gap")
_SEED_TAG = 0x5EED5


class SweepError(ValueError):
    """A bad sweep argument or file; ``key`` names the option."""

    def __init__(self, key, message):
        self.key = key
        super().__init__(f"{key}: {message}")


# ---------------------------------------------------------------------------------------
# Arguments


def parse_ns(text) -> list[int]:
    """``"1000,10000,1e5"`` → [1000, 10000, 100000]; raises :class:`SweepError` (--n)."""
    out = []
    for item in str(text).split(","):
        item = item.strip()
        try:
            val = float(item)
        except ValueError:
            raise SweepError("--n", f"not a number: {item!r} (give e.g. --n 1000,10000)") from None
        if not np.isfinite(val) or val != int(val) or val < 2:
            raise SweepError("--n", f"particle numbers must be integers ≥ 2 (got {item!r})")
        out.append(int(val))
    if len(set(out)) != len(out):
        raise SweepError("--n", "repeated particle number")
    return sorted(out)


def task_seed(config_seed: int, n: int, seed_index: int) -> int:
    """The seed of task (N, seed index): a hash of (config seed, N, seed index), 63 bits."""
    ss = np.random.SeedSequence([int(config_seed), int(n), int(seed_index), _SEED_TAG])
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def _explicit_metrics(cfg):
    try:
        data = tomllib.loads(cfg.text) if cfg.text else {}
    except tomllib.TOMLDecodeError:
        data = {}
    return "metrics" in data.get("compare", {})


def sweep_metrics(cfg, metrics=None) -> tuple:
    """Metric names of a sweep: ``metrics``, else the config's [compare] metrics when listed
    explicitly, else all of them but exact OT (``w2_emd``, opt-in: seconds per call)."""
    if metrics is not None:
        bad = [m for m in metrics if m not in cfgmod.COMPARE_METRICS]
        if bad:
            raise SweepError("--metrics", f"unknown metric {bad[0]!r} (choose from "
                                          f"{', '.join(cfgmod.COMPARE_METRICS)})")
        return tuple(metrics)
    if cfg.compare is not None and _explicit_metrics(cfg):
        return tuple(cfg.compare.metrics)
    return tuple(m for m in cfgmod.COMPARE_METRICS if m not in SWEEP_DEFAULT_EXCLUDED)


def sweep_metric_keys(metrics, kinetic, dimension: int = 1, energy: bool = False) -> list[str]:
    """Dataset names under /sweep/metrics: comparison keys plus the derived squares, and
    :data:`RISK_KEYS` when the model has a mean-field energy."""
    keys = list(pipeline.compare_keys(metrics, kinetic, dimension))
    if energy:
        keys += list(RISK_KEYS)
    for k in W2_KEYS:
        if k in keys:
            keys += [f"{k}_sq", f"{k}_sq_floor"]
    for k in MOMENT_KEYS:
        if k in keys and f"{k}_grid" in keys:
            keys += [f"{k}_err2", f"{k}_err2_floor"]
    return keys


def _derive(row: dict) -> dict:
    for k in W2_KEYS:
        if k in row:
            row[f"{k}_sq"] = row[k] ** 2
            if f"{k}_floor" in row:
                row[f"{k}_sq_floor"] = row[f"{k}_floor"] ** 2
    for k in MOMENT_KEYS:
        if k in row and f"{k}_grid" in row:
            row[f"{k}_err2"] = (row[k] - row[f"{k}_grid"]) ** 2
            if f"{k}_floor" in row:
                row[f"{k}_err2_floor"] = row[f"{k}_floor"] ** 2
    return row


# ---------------------------------------------------------------------------------------
# One task (runs in a worker)


_CONFIG_CACHE: dict = {}


def _worker_config(shared):
    if shared.get("config") is not None:
        return shared["config"]
    key = (shared["config_text"], shared["config_source"])
    cfg = _CONFIG_CACHE.get(key)
    if cfg is None:
        cfg = cfgmod.loads(shared["config_text"], source=shared["config_source"])
        _CONFIG_CACHE.clear()
        _CONFIG_CACHE[key] = cfg
    return cfg


def run_task(shared: dict, n: int, seed_index: int) -> dict:
    """Simulate N particles with seed index ``seed_index`` and compare at every snapshot.

    Parameters
    ----------
    shared : dict
        Built by :func:`run_sweep`: config (text or object), snapshot times, grid edges and
        grid states, metric names, keys.
    n, seed_index : int

    Returns
    -------
    dict
        ``n``, ``seed_index``, ``task_seed``, ``status`` (0 or the simulator's), ``message``,
        ``values`` (key → array over snapshot times), ``seconds``, ``estimator``.
    """
    start = time.perf_counter()
    cfg = _worker_config(shared)
    seed = task_seed(shared["config_seed"], n, seed_index)
    ccfg = replace(cfg.compare or cfgmod.CompareConfig(), metrics=tuple(shared["metrics"]),
                   seed=seed % (1 << 48))
    times = np.asarray(shared["times"])
    states = shared["states"]
    keys = shared["keys"]
    values = {k: np.full(times.size, np.nan) for k in keys}
    estimator = [None]
    energy = cfg.model.functional
    grid_risk = shared.get("grid_risk")

    def on_snapshot(index, t, x, v):
        if energy is not None:  # F(μ^N_t) on all N particles
            values["risk"][index] = pipeline.particle_risk(energy, x)
            values["risk_gap"][index] = values["risk"][index] - grid_risk[index]
        row = pipeline.compare_states(x, v, shared["x_edges"], shared["v_edges"],
                                      states[index], ccfg, snapshot_index=index)
        estimator[0] = row.pop("w2_emd_estimator", estimator[0])
        _derive(row)
        for k in keys:
            if k in row:
                values[k][index] = row[k]

    sol = pipeline.simulate_particles(cfg, n=n, seed=seed, times=times,
                                      on_snapshot=on_snapshot)
    return {"n": int(n), "seed_index": int(seed_index), "task_seed": seed,
            "status": int(sol.status), "message": sol.message, "values": values,
            "seconds": time.perf_counter() - start, "estimator": estimator[0]}


# Worker processes of the local pool receive ``shared`` once, through the initializer.
_POOL_SHARED: dict = {}


def _pool_init(shared, threads):
    _POOL_SHARED.clear()
    _POOL_SHARED.update(shared)
    if threads:
        try:
            import numba

            numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
        except Exception:  # pragma: no cover - thread count is only a performance hint
            pass


def _pool_task(n, seed_index):
    return run_task(_POOL_SHARED, n, seed_index)


# ---------------------------------------------------------------------------------------
# Engines


def _run_serial(shared, tasks, on_result):
    for n, s in tasks:
        on_result(run_task(shared, n, s))


def _run_pool(shared, tasks, on_result, workers):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = max(1, (os.cpu_count() or 1) // workers)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_pool_init, initargs=(shared, threads))
    futures = [pool.submit(_pool_task, n, s) for n, s in tasks]
    try:
        for fut in as_completed(futures):
            on_result(fut.result())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _dask_client(scheduler):
    try:
        from dask.distributed import Client
    except ImportError:
        raise SweepError("--scheduler", "needs dask.distributed (pip install 'vfp[dask]')") from None
    try:
        return Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise SweepError("--scheduler", f"cannot connect to {scheduler!r} ({exc})") from None


def _run_dask(shared, tasks, on_result, client):
    from dask.distributed import as_completed

    token = f"{os.getpid()}-{time.time_ns()}"
    # A one-element list, so the whole dict is one scattered object (a dict would be
    # scattered key by key).
    [shared_f] = client.scatter([shared], broadcast=True, hash=False)
    futures = [client.submit(run_task, shared_f, n, s, pure=False,
                             key=f"vfp-sweep-{n}-{s}-{token}") for n, s in tasks]
    try:
        for fut in as_completed(futures):
            on_result(fut.result())
    except BaseException:
        client.cancel(futures)
        raise


# ---------------------------------------------------------------------------------------
# Grid


def solve_grid_states(cfg, times):
    """Solve the grid once; returns (states, x_edges, v_edges, diagnostics, info)."""
    sol, problem, outside = pipeline.solve_grid(cfg, times)
    if sol.status != 0:
        raise SweepError("grid", f"grid solver: {sol.message}")
    x_edges, v_edges = pipeline.grid_edges(cfg)
    info = {"grid_solve": sol.solve_time, "grid_compile": sol.compile_time,
            "initial_outside": outside, "max_boundary_mass": sol.max_boundary_mass}
    # 4-D phase-space states are kept (and stored) as float32, as in a run file
    dtype = np.float32 if cfg.dimension > 1 and cfg.model.kinetic else np.float64
    return [np.asarray(s, dtype=dtype) for s in sol.states], x_edges, v_edges, \
        sol.diagnostics, info


def exact_reference_params(cfg):
    """(a, κ, var0 / cov0) when the model is V = a x²/2, W = κ x²/2 (or none) with one
    Gaussian initial law, else None."""
    m = cfg.model
    if cfg.dimension > 1 or getattr(m, "functional", None) is not None:
        return None     # an energy's drift is not in the linear-Gaussian reference
    gp = m.potential.grad_polynomial
    if gp is None or len(gp) != 2 or gp[0] != 0.0 or gp[1] <= 0:
        return None
    kappa = 0.0
    if m.interaction is not None:
        gw = m.interaction.grad_polynomial
        if gw is None or len(gw) > 2 or gw[0] != 0.0:
            return None
        kappa = float(gw[1]) if len(gw) == 2 else 0.0
    ini = cfg.initial
    if len(ini.weights) != 1:
        return None
    cov0 = ini.component_covs()[0]  # diag(std²), or the full `initial.cov` (x–v correlated)
    out = {"a": float(gp[1]), "kappa": kappa, "temperature": m.temperature}
    if m.kinetic:
        out.update(cov0=cov0, gamma=m.gamma)
    else:
        out.update(var0=float(cov0[0, 0]))
    return out


# ---------------------------------------------------------------------------------------
# The file


def _versions():
    from .store import package_versions

    return package_versions()


class _SweepWriter:
    """Creates the sweep file up front (fixed shapes, NaN), then writes tasks in SWMR mode."""

    def __init__(self, path, cfg, ns, seeds, times, keys, grid, metrics, exact, prefill,
                 grid_risk=None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        ns, seeds = np.asarray(ns), np.asarray(seeds)
        n_n, n_s, n_t = ns.size, seeds.size, len(times)
        self.keys = list(keys)
        self.fit_keys = [k for k in FIT_KEYS if k in keys] + \
            (["risk_gap"] if "risk_gap" in keys else [])
        self.estimator = None
        with h5py.File(tmp, "w", libver="latest") as f:
            v = _versions()
            f.attrs["vfp_version"] = v["vfp"]
            f.attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            f.attrs["config"] = cfg.text
            f.attrs["versions"] = json.dumps(v)
            f.attrs["format"] = SWEEP_FORMAT
            f.attrs["regime"] = cfg.model.regime
            f.attrs["status"] = "running"
            f.attrs["metrics"] = ",".join(metrics)
            from vfp.validation.chaos import FIT_METHOD

            f.attrs["fit_method"] = FIT_METHOD
            self._grid(f, grid, times)
            s = f.create_group("sweep")
            s["n"] = ns.astype(np.int64)
            s["seeds"] = seeds.astype(np.int64)
            s["t"] = np.asarray(times, dtype=float)
            if grid_risk is not None:
                s["grid_risk"] = np.asarray(grid_risk, dtype=float)
                s["grid_risk"].attrs["description"] = "F(ρ_t) of the grid's x-marginal"
            s["task_seed"] = np.array([[task_seed(cfg.particles.seed, n, j) for j in seeds]
                                       for n in ns], dtype=np.uint64)
            s.attrs["config_seed"] = cfg.particles.seed
            s.attrs["dt"] = cfg.particles.dt
            s.attrs["scheme"] = cfg.particles.scheme
            s["done"] = prefill.get("done", np.zeros((n_n, n_s), np.int8))
            s["done"].attrs["meaning"] = "1 finished, -1 particles diverged, 0 missing"
            s["seconds"] = prefill.get("seconds", np.full((n_n, n_s), np.nan))
            g = s.create_group("metrics")
            for k in self.keys:
                g.create_dataset(k, data=prefill.get(k, np.full((n_n, n_s, n_t), np.nan)),
                                 chunks=(1, 1, n_t))
            sm = s.create_group("summary")
            sm.attrs["method"] = FIT_METHOD
            for k in self.fit_keys:
                h = sm.create_group(k)
                for name in ("mean", "sem", "count", "floor_mean", "floor_sem", "excess",
                             "excess_sem"):
                    h.create_dataset(name, data=np.full((n_n, n_t), np.nan))
                for name in ("slope", "slope_lo", "slope_hi", "intercept", "floor_slope",
                             "floor_slope_lo", "floor_slope_hi", "floor_intercept"):
                    h.create_dataset(name, data=np.full(n_t, np.nan))
            if exact is not None:
                e = s.create_group("exact")
                for key, val in exact.items():
                    if key == "params":
                        for pk, pv in val.items():
                            e.attrs[pk] = np.asarray(pv)
                    else:
                        e[key] = val
                e.attrs["note"] = ("exact N-particle Gaussian law (validation.chaos."
                                   "n_particle_reference); ignores the truncation of the "
                                   "initial law to the domain and the time-step error")
        os.replace(tmp, self.path)
        self.file = h5py.File(self.path, "r+", libver="latest")
        self.file.swmr_mode = True
        self.index_n = {int(n): i for i, n in enumerate(ns)}
        self.index_s = {int(j): i for i, j in enumerate(seeds)}

    @staticmethod
    def _grid(f, grid, times):
        if isinstance(grid["x_edges"], (list, tuple)):
            _SweepWriter._grid_2d(f, grid, times)
            return
        g = f.create_group("grid")
        ex = np.asarray(grid["x_edges"], float)
        g["x_edges"] = ex
        g["x"] = 0.5 * (ex[1:] + ex[:-1])
        g["t"] = np.asarray(times, float)
        states = np.asarray(grid["states"])
        if grid.get("v_edges") is not None:
            ev = np.asarray(grid["v_edges"], float)
            g["v_edges"] = ev
            g["v"] = 0.5 * (ev[1:] + ev[:-1])
            g["f"] = states
            g["rho"] = states.sum(axis=2) * np.diff(ev)[0]
        else:
            g["rho"] = states
        d = g.create_group("diagnostics")
        for k, val in (grid.get("diagnostics") or {}).items():
            d[k] = np.asarray(val, float)

    @staticmethod
    def _grid_2d(f, grid, times):
        """d = 2: per-axis edges and centres, ρ [n_t, n1, n2], g [n_t, nv1, nv2] and the
        full density f (float32) at every snapshot (kinetic), as in a run file."""
        g = f.create_group("grid")
        g.attrs["dimension"] = 2
        for prefix, edges in (("x", grid["x_edges"]), ("v", grid.get("v_edges"))):
            for k, e in enumerate(edges or (), start=1):
                e = np.asarray(e, float)
                g[f"{prefix}{k}_edges"] = e
                g[f"{prefix}{k}"] = 0.5 * (e[1:] + e[:-1])
        g["t"] = np.asarray(times, float)
        states = np.asarray(grid["states"])
        if grid.get("v_edges") is not None:
            rho, gm = zip(*(pipeline.grid_marginals(np.asarray(st, float), grid["x_edges"],
                                                    grid["v_edges"]) for st in states))
            g["rho"] = np.asarray(rho)
            g["g"] = np.asarray(gm)
            g.create_dataset("f", data=states.astype(np.float32), compression="gzip",
                             compression_opts=1, shuffle=True)
        else:
            g["rho"] = states
        d = g.create_group("diagnostics")
        for k, val in (grid.get("diagnostics") or {}).items():
            d[k] = np.asarray(val, float)

    def write_task(self, res):
        s = self.file["sweep"]
        i, j = self.index_n[res["n"]], self.index_s[res["seed_index"]]
        for k in self.keys:
            ds = s["metrics"][k]
            ds[i, j, :] = res["values"].get(k, np.nan)
            ds.flush()
        if res.get("estimator"):
            self.estimator = res["estimator"]
        s["seconds"][i, j] = res["seconds"]
        s["seconds"].flush()
        s["done"][i, j] = 1 if res["status"] == 0 else -1
        s["done"].flush()
        self.file.flush()

    def write_summary(self, summary):
        sm = self.file["sweep"]["summary"]
        for k, parts in summary.items():
            for name, val in parts.items():
                if name in sm[k]:
                    sm[k][name][...] = val
                    sm[k][name].flush()
        self.file.flush()

    def metrics(self):
        s = self.file["sweep"]
        return {k: s["metrics"][k][()] for k in self.keys}

    def close(self, status, **attrs):
        if self.file is None:
            return
        self.file.flush()
        self.file.close()
        self.file = None
        with h5py.File(self.path, "r+") as f:
            f.attrs["status"] = status
            if self.estimator:
                f["sweep"].attrs["w2_emd_estimator"] = self.estimator
            for key, val in attrs.items():
                f.attrs[key] = json.dumps(val) if isinstance(val, dict) else val


def summarise(ns, metrics: dict, fit_keys, n_boot=2000, seed=0) -> dict:
    """Means, floors, excesses and fitted slopes (:func:`validation.chaos.slope_fit`)."""
    from vfp.validation.chaos import slope_fit

    out = {}
    for k in fit_keys:
        vals = metrics[k]
        fit = slope_fit(ns, vals, n_boot=n_boot, seed=seed)
        part = {name: fit[name] for name in ("mean", "sem", "count", "slope", "slope_lo",
                                             "slope_hi", "intercept")}
        floor = metrics.get(f"{k}_floor")
        if floor is not None:
            ffit = slope_fit(ns, floor, n_boot=n_boot, seed=seed)
            part.update(floor_mean=ffit["mean"], floor_sem=ffit["sem"],
                        floor_slope=ffit["slope"], floor_slope_lo=ffit["slope_lo"],
                        floor_slope_hi=ffit["slope_hi"], floor_intercept=ffit["intercept"])
            diff = vals - floor                            # paired: same task
            ok = np.isfinite(diff)
            c = ok.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                ex = np.where(c > 0, np.where(ok, diff, 0).sum(axis=1) / np.maximum(c, 1), np.nan)
                dev = np.where(ok, diff - ex[:, None, :], 0.0)
                sd = np.sqrt((dev * dev).sum(axis=1) / np.maximum(c - 1, 1))
            part.update(excess=ex, excess_sem=np.where(c > 1, sd / np.sqrt(np.maximum(c, 1)),
                                                       np.nan))
        out[k] = part
    return out


# ---------------------------------------------------------------------------------------
# Reading


@dataclass
class SweepData:
    """A sweep file as arrays."""

    path: Path
    attrs: dict
    ns: np.ndarray
    seeds: np.ndarray
    t: np.ndarray
    done: np.ndarray
    seconds: np.ndarray
    task_seed: np.ndarray
    metrics: dict
    summary: dict
    exact: dict | None = None
    x_edges: np.ndarray | None = None
    v_edges: np.ndarray | None = None
    grid_states: np.ndarray | None = None
    diagnostics: dict = field(default_factory=dict)
    grid_risk: np.ndarray | None = None

    @property
    def kinetic(self):
        return self.v_edges is not None


def _open(path, mode="r"):
    from .store import StoreError

    path = Path(path)
    if not path.is_file():
        raise StoreError(f"{path}: no such file")
    try:
        return h5py.File(path, mode)
    except OSError as exc:
        if mode == "r" and "already open for write" in str(exc):
            return h5py.File(path, "r", swmr=True)
        raise StoreError(f"{path}: cannot open as HDF5 ({exc})") from None


def is_sweep_file(path) -> bool:
    """True when ``path`` is an HDF5 sweep file (attribute ``format = vfp-sweep-1``)."""
    try:
        if not h5py.is_hdf5(path):
            return False
        with _open(path) as f:
            return f.attrs.get("format") == SWEEP_FORMAT
    except Exception:
        return False


def _edges_of(g, prefix):
    """The edges of the sweep file's grid axes: one array (d = 1), a list (d = 2), None."""
    if f"{prefix}_edges" in g:
        return g[f"{prefix}_edges"][()]
    if f"{prefix}1_edges" in g:
        return [g[f"{prefix}{k}_edges"][()] for k in (1, 2)]
    return None


def read_sweep(path) -> SweepData:
    """Read a sweep file (complete or interrupted)."""
    from .store import StoreError

    with _open(path) as f:
        if f.attrs.get("format") != SWEEP_FORMAT or "sweep" not in f:
            raise StoreError(f"{path}: not a vfp sweep file")
        s = f["sweep"]
        g = f["grid"]
        summary = {k: {n: s["summary"][k][n][()] for n in s["summary"][k]}
                   for k in s["summary"]}
        exact = None
        if "exact" in s:
            exact = {k: s["exact"][k][()] for k in s["exact"]}
            exact["params"] = {k: s["exact"].attrs[k] for k in s["exact"].attrs}
        return SweepData(
            path=Path(path), attrs={k: f.attrs[k] for k in f.attrs},
            ns=s["n"][()], seeds=s["seeds"][()], t=s["t"][()], done=s["done"][()],
            seconds=s["seconds"][()], task_seed=s["task_seed"][()],
            metrics={k: s["metrics"][k][()] for k in s["metrics"]}, summary=summary,
            exact=exact, x_edges=_edges_of(g, "x"), v_edges=_edges_of(g, "v"),
            grid_states=g["f"][()] if "f" in g else g["rho"][()],
            diagnostics={k: g["diagnostics"][k][()] for k in g["diagnostics"]},
            grid_risk=s["grid_risk"][()] if "grid_risk" in s else None)


# ---------------------------------------------------------------------------------------
# The driver


def _as_edges(edges):
    """Edges as arrays: one array (d = 1), a list of arrays (d = 2), or None."""
    if edges is None:
        return None
    if isinstance(edges, (list, tuple)):
        return [np.asarray(e, dtype=float) for e in edges]
    return np.asarray(edges, dtype=float)


@dataclass
class SweepResult:
    """What :func:`run_sweep` did."""

    path: Path
    ns: np.ndarray
    seeds: np.ndarray
    t: np.ndarray
    metrics: dict
    summary: dict
    done: np.ndarray
    ran: int
    skipped: int
    engine: str
    timings: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    grid_risk: np.ndarray | None = None


def _exact(cfg, ns, times):
    params = exact_reference_params(cfg)
    if params is None:
        return None
    from vfp.validation.chaos import n_particle_reference

    kw = {k: params[k] for k in ("var0", "cov0", "gamma") if k in params}
    rows = [[n_particle_reference(t, n, params["a"], params["kappa"], params["temperature"],
                                  **kw) for t in times] for n in ns]
    out = {name: np.array([[r[name] for r in row] for row in rows])
           for name in ("kl_per_particle", "com_var", "iid_com_var")}
    out["kl"] = np.array([r["kl"] for r in rows[0]])
    out["params"] = {k: v for k, v in params.items()}
    return out


def run_sweep(cfg, ns, n_seeds, output=None, *, workers=None, scheduler=None, client=None,
              resume=False, metrics=None, progress=True, n_boot=2000) -> SweepResult:
    """Run the particle system for every (N, seed index) against one grid solution.

    Parameters
    ----------
    cfg : Config
        Needs [grid] and [particles]; ``particles.n`` is ignored (``ns`` replaces it).
    ns : sequence of int
        Particle numbers.
    n_seeds : int
        Seeds per N (seed indices 0 … n_seeds − 1).
    output : path-like, optional
        Sweep file (default ``runs/<config stem>_sweep.h5``).
    workers : int, optional
        Local worker processes (default: one per core); 1 runs in this process.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:port``); connected to before
        any work starts.
    client : dask.distributed.Client, optional
        Use this client (e.g. on a ``LocalCluster``) instead of ``scheduler``.
    resume : bool
        Keep the finished tasks of an existing file and run only the missing ones.
        The config must be the same; ``ns`` and ``n_seeds`` may extend the file's.
    metrics : sequence of str, optional
        Comparison metrics (default: :func:`sweep_metrics`).
    progress : bool
        Progress bar over tasks on stderr.
    n_boot : int
        Bootstrap resamples of the slope interval.

    Returns
    -------
    SweepResult
    """
    own_client = None
    if client is None and scheduler is not None:
        client = own_client = _dask_client(scheduler)
    try:
        return _run_sweep(cfg, ns, n_seeds, output, workers=workers, client=client,
                          resume=resume, metrics=metrics, progress=progress, n_boot=n_boot)
    finally:
        if own_client is not None:
            own_client.close()


def _run_sweep(cfg, ns, n_seeds, output=None, *, workers=None, client=None,
               resume=False, metrics=None, progress=True, n_boot=2000) -> SweepResult:
    """The body of :func:`run_sweep` (the client is already connected)."""
    cfgmod.validate(cfg)
    if cfg.grid is None or cfg.particles is None:
        raise SweepError("config", "a sweep needs both [grid] and [particles]")
    ns = [int(n) for n in ns]
    if not ns or min(ns) < 2:
        raise SweepError("--n", "give at least one particle number ≥ 2")
    if isinstance(n_seeds, bool) or int(n_seeds) != n_seeds or n_seeds < 1:
        raise SweepError("--seeds", f"must be an integer ≥ 1 (got {n_seeds!r})")
    if workers is not None and (int(workers) != workers or workers < 1):
        raise SweepError("--workers", f"must be an integer ≥ 1 (got {workers!r})")
    ns = sorted(set(ns))
    seeds = list(range(int(n_seeds)))
    path = Path(output) if output is not None else Path("runs") / (
        (Path(cfg.source).stem if cfg.source else "sweep") + "_sweep.h5")
    kinetic = cfg.model.kinetic
    metric_names = sweep_metrics(cfg, metrics)
    energy = cfg.model.functional
    keys = sweep_metric_keys(metric_names, kinetic, cfg.dimension, energy is not None)
    times = cfg.time.times()
    timings = {}
    result_warnings = []

    prefill, grid = {}, None
    if resume and path.exists():
        old = read_sweep(path)
        if str(old.attrs.get("config", "")) != cfg.text:
            raise SweepError("--resume", f"{path} was made with a different config")
        if set(old.metrics) != set(keys):
            raise SweepError("--resume", f"{path} holds other metrics ({old.attrs.get('metrics')})")
        missing_n = sorted(set(old.ns.tolist()) - set(ns))
        if missing_n:
            ns = sorted(set(ns) | set(old.ns.tolist()))
        if len(old.seeds) > len(seeds):
            seeds = list(range(len(old.seeds)))
        i_map = [ns.index(int(n)) for n in old.ns]
        j_map = [seeds.index(int(s)) for s in old.seeds]
        ix = np.ix_(i_map, j_map)
        done = np.zeros((len(ns), len(seeds)), np.int8)
        done[ix] = old.done
        secs = np.full((len(ns), len(seeds)), np.nan)
        secs[ix] = old.seconds
        prefill = {"done": done, "seconds": secs}
        for k in keys:
            arr = np.full((len(ns), len(seeds), len(times)), np.nan)
            arr[ix] = old.metrics[k]
            prefill[k] = arr
        grid = {"x_edges": old.x_edges, "v_edges": old.v_edges,
                "states": list(old.grid_states), "diagnostics": old.diagnostics}
    if grid is None:
        start = time.perf_counter()
        states, x_edges, v_edges, diagnostics, info = solve_grid_states(cfg, times)
        timings["grid"] = time.perf_counter() - start
        warning = pipeline.boundary_warning(info["max_boundary_mass"], kinetic)
        if warning:
            result_warnings.append(warning)
        grid = {"x_edges": x_edges, "v_edges": v_edges, "states": states,
                "diagnostics": diagnostics}

    exact = _exact(cfg, ns, times)
    grid_risk = None
    if energy is not None:
        edges = (_as_edges(grid["x_edges"]), _as_edges(grid["v_edges"]))
        grid_risk = np.array([pipeline.grid_risk(energy, np.asarray(st, dtype=float), *edges)
                              for st in grid["states"]])
    writer = _SweepWriter(path, cfg, ns, seeds, times, keys, grid, metric_names, exact, prefill,
                          grid_risk=grid_risk)
    done = prefill.get("done", np.zeros((len(ns), len(seeds)), np.int8))
    tasks = [(n, s) for i, n in enumerate(ns) for j, s in enumerate(seeds) if done[i, j] == 0]
    # Largest N first: the longest tasks start early, so workers finish together.
    tasks.sort(key=lambda ts: (-ts[0], ts[1]))
    skipped = len(ns) * len(seeds) - len(tasks)
    shared = {"config_text": cfg.text, "config_source": cfg.source,
              "config": None if cfg.text else cfg, "config_seed": cfg.particles.seed,
              "times": times, "x_edges": _as_edges(grid["x_edges"]),
              "v_edges": _as_edges(grid["v_edges"]),
              "states": [np.asarray(s) for s in grid["states"]], "metrics": metric_names,
              "keys": keys, "grid_risk": grid_risk}

    bar = None
    if progress and tasks:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tasks), desc="sweep", unit="task", file=sys.stderr)
    failed = []

    def on_result(res):
        writer.write_task(res)
        if res["status"] != 0:
            failed.append(f"N = {res['n']}, seed {res['seed_index']}: {res['message']}")
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(f"N={res['n']} seed={res['seed_index']}", refresh=False)

    if client is not None:
        engine = "dask"
    else:
        workers = workers or (os.cpu_count() or 1)
        workers = min(workers, max(1, len(tasks)))
        engine = "serial" if workers == 1 else f"processes({workers})"
    start = time.perf_counter()
    status = "finished"
    try:
        if tasks:
            if engine == "dask":
                _run_dask(shared, tasks, on_result, client)
            elif engine == "serial":
                _run_serial(shared, tasks, on_result)
            else:
                _run_pool(shared, tasks, on_result, workers)
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    except BaseException:
        status = "failed"
        raise
    finally:
        if bar is not None:
            bar.close()
        timings["tasks"] = time.perf_counter() - start
        values = writer.metrics()
        summary = summarise(ns, values, writer.fit_keys, n_boot=n_boot)
        writer.write_summary(summary)
        done_now = writer.file["sweep"]["done"][()]
        writer.close(status=status, timings=timings, engine=engine,
                     warnings="\n".join(result_warnings + failed))
    if failed:
        result_warnings += failed
    return SweepResult(path=path, ns=np.array(ns), seeds=np.array(seeds), t=times,
                       metrics=values, summary=summary, done=done_now, ran=len(tasks),
                       skipped=skipped, engine=engine, timings=timings,
                       warnings=result_warnings, grid_risk=grid_risk)
