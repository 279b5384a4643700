"""Typed run configuration, loaded from TOML or built directly in Python.

All validation happens here, before any work starts: an unknown key, a wrong type, an
impossible value or an unsafe expression raises :class:`ConfigError`, whose message
names the file and the key (``config.toml: grid.x.cells: must be an integer ≥ 3 (got 2)``).
Reading a TOML file only checks its structure (known keys, tables where tables belong);
every value is checked by :func:`validate`, with one rule per key, for TOML-loaded and
Python-built configs alike. Lower layers (potentials, initial data, the solvers) raise
plain messages; the config layer adds the key. :func:`validate` also refuses, before any
work, what would fail or hang later: potentials not finite on the grid or the particle
domain, an initial law (almost) entirely outside the domain, a run too large for memory.
"""

from __future__ import annotations

import copy
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vfp.validation import registry

from . import potentials as pot
from .initial import GaussianMixture, gaussian

__all__ = [
    "ConfigError",
    "Config",
    "ModelConfig",
    "TimeConfig",
    "AxisConfig",
    "GridConfig",
    "ParticlesConfig",
    "CompareConfig",
    "OutputConfig",
    "load",
    "loads",
    "validate",
    "from_dict",
    "memory_estimate",
    "memory_note",
    "grid_schemes",
    "PARTICLE_SCHEMES",
    "PARTICLE_INTERACTIONS",
    "COMPARE_METRICS",
]


def grid_schemes() -> dict:
    """The grid solver's scheme registry (name → Scheme class with max_cfl, regimes...)."""
    from vfp.grids.solver import SCHEMES

    return SCHEMES

PARTICLE_SCHEMES = ("euler", "baoab")
PARTICLE_INTERACTIONS = ("auto", "pairwise", "mesh")
#: metric names accepted in [compare] metrics (the metric registry's)
COMPARE_METRICS = registry.METRIC_NAMES
DEFAULT_STORE_LIMIT = 1_000_000


class ConfigError(ValueError):
    """A configuration mistake: ``key`` names the offending entry, ``source`` the file."""

    def __init__(self, key: str, message: str, source: str | None = None):
        self.key = key
        self.source = source
        self.reason = message
        super().__init__(self._text())

    def _text(self):
        where = f"{self.source}: " if self.source else ""
        return f"{where}{self.key}: {self.reason}"

    def with_source(self, source):
        self.source = source
        self.args = (self._text(),)
        return self


# ---------------------------------------------------------------------------------------
# Typed configuration objects


@dataclass
class ModelConfig:
    """The equation: regime, friction γ, temperature λ, potential V and interaction W.

    ``dimension`` is the spatial dimension d (1, 2 on the grid, up to 3 for particles
    alone). In d ≥ 2 the potential is a function of points (m, d) (see
    :mod:`vfp.potentials`: build it with ``dimension=d``) and the interaction a radial
    profile of r = |x − y| (:class:`vfp.potentials.RadialInteraction`).

    ``functional`` is a mean-field energy F(μ) (DESIGN §9; :mod:`vfp.energies`): any object
    with ``value(points, weights)`` and ``drift(query, points, weights)``, e.g.
    :class:`vfp.energies.TwoLayerNetwork`. Its drift ∇x δF/δμ is added to ∇V; V stays the
    regulariser. Its ``dimension`` (when it has one) must equal ``dimension``.
    """

    regime: str = "kinetic"
    temperature: float = 1.0
    potential: pot.Potential = field(default_factory=lambda: pot.builtin("harmonic"))
    interaction: pot.Potential | None = None
    gamma: float = 1.0
    dimension: int = 1
    functional: object | None = None

    @property
    def kinetic(self) -> bool:
        return self.regime == "kinetic"


@dataclass
class TimeConfig:
    """End time and snapshot times (t_end is always the last snapshot)."""

    t_end: float = 1.0
    snapshots: tuple[float, ...] | None = None

    def times(self) -> np.ndarray:
        if self.snapshots is None:
            return np.linspace(0.0, self.t_end, 6)
        s = [float(t) for t in self.snapshots]
        if not s or s[-1] < self.t_end:
            s.append(float(self.t_end))
        return np.asarray(s)


@dataclass
class AxisConfig:
    """A uniform axis [min, max] cut into ``cells`` cells."""

    min: float
    max: float
    cells: int


def _as_axes(axes) -> tuple:
    return tuple(axes) if isinstance(axes, (list, tuple)) else (axes,)


@dataclass
class GridConfig:
    """The grid: x-axes, v-axes (kinetic), scheme and step rule.

    ``x`` (and ``v``) is one :class:`AxisConfig` in d = 1. In d = 2 give one axis (the
    same for every dimension) or a list of d axes; :func:`validate` turns either into a
    tuple of d axes. ``full_snapshots`` (kinetic, d = 2 only): the snapshot times at which
    the full 4-D density f is stored — a list of snapshot times, ``"all"`` or ``"none"``;
    by default (None) ``"all"`` when all of them take at most ``FULL_SNAPSHOT_BYTES``
    (1 GiB) in float32, else the first and the last. :func:`validate` resolves it to a
    tuple of times (:meth:`Config.full_snapshot_indices` gives their indices).
    """

    x: AxisConfig | tuple[AxisConfig, ...]
    v: AxisConfig | tuple[AxisConfig, ...] | None = None
    scheme: str = "upwind"
    cfl: float | None = None
    diagnostics_every: int = 10
    dt: float | None = None           # implicit schemes only: largest time step
    full_snapshots: str | tuple[float, ...] | None = None

    @property
    def x_axes(self) -> tuple[AxisConfig, ...]:
        """The x-axes as a tuple (one per dimension; one in d = 1)."""
        return _as_axes(self.x)

    @property
    def v_axes(self) -> tuple[AxisConfig, ...]:
        """The v-axes as a tuple (empty when overdamped)."""
        return () if self.v is None else _as_axes(self.v)

    def shape(self) -> tuple[int, ...]:
        """Cells per axis of the state: x-axes, then v-axes (kinetic)."""
        return tuple(a.cells for a in self.x_axes + self.v_axes)

    def effective_cfl(self) -> float:
        if self.cfl is not None:
            return self.cfl
        scheme = grid_schemes().get(self.scheme) if isinstance(self.scheme, str) else self.scheme
        return scheme.default_cfl


@dataclass
class ParticlesConfig:
    n: int = 10_000
    dt: float = 1e-3
    scheme: str = "euler"
    interaction_method: str = "auto"  # how the particles evaluate W′ * ρ_N (W is model.interaction)
    seed: int = 0
    mesh_cells: int | None = None
    store: int | None = None          # particles stored per snapshot; None: min(n, 10^6)
    x: AxisConfig | tuple[AxisConfig, ...] | None = None
    # reflecting domain; default the grid's x axes; None without a grid: free space (no
    # walls). d ≥ 2: one axis (a cube) or a list of d (validate() makes it a tuple of d);
    # the cells of these axes are not used.

    def n_stored(self) -> int:
        return min(self.n, DEFAULT_STORE_LIMIT) if self.store is None else min(self.store, self.n)


@dataclass
class CompareConfig:
    metrics: tuple[str, ...] = COMPARE_METRICS
    n_projections: int = 200
    emd_subsample: int = 1000
    noise_floor: bool = True
    seed: int = 0


@dataclass
class OutputConfig:
    path: str | None = None


