"""End to end with a non-quadratic interaction: config → model → grid and particles.

With a quadratic W the mean path does not depend on κ, so a comparison of means cannot
see the interaction wiring. Here W is a Gaussian bump or an expression kernel, and the
tests check

* the force wiring: the spec :func:`vfp.model.particle_forces` builds from a config
  evaluates W′ with the right sign and scale (against closed forms, the potential's own
  ``grad`` and a finite difference of its ``value``), the particle force on particle i is
  −(1/N) Σ_j W′(x_i − x_j) (the simulator's steps against the NumPy twin fed with the
  config's own W′), and the grid receives the same W′ as the particles;
* grid against particles over time, overdamped and kinetic, with an interaction strong
  enough to change mean and variance by many standard errors: mean and variance
  differences within tolerances derived from N, and W2 of the marginals within the
  spread of its i.i.d. noise floor; and the same comparison with the particle side's
  interaction switched off or doubled is detected.
"""

import textwrap

import numpy as np
import pytest

import vfp
from vfp import pipeline
from vfp.model import grid_problem, particle_forces
from vfp.particles import reference as ref
from vfp.particles.interaction import (GaussianKernel, TabulatedKernel, default_mesh_cells,
                                       interaction_force)
from vfp.validation import metrics as vm

# ---------------------------------------------------------------------------------------
# Closed forms (written out here, independent of vfp.potentials)

STRENGTH, WIDTH = 0.8, 0.6


def gauss_grad(r, s=STRENGTH, w=WIDTH):
    """W′ of W = s exp(−r²/(2w²))."""
    return -s * r / w**2 * np.exp(-0.5 * r * r / w**2)


# expression kernels: (text, W′, a bound on sup |W‴| (for the table's error), repulsive?)
EXPR_KERNELS = {
    # W‴ = (6r − 4r³) e^{−r²}; |6r e^{−r²}| ≤ 6/√(2e), |4r³ e^{−r²}| ≤ 4 (3/(2e))^{3/2}
    "bump": ("0.5*exp(-x**2)", lambda r: -r * np.exp(-r * r),
             6.0 / np.sqrt(2 * np.e) + 4.0 * (1.5 / np.e) ** 1.5, True),
    # W‴ = r(r² − 3)/(1 + r²)³, |W‴| ≤ 1
    "log": ("log(1 + x**2)/4", lambda r: r / (2.0 * (1.0 + r * r)), 1.0, False),
}

DOMAIN = (-3.0, 3.0)


def _config(interaction, regime="overdamped", *, potential='{ kind = "harmonic", omega = 1.0 }',
            n=201, dt=0.0625, t_end=0.25, snapshots="[0.0, 0.25]", seed=3, temperature=0.3,
            cells=64, scheme="upwind", extra=""):
    kinetic = regime == "kinetic"
    inter = f"interaction = {interaction}" if interaction else ""
    text = textwrap.dedent(f"""
        [model]
        regime = "{regime}"
        {"gamma = 1.0" if kinetic else ""}
        temperature = {temperature}
        potential = {potential}
        {inter}
        [initial]
        kind = "gaussian"
        mean = {"[0.6, 0.0]" if kinetic else "0.6"}
        std = {"[0.3, 0.5]" if kinetic else "0.3"}
        [time]
        t_end = {t_end}
        snapshots = {snapshots}
        [grid]
        x = {{ min = {DOMAIN[0]}, max = {DOMAIN[1]}, cells = {cells} }}
        {f"v = {{ min = -3.0, max = 3.0, cells = {cells} }}" if kinetic else ""}
        scheme = "{scheme}"
        [particles]
        n = {n}
        dt = {dt}
        scheme = "euler"
        seed = {seed}
        """) + textwrap.dedent(extra)
    return vfp.loads_config(text)


GAUSS = f'{{ kind = "gaussian", strength = {STRENGTH}, width = {WIDTH} }}'


def _kernel(name):
    """(config table, closed-form W′, bound on sup|W‴| or None, repulsive?) of a kernel."""
    if name == "gauss":
        return GAUSS, gauss_grad, None, True
    text, grad, w3, repulsive = EXPR_KERNELS[name]
    return f'{{ expr = "{text}" }}', grad, w3, repulsive


def _table_error(spec, w3):
    """Bound on |W′_table − W′| for linear interpolation on nodes of spacing h: h²/8·sup|W‴|
    (0 for closed-form specs), plus round-off."""
    if w3 is None:
        return 1e-13
    h = 2 * spec.half_width / (spec.values.size - 1)
    return h * h / 8 * w3 + 1e-13


