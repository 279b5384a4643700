"""vfp: mean-field Langevin particles against their Vlasov-Fokker-Planck limit.

The main entry points are imported lazily, so ``import vfp`` stays cheap::

    import vfp
    from vfp.run import run
    cfg = vfp.load_config("examples/quickstart.toml")
    result = run(cfg)
"""

__version__ = "0.1.0"

_LAZY = {
    "load_config": ("vfp.config", "load"),
    "loads_config": ("vfp.config", "loads"),
    "read_run": ("vfp.store", "read_run"),
    "ConfigError": ("vfp.config", "ConfigError"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'vfp' has no attribute {name!r}")