@dataclass
class Config:
    """A whole run. ``initial`` is a :class:`~vfp.initial.GaussianMixture`."""

    model: ModelConfig
    initial: GaussianMixture
    time: TimeConfig
    grid: GridConfig | None = None
    particles: ParticlesConfig | None = None
    compare: CompareConfig | None = None
    output: OutputConfig = field(default_factory=OutputConfig)
    source: str | None = None         # file the config came from
    text: str = ""                    # TOML text, stored in the output file

    @property
    def compares(self) -> bool:
        return self.grid is not None and self.particles is not None

    @property
    def dimension(self) -> int:
        """The spatial dimension d (``model.dimension``)."""
        return self.model.dimension

    def full_snapshot_indices(self) -> tuple[int, ...]:
        """Indices into ``time.times()`` of the snapshots whose full state is stored: all
        of them unless a kinetic d = 2 grid says otherwise (``grid.full_snapshots``)."""
        times = self.time.times()
        chosen = None if self.grid is None else self.grid.full_snapshots
        if chosen is None or isinstance(chosen, str):
            return tuple(range(len(times))) if chosen in (None, "all") else ()
        return tuple(int(np.argmin(np.abs(times - t))) for t in chosen)

    def output_path(self) -> Path:
        if self.output.path:
            return Path(self.output.path)
        stem = Path(self.source).stem if self.source else "run"
        return Path("runs") / f"{stem}.h5"


# ---------------------------------------------------------------------------------------
# Value rules: every value is checked here, once, with one rule, for TOML and Python
# configs alike (validate() calls them); the error names the key.

_MAX_INT = 2**63 - 1        # integers go to int64 arrays and HDF5 attributes
MIN_INSIDE_MASS = 1e-3      # an initial law with less mass in the domain is a mistake
MEMORY_WORK_COPIES = 8      # grid: state, spare and scheme work arrays, in state sizes
PARTICLE_BYTES = 160        # particles: positions, velocities, noise, forces, sorting
FULL_SNAPSHOT_BYTES = 2**30  # kinetic d = 2: store f at every snapshot up to this size
FULL_SNAPSHOT_FLOAT_BYTES = 4  # the full 4-D density is stored in float32


def _number(val, key, positive=False, minimum=None, maximum=None):
    """A finite real number (a TOML true/false is not a number)."""
    if isinstance(val, bool) or not isinstance(val, (int, float, np.integer, np.floating)):
        raise ConfigError(key, f"must be a number (got {val!r})")
    try:
        val = float(val)
    except OverflowError:
        raise ConfigError(key, f"must be finite (got an integer of {len(str(val))} digits)") from None
    if not math.isfinite(val):
        raise ConfigError(key, f"must be finite (got {val})")
    if positive and val <= 0:
        raise ConfigError(key, f"must be > 0 (got {val:g})")
    if minimum is not None and val < minimum:
        raise ConfigError(key, f"must be ≥ {minimum:g} (got {val:g})")
    if maximum is not None and val > maximum:
        raise ConfigError(key, f"must be ≤ {maximum:g} (got {val:g})")
    return val + 0.0  # -0.0 + 0.0 is +0.0: one zero


def _integer(val, key, minimum=None, maximum=_MAX_INT):
    if isinstance(val, bool) or not isinstance(val, (int, np.integer)):
        raise ConfigError(key, f"must be an integer (got {val!r})")
    val = int(val)
    if minimum is not None and val < minimum:
        raise ConfigError(key, f"must be an integer ≥ {minimum} (got {val})")
    if val > maximum:
        raise ConfigError(key, f"must be an integer ≤ {maximum} (got {_short(val)})")
    return val


def _short(val):
    text = str(val)
    return text if len(text) <= 24 else f"an integer of {len(text)} digits"


def _string(val, key, choices=None):
    if not isinstance(val, str):
        raise ConfigError(key, f"must be a string (got {val!r})")
    if choices is not None and val not in choices:
        raise ConfigError(key, f"unknown {val!r} (choose from {', '.join(choices)})")
    return val


def _boolean(val, key):
    if not isinstance(val, (bool, np.bool_)):
        raise ConfigError(key, f"must be true or false (got {val!r})")
    return bool(val)


def _number_list(val, key, length=None):
    if isinstance(val, (int, float)) and not isinstance(val, bool):
        val = [val]
    if not isinstance(val, (list, tuple)):
        raise ConfigError(key, f"must be a number or a list of numbers (got {val!r})")
    out = [_number(item, key) for item in val]
    if not out:
        raise ConfigError(key, "must not be empty")
    if length is not None and len(out) != length:
        raise ConfigError(key, f"must have {length} entries (got {len(out)})")
    return out


# ---------------------------------------------------------------------------------------
# Reading TOML tables: structure only (which keys, which sub-tables); values are checked
# by validate() below.


class _Table:
    """A TOML table being read; :meth:`done` rejects leftover keys."""

    def __init__(self, data, prefix, allowed=None):
        if not isinstance(data, dict):
            raise ConfigError(prefix, f"must be a table (got {type(data).__name__})")
        self.data = dict(data)
        self.prefix = prefix
        self.used = set()
        # Reject typos first, so "tempreature" is reported as unknown, not as missing.
        if allowed is not None:
            extra = sorted(set(self.data) - set(allowed))
            if extra:
                raise ConfigError(self.key(extra[0]), f"unknown key (allowed: {', '.join(allowed)})")

    def key(self, name):
        return f"{self.prefix}.{name}" if self.prefix else name

    def has(self, name):
        return name in self.data

    def raw(self, name, default=None, required=False):
        self.used.add(name)
        if name not in self.data:
            if required:
                raise ConfigError(self.key(name), "missing (required)")
            return default
        return self.data[name]

    def table(self, name, required=False, allowed=None):
        val = self.raw(name, None, required)
        return None if val is None else _Table(val, self.key(name), allowed)

    def done(self):
        extra = sorted(set(self.data) - self.used)
        if extra:
            raise ConfigError(self.key(extra[0]), "unknown key")


_ALLOWED = {
    "": ("model", "initial", "time", "grid", "particles", "compare", "output"),
    "model": ("regime", "dimension", "gamma", "temperature", "potential", "interaction",
              "functional"),
    "initial": ("kind", "mean", "std", "cov", "weights", "means", "stds", "covs"),
    "time": ("t_end", "snapshots"),
    "grid": ("x", "v", "scheme", "cfl", "diagnostics_every", "dt", "full_snapshots"),
    "particles": ("n", "dt", "scheme", "interaction_method", "interaction", "seed",
                  "mesh_cells", "store", "x"),
    "compare": ("metrics", "n_projections", "emd_subsample", "noise_floor", "seed"),
    "output": ("path",),
}


def _potential(table: _Table, interaction: bool, dimension: int = 1) -> pot.Potential:
    forms = [k for k in ("kind", "expr", "python") if table.has(k)]
    if len(forms) != 1:
        raise ConfigError(table.prefix, "give exactly one of kind, expr or python")
    form = forms[0]
    key = table.key(form)
    value = _string(table.raw(form, required=True), key)
    try:
        if form == "kind":
            params = {k: table.raw(k) for k in table.data if k != "kind"}
            try:
                result = pot.builtin(value, interaction=interaction, dimension=dimension,
                                     **params)
            except KeyError as exc:
                message = exc.args[0]
                bad = next((k for k in params if f"'{k}'" in message), None)
                raise ConfigError(table.key(bad) if bad else key, message) from None
            except ValueError as exc:
                bad = next((k for k in params if f"'{k}'" in str(exc)), None)
                raise ConfigError(table.key(bad) if bad else key, str(exc)) from None
        elif form == "expr":
            table.done()
            result = pot.from_expression(value, dimension=dimension, interaction=interaction)
        else:
            table.done()
            result = pot.from_python(value, dimension=dimension, interaction=interaction)
    except ConfigError:
        raise
    except (ValueError, ImportError, AttributeError, TypeError, RecursionError,
            OverflowError) as exc:
        raise ConfigError(key, str(exc) or type(exc).__name__) from None
    try:  # validate() names this key for values that are bad on the domain
        result.config_key = key
    except AttributeError:  # a user's object that takes no new attributes
        pass
    return result


