"""d = 2 end to end: config → grid and particles → comparison → file, `vfp compare`,
`vfp plot`, `vfp info` and `vfp sweep` on small problems with an exact Gaussian law
(ORACLES "d dimensions": rotated anisotropic H, quadratic interaction)."""

import h5py
import numpy as np
import pytest

from vfp import analysis, loads_config, run
from vfp.model import grid_problem, particle_forces_nd
from vfp.plots import plot_run
from vfp.validation.exact import linear_gaussian_moments_nd

H = np.array([[1.2, 0.3], [0.3, 0.8]])      # V = ½ xᵀHx below
KAPPA, LAM, GAMMA = 0.5, 0.5, 1.0

OVERDAMPED = """
[model]
regime = "overdamped"
dimension = 2
temperature = 0.5
potential = { expr = "0.6*x1**2 + 0.3*x1*x2 + 0.4*x2**2" }
interaction = { kind = "quadratic", kappa = 0.5 }
[initial]
kind = "gaussian"
mean = [1.0, -0.5]
std = [0.3, 0.3]
[time]
t_end = 0.5
snapshots = [0.0, 0.25, 0.5]
[grid]
x = { min = -4.0, max = 4.0, cells = 48 }
scheme = "muscl"
[particles]
n = 20000
dt = 0.005
scheme = "euler"
seed = 3
[compare]
n_projections = 20
emd_subsample = 200
"""

KINETIC = """
[model]
regime = "kinetic"
dimension = 2
gamma = 1.0
temperature = 0.5
potential = { expr = "0.6*x1**2 + 0.3*x1*x2 + 0.4*x2**2" }
interaction = { kind = "quadratic", kappa = 0.5 }
[initial]
kind = "gaussian"
mean = [1.0, -0.5, 0.0, 0.0]
std = [0.4, 0.4, 0.6, 0.6]
[time]
t_end = 0.2
snapshots = [0.0, 0.1, 0.2]
[grid]
x = { min = -4.0, max = 4.0, cells = 10 }
v = [ { min = -4.0, max = 4.0, cells = 10 }, { min = -3.5, max = 3.5, cells = 9 } ]
scheme = "upwind"
full_snapshots = FULL
[particles]
n = 3000
dt = 0.01
scheme = "baoab"
seed = 5
[compare]
n_projections = 10
emd_subsample = 100
"""


def _euler_moments(mean0, cov0, dt, steps):
    """Exact moments of the Euler–Maruyama recursion of the linear model (the particles'
    scheme), so the particle check is statistical only: m ← (I − dt H) m,
    C ← (I − dt A) C (I − dt A)ᵀ + 2λ dt I, A = H + κI (the 1/N effect of the empirical
    mean is O(1/N), far below the standard errors)."""
    m, C = np.asarray(mean0, float), np.asarray(cov0, float)
    Pm, Pc = np.eye(2) - dt * H, np.eye(2) - dt * (H + KAPPA * np.eye(2))
    for _ in range(steps):
        m, C = Pm @ m, Pc @ C @ Pc.T + 2 * LAM * dt * np.eye(2)
    return m, C


def test_model_wiring_in_two_dimensions():
    cfg = loads_config(OVERDAMPED)
    problem, cells, outside = grid_problem(cfg.model, cfg.grid, cfg.initial)
    x1 = np.array([0.3, -1.2, 2.0])[:, None]
    x2 = np.array([0.7, 0.1])[None, :]
    g1, g2 = problem.grad_potential(x1, x2)
    np.testing.assert_allclose(g1, 1.2 * x1 + 0.3 * x2, rtol=1e-14)
    np.testing.assert_allclose(g2, 0.3 * x1 + 0.8 * x2, rtol=1e-14)
    r = np.array([0.0, 0.5, 3.0])
    np.testing.assert_allclose(problem.grad_interaction(r), KAPPA * r, rtol=1e-14)
    assert cells.shape == (48, 48) and outside < 1e-12
    h = 8.0 / 48
    assert abs(cells.sum() * h * h - 1.0) < 1e-12
    grad, spec = particle_forces_nd(cfg.model.potential, cfg.model.interaction, 2)
    pts = np.array([[0.3, 0.7], [-1.2, 0.1]])
    np.testing.assert_allclose(grad.grad(pts) if hasattr(grad, "grad") else
                               cfg.model.potential.grad_nd(pts), pts @ H, rtol=1e-14)
    assert type(spec).__name__ == "Quadratic" and spec.kappa == KAPPA


@pytest.fixture(scope="module")
def overdamped_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("od2") / "run.h5"
    result = run(loads_config(OVERDAMPED), output=out, progress=False)
    return result, out


