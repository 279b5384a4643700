"""Figures for d = 2 comparisons: the right panels, the right data, no crash on NaN."""

import io

import numpy as np
import pytest
from matplotlib.collections import QuadMesh

from vfp.validation import metrics_nd as N
from vfp.validation import plots as P
from vfp.validation import plots_nd as PN
from vfp.validation import registry

T = np.array([0.0, 0.5, 1.0])
E = [np.linspace(-3, 3, 25), np.linspace(-2, 4, 21)]


def _gauss2(edges, m, s):
    c1, c2 = (0.5 * (e[1:] + e[:-1]) for e in edges)
    g = np.exp(-0.5 * (((c1[:, None] - m[0]) / s[0]) ** 2 + ((c2[None, :] - m[1]) / s[1]) ** 2))
    return g / (g.sum() * np.diff(edges[0])[0] * np.diff(edges[1])[0])


def _draw(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    assert buf.tell() > 1000


def _meshes(fig):
    """The heat maps (titled axes; colour bars carry a QuadMesh too but no title)."""
    return [c for ax in fig.axes if ax.get_title() for c in ax.collections
            if isinstance(c, QuadMesh)]


def test_marginal_heatmaps_panels_and_data(rng):
    rho = np.stack([_gauss2(E, (0.1 * k, 1.0), (1.0, 0.8)) for k in range(3)])
    x = rng.normal([0.0, 1.0], [1.0, 0.8], size=(3, 2000, 2))
    fig = PN.marginal_heatmaps(T, E, rho, x)
    meshes = _meshes(fig)
    assert len(meshes) == 6  # 3 snapshots × (grid, particles)
    np.testing.assert_allclose(np.asarray(meshes[0].get_array()).reshape(20, 24).T, rho[0])
    hist = np.asarray(meshes[1].get_array()).reshape(20, 24).T
    p, _ = N.binned_masses_nd(x[0], E)
    np.testing.assert_allclose(hist * np.outer(np.diff(E[0]), np.diff(E[1])), p)
    assert meshes[0].get_clim() == meshes[1].get_clim()  # one colour scale per row
    # grid only, v symbol, and NaN entries (a lost particle, a NaN cell) do not crash
    x[1, :10] = np.nan
    rho[2, 3, 4] = np.nan
    fig = PN.marginal_heatmaps(T, E, rho, x, symbol="v", max_snapshots=2)
    assert len(_meshes(fig)) == 4 and fig.axes[0].get_xlabel() == "v1"
    _draw(fig)
    assert len(_meshes(PN.marginal_heatmaps(T, E, grid_density=rho))) == 3
    with pytest.raises(ValueError):
        PN.marginal_heatmaps(T, E)


def test_axis_marginals_figure_columns_and_lines(rng):
    rho = np.stack([_gauss2(E, (0.0, 1.0), (1.0, 0.8))] * 3)
    g = [np.stack([_gauss2(E, (0.0, 1.0), (1.0, 0.8))] * 3)]
    marg = PN.grid_axis_marginals(E, rho)
    # each 1-D marginal integrates to the mass of the 2-D one
    assert np.allclose(marg[0] @ np.diff(E[0]), 1.0) and np.allclose(marg[1] @ np.diff(E[1]), 1.0)
    edges4 = E + E
    grid4 = marg + PN.grid_axis_marginals(E, g[0])
    z = rng.normal(size=(3, 500, 4))
    z[2, :5, 3] = np.nan
    fig = PN.axis_marginals_figure(T, edges4, grid4, z)
    assert len(fig.axes) == 3 * 4
    assert [ax.get_xlabel() for ax in fig.axes[:4]] == ["x1", "x2", "v1", "v2"]
    _draw(PN.axis_marginals_figure(T[1:], edges4, [m[1:] for m in grid4], z[1:],
                                   max_snapshots=1))  # the one with NaN particles
    fig = PN.axis_marginals_figure(T, E, marg, None, max_snapshots=1)
    assert len(fig.axes) == 2 and fig.axes[1].get_xlabel() == "x2"


def test_distances_and_moments_over_time_with_d2_keys():
    keys = registry.stored_keys(kinetic=True, dimension=2)
    compare = {k: np.array([0.02, 0.015, 0.01]) for k in keys}
    compare["sw2"] = np.array([np.nan, np.nan, np.nan])  # not available (marginal-only)
    compare["kl"] = np.array([np.nan, 0.01, -0.002])
    fig = PN.distances_over_time_nd(T, compare)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Wasserstein-2", "Kullback–Leibler", "total variation"]
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "W₂ of x1-marginal" in labels and "W₂ of v2-marginal" in labels
    assert not any("sliced" in s for s in labels)
    _draw(fig)
    fig = P.moments_over_time(T, compare)
    assert len(fig.axes) == len(registry.moment_keys(kinetic=True, dimension=2))
    assert any(ax.get_ylabel() == "Cov(x1, v2)" for ax in fig.axes)
    overdamped = {k: compare[k] for k in registry.stored_keys(kinetic=False, dimension=2)}
    overdamped["cov_x1x2"] = np.array([np.nan, 0.1, 0.2])
    fig = P.moments_over_time(T, overdamped)
    assert len(fig.axes) == 5
    _draw(fig)