def _functional(t: _Table, base_dir, given=None):
    """``[model.functional]``: the energy it describes (:func:`vfp.energies.load_energy`),
    or ``given`` (an energy object) in its place, the table then only read for its
    structure (a run file's config, whose data come from the file's /model)."""
    from . import energies

    t.used.update(t.data)
    if given is not None:
        return given
    try:
        return energies.load_energy(t.data, base_dir=base_dir)
    except energies.EnergyError as exc:
        raise ConfigError(t.key(exc.key) if exc.key else t.prefix, str(exc)) from None


def _model(t: _Table, base_dir=None, functional=None) -> ModelConfig:
    regime = t.raw("regime", "kinetic")
    if regime == "overdamped" and t.has("gamma"):
        raise ConfigError(t.key("gamma"), "only for regime = \"kinetic\"")
    # the dimension decides how the potentials are read (x, or x1..xd and r)
    dimension = _dimension(t.raw("dimension", 1))
    temperature = t.raw("temperature", required=True)
    gamma = t.raw("gamma", 1.0)
    potential = _potential(t.table("potential", required=True), interaction=False,
                           dimension=dimension)
    inter_table = t.table("interaction")
    interaction = _potential(inter_table, interaction=True, dimension=dimension) \
        if inter_table else None
    func_table = t.table("functional")
    energy = _functional(func_table, base_dir, functional) if func_table else None
    t.done()
    return ModelConfig(regime=regime, temperature=temperature, potential=potential,
                       interaction=interaction, gamma=gamma, dimension=dimension,
                       functional=energy)


def _dimension(val):
    return _integer(val, "model.dimension", minimum=1, maximum=pot.MAX_DIMENSION)


def _initial(t: _Table, kinetic: bool, dimension: int = 1) -> GaussianMixture:
    """[initial]: D = d numbers per point (overdamped) or 2d (kinetic: positions, then
    velocities); ``std`` (independent components) or ``cov`` (a full D×D matrix)."""
    dim = dimension * (2 if kinetic else 1)
    kind = _string(t.raw("kind", "gaussian"), t.key("kind"), choices=("gaussian", "mixture"))
    if kind == "gaussian":
        for name in ("weights", "means", "stds", "covs"):
            if t.has(name):
                raise ConfigError(t.key(name), "only for kind = \"mixture\"")
        mean = _number_list(t.raw("mean", required=True), t.key("mean"), dim)
        spread = _spread(t, "std", "cov", dim)
        t.done()
        try:
            return gaussian(mean, **spread)
        except ValueError as exc:
            raise ConfigError(t.key(next(iter(spread))), str(exc)) from None
    for name in ("mean", "std", "cov"):
        if t.has(name):
            raise ConfigError(t.key(name), "only for kind = \"gaussian\" (a mixture takes "
                                           "means and stds or covs)")
    weights = _number_list(t.raw("weights", required=True), t.key("weights"))
    rows = {}
    spread_name = _spread_name(t, "stds", "covs")
    for name in ("means", spread_name):
        val = t.raw(name, required=True)
        if not isinstance(val, list) or len(val) != len(weights):
            raise ConfigError(t.key(name), f"must be a list of {len(weights)} entries, one per weight")
        rows[name] = [_matrix(item, t.key(name), dim) if name == "covs"
                      else _number_list(item, t.key(name), dim) for item in val]
    t.done()
    try:
        return GaussianMixture(np.array(weights), np.array(rows["means"]),
                               **{spread_name: np.array(rows[spread_name])})
    except ValueError as exc:
        bad = "weights" if "weight" in str(exc) else spread_name
        raise ConfigError(t.key(bad), str(exc)) from None


def _spread_name(t: _Table, std_name, cov_name):
    if t.has(std_name) and t.has(cov_name):
        raise ConfigError(t.key(cov_name), f"give {std_name} or {cov_name}, not both")
    return cov_name if t.has(cov_name) else std_name


def _spread(t: _Table, std_name, cov_name, dim):
    name = _spread_name(t, std_name, cov_name)
    if name == cov_name:
        return {"cov": _matrix(t.raw(cov_name), t.key(cov_name), dim)}
    if not t.has(std_name):
        raise ConfigError(t.key(std_name), f"missing (required; or give {cov_name}, a full "
                                           "covariance matrix)")
    return {"std": _number_list(t.raw(std_name), t.key(std_name), dim)}


def _matrix(val, key, dim):
    """A dim×dim matrix of numbers, given as a list of dim rows."""
    if dim == 1 and isinstance(val, (int, float)) and not isinstance(val, bool):
        val = [[val]]
    if not isinstance(val, (list, tuple)) or len(val) != dim or \
            not all(isinstance(row, (list, tuple)) for row in val):
        raise ConfigError(key, f"must be a {dim}×{dim} matrix: a list of {dim} rows of "
                               f"{dim} numbers (got {val!r})")
    return [_number_list(row, key, dim) for row in val]


def _time(t: _Table) -> TimeConfig:
    t_end = t.raw("t_end", required=True)
    snapshots = t.raw("snapshots")
    if isinstance(snapshots, list):
        snapshots = tuple(snapshots)
    t.done()
    return TimeConfig(t_end=t_end, snapshots=snapshots)


def _axis(t: _Table) -> AxisConfig:
    axis = AxisConfig(t.raw("min", required=True), t.raw("max", required=True),
                      t.raw("cells"))
    t.done()
    return axis


def _axes(t: _Table, name, required=False):
    """One axis table, or a list of axis tables (one per dimension)."""
    val = t.raw(name, None, required)
    if isinstance(val, list):
        if not val:
            raise ConfigError(t.key(name), "must be a table { min, max, cells } or a "
                                           "non-empty list of them (one per dimension)")
        return tuple(_axis(_Table(item, f"{t.key(name)}[{k}]")) for k, item in enumerate(val))
    return None if val is None else _axis(_Table(val, t.key(name)))


def _grid(t: _Table, kinetic: bool) -> GridConfig:
    x = _axes(t, "x", required=True)
    v = None
    if kinetic:
        v = _axes(t, "v", required=True)
    elif t.has("v"):
        raise ConfigError(t.key("v"), "only for regime = \"kinetic\"")
    full = t.raw("full_snapshots")
    cfg = GridConfig(x=x, v=v, scheme=t.raw("scheme", "upwind"), cfl=t.raw("cfl"),
                     diagnostics_every=t.raw("diagnostics_every", 10), dt=t.raw("dt"),
                     full_snapshots=tuple(full) if isinstance(full, list) else full)
    t.done()
    return cfg


def _interaction_method(t: _Table):
    """``particles.interaction_method``; ``particles.interaction`` is its older spelling
    (one name, one meaning: ``interaction`` is the kernel W in ``[model]``)."""
    if t.has("interaction") and t.has("interaction_method"):
        raise ConfigError(t.key("interaction"), "give interaction_method only "
                                                "(interaction is its older name)")
    return t.raw("interaction_method", t.raw("interaction", "auto"))