def test_overdamped_2d_run_against_exact_law(overdamped_run):
    result, out = overdamped_run
    assert result.success, result.message
    mean0, cov0 = np.array([1.0, -0.5]), np.diag([0.09, 0.09])
    t = 0.5
    exact_m, exact_C = linear_gaussian_moments_nd(t, mean0, cov0, H, KAPPA, LAM)
    # particles: the Euler recursion's exact moments, tolerance 5 standard errors
    n = 20000
    em, eC = _euler_moments(mean0, cov0, 0.005, 100)
    x = result.particles.x          # final positions (t = 0.5)
    assert x.shape == (n, 2)
    se_mean = np.sqrt(np.diag(eC) / n)
    np.testing.assert_array_less(np.abs(x.mean(axis=0) - em), 5 * se_mean)
    C = np.cov(x.T)
    se_cov = np.sqrt((np.outer(np.diag(eC), np.diag(eC)) + eC ** 2) / n)
    np.testing.assert_array_less(np.abs(C - eC), 5 * se_cov)
    # the comparison stored the same particle moments and the grid's
    c = result.compare
    assert abs(c["mean_x1"][-1] - x[:, 0].mean()) < 1e-12
    assert abs(c["cov_x1x2"][-1] - (C[0, 1] * (n - 1) / n)) < 1e-10
    # grid (muscl, h = 1/6): discretisation error measured ≈ 3e-3 on these moments; the
    # wiring faults this guards against (a lost interaction, a swapped axis, the wrong H)
    # move them by ≥ 0.05
    grid_m = np.array([c["mean_x1_grid"][-1], c["mean_x2_grid"][-1]])
    grid_C = np.array([[c["cov_x1x1_grid"][-1], c["cov_x1x2_grid"][-1]],
                       [c["cov_x1x2_grid"][-1], c["cov_x2x2_grid"][-1]]])
    np.testing.assert_allclose(grid_m, exact_m, atol=0.01)
    np.testing.assert_allclose(grid_C, exact_C + np.diag([1, 1]) * (8 / 48) ** 2 / 12,
                               atol=0.01)
    with h5py.File(out) as f:
        assert f["grid/rho"].shape == (3, 48, 48)
        assert "f" not in f["grid"] and "g" not in f["grid"]
        assert f["particles/x"].shape[1:] == (20000, 2)
        for key in ("w2_x1", "w2_x2", "sw2", "kl", "tv", "mean_x2", "cov_x2x2_floor"):
            assert f[f"compare/{key}"].shape == (3,)
        mass = f["grid/diagnostics/mass"][()]
        assert np.max(np.abs(mass - 1.0)) < 1e-12


def test_overdamped_2d_compare_reproduces_and_plots(overdamped_run, tmp_path):
    result, out = overdamped_run
    before = {k: result.compare[k].copy() for k in result.compare}
    analysis.recompute_compare(out)
    with h5py.File(out) as f:
        for key in ("w2_x1", "sw2", "kl", "tv", "cov_x1x2", "cov_x1x2_floor"):
            np.testing.assert_array_equal(f[f"compare/{key}"][()], before[key])
    written = plot_run(out, tmp_path / "plots")
    names = sorted(p.split("/")[-1] for p in written)
    assert names == ["diagnostics.png", "distances.png", "marginals_1d.png", "moments.png",
                     "x_marginal.png"]
    text = analysis.describe(out)
    assert "d = 2, 48x48 cells" in text and "w2_x2" in text


@pytest.mark.parametrize("full", [pytest.param('"all"', marks=pytest.mark.slow), "[0.0]"])
def test_kinetic_2x2v_run_file_and_recomputation(tmp_path, full):
    out = tmp_path / "k.h5"
    result = run(loads_config(KINETIC.replace("FULL", full)), output=out, progress=False)
    assert result.success, result.message
    with h5py.File(out) as f:
        g = f["grid"]
        assert g["rho"].shape == (3, 10, 10) and g["g"].shape == (3, 10, 9)
        n_full = 3 if full == '"all"' else 1
        assert g["f"].shape == (n_full, 10, 10, 10, 9) and g["f"].dtype == np.float32
        np.testing.assert_allclose(g["f_t"][()], [0.0, 0.1, 0.2][:n_full])
        # marginals are those of the solver's states (stored f is float32)
        hv = (8 / 10) * (7 / 9)
        rho0 = g["rho"][0]
        np.testing.assert_allclose(rho0, g["f"][0].sum(axis=(2, 3)) * hv, rtol=1e-6,
                                   atol=1e-7 * rho0.max())
        assert f["particles/v"].shape[1:] == (3000, 2)
        run_values = {k: f[f"compare/{k}"][()] for k in f["compare"]}
    assert np.all(np.isfinite(run_values["sw2"]))
    analysis.recompute_compare(out)
    with h5py.File(out) as f:
        again = {k: f[f"compare/{k}"][()] for k in f["compare"]}
    for key in ("w2_x1", "w2_v2", "tv", "mean_v1", "cov_x1x2"):
        if full == '"all"':
            np.testing.assert_array_equal(again[key], run_values[key])
        else:
            # the run compared against its float32 copy of f, the recomputation reads the
            # marginals stored from the float64 state: equal to float32 round-off
            np.testing.assert_allclose(again[key], run_values[key], rtol=1e-6, atol=1e-9)
    if full == '"all"':
        # the run compared against float32 copies of f, as stored: bit for bit
        for key in ("sw2", "kl", "cov_x1v1"):
            np.testing.assert_array_equal(again[key], run_values[key])
    else:
        # f kept at t = 0 only: the phase-space metrics are unavailable afterwards
        assert np.isfinite(again["sw2"][0]) and np.all(np.isnan(again["sw2"][1:]))
        assert np.all(np.isnan(again["cov_x1v1"][1:]))


def test_sweep_in_two_dimensions(tmp_path):
    from vfp.sweep import read_sweep, run_sweep

    cfg = loads_config(OVERDAMPED.replace("cells = 48", "cells = 24"))
    res = run_sweep(cfg, ns=[200, 800], n_seeds=2, output=tmp_path / "s.h5", workers=1,
                    progress=False, metrics=["w2_x", "mean"])
    data = read_sweep(res.path)
    assert data.metrics["w2_x1"].shape == (2, 2, 3)
    assert np.all(data.done == 1)
    assert [len(e) for e in data.x_edges] == [25, 25]
    assert "w2_x2_sq" in data.metrics and "mean_x1_err2" in data.metrics