# ---------------------------------------------------------------------------------------
# 1. Force wiring: config → model → particle spec


def test_gaussian_config_gives_the_closed_form_kernel_spec():
    cfg = _config(GAUSS)
    w = cfg.model.interaction
    _, spec = particle_forces(cfg.model.potential, w, *DOMAIN)
    assert isinstance(spec, GaussianKernel)
    assert (spec.strength, spec.width) == (STRENGTH, WIDTH)
    r = np.linspace(-6.0, 6.0, 2401)
    exact = gauss_grad(r)
    np.testing.assert_allclose(spec.grad(r), exact, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(w.grad(r), exact, rtol=1e-13, atol=1e-15)
    # central difference of W: error ≤ δ²/6·max|W‴| ≈ 1e-10·s/w³·3
    delta = 1e-5
    fd = (w.value(r + delta) - w.value(r - delta)) / (2 * delta)
    np.testing.assert_allclose(fd, exact, rtol=0, atol=1e-8)
    # repulsive for s > 0: W′ < 0 on r > 0, so the drift −W′ pushes a right neighbour right
    assert np.all(spec.grad(r[r > 0]) < 0)


@pytest.mark.parametrize("name", sorted(EXPR_KERNELS))
def test_expression_kernel_spec_is_its_derivative(name):
    table, exact_grad, w3, _ = _kernel(name)
    cfg = _config(table)
    w = cfg.model.interaction
    _, spec = particle_forces(cfg.model.potential, w, *DOMAIN)
    assert isinstance(spec, TabulatedKernel)
    span = DOMAIN[1] - DOMAIN[0]
    assert spec.half_width >= span  # the table covers every pair distance in the domain
    r = np.linspace(-span, span, 4001) * (1 - 1e-12)
    r = np.concatenate([r, np.random.default_rng(0).uniform(-span, span, 4000)])
    exact = exact_grad(r)
    np.testing.assert_allclose(w.grad(r), exact, rtol=1e-12, atol=1e-14)
    delta = 1e-5
    fd = (w.value(r + delta) - w.value(r - delta)) / (2 * delta)
    np.testing.assert_allclose(fd, exact, rtol=0, atol=1e-8)
    err = np.abs(spec.grad(r) - exact)
    assert err.max() <= _table_error(spec, w3), (err.max(), _table_error(spec, w3))


def _explicit_pair_sum(x, grad_w):
    """(1/N) Σ_j W′(x_i − x_j) by a plain double loop (the definition)."""
    n = len(x)
    return np.array([sum(float(grad_w(np.float64(x[i] - x[j]))) for j in range(n)) / n
                     for i in range(n)])


@pytest.mark.parametrize("kernel", ["gauss", *sorted(EXPR_KERNELS)])
@pytest.mark.parametrize("method", ["pairwise", "mesh"])
def test_particle_interaction_force_is_the_pair_sum(kernel, method):
    """The compiled force of the config's spec against (1/N) Σ_j W′(x_i − x_j)."""
    table, exact_grad, w3, repulsive = _kernel(kernel)
    cfg = _config(table)
    w = cfg.model.interaction
    _, spec = particle_forces(cfg.model.potential, w, *DOMAIN)
    tol = _table_error(spec, w3)   # a mean of pair terms each within it
    x = np.array([-1.7, -0.4, -0.35, 0.1, 0.9, 1.25, 2.6])
    got = interaction_force(x, spec, method=method, lo=DOMAIN[0], hi=DOMAIN[1])
    if method == "pairwise":
        want = _explicit_pair_sum(x, w.grad)
        np.testing.assert_allclose(want, ref.pairwise_force(x, exact_grad), rtol=0,
                                   atol=1e-13)
    else:
        # the mesh twin fed with the potential's own W′ (not the spec): same CIC + FFT, and
        # CIC weights sum to 1, so the table's error passes through unamplified
        cells = default_mesh_cells(spec, *DOMAIN)
        want = ref.mesh_force(x, w.grad, DOMAIN[0], DOMAIN[1], cells)
        tol += 1e-12
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)
    # direction: two particles at ±1/2, the right one's drift is −(1/2)(W′(1) + W′(0))
    pair = np.array([-0.5, 0.5])
    drift_right = -interaction_force(pair, spec, method="pairwise")[1]
    assert (drift_right > 0) == repulsive
    np.testing.assert_allclose(drift_right, -0.5 * exact_grad(1.0), rtol=0, atol=tol)


