"""A first connect that fails is tried again, as a real device would, against a real broker.

Between the fleet and Mosquitto sits the run's TCP relay (:mod:`simulator.transport.relay`),
told to reset the first connections it accepts (the peer sees its connection reset before any
CONNACK), then passing bytes both ways: a lost uplink at the moment of connecting. With tries
left every device ends up connected, each failed try counted as a retry; with one try the
reset devices fail for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator

import pytest

from simulator.broker import LocalBroker
from simulator.engine.fleet import Fleet, FleetOptions
from simulator.metrics.funnel import CONNACK, TCP_CONNECT
from simulator.scenario import OnboardingPlan, validate_scenario
from simulator.transport.connector import ConnectorStats
from simulator.transport.relay import Relay
from tests.fleets import live_fleet

pytestmark = pytest.mark.broker

DEVICES = 30
RESET = 6
"""Connections the relay resets before passing any through (fewer than the 20 failed tries
after which a broker with no connection at all is declared unreachable)."""


class Resetting:
    """Refuses (the relay resets) the first ``reset`` connections, admits every later one."""

    def __init__(self, reset: int) -> None:
        self.left_to_reset = reset

    def __call__(self) -> bool:
        if self.left_to_reset:
            self.left_to_reset -= 1
            return False
        return True


@contextlib.asynccontextmanager
async def relay_in_front_of(broker: LocalBroker, reset: int) -> AsyncIterator[tuple[int, Relay]]:
    loop = asyncio.get_running_loop()
    relay = Relay(
        [(broker.host, broker.port)], loop=loop, rng=random.Random(0), admit=Resetting(reset)
    )
    ((_, port),) = await relay.start()
    try:
        yield port, relay
    finally:
        await relay.close()


async def onboard_through_relay(
    broker: LocalBroker, attempts: int
) -> tuple[Fleet, ConnectorStats, Relay]:
    async with relay_in_front_of(broker, RESET) as (port, relay):
        scenario = validate_scenario(
            {
                "name": "retries",
                "duration_s": 1.0,
                "broker": {"url": f"mqtt://127.0.0.1:{port}"},
                "fleet": {"devices": DEVICES, "publish_interval_s": 1.0},
                "onboarding": {
                    "rate_per_s": 1000.0,
                    "max_in_flight": 4,
                    "connect_attempts": attempts,
                    "reconnect_min_s": 0.05,
                    "reconnect_max_s": 0.2,
                },
                "ingest": {"enabled": False},
            },
            "<test>",
        )
        fleet = live_fleet(scenario, FleetOptions(messages_per_device=1))
        fleet.build()
        stats = await asyncio.wait_for(
            fleet.onboard(OnboardingPlan(fleet.connection_count, 1000.0)), 30
        )
        connected = fleet.connected
        await fleet.disconnect_all()
        assert connected == fleet.onboarded
    return fleet, stats, relay


def test_reset_first_connects_are_tried_again_and_all_devices_connect(
    mosquitto: LocalBroker,
) -> None:
    fleet, stats, relay = asyncio.run(onboard_through_relay(mosquitto, attempts=3))
    assert fleet.onboarded == DEVICES
    assert fleet.failed == 0
    assert relay.accepted == DEVICES
    assert (stats.connected, stats.failed, stats.retries) == (DEVICES, 0, RESET)
    assert stats.started == DEVICES + RESET
    retried = fleet.funnel[TCP_CONNECT].retries + fleet.funnel[CONNACK].retries
    assert retried == RESET
    assert fleet.funnel[CONNACK].reached == DEVICES
    assert fleet.funnel[CONNACK].failed == fleet.funnel[TCP_CONNECT].failed == 0


def test_with_one_try_the_reset_devices_fail_for_good(mosquitto: LocalBroker) -> None:
    fleet, stats, relay = asyncio.run(onboard_through_relay(mosquitto, attempts=1))
    assert fleet.onboarded == DEVICES - RESET
    assert fleet.failed == RESET
    assert relay.accepted == DEVICES - RESET
    assert (stats.connected, stats.failed, stats.retries) == (DEVICES - RESET, RESET, 0)
    assert sum(stats.failures.values()) == RESET
    failed = fleet.funnel[TCP_CONNECT].failed + fleet.funnel[CONNACK].failed
    assert failed == RESET
