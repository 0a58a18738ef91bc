"""Fixtures shared by the integration and end-to-end tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from simulator.broker import LocalBroker

# The private PostgreSQL server's fixtures (postgres_cluster, postgres_url).
pytest_plugins = ["tests.postgres"]

# CI machines are shared and noisy, and a red build must mean a real failure: there, examples
# are derandomized (the same ones every run) and no example has a deadline. Locally, hypothesis
# keeps exploring new examples on every run.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None)
# CI services set CI=true; CI=false or 0 (set to run the local profile on a CI box) is not CI.
HYPOTHESIS_PROFILE = "ci" if os.environ.get("CI", "").lower() not in ("", "0", "false") else "dev"
settings.load_profile(HYPOTHESIS_PROFILE)


def pytest_report_header() -> str:
    """Say in the header which hypothesis profile the run uses, so a CI log shows it."""
    return f"hypothesis profile: {HYPOTHESIS_PROFILE} (CI={os.environ.get('CI', '')!r})"


@pytest.fixture
def mosquitto() -> Iterator[LocalBroker]:
    """A real Mosquitto started from broker_config/ on a free loopback port, stopped after."""
    with LocalBroker() as broker:
        yield broker
