"""vfp: mean-field Langevin particles against their Vlasov-Fokker-Planck limit.

Everything a run needs is importable from ``vfp`` itself; the names are resolved lazily,
so ``import vfp`` stays cheap (no Numba, SciPy or h5py until they are used)::

    import vfp

    cfg = vfp.load_config("examples/quickstart.toml")        # or vfp.loads_config(text)
    result = vfp.run(cfg, output="runs/quickstart.h5")      # a vfp.RunResult

    # the same config built in Python, with a potential of your own
    cfg = vfp.Config(
        model=vfp.ModelConfig(regime="overdamped", temperature=0.5,
                              potential=vfp.potentials.from_expression("x**4/4 - x**2/2")),
        initial=vfp.gaussian(1.0, 0.3),
        time=vfp.TimeConfig(t_end=2.0),
        grid=vfp.GridConfig(x=vfp.AxisConfig(-3.0, 3.0, 200), scheme="muscl"),
        particles=vfp.ParticlesConfig(n=10_000, dt=1e-3, seed=1))
    result = vfp.run(cfg, write=False)

A mean-field energy F(μ) (e.g. the risk of a two-layer network, :mod:`vfp.energies`)
enters as ``ModelConfig(functional=...)``; ``vfp.TwoLayerNetwork(z, y, "tanh")``.

The layers below are importable too: :mod:`vfp.pipeline` (the stages one at a time),
:mod:`vfp.grids`, :mod:`vfp.particles`, :mod:`vfp.validation`.
"""

__version__ = "0.1.0"

_LAZY = {
    # running
    "run": ("vfp.runner", "run"),
    "RunResult": ("vfp.runner", "RunResult"),
    "run_sweep": ("vfp.sweep", "run_sweep"),
    # configuration: from TOML, or built from the typed objects
    "load_config": ("vfp.config", "load"),
    "loads_config": ("vfp.config", "loads"),
    "config_from_dict": ("vfp.config", "from_dict"),
    "ConfigError": ("vfp.config", "ConfigError"),
    "Config": ("vfp.config", "Config"),
    "ModelConfig": ("vfp.config", "ModelConfig"),
    "TimeConfig": ("vfp.config", "TimeConfig"),
    "AxisConfig": ("vfp.config", "AxisConfig"),
    "GridConfig": ("vfp.config", "GridConfig"),
    "ParticlesConfig": ("vfp.config", "ParticlesConfig"),
    "CompareConfig": ("vfp.config", "CompareConfig"),
    "OutputConfig": ("vfp.config", "OutputConfig"),
    "gaussian": ("vfp.initial", "gaussian"),
    "GaussianMixture": ("vfp.initial", "GaussianMixture"),
    # mean-field energies (model.functional)
    "TwoLayerNetwork": ("vfp.energies", "TwoLayerNetwork"),
    "Teacher": ("vfp.energies", "Teacher"),
    "teacher_data": ("vfp.energies", "teacher_data"),
    "load_energy": ("vfp.energies", "load_energy"),
    # reading results
    "read_run": ("vfp.store", "read_run"),
}
_LAZY_MODULES = ("potentials", "energies", "pipeline", "grids", "particles", "validation")

__all__ = ["__version__", *_LAZY, *_LAZY_MODULES]


def __getattr__(name):
    import importlib

    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in _LAZY_MODULES:
        return importlib.import_module(f"vfp.{name}")
    raise AttributeError(f"module 'vfp' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
