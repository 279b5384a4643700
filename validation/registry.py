"""The one list of comparison metrics: names, stored keys, noise floors, where they apply.

Every consumer (config validation, the run's HDF5 layout, ``vfp compare``, the sweep, ``vfp
info``, the plots and :func:`vfp.validation.metrics.compare_snapshot`) reads this module
instead of keeping its own list. Adding a metric is one :class:`Metric` record here plus its
evaluation in :mod:`vfp.validation.metrics` (``METRICS`` and ``_snapshot_values``).

This module is plain data: it imports nothing heavy (no NumPy, no Numba), so configuration
checks and ``vfp info`` can use it without loading the estimators.

Vocabulary
----------
metric name
    What a user lists in ``[compare] metrics`` (``"kl_knn"``, ``"mean"``, ...).
value key
    A number the metric writes per snapshot (``"kl"``; ``"mean_x"`` and ``"mean_v"``).
stored keys
    Everything written under ``/compare`` for a metric, in a fixed order:

    * distance: ``<key>``, ``<key>_floor``, then bookkeeping keys;
    * moment: ``<key>`` (particles), ``<key>_grid`` (grid), ``<key>_floor``, per value key.
noise floor
    * distance: the same estimator between an independent N-sample of the grid density and
      the grid density, so the *excess* ``value − floor`` is what the particles add;
    * moment: ``|moment(i.i.d. N-sample) − moment(grid)|``, to be compared with the
      difference ``|<key> − <key>_grid|`` (not with the moment itself).
bookkeeping key
    Stored with a metric but not a distance nor a moment: ``t``, ``n``, ``kl_outside``,
    ``w2_emd_subsample``.

Dimension d ≥ 2
---------------
Every function that lists keys takes ``dimension`` (d, default 1: the keys above, exactly
as files written before d = 2 hold them). In d ≥ 2 the metric *names* are the same and
their value keys are per axis or per component of the phase-space vector
z = (x1, …, xd) (overdamped) or z = (x1, …, xd, v1, …, vd) (kinetic):

* ``w2_x`` → ``w2_x1 … w2_xd``; ``w2_v`` → ``w2_v1 … w2_vd`` (1-D W2 of each marginal);
* ``sw2``, ``w2_emd``, ``kl_knn`` (key ``kl``): on the whole phase space, which has
  D = d (overdamped) or 2d (kinetic) ≥ 2 dimensions, so they apply in both regimes;
* ``kl_binned``, ``tv``: on the cells of the x-marginal grid (x1 × … × xd), both regimes;
* ``mean`` → ``mean_<c>`` for each component c of z, in the order above
  (``mean_x1, mean_x2, mean_v1, mean_v2``);
* ``cov`` → ``cov_<a><b>`` for the upper triangle of the D × D covariance, row by row in
  the order of z: d = 2 kinetic gives ``cov_x1x1, cov_x1x2, cov_x1v1, cov_x1v2,
  cov_x2x2, cov_x2v1, cov_x2v2, cov_v1v1, cov_v1v2, cov_v2v2`` (``cov_x1x1`` is the
  variance of x1; there are no ``var_*`` keys in d ≥ 2).

Stored keys per value key follow the same pattern as in d = 1 (``<key>``, ``<key>_floor``
for distances; ``<key>``, ``<key>_grid``, ``<key>_floor`` for moments; the same bookkeeping
keys ``kl_outside`` and ``w2_emd_subsample``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Metric", "KeyInfo", "REGISTRY", "METRIC_NAMES", "BOOKKEEPING_KEYS",
           "FLOOR_SUFFIX", "GRID_SUFFIX", "get", "applicable", "stored_keys", "value_keys",
           "distance_keys", "w2_keys", "moment_keys", "fit_keys", "fit_key", "key_info",
           "is_bookkeeping", "components"]

FLOOR_SUFFIX = "_floor"
GRID_SUFFIX = "_grid"

#: How the sweep turns a value into the quantity it fits against N (suffix of the fit key).
FIT_SUFFIX = {"square": "_sq", "identity": "", "error_squared": "_err2"}


@dataclass(frozen=True)
class Metric:
    """One comparison metric.

    Attributes
    ----------
    name : str
        Name in ``[compare] metrics`` and in ``compare_snapshot(metrics=...)``.
    function : str
        Name of the estimator in :mod:`vfp.validation.metrics` (``METRICS[name]`` there is
        the callable).
    kind : {"distance", "moment"}
        A distance has a floor of the same estimator on an i.i.d. sample; a moment is
        stored for the particles and for the grid, and its floor is that of the difference.
    values : tuple of str
        Value keys, in stored order.
    kinetic_values : tuple of str
        The value keys written only in the kinetic regime (the v- and (x, v)-moments).
    kinetic_only : bool
        The metric needs the phase space (skipped in the overdamped regime).
    bookkeeping : tuple of str
        Extra keys stored after the values (not distances nor moments).
    fit : {"square", "identity", "error_squared"}
        What the sweep fits against N: W2² (≍ 1/N), the value itself (KL, TV) or the
        squared error of the moment (particles − grid)².
    description : str
        One line for ``vfp info`` and documentation.
    unit : str
        The unit or meaning of a value.
    floor : str
        What the noise floor of this metric is.
    """

    name: str
    function: str
    kind: str
    values: tuple
    description: str
    unit: str
    floor: str
    kinetic_values: tuple = ()
    kinetic_only: bool = False
    bookkeeping: tuple = ()
    fit: str = "identity"

    def value_keys(self, kinetic: bool, dimension: int = 1) -> tuple:
        """The value keys written in this regime and space dimension d (empty when the
        metric does not apply); d ≥ 2: see the module docstring."""
        if _dimension(dimension) > 1:
            return _nd_value_keys(self.name, kinetic, dimension)
        if self.kinetic_only and not kinetic:
            return ()
        return tuple(k for k in self.values if kinetic or k not in self.kinetic_values)

    def stored_keys(self, kinetic: bool, dimension: int = 1) -> tuple:
        """Every ``/compare`` key of this metric, in stored order (see module docstring)."""
        keys = []
        values = self.value_keys(kinetic, dimension)
        for k in values:
            if self.kind == "distance":
                keys += [k, k + FLOOR_SUFFIX]
            else:
                keys += [k, k + GRID_SUFFIX, k + FLOOR_SUFFIX]
        if values:
            keys += list(self.bookkeeping)
        return tuple(keys)


@dataclass(frozen=True)
class KeyInfo:
    """What one stored ``/compare`` key is.

    Attributes
    ----------
    key : str
    metric : str or None
        The metric that writes it (None for ``t`` and ``n``).
    role : {"value", "floor", "grid", "bookkeeping"}
    value_key : str or None
        The value key it belongs to (``"kl"`` for ``"kl_floor"``).
    kind : {"distance", "moment"} or None
    label : str
        Human-readable name.
    """

    key: str
    metric: str | None
    role: str
    value_key: str | None
    kind: str | None
    label: str


_DIST_FLOOR = ("the same estimator between an i.i.d. N-sample of the grid density and the "
               "grid density")
_MOM_FLOOR = "|moment of an i.i.d. N-sample of the grid density − moment of the grid|"

REGISTRY: dict = {m.name: m for m in (
    Metric("w2_x", "w2_1d_grid", "distance", ("w2_x",),
           "W2 between the x-marginals (exact in 1-D, uniform inside cells)",
           "length (unit of x)", _DIST_FLOOR, fit="square"),
    Metric("w2_v", "w2_1d_grid", "distance", ("w2_v",),
           "W2 between the v-marginals (exact in 1-D, uniform inside cells)",
           "length (unit of v)", _DIST_FLOOR, kinetic_only=True, fit="square"),
    Metric("sw2", "sliced_w2", "distance", ("sw2",),
           "sliced W2 on phase space (seeded directions, exact per direction); "
           "SW2 ≤ W2/√2", "length in (x, v)", _DIST_FLOOR, kinetic_only=True, fit="square"),
    Metric("w2_emd", "w2_emd", "distance", ("w2_emd",),
           "W2 on phase space by exact optimal transport (ot.emd2) of a particle "
           "subsample against cell-centre atoms", "length in (x, v)",
           _DIST_FLOOR + " (same subsample size and atoms: includes the subsample and "
           "centre-atom floors)", kinetic_only=True, bookkeeping=("w2_emd_subsample",),
           fit="square"),
    Metric("kl_knn", "kl_knn", "distance", ("kl",),
           "KL(particles ‖ grid) by the k-nearest-neighbour (Kozachenko–Leonenko, k = 1) "
           "estimator against the grid density", "nats",
           _DIST_FLOOR + " (spread ≈ 1.28/√N around 0)", bookkeeping=("kl_outside",)),
    Metric("kl_binned", "kl_binned", "distance", ("kl_binned",),
           "KL of binned particle fractions against cell masses (plug-in)", "nats",
           _DIST_FLOOR + " (bias ≈ (K − 1)/(2N) for K occupied cells)"),
    Metric("tv", "tv_binned", "distance", ("tv",),
           "total variation between binned particle fractions and cell masses",
           "probability", _DIST_FLOOR),
    Metric("mean", "moments_particles", "moment", ("mean_x", "mean_v"),
           "means of x and v: particles against the grid", "unit of x, of v", _MOM_FLOOR,
           kinetic_values=("mean_v",), fit="error_squared"),
    Metric("cov", "moments_particles", "moment", ("var_x", "var_v", "cov_xv"),
           "variances and covariance of (x, v): particles (1/N) against the grid",
           "squared units", _MOM_FLOOR, kinetic_values=("var_v", "cov_xv"),
           fit="error_squared"),
)}
"""Metric name → :class:`Metric`, in the canonical order (the order of stored keys)."""

METRIC_NAMES: tuple = tuple(REGISTRY)
"""Every metric name, for config validation (``[compare] metrics``)."""

BOOKKEEPING_KEYS: tuple = ("t", "n") + tuple(
    k for m in REGISTRY.values() for k in m.bookkeeping)
"""Stored keys that are neither distances, moments nor floors."""

_LABELS = {"w2_x": "W₂ of x-marginal", "w2_v": "W₂ of v-marginal",
           "sw2": "sliced W₂ on (x, v)", "w2_emd": "W₂ exact OT (subsample)",
           "kl": "KL (k-NN)", "kl_binned": "KL (binned)", "tv": "TV (binned)",
           "mean_x": "mean of x", "mean_v": "mean of v", "var_x": "variance of x",
           "var_v": "variance of v", "cov_xv": "covariance of x and v",
           "t": "snapshot time", "n": "particles compared",
           "kl_outside": "fraction of particles where the grid density is 0",
           "w2_emd_subsample": "particles in the exact-OT subsample"}


def get(name: str) -> Metric:
    """The :class:`Metric` called ``name``; ``ValueError`` naming the choices otherwise."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown metric {name!r} (choose from "
                         f"{', '.join(METRIC_NAMES)})") from None