def _particles(t: _Table) -> ParticlesConfig:
    cfg = ParticlesConfig(n=t.raw("n", required=True), dt=t.raw("dt", required=True),
                          scheme=t.raw("scheme", "euler"),
                          interaction_method=_interaction_method(t), seed=t.raw("seed", 0),
                          mesh_cells=t.raw("mesh_cells"), store=t.raw("store"),
                          x=_axes(t, "x") if t.has("x") else None)
    t.done()
    return cfg


def _compare(t: _Table) -> CompareConfig:
    metrics = t.raw("metrics", list(COMPARE_METRICS))
    cfg = CompareConfig(
        metrics=tuple(metrics) if isinstance(metrics, list) else metrics,
        n_projections=t.raw("n_projections", 200),
        emd_subsample=t.raw("emd_subsample", 1000),
        noise_floor=t.raw("noise_floor", True),
        seed=t.raw("seed", 0),
    )
    t.done()
    return cfg


def _output(t: _Table) -> OutputConfig:
    path = t.raw("path")
    t.done()
    return OutputConfig(path=path)


def _base_dir(source):
    """The folder that relative data paths of a config are read from: the config file's
    (the working directory for text without a file)."""
    return Path(source).parent if source else None


def from_dict(data: dict, source: str | None = None, text: str = "", *,
              functional=None) -> Config:
    """Build a validated :class:`Config` from a parsed TOML document.

    ``functional`` (an energy object) replaces what ``[model.functional]`` describes
    without reading its data (used to reload a run file's config with the data stored
    in the file).
    """
    try:
        root = _Table(data, "", _ALLOWED[""])
        model = _model(root.table("model", required=True, allowed=_ALLOWED["model"]),
                       _base_dir(source), functional)
        _check_model(model)  # regime and dimension decide how [initial] and [grid] are read
        if root.has("grid"):
            _check_grid_dimension(model.dimension)
        kinetic = model.regime == "kinetic"
        initial = _initial(root.table("initial", required=True, allowed=_ALLOWED["initial"]),
                           kinetic, model.dimension)
        time = _time(root.table("time", required=True, allowed=_ALLOWED["time"]))
        grid_t = root.table("grid", allowed=_ALLOWED["grid"])
        grid = _grid(grid_t, kinetic) if grid_t else None
        part_t = root.table("particles", allowed=_ALLOWED["particles"])
        particles = _particles(part_t) if part_t else None
        cmp_t = root.table("compare", allowed=_ALLOWED["compare"])
        compare = _compare(cmp_t) if cmp_t else None
        out_t = root.table("output", allowed=_ALLOWED["output"])
        output = _output(out_t) if out_t else OutputConfig()
        root.done()
        if compare is not None and not (grid and particles):
            raise ConfigError("compare", "needs both [grid] and [particles]")
        cfg = Config(model=model, initial=initial, time=time, grid=grid, particles=particles,
                     compare=compare, output=output, source=source, text=text)
        validate(cfg)
        return cfg
    except ConfigError as exc:
        raise exc.with_source(source) from None


# ---------------------------------------------------------------------------------------
# validate(): the one place where values are checked


def validate(cfg: Config, check_cfl: bool = True) -> Config:
    """Check every value of ``cfg`` (TOML-loaded or built in Python) and normalise it.

    Numbers become floats/ints, ``-0.0`` becomes ``0.0``, ``compare.emd_subsample = 0``
    drops ``w2_emd`` from the metrics, and a comparison config is added when both
    solvers run. Besides the value rules, it checks what would fail or hang later,
    before any work: the potentials are finite on the grid and the particle domain, the
    initial law has mass inside the domain, and the run fits in memory.

    Parameters
    ----------
    cfg : Config
    check_cfl : bool
        Hold ``grid.cfl`` to the scheme's positivity limit (off only to study instability
        on purpose, ``run(..., check_cfl=False)``; it must still be a positive number).

    Raises
    ------
    ConfigError
        Naming the key (and the file, for loaded configs).
    """
    if cfg.grid is None and cfg.particles is None:
        raise ConfigError("grid", "give a [grid] section, a [particles] section, or both")
    _check_model(cfg.model)
    kinetic = cfg.model.kinetic
    dimension = cfg.model.dimension
    _check_initial(cfg.initial, kinetic, dimension)
    _check_time(cfg.time)
    if cfg.grid is not None:
        _check_grid_dimension(dimension)
        _check_grid(cfg.grid, kinetic, check_cfl, dimension)
        _check_full_snapshots(cfg)
    if cfg.particles is not None:
        _check_particles(cfg.particles, kinetic, cfg.time.t_end, dimension)
        p = cfg.particles
        if cfg.grid is not None and p.x is not None:
            if dimension == 1 and (p.x.min, p.x.max) != (cfg.grid.x.min, cfg.grid.x.max):
                raise ConfigError("particles.x", "must match grid.x when both are given")
            if dimension > 1 and [(a.min, a.max) for a in p.x] != \
                    [(a.min, a.max) for a in cfg.grid.x]:
                raise ConfigError("particles.x", "must match grid.x (every axis) when both "
                                                 "are given")
    if cfg.compare is not None:
        if not cfg.compares:
            raise ConfigError("compare", "needs both [grid] and [particles]")
        _check_compare(cfg.compare)
    elif cfg.compares:
        cfg.compare = CompareConfig()
    if cfg.output is None:
        cfg.output = OutputConfig()
    if cfg.output.path is not None:
        path = _string(cfg.output.path, "output.path")
        if not path.strip():
            raise ConfigError("output.path", "must not be empty")
    if dimension > 1:  # the d-dim domain checks tabulate the grid: refuse huge ones first
        _check_memory(cfg)
    _check_domains(cfg)
    _check_memory(cfg)
    # d ≥ 2: the particle simulator checks its 2-D mesh against the kernel itself
    if cfg.particles is not None and cfg.particles.mesh_cells is not None \
            and cfg.model.interaction is not None and _particle_axis(cfg) is not None \
            and dimension == 1:
        _check_mesh(cfg, cfg.particles)
    return cfg


def _check_grid_dimension(dimension):
    if dimension > 2:
        raise ConfigError("model.dimension", f"grid runs take dimension 1 or 2 (got "
                                             f"{dimension}); particles alone (no [grid]) "
                                             f"go up to {pot.MAX_DIMENSION}")


def _check_model(m: ModelConfig):
    m.regime = _string(m.regime, "model.regime", choices=("kinetic", "overdamped"))
    m.temperature = _number(m.temperature, "model.temperature", positive=True)
    m.gamma = _number(m.gamma, "model.gamma", positive=True)
    m.dimension = _dimension(m.dimension)
    d = m.dimension
    for name in ("potential", "interaction"):
        value = getattr(m, name)
        if value is None and name == "interaction":
            continue
        if not isinstance(value, pot.Potential):
            try:
                value = pot.as_potential(value, dimension=d, interaction=name == "interaction")
            except TypeError as exc:
                raise ConfigError(f"model.{name}", str(exc)) from None
            setattr(m, name, value)
        key = _key_of(value, f"model.{name}")
        if d > 1 and name == "interaction" and not value.radial:
            raise ConfigError(key, f"an interaction in dimension {d} is radial, a function "
                                   "of r = |x − y|: a built-in kind, an expr in r, or "
                                   "potentials.RadialInteraction")
        if d == 1 and value.radial:
            raise ConfigError(key, "a radial interaction is for model.dimension ≥ 2; in "
                                   "dimension 1 give W(x) (even)")
        if not value.radial and value.dim != d:
            raise ConfigError(key, f"is a potential of dimension {value.dim}, but "
                                   f"model.dimension = {d} (build it with dimension={d})")
        _check_callable(value, key, name == "interaction", d)
    if m.functional is not None:
        _check_functional(m.functional, d)


