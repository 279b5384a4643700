"""Bad input: every kind of config mistake exits 2 with one line naming the key and file."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from vfp import config as cfgmod
from vfp.cli import main

GOOD = textwrap.dedent("""
    [model]
    regime = "kinetic"
    gamma = 1.0
    temperature = 0.5
    potential = { kind = "harmonic", omega = 1.0 }
    interaction = { kind = "quadratic", kappa = 0.5 }

    [initial]
    kind = "gaussian"
    mean = [1.5, 0.0]
    std = [0.3, 0.3]

    [time]
    t_end = 1.0
    snapshots = [0.0, 0.5, 1.0]

    [grid]
    x = { min = -6.0, max = 6.0, cells = 32 }
    v = { min = -6.0, max = 6.0, cells = 32 }
    scheme = "upwind"
    cfl = 0.9

    [particles]
    n = 1000
    dt = 0.01
    scheme = "euler"
    interaction_method = "auto"
    seed = 1
""")


def test_good_config_loads():
    cfg = cfgmod.loads(GOOD, "good.toml")
    assert cfg.model.kinetic and cfg.model.gamma == 1.0
    assert np.allclose(cfg.time.times(), [0.0, 0.5, 1.0])
    assert cfg.grid.x.cells == 32 and cfg.particles.n == 1000
    assert cfg.compare is not None  # both solvers present -> comparison on


# (description, text replacement (old, new) applied to GOOD, key named in the message)
BAD = [
    ("unknown top-level key", ("[initial]", "[initail]"), "initail"),
    ("unknown key in a section", ('scheme = "upwind"', 'scheme = "upwind"\nsheme = 1'), "grid.sheme"),
    ("missing required key", ("temperature = 0.5\n", ""), "model.temperature"),
    ("wrong type (string for number)", ("gamma = 1.0", 'gamma = "one"'), "model.gamma"),
    ("wrong type (float for int)", ("cells = 32 }\nv", "cells = 32.5 }\nv"), "grid.x.cells"),
    ("min >= max", ("x = { min = -6.0, max = 6.0", "x = { min = 6.0, max = 6.0"), "grid.x.min"),
    ("fewer than 3 cells", ("cells = 32 }\nv", "cells = 2 }\nv"), "grid.x.cells"),
    ("non-positive gamma", ("gamma = 1.0", "gamma = 0.0"), "model.gamma"),
    ("non-positive temperature", ("temperature = 0.5", "temperature = -1.0"), "model.temperature"),
    ("cfl above 1", ("cfl = 0.9", "cfl = 1.5"), "grid.cfl"),
    ("cfl zero", ("cfl = 0.9", "cfl = 0.0"), "grid.cfl"),
    ("cfl above the muscl limit", ('scheme = "upwind"\ncfl = 0.9', 'scheme = "muscl"\ncfl = 0.8'), "grid.cfl"),
    ("NaN value", ("temperature = 0.5", "temperature = nan"), "model.temperature"),
    ("infinite value", ("t_end = 1.0", "t_end = inf"), "time.t_end"),
    ("unsafe expression", ('potential = { kind = "harmonic", omega = 1.0 }',
                           'potential = { expr = "__import__(\'os\').system(\'touch /tmp/vfp_pwned\')" }'),
     "model.potential.expr"),
    ("attribute access in expression", ('potential = { kind = "harmonic", omega = 1.0 }',
                                        'potential = { expr = "x.__class__" }'), "model.potential.expr"),
    ("unknown function in expression", ('potential = { kind = "harmonic", omega = 1.0 }',
                                        'potential = { expr = "gamma(x)" }'), "model.potential.expr"),
    ("unknown name in expression", ('potential = { kind = "harmonic", omega = 1.0 }',
                                    'potential = { expr = "x**2 + y" }'), "model.potential.expr"),
    ("expression syntax error", ('potential = { kind = "harmonic", omega = 1.0 }',
                                 'potential = { expr = "x**" }'), "model.potential.expr"),
    ("unknown built-in potential", ('kind = "harmonic"', 'kind = "harmonica"'), "model.potential.kind"),
    ("unknown potential parameter", ("omega = 1.0", "omga = 1.0"), "model.potential.omga"),
    ("odd interaction", ('interaction = { kind = "quadratic", kappa = 0.5 }',
                         'interaction = { expr = "x**3" }'), "model.interaction.expr"),
    ("python path that does not import", ('potential = { kind = "harmonic", omega = 1.0 }',
                                          'potential = { python = "no_such_module_xyz:V" }'),
     "model.potential.python"),
    ("snapshot after t_end", ("snapshots = [0.0, 0.5, 1.0]", "snapshots = [0.0, 0.5, 2.0]"), "time.snapshots"),
    ("negative snapshot", ("snapshots = [0.0, 0.5, 1.0]", "snapshots = [-0.1, 0.5, 1.0]"), "time.snapshots"),
    ("snapshots not increasing", ("snapshots = [0.0, 0.5, 1.0]", "snapshots = [0.5, 0.0, 1.0]"), "time.snapshots"),
    ("unknown regime", ('regime = "kinetic"', 'regime = "quantum"'), "model.regime"),
    ("unknown grid scheme", ('scheme = "upwind"', 'scheme = "weno9"'), "grid.scheme"),
    ("initial mean of wrong length", ("mean = [1.5, 0.0]", "mean = [1.5]"), "initial.mean"),
    ("negative initial std", ("std = [0.3, 0.3]", "std = [0.3, -0.3]"), "initial.std"),
    ("n <= 0", ("n = 1000", "n = 0"), "particles.n"),
    ("dt <= 0", ("dt = 0.01", "dt = 0.0"), "particles.dt"),
    ("dt > t_end", ("dt = 0.01", "dt = 2.0"), "particles.dt"),
    ("unknown particle scheme", ('scheme = "euler"', 'scheme = "rk4"'), "particles.scheme"),
    ("asymmetric v-axis (specular walls)", ("v = { min = -6.0, max = 6.0, cells = 32 }",
                                            "v = { min = -6.0, max = 5.0, cells = 32 }"),
     "grid.v"),
    ("unknown interaction method", ('interaction_method = "auto"', 'interaction_method = "fmm"'),
     "particles.interaction_method"),
    ("both spellings", ('interaction_method = "auto"', 'interaction_method = "auto"\ninteraction = "auto"'),
     "particles.interaction"),
    ("gamma in the overdamped regime", ('regime = "kinetic"', 'regime = "overdamped"'), "model.gamma"),
    ("invalid TOML", ("[time]", "[time"), "toml"),
    ("implicit scheme in the kinetic regime", ('scheme = "upwind"', 'scheme = "sg_implicit"'), "grid.scheme"),
    ("grid dt for an explicit scheme", ("cfl = 0.9", "cfl = 0.9\ndt = 0.01"), "grid.dt"),
]


@pytest.mark.parametrize("what, change, key", BAD, ids=[b[0] for b in BAD])
def test_bad_config_exits_2_with_one_line(tmp_path, capsys, what, change, key):
    old, new = change
    assert old in GOOD, f"test setup: {old!r} not in the good config"
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace(old, new, 1))
    code = main(["run", str(path), "-o", str(tmp_path / "out.h5"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert str(path) in err and key in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "out.h5").exists(), "no work may start on a bad config"


def test_unsafe_expression_executes_nothing(tmp_path):
    marker = tmp_path / "pwned"
    text = GOOD.replace('potential = { kind = "harmonic", omega = 1.0 }',
                        f'potential = {{ expr = "__import__(\'os\').system(\'touch {marker}\')" }}')
    with pytest.raises(cfgmod.ConfigError):
        cfgmod.loads(text, "x.toml")
    assert not marker.exists()


def test_missing_config_file(tmp_path, capsys):
    code = main(["run", str(tmp_path / "nope.toml"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "nope.toml" in err and len(err.splitlines()) == 1


def test_bad_config_subprocess_no_traceback(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace("cells = 32 }\nv", "cells = 2 }\nv"))
    proc = subprocess.run([sys.executable, "-m", "vfp", "run", str(path), "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "grid.x.cells" in lines[0] and "Traceback" not in proc.stderr


def test_mesh_too_coarse_for_kernel(tmp_path, capsys):
    text = GOOD.replace('interaction = { kind = "quadratic", kappa = 0.5 }',
                        'interaction = { kind = "gaussian", strength = 1.0, width = 0.2 }')
    text = text.replace('interaction_method = "auto"', 'interaction_method = "mesh"\nmesh_cells = 16')
    path = tmp_path / "coarse.toml"
    path.write_text(text)
    code = main(["run", str(path), "-o", str(tmp_path / "out.h5"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "particles.mesh_cells" in err, err


def test_small_domain_warns(tmp_path, capsys):
    # std 0.3 around 1.5 on [-1, 2.5]: mass reaches the outermost cells
    text = GOOD.split("[particles]")[0].replace("min = -6.0, max = 6.0, cells = 32 }\nv",
                                                "min = -1.0, max = 2.5, cells = 32 }\nv")
    path = tmp_path / "small.toml"
    path.write_text(text)
    code = main(["run", str(path), "-o", str(tmp_path / "out.h5"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 0
    assert "domain is too small" in err


def test_interaction_method_older_spelling_still_read(tmp_path):
    """``particles.interaction`` (the force method, before it was renamed so that
    ``interaction`` means the kernel W only) is read as ``interaction_method``."""
    old = GOOD.replace('interaction_method = "auto"', 'interaction = "pairwise"')
    assert cfgmod.loads(old).particles.interaction_method == "pairwise"
    new = GOOD.replace('interaction_method = "auto"', 'interaction_method = "mesh"')
    assert cfgmod.loads(new).particles.interaction_method == "mesh"
