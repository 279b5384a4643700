"""The run pipeline: grid solve, particle simulation, comparison, storage.

:func:`run` takes a :class:`~vfp.config.Config` and returns a :class:`RunResult`; the CLI
is a thin layer over it. Each stage is its own function so a library user can call them
one at a time (``build_grid_problem``, ``solve_grid``, ``simulate_particles``,
``compare_states``).
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import config as cfgmod
from .potentials import GaussianKernelPotential, Potential
from .store import RunWriter

__all__ = ["RunResult", "run", "build_grid_problem", "particle_forces", "compare_keys",
           "compare_states", "BOUNDARY_MASS_WARNING"]

BOUNDARY_MASS_WARNING = 1e-6


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
    timings : dict of str → float
        Seconds: grid_compile, grid_solve, particles_compile, particles_solve, compare.
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
    timings: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# Wiring the model into the solvers (plain arrays and callables only)


def _axis(axis_cfg):
    from vfp.grids.grid import Axis

    return Axis(axis_cfg.min, axis_cfg.max, axis_cfg.cells)


def build_grid_problem(cfg: cfgmod.Config):
    """The grid problem and its initial cell averages.

    Returns
    -------
    problem : grids.solver.KineticProblem or OverdampedProblem
    initial : ndarray, shape (n_x, n_v) or (n_x,)
    outside : float
        Probability of the initial law outside the grid (the grid data are renormalised).
    """
    from vfp.grids.solver import KineticProblem, OverdampedProblem

    m, g = cfg.model, cfg.grid
    x = _axis(g.x)
    w = m.interaction
    common = dict(temperature=m.temperature, potential=m.potential.value,
                  grad_potential=m.potential.grad,
                  interaction=w.value if w is not None else None,
                  grad_interaction=w.grad if w is not None else None)
    if m.kinetic:
        v = _axis(g.v)
        problem = KineticProblem(x=x, v=v, gamma=m.gamma, **common)
        initial, outside = cfg.initial.cell_averages(x.edges, v.edges)
    else:
        problem = OverdampedProblem(x=x, **common)
        initial, outside = cfg.initial.cell_averages(x.edges)
    return problem, initial, outside


def particle_forces(potential: Potential, interaction: Potential | None, lo: float, hi: float):
    """Force specs for :func:`vfp.particles.simulate`.

    Polynomial gradients (all built-ins but ``gaussian``, and polynomial expressions) are
    evaluated exactly in compiled code; anything else is tabulated on [lo, hi].
    A quadratic interaction uses the exact O(N) mean form, a Gaussian kernel its closed
    form, any other kernel a table of W' on [−(hi − lo), hi − lo].
    """
    from vfp.particles.forces import Polynomial
    from vfp.particles.interaction import GaussianKernel, Quadratic, TabulatedKernel

    if potential.grad_polynomial is not None:
        grad = Polynomial(potential.grad_polynomial)
    else:
        grad = potential.grad
    spec = None
    if interaction is not None:
        poly = interaction.grad_polynomial
        if poly is not None and len(poly) <= 2 and abs(poly[0]) == 0.0:
            spec = Quadratic(poly[1] if len(poly) == 2 else 0.0)
        elif isinstance(interaction, GaussianKernelPotential):
            spec = GaussianKernel(interaction.strength, interaction.width)
        else:
            spec = TabulatedKernel.from_callable(interaction.grad, hi - lo)
    return grad, spec


# ---------------------------------------------------------------------------------------
# Comparison


_METRIC_KEYS = {
    # config metric name -> (keys written, kinetic only); keys follow
    # validation.metrics.compare_snapshot, "<key>_floor" is the i.i.d. noise floor.
    "w2_x": (("w2_x", "w2_x_floor"), False),
    "w2_v": (("w2_v", "w2_v_floor"), True),
    "sw2": (("sw2", "sw2_floor"), True),
    "w2_emd": (("w2_emd", "w2_emd_floor", "w2_emd_subsample"), True),
    "kl_knn": (("kl", "kl_floor", "kl_outside"), False),
    "kl_binned": (("kl_binned", "kl_binned_floor"), False),
    "tv": (("tv", "tv_floor"), False),
    "mean": (("mean_x", "mean_x_grid", "mean_x_floor",
              "mean_v", "mean_v_grid", "mean_v_floor"), False),
    "cov": (("var_x", "var_x_grid", "var_x_floor", "var_v", "var_v_grid", "var_v_floor",
             "cov_xv", "cov_xv_grid", "cov_xv_floor"), False),
}


def compare_keys(metrics, kinetic: bool) -> list[str]:
    """Names of the /compare datasets for the chosen metrics and regime."""
    keys = []
    for name in metrics:
        names, kinetic_only = _METRIC_KEYS[name]
        if kinetic_only and not kinetic:
            continue
        keys.extend(k for k in names if kinetic or not ("_v" in k or k.startswith("cov_xv")))
    return keys


def compare_states(x, v, x_edges, v_edges, state, compare_cfg: cfgmod.CompareConfig,
                   snapshot_index: int = 0) -> dict:
    """All comparison metrics between particles (x, v) and one grid state.

    Wraps :func:`validation.metrics.compare_snapshot`; the seed of the projections, the
    EMD subsample and the noise-floor sample is ``compare_cfg.seed`` shifted by the
    snapshot index, so a recomputation from the file gives the same numbers.

    Returns
    -------
    dict of str → float
        Numeric values keyed like :func:`compare_keys`, plus ``w2_emd_estimator`` (text)
        when exact OT was computed.
    """
    from vfp.validation import metrics as vm

    metrics = compare_cfg.metrics
    if v is None:
        metrics = tuple(m for m in metrics if not _METRIC_KEYS[m][1])
    out = vm.compare_snapshot(x, v, x_edges, v_edges, state, metrics=metrics,
                              seed=compare_cfg.seed + 1000 * snapshot_index,
                              n_projections=compare_cfg.n_projections,
                              emd_subsample=compare_cfg.emd_subsample,
                              noise_floor=compare_cfg.noise_floor)
    return {k: (val if isinstance(val, str) else float(val)) for k, val in out.items()
            if isinstance(val, (str, int, float, np.floating, np.integer))}


# ---------------------------------------------------------------------------------------
# Progress


class _Progress:
    """A tqdm bar over simulated time, or nothing when quiet."""

    def __init__(self, label, t_end, enabled):
        self.bar = None
        self.t = 0.0
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=float(t_end), desc=label, unit="t", file=sys.stderr,
                            bar_format="{desc:>10}: {percentage:3.0f}%|{bar}| t={n:.3g}/{total:.3g}"
                                       " [{elapsed}<{remaining}]")

    def __call__(self, t, n_steps=None):
        if self.bar is not None:
            self.bar.update(max(0.0, float(t) - self.t))
            if n_steps is not None:
                self.bar.set_postfix_str(f"{n_steps} steps", refresh=False)
        self.t = float(t)

    def close(self):
        if self.bar is not None:
            self.bar.close()


# ---------------------------------------------------------------------------------------
# The pipeline


def run(cfg: cfgmod.Config, output=None, progress: bool = True, write: bool = True,
        check_cfl: bool = True) -> RunResult:
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
    """
    cfgmod.validate(cfg)
    times = cfg.time.times()
    kinetic = cfg.model.kinetic
    path = Path(output) if output is not None else cfg.output_path()
    result = RunResult(status=0, message="finished", success=True,
                       path=path if write else None, times=times)
    keys = compare_keys(cfg.compare.metrics, kinetic) if cfg.compares else []
    compare_rows: list[dict] = []

    grid_spec = None
    if cfg.grid is not None:
        problem, initial, outside = build_grid_problem(cfg)
        if outside > BOUNDARY_MASS_WARNING:
            result.warnings.append(
                f"initial law has {outside:.2e} of its mass outside the grid (renormalised): "
                "the domain is too small")
        grid_spec = {"x_edges": problem.x.edges,
                     "v_edges": problem.v.edges if kinetic else None,
                     "attrs": {"scheme": cfg.grid.scheme, "cfl": cfg.grid.effective_cfl()}}
    part_spec = None
    if cfg.particles is not None:
        p = cfg.particles
        part_spec = {"n": p.n, "n_stored": p.n_stored(), "kinetic": kinetic, "seed": p.seed,
                     "scheme": p.scheme, "dt": p.dt}
    writer = None
    if write:
        writer = RunWriter(path, cfg.text, grid=grid_spec, particles=part_spec,
                           compare_keys=keys, attrs={"regime": cfg.model.regime})
    try:
        grid_states = []
        if cfg.grid is not None:
            _run_grid(cfg, problem, initial, times, writer, result, grid_states, progress,
                      check_cfl)
        if result.success and cfg.particles is not None:
            _run_particles(cfg, times, writer, result, grid_states, keys, compare_rows,
                           progress)
        result.compare = {k: np.array([row.get(k, np.nan) for row in compare_rows])
                          for k in ["t"] + keys} if compare_rows else {}
    except KeyboardInterrupt:
        result.status, result.message, result.success = 1, "interrupted", False
        if writer is not None:
            writer.close(status="interrupted", message="interrupted by the user",
                         timings=result.timings)
        raise
    if writer is not None:
        writer.close(status="finished" if result.success else "failed",
                     message=result.message, timings=result.timings,
                     warnings="\n".join(result.warnings))
    for text in result.warnings:
        warnings.warn(text, DomainWarning, stacklevel=2)
    return result