@pytest.mark.parametrize("regime", ["overdamped", "kinetic"])
@pytest.mark.parametrize("kernel", ["gauss", "bump", "log"])
@pytest.mark.parametrize("method", ["pairwise", "mesh"])
def test_simulator_steps_use_the_config_interaction(regime, kernel, method):
    """simulate_particles(cfg) = Euler steps of the NumPy twin fed with the config's own W′
    (the potential object, not the spec), the same noise and the same initial draw."""
    table, _, w3, _ = _kernel(kernel)
    cfg = _config(table, regime, extra=f'interaction = "{method}"\n')
    m = cfg.model
    lo, hi = DOMAIN
    x0, v0 = pipeline.initial_particles(cfg, cfg.particles.n, cfg.particles.seed)
    sol = pipeline.simulate_particles(cfg)
    assert sol.success and sol.interaction_method == method
    if method == "pairwise":
        fint = lambda x: ref.pairwise_force(x, m.interaction.grad)  # noqa: E731
    else:
        fint = lambda x: ref.mesh_force(x, m.interaction.grad, lo, hi, sol.mesh_cells)  # noqa: E731
    steps = round(cfg.time.t_end / cfg.particles.dt)
    assert sol.n_steps == steps

    def euler(interaction):
        x, v = x0.copy(), (None if v0 is None else v0.copy())
        for s in range(steps):
            x, v, _ = ref.euler_step(x, v, force=m.potential.grad, interaction_force=interaction,
                                     h=cfg.particles.dt, gamma=m.gamma,
                                     temperature=m.temperature, seed=cfg.particles.seed,
                                     step=s, lo=lo, hi=hi)
        return x, v

    x, v = euler(fint)
    # each force evaluation is within the table's error δ; over t_end the steps add at
    # most t_end·δ, amplified by e^{L t_end} < 4 (L ≤ 1 + sup|W″| ≤ 3.3, t_end = 0.25)
    _, spec = particle_forces(m.potential, m.interaction, lo, hi)
    tol = 4 * cfg.time.t_end * _table_error(spec, w3) + 1e-10
    np.testing.assert_allclose(sol.x, x, rtol=0, atol=tol)
    if v is not None:
        np.testing.assert_allclose(sol.v, v, rtol=0, atol=tol)
    # the interaction did move them: the same steps without it end far outside tol
    y, u = euler(None)
    moved = np.abs(sol.x - y).max() if v is None else np.abs(sol.v - u).max()
    assert moved > 1e4 * tol


@pytest.mark.parametrize("kernel", ["gauss", "bump", "log"])
def test_grid_and_particles_receive_the_same_interaction(kernel):
    """The grid's convolution field of a density made of K equal-mass cells equals the
    particles' force with one particle at each of those cell centres."""
    from vfp.grids.convolution import Convolver
    from vfp.model import axis

    table, _, w3, _ = _kernel(kernel)
    cfg = _config(table, cells=60)
    problem, _, _ = grid_problem(cfg.model, cfg.grid, cfg.initial)
    _, spec = particle_forces(cfg.model.potential, cfg.model.interaction, *DOMAIN)
    ax = axis(cfg.grid.x)
    centres = 0.5 * (ax.edges[1:] + ax.edges[:-1])
    chosen = np.array([3, 11, 12, 20, 29, 30, 41, 55])
    rho = np.zeros(ax.cells)
    rho[chosen] = 1.0 / (chosen.size * ax.h)          # mass 1/K in each chosen cell
    field = Convolver(problem.grad_interaction, ax)(rho)
    part = interaction_force(centres[chosen], spec, method="pairwise")
    np.testing.assert_allclose(field[chosen], part, rtol=0, atol=_table_error(spec, w3) + 1e-12)
    # and the grid's W (its free energy) is the config's
    r = np.linspace(-5, 5, 101)
    np.testing.assert_allclose(problem.interaction(r), cfg.model.interaction.value(r),
                               rtol=1e-14)


# ---------------------------------------------------------------------------------------
# 2. Grid against particles over time, with an interaction whose strength matters
#
# V = double well 0.5 (x² − 1)², W = s exp(−x²/(2w²)) with s = 1, w = 0.5, λ = 0.25, start
# N(0.6, 0.3²): by t = 1 the repulsion raises var x from 0.35 to 0.56 (overdamped) and
# lowers the mean from 0.67 to 0.52 (grid figures), i.e. by tens of standard errors at
# N = 5·10⁴, so the interaction, its sign and its scale are all visible in the moments.

