"""The d = 2 layout of the run file (DESIGN §8): per-axis scales, marginals at every
snapshot, the full 4-D density (float32) at chosen snapshots, particles [t, n, d]."""

import h5py
import numpy as np
import pytest

from vfp.store import RunWriter, read_run


def _edges(lo, hi, n):
    return np.linspace(lo, hi, n + 1)


@pytest.fixture
def spec():
    return {"x_edges": [_edges(-2, 2, 4), _edges(-1, 1, 3)],
            "v_edges": [_edges(-3, 3, 6), _edges(-3, 3, 2)],
            "full_times": [0.0, 1.0], "attrs": {"scheme": "upwind"}}


def test_kinetic_2d_layout_round_trip(tmp_path, spec, rng):
    path = tmp_path / "run.h5"
    states = [rng.random((4, 3, 6, 2)) for _ in range(3)]
    with RunWriter(path, "", grid=spec, particles={"n": 10, "n_stored": 5, "kinetic": True,
                                                    "dimension": 2}) as w:
        for t, f in zip((0.0, 0.5, 1.0), states):
            w.write_grid_marginals(t, f.sum(axis=(2, 3)), f.sum(axis=(0, 1)),
                                   f if t in (0.0, 1.0) else None)
            w.write_particle_snapshot(t, rng.random((10, 2)), rng.random((10, 2)))
    data = read_run(path)
    assert data.dimension == 2 and data.kinetic
    np.testing.assert_array_equal(data.grid_t, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(data.grid_f_t, [0.0, 1.0])
    assert data.grid_rho.shape == (3, 4, 3) and data.grid_g.shape == (3, 6, 2)
    np.testing.assert_allclose(data.grid_rho[1], states[1].sum(axis=(2, 3)))
    assert data.grid_f.dtype == np.float32 and data.grid_f.shape == (2, 4, 3, 6, 2)
    np.testing.assert_allclose(data.grid_f[1], states[2], rtol=1e-7)
    assert [len(e) for e in data.x_edges] == [5, 4]
    assert data.particle_x.shape == (3, 5, 2)
    with h5py.File(path) as f:
        fd = f["grid/f"]
        assert [fd.dims[k][0].name.split("/")[-1] for k in range(5)] == \
            ["f_t", "x1", "x2", "v1", "v2"]
        assert [f["grid/rho"].dims[k][0].name.split("/")[-1] for k in range(3)] == \
            ["t", "x1", "x2"]
        assert [f["particles/x"].dims[k][0].name.split("/")[-1] for k in range(3)] == \
            ["t", "particle", "component"]
        np.testing.assert_allclose(f["grid/x2"][()], [-2 / 3, 0.0, 2 / 3], atol=1e-15)


def test_overdamped_2d_without_full_density(tmp_path, spec, rng):
    spec = dict(spec, v_edges=None)
    path = tmp_path / "od.h5"
    with RunWriter(path, "", grid=spec) as w:
        w.write_grid_marginals(0.0, rng.random((4, 3)))
    data = read_run(path)
    assert not data.kinetic and data.grid_g is None and data.grid_f is None
    assert data.grid_rho.shape == (1, 4, 3)


def test_full_density_refused_when_not_planned(tmp_path, spec, rng):
    from vfp.store import StoreError

    spec = dict(spec, full_times=[])
    with RunWriter(tmp_path / "k.h5", "", grid=spec) as w:
        with pytest.raises(StoreError, match="no full density"):
            w.write_grid_marginals(0.0, rng.random((4, 3)), rng.random((6, 2)),
                                   rng.random((4, 3, 6, 2)))