def _run_grid(cfg, problem, initial, times, writer, result, grid_states, progress,
                      check_cfl):
    from vfp.grids.solver import solve

    kinetic = cfg.model.kinetic
    dv = problem.v.h if kinetic else None
    bar = _Progress("grid", times[-1], progress)

    def on_snapshot(index, t, state):
        grid_states.append(np.array(state, copy=True))
        if writer is not None:
            writer.write_grid_snapshot(t, state, dv=dv)

    try:
        sol = solve(problem, initial, times, scheme=cfg.grid.scheme, cfl=cfg.grid.effective_cfl(),
                    diagnostics_every=cfg.grid.diagnostics_every, on_snapshot=on_snapshot,
                    on_progress=bar, check_cfl=check_cfl, dt=cfg.grid.dt)
    finally:
        bar.close()
    result.grid = sol
    result.timings["grid_compile"] = sol.compile_time
    result.timings["grid_solve"] = sol.solve_time
    result.timings["grid_steps"] = sol.n_steps
    if writer is not None:
        writer.write_grid_diagnostics(sol.diagnostics)
    if sol.max_boundary_mass > BOUNDARY_MASS_WARNING:
        result.warnings.append(
            f"grid: the outermost cells held up to {sol.max_boundary_mass:.2e} of the mass "
            f"(> {BOUNDARY_MASS_WARNING:g}): the domain is too small for this run")
    if sol.status != 0:
        result.status, result.success = -1, False
        result.message = f"grid solver: {sol.message}"


