"""Shared fixtures: a seeded ``rng`` and the ``--runslow`` switch for checks marked ``slow``;
no second compile process in runs under test (see below)."""

import os

import numpy as np
import pytest

# The suite's workers already keep both cores busy: a run's second compile process
# (vfp.background) would only add processes there. tests/test_background.py turns it on
# where it is under test.
os.environ.setdefault("VFP_BACKGROUND_COMPILE", "0")


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
