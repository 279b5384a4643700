"""Mean-field energies F(μ) for the config and the run files (DESIGN §9).

An *energy* is any object with ``value(points, weights) -> float`` (F(μ)) and
``drift(query, points, weights) -> (q, d)`` (∇x δF/δμ at the query points) for a measure
μ = Σ_i w_i δ_{x_i} given by points (n, d) and weights (n,); optionally ``dimension`` (d).
The solvers add its drift to ∇V (:mod:`vfp.grids.meanfield`). This module builds energies
from the config's ``[model.functional]`` table, describes them for the run file (/model)
and rebuilds them from it:

* :class:`TwoLayerNetwork` — the squared-loss risk of a mean-field two-layer network
  (compiled; :class:`vfp.grids.meanfield.TwoLayerNetwork` that also remembers where its
  data came from);
* :class:`Teacher`, :func:`teacher_data` — synthetic student–teacher data drawn from a
  seed;
* :func:`load_data` — arrays ``z`` [M, p] and ``y`` [M] of an ``.npz`` file;
* :func:`import_energy` — a user's energy ``"package.module:attr"``;
* :func:`load_energy` — any of these from the config's table (a dict);
* :func:`describe_energy`, :func:`energy_from_run` — the /model group of a run file.

Teacher data (:func:`teacher_data`): with ``rng = default_rng(SeedSequence([seed,
0x7EAC4]))`` the draws are, in this order, the teacher's input weights w_k ~ N(0,
weight_std² I_p) (an array (K, p)), its output weights a_k ~ N(0, 1) (K,) when
``output_weight = "random"`` (else a_k = output_weight), the inputs z_j ~ N(0,
input_std² I_p) (M, p) and the noise ε_j ~ N(0, noise²) (M,) when noise > 0; then
y_j = (1/K) Σ_k a_k σ(w_k·z_j) + ε_j, the output of the mean-field network of the K
teacher neurons. The same table gives the same arrays on every machine.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vfp.grids import meanfield as _mf

__all__ = ["ACTIVATIONS", "TwoLayerNetwork", "Teacher", "teacher_data", "load_data",
           "import_energy", "load_energy", "describe_energy", "energy_from_run",
           "is_energy", "EnergyError"]

#: activation names of the built-in network
ACTIVATIONS = tuple(_mf.ACTIVATIONS)
_TEACHER_STREAM = 0x7EAC4


class EnergyError(ValueError):
    """A bad ``[model.functional]`` entry; ``key`` is its path below ``model.functional``
    (e.g. ``"data.teacher.width"``), so the config layer can name it."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(message)


class TwoLayerNetwork(_mf.TwoLayerNetwork):
    """:class:`vfp.grids.meanfield.TwoLayerNetwork` that also records its data's origin.

    Parameters
    ----------
    z : array (M, p);  y : array (M,);  activation : str;  output_weight : "learned" or float
        As :class:`vfp.grids.meanfield.TwoLayerNetwork`.
    source : dict, optional
        Where the data came from, stored in the run file (e.g. ``{"path": "data.npz"}`` or
        ``{"teacher": {...}}``); default ``{"arrays": "given in Python"}``.
    """

    def __init__(self, z, y, activation="tanh", output_weight="learned", *, source=None):
        super().__init__(z, y, activation=activation, output_weight=output_weight)
        self.source = dict(source) if source is not None else {"arrays": "given in Python"}

    def __repr__(self):
        return (f"TwoLayerNetwork(activation={self.activation!r}, output_weight="
                f"{self.output_weight!r}, data z {self.z.shape}, y {self.y.shape})")


@dataclass(frozen=True)
class Teacher:
    """A teacher network that makes synthetic data (see the module doc for the draws).

    Attributes
    ----------
    inputs : int ≥ 1
        p, the dimension of an input z.
    samples : int ≥ 1
        M, the number of data points.
    width : int ≥ 1
        K, the teacher's neurons.
    activation : str
        σ of the teacher (one of :data:`ACTIVATIONS`).
    output_weight : float or "random"
        a_k of every teacher neuron, or ``"random"``: a_k ~ N(0, 1).
    seed : int ≥ 0
    noise : float ≥ 0
        Standard deviation of the Gaussian label noise.
    input_std, weight_std : float > 0
        Standard deviations of the inputs z and of the teacher's input weights w.
    """

    inputs: int
    samples: int
    width: int = 1
    activation: str = "tanh"
    output_weight: float | str = 1.0
    seed: int = 0
    noise: float = 0.0
    input_std: float = 1.0
    weight_std: float = 1.0