def _run_particles(cfg, times, writer, result, grid_states, keys, compare_rows, progress):
    from vfp.particles import simulate

    p, m = cfg.particles, cfg.model
    kinetic = m.kinetic
    axis = p.x if p.x is not None else cfg.grid.x
    lo, hi = axis.min, axis.max
    rng = np.random.default_rng([p.seed, 0x1A17])          # initial data stream
    sample = cfg.initial.sample_in(p.n, rng, lo, hi)
    x0, v0 = (sample[:, 0].copy(), sample[:, 1].copy()) if kinetic else (sample, None)
    grad, interaction = particle_forces(m.potential, m.interaction, lo, hi)
    x_edges = v_edges = None
    if cfg.grid is not None:
        x_edges = np.linspace(cfg.grid.x.min, cfg.grid.x.max, cfg.grid.x.cells + 1)
        if kinetic:
            v_edges = np.linspace(cfg.grid.v.min, cfg.grid.v.max, cfg.grid.v.cells + 1)
    compare_time = [0.0]
    bar = _Progress("particles", times[-1], progress)

    def on_snapshot(index, t, x, v):
        if writer is not None:
            writer.write_particle_snapshot(t, x, v)
        if keys and index < len(grid_states):
            start = time.perf_counter()
            row = compare_states(x, v, x_edges, v_edges, grid_states[index], cfg.compare,
                                 snapshot_index=index)
            row["t"] = t
            compare_rows.append(row)
            if writer is not None:
                writer.write_compare(t, row)
            compare_time[0] += time.perf_counter() - start

    try:
        sol = simulate(x0, v0, grad_potential=grad, interaction=interaction, gamma=m.gamma,
                       temperature=m.temperature, dt=p.dt, snapshots=times, domain=(lo, hi),
                       scheme=p.scheme, interaction_method=p.interaction,
                       mesh_cells=p.mesh_cells, seed=p.seed, on_snapshot=on_snapshot,
                       on_progress=bar)
    finally:
        bar.close()
    result.particles = sol
    result.timings["particles_compile"] = sol.compile_time
    result.timings["particles_solve"] = sol.solve_time - compare_time[0]
    result.timings["particles_steps"] = sol.n_steps
    result.timings["compare"] = compare_time[0]
    if sol.status != 0:
        result.status, result.success = -2, False
        result.message = f"particles: {sol.message}"