def _check_functional(energy, dimension):
    """The energy's dimension is model.dimension, and it answers value and drift there."""
    from vfp.grids.meanfield import TwoLayerNetwork

    from . import energies

    source = getattr(energy, "source", None)
    key = "model.functional.python" if isinstance(source, dict) and "python" in source \
        else "model.functional"
    if not energies.is_energy(energy):
        raise ConfigError(key, f"{type(energy).__name__} is not an energy: it needs "
                               "value(points, weights) and drift(query, points, weights)")
    own = getattr(energy, "dimension", None)
    if own is not None:
        if isinstance(own, bool) or not isinstance(own, (int, np.integer)):
            raise ConfigError(key, f"dimension must be an integer (got {own!r})")
        if int(own) != dimension:
            what = ""
            if isinstance(energy, TwoLayerNetwork):
                p = energy.z.shape[1]
                what = (f" (p + 1 = {p + 1}: inputs p = {p} and a learned output weight)"
                        if energy.output_weight == "learned" else
                        f" (p = {p}: the inputs' dimension, output weight fixed)")
            raise ConfigError("model.dimension", f"must equal the dimension of "
                                                 f"model.functional, {int(own)}{what} "
                                                 f"(got {dimension})")
    if isinstance(energy, TwoLayerNetwork):
        return  # checked by its constructor; probing would only compile its kernels
    try:
        energies.probe_energy(energy, dimension)
    except (TypeError, ValueError) as exc:
        raise ConfigError(key, str(exc)) from None


def _key_of(p, default):
    return getattr(p, "config_key", None) or default


def _check_callable(p, key, interaction, dimension=1):
    if dimension > 1:
        return _check_callable_nd(p, key, dimension)
    probe = np.linspace(-3.0, 3.0, 13)
    with np.errstate(all="ignore"):
        try:
            grad = p.grad(probe)
            value = p.value(probe)
        except Exception as exc:  # user code: report any failure as a config problem
            raise ConfigError(key, f"evaluation failed: {type(exc).__name__}: {exc}") from None
    if np.shape(grad) != probe.shape or np.shape(value) != probe.shape:
        raise ConfigError(key, "value(x) and grad(x) must return one value per x")
    if interaction and np.all(np.isfinite(value)) and \
            not np.allclose(value, value[::-1], rtol=1e-10, atol=1e-12):
        raise ConfigError(key, "interaction kernel W must be even (W(x) = W(-x))")


def _check_callable_nd(p, key, dimension):
    """d ≥ 2: value/grad give (m,) and (m, d) on points (m, d); a radial profile (m,) on r."""
    if p.radial:
        probe = np.linspace(0.0, 3.0, 13)
        calls, shapes = (p.profile, p.profile_grad), ((13,), (13,))
        what = "value(r) and grad(r) must return one value per distance r"
    else:
        probe = np.zeros((13, dimension)) + np.linspace(-3.0, 3.0, 13)[:, None]
        probe[:, 0] *= -0.5  # off the diagonal, so a mixed-up axis shows
        calls, shapes = (p.value_nd, p.grad_nd), ((13,), (13, dimension))
        what = f"value(points) must return shape (m,) and grad(points) (m, {dimension}) " \
               f"for points of shape (m, {dimension})"
    with np.errstate(all="ignore"):
        try:
            out = [np.shape(fn(probe)) for fn in calls]
        except Exception as exc:  # user code: report any failure as a config problem
            raise ConfigError(key, f"evaluation failed: {type(exc).__name__}: {exc}") from None
    if tuple(out) != shapes:
        raise ConfigError(key, what)


def _check_initial(initial, kinetic, dimension=1):
    if not isinstance(initial, GaussianMixture):
        raise ConfigError("initial", f"must be a GaussianMixture (got {type(initial).__name__})")
    need = dimension * (2 if kinetic else 1)
    if initial.dim != need:
        regime = 'kinetic' if kinetic else 'overdamped'
        where = "" if dimension == 1 else f" in dimension {dimension}"
        what = "" if dimension == 1 else (" (positions, then velocities)" if kinetic else
                                          " (one per position axis)")
        raise ConfigError("initial.mean", f"must have {need} entries for regime "
                                          f"{regime!r}{where}{what}")


def _check_time(t: TimeConfig):
    t.t_end = _number(t.t_end, "time.t_end", positive=True)
    if t.snapshots is not None:
        snaps = _number_list(list(t.snapshots) if isinstance(t.snapshots, tuple)
                             else t.snapshots, "time.snapshots")
        for s in snaps:
            if not 0.0 <= s <= t.t_end:
                raise ConfigError("time.snapshots", f"time {s:g} outside [0, t_end = {t.t_end:g}]")
        if any(b <= a for a, b in zip(snaps, snaps[1:])):
            raise ConfigError("time.snapshots", "must be strictly increasing")
        t.snapshots = tuple(snaps)


def _check_axis(axis, key, cells_required=True):
    if not isinstance(axis, AxisConfig):
        raise ConfigError(key, f"must be {{ min, max{', cells' if cells_required else ''} }} "
                               f"(got {axis!r})")
    axis.min = _number(axis.min, f"{key}.min")
    axis.max = _number(axis.max, f"{key}.max")
    if axis.min >= axis.max:
        raise ConfigError(f"{key}.min", f"must be < max (got min = {axis.min:g}, "
                                        f"max = {axis.max:g})")
    if cells_required and axis.cells is None:
        raise ConfigError(f"{key}.cells", "missing (required)")
    if axis.cells is not None:
        axis.cells = _integer(axis.cells, f"{key}.cells", minimum=3)


def _axis_list(axes, key, dimension, cells_required=True):
    """Check one axis (every dimension) or a list of ``dimension`` axes; return the axis
    (d = 1) or a tuple of d checked copies (d ≥ 2)."""
    if isinstance(axes, (list, tuple)):
        if len(axes) != dimension:
            raise ConfigError(key, f"must be one table (the same axis for every dimension) "
                                   f"or a list of {dimension} tables, one per dimension "
                                   f"(got {len(axes)})")
        keys = [f"{key}[{k}]" for k in range(dimension)]
        out = list(axes)
    else:
        keys = [key] * dimension
        out = [axes] * dimension
    if dimension > 1:  # one object per axis, so normalising one leaves the others alone
        out = [copy.copy(a) if isinstance(a, AxisConfig) else a for a in out]
    for axis, k in zip(out, keys):
        _check_axis(axis, k, cells_required)
    return out[0] if dimension == 1 else tuple(out)


