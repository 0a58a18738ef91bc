"""The fleet against a real Mosquitto: onboarding apart from publishing, and message quotas."""

from __future__ import annotations

import asyncio

import pytest

from simulator.broker import LocalBroker
from simulator.engine.fleet import FleetOptions
from simulator.errors import InvalidArgumentError
from simulator.scenario import OnboardingPlan, Scenario, validate_scenario
from tests.fleets import live_fleet

pytestmark = pytest.mark.broker


def scenario_for(broker: LocalBroker, devices: int) -> Scenario:
    return validate_scenario(
        {
            "name": "phases",
            "duration_s": 1.0,
            "broker": {"url": broker.url},
            "fleet": {"devices": devices, "publish_interval_s": 0.05},
            "onboarding": {"rate_per_s": 5000.0, "max_in_flight": 20},
            "ingest": {"enabled": False},
        },
        "<test>",
    )


async def onboard_then_publish(broker: LocalBroker) -> tuple[int, int, int, list[int]]:
    fleet = live_fleet(scenario_for(broker, 40), FleetOptions(messages_per_device=3))
    fleet.build()
    stats = await fleet.onboard(OnboardingPlan(40, 5000.0), publish_while_onboarding=False)
    await asyncio.sleep(0.2)  # several intervals: nothing may be sent before start_publishing
    before = fleet.counters.published
    fleet.start_publishing()
    await asyncio.wait_for(fleet.wait_finished(), 30)
    await asyncio.sleep(0.2)  # more intervals: finished devices stay quiet
    after = fleet.counters.published
    per_device = set(fleet.published_by_device().values())
    fleet.stop_publishing()
    await fleet.disconnect_all()
    return stats.connected, before, after, sorted(per_device)


def test_nothing_is_published_until_start_and_each_device_sends_its_quota(
    mosquitto: LocalBroker,
) -> None:
    connected, before, after, quotas = asyncio.run(onboard_then_publish(mosquitto))
    assert connected == 40
    assert before == 0
    assert after == 40 * 3
    assert quotas == [3]


def test_waiting_for_a_quota_needs_one() -> None:
    async def attempt() -> None:
        broker_less = validate_scenario(
            {
                "name": "q",
                "duration_s": 1.0,
                "broker": {"url": "mqtt://127.0.0.1:1"},
                "fleet": {"devices": 1, "publish_interval_s": 1.0},
                "ingest": {"enabled": False},
            },
            "<test>",
        )
        fleet = live_fleet(broker_less)
        await fleet.wait_finished()

    with pytest.raises(InvalidArgumentError, match="messages_per_device"):
        asyncio.run(attempt())