E2E_N = 50_000
E2E_SIGMAS = 5.0          # standard errors allowed for the statistical part
FLOOR_REPEATS = 16        # i.i.d. N-samples drawn for the spread of the W2 floor
E2E_STRENGTH, E2E_WIDTH = 1.0, 0.5
E2E_CASES = {
    # regime: (grid cells per axis, grid scheme, particle dt, snapshots)
    "overdamped": (300, "muscl", 2.5e-4, "[0.0, 0.25, 0.5, 1.0]"),
    "kinetic": (128, "muscl", 5e-4, "[0.0, 0.5, 1.0]"),
}


def _e2e_config(regime, strength=E2E_STRENGTH):
    cells, scheme, dt, snaps = E2E_CASES[regime]
    inter = (f'{{ kind = "gaussian", strength = {strength}, width = {E2E_WIDTH} }}'
             if strength else None)
    metrics = '["w2_x", "w2_v", "mean", "cov"]' if regime == "kinetic" else \
        '["w2_x", "mean", "cov"]'
    return _config(inter, regime, potential='{ kind = "double_well", barrier = 0.5 }',
                   n=E2E_N, dt=dt, t_end=1.0, snapshots=snaps, seed=7, temperature=0.25,
                   cells=cells, scheme=scheme,
                   extra=f"[compare]\nmetrics = {metrics}\nseed = 2\n")


def _marginals(cfg, state):
    """[(axis name, edges, cell averages of the marginal)] of one grid state."""
    ex, ev = pipeline.grid_edges(cfg)
    if ev is None:
        return [("x", ex, np.asarray(state))]
    rho_x, rho_v = vm.marginals(ex, ev, state)
    return [("x", ex, rho_x), ("v", ev, rho_v)]


def _grid_moments(edges, density):
    """Mean, variance and fourth central moment of a density uniform inside its cells:
    with d = c − mean, E(d + U)² = d² + h²/12, E(d + U)⁴ = d⁴ + d²h²/2 + h⁴/80."""
    h = np.diff(edges)
    c = 0.5 * (edges[1:] + edges[:-1])
    p = density * h / np.sum(density * h)
    mean = p @ c
    d = c - mean
    var = p @ (d**2 + h**2 / 12)
    m4 = p @ (d**4 + d**2 * h**2 / 2 + h**4 / 80)
    return mean, var, m4


def _drift_lipschitz(cfg, states):
    """L = sup |V″| over the cells holding mass at any snapshot + sup |W″| (+ γ kinetic):
    the rate of the linearised dynamics, which sets the Euler bias."""
    ex, _ = pipeline.grid_edges(cfg)
    c = 0.5 * (ex[1:] + ex[:-1])
    held = np.zeros(c.size, bool)
    for state in states:
        rho = _marginals(cfg, state)[0][2]
        held |= rho * np.diff(ex) > 1e-9
    x = c[held]
    v2 = np.abs(np.gradient(cfg.model.potential.grad(x), x)).max()
    w2 = 0.0
    if cfg.model.interaction is not None:
        r = np.linspace(-1, 1, 2001) * (ex[-1] - ex[0])
        w2 = np.abs(np.gradient(cfg.model.interaction.grad(r), r)).max()
    return v2 + w2 + (cfg.model.gamma if cfg.model.kinetic else 0.0)


def _standardised_gaps(cfg, compare, states, lipschitz):
    """|particles − grid| / tolerance of every mean and variance at every snapshot.

    Tolerance = 5 standard errors of an i.i.d. N-sample of the grid density
    (√(var/N) for the mean, √((m₄ − var²)/N) for the variance) plus a deterministic
    allowance: the Euler bias, O(dt), bounded with the linearised (Ornstein–Uhlenbeck)
    estimate — for a drift of rate a Euler's variance is too large by a relative a·dt/2
    and its mean lags by at most a·dt·|m| — doubled and taken with the largest rate L,
    so L·dt·var and L·dt·(|mean| + sd); for the variance also the h²/6 by which the cell
    averages, read as uniform inside cells, exceed the variance of the law they average.

    Returns
    -------
    dict of str → ndarray, shape (n_snapshots,)
        ``mean_x``, ``var_x`` (and ``mean_v``, ``var_v``) ratios; ≤ 1 means agreement.
    w2_allowance : dict of str → ndarray
        The same deterministic allowance in W2 terms, √(δmean² + (δvar/(2 sd))²).
    """
    n, dt = cfg.particles.n, cfg.particles.dt
    ratios, w2_allowance = {}, {}
    for k, state in enumerate(states):
        for name, edges, rho in _marginals(cfg, state):
            mean, var, m4 = _grid_moments(edges, rho)
            h = np.diff(edges).max()
            allow_mean = lipschitz * dt * (abs(mean) + np.sqrt(var))
            allow_var = lipschitz * dt * var + h * h / 6
            tol_mean = E2E_SIGMAS * np.sqrt(var / n) + allow_mean
            tol_var = E2E_SIGMAS * np.sqrt((m4 - var**2) / n) + allow_var
            for key, gap, tol in ((f"mean_{name}", compare[f"mean_{name}"][k] - mean,
                                   tol_mean),
                                  (f"var_{name}", compare[f"var_{name}"][k] - var,
                                   tol_var)):
                ratios.setdefault(key, np.zeros(len(states)))[k] = abs(gap) / tol
            w2_allowance.setdefault(f"w2_{name}", np.zeros(len(states)))[k] = np.hypot(
                allow_mean, allow_var / (2 * np.sqrt(var)))
    return ratios, w2_allowance