def _metrics(metrics):
    names = METRIC_NAMES if metrics is None else tuple(metrics)
    return [get(n) for n in names]


def applicable(metrics=None, kinetic: bool = True, dimension: int = 1) -> tuple:
    """The names among ``metrics`` (default: all) that apply in this regime and dimension."""
    return tuple(m.name for m in _metrics(metrics) if m.value_keys(kinetic, dimension))


def stored_keys(metrics=None, kinetic: bool = True, dimension: int = 1) -> list:
    """Names of the ``/compare`` datasets for the chosen metrics, regime and space dimension
    d (``t`` excluded).

    Metrics in the order given (default: every metric); per metric the order of
    :meth:`Metric.stored_keys`. For d = 1 identical to the former ``vfp.run.compare_keys``;
    d ≥ 2 keys: module docstring.
    """
    keys = []
    for m in _metrics(metrics):
        keys.extend(m.stored_keys(kinetic, dimension))
    return keys


def value_keys(metrics=None, kinetic: bool = True, kind: str | None = None,
               dimension: int = 1) -> tuple:
    """Value keys (no floors, grids or bookkeeping) of the chosen metrics, optionally of one
    ``kind`` ("distance" or "moment")."""
    return tuple(k for m in _metrics(metrics) if kind is None or m.kind == kind
                 for k in m.value_keys(kinetic, dimension))


