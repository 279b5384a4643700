"""Accuracy of the grid solver against exact solutions (validation.exact).

Errors are L1 distances between the grid state and the *cell averages* of the exact
density (4-point tensor Gauss–Legendre, error O(h^8)), so a scheme of order p should show
an observed order log2(e_h / e_{h/2}) close to p. Thresholds: 0.8 for the first-order
`upwind`, 1.7 for the second-order `muscl` and `sg_imex` on smooth data; near smooth extrema the MC
limiter clips the slope to first order on O(1) cells, so for the multi-modal equilibria
the asymptotic L1 order of `muscl` is only guaranteed between 1.5 and 2 and we ask for 1.5.
"""

import numpy as np
import pytest

from vfp.grids.grid import Axis
from vfp.grids.quadrature import cell_averages_1d, cell_averages_2d
from vfp.grids.solver import KineticProblem, OverdampedProblem, free_energy, solve
from vfp.validation.exact import (gaussian_pdf_1d, gaussian_pdf_2d, gibbs_density,
                              kinetic_gaussian_moments, overdamped_gaussian_moments,
                              self_consistent_equilibrium)

ORDER = {"upwind": 0.8, "muscl": 1.7, "sg_imex": 1.7}
ORDER_CLIPPED = {"upwind": 0.8, "muscl": 1.5, "sg_imex": 1.5}


def order(e_coarse, e_fine):
    return np.log2(e_coarse / e_fine)


def dwell(x):
    return x ** 4 / 4 - x ** 2 / 2


def dwell_grad(x):
    return x ** 3 - x


def grid_moments(f, x, v):
    """Mean and covariance of the piecewise-constant density (uniform inside each cell:
    Σ centre² plus h²/12 on the diagonal)."""
    w = f * x.h * v.h
    m = w.sum()
    X, V = x.centres[:, None], v.centres[None, :]
    mx, mv = (w * X).sum() / m, (w * V).sum() / m
    cxx = (w * (X - mx) ** 2).sum() / m + x.h ** 2 / 12
    cvv = (w * (V - mv) ** 2).sum() / m + v.h ** 2 / 12
    cxv = (w * (X - mx) * (V - mv)).sum() / m
    return np.array([mx, mv]), np.array([[cxx, cxv], [cxv, cvv]])


# --- 2. kinetic Gaussian ------------------------------------------------------------------

OM2, KAPPA, GAMMA, LAM, T = 1.0, 0.5, 1.0, 0.5, 1.0
M0, C0 = np.array([1.0, 0.0]), np.diag([0.16, 0.16])


def kinetic_gaussian_run(n, scheme):
    x = v = Axis(-5.0, 5.0, n)
    p = KineticProblem(x, v, GAMMA, LAM, lambda y: 0.5 * OM2 * y ** 2, lambda y: OM2 * y,
                       lambda y: 0.5 * KAPPA * y ** 2, lambda y: KAPPA * y)
    f0 = cell_averages_2d(lambda a, b: gaussian_pdf_2d(a, b, M0, C0), x, v)
    m, c = kinetic_gaussian_moments(T, M0, C0, OM2, KAPPA, GAMMA, LAM)
    exact = cell_averages_2d(lambda a, b: gaussian_pdf_2d(a, b, m, c), x, v)
    sol = solve(p, f0, [T], scheme=scheme, diagnostics_every=100)
    assert sol.success, sol.message
    f = sol.states[-1]
    err = np.abs(f - exact).sum() * x.h * v.h
    gm, gc = grid_moments(f, x, v)
    return err, np.abs(gm - m).max(), np.abs(gc - c).max()


# upwind needs 128² and 256² cells to show its first order here (the 256² run is among the
# suite's heaviest): slow; upwind's kinetic order stays checked by the double-well test
@pytest.mark.parametrize("scheme,cells", [pytest.param("upwind", (128, 256),
                                                       marks=pytest.mark.slow),
                                          ("muscl", (64, 128)), ("sg_imex", (64, 128))])
