"""[model.functional]: every key checked with exit 2 naming it, teacher data from the seed,
.npz data read relative to the config file, Python energies imported (issue 13)."""

import sys
import textwrap

import numpy as np
import pytest

from vfp import config as cfgmod
from vfp import energies
from vfp.cli import main

HEAD = """
[model]
regime = "overdamped"
dimension = {dimension}
temperature = 0.5
potential = {{ kind = "harmonic", omega = 1.0 }}
"""
TAIL = """
[initial]
mean = {mean}
std = {std}
[time]
t_end = 0.1
[particles]
n = 10
dt = 0.01
"""
TEACHER = "data = { teacher = { inputs = 1, samples = 20, seed = 3 } }"


def config_text(functional, dimension=2):
    mean = [0.0] * dimension
    std = [0.5] * dimension
    return (HEAD.format(dimension=dimension) + "[model.functional]\n"
            + textwrap.dedent(functional) + TAIL.format(mean=mean, std=std))


def load(tmp_path, functional, dimension=2):
    path = tmp_path / "run.toml"
    path.write_text(config_text(functional, dimension))
    return cfgmod.load(path)


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


BAD = [
    ('kind = "three_layer_network"\n' + TEACHER, "model.functional.kind"),
    ('kind = "two_layer_network"\npython = "a.b:c"\n' + TEACHER, "model.functional.kind"),
    ('activation = "tanh"\n' + TEACHER, "model.functional.kind"),
    ('kind = "two_layer_network"\nactivation = "softplus"\n' + TEACHER,
     "model.functional.activation"),
    ('kind = "two_layer_network"\noutput_weight = "fixed"\n' + TEACHER,
     "model.functional.output_weight"),
    ('kind = "two_layer_network"\noutput_weight = true\n' + TEACHER,
     "model.functional.output_weight"),
    ('kind = "two_layer_network"\noutput_weight = nan\n' + TEACHER,
     "model.functional.output_weight"),
    ('kind = "two_layer_network"\nactivations = "tanh"\n' + TEACHER,
     "model.functional.activations"),
    ('kind = "two_layer_network"\n', "model.functional.data"),
    ('kind = "two_layer_network"\ndata = 3\n', "model.functional.data"),
    ('kind = "two_layer_network"\ndata = {}\n', "model.functional.data"),
    ('kind = "two_layer_network"\ndata = { path = "d.npz", teacher = { inputs = 1, '
     'samples = 3 } }\n', "model.functional.data"),
    ('kind = "two_layer_network"\ndata = { path = "missing.npz" }\n',
     "model.functional.data.path"),
    ('kind = "two_layer_network"\ndata = { path = "" }\n', "model.functional.data.path"),
    ('kind = "two_layer_network"\ndata = { teacher = { samples = 5 } }\n',
     "model.functional.data.teacher.inputs"),
    ('kind = "two_layer_network"\ndata = { teacher = { inputs = 1 } }\n',
     "model.functional.data.teacher.samples"),
    ('kind = "two_layer_network"\ndata = { teacher = 1 }\n', "model.functional.data.teacher"),
    ('kind = "two_layer_network"\ndata = { teacher = { inputs = 1, samples = 0 } }\n',
     "model.functional.data.teacher.samples"),
    ('kind = "two_layer_network"\ndata = { teacher = { inputs = 1.5, samples = 4 } }\n',
     "model.functional.data.teacher.inputs"),
    ('kind = "two_layer_network"\ndata = { teacher = { inputs = 1, samples = 4, width = 0 } }\n',
     "model.functional.data.teacher.width"),
    ('kind = "two_layer_network"\ndata = { teacher = { inputs = 1, samples = 4, '
     'activation = "elu" } }\n', "model.functional.data.teacher.activation"),
    ('kind = "two_layer_network"\ndata = { teacher = { inputs = 1, samples = 4, '
     'output_weight = "learned" } }\n', "model.functional.data.teacher.output_weight"),
    ('kind = "two_layer_network"\ndata = { teacher = { inputs = 1, samples = 4, seed = -1 } }\n',
     "model.functional.data.teacher.seed"),
    ('kind = "two_layer_network"\ndata = { teacher = { inputs = 1, samples = 4, noise = -0.1 } }\n',
     "model.functional.data.teacher.noise"),
    ('kind = "two_layer_network"\ndata = { teacher = { inputs = 1, samples = 4, '
     'input_std = 0 } }\n', "model.functional.data.teacher.input_std"),
    ('kind = "two_layer_network"\ndata = { teacher = { inputs = 1, samples = 4, '
     'weight_std = inf } }\n', "model.functional.data.teacher.weight_std"),
    ('kind = "two_layer_network"\ndata = { teacher = { inputs = 1, samples = 4, depth = 2 } }\n',
     "model.functional.data.teacher.depth"),
    ('python = "no_colon"\n', "model.functional.python"),
    ('python = "vfp_no_such_module_x:energy"\n', "model.functional.python"),
    ('python = "vfp.energies:no_such_attr"\n', "model.functional.python"),
    ('python = "vfp.energies:ACTIVATIONS"\n', "model.functional.python"),
    ('python = "vfp.energies:describe_energy"\n', "model.functional.python"),
    ('python = 3\n', "model.functional.python"),
    ('python = "vfp.energies:x"\nactivation = "tanh"\n', "model.functional.activation"),
]


