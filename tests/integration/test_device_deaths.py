"""Devices behind plain gateways die one by one: a death per device when the gateway leaves on
purpose, its will naming every device when it vanishes (real Mosquitto, paho as the platform)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from simulator.broker import LocalBroker
from simulator.engine.fleet import Fleet
from simulator.mqtt import MQTTVersion
from simulator.payloads.registration import LEFT, LOST, Death
from simulator.provisioning import Policy, verdict
from simulator.provisioning.responder import Responder, ResponderSettings
from simulator.scenario import OnboardingPlan, validate_scenario
from tests.death_watch import DeathWatch
from tests.fleets import live_fleet

pytestmark = pytest.mark.broker

DEVICES = 12
PER_GATEWAY = 3
GATEWAYS = DEVICES // PER_GATEWAY
REGISTER_TOPIC = "onboarding/{device}/register"


def scenario(broker: LocalBroker, version: str, **fleet: Any) -> Any:
    return validate_scenario(
        {
            "name": "deaths",
            "duration_s": 1.0,
            "broker": {"url": broker.url, "mqtt_version": version},
            "fleet": {
                "devices": DEVICES,
                "publish_interval_s": 0.1,
                "devices_per_connection": PER_GATEWAY,
                **fleet,
            },
            "onboarding": {
                "rate_per_s": 1000.0,
                "workflow": "register",
                "register_timeout_s": 2.0,
                "register_attempts": 1,
                "reconnect": False,
            },
            "ingest": {"enabled": False},
        },
        "<test>",
    )


@pytest.fixture
def platform(mosquitto: LocalBroker) -> Iterator[DeathWatch]:
    watcher = DeathWatch(mosquitto)
    try:
        yield watcher
    finally:
        watcher.close()


async def onboarded_fleet(
    broker: LocalBroker, version: str, *, reject_share: float = 0.0, **fleet_table: Any
) -> tuple[Fleet, Responder]:
    loop = asyncio.get_running_loop()
    responder = Responder(
        ResponderSettings(
            broker.host,
            broker.port,
            REGISTER_TOPIC,
            mqtt_version=MQTTVersion.named(version),
            policy=Policy(seed=1, reject_share=reject_share),
        ),
        loop=loop,
        wall_ns=time.time_ns,
    )
    await responder.start()
    fleet = live_fleet(scenario(broker, version, **fleet_table))
    fleet.build()
    await fleet.onboard(OnboardingPlan(fleet.connection_count, 1000.0))
    await fleet.wait_registered()
    return fleet, responder


def ids_of(deaths: list[tuple[str, Death]]) -> list[str]:
    return sorted(device for _, death in deaths for device in death.devices)


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_a_vanished_gateway_has_its_will_name_every_device(
    mosquitto: LocalBroker, platform: DeathWatch, version: str
) -> None:
    async def vanish() -> tuple[int, int]:
        fleet, responder = await onboarded_fleet(mosquitto, version)
        links = {id(d.link): d.link for d in fleet.devices if d.link is not None}
        for link in links.values():
            link.abort()  # no DISCONNECT, as a gateway that loses power
        await responder.stop()
        assert fleet.deaths is not None
        return fleet.deaths.wills, fleet.deaths.sent

    wills, sent = asyncio.run(vanish())
    deaths = platform.wait_for(GATEWAYS)
    assert (wills, sent) == (GATEWAYS, 0)
    assert len(deaths) == GATEWAYS
    for topic, death in deaths:
        gateway = topic.split("/")[1]
        first = int(gateway.removeprefix("gw-")) * PER_GATEWAY
        assert death.gateway == gateway
        assert death.reason == LOST
        assert death.devices == tuple(f"ms-{i:06d}" for i in range(first, first + PER_GATEWAY))


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_a_gateway_leaving_on_purpose_sends_a_death_per_accepted_device(
    mosquitto: LocalBroker, platform: DeathWatch, version: str
) -> None:
    async def leave() -> tuple[int, int]:
        fleet, responder = await onboarded_fleet(mosquitto, version, reject_share=0.3)
        await fleet.disconnect_all()
        await responder.stop()
        assert fleet.deaths is not None
        return fleet.deaths.wills, fleet.deaths.sent

    accepted = [
        f"ms-{i:06d}" for i in range(DEVICES) if verdict(1, f"ms-{i:06d}", 0.3, 0.0) == "accept"
    ]
    assert 0 < len(accepted) < DEVICES  # refused devices were never born: they do not die
    wills, sent = asyncio.run(leave())
    deaths = platform.wait_for(len(accepted))
    assert (wills, sent) == (GATEWAYS, len(accepted))
    assert ids_of(deaths) == accepted  # each once: no will fired after the DISCONNECT
    for topic, death in deaths:
        assert len(death.devices) == 1
        assert death.reason == LEFT
        assert death.gateway == topic.split("/")[1]
        index = int(death.devices[0].removeprefix("ms-"))
        assert death.gateway == f"gw-{index // PER_GATEWAY:05d}"


def test_a_scenario_will_takes_the_place_of_the_death_will(
    mosquitto: LocalBroker, platform: DeathWatch
) -> None:
    async def vanish() -> int:
        fleet, responder = await onboarded_fleet(
            mosquitto, "5", will={"topic": "status/{device}", "payload": "offline"}
        )
        for link in {id(d.link): d.link for d in fleet.devices if d.link is not None}.values():
            link.abort()
        await responder.stop()
        assert fleet.deaths is not None
        return fleet.deaths.wills

    assert asyncio.run(vanish()) == 0
    assert platform.wait_for(1) == []  # the gateway's status will went to status/, not here