def distance_keys(metrics=None, kinetic: bool = True, dimension: int = 1) -> tuple:
    """Value keys of the distances: ``w2_x, w2_v, sw2, w2_emd, kl, kl_binned, tv`` (d = 1;
    ``w2_x1, w2_x2, w2_v1, w2_v2, sw2, …`` for d = 2)."""
    return value_keys(metrics, kinetic, "distance", dimension)


def w2_keys(metrics=None, kinetic: bool = True, dimension: int = 1) -> tuple:
    """Value keys of the W2-type distances (fitted as W2² ≍ 1/N in a sweep)."""
    return tuple(k for m in _metrics(metrics) if m.fit == "square"
                 for k in m.value_keys(kinetic, dimension))


def moment_keys(metrics=None, kinetic: bool = True, dimension: int = 1) -> tuple:
    """Value keys of the moments: ``mean_x, mean_v, var_x, var_v, cov_xv`` (d = 1;
    ``mean_x1 … cov_v2v2`` for d = 2)."""
    return value_keys(metrics, kinetic, "moment", dimension)


def components(kinetic: bool = True, dimension: int = 1) -> tuple:
    """Names of the components of the phase-space vector z in d ≥ 2, in stored order:
    ``("x1", "x2")`` (overdamped, d = 2) or ``("x1", "x2", "v1", "v2")`` (kinetic)."""
    d = _dimension(dimension)
    xs = tuple(f"x{a}" for a in range(1, d + 1))
    return xs + (tuple(f"v{a}" for a in range(1, d + 1)) if kinetic else ())


