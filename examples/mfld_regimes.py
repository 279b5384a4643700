"""Overdamped against kinetic mean-field Langevin training of one network (issue 13, example 3).

Runs ``examples/mfld_overdamped.toml`` and ``examples/mfld_kinetic.toml`` (the same tanh
network, data, weight decay and λ; grid + particles each) and draws, against t,

* the risk F(μ_t) (grid: lines; N particles: markers, F(μ^N_t) of all N neurons);
* the MFLD objective F + ∫V + λ Ent (+ ∫|v|²/2 f kinetic) of the grid, minus its final
  value, on a log scale (the kinetic objective counts the velocities' energy and entropy,
  so only its decay is comparable).

    python examples/mfld_regimes.py [--out runs] [--figure examples/figures/mfld_regimes.png]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import vfp

HERE = Path(__file__).resolve().parent
REGIMES = ("overdamped", "kinetic")
COLOURS = {"overdamped": "tab:blue", "kinetic": "tab:red"}


def run_both(out: Path) -> dict:
    """The two run files, read back (vfp.store.RunData by regime)."""
    data = {}
    for regime in REGIMES:
        cfg = vfp.load_config(HERE / f"mfld_{regime}.toml")
        path = out / f"mfld_{regime}.h5"
        start = time.perf_counter()
        vfp.run(cfg, output=path, overwrite=True)
        print(f"{regime}: {time.perf_counter() - start:.1f} s -> {path}")
        data[regime] = vfp.read_run(path, load_particles=False)
    return data


def draw(data: dict, figure: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_risk, ax_obj) = plt.subplots(1, 2, figsize=(11, 4.2))
    for regime, run in data.items():
        c = COLOURS[regime]
        ax_risk.plot(run.grid_t, run.grid_risk, color=c, label=f"{regime}: grid F(μ_t)")
        n = run.particle_attrs.get("n") if run.particle_attrs else None
        ax_risk.plot(run.particle_t, run.particle_risk, "o", ms=4, mfc="none", color=c,
                     label=f"{regime}: particles F(μ^N_t), N = {n}")
        t = np.asarray(run.diagnostics["t"])
        obj = np.asarray(run.diagnostics["free_energy"])
        gap = obj - obj[-1]
        keep = gap > 0
        ax_obj.semilogy(t[keep], gap[keep], color=c, label=f"{regime} (grid)")
    ax_risk.set_yscale("log")
    ax_risk.set_xlabel("t")
    ax_risk.set_title("risk F = ½ mean (f_μ(z) − y)²")
    ax_risk.legend(fontsize=8)
    ax_obj.set_xlabel("t")
    ax_obj.set_title("objective − its value at the last t (grid)")
    ax_obj.legend(fontsize=8)
    fig.tight_layout()
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure, dpi=110)
    print(f"figure -> {figure}")


def summary(data: dict) -> None:
    """Risk at a few times, grid and particles, for the README."""
    for regime, run in data.items():
        rows = [f"t = {t:g}: grid {g:.3e}, particles {p:.3e}"
                for t, g, p in zip(run.grid_t, run.grid_risk, run.particle_risk)
                if t in (0.0, 1.0, 3.0, 12.0)]
        print(f"{regime}: " + "; ".join(rows))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs", help="folder of the run files")
    parser.add_argument("--figure", default=str(HERE / "figures" / "mfld_regimes.png"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = run_both(out)
    summary(data)
    draw(data, Path(args.figure))


if __name__ == "__main__":
    main()
