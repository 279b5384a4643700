"""``vfp compare`` (recomputation from a run file) and ``vfp info`` (its summary)."""

import h5py
import numpy as np
import pytest

from vfp import config as cfgmod
from vfp.analysis import describe, recompute_compare
from vfp.cli import main
from vfp.runner import run
from vfp.store import read_run

CONFIG = """
[model]
regime = "{regime}"
temperature = 0.5
potential = {{ kind = "harmonic", omega = 1.0 }}
{gamma}
[initial]
kind = "gaussian"
mean = {mean}
std = {std}

[time]
t_end = 0.2
snapshots = [0.0, 0.2]

[grid]
x = {{ min = -5.0, max = 5.0, cells = 24 }}
{v}
scheme = "upwind"

[particles]
n = {n}
dt = 0.02
scheme = "euler"
seed = 3
{store}

[compare]
seed = {seed}
n_projections = 8
emd_subsample = 60
"""


def _run(tmp_path, regime="kinetic", n=1200, store=None, seed=5):
    kinetic = regime == "kinetic"
    text = CONFIG.format(
        regime=regime, gamma="gamma = 1.0" if kinetic else "",
        mean="[0.5, 0.0]" if kinetic else "0.5", std="[0.6, 0.6]" if kinetic else "0.6",
        v='v = { min = -5.0, max = 5.0, cells = 20 }' if kinetic else "", n=n,
        store="" if store is None else f"store = {store}", seed=seed)
    path = tmp_path / f"{regime}.toml"
    path.write_text(text)
    out = tmp_path / f"{regime}.h5"
    run(cfgmod.load(path), output=out, progress=False)
    return out


def _stored(path):
    return {k: np.array(v) for k, v in read_run(path).compare.items()}


@pytest.mark.parametrize("regime", ["kinetic", pytest.param("overdamped", marks=pytest.mark.slow)])
def test_recompute_reproduces_the_run_with_its_compare_seed(tmp_path, regime):
    # compare.seed = 5: a recomputation must use it (not seed 0) for the sliced directions,
    # the EMD subsample and the noise-floor samples, and give the run's values bit for bit.
    out = _run(tmp_path, regime, seed=5)
    before = _stored(out)
    done = recompute_compare(out)
    after = _stored(out)
    assert done.settings["seed"] == 5 and not done.subset and not done.warnings
    assert set(after) == set(before) and len(before["t"]) == 2
    for key in before:
        assert np.array_equal(after[key], before[key], equal_nan=True), key
    # The check can fail: the floors depend on the seed (seed 0 was the old default).
    recompute_compare(out, seed=0)
    other = _stored(out)
    assert not np.array_equal(other["kl_floor"], before["kl_floor"])
    with h5py.File(out, "r") as f:
        assert f["compare"].attrs["seed"] == 0


def test_recompute_of_a_stored_subset_says_so(tmp_path, capsys):
    out = _run(tmp_path, n=1200, store=300)
    done = recompute_compare(out)
    assert done.subset and done.n_used == 300 and done.n_particles == 1200
    assert len(done.warnings) == 1 and "300 of its 1200" in done.warnings[0]
    with h5py.File(out, "r") as f:
        a = f["compare"].attrs
        assert a["n_used"] == 300 and a["n_particles"] == 1200 and a["subset"]
    assert main(["compare", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "300 of its 1200" in err


def _info_fields(text, key):
    """The words of the ``vfp info`` line of ``key`` (after the key)."""
    lines = [ln.split() for ln in text.splitlines() if ln.split()[:1] == [key]]
    assert len(lines) == 1, (key, text)
    return lines[0][1:]


@pytest.mark.parametrize("regime", ["kinetic", "overdamped"])
def test_info_prints_excess_over_floor_and_moment_differences(tmp_path, regime):
    out = _run(tmp_path, regime)
    text = describe(out)
    c = {k: v[-1] for k, v in _stored(out).items()}
    # Distances: value, floor, excess = value − floor (as printed, 4 significant digits).
    for key in ["w2_x", "kl", "kl_binned", "tv"] + (["w2_v", "sw2", "w2_emd"]
                                                     if regime == "kinetic" else []):
        words = _info_fields(text, key)
        assert words[1] == "floor" and words[3] == "excess", words
        value, floor, excess = float(words[0]), float(words[2]), float(words[4])
        assert value == pytest.approx(c[key], rel=1e-3)
        assert floor == pytest.approx(c[key + "_floor"], rel=1e-3)
        assert excess == pytest.approx(c[key] - c[key + "_floor"], rel=1e-3, abs=1e-12)
    # Moments: particles, grid, difference, and the floor *of the difference*.
    for key in ["mean_x", "var_x"] + (["mean_v", "var_v", "cov_xv"]
                                      if regime == "kinetic" else []):
        words = _info_fields(text, key)
        assert words[0::2][:4] == ["particles", "grid", "difference", "floor"], words
        assert float(words[1]) == pytest.approx(c[key], rel=1e-4)
        assert float(words[3]) == pytest.approx(c[key + "_grid"], rel=1e-4)
        assert float(words[5]) == pytest.approx(c[key] - c[key + "_grid"], rel=1e-3)
        assert float(words[-1]) == pytest.approx(c[key + "_floor"], rel=1e-3)
    # Bookkeeping is not a metric; floors and grid values are not lines of their own.
    for key in ("n", "kl_outside", "w2_emd_subsample", "w2_x_floor", "var_x_grid"):
        assert not any(ln.split()[:1] == [key] for ln in text.splitlines()), key
    assert "noise floor 8" not in text and "(noise floor" not in text
    if regime == "overdamped":
        assert not any(ln.split()[:1] in (["w2_v"], ["sw2"], ["mean_v"])
                       for ln in text.splitlines())