def _check_grid(g: GridConfig, kinetic, check_cfl=True, dimension=1):
    g.x = _axis_list(g.x, "grid.x", dimension)
    if kinetic:
        if g.v is None:
            raise ConfigError("grid.v", "missing (required)")
        listed = isinstance(g.v, (list, tuple))
        g.v = _axis_list(g.v, "grid.v", dimension)
        for k, v in enumerate(_as_axes(g.v)):
            if v.min != -v.max:
                # specular x-walls send the mass leaving at v into the cell of −v
                key = f"grid.v[{k}]" if listed else "grid.v"
                raise ConfigError(key, f"must be symmetric about 0, min = −max (got min = "
                                       f"{v.min:g}, max = {v.max:g}): the x-walls "
                                       "reflect velocities specularly")
    elif g.v is not None:
        raise ConfigError("grid.v", "only for regime = \"kinetic\"")
    schemes = grid_schemes()
    g.scheme = _string(g.scheme, "grid.scheme", choices=tuple(schemes))
    scheme = schemes[g.scheme]
    regime = "kinetic" if kinetic else "overdamped"
    if regime not in scheme.regimes:
        raise ConfigError("grid.scheme", f"{g.scheme!r} does not support regime {regime!r} "
                                         f"(it supports {', '.join(scheme.regimes)})")
    # a scheme may declare the dimensions it solves (``dimensions``); without it, the
    # grid solver's own dispatch decides
    dims = getattr(scheme, "dimensions", None)
    if dims is not None and dimension not in dims:
        raise ConfigError("grid.scheme", f"{g.scheme!r} does not solve dimension {dimension} "
                                         f"(model.dimension; it solves "
                                         f"{', '.join(map(str, dims))})")
    if g.cfl is not None:
        g.cfl = _number(g.cfl, "grid.cfl")
        limit = scheme.max_cfl if check_cfl else math.inf
        if not 0.0 < g.cfl <= limit:
            raise ConfigError("grid.cfl", f"must be in (0, {scheme.max_cfl:g}] for scheme "
                                          f"{g.scheme!r} (got {g.cfl:g})")
    g.diagnostics_every = _integer(g.diagnostics_every, "grid.diagnostics_every", minimum=1)
    if g.dt is not None:
        g.dt = _number(g.dt, "grid.dt", positive=True)
        if not scheme.implicit:
            raise ConfigError("grid.dt", f"only for implicit schemes; {g.scheme!r} chooses "
                                         "its step from cfl")


def _check_full_snapshots(cfg):
    """``grid.full_snapshots`` → a tuple of snapshot times (kinetic d = 2 only)."""
    g = cfg.grid
    key = "grid.full_snapshots"
    if not (cfg.model.kinetic and cfg.model.dimension == 2):
        if g.full_snapshots is not None:
            raise ConfigError(key, "only for regime = \"kinetic\" with model.dimension = 2 "
                                   "(other grids store their whole state at every snapshot)")
        return
    times = [float(t) for t in cfg.time.times()]
    full = g.full_snapshots
    if full is None:
        size = FULL_SNAPSHOT_FLOAT_BYTES * int(np.prod(g.shape())) * len(times)
        g.full_snapshots = tuple(times) if size <= FULL_SNAPSHOT_BYTES else \
            tuple(dict.fromkeys((times[0], times[-1])))
        return
    if isinstance(full, str):
        g.full_snapshots = _string(full, key, choices=("all", "none"))
        g.full_snapshots = tuple(times) if full == "all" else ()
        return
    if not isinstance(full, (list, tuple)):
        raise ConfigError(key, f"must be \"all\", \"none\" or a list of snapshot times "
                               f"(got {full!r})")
    chosen = []
    for t in full:
        t = _number(t, key)
        hit = np.flatnonzero(np.isclose(times, t, rtol=1e-12, atol=1e-12 * times[-1]))
        if len(hit) == 0:
            raise ConfigError(key, f"time {t:g} is not a snapshot time (time.snapshots and "
                                   f"t_end: {', '.join(f'{s:g}' for s in times)})")
        chosen.append(times[hit[0]])
    if len(set(chosen)) != len(chosen):
        raise ConfigError(key, "lists a time twice")
    g.full_snapshots = tuple(sorted(chosen))


def _check_particles(p: ParticlesConfig, kinetic, t_end, dimension=1):
    p.n = _integer(p.n, "particles.n", minimum=1)
    p.dt = _number(p.dt, "particles.dt", positive=True)
    if p.dt > t_end:
        raise ConfigError("particles.dt", f"must be ≤ t_end = {t_end:g} (got {p.dt:g})")
    p.scheme = _string(p.scheme, "particles.scheme", choices=PARTICLE_SCHEMES)
    if p.scheme == "baoab" and not kinetic:
        raise ConfigError("particles.scheme", "'baoab' is for regime = \"kinetic\" (use 'euler')")
    p.interaction_method = _string(p.interaction_method, "particles.interaction_method",
                                   choices=PARTICLE_INTERACTIONS)
    p.seed = _integer(p.seed, "particles.seed", minimum=0)
    if p.mesh_cells is not None:
        p.mesh_cells = _integer(p.mesh_cells, "particles.mesh_cells", minimum=8)
    if p.store is not None:
        p.store = _integer(p.store, "particles.store", minimum=0)
        if p.store == 0:
            raise ConfigError("particles.store", "must be ≥ 1: a run stores the positions of "
                                                 "at least one particle per snapshot (the "
                                                 "metrics use all n whatever is stored)")
    if p.x is not None:
        p.x = _axis_list(p.x, "particles.x", dimension, cells_required=False)
    if dimension > 2 and p.interaction_method == "mesh":
        raise ConfigError("particles.interaction_method", "'mesh' is for dimension 1 and 2 "
                                                          f"(model.dimension = {dimension}): "
                                                          "use 'pairwise' or 'auto'")


def _check_compare(c: CompareConfig):
    metrics = c.metrics
    if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)) or \
            not all(isinstance(m, str) for m in metrics):
        raise ConfigError("compare.metrics", "must be a list of metric names")
    if not metrics:
        raise ConfigError("compare.metrics", "must not be empty (choose from "
                                             f"{', '.join(COMPARE_METRICS)})")
    for m in metrics:
        if m not in COMPARE_METRICS:
            raise ConfigError("compare.metrics", f"unknown metric {m!r} "
                                                 f"(choose from {', '.join(COMPARE_METRICS)})")
    if len(set(metrics)) != len(metrics):
        raise ConfigError("compare.metrics", "lists a metric twice")
    c.n_projections = _integer(c.n_projections, "compare.n_projections", minimum=1)
    c.emd_subsample = _integer(c.emd_subsample, "compare.emd_subsample", minimum=0)
    c.noise_floor = _boolean(c.noise_floor, "compare.noise_floor")
    c.seed = _integer(c.seed, "compare.seed", minimum=0)
    # "0 turns it off": the exact-OT metric is then not computed at all.
    metrics = tuple(m for m in metrics if not (m == "w2_emd" and c.emd_subsample == 0))
    if not metrics:
        raise ConfigError("compare.emd_subsample", "0 turns off w2_emd, the only metric "
                                                   "in compare.metrics")
    c.metrics = metrics


def _particle_axis(cfg):
    """The particles' reflecting domain, or None for free space (d ≥ 2: a tuple of d
    axes)."""
    p = cfg.particles
    if p.x is not None:
        return p.x
    return cfg.grid.x if cfg.grid is not None else None


