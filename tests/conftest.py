"""Shared fixtures: a seeded ``rng`` and the ``--runslow`` switch for checks marked ``slow``."""

import numpy as np
import pytest


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture
def rng():
    """A seeded generator, so every statistical test is reproducible."""
    return np.random.default_rng(20261128)