def _int(val, key, minimum):
    if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < minimum:
        raise EnergyError(key, f"must be an integer ≥ {minimum} (got {val!r})")
    return int(val)


def _float(val, key, positive=False, nonnegative=False):
    if isinstance(val, bool) or not isinstance(val, (int, float, np.integer, np.floating)) \
            or not np.isfinite(val):
        raise EnergyError(key, f"must be a finite number (got {val!r})")
    val = float(val)
    if positive and val <= 0:
        raise EnergyError(key, f"must be > 0 (got {val:g})")
    if nonnegative and val < 0:
        raise EnergyError(key, f"must be ≥ 0 (got {val:g})")
    return val


def _activation(val, key):
    if val not in ACTIVATIONS:
        raise EnergyError(key, f"unknown {val!r} (choose from {', '.join(ACTIVATIONS)})")
    return val


def _output_weight(val, key, allowed_word):
    if isinstance(val, str):
        if val != allowed_word:
            raise EnergyError(key, f"must be {allowed_word!r} or a number (got {val!r})")
        return val
    return _float(val, key)


def check_teacher(t: Teacher, prefix="data.teacher") -> Teacher:
    """Check every field of a :class:`Teacher` (:class:`EnergyError` naming it)."""
    return Teacher(
        inputs=_int(t.inputs, f"{prefix}.inputs", 1),
        samples=_int(t.samples, f"{prefix}.samples", 1),
        width=_int(t.width, f"{prefix}.width", 1),
        activation=_activation(t.activation, f"{prefix}.activation"),
        output_weight=_output_weight(t.output_weight, f"{prefix}.output_weight", "random"),
        seed=_int(t.seed, f"{prefix}.seed", 0),
        noise=_float(t.noise, f"{prefix}.noise", nonnegative=True),
        input_std=_float(t.input_std, f"{prefix}.input_std", positive=True),
        weight_std=_float(t.weight_std, f"{prefix}.weight_std", positive=True))


def teacher_data(teacher: Teacher):
    """Synthetic data (z, y) of a teacher network, deterministic in ``teacher.seed``.

    Returns
    -------
    z : ndarray (M, p);  y : ndarray (M,)
        y_j = (1/K) Σ_k a_k σ(w_k·z_j) + ε_j (draws in the order of the module doc).
    """
    t = check_teacher(teacher)
    rng = np.random.default_rng(np.random.SeedSequence([t.seed, _TEACHER_STREAM]))
    w = rng.normal(0.0, t.weight_std, size=(t.width, t.inputs))
    if t.output_weight == "random":
        a = rng.normal(0.0, 1.0, size=t.width)
    else:
        a = np.full(t.width, float(t.output_weight))
    z = rng.normal(0.0, t.input_std, size=(t.samples, t.inputs))
    noise = rng.normal(0.0, t.noise, size=t.samples) if t.noise > 0 else 0.0
    # the teacher is a mean-field network of its K neurons (w_k, a_k), weights 1/K
    teacher_net = _mf.TwoLayerNetwork(z, np.zeros(t.samples), t.activation, "learned")
    y = teacher_net.predict(z, np.column_stack([w, a]), np.full(t.width, 1.0 / t.width))
    return z, y + noise


def load_data(path):
    """Arrays ``z`` [M, p] (or [M], read as p = 1) and ``y`` [M] of an ``.npz`` file.

    Raises
    ------
    EnergyError
        Key ``data.path``: missing or unreadable file, arrays missing, of the wrong shape
        or not finite.
    """
    key = "data.path"
    path = Path(path)
    if not path.is_file():
        raise EnergyError(key, f"no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [name for name in ("z", "y") if name not in arrays.files]
            if missing:
                raise EnergyError(key, f"{path} has no array {missing[0]!r} (it needs z [M, p] "
                                       f"and y [M]; it has {', '.join(arrays.files) or 'none'})")
            z = np.asarray(arrays["z"])
            y = np.asarray(arrays["y"])
    except EnergyError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise EnergyError(key, f"cannot read {path} as .npz: {exc}") from None
    if not (np.issubdtype(z.dtype, np.number) and np.issubdtype(y.dtype, np.number)):
        raise EnergyError(key, f"{path}: z and y must be numeric arrays")
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] == 0:
        raise EnergyError(key, f"{path}: z must have shape [M, p] (got {list(z.shape)})")
    if y.shape != (z.shape[0],):
        raise EnergyError(key, f"{path}: y must have shape [{z.shape[0]}] to match z "
                               f"[{z.shape[0]}, {z.shape[1]}] (got {list(y.shape)})")
    z = z.astype(np.float64)
    y = y.astype(np.float64)
    if not (np.isfinite(z).all() and np.isfinite(y).all()):
        raise EnergyError(key, f"{path}: z and y must be finite")
    return z, y


