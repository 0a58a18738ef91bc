"""Gateways: one connection carries many devices, each with its own identity and topic."""

from __future__ import annotations

import asyncio

import pytest

from simulator.broker import LocalBroker
from simulator.engine.fleet import Fleet, FleetOptions
from simulator.scenario import OnboardingPlan, validate_scenario
from tests.fleets import live_fleet

pytestmark = pytest.mark.broker


async def run_gateways(broker: LocalBroker) -> tuple[Fleet, int, int]:
    scenario = validate_scenario(
        {
            "name": "gateways",
            "duration_s": 1.0,
            "broker": {"url": broker.url, "keepalive_s": 2},
            "fleet": {"devices": 95, "publish_interval_s": 0.05},
            "onboarding": {"rate_per_s": 1000.0, "max_in_flight": 5},
            "ingest": {"enabled": False},
        },
        "<test>",
    )
    fleet = live_fleet(scenario, FleetOptions(messages_per_device=2, devices_per_connection=10))
    fleet.build()
    stats = await fleet.onboard(OnboardingPlan(fleet.connection_count, 1000.0))
    await asyncio.wait_for(fleet.wait_finished(), 30)
    await asyncio.sleep(1.5)  # past half the keepalive: gateways ping once per connection
    connected = fleet.connected
    fleet.stop_publishing()
    await fleet.disconnect_all()
    return fleet, stats.connected, connected


def test_ten_devices_per_connection(mosquitto: LocalBroker) -> None:
    fleet, connections, devices = asyncio.run(run_gateways(mosquitto))
    assert fleet.connection_count == 10  # 95 devices, 10 per gateway, the last carries 5
    assert connections == 10
    assert devices == 95
    assert fleet.onboarded == 95
    assert fleet.failed == 0
    assert fleet.counters.published == 95 * 2
    assert set(fleet.published_by_device().values()) == {2}
    assert fleet.client_id(3) == "gw-00003"
    assert fleet.counters.dropped_links == 0
