"""The one pipeline: grid solve, particle simulation and comparison, each defined once.

``vfp run`` (:func:`vfp.runner.run`), ``vfp sweep`` (:func:`vfp.sweep.run_sweep`) and the
Python API all go through these functions, so the same config gives the same grid
snapshots, the same particles for the same seed and the same comparison numbers whichever
entry point is used.

Stages
------
:func:`solve_grid`
    The grid problem of a config solved to its snapshot times.
:func:`initial_particles`, :func:`simulate_particles`
    N particles drawn from the initial law and advanced to the snapshot times.
:func:`compare_states`, :func:`compare_keys`
    The comparison metrics of one snapshot and the names under which they are stored.
"""

from __future__ import annotations

import numpy as np

from .model import (axis, energy_keyword, grid_axes, grid_problem, particle_forces,
                    particle_forces_nd)

__all__ = ["BOUNDARY_MASS_WARNING", "boundary_warning", "solve_grid", "particle_domain",
           "initial_particles", "simulate_particles", "compare_keys", "compare_states",
           "grid_edges", "grid_marginals", "grid_measure", "particle_measure", "grid_risk",
           "particle_risk"]

#: fraction of the mass at the edge of the domain above which a run warns
BOUNDARY_MASS_WARNING = 1e-6

#: stream tag of the particles' initial positions (kept apart from the dynamics' noise)
_INITIAL_STREAM = 0x1A17


# ---------------------------------------------------------------------------------------
# Grid


def solve_grid(cfg, times=None, *, on_snapshot=None, on_progress=None, on_diagnostics=None,
               check_cfl=True, keep_states=True):
    """Solve the config's grid problem.

    Parameters
    ----------
    cfg : Config
        Needs ``[grid]``; its scheme, cfl, dt and diagnostics interval are used.
    times : array_like, optional
        Snapshot times (default ``cfg.time.times()``).
    on_snapshot : callable(index, t, state), optional
    on_progress : callable(t, n_steps), optional
    on_diagnostics : callable(dict of str → ndarray), optional
        Each new batch of diagnostic samples, as the run goes.
    check_cfl : bool
        Reject a cfl above the scheme's positivity limit.
    keep_states : bool
        Keep every snapshot state in the solution (off for the large 4-D phase space: the
        ``on_snapshot`` callback still sees each state; ``solution.rho``/``g`` keep the
        marginals).

    Returns
    -------
    solution : vfp.grids.solver.GridSolution
    problem : KineticProblem or OverdampedProblem
    outside : float
        Probability of the initial law outside the grid (the grid data are renormalised).
    """
    from vfp.grids.solver import solve

    if times is None:
        times = cfg.time.times()
    problem, initial, outside = grid_problem(cfg.model, cfg.grid, cfg.initial)
    g = cfg.grid
    solution = solve(problem, initial, times, scheme=g.scheme, cfl=g.effective_cfl(),
                     diagnostics_every=g.diagnostics_every, on_snapshot=on_snapshot,
                     on_progress=on_progress, on_diagnostics=on_diagnostics,
                     check_cfl=check_cfl, dt=g.dt, keep_states=keep_states)
    return solution, problem, outside


def boundary_warning(max_boundary_mass, kinetic):
    """The warning for mass in the outermost cells of the grid, or None below
    :data:`BOUNDARY_MASS_WARNING`. What it means depends on the boundary: the kinetic
    x-ends are specular walls (mass there bounces, as the particles do), the v-ends and
    the overdamped ends are zero-flux boundaries that truncate the law."""
    if not max_boundary_mass > BOUNDARY_MASS_WARNING:
        return None
    head = f"grid: the outermost cells held up to {max_boundary_mass:.2e} of the mass"
    if kinetic:
        return (head + ": mass reached the reflecting x-walls, where it bounces as the "
                "particles do, or the ends of the velocity grid, which truncate it; widen "
                "grid.v if the v-ends hold mass, and grid.x if the walls are not part of "
                "the model")
    return (head + ": the domain's zero-flux ends hold it back, as reflecting walls do "
            "for the particles; widen grid.x if the walls are not part of the model")


def grid_edges(cfg):
    """Cell edges of the config's grid: (x_edges, v_edges), v_edges None when overdamped.

    d = 1: one array each; d = 2: a list of one array per axis.
    """
    g = cfg.grid
    if cfg.dimension > 1:
        xs, vs = grid_axes(g, cfg.model.kinetic)
        return [a.edges for a in xs], None if vs is None else [a.edges for a in vs]
    return axis(g.x).edges, axis(g.v).edges if cfg.model.kinetic else None