def _w2_floor_limit(cfg, states, allowance, seed=11):
    """Upper limit of W2² for N particles distributed like the grid density: mean + 5 sd
    of W2² over FLOOR_REPEATS independent N-samples, plus the squared allowance."""
    rng = np.random.default_rng(seed)
    limits = {}
    for k, state in enumerate(states):
        for name, edges, rho in _marginals(cfg, state):
            sq = [vm.w2_1d_grid(vm.sample_grid(edges, None, rho, cfg.particles.n, rng), edges,
                                rho, squared=True) for _ in range(FLOOR_REPEATS)]
            limits.setdefault(f"w2_{name}", np.zeros(len(states)))[k] = (
                np.mean(sq) + E2E_SIGMAS * np.std(sq, ddof=1) + allowance[f"w2_{name}"][k]**2)
    return limits


def _compare_other_particles(cfg, other, states):
    """The run's comparison of the grid ``states`` with the particles of config ``other``
    (same seed and initial draw), by the same :func:`vfp.pipeline.compare_states`."""
    ex, ev = pipeline.grid_edges(cfg)
    rows = []

    def keep(k, t, x, v):
        rows.append(pipeline.compare_states(np.array(x), None if v is None else np.array(v),
                                            ex, ev, states[k], cfg.compare, k))

    assert pipeline.simulate_particles(other, on_snapshot=keep).success
    return {key: np.array([row[key] for row in rows]) for key in rows[0]}


# the overdamped case (3 particle runs of 4000 steps at N = 5·10⁴, the suite's heaviest
# test) is slow; the kinetic one keeps the end-to-end check of the same wiring in the
# default suite, and the overdamped interaction on each side is checked by
# test_simulator_steps_use_the_config_interaction and
# test_grid_and_particles_receive_the_same_interaction
@pytest.mark.parametrize("regime", [pytest.param("overdamped", marks=pytest.mark.slow),
                                    "kinetic"])
def test_grid_against_particles_with_gaussian_repulsion(regime):
    cfg = _e2e_config(regime)
    result = vfp.run(cfg, write=False, progress=False)
    assert result.success, result.message
    assert result.particles.interaction_method == "mesh"
    states = result.grid.states
    lipschitz = _drift_lipschitz(cfg, states)
    ratios, allowance = _standardised_gaps(cfg, result.compare, states, lipschitz)
    for key, r in ratios.items():
        assert np.all(r <= 1.0), (key, r)
    limits = _w2_floor_limit(cfg, states, allowance)
    for key, limit in limits.items():
        w2sq = result.compare[key] ** 2
        assert np.all(w2sq <= limit), (key, w2sq, limit)
        # the run's own floor is one draw of the same spread
        assert np.all(result.compare[f"{key}_floor"] ** 2 <= limit), key

    # The same comparison detects a wrong interaction on the particle side alone:
    # switched off (overdamped) or twice as strong (kinetic).
    other = _e2e_config(regime, strength=0.0 if regime == "overdamped" else 2 * E2E_STRENGTH)
    wrong = _compare_other_particles(cfg, other, states)
    wrong_ratios, _ = _standardised_gaps(cfg, wrong, states, lipschitz)
    assert wrong_ratios["var_x"][-1] > 3.0, wrong_ratios["var_x"]
    assert wrong["w2_x"][-1] ** 2 > 10 * limits["w2_x"][-1]
    # and the control itself reproduces the run when nothing is changed
    same = _compare_other_particles(cfg, cfg, states)
    for key in ratios:
        np.testing.assert_allclose(same[key], result.compare[key], rtol=1e-12)