def test_kinetic_gaussian_convergence(scheme, cells):
    (e1, dm1, dc1), (e2, dm2, dc2) = (kinetic_gaussian_run(n, scheme) for n in cells)
    assert order(e1, e2) >= ORDER[scheme], (e1, e2)
    # moments converge at the scheme's order as well
    assert order(dm1, dm2) >= ORDER[scheme], (dm1, dm2)
    assert order(dc1, dc2) >= ORDER[scheme], (dc1, dc2)
    # and are close in absolute terms: |Δ moment| <= (|x|-weight on the bulk, ~3σ) × L1
    assert dm2 <= 3.0 * e2
    assert dc2 <= 3.0 * e2


# --- 3. overdamped OU with interaction ----------------------------------------------------

def overdamped_gaussian_error(n, scheme):
    x = Axis(-5.0, 5.0, n)
    p = OverdampedProblem(x, LAM, lambda y: 0.5 * OM2 * y ** 2, lambda y: OM2 * y,
                          lambda y: 0.5 * KAPPA * y ** 2, lambda y: KAPPA * y)
    r0 = cell_averages_1d(lambda y: gaussian_pdf_1d(y, 1.0, 0.16), x)
    m, s2 = overdamped_gaussian_moments(T, 1.0, 0.16, OM2, KAPPA, LAM)
    exact = cell_averages_1d(lambda y: gaussian_pdf_1d(y, m, s2), x)
    sol = solve(p, r0, [0.5 * T, T], scheme=scheme, diagnostics_every=100)
    assert sol.success, sol.message
    r = sol.states[-1]
    mean = (r * x.centres).sum() * x.h
    return np.abs(r - exact).sum() * x.h, abs(mean - m)


@pytest.mark.parametrize("scheme,cells", [("upwind", (100, 200)), ("muscl", (100, 200))])
def test_overdamped_gaussian_convergence(scheme, cells):
    (e1, dm1), (e2, dm2) = (overdamped_gaussian_error(n, scheme) for n in cells)
    assert order(e1, e2) >= ORDER[scheme], (e1, e2)
    assert dm2 <= 3.0 * e2


# --- 4. double-well Gibbs equilibrium -----------------------------------------------------

def kinetic_gibbs_errors(n, scheme):
    lam = 1.0
    x, v = Axis(-3.5, 3.5, n), Axis(-6.0, 6.0, n)
    p = KineticProblem(x, v, 1.0, lam, dwell, dwell_grad)
    f0 = cell_averages_2d(lambda a, b: gaussian_pdf_2d(a, b, np.array([1.0, 0.0]),
                                                       np.diag([0.25, 0.49])), x, v)
    sol = solve(p, f0, [12.0], scheme=scheme, diagnostics_every=200)
    assert sol.success, sol.message
    g = gibbs_density(dwell, lam, x.lo, x.hi)
    rho_ex = cell_averages_1d(g, x)
    f_ex = cell_averages_2d(lambda a, b: g(a) * gaussian_pdf_1d(b, 0.0, lam), x, v)
    f = sol.states[-1]
    e_rho = np.abs(f.sum(axis=1) * v.h - rho_ex).sum() * x.h
    e_f = np.abs(f - f_ex).sum() * x.h * v.h
    # discrete minimiser of the free energy at unit mass: f* ∝ exp(-(v²/2 + V)/λ) at the
    # centres, F(f*) = -λ log Σ exp(-E/λ) hx hv; F(f) - F(f*) = λ KL(f | f*) >= 0 (Gibbs)
    energy = 0.5 * v.centres[None, :] ** 2 + dwell(x.centres)[:, None]
    f_min = -lam * np.log(np.exp(-energy / lam).sum() * x.h * v.h)
    mass = f.sum() * x.h * v.h
    return e_rho, e_f, free_energy(p, f / mass) - f_min, sol