def grid_marginals(state, x_edges, v_edges):
    """(ρ, g) of a grid state: the x-marginal and the v-marginal (None when overdamped).

    d = 2 kinetic: ρ = hv1 hv2 Σ_v f of shape (nx1, nx2), g = hx1 hx2 Σ_x f of shape
    (nv1, nv2); overdamped: (state, None).
    """
    if v_edges is None:
        return state, None
    if isinstance(x_edges, (list, tuple)):
        hx = np.prod([np.diff(e)[0] for e in x_edges])
        hv = np.prod([np.diff(e)[0] for e in v_edges])
        d = len(x_edges)
        axes_x = tuple(range(d))
        axes_v = tuple(range(d, 2 * d))
        return state.sum(axis=axes_v) * hv, state.sum(axis=axes_x) * hx
    return state.sum(axis=1) * np.diff(v_edges)[0], state.sum(axis=0) * np.diff(x_edges)[0]


# ---------------------------------------------------------------------------------------
# Particles


def particle_domain(cfg):
    """The particles' reflecting interval (lo, hi): ``particles.x``, else the grid's x-axis,
    else None (free space, no walls)."""
    p = cfg.particles
    if cfg.dimension > 1:
        if p.x is not None:
            axes = p.x if isinstance(p.x, (list, tuple)) else (p.x,) * cfg.dimension
        elif cfg.grid is not None:
            axes = cfg.grid.x_axes
        else:
            return None
        return (np.array([float(a.min) for a in axes]), np.array([float(a.max) for a in axes]))
    axis = p.x if p.x is not None else (cfg.grid.x if cfg.grid is not None else None)
    return None if axis is None else (float(axis.min), float(axis.max))


def initial_particles(cfg, n, seed):
    """N particles drawn from the initial law (conditioned on the domain, if any).

    The stream is ``SeedSequence([seed, 0x1A17])``, independent of the simulator's noise.

    Returns
    -------
    x0 : ndarray, shape (n,) (d = 1) or (n, d)
    v0 : ndarray of the same shape, or None (overdamped)
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _INITIAL_STREAM]))
    domain = particle_domain(cfg)
    if domain is None:
        sample = cfg.initial.sample(int(n), rng)
    else:
        sample = cfg.initial.sample_in(int(n), rng, *domain)
    d = cfg.dimension
    if d > 1:
        sample = np.asarray(sample).reshape(int(n), -1)
        if cfg.model.kinetic:
            return np.ascontiguousarray(sample[:, :d]), np.ascontiguousarray(sample[:, d:])
        return np.ascontiguousarray(sample), None
    if cfg.model.kinetic:
        return sample[:, 0].copy(), sample[:, 1].copy()
    return np.ascontiguousarray(sample).reshape(-1), None


def simulate_particles(cfg, *, n=None, seed=None, times=None, on_snapshot=None,
                       on_progress=None):
    """Simulate the config's particle system.

    Parameters
    ----------
    cfg : Config
        Needs ``[particles]``.
    n, seed : int, optional
        Override ``particles.n`` and ``particles.seed`` (sweeps).
    times : array_like, optional
        Snapshot times (default ``cfg.time.times()``).
    on_snapshot : callable(index, t, x, v), optional
    on_progress : callable(t, n_steps), optional

    Returns
    -------
    vfp.particles ParticleSolution
    """
    from vfp.particles import simulate

    p, m = cfg.particles, cfg.model
    n = p.n if n is None else int(n)
    seed = p.seed if seed is None else int(seed)
    if times is None:
        times = cfg.time.times()
    x0, v0 = initial_particles(cfg, n, seed)
    domain = particle_domain(cfg)
    box = domain if domain is not None else (None, None)
    if cfg.dimension > 1:
        grad, interaction = particle_forces_nd(m.potential, m.interaction, cfg.dimension, *box)
    else:
        grad, interaction = particle_forces(m.potential, m.interaction, *box)
    return simulate(x0, v0, grad_potential=grad, interaction=interaction, gamma=m.gamma,
                    temperature=m.temperature, dt=p.dt, snapshots=times, domain=domain,
                    scheme=p.scheme, interaction_method=p.interaction_method,
                    mesh_cells=p.mesh_cells, seed=seed, on_snapshot=on_snapshot,
                    on_progress=on_progress, **energy_keyword(m))


# ---------------------------------------------------------------------------------------
# The risk F(μ) of a mean-field energy at a snapshot


def grid_measure(state, x_edges, v_edges):
    """The grid's x-marginal as a measure: (points (n, d), weights (n,)).

    Points are the x-cell centres (C order over the axes, x1 slowest in d = 2), weights
    the cell masses ρ_i h (d = 1) or ρ_ij h1 h2 (d = 2), with ρ the x-marginal of f in the
    kinetic regime; ``state`` may also be the d = 2 kinetic marginals (ρ, g).
    """
    if isinstance(state, tuple):
        rho = np.asarray(state[0], dtype=float)
    else:
        rho, _ = grid_marginals(np.asarray(state, dtype=float), x_edges, v_edges)
    edges = list(x_edges) if isinstance(x_edges, (list, tuple)) else [x_edges]
    centres = [0.5 * (np.asarray(e)[1:] + np.asarray(e)[:-1]) for e in edges]
    cell = float(np.prod([np.diff(e)[0] for e in edges]))
    mesh = np.meshgrid(*centres, indexing="ij")
    points = np.ascontiguousarray(np.stack([m.ravel() for m in mesh], axis=1))
    return points, np.ascontiguousarray(rho.reshape(-1) * cell)


def particle_measure(x):
    """Particles as a measure: (points (N, d), weights 1/N); x of shape (N,) is d = 1."""
    x = np.asarray(x, dtype=float)
    points = np.ascontiguousarray(x.reshape(len(x), -1))
    return points, np.full(len(x), 1.0 / len(x))


def grid_risk(energy, state, x_edges, v_edges) -> float:
    """F(ρ_t): the energy of the grid's x-marginal (:func:`grid_measure`)."""
    return float(energy.value(*grid_measure(state, x_edges, v_edges)))