@pytest.mark.parametrize("functional, key", BAD, ids=[f"{k}-{i}" for i, (_, k) in enumerate(BAD)])
def test_bad_functional_names_its_key(tmp_path, functional, key):
    with pytest.raises(cfgmod.ConfigError) as info:
        load(tmp_path, functional)
    assert info.value.key == key
    assert str(tmp_path / "run.toml") in str(info.value)


@pytest.mark.parametrize("arrays, what", [
    ({"z": np.zeros((5, 1))}, "'y'"),
    ({"z": np.zeros((5, 1)), "y": np.zeros(4)}, "y must have shape [5]"),
    ({"z": np.zeros((5, 1, 2)), "y": np.zeros(5)}, "z must have shape [M, p]"),
    ({"z": np.array([[np.nan]] * 5), "y": np.zeros(5)}, "finite"),
    ({"z": np.array(["a"] * 5), "y": np.zeros(5)}, "numeric"),
])
def test_bad_npz_names_data_path(tmp_path, arrays, what):
    write_npz(tmp_path / "d.npz", **arrays)
    with pytest.raises(cfgmod.ConfigError) as info:
        load(tmp_path, 'kind = "two_layer_network"\ndata = { path = "d.npz" }\n')
    assert info.value.key == "model.functional.data.path"
    assert what in str(info.value)


def test_not_an_npz_file(tmp_path):
    (tmp_path / "d.npz").write_text("not a zip")
    with pytest.raises(cfgmod.ConfigError) as info:
        load(tmp_path, 'kind = "two_layer_network"\ndata = { path = "d.npz" }\n')
    assert info.value.key == "model.functional.data.path"


@pytest.mark.parametrize("output_weight, dimension, good", [
    ('"learned"', 2, True), ('"learned"', 1, False), ("1.5", 1, True), ("1.5", 2, False)])
def test_dimension_must_match_the_network(tmp_path, output_weight, dimension, good):
    text = f'kind = "two_layer_network"\noutput_weight = {output_weight}\n{TEACHER}\n'
    if good:
        cfg = load(tmp_path, text, dimension)
        assert cfg.model.functional.dimension == dimension
    else:
        with pytest.raises(cfgmod.ConfigError) as info:
            load(tmp_path, text, dimension)
        assert info.value.key == "model.dimension"
        assert "model.functional" in str(info.value)