def _dimension(dimension) -> int:
    if isinstance(dimension, bool) or not isinstance(dimension, int) or not 1 <= dimension <= 3:
        raise ValueError(f"dimension must be 1, 2 or 3, got {dimension!r}")
    return dimension


def _nd_value_keys(name: str, kinetic: bool, dimension: int) -> tuple:
    """Value keys of metric ``name`` in d = ``dimension`` ≥ 2 (module docstring)."""
    d = _dimension(dimension)
    axes = range(1, d + 1)
    comps = components(kinetic, d)
    if name == "w2_x":
        return tuple(f"w2_x{a}" for a in axes)
    if name == "w2_v":
        return tuple(f"w2_v{a}" for a in axes) if kinetic else ()
    if name == "mean":
        return tuple(f"mean_{c}" for c in comps)
    if name == "cov":
        return tuple(f"cov_{a}{b}" for i, a in enumerate(comps) for b in comps[i:])
    return tuple(REGISTRY[name].values)  # phase-space or x-marginal-cell scalars


def _nd_label(key: str) -> str | None:
    """Label of a d ≥ 2 value key, or None when ``key`` is not one."""
    m = re.fullmatch(r"w2_([xv][1-3])", key)
    if m:
        return f"W₂ of {m.group(1)}-marginal"
    m = re.fullmatch(r"mean_([xv][1-3])", key)
    if m:
        return f"mean of {m.group(1)}"
    m = re.fullmatch(r"cov_([xv][1-3])([xv][1-3])", key)
    if m:
        a, b = m.groups()
        return f"variance of {a}" if a == b else f"covariance of {a} and {b}"
    return None


def _nd_metric_of(key: str):
    """(metric name, value key) of a d ≥ 2 per-axis key, or None."""
    for d in (2, 3):
        for kinetic in (True, False):
            for name in ("w2_x", "w2_v", "mean", "cov"):
                if key in _nd_value_keys(name, kinetic, d):
                    return name, key
    return None


def fit_key(key: str) -> str:
    """The sweep's fitted quantity of a value key: ``w2_x → w2_x_sq``, ``kl → kl``,
    ``mean_x → mean_x_err2``."""
    info = key_info(key)
    if info.role != "value":
        raise ValueError(f"{key!r} is not a value key")
    return key + FIT_SUFFIX[REGISTRY[info.metric].fit]


def fit_keys(metrics=None, kinetic: bool = True, dimension: int = 1) -> tuple:
    """The sweep's fitted quantities of every value key, in stored order."""
    return tuple(fit_key(k) for k in value_keys(metrics, kinetic, dimension=dimension))


def is_bookkeeping(key: str) -> bool:
    """True for ``t``, ``n``, ``kl_outside``, ``w2_emd_subsample``."""
    return key in BOOKKEEPING_KEYS


def key_info(key: str) -> KeyInfo:
    """What a stored ``/compare`` key is (:class:`KeyInfo`); ``ValueError`` if unknown."""
    if key in ("t", "n"):
        return KeyInfo(key, None, "bookkeeping", None, None, _LABELS[key])
    for m in REGISTRY.values():
        if key in m.bookkeeping:
            return KeyInfo(key, m.name, "bookkeeping", None, m.kind, _LABELS[key])
        for v in m.values:
            for suffix, role in (("", "value"), (FLOOR_SUFFIX, "floor"),
                                 (GRID_SUFFIX, "grid")):
                if key == v + suffix and (role != "grid" or m.kind == "moment"):
                    label = _LABELS[v] + {"value": "", "floor": " (noise floor)",
                                          "grid": " (grid)"}[role]
                    return KeyInfo(key, m.name, role, v, m.kind, label)
    for suffix, role in (("", "value"), (FLOOR_SUFFIX, "floor"), (GRID_SUFFIX, "grid")):
        base = key[:len(key) - len(suffix)] if suffix and key.endswith(suffix) else key
        if suffix and base == key:
            continue
        found = _nd_metric_of(base)
        if found is not None:
            name, v = found
            kind = REGISTRY[name].kind
            if role == "grid" and kind != "moment":
                break
            label = _nd_label(v) + {"value": "", "floor": " (noise floor)",
                                    "grid": " (grid)"}[role]
            return KeyInfo(key, name, role, v, kind, label)
    raise ValueError(f"unknown comparison key {key!r}")