def is_energy(obj) -> bool:
    """True for an object with callable ``value`` and ``drift`` (an instance, not a class)."""
    return not isinstance(obj, type) and callable(getattr(obj, "value", None)) and \
        callable(getattr(obj, "drift", None))


def import_energy(target: str):
    """The energy named by ``"package.module:attr"``.

    ``attr`` (dots allowed) is an energy object (see the module doc), or a zero-argument
    callable returning one — a class is such a callable, so a class is instantiated.

    Raises
    ------
    EnergyError
        Key ``python``: a malformed target, an import failure (with the error), a missing
        attribute, or an object that is not an energy.
    """
    key = "python"
    if not isinstance(target, str) or target.count(":") != 1 or not all(target.split(":")):
        raise EnergyError(key, f"expected 'package.module:attr' (got {target!r})")
    module_name, attr = target.split(":")
    try:
        obj = importlib.import_module(module_name)
    except Exception as exc:  # any failure inside user code is reported as such
        raise EnergyError(key, f"cannot import module {module_name!r}: "
                               f"{type(exc).__name__}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise EnergyError(key, f"module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not is_energy(obj):
        if not callable(obj):
            raise EnergyError(key, f"{target!r} is neither an energy (value and drift) nor "
                                   "a zero-argument callable returning one")
        try:
            obj = obj()
        except Exception as exc:  # user code
            raise EnergyError(key, f"calling {target!r} failed: {type(exc).__name__}: "
                                   f"{exc}") from None
        if not is_energy(obj):
            raise EnergyError(key, f"{target!r}() returned {type(obj).__name__}, which has "
                                   "no value(points, weights) and drift(query, points, "
                                   "weights)")
    try:
        obj.source = {"python": target}
    except AttributeError:  # a user's object that takes no new attributes
        pass
    return obj


_NETWORK_KEYS = ("kind", "activation", "output_weight", "data")
_TEACHER_KEYS = tuple(Teacher.__dataclass_fields__)


def _table(val, key):
    if not isinstance(val, dict):
        raise EnergyError(key, f"must be a table (got {val!r})")
    return val


def _unknown(table, allowed, prefix):
    extra = sorted(set(table) - set(allowed))
    if extra:
        name = f"{prefix}.{extra[0]}" if prefix else extra[0]
        raise EnergyError(name, f"unknown key (allowed: {', '.join(allowed)})")


def load_energy(spec: dict, base_dir=None):
    """An energy from a ``[model.functional]`` table (a dict, as TOML gives it).

    Forms::

        { kind = "two_layer_network", activation = "tanh", output_weight = "learned",
          data = { path = "data.npz" } }                    # relative to base_dir
        { kind = "two_layer_network", ..., data = { teacher = { inputs = 1, samples = 200,
          width = 2, activation = "tanh", output_weight = 1.0, seed = 0, noise = 0.0,
          input_std = 1.0, weight_std = 1.0 } } }
        { python = "package.module:attr" }

    ``activation`` defaults to ``"tanh"``, ``output_weight`` to ``"learned"``; ``data`` is
    required; in ``teacher`` only ``inputs`` and ``samples`` are required (defaults as
    :class:`Teacher`; the teacher's activation defaults to the network's).

    Parameters
    ----------
    spec : dict
    base_dir : path-like, optional
        Folder that ``data.path`` is relative to (the config file's; default the working
        directory).

    Raises
    ------
    EnergyError
        Naming the offending entry below ``model.functional``.
    """
    spec = _table(spec, "")
    forms = [k for k in ("kind", "python") if k in spec]
    if len(forms) != 1:
        raise EnergyError("kind", "give exactly one of kind = \"two_layer_network\" or "
                                  "python = \"package.module:attr\"")
    if forms[0] == "python":
        _unknown(spec, ("python",), "")
        return import_energy(spec["python"])
    _unknown(spec, _NETWORK_KEYS, "")
    if spec["kind"] != "two_layer_network":
        raise EnergyError("kind", f"unknown {spec['kind']!r} (choose from "
                                  "two_layer_network; or give python = ...)")
    activation = _activation(spec.get("activation", "tanh"), "activation")
    output_weight = _output_weight(spec.get("output_weight", "learned"), "output_weight",
                                   "learned")
    if "data" not in spec:
        raise EnergyError("data", "missing (required): { path = \"data.npz\" } or "
                                  "{ teacher = { inputs = p, samples = M, ... } }")
    data = _table(spec["data"], "data")
    forms = [k for k in ("path", "teacher") if k in data]
    if len(forms) != 1:
        raise EnergyError("data", "give exactly one of path = \"data.npz\" or "
                                  "teacher = { ... }")
    _unknown(data, (forms[0],), "data")
    if forms[0] == "path":
        if not isinstance(data["path"], str) or not data["path"].strip():
            raise EnergyError("data.path", f"must be a file name (got {data['path']!r})")
        path = Path(data["path"])
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        z, y = load_data(path)
        source = {"path": data["path"], "resolved": str(path)}
    else:
        table = _table(data["teacher"], "data.teacher")
        _unknown(table, _TEACHER_KEYS, "data.teacher")
        for name in ("inputs", "samples"):
            if name not in table:
                raise EnergyError(f"data.teacher.{name}", "missing (required)")
        teacher = check_teacher(Teacher(**{"activation": activation, **table}))
        z, y = teacher_data(teacher)
        source = {"teacher": asdict(teacher)}
    try:
        return TwoLayerNetwork(z, y, activation, output_weight, source=source)
    except ValueError as exc:  # the data passed our checks; the rest names the table
        raise EnergyError("data", str(exc)) from None


def probe_energy(energy, dimension: int):
    """Evaluate an energy on a small measure in dimension d and check its answers.

    Raises
    ------
    TypeError, ValueError
        Plain messages: not an energy, a failing call, a wrong shape or a non-finite value.
    """
    if not is_energy(energy):
        raise TypeError(f"{type(energy).__name__} is not an energy: it needs value(points, "
                        "weights) and drift(query, points, weights)")
    rng = np.random.default_rng(0)
    points = rng.normal(0.0, 0.5, size=(5, dimension))
    weights = np.full(5, 0.2)
    query = points[:3].copy()
    try:
        value = energy.value(points, weights)
        drift = np.asarray(energy.drift(query, points, weights), dtype=float)
    except Exception as exc:  # user code: any failure is a bad energy
        raise ValueError(f"evaluation on points of shape (5, {dimension}) failed: "
                         f"{type(exc).__name__}: {exc}") from None
    if np.ndim(value) != 0 or not np.isfinite(float(value)):
        raise ValueError(f"value(points, weights) must be one finite number (got {value!r})")
    if drift.shape != (3, dimension) or not np.isfinite(drift).all():
        raise ValueError(f"drift(query, points, weights) must be a finite array of shape "
                         f"(3, {dimension}) for 3 query points (got {drift.shape})")


def describe_energy(energy) -> dict:
    """What the run file records about an energy (attributes of /model).

    Returns
    -------
    dict
        ``kind`` ("two_layer_network" or "python"), ``dimension`` (or −1 when unknown),
        ``source`` (JSON text of the data's origin); for networks also ``activation``,
        ``output_weight`` (text), ``n_data`` (M), ``inputs`` (p).
    """
    out = {"dimension": int(getattr(energy, "dimension", -1)),
           "source": json.dumps(getattr(energy, "source", {}), default=str)}
    if isinstance(energy, _mf.TwoLayerNetwork):
        out.update(kind="two_layer_network", activation=energy.activation,
                   output_weight=str(energy.output_weight), n_data=int(energy.n_data),
                   inputs=int(energy.z.shape[1]))
    else:
        out.update(kind="python", type=f"{type(energy).__module__}."
                                        f"{type(energy).__qualname__}")
    return out


def energy_arrays(energy) -> dict:
    """The data arrays stored under /model/data: ``{"z": (M, p), "y": (M,)}`` for a network,
    else empty."""
    if isinstance(energy, _mf.TwoLayerNetwork):
        return {"z": energy.z, "y": energy.y}
    return {}


def energy_from_run(model: dict):
    """Rebuild the network of a run file from its /model record (``RunData.model``).

    Parameters
    ----------
    model : dict
        ``{"attrs": {...}, "z": ..., "y": ...}`` as :func:`vfp.store.read_run` gives it.

    Returns
    -------
    TwoLayerNetwork or None
        None for a Python energy (its code is not in the file).
    """
    if not model or model.get("attrs", {}).get("kind") != "two_layer_network" \
            or "z" not in model:
        return None
    a = model["attrs"]
    weight = str(a["output_weight"])
    weight = weight if weight == "learned" else float(weight)
    try:
        source = json.loads(str(a.get("source", "{}")))
    except ValueError:
        source = {}
    return TwoLayerNetwork(model["z"], model["y"], str(a["activation"]), weight,
                           source=source)