@pytest.mark.parametrize("scheme", ["upwind", "muscl", "sg_imex"])
def test_kinetic_double_well_gibbs(scheme):
    (r1, f1, fe1, _), (r2, f2, fe2, sol) = (kinetic_gibbs_errors(n, scheme) for n in (40, 80))
    assert order(r1, r2) >= ORDER_CLIPPED[scheme], (r1, r2)
    assert order(f1, f2) >= ORDER_CLIPPED[scheme], (f1, f2)
    # excess free energy over the discrete minimiser: >= 0 (round-off) and shrinking
    assert fe2 >= -1e-12 and fe2 <= fe1
    # free energy decays along the run (sampled values; allow round-off only)
    fe = sol.diagnostics["free_energy"]
    assert fe[-1] < fe[0]


def overdamped_equilibrium_error(n, scheme, interaction):
    lam, lo, hi = 0.5, -3.0, 3.0
    x = Axis(lo, hi, n)
    extra = interaction if interaction else ()
    p = OverdampedProblem(x, lam, dwell, dwell_grad, *extra)
    # symmetric start: the slow (Kramers) inter-well mode is not excited
    r0 = cell_averages_1d(lambda y: gaussian_pdf_1d(y, 0.0, 0.6), x)
    sol = solve(p, r0, [4.0], scheme=scheme, diagnostics_every=500)
    assert sol.success, sol.message
    if interaction:
        fine = 40 * 120
        _, rho_f = self_consistent_equilibrium(dwell, interaction[0], lam, lo, hi, cells=fine)
        exact = rho_f.reshape(n, -1).mean(axis=1)   # cell averages, O(h_fine²)
    else:
        exact = cell_averages_1d(gibbs_density(dwell, lam, lo, hi), x)
    return np.abs(sol.states[-1] - exact).sum() * x.h


@pytest.mark.parametrize("scheme", ["upwind", "muscl"])
def test_overdamped_double_well_gibbs(scheme):
    e1, e2 = (overdamped_equilibrium_error(n, scheme, None) for n in (60, 120))
    assert order(e1, e2) >= ORDER_CLIPPED[scheme], (e1, e2)


# --- 5. self-consistent equilibrium with a gaussian interaction ---------------------------

S_W, W_W = 1.0, 0.5


def gauss_w(y):
    return S_W * np.exp(-y ** 2 / (2 * W_W ** 2))


def gauss_wp(y):
    return -y / W_W ** 2 * gauss_w(y)


@pytest.mark.parametrize("scheme", ["upwind", "muscl"])
def test_overdamped_self_consistent_equilibrium(scheme):
    e1, e2 = (overdamped_equilibrium_error(n, scheme, (gauss_w, gauss_wp)) for n in (60, 120))
    assert order(e1, e2) >= ORDER_CLIPPED[scheme], (e1, e2)


@pytest.mark.parametrize("scheme", ["muscl", "sg_imex"])
def test_kinetic_self_consistent_equilibrium(scheme):
    """The kinetic stationary state is ρ* ⊗ Maxwellian with the same ρ* as overdamped."""
    lam, lo, hi = 0.5, -3.0, 3.0
    errs = []
    for n in (40, 80):
        x, v = Axis(lo, hi, n), Axis(-4.5, 4.5, n)
        p = KineticProblem(x, v, 1.0, lam, dwell, dwell_grad, gauss_w, gauss_wp)
        f0 = cell_averages_2d(lambda a, b: gaussian_pdf_2d(a, b, np.zeros(2),
                                                           np.diag([0.36, 0.5])), x, v)
        sol = solve(p, f0, [10.0], scheme=scheme, diagnostics_every=500)
        assert sol.success, sol.message
        _, rho_f = self_consistent_equilibrium(dwell, gauss_w, lam, lo, hi, cells=n * 60)
        exact = rho_f.reshape(n, -1).mean(axis=1)
        rho = sol.states[-1].sum(axis=1) * v.h
        errs.append(np.abs(rho - exact).sum() * x.h)
    assert order(*errs) >= ORDER_CLIPPED[scheme], errs
