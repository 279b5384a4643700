"""Figures of a synthetic run file: every PNG is written, valid, sized and not blank."""

import h5py
import numpy as np
import pytest
from matplotlib.image import imread

from vfp.plots import plot_run
from vfp.store import RunWriter, StoreError, read_run

TIMES = np.array([0.0, 1.0, 2.0])


def _gauss(c, m, s):
    return np.exp(-0.5 * ((c - m) / s) ** 2) / (np.sqrt(2 * np.pi) * s)


def _write_run(path, rng, kinetic=True, n=3000, compare=True, diagnostics=True):
    """A run with Gaussian grid densities and Gaussian particle samples of the same law."""
    x_edges = np.linspace(-4.0, 4.0, 49)
    v_edges = np.linspace(-4.0, 4.0, 41) if kinetic else None
    xc = 0.5 * (x_edges[1:] + x_edges[:-1])
    keys = ["w2_x", "w2_x_floor", "kl", "kl_floor", "kl_binned", "kl_binned_floor", "tv",
            "tv_floor", "mean_x", "mean_x_grid", "var_x", "var_x_grid"]
    if kinetic:
        keys += ["w2_v", "w2_v_floor", "sw2", "sw2_floor", "mean_v", "mean_v_grid"]
    w = RunWriter(path, "# synthetic", grid={"x_edges": x_edges, "v_edges": v_edges},
                  particles={"n": n, "n_stored": n, "kinetic": kinetic, "seed": 1},
                  compare_keys=keys if compare else (),
                  attrs={"regime": "kinetic" if kinetic else "overdamped"})
    for t in TIMES:
        mx, sx, sv = 1.5 * np.exp(-t), 0.3 + 0.2 * t, 0.5
        rho = _gauss(xc, mx, sx)
        x = rng.normal(mx, sx, n)
        if kinetic:
            vc = 0.5 * (v_edges[1:] + v_edges[:-1])
            w.write_grid_snapshot(t, np.outer(rho, _gauss(vc, 0.0, sv)), dv=v_edges[1] - v_edges[0])
            w.write_particle_snapshot(t, x, rng.normal(0.0, sv, n))
        else:
            w.write_grid_snapshot(t, rho)
            w.write_particle_snapshot(t, x)
        if compare:
            floor = 1.0 / np.sqrt(n)
            row = {k: floor * (1.2 + 0.3 * rng.random()) for k in keys}
            row.update({k + "_floor": floor for k in keys})
            row.update(kl=-2e-4 + 4e-4 * rng.random(), mean_x=x.mean(), mean_x_grid=mx,
                       var_x=x.var(), var_x_grid=sx ** 2, mean_v=0.01, mean_v_grid=0.0)
            w.write_compare(t, row)
    if diagnostics:
        ts = np.linspace(0.0, TIMES[-1], 200)
        w.write_grid_diagnostics({"t": ts, "dt": np.full_like(ts, 0.01),
                                  "mass": 1.0 + 1e-13 * ts, "min": np.zeros_like(ts),
                                  "boundary_mass": 1e-12 * (1 + ts),
                                  "free_energy": -0.5 * np.log1p(ts)})
    w.close()
    return path


def _check_png(path, min_px=300):
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    img = imread(path)
    assert img.ndim == 3 and min(img.shape[:2]) >= min_px and max(img.shape[:2]) < 5000
    assert img[..., :3].var() > 1e-4  # not blank


@pytest.mark.parametrize("kinetic", [True, False])
def test_plot_run_writes_all_figures(tmp_path, rng, kinetic):
    path = _write_run(tmp_path / "run.h5", rng, kinetic=kinetic)
    written = plot_run(path, tmp_path / "plots")
    names = sorted(p.rsplit("/", 1)[-1] for p in written)
    assert names == ["diagnostics.png", "distances.png", "moments.png", "snapshots.png"]
    for p in written:
        _check_png(p)


def test_plot_run_only_what_the_file_holds(tmp_path, rng):
    path = _write_run(tmp_path / "run.h5", rng, kinetic=False, compare=False,
                      diagnostics=False)
    written = plot_run(path, tmp_path / "plots")
    assert [p.rsplit("/", 1)[-1] for p in written] == ["snapshots.png"]
    _check_png(written[0])


def test_plot_run_rejects_unusable_files(tmp_path):
    with pytest.raises(StoreError):
        plot_run(tmp_path / "missing.h5", tmp_path / "plots")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(StoreError):
        plot_run(tmp_path / "text.h5", tmp_path / "plots")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["a"] = 1
    with pytest.raises(StoreError):
        plot_run(tmp_path / "other.h5", tmp_path / "plots")
    empty = RunWriter(tmp_path / "empty.h5", grid={"x_edges": np.linspace(0, 1, 5)})
    empty.close()
    with pytest.raises(StoreError, match="nothing|no snapshots"):
        plot_run(tmp_path / "empty.h5", tmp_path / "plots")


@pytest.mark.parametrize("kinetic", [True, False])
def test_distances_figure_gets_the_registry_distances_and_floors(tmp_path, rng, kinetic,
                                                               monkeypatch):
    # A file with the full /compare layout of a run (bookkeeping included): the distance
    # figure must get every distance with its floor, and no moment or bookkeeping key.
    from vfp.validation import plots as vp
    from vfp.validation import registry

    keys = registry.stored_keys(kinetic=kinetic)
    path = tmp_path / "run.h5"
    x_edges = np.linspace(-4.0, 4.0, 9)
    v_edges = np.linspace(-4.0, 4.0, 9) if kinetic else None
    w = RunWriter(path, "# synthetic", grid={"x_edges": x_edges, "v_edges": v_edges},
                  compare_keys=keys, attrs={"regime": "kinetic" if kinetic else "overdamped"})
    for t in TIMES:
        w.write_compare(t, {k: 0.01 + 0.001 * i + t for i, k in enumerate(keys)}
                        | {"w2_emd_subsample": 500.0, "kl_outside": 0.0})
    w.close()
    seen = {}
    original = vp.distances_over_time

    def capture(t, metrics, floors=None):
        seen["metrics"], seen["floors"] = dict(metrics), dict(floors or {})
        return original(t, metrics, floors)

    monkeypatch.setattr(vp, "distances_over_time", capture)
    plot_run(path, tmp_path / "plots")
    expected = set(registry.distance_keys(kinetic=kinetic))
    assert set(seen["metrics"]) == expected
    assert set(seen["floors"]) == expected
    for k in expected:
        assert np.array_equal(seen["floors"][k], read_run(path).compare[k + "_floor"])
