"""The kinetic IMEX scheme ``sg_imex`` (grids.imex).

NumPy twin of a full Strang step, exact conservation and positivity, the exact fixed
point of the implicit velocity part for any step, positivity of that part for any step
(backward-Euler fallback), and the scheme's registry entry. Its accuracy against exact
solutions (kinetic Gaussian with interaction, double-well Gibbs state, self-consistent
equilibrium; observed orders) is tested with the other kinetic schemes in
tests/test_grid_accuracy.py.
"""

import numpy as np
import pytest

from vfp.grids import imex as IMEX
from vfp.grids.grid import Axis
from vfp.grids.quadrature import cell_averages_2d
from vfp.grids.solver import SCHEMES, KineticProblem, OverdampedProblem, SGImex, solve
from vfp.validation.exact import gaussian_pdf_2d


def dwell(x):
    return x ** 4 / 4 - x ** 2 / 2


def dwell_grad(x):
    return x ** 3 - x


def gauss_w(y):
    return np.exp(-y ** 2 / 0.5)


def gauss_wp(y):
    return -4.0 * y * gauss_w(y)


def problem(n=24, interaction=True, gamma=1.3, lam=0.7):
    x, v = Axis(-3.0, 3.0, n), Axis(-4.0, 4.0, n + 4)
    extra = (gauss_w, gauss_wp) if interaction else ()
    return KineticProblem(x, v, gamma, lam, dwell, dwell_grad, *extra)


def rough_state(rng, shape):
    s = rng.random(shape) ** 3
    s[s < 0.05] = 0.0
    return s + 1e-3


@pytest.mark.parametrize("interaction", [False, True])
def test_full_step_matches_numpy_twin(rng, interaction):
    p = problem(interaction=interaction)
    f0 = rough_state(rng, p.shape)
    dt = 0.4 * p.x.h / np.abs(p.v.centres).max()
    ref, _ = IMEX.imex_step_numpy(p, f0, dt)
    sol = solve(p, f0, [dt], scheme="sg_imex", dt=dt)
    assert sol.n_steps == 1
    np.testing.assert_allclose(sol.states[-1], ref, rtol=0, atol=1e-12 * ref.max())


@pytest.mark.parametrize("dt", [1e-3, 0.3, 100.0])
def test_velocity_part_keeps_each_rows_gibbs_state_and_is_positive(rng, dt):
    """C with a fixed force G_i per row: the discrete shifted Maxwellian
    exp(−(γ v²/2 + G_i v)/(γλ)) at the centres is a fixed point to round-off for any Δt,
    and from a rough state the result is ≥ 0 exactly and each row keeps its mass to
    round-off: ~ε·(1 + Δt·max rate), the size of the entries of I − Δt L that the solves
    combine (max rate ≤ (γλ/hv²)(2 + max|P|), P the face Péclet number)."""
    p = problem(interaction=False)
    vc, hv, g, lam = p.v.centres, p.v.h, p.gamma, p.temperature
    G = rng.uniform(-6.0, 6.0, p.x.cells)
    gibbs = np.exp(-(g * 0.5 * vc[None, :] ** 2 + G[:, None] * vc[None, :]) / (g * lam))
    nx, nv = p.shape
    pmax = hv * (g * np.abs(vc).max() + np.abs(G).max()) / (g * lam)
    tol = 10 * np.finfo(float).eps * (1.0 + dt * g * lam / hv ** 2 * (2.0 + pmax))
    for f0, check_fixed in ((gibbs, True), (rough_state(rng, p.shape), False)):
        f = f0.copy()
        rs, rmin, rmax = np.empty(nx), np.empty(nx), np.empty(nx)
        fell = np.zeros(nx, dtype=np.int64)
        IMEX.collide_rows(f, G, vc, 0.5 * vc ** 2, g, lam, hv, dt, True,
                          np.empty((8, nx, nv)), rs, rmin, rmax, fell)
        if check_fixed:
            np.testing.assert_allclose(f, f0, rtol=1e-12, atol=1e-14 * f0.max())
        assert f.min() >= 0.0
        np.testing.assert_allclose(f.sum(axis=1), f0.sum(axis=1), rtol=tol)
        ref, n_fell = IMEX.collide_numpy(f0, G, vc, g, lam, hv, dt)
        np.testing.assert_allclose(f, ref, rtol=0, atol=1e-11 * ref.max())
        assert int(fell.sum()) == n_fell


@pytest.mark.parametrize("interaction", [False, True])
def test_mass_conserved_and_positive_over_many_steps(rng, interaction):
    p = problem(interaction=interaction)
    f0 = rough_state(rng, p.shape)
    f0 /= f0.sum() * p.x.h * p.v.h
    sol = solve(p, f0, [1.0, 3.0], scheme="sg_imex", diagnostics_every=1)
    assert sol.success, sol.message
    assert sol.n_steps > 100
    mass = sol.diagnostics["mass"]
    assert np.abs(mass - 1.0).max() < 1e-12
    assert sol.diagnostics["min"].min() >= 0.0
    assert all(s.min() >= 0.0 for s in sol.states)


def test_step_rule_only_the_transport_restricts_it():
    """Δt = cfl·hx/max|v| whatever γ, λ and the force; a user dt caps it (equal steps)."""
    p = problem(interaction=False, gamma=50.0, lam=3.0)
    f0 = cell_averages_2d(lambda a, b: gaussian_pdf_2d(a, b, np.array([0.5, 0.0]),
                                                       np.diag([0.2, 0.5])), p.x, p.v)
    sol = solve(p, f0, [0.5], scheme="sg_imex", cfl=0.4, diagnostics_every=1)
    expect = 0.4 * p.x.h / np.abs(p.v.centres).max()
    assert sol.diagnostics["dt"][1] == pytest.approx(expect, rel=1e-12)
    assert sol.n_steps == int(np.ceil(0.5 / expect))
    explicit = solve(p, f0, [0.5], scheme="muscl", diagnostics_every=1)
    assert explicit.n_steps > 20 * sol.n_steps          # stiff friction/diffusion
    capped = solve(p, f0, [0.5], scheme="sg_imex", dt=expect / 3, diagnostics_every=1)
    assert capped.n_steps == int(np.ceil(0.5 / (expect / 3)))
    assert np.allclose(capped.diagnostics["dt"][1:], 0.5 / capped.n_steps, rtol=1e-12)


def test_registry_and_arguments():
    cls = SCHEMES["sg_imex"]
    assert cls is SGImex and cls.order == 2 and cls.implicit
    assert cls.regimes == ("kinetic",) and cls.max_cfl == 0.5
    p = problem(n=8, interaction=False)
    f = np.full(p.shape, 1.0 / (p.shape[0] * p.shape[1] * p.x.h * p.v.h))
    with pytest.raises(ValueError, match="exceeds"):
        solve(p, f, [0.1], scheme="sg_imex", cfl=0.8)
    with pytest.raises(ValueError, match="dt"):
        solve(p, f, [0.1], scheme="sg_imex", dt=0.0)
    op = OverdampedProblem(p.x, 1.0, dwell, dwell_grad)
    with pytest.raises(ValueError, match="kinetic"):
        solve(op, np.full(op.shape, 1 / 6), [0.1], scheme="sg_imex")
    sol = solve(p, f, [0.05, 0.1], scheme="sg_imex")
    assert sol.success and "rows blended with backward Euler" in sol.message