def _check_domains(cfg: Config):
    """Potentials finite where they are used; initial law inside the domain."""
    m = cfg.model
    if m.dimension > 1:
        return _check_domains_nd(cfg)
    kinetic = m.kinetic
    # Where V and V' are evaluated: grid cell centres and edges, and the particle domain
    # (a non-polynomial V' is tabulated there). W and W' at all pairwise distances.
    places = []
    if cfg.grid is not None:
        g = cfg.grid.x
        edges = np.linspace(g.min, g.max, g.cells + 1)
        places.append((np.concatenate([edges, 0.5 * (edges[1:] + edges[:-1])]),
                       f"grid.x [{g.min:g}, {g.max:g}]", g.max - g.min))
    if cfg.particles is not None:
        axis = _particle_axis(cfg)
        if axis is not None:
            places.append((np.linspace(axis.min, axis.max, 4097),
                           f"particle domain [{axis.min:g}, {axis.max:g}]", axis.max - axis.min))
        else:
            _check_free_space(cfg)
    for points, where, length in places:
        _check_finite(m.potential, _key_of(m.potential, "model.potential"), "V", points, where)
        if m.interaction is not None:
            lags = np.linspace(-length, length, 2 * len(points) + 1)
            _check_finite(m.interaction, _key_of(m.interaction, "model.interaction"), "W",
                          lags, f"distances up to {length:g} on the {where}")
    _check_initial_mass(cfg)


def _check_finite(p, key, name, points, where):
    with np.errstate(all="ignore"):
        try:
            values = (("", p.value(points)), ("′", p.grad(points)))
        except Exception as exc:  # user code: report any failure as a config problem
            raise ConfigError(key, f"{name} failed on the {where}: "
                                   f"{type(exc).__name__}: {exc}") from None
    for prime, vals in values:
        bad = ~np.isfinite(np.asarray(vals, dtype=float))
        if np.any(bad):
            x = points[np.argmax(bad)]
            raise ConfigError(key, f"{name}{prime}(x) is not finite at x = {x:g} on the "
                                   f"{where}")


PARTICLE_PROBE_NODES = {2: 257, 3: 41}  # lattice nodes per axis probing V in a particle box
GRID_PROBE_NODES = 1025     # at most this many probe nodes per grid axis (d ≥ 2)


def _check_domains_nd(cfg: Config):
    """d ≥ 2: V, ∇V finite on the grid (cell centres and edges of every axis) and on a
    lattice of the particle box; the radial W, W′ on distances up to the box diagonal."""
    m = cfg.model
    places = []
    if cfg.grid is not None:
        axes = cfg.grid.x
        coords = []
        for a in axes:
            # centres and edges; on very fine axes every k-th of them (bounded work)
            edges = np.linspace(a.min, a.max, a.cells + 1)
            both = np.sort(np.concatenate([edges, 0.5 * (edges[1:] + edges[:-1])]))
            stride = max(1, -(-len(both) // GRID_PROBE_NODES))
            coords.append(np.unique(np.concatenate([both[::stride], both[-1:]])))
        places.append((coords, "grid.x " + " × ".join(f"[{a.min:g}, {a.max:g}]" for a in axes),
                       axes))
    if cfg.particles is not None:
        axes = _particle_axis(cfg)
        if axes is not None:
            nodes = PARTICLE_PROBE_NODES.get(m.dimension, 65)
            coords = [np.linspace(a.min, a.max, nodes) for a in axes]
            places.append((coords, "particle domain " +
                           " × ".join(f"[{a.min:g}, {a.max:g}]" for a in axes), axes))
        else:
            _check_free_space(cfg)
    for coords, where, axes in places:
        grids = np.meshgrid(*coords, indexing="ij")
        points = np.stack([g.ravel() for g in grids], axis=1)
        _check_finite_nd(m.potential, _key_of(m.potential, "model.potential"), "V",
                         points, where)
        if m.interaction is not None:
            diagonal = math.sqrt(sum((a.max - a.min) ** 2 for a in axes))
            r = np.linspace(0.0, diagonal, 4097)
            _check_finite_nd(m.interaction, _key_of(m.interaction, "model.interaction"),
                             "W", r, f"distances up to {diagonal:g} on the {where}")
    _check_initial_mass(cfg)


def _check_finite_nd(p, key, name, points, where):
    with np.errstate(all="ignore"):
        try:
            calls = (p.profile, p.profile_grad) if p.radial else (p.value_nd, p.grad_nd)
            values = (("", calls[0](points)), ("′" if p.radial else "∇", calls[1](points)))
        except Exception as exc:  # user code: report any failure as a config problem
            raise ConfigError(key, f"{name} failed on the {where}: "
                                   f"{type(exc).__name__}: {exc}") from None
    for prime, vals in values:
        vals = np.asarray(vals, dtype=float)
        bad = ~np.isfinite(vals.reshape(len(points), -1)).all(axis=1)
        if np.any(bad):
            at = points[np.argmax(bad)]
            if p.radial:
                raise ConfigError(key, f"{name}{prime}(r) is not finite at r = {at:g} "
                                       f"({where})")
            label = "(" + ", ".join(f"{c:g}" for c in at) + ")"
            head = f"∇{name}" if prime == "∇" else name
            raise ConfigError(key, f"{head}(x) is not finite at x = {label} on the {where}")


def _check_free_space(cfg):
    """Particles without walls: forces must not need a table over a finite range."""
    from vfp.potentials import GaussianKernelPotential

    m = cfg.model
    why = "(no [grid] and no particles.x: free space)"
    if m.dimension > 1:
        if m.potential.polynomial() is None:
            raise ConfigError("particles.x", "missing: V is not a polynomial, so the "
                                             f"particles need a box to tabulate ∇V {why}")
        w = m.interaction
        if w is not None and getattr(w, "kind", None) not in ("quadratic", "gaussian"):
            raise ConfigError("particles.x", "missing: this interaction profile is tabulated "
                                             f"up to the box's diagonal {why}")
        return
    if m.potential.grad_polynomial is None:
        raise ConfigError("particles.x", "missing: V′ is not a polynomial, so the particles "
                                         f"need a domain to tabulate it {why}")
    w = m.interaction
    if w is not None and not isinstance(w, GaussianKernelPotential):
        poly = w.grad_polynomial
        if not (poly is not None and len(poly) <= 2 and poly[0] == 0.0):
            raise ConfigError("particles.x", "missing: this interaction kernel is tabulated "
                                             f"over the domain's width {why}")


def _check_initial_mass(cfg):
    law = cfg.initial
    if cfg.model.dimension > 1 or law.covs is not None:
        # boxes of a correlated law: its normal CDF, not a quadrature over one huge cell
        return _check_initial_mass_nd(cfg)
    boxes = []
    if cfg.grid is not None:
        g = cfg.grid
        edges = (np.array([g.x.min, g.x.max]),)
        name = f"grid.x = [{g.x.min:g}, {g.x.max:g}]"
        if cfg.model.kinetic:
            edges += (np.array([g.v.min, g.v.max]),)
            name += f" × grid.v = [{g.v.min:g}, {g.v.max:g}]"
        boxes.append((edges, name))
    if cfg.particles is not None and _particle_axis(cfg) is not None:
        a = _particle_axis(cfg)
        x_edges = np.array([a.min, a.max])
        edges = (x_edges, np.array([-np.inf, np.inf])) if cfg.model.kinetic else (x_edges,)
        boxes.append((edges, f"the particle domain [{a.min:g}, {a.max:g}]"))
    for edges, name in boxes:
        inside = float(np.sum(law.cell_masses(*edges)))
        if not inside >= MIN_INSIDE_MASS:
            raise ConfigError("initial", f"only {inside:.2e} of the initial law lies inside "
                                         f"{name} (at least {MIN_INSIDE_MASS:g} needed): move "
                                         "initial.mean or widen the domain")


def _check_initial_mass_nd(cfg):
    """d ≥ 2: the initial law's mass in the grid's box (positions and velocities) and in
    the particle box (positions)."""
    law = cfg.initial
    boxes = []

    def describe(name, axes):
        return f"{name} = " + " × ".join(f"[{a.min:g}, {a.max:g}]" for a in axes)

    if cfg.grid is not None:
        axes = cfg.grid.x_axes + cfg.grid.v_axes
        name = describe("grid.x", cfg.grid.x_axes)
        if cfg.model.kinetic:
            name += " × " + describe("grid.v", cfg.grid.v_axes)
        boxes.append((axes, name))
    if cfg.particles is not None and _particle_axis(cfg) is not None:
        axes = _as_axes(_particle_axis(cfg))
        boxes.append((axes, "the particle domain " + describe("particles.x", axes)
                      .removeprefix("particles.x = ")))
    for axes, name in boxes:
        inside = law.inside_mass([a.min for a in axes], [a.max for a in axes])
        if not inside >= MIN_INSIDE_MASS:
            raise ConfigError("initial", f"only {inside:.2e} of the initial law lies inside "
                                         f"{name} (at least {MIN_INSIDE_MASS:g} needed): move "
                                         "initial.mean or widen the domain")


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux MemAvailable), or None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} EiB"  # pragma: no cover


