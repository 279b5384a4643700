"""Side-by-side benchmarks of vfp against fplanck, py-pde, sdeint and plain NumPy.

Run through ``bash benchmarks/peers/run.sh`` (it creates the benchmark's own venv with the
peers; they are never dependencies of vfp). Writes ``results.json``, ``results.md`` and
work–precision PNGs next to this file.

Problems (overdamped Fokker–Planck ∂t ρ = ∂x(V' ρ) + λ ∂x² ρ, no-flux ends):

* ``ou``: V = x²/2, λ = 0.5, x ∈ [−6, 6], ρ0 = N(2, 0.3²), t = 1; exact Gaussian
  (validation.exact.overdamped_gaussian_moments), L1 error against the exact cell averages;
* ``dwell``: V = x⁴/4 − x²/2, λ = 0.5, x ∈ [−3, 3], ρ0 = N(0.8, 0.3²), t = 1; reference =
  vfp ``sg_implicit`` on 25 600 cells with Δt = 5·10⁻⁴ (cell averages restricted to the
  coarse cells);
* ``drift``: as ``ou`` with λ = 0.02 (cell Péclet number up to 6h/λ = 300h).

Fairness rules: the peers get the same cell centres (fplanck's grid nodes and py-pde's cell
centres coincide with vfp's), their initial data as they expect it (fplanck samples the
density at the nodes itself; py-pde gets the cell averages), and their error is the smaller
of the error against the exact cell averages and against the exact point values. Their
solver options are swept (py-pde: adaptive RK45 at two tolerances;
fplanck: sparse ``expm_multiply`` and dense ``expm``) and each method's work–precision
curve is its Pareto front. Times are the minimum over repeats of the solve only:
vfp ``GridSolution.solve_time`` (compilation excluded, reported apart), fplanck's
``propagate`` (its matrix assembly is *not* counted and reported apart), py-pde's profiler
"solver" time (its Numba compilation, several seconds per call, reported apart).
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")
# fplanck 0.2.2 calls np.product, removed in NumPy 2; alias it (same function)
if not hasattr(np, "product"):
    np.product = np.prod

HERE = os.path.dirname(os.path.abspath(__file__))
QUICK = os.environ.get("VFP_PEERS_QUICK") == "1"

from vfp.grids.grid import Axis                                     # noqa: E402
from vfp.grids.quadrature import cell_averages_1d                  # noqa: E402
from vfp.grids.solver import OverdampedProblem, solve               # noqa: E402
from vfp.validation.exact import gaussian_pdf_1d, overdamped_gaussian_moments   # noqa: E402

NS = [50, 100, 200, 400, 800, 1600]
NS_VFP_EXTRA = [3200]


def log(*a):
    print(*a, flush=True)


# ---------------------------------------------------------------------------------------
# problems
# ---------------------------------------------------------------------------------------

class Case:
    def __init__(self, name, V, Vp, lam, lo, hi, m0, s0, t):
        self.name, self.V, self.Vp, self.lam, self.lo, self.hi = name, V, Vp, lam, lo, hi
        self.m0, self.s0, self.t = m0, s0, t
        self._ref = None

    def rho0(self, y):
        return gaussian_pdf_1d(y, self.m0, self.s0 ** 2)

    def exact(self, n):
        """(cell averages, point values at the centres) of the solution at t."""
        x = Axis(self.lo, self.hi, n)
        if self.name in ("ou", "drift"):
            m, s2 = overdamped_gaussian_moments(self.t, self.m0, self.s0 ** 2, 1.0, 0.0,
                                                self.lam)
            f = lambda y: gaussian_pdf_1d(y, m, s2)       # noqa: E731
            return cell_averages_1d(f, x), f(x.centres)
        if self._ref is None:
            nf = 25600
            xf = Axis(self.lo, self.hi, nf)
            p = OverdampedProblem(xf, self.lam, self.V, self.Vp)
            sol = solve(p, cell_averages_1d(self.rho0, xf), [self.t], scheme="sg_implicit",
                        dt=5e-4, diagnostics_every=10 ** 6)
            self._ref = (xf, sol.states[-1])
        xf, rf = self._ref
        avg = rf.reshape(n, -1).mean(axis=1)
        pts = np.interp(x.centres, xf.centres, rf)
        return avg, pts


OU = Case("ou", lambda y: 0.5 * y ** 2, lambda y: 1.0 * y, 0.5, -6.0, 6.0, 2.0, 0.3, 1.0)
DWELL = Case("dwell", lambda y: y ** 4 / 4 - y ** 2 / 2, lambda y: y ** 3 - y, 0.5, -3.0, 3.0,
             0.8, 0.3, 1.0)
DRIFT = Case("drift", lambda y: 0.5 * y ** 2, lambda y: 1.0 * y, 0.02, -6.0, 6.0, 2.0, 0.3,
             1.0)


def l1(r, ref, h):
    return float(np.abs(r - ref).sum() * h)


def errors(case, n, r, point_values):
    avg, pts = case.exact(n)
    h = (case.hi - case.lo) / n
    e_avg = l1(r, avg, h)
    return min(e_avg, l1(r, pts, h)) if point_values else e_avg


# ---------------------------------------------------------------------------------------
# runners: each returns dict(err, min, time, setup, compile, ok, note)
# ---------------------------------------------------------------------------------------

def run_vfp(case, n, scheme, dt=None, reps=5):
    x = Axis(case.lo, case.hi, n)
    p = OverdampedProblem(x, case.lam, case.V, case.Vp)
    r0 = cell_averages_1d(case.rho0, x)
    kw = {"dt": dt} if dt is not None else {}
    best = math.inf
    sol = None
    comp = 0.0
    for k in range(reps):
        sol = solve(p, r0, [case.t], scheme=scheme, diagnostics_every=10 ** 7, **kw)
        comp = max(comp, sol.compile_time)
        best = min(best, sol.solve_time)
        if sol.solve_time > 2.0:
            break
    r = sol.states[-1] if sol.success else np.full(n, np.nan)
    return dict(err=errors(case, n, r, False), min=float(np.min(r)), time=best, setup=0.0,
                compile=comp, ok=bool(sol.success), note=sol.message[:80])


def _fplanck_call(case, n, dense):
    import fplanck
    from scipy import constants
    t0 = time.perf_counter()
    sim = fplanck.fokker_planck(temperature=case.lam / constants.k, drag=1.0,
                                extent=case.hi - case.lo, resolution=(case.hi - case.lo) / n,
                                potential=case.V, boundary=fplanck.boundary.reflecting)
    t1 = time.perf_counter()
    assert int(sim.Ngrid[0]) == n, sim.Ngrid
    pf = sim.propagate(case.rho0, case.t, dense=dense)
    t2 = time.perf_counter()
    h = (case.hi - case.lo) / n
    return pf / h, t2 - t1, t1 - t0


def _in_child(q, fn, args):
    try:
        q.put(("ok", fn(*args)))
    except Exception as exc:            # report, do not hang
        q.put(("err", repr(exc)))


def call_with_timeout(fn, args, timeout):
    """Run fn(*args) in a forked child; None on timeout."""
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    proc = ctx.Process(target=_in_child, args=(q, fn, args))
    proc.start()
    try:
        kind, val = q.get(timeout=timeout)
    except Exception:
        proc.terminate()
        proc.join()
        return None
    proc.join()
    if kind == "err":
        raise RuntimeError(val)
    return val


def run_fplanck(case, n, dense, reps=3, timeout=60.0):
    best, setup, r = math.inf, 0.0, None
    for k in range(reps):
        out = call_with_timeout(_fplanck_call, (case, n, dense), timeout)
        if out is None:
            return dict(err=math.nan, min=math.nan, time=math.inf, setup=math.nan, compile=0.0,
                        ok=False, note=f"no result within {timeout:.0f} s (stalled)")
        r, tp, ts = out
        best = min(best, tp)
        setup = ts
        if tp > 1.0:
            break
    ok = bool(np.all(np.isfinite(r)))
    return dict(err=errors(case, n, r, True) if ok else math.nan, min=float(np.min(r)),
                time=best, setup=setup, compile=0.0, ok=ok, note="")


def run_pypde(case, n, solver, opts, reps=2):
    import pde
    grid = pde.CartesianGrid([[case.lo, case.hi]], [n])
    x = Axis(case.lo, case.hi, n)
    state = pde.ScalarField(grid, cell_averages_1d(case.rho0, x))
    # no-flux Robin condition λ ∂x ρ + V' ρ = 0:  ∂n ρ + (|V'(end)|/λ) ρ = 0 at both ends
    # (V' points outward at both ends for a confining potential)
    kr = float(case.Vp(np.array(case.hi))) / case.lam
    kl = -float(case.Vp(np.array(case.lo))) / case.lam
    vp = {"ou": "x", "drift": "x", "dwell": "x**3 - x"}[case.name]
    eq = pde.PDE({"c": f"{case.lam}*laplace(c) + d_dx(c*({vp}))"},
                 bc={"x-": {"mixed": kl}, "x+": {"mixed": kr}})
    best, comp, res, info = math.inf, 0.0, None, None
    wall0 = time.perf_counter()
    for k in range(reps):
        w0 = time.perf_counter()
        res, info = eq.solve(state, t_range=case.t, dt=1e-4, solver=solver, tracker=None,
                             ret_info=True, **opts)
        prof = info["controller"]["profiler"]
        best = min(best, prof["solver"])
        comp = max(comp, time.perf_counter() - w0 - prof["solver"])
        if prof["solver"] > 1.0 or time.perf_counter() - wall0 > 60:
            break
    d = np.asarray(res.data, dtype=float)
    ok = bool(np.all(np.isfinite(d)))
    return dict(err=errors(case, n, d, True) if ok else math.nan,
                min=float(np.min(d)) if ok else math.nan, time=best, setup=0.0, compile=comp,
                ok=ok, note=f"steps={info['solver'].get('steps')}")


# ---------------------------------------------------------------------------------------
# suites
# ---------------------------------------------------------------------------------------

VFP_SG_DTS = [0.1, 0.05, 0.025, 0.0125, 0.00625]
# py-pde's adaptive explicit Runge–Kutta (its default solver family, Numba-compiled loop).
# Its "scipy" solver (solve_ivp, LSODA/BDF) was tried and is 20-100x slower here (it
# recompiles the right-hand side in every call and steps through Python), so it is left out.
PYPDE_CONFIGS = [("explicit", {"scheme": "rk", "adaptive": True, "tolerance": 1e-4}, "rk45 tol 1e-4"),
                 ("explicit", {"scheme": "rk", "adaptive": True, "tolerance": 1e-6}, "rk45 tol 1e-6")]


def work_precision(case):
    rows = []
    ns = NS[:3] if QUICK else NS

    def add(method, config, n, res):
        res.update(problem=case.name, method=method, config=config, n=n)
        rows.append(res)
        log(f"  {case.name:6s} {method:9s} {config:16s} N={n:5d} err={res['err']:.3e} "
            f"min={res['min']:.2e} t={res['time'] * 1e3:9.3f} ms {res['note']}")

    for n in ns + ([] if QUICK else NS_VFP_EXTRA):
        for sch in ("sg2_implicit", "sg_implicit"):
            for dt in VFP_SG_DTS:
                add("vfp", f"{sch} dt={dt:g}", n, run_vfp(case, n, sch, dt))
        if n <= 1600:
            for sch in ("upwind", "muscl"):
                add("vfp", sch, n, run_vfp(case, n, sch, reps=3))
    for n in ns:
        for dense in (False, True):
            if dense and n > 800:
                continue
            add("fplanck", "expm dense" if dense else "expm_multiply", n,
                run_fplanck(case, n, dense, timeout=120.0))
    for n in ns:
        for solver, opts, label in PYPDE_CONFIGS:
            add("py-pde", label, n, run_pypde(case, n, solver, opts))
    return rows


def drift_suite():
    case = DRIFT
    rows = []
    ns = NS[:3] if QUICK else NS

    def add(method, config, n, res):
        res.update(problem=case.name, method=method, config=config, n=n)
        rows.append(res)
        log(f"  drift  {method:9s} {config:16s} N={n:5d} err={res['err']:.3e} "
            f"min={res['min']:.2e} t={res['time'] * 1e3:9.3f} ms {res['note']}")

    for n in ns:
        add("vfp", "sg_implicit (default step)", n, run_vfp(case, n, "sg_implicit"))
        add("vfp", "sg2_implicit (default step)", n, run_vfp(case, n, "sg2_implicit"))
        add("vfp", "muscl", n, run_vfp(case, n, "muscl", reps=3))
        add("fplanck", "expm_multiply", n, run_fplanck(case, n, False, reps=1, timeout=30.0))
        for solver, opts, label in PYPDE_CONFIGS:
            add("py-pde", label, n, run_pypde(case, n, solver, opts, reps=1))
    return rows


# --- particles --------------------------------------------------------------------------

P_LAM, P_M0, P_S0, P_T, P_DT = 0.5, 2.0, 0.3, 1.0, 0.01


def moment_error(x):
    m, s2 = overdamped_gaussian_moments(P_T, P_M0, P_S0 ** 2, 1.0, 0.0, P_LAM)
    return abs(float(np.mean(x)) - m), abs(float(np.var(x)) - s2)


def particles_vfp(n, reps=5):
    from vfp.particles.forces import Polynomial
    from vfp.particles import simulate
    x0 = np.random.default_rng(1).normal(P_M0, P_S0, n)
    best, comp, sol = math.inf, 0.0, None
    for k in range(reps):
        w0 = time.perf_counter()
        sol = simulate(x0, None, grad_potential=Polynomial([0.0, 1.0]), temperature=P_LAM,
                       dt=P_DT, snapshots=[P_T], domain=(-6.0, 6.0), seed=7)
        wall = time.perf_counter() - w0 - sol.compile_time
        comp = max(comp, sol.compile_time)
        best = min(best, wall)
    return best, comp, moment_error(sol.x)


def particles_numpy(n, reps=5):
    best, x = math.inf, None
    steps = int(round(P_T / P_DT))
    for k in range(reps):
        rng = np.random.default_rng(7)
        x = np.random.default_rng(1).normal(P_M0, P_S0, n)
        z = np.empty(n)
        s = math.sqrt(2.0 * P_LAM * P_DT)
        w0 = time.perf_counter()
        for _ in range(steps):
            rng.standard_normal(out=z)
            z *= s
            x *= 1.0 - P_DT            # x ← x − η V'(x) + sqrt(2λη) ξ, V' = x
            x += z
        best = min(best, time.perf_counter() - w0)
    return best, 0.0, moment_error(x)


def particles_sdeint(n, reps=5):
    import scipy.sparse as sp
    import sdeint
    steps = int(round(P_T / P_DT))
    tspan = np.linspace(0.0, P_T, steps + 1)
    G = sp.diags(np.full(n, math.sqrt(2.0 * P_LAM)))   # additive noise, sparse (O(N) per step)

    def f(y, t):
        return -y

    def g(y, t):
        return G

    best, y = math.inf, None
    for k in range(reps):
        x0 = np.random.default_rng(1).normal(P_M0, P_S0, n)
        w0 = time.perf_counter()
        y = sdeint.itoEuler(f, g, x0, tspan, generator=np.random.default_rng(7))
        best = min(best, time.perf_counter() - w0)
    return best, 0.0, moment_error(y[-1])


def particle_suite():
    rows = []
    steps = int(round(P_T / P_DT))
    plan = [(10 ** 5, ("vfp", "numpy", "sdeint")), (10 ** 6, ("vfp", "numpy"))]
    if QUICK:
        plan = [(10 ** 4, ("vfp", "numpy", "sdeint"))]
    fns = {"vfp": particles_vfp, "numpy": particles_numpy, "sdeint": particles_sdeint}
    for n, methods in plan:
        for m in methods:
            t, comp, (em, ev) = fns[m](n)
            rows.append(dict(method=m, n=n, steps=steps, time=t, compile=comp,
                             rate=n * steps / t, err_mean=em, err_var=ev))
            log(f"  particles {m:7s} N={n:8d} t={t:.4f} s rate={n * steps / t:.3e}/s "
                f"|Δmean|={em:.2e} |Δvar|={ev:.2e}")
    return rows


def main():
    if os.environ.get("VFP_PEERS_ONLY") == "particles":
        # rerun only the particle suite, keeping the stored PDE results
        with open(os.path.join(HERE, "results.json")) as fh:
            out = json.load(fh)
        log("particles")
        out["particles"] = particle_suite()
        with open(os.path.join(HERE, "results.json"), "w") as fh:
            json.dump(out, fh, indent=1, default=float)
        log("wrote results.json")
        return
    out = {"meta": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "numpy": np.__version__, "quick": QUICK}}
    import numba
    import pde
    import scipy
    out["meta"].update(numba=numba.__version__, scipy=scipy.__version__,
                       py_pde=pde.__version__, numba_threads=numba.config.NUMBA_NUM_THREADS)
    log("work-precision: OU")
    out["ou"] = work_precision(OU)
    log("work-precision: double well")
    out["dwell"] = work_precision(DWELL)
    log("drift-dominated (lambda = 0.02)")
    out["drift"] = drift_suite()
    log("particles")
    out["particles"] = particle_suite()
    with open(os.path.join(HERE, "results.json"), "w") as fh:
        json.dump(out, fh, indent=1, default=float)
    log("wrote results.json")


if __name__ == "__main__":
    main()
