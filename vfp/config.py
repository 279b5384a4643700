"""Typed run configuration, loaded from TOML or built directly in Python.

All validation happens here, before any work starts: an unknown key, a wrong type, an
impossible value or an unsafe expression raises :class:`ConfigError`, whose message
names the file and the key (``config.toml: grid.x.cells: must be an integer ≥ 3 (got 2)``).
The same dataclasses can be built by hand; :func:`validate` checks them the same way.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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
COMPARE_METRICS = ("w2_x", "w2_v", "sw2", "w2_emd", "kl_knn", "kl_binned", "tv", "mean", "cov")
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
    """The equation: regime, friction γ, temperature λ, potential V and interaction W."""

    regime: str = "kinetic"
    temperature: float = 1.0
    potential: pot.Potential = field(default_factory=lambda: pot.builtin("harmonic"))
    interaction: pot.Potential | None = None
    gamma: float = 1.0

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


@dataclass
class GridConfig:
    x: AxisConfig
    v: AxisConfig | None = None
    scheme: str = "upwind"
    cfl: float | None = None
    diagnostics_every: int = 10
    dt: float | None = None           # implicit schemes only: largest time step

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
    interaction: str = "auto"
    seed: int = 0
    mesh_cells: int | None = None
    store: int | None = None          # particles stored per snapshot; None: min(n, 10^6)
    x: AxisConfig | None = None       # reflecting domain; defaults to the grid's x axis

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

    def output_path(self) -> Path:
        if self.output.path:
            return Path(self.output.path)
        stem = Path(self.source).stem if self.source else "run"
        return Path("runs") / f"{stem}.h5"


# ---------------------------------------------------------------------------------------
# Reading TOML tables with typed accessors that name the key on error


class _Table:
    """A TOML table being read: typed getters, then :meth:`done` rejects leftover keys."""

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

    def number(self, name, default=None, required=False, positive=False, minimum=None):
        val = self.raw(name, default, required)
        if val is None:
            return None
        return _number(val, self.key(name), positive=positive, minimum=minimum)

    def integer(self, name, default=None, required=False, minimum=None):
        val = self.raw(name, default, required)
        if val is None:
            return None
        if isinstance(val, bool) or not isinstance(val, int):
            raise ConfigError(self.key(name), f"must be an integer (got {val!r})")
        if minimum is not None and val < minimum:
            raise ConfigError(self.key(name), f"must be an integer ≥ {minimum} (got {val})")
        return val

    def string(self, name, default=None, required=False, choices=None):
        val = self.raw(name, default, required)
        if val is None:
            return None
        if not isinstance(val, str):
            raise ConfigError(self.key(name), f"must be a string (got {val!r})")
        if choices is not None and val not in choices:
            raise ConfigError(self.key(name), f"unknown {val!r} (choose from {', '.join(choices)})")
        return val

    def boolean(self, name, default=None):
        val = self.raw(name, default)
        if not isinstance(val, bool):
            raise ConfigError(self.key(name), f"must be true or false (got {val!r})")
        return val

    def table(self, name, required=False, allowed=None):
        val = self.raw(name, None, required)
        return None if val is None else _Table(val, self.key(name), allowed)

    def done(self):
        extra = sorted(set(self.data) - self.used)
        if extra:
            raise ConfigError(self.key(extra[0]), "unknown key")


def _number(val, key, positive=False, minimum=None):
    if isinstance(val, bool) or not isinstance(val, (int, float)):
        raise ConfigError(key, f"must be a number (got {val!r})")
    val = float(val)
    if not math.isfinite(val):
        raise ConfigError(key, f"must be finite (got {val})")
    if positive and val <= 0:
        raise ConfigError(key, f"must be > 0 (got {val:g})")
    if minimum is not None and val < minimum:
        raise ConfigError(key, f"must be ≥ {minimum:g} (got {val:g})")
    return val


def _number_list(val, key, length=None):
    if isinstance(val, (int, float)) and not isinstance(val, bool):
        val = [val]
    if not isinstance(val, list):
        raise ConfigError(key, f"must be a number or a list of numbers (got {val!r})")
    out = [_number(item, key) for item in val]
    if length is not None and len(out) != length:
        raise ConfigError(key, f"must have {length} entries (got {len(out)})")
    return out


# ---------------------------------------------------------------------------------------
# Sections


_ALLOWED = {
    "": ("model", "initial", "time", "grid", "particles", "compare", "output"),
    "model": ("regime", "gamma", "temperature", "potential", "interaction"),
    "initial": ("kind", "mean", "std", "weights", "means", "stds"),
    "time": ("t_end", "snapshots"),
    "grid": ("x", "v", "scheme", "cfl", "diagnostics_every", "dt"),
    "particles": ("n", "dt", "scheme", "interaction", "seed", "mesh_cells", "store", "x"),
    "compare": ("metrics", "n_projections", "emd_subsample", "noise_floor", "seed"),
    "output": ("path",),
}


def _potential(table: _Table, interaction: bool) -> pot.Potential:
    forms = [k for k in ("kind", "expr", "python") if table.has(k)]
    if len(forms) != 1:
        raise ConfigError(table.prefix, "give exactly one of kind, expr or python")
    form = forms[0]
    key = table.key(form)
    value = table.string(form, required=True)
    try:
        if form == "kind":
            params = {k: table.raw(k) for k in table.data if k != "kind"}
            try:
                result = pot.builtin(value, interaction=interaction, **params)
            except KeyError as exc:
                message = exc.args[0]
                bad = next((k for k in params if f"'{k}'" in message), None)
                raise ConfigError(table.key(bad) if bad else key, message) from None
            except ValueError as exc:
                bad = next((k for k in params if f"'{k}'" in str(exc)), None)
                raise ConfigError(table.key(bad) if bad else key, str(exc)) from None
        elif form == "expr":
            table.done()
            result = pot.from_expression(value)
        else:
            table.done()
            result = pot.from_python(value)
    except ConfigError:
        raise
    except (ValueError, ImportError, AttributeError, TypeError) as exc:
        raise ConfigError(key, str(exc)) from None
    _check_potential_values(result, key, interaction)
    return result


def _check_potential_values(p, key, interaction):
    probe = np.linspace(-3.0, 3.0, 13)
    with np.errstate(all="ignore"):
        try:
            grad = p.grad(probe)
        except Exception as exc:  # user code: report any failure as a config problem
            raise ConfigError(key, f"grad(x) failed: {type(exc).__name__}: {exc}") from None
    if np.shape(grad) != probe.shape:
        raise ConfigError(key, "grad(x) must return one value per x")
    if interaction:
        value = p.value(probe)
        if not np.allclose(value, value[::-1], rtol=1e-10, atol=1e-12):
            raise ConfigError(key, "interaction kernel W must be even (W(x) = W(-x))")


def _model(t: _Table) -> ModelConfig:
    regime = t.string("regime", "kinetic", choices=("kinetic", "overdamped"))
    temperature = t.number("temperature", required=True, positive=True)
    gamma = t.number("gamma", 1.0, positive=True)
    if regime == "overdamped" and t.has("gamma"):
        raise ConfigError(t.key("gamma"), "only for regime = \"kinetic\"")
    potential = _potential(t.table("potential", required=True), interaction=False)
    inter_table = t.table("interaction")
    interaction = _potential(inter_table, interaction=True) if inter_table else None
    t.done()
    return ModelConfig(regime=regime, temperature=temperature, potential=potential,
                       interaction=interaction, gamma=gamma)


def _initial(t: _Table, kinetic: bool) -> GaussianMixture:
    dim = 2 if kinetic else 1
    kind = t.string("kind", "gaussian", choices=("gaussian", "mixture"))
    if kind == "gaussian":
        mean = _number_list(t.raw("mean", required=True), t.key("mean"), dim)
        std = _number_list(t.raw("std", required=True), t.key("std"), dim)
        if min(std) <= 0:
            raise ConfigError(t.key("std"), f"must be > 0 (got {std})")
        t.done()
        return gaussian(mean, std)
    weights = _number_list(t.raw("weights", required=True), t.key("weights"))
    if min(weights) < 0 or sum(weights) <= 0:
        raise ConfigError(t.key("weights"), "must be ≥ 0 with a positive sum")
    rows = {}
    for name in ("means", "stds"):
        val = t.raw(name, required=True)
        if not isinstance(val, list) or len(val) != len(weights):
            raise ConfigError(t.key(name), f"must be a list of {len(weights)} entries, one per weight")
        rows[name] = [_number_list(item, t.key(name), dim) for item in val]
    if min(min(r) for r in rows["stds"]) <= 0:
        raise ConfigError(t.key("stds"), "must be > 0")
    t.done()
    return GaussianMixture(np.array(weights), np.array(rows["means"]), np.array(rows["stds"]))


def _time(t: _Table) -> TimeConfig:
    t_end = t.number("t_end", required=True, positive=True)
    raw = t.raw("snapshots")
    snapshots = None
    if raw is not None:
        snapshots = _number_list(raw, t.key("snapshots"))
        if not snapshots:
            raise ConfigError(t.key("snapshots"), "must not be empty")
        for s in snapshots:
            if not 0.0 <= s <= t_end:
                raise ConfigError(t.key("snapshots"), f"time {s:g} outside [0, t_end = {t_end:g}]")
        if any(b <= a for a, b in zip(snapshots, snapshots[1:])):
            raise ConfigError(t.key("snapshots"), "must be strictly increasing")
        snapshots = tuple(snapshots)
    t.done()
    return TimeConfig(t_end=t_end, snapshots=snapshots)


def _axis(t: _Table) -> AxisConfig:
    lo = t.number("min", required=True)
    hi = t.number("max", required=True)
    cells = t.integer("cells", required=False, minimum=3) if t.has("cells") else None
    t.done()
    if lo >= hi:
        raise ConfigError(t.key("min"), f"must be < max (got min = {lo:g}, max = {hi:g})")
    return AxisConfig(lo, hi, cells)


def _grid(t: _Table, kinetic: bool) -> GridConfig:
    x = _axis(t.table("x", required=True))
    v = None
    if kinetic:
        v = _axis(t.table("v", required=True))
    elif t.has("v"):
        raise ConfigError(t.key("v"), "only for regime = \"kinetic\"")
    for name, axis in (("x", x), ("v", v)):
        if axis is not None and axis.cells is None:
            raise ConfigError(t.key(f"{name}.cells"), "missing (required)")
    schemes = grid_schemes()
    scheme = t.string("scheme", "upwind", choices=tuple(schemes))
    regime = "kinetic" if kinetic else "overdamped"
    if regime not in schemes[scheme].regimes:
        raise ConfigError(t.key("scheme"), f"{scheme!r} does not support regime {regime!r} "
                                           f"(it supports {', '.join(schemes[scheme].regimes)})")
    cfl = t.number("cfl")
    limit = schemes[scheme].max_cfl
    if cfl is not None and not 0.0 < cfl <= limit:
        raise ConfigError(t.key("cfl"), f"must be in (0, {limit:g}] for scheme {scheme!r} "
                                        f"(got {cfl:g})")
    every = t.integer("diagnostics_every", 10, minimum=1)
    dt = t.number("dt", positive=True)
    if dt is not None and not schemes[scheme].implicit:
        raise ConfigError(t.key("dt"), f"only for implicit schemes; {scheme!r} chooses its "
                                       "step from cfl")
    t.done()
    return GridConfig(x=x, v=v, scheme=scheme, cfl=cfl, diagnostics_every=every, dt=dt)


def _particles(t: _Table, kinetic: bool, t_end: float) -> ParticlesConfig:
    n = t.integer("n", required=True, minimum=1)
    dt = t.number("dt", required=True, positive=True)
    if dt > t_end:
        raise ConfigError(t.key("dt"), f"must be ≤ t_end = {t_end:g} (got {dt:g})")
    scheme = t.string("scheme", "euler", choices=PARTICLE_SCHEMES)
    if scheme == "baoab" and not kinetic:
        raise ConfigError(t.key("scheme"), "'baoab' is for regime = \"kinetic\" (use 'euler')")
    interaction = t.string("interaction", "auto", choices=PARTICLE_INTERACTIONS)
    seed = t.integer("seed", 0, minimum=0)
    mesh_cells = t.integer("mesh_cells", None, minimum=8)
    store = t.integer("store", None, minimum=0)
    x = _axis(t.table("x")) if t.has("x") else None
    t.done()
    return ParticlesConfig(n=n, dt=dt, scheme=scheme, interaction=interaction, seed=seed,
                           mesh_cells=mesh_cells, store=store, x=x)


def _compare(t: _Table) -> CompareConfig:
    metrics = t.raw("metrics", list(COMPARE_METRICS))
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise ConfigError(t.key("metrics"), "must be a list of metric names")
    for m in metrics:
        if m not in COMPARE_METRICS:
            raise ConfigError(t.key("metrics"), f"unknown metric {m!r} "
                                                f"(choose from {', '.join(COMPARE_METRICS)})")
    cfg = CompareConfig(
        metrics=tuple(metrics),
        n_projections=t.integer("n_projections", 200, minimum=1),
        emd_subsample=t.integer("emd_subsample", 1000, minimum=0),
        noise_floor=t.boolean("noise_floor", True),
        seed=t.integer("seed", 0, minimum=0),
    )
    t.done()
    return cfg


def _output(t: _Table) -> OutputConfig:
    path = t.string("path")
    t.done()
    return OutputConfig(path=path)


def from_dict(data: dict, source: str | None = None, text: str = "") -> Config:
    """Build a validated :class:`Config` from a parsed TOML document."""
    try:
        root = _Table(data, "", _ALLOWED[""])
        model = _model(root.table("model", required=True, allowed=_ALLOWED["model"]))
        initial = _initial(root.table("initial", required=True, allowed=_ALLOWED["initial"]), model.kinetic)
        time = _time(root.table("time", required=True, allowed=_ALLOWED["time"]))
        grid_t = root.table("grid", allowed=_ALLOWED["grid"])
        grid = _grid(grid_t, model.kinetic) if grid_t else None
        part_t = root.table("particles", allowed=_ALLOWED["particles"])
        particles = _particles(part_t, model.kinetic, time.t_end) if part_t else None
        cmp_t = root.table("compare", allowed=_ALLOWED["compare"])
        compare = _compare(cmp_t) if cmp_t else None
        out_t = root.table("output", allowed=_ALLOWED["output"])
        output = _output(out_t) if out_t else OutputConfig()
        root.done()
        if grid is None and particles is None:
            raise ConfigError("grid", "give a [grid] section, a [particles] section, or both")
        if compare is not None and not (grid and particles):
            raise ConfigError("compare", "needs both [grid] and [particles]")
        cfg = Config(model=model, initial=initial, time=time, grid=grid, particles=particles,
                     compare=compare, output=output, source=source, text=text)
        validate(cfg)
        return cfg
    except ConfigError as exc:
        raise exc.with_source(source) from None


def validate(cfg: Config) -> Config:
    """Cross-section checks shared by TOML and Python-built configs."""
    m = cfg.model
    if m.regime not in ("kinetic", "overdamped"):
        raise ConfigError("model.regime", f"unknown {m.regime!r} (choose from kinetic, overdamped)")
    for key, val in (("model.temperature", m.temperature), ("model.gamma", m.gamma)):
        _number(val, key, positive=True)
    if cfg.initial.dim != (2 if m.kinetic else 1):
        raise ConfigError("initial.mean", f"must have {2 if m.kinetic else 1} entries for "
                                          f"regime {m.regime!r}")
    if cfg.particles is not None:
        p = cfg.particles
        if p.x is None and cfg.grid is None:
            raise ConfigError("particles.x", "missing: give the reflecting domain "
                                             "{ min, max } when there is no [grid]")
        if cfg.grid is not None and p.x is not None and (p.x.min, p.x.max) != (cfg.grid.x.min, cfg.grid.x.max):
            raise ConfigError("particles.x", "must match grid.x when both are given")
        if p.mesh_cells is not None and m.interaction is not None:
            _check_mesh(cfg, p)
    if cfg.compares and cfg.compare is None:
        cfg.compare = CompareConfig()
    return cfg


def _check_mesh(cfg, p):
    """Reject a particle mesh too coarse for the interaction kernel before any work."""
    from vfp.particles.interaction import check_mesh

    from .model import particle_forces

    axis = p.x if p.x is not None else cfg.grid.x
    _, spec = particle_forces(cfg.model.potential, cfg.model.interaction, axis.min, axis.max)
    if getattr(spec, "resolution", None) is None:
        return  # exact mean form (quadratic kernel): no mesh is used
    try:
        check_mesh(spec, axis.min, axis.max, p.mesh_cells)
    except ValueError as exc:
        raise ConfigError("particles.mesh_cells",
                          str(exc).removeprefix("particles.mesh_cells: ")) from None


def loads(text: str, source: str | None = None) -> Config:
    """Parse TOML text into a validated :class:`Config`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("toml", f"invalid TOML: {exc}", source) from None
    return from_dict(data, source=source, text=text)


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