#: kinetic d = 2: state-sized float64 arrays a scheme holds (the state included); a
#: scheme class may declare its own as ``work_copies_2d``. upwind: state and one spare;
#: muscl: + two SSP-RK2 stage arrays; sg_imex: + one line-solve/transport array.
KINETIC_2D_WORK_COPIES = {"upwind": 2, "muscl": 4, "sg_imex": 3}
KINETIC_2D_DEFAULT_COPIES = 4
BIG_RUN_BYTES = 2**30       # memory_note() speaks from this estimate up


def _work_copies(cfg) -> int:
    if cfg.model.dimension == 1 or not cfg.model.kinetic:
        return MEMORY_WORK_COPIES
    scheme = grid_schemes().get(cfg.grid.scheme)
    declared = getattr(scheme, "work_copies_2d", None)
    if declared is not None:
        return int(declared)
    return KINETIC_2D_WORK_COPIES.get(cfg.grid.scheme, KINETIC_2D_DEFAULT_COPIES)


def memory_estimate(cfg: Config) -> dict:
    """Bytes a run needs, by part: ``{"grid": ..., "particles": ...}``.

    Grid, d = 1 and overdamped d = 2: the state f (or ρ), ``MEMORY_WORK_COPIES``
    state-sized work arrays, and two copies of every snapshot (the solver's result and the
    comparison's copy) kept in memory. Kinetic d = 2 (4-D state, not kept in memory
    between snapshots): 8 bytes × cells × the scheme's work copies
    (``KINETIC_2D_WORK_COPIES``), one float32 copy of f for writing a full snapshot, and
    two float64 copies of the x- and v-marginals of every snapshot; with [particles], the
    run keeps a float32 copy of f at every snapshot for the comparison.
    Particles: ``PARTICLE_BYTES`` per particle and dimension (positions, velocities,
    noise, forces and the comparison's sorted copies), plus the mesh.
    """
    n_snap = len(cfg.time.times())
    out = {}
    if cfg.grid is not None:
        g = cfg.grid
        shape = g.shape()
        cells = int(np.prod(shape, dtype=np.int64)) if cfg.model.dimension > 1 else \
            g.x.cells * (g.v.cells if cfg.model.kinetic else 1)
        if cfg.model.dimension > 1 and cfg.model.kinetic:
            d = cfg.model.dimension
            marginals = int(np.prod(shape[:d])) + int(np.prod(shape[d:]))
            compared = n_snap if cfg.particles is not None else 0
            out["grid"] = 8 * cells * _work_copies(cfg) + FULL_SNAPSHOT_FLOAT_BYTES * cells \
                * (1 + compared) + 2 * 8 * marginals * n_snap
        else:
            out["grid"] = 8 * cells * (MEMORY_WORK_COPIES + 2 * n_snap)
    if cfg.particles is not None:
        mesh = cfg.particles.mesh_cells or 0
        out["particles"] = PARTICLE_BYTES * cfg.particles.n * cfg.model.dimension + \
            8 * mesh ** min(cfg.model.dimension, 2)
    return out


def _grid_shape_text(cfg):
    g = cfg.grid
    if cfg.model.dimension == 1:
        return f"{g.x.cells}×{g.v.cells}" if cfg.model.kinetic else f"{g.x.cells}"
    return "×".join(str(n) for n in g.shape())


def memory_note(cfg: Config) -> str | None:
    """One line with the memory estimate of a big run (≥ ``BIG_RUN_BYTES``), else None;
    the command line prints it before the run starts."""
    need = memory_estimate(cfg)
    total = sum(need.values())
    if total < BIG_RUN_BYTES:
        return None
    parts = []
    if "grid" in need:
        parts.append(f"grid {_grid_shape_text(cfg)} ({cfg.grid.scheme}): {_bytes(need['grid'])}")
    if "particles" in need:
        parts.append(f"{cfg.particles.n} particles: {_bytes(need['particles'])}")
    have = available_memory()
    tail = f" of {_bytes(have)} available" if have is not None else ""
    return f"memory estimate {_bytes(total)}{tail} ({'; '.join(parts)})"


def _check_memory(cfg):
    need = memory_estimate(cfg)
    have = available_memory()
    if have is None or sum(need.values()) <= have:
        return
    part = max(need, key=need.get)
    if part == "grid":
        shape = _grid_shape_text(cfg)
        if cfg.model.dimension > 1 and cfg.model.kinetic:
            what = (f"a {shape} grid with scheme {cfg.grid.scheme!r} needs about "
                    f"{_bytes(need['grid'])}")
        else:
            what = (f"a {shape} grid with {len(cfg.time.times())} snapshots kept in memory "
                    f"needs about {_bytes(need['grid'])}")
        key = "grid"
    else:
        what = (f"{cfg.particles.n} particles need about {_bytes(need['particles'])}")
        key = "particles.n"
    raise ConfigError(key, f"{what} ({_bytes(sum(need.values()))} in all), more than the "
                           f"{_bytes(have)} of memory available")


def _check_mesh(cfg, p):
    """Reject a particle mesh too coarse for the interaction kernel before any work."""
    from vfp.particles.interaction import check_mesh

    from .model import particle_forces

    axis = _particle_axis(cfg)
    _, spec = particle_forces(cfg.model.potential, cfg.model.interaction, axis.min, axis.max)
    if getattr(spec, "resolution", None) is None:
        return  # exact mean form (quadratic kernel): no mesh is used
    try:
        check_mesh(spec, axis.min, axis.max, p.mesh_cells)
    except ValueError as exc:
        raise ConfigError("particles.mesh_cells",
                          str(exc).removeprefix("particles.mesh_cells: ")) from None


def loads(text: str, source: str | None = None, *, functional=None) -> Config:
    """Parse TOML text into a validated :class:`Config` (``source``: the file it came from,
    which relative data paths are read against; ``functional`` as :func:`from_dict`)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("toml", f"invalid TOML: {exc}", source) from None
    return from_dict(data, source=source, text=text, functional=functional)


def load(path) -> Config:
    """Read and validate a TOML config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file", "no such file", str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("file", f"cannot read: {exc}", str(path)) from None
    return loads(text, source=str(path))