def particle_risk(energy, x) -> float:
    """F(μ^N_t): the energy of the empirical measure of all N particles."""
    return float(energy.value(*particle_measure(x)))


# ---------------------------------------------------------------------------------------
# Comparison


def compare_keys(metrics, kinetic: bool, dimension: int = 1) -> list[str]:
    """Names of the /compare datasets for the chosen metrics, regime and dimension (from
    the metric registry, :func:`vfp.validation.registry.stored_keys`)."""
    from vfp.validation import registry

    return registry.stored_keys(metrics, kinetic, dimension)


def compare_states(x, v, x_edges, v_edges, state, compare_cfg, snapshot_index: int = 0) -> dict:
    """All comparison metrics between particles (x, v) and one grid state.

    Wraps :func:`vfp.validation.metrics.compare_snapshot`; the seed of the projections, the
    EMD subsample and the noise-floor sample is ``compare_cfg.seed`` shifted by the
    snapshot index, so a recomputation from the file gives the same numbers.

    Returns
    -------
    dict of str → float
        Numeric values keyed like :func:`compare_keys`, plus ``w2_emd_estimator`` (text)
        when exact OT was computed.
    """
    from vfp.validation import metrics as vm
    from vfp.validation import registry

    if isinstance(x_edges, (list, tuple)):
        return _compare_states_nd(x, v, x_edges, v_edges, state, compare_cfg, snapshot_index)
    metrics = registry.applicable(compare_cfg.metrics, kinetic=v is not None)
    out = vm.compare_snapshot(x, v, x_edges, v_edges, state, metrics=metrics,
                              seed=compare_cfg.seed + 1000 * snapshot_index,
                              n_projections=compare_cfg.n_projections,
                              emd_subsample=compare_cfg.emd_subsample,
                              noise_floor=compare_cfg.noise_floor)
    return {k: (val if isinstance(val, str) else float(val)) for k, val in out.items()
            if isinstance(val, (str, int, float, np.floating, np.integer))}


def _clean(out):
    return {k: (val if isinstance(val, str) else float(val)) for k, val in out.items()
            if isinstance(val, (str, int, float, np.floating, np.integer))}


def _compare_states_nd(x, v, x_edges, v_edges, state, compare_cfg, snapshot_index):
    """d ≥ 2: :func:`vfp.validation.metrics_nd.compare_snapshot_nd` on the full state, or,
    when only the marginals (ρ, g) are at hand (``state`` a tuple), the marginal-only
    metrics (:func:`~vfp.validation.metrics_nd.compare_marginals_nd`; the phase-space ones
    are NaN)."""
    from vfp.validation import metrics_nd as vmn
    from vfp.validation import registry

    d = len(x_edges)
    metrics = registry.applicable(compare_cfg.metrics, kinetic=v is not None, dimension=d)
    options = dict(metrics=metrics, seed=compare_cfg.seed + 1000 * snapshot_index,
                   n_projections=compare_cfg.n_projections,
                   emd_subsample=compare_cfg.emd_subsample, noise_floor=compare_cfg.noise_floor)
    if isinstance(state, tuple):
        rho, g = state
        out = vmn.compare_marginals_nd(x, v, x_edges, v_edges, rho, g, metrics=metrics,
                                       seed=options["seed"], noise_floor=options["noise_floor"])
    else:
        out = vmn.compare_snapshot_nd(x, v, x_edges, v_edges, np.asarray(state, dtype=float),
                                      **options)
    return _clean(out)
