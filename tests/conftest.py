"""Fixtures shared by the integration and end-to-end tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from simulator.broker import LocalBroker

# CI machines are shared and noisy, and a red build must mean a real failure: there, examples
# are derandomized (the same ones every run) and no example has a deadline. Locally, hypothesis
# keeps exploring new examples on every run.
settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def mosquitto() -> Iterator[LocalBroker]:
    """A real Mosquitto started from broker_config/ on a free loopback port, stopped after."""
    broker = LocalBroker()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