def test_cli_exits_2_with_one_line_naming_the_key(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(config_text('kind = "two_layer_network"\nactivation = "softplus"\n'
                                + TEACHER))
    assert main(["run", str(path), "-o", str(tmp_path / "o.h5"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "model.functional.activation" in err and "softplus" in err
    assert not (tmp_path / "o.h5").exists()


# ---------------------------------------------------------------------------------------
# Teacher data


def test_teacher_data_is_reproducible_from_the_seed():
    t = energies.Teacher(inputs=2, samples=30, width=3, activation="tanh",
                         output_weight="random", seed=11, noise=0.05)
    z1, y1 = energies.teacher_data(t)
    z2, y2 = energies.teacher_data(t)
    assert z1.shape == (30, 2) and y1.shape == (30,)
    np.testing.assert_array_equal(z1, z2)
    np.testing.assert_array_equal(y1, y2)
    z3, y3 = energies.teacher_data(energies.Teacher(**{**t.__dict__, "seed": 12}))
    assert not np.allclose(z1, z3)


def test_teacher_data_follows_the_documented_draws():
    """y_j = (1/K) Σ_k a_k σ(w_k·z_j) + ε_j with the draws in the module doc's order."""
    t = energies.Teacher(inputs=2, samples=25, width=4, activation="sigmoid",
                         output_weight="random", seed=5, noise=0.1, input_std=2.0,
                         weight_std=0.5)
    z, y = energies.teacher_data(t)
    rng = np.random.default_rng(np.random.SeedSequence([5, 0x7EAC4]))
    w = rng.normal(0.0, 0.5, size=(4, 2))
    a = rng.normal(0.0, 1.0, size=4)
    z_expected = rng.normal(0.0, 2.0, size=(25, 2))
    noise = rng.normal(0.0, 0.1, size=25)
    y_expected = (a / (1.0 + np.exp(-(z_expected @ w.T)))).mean(axis=1) + noise
    np.testing.assert_array_equal(z, z_expected)
    np.testing.assert_allclose(y, y_expected, rtol=1e-13, atol=1e-15)


def test_config_teacher_equals_teacher_data(tmp_path):
    cfg = load(tmp_path, 'kind = "two_layer_network"\nactivation = "relu"\n'
                         'data = { teacher = { inputs = 1, samples = 20, width = 2, seed = 3, '
                         'output_weight = -0.5 } }\n')
    net = cfg.model.functional
    z, y = energies.teacher_data(energies.Teacher(inputs=1, samples=20, width=2, seed=3,
                                                  activation="relu", output_weight=-0.5))
    np.testing.assert_array_equal(net.z, z)
    np.testing.assert_array_equal(net.y, y)
    assert net.activation == "relu" and net.output_weight == "learned"
    assert net.source["teacher"]["seed"] == 3


# ---------------------------------------------------------------------------------------
# .npz data


def test_npz_path_is_relative_to_the_config_file(tmp_path, monkeypatch):
    folder = tmp_path / "study"
    folder.mkdir()
    rng = np.random.default_rng(1)
    z, y = rng.normal(size=(7, 1)), rng.normal(size=7)
    write_npz(folder / "data.npz", z=z, y=y)
    path = folder / "run.toml"
    path.write_text(config_text('kind = "two_layer_network"\noutput_weight = 2.0\n'
                                'data = { path = "data.npz" }\n', dimension=1))
    monkeypatch.chdir(tmp_path)  # not the config's folder
    net = cfgmod.load(path).model.functional
    np.testing.assert_array_equal(net.z, z)
    np.testing.assert_array_equal(net.y, y)
    assert net.output_weight == 2.0 and net.dimension == 1
    assert net.source["path"] == "data.npz"


def test_npz_with_one_dimensional_z_is_p_1(tmp_path):
    write_npz(tmp_path / "d.npz", z=np.linspace(-1, 1, 6), y=np.zeros(6))
    net = load(tmp_path, 'kind = "two_layer_network"\ndata = { path = "d.npz" }\n').model.functional
    assert net.z.shape == (6, 1)


# ---------------------------------------------------------------------------------------
# Python energies


ENERGY_MODULE = '''
import numpy as np


class IdentityRisk:
    """F(μ) = ½ mean_j (m·z_j − y_j)² with m = ∫ x dμ (identity network, output weight 1),
    in plain NumPy."""

    def __init__(self, z=None, y=None):
        self.z = np.array([[0.5, -1.0], [1.5, 0.3], [-0.7, 0.8]]) if z is None else z
        self.y = np.array([0.2, -0.4, 1.0]) if y is None else y
        self.dimension = self.z.shape[1]

    def value(self, points, weights):
        m = weights @ points
        return 0.5 * np.mean((self.z @ m - self.y) ** 2)

    def drift(self, query, points, weights):
        m = weights @ points
        grad = self.z.T @ (self.z @ m - self.y) / len(self.y)
        return np.broadcast_to(grad, query.shape).copy()


instance = IdentityRisk()


def factory():
    return IdentityRisk()


class WrongShape(IdentityRisk):
    def drift(self, query, points, weights):
        return np.zeros(len(query))


class Failing(IdentityRisk):
    def value(self, points, weights):
        raise RuntimeError("boom")


def broken_factory():
    raise RuntimeError("no energy today")


class NoDimension:
    def value(self, points, weights):
        return 0.0

    def drift(self, query, points, weights):
        return np.zeros_like(query)
'''


@pytest.fixture
def energy_module(tmp_path, monkeypatch):
    name = f"vfp_test_energy_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(ENERGY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


@pytest.mark.parametrize("attr", ["instance", "factory", "IdentityRisk"])
def test_python_energy_forms(tmp_path, energy_module, attr):
    cfg = load(tmp_path, f'python = "{energy_module}:{attr}"\n')
    energy = cfg.model.functional
    assert type(energy).__name__ == "IdentityRisk"
    assert energy.source == {"python": f"{energy_module}:{attr}"}
    # the same numbers as the built-in network of the same model
    net = energies.TwoLayerNetwork(energy.z, energy.y, "identity", 1.0)
    rng = np.random.default_rng(2)
    points, weights = rng.normal(size=(9, 2)), rng.dirichlet(np.ones(9))
    assert energy.value(points, weights) == pytest.approx(net.value(points, weights),
                                                          rel=1e-13)
    np.testing.assert_allclose(energy.drift(points[:3], points, weights),
                               net.drift(points[:3], points, weights), rtol=1e-12)


@pytest.mark.parametrize("attr, words", [
    ("WrongShape", "shape (3, 2)"), ("Failing", "boom"), ("broken_factory", "no energy today")])
def test_bad_python_energy_names_the_key(tmp_path, energy_module, attr, words):
    with pytest.raises(cfgmod.ConfigError) as info:
        load(tmp_path, f'python = "{energy_module}:{attr}"\n')
    assert info.value.key == "model.functional.python"
    assert words in str(info.value)


def test_python_energy_dimension_mismatch(tmp_path, energy_module):
    with pytest.raises(cfgmod.ConfigError) as info:
        load(tmp_path, f'python = "{energy_module}:instance"\n', dimension=1)
    assert info.value.key == "model.dimension"


def test_python_energy_without_dimension_is_probed(tmp_path, energy_module):
    cfg = load(tmp_path, f'python = "{energy_module}:NoDimension"\n', dimension=1)
    assert type(cfg.model.functional).__name__ == "NoDimension"


def test_python_built_config_checks_the_energy():
    net = energies.TwoLayerNetwork(np.ones((3, 1)), np.zeros(3), "tanh", "learned")
    model = cfgmod.ModelConfig(regime="overdamped", temperature=0.5, dimension=1,
                               functional=net)
    cfg = cfgmod.Config(model=model, initial=cfgmod.gaussian(0.0, 0.5),
                        time=cfgmod.TimeConfig(t_end=0.1),
                        particles=cfgmod.ParticlesConfig(n=10, dt=0.01))
    with pytest.raises(cfgmod.ConfigError) as info:
        cfgmod.validate(cfg)
    assert info.value.key == "model.dimension"
    from vfp import potentials

    model.dimension = 2
    model.potential = potentials.builtin("harmonic", dimension=2)
    cfg.initial = cfgmod.gaussian([0.0, 0.0], [0.5, 0.5])
    model.functional = object()
    with pytest.raises(cfgmod.ConfigError) as info:
        cfgmod.validate(cfg)
    assert info.value.key == "model.functional"
    model.functional = net
    assert cfgmod.validate(cfg).model.functional is net


def test_public_names():
    import vfp

    assert vfp.TwoLayerNetwork is energies.TwoLayerNetwork
    assert vfp.load_energy is energies.load_energy
    net = vfp.load_energy({"kind": "two_layer_network", "activation": "identity",
                           "output_weight": 1.0,
                           "data": {"teacher": {"inputs": 2, "samples": 4}}})
    assert net.dimension == 2 and net.n_data == 4
