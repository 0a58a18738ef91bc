"""Fixtures shared by the integration and end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulator.broker import LocalBroker


@pytest.fixture
def mosquitto() -> Iterator[LocalBroker]:
    """A real Mosquitto started from broker_config/ on a free loopback port, stopped after."""
    broker = LocalBroker()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
