"""``vfp run``: the pipeline's stages in order, written to one HDF5 file as they finish.

:func:`run` takes a :class:`~vfp.config.Config` and returns a :class:`RunResult`; the CLI
is a thin layer over it. The stages themselves (grid solve, particle simulation,
comparison) live in :mod:`vfp.pipeline`, shared with ``vfp sweep``; a library user can call
them one at a time.
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import config as cfgmod
from . import pipeline
from .background import BackgroundCompile
from .model import axis
from .pipeline import BOUNDARY_MASS_WARNING
from .progress import Progress
from .store import RunWriter

__all__ = ["RunResult", "run", "DomainWarning"]


class DomainWarning(UserWarning):
    """The domain is too small: mass reaches the outermost cells."""


@dataclass
class RunResult:
    """What a run did.

    Attributes
    ----------
    status : int
        0 finished, -1 the grid solver diverged, -2 the particles diverged.
    message : str
    success : bool
    path : Path or None
        The HDF5 file written (None when writing was off).
    times : ndarray
        Snapshot times requested.
    grid : GridSolution or None
    particles : ParticleSolution or None
    compare : dict of str → ndarray
        One array over snapshot times per comparison key.
    risk : dict of str → ndarray
        With a mean-field energy (``model.functional``): ``"grid"`` F(ρ_t) and
        ``"particles"`` F(μ^N_t) (all N particles) at every snapshot; else empty.
    timings : dict of str → float
        Seconds: grid_compile, grid_solve, particles_compile, particles_solve, compare;
        ``background_compile_wait`` when the particle and comparison kernels were compiled
        in a second process during the grid stage (:mod:`vfp.background`) and the run
        waited that long for it before the particle stage.
    warnings : list of str
    """

    status: int
    message: str
    success: bool
    path: Path | None
    times: np.ndarray
    grid: object = None
    particles: object = None
    compare: dict = field(default_factory=dict)
    risk: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# The pipeline


def run(cfg: cfgmod.Config, output=None, progress: bool = True, write: bool = True,
        check_cfl: bool = True, overwrite: bool = False) -> RunResult:
    """Run everything the config asks for and return a :class:`RunResult`.

    Parameters
    ----------
    cfg : Config
        A validated configuration (:func:`vfp.config.load` or built in Python).
    output : path-like, optional
        HDF5 file to write (default: ``cfg.output.path`` or ``runs/<config name>.h5``).
    progress : bool
        Show progress bars on stderr.
    write : bool
        Write the HDF5 file (off: results only in memory).
    check_cfl : bool
        Reject a CFL number above the scheme's positivity limit (turn off only to study
        instability on purpose).
    overwrite : bool
        Replace a finished run at ``output`` (otherwise :class:`~vfp.store.StoreError`).
    """
    cfgmod.validate(cfg, check_cfl=check_cfl)
    times = cfg.time.times()
    kinetic = cfg.model.kinetic
    path = Path(output) if output is not None else cfg.output_path()
    result = RunResult(status=0, message="finished", success=True,
                       path=path if write else None, times=times)
    keys = pipeline.compare_keys(cfg.compare.metrics, kinetic, cfg.dimension) \
        if cfg.compares else []
    compare_rows: list[dict] = []

    grid_spec = None
    if cfg.grid is not None:
        x_edges, v_edges = pipeline.grid_edges(cfg)
        grid_spec = {"x_edges": x_edges, "v_edges": v_edges,
                     "attrs": {"scheme": cfg.grid.scheme, "cfl": cfg.grid.effective_cfl()}}
        if cfg.dimension > 1 and kinetic:
            grid_spec["full_times"] = [float(times[i]) for i in cfg.full_snapshot_indices()]
    part_spec = None
    if cfg.particles is not None:
        p = cfg.particles
        part_spec = {"n": p.n, "n_stored": p.n_stored(), "kinetic": kinetic, "seed": p.seed,
                     "scheme": p.scheme, "dt": p.dt, "dimension": cfg.dimension}
    model_spec = None
    energy = cfg.model.functional
    if energy is not None:
        from .energies import describe_energy, energy_arrays

        model_spec = {"attrs": describe_energy(energy), "arrays": energy_arrays(energy)}
    writer = None
    if write:
        writer = RunWriter(path, cfg.text, grid=grid_spec, particles=part_spec,
                           compare_keys=keys, attrs={"regime": cfg.model.regime},
                           overwrite=overwrite, model=model_spec)
    background = BackgroundCompile(cfg)
    try:
        grid_states = []
        if cfg.grid is not None:
            with background.watch():
                _run_grid(cfg, times, writer, result, grid_states, progress, check_cfl)
        if result.success and cfg.particles is not None:
            if progress and background.running:
                print("vfp: particles: waiting for their kernels, compiled in a second "
                      "process during the grid stage", file=sys.stderr, flush=True)
            background.wait()
            if background.started:
                result.timings["background_compile_wait"] = background.waited
            _run_particles(cfg, times, writer, result, grid_states, keys, compare_rows,
                           progress)
        result.compare = {k: np.array([row.get(k, np.nan) for row in compare_rows])
                          for k in ["t"] + keys} if compare_rows else {}
    except KeyboardInterrupt:
        background.close()
        result.status, result.message, result.success = 1, "interrupted", False
        if writer is not None:
            writer.close(status="interrupted", message="interrupted by the user",
                         timings=result.timings)
        raise
    except Exception as exc:
        # any other failure: the file says "failed" and why, then the caller decides
        background.close()
        result.status, result.success = 1, False
        result.message = f"{type(exc).__name__}: {exc}"
        if writer is not None:
            writer.close(status="failed", message=result.message, timings=result.timings)
        raise
    background.close()
    if writer is not None:
        writer.close(status="finished" if result.success else "failed",
                     message=result.message, timings=result.timings,
                     warnings="\n".join(result.warnings))
    for text in result.warnings:
        warnings.warn(text, DomainWarning, stacklevel=2)
    return result


def _run_grid(cfg, times, writer, result, grid_states, progress, check_cfl):
    kinetic = cfg.model.kinetic
    bar = Progress("grid", times[-1], len(times), progress)
    phase_space_4d = cfg.dimension > 1 and kinetic
    if phase_space_4d:
        x_edges, v_edges = pipeline.grid_edges(cfg)
        full = set(cfg.full_snapshot_indices())
    else:
        dv = axis(cfg.grid.v).h if kinetic else None
    energy = cfg.model.functional
    if energy is not None:
        risk_edges = pipeline.grid_edges(cfg)
        result.risk["grid"] = np.full(len(times), np.nan)

    def on_snapshot(index, t, state):
        risk = None
        if energy is not None:
            risk = pipeline.grid_risk(energy, state, *risk_edges)
            result.risk["grid"][index] = risk
        if phase_space_4d:
            # the 4-D states are large: keep float32 copies for the comparison (its
            # estimators' noise is far above float32 round-off)
            grid_states.append(np.asarray(state, dtype=np.float32))
        else:
            grid_states.append(np.array(state, copy=True))
        if writer is not None:
            if phase_space_4d:
                rho, g = pipeline.grid_marginals(state, x_edges, v_edges)
                writer.write_grid_marginals(t, rho, g, state if index in full else None,
                                            risk=risk)
            elif cfg.dimension > 1:
                writer.write_grid_marginals(t, state, risk=risk)
            else:
                writer.write_grid_snapshot(t, state, dv=dv, risk=risk)
        bar.snapshot(index, t)

    try:
        sol, problem, outside = pipeline.solve_grid(
            cfg, times, on_snapshot=on_snapshot, on_progress=bar, check_cfl=check_cfl,
            on_diagnostics=writer.append_grid_diagnostics if writer is not None else None,
            keep_states=not phase_space_4d)
    finally:
        bar.close()
    if outside > BOUNDARY_MASS_WARNING:
        result.warnings.append(
            f"initial law has {outside:.2e} of its mass outside the grid (renormalised): "
            "the domain is too small")
    result.grid = sol
    result.timings["grid_compile"] = sol.compile_time
    result.timings["grid_solve"] = sol.solve_time
    result.timings["grid_steps"] = sol.n_steps
    warning = pipeline.boundary_warning(sol.max_boundary_mass, cfg.model.kinetic)
    if warning:
        result.warnings.append(warning)
    if sol.status != 0:
        result.status, result.success = -1, False
        result.message = f"grid solver: {sol.message}"


def _run_particles(cfg, times, writer, result, grid_states, keys, compare_rows, progress):
    x_edges, v_edges = pipeline.grid_edges(cfg) if cfg.grid is not None else (None, None)
    compare_time = [0.0]
    bar = Progress("particles", times[-1], len(times), progress)
    energy = cfg.model.functional
    if energy is not None:
        result.risk["particles"] = np.full(len(times), np.nan)

    def on_snapshot(index, t, x, v):
        bar.snapshot(index, t)
        risk = None
        if energy is not None:  # on all N particles, not the stored subset
            risk = pipeline.particle_risk(energy, x)
            result.risk["particles"][index] = risk
        if writer is not None:
            writer.write_particle_snapshot(t, x, v, risk=risk)
        if keys and index < len(grid_states):
            start = time.perf_counter()
            row = pipeline.compare_states(x, v, x_edges, v_edges, grid_states[index],
                                          cfg.compare, snapshot_index=index)
            row["t"] = t
            compare_rows.append(row)
            if writer is not None:
                writer.write_compare(t, row)
            compare_time[0] += time.perf_counter() - start

    try:
        sol = pipeline.simulate_particles(cfg, times=times, on_snapshot=on_snapshot,
                                          on_progress=bar)
    finally:
        bar.close()
    result.particles = sol
    result.timings["particles_compile"] = sol.compile_time
    result.timings["particles_solve"] = sol.solve_time - compare_time[0]
    result.timings["particles_steps"] = sol.n_steps
    result.timings["compare"] = compare_time[0]
    if writer is not None:
        writer.set_attrs("particles", reflected_fraction=float(sol.reflected_fraction),
                         n_reflected=int(sol.n_reflected))
    if sol.status != 0:
        result.status, result.success = -2, False
        result.message = f"particles: {sol.message}"
