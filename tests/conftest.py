"""Shared test configuration: hypothesis profiles and the `slow` marker."""

import os

import pytest
from hypothesis import HealthCheck, settings

# Bounded example counts keep CI short; `--hypothesis-profile=soak` runs long
# (`python -m pytest tests/test_fuzz.py --hypothesis-profile=soak
# --hypothesis-show-statistics`: 20,000 calls per fuzz test, under an hour on 2 cores).
settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("soak", max_examples=20_000, deadline=None,
                          suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="run tests marked slow (long soaks, huge arrays)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)
