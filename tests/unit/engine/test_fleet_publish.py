"""The fleet's publishing through its scheduler, with a fake loop, connector and transport.

The fleet is real: it builds its devices, onboards them (a fake connector hands it links that
have their CONNACK and record every write), puts them on its wheels and publishes from its one
scheduler. Only the clock moves by hand, so a test can put the fleet any distance behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from simulator.engine.fleet import Fleet
from simulator.mqtt import (
    NO_PROPERTIES,
    ConnAck,
    Decoder,
    MQTTVersion,
    Packet,
    Properties,
    PubAck,
    Publish,
    encode,
)
from simulator.scenario import OnboardingPlan, validate_scenario
from simulator.transport.connection import MqttLink
from simulator.transport.connector import ConnectorStats, ConnectOutcome

WALL_NS = 1_716_000_000_000_000_000
V5 = MQTTVersion.V5


class FakeHandle:
    def cancel(self) -> None:
        pass


class FakeLoop:
    """The fleet's loop as far as publishing goes: a clock set by hand; timers are not run."""

    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now

    def call_soon(self, callback: Callable[[], None]) -> FakeHandle:
        return FakeHandle()

    def call_at(self, when: float, callback: Callable[[], None]) -> FakeHandle:
        return FakeHandle()


class FakeTransport:
    """Records every write, and the packets in them."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def packets(self) -> list[Packet]:
        decoder = Decoder(V5)
        decoder.feed(b"".join(self.writes))
        return list(decoder)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class FakeConnector:
    """Connects every link at once: the CONNACK (with a receive maximum) and a fake transport."""

    host = "127.0.0.1"
    port = 1883

    def __init__(self, receive_maximum: int | None) -> None:
        self.receive_maximum = receive_maximum
        self.stats = ConnectorStats()

    async def run(
        self,
        count: int,
        schedule: object,
        make_link: Callable[[int], MqttLink],
        on_outcome: Callable[[ConnectOutcome], None],
    ) -> ConnectorStats:
        props = NO_PROPERTIES
        if self.receive_maximum is not None:
            props = Properties(receive_maximum=self.receive_maximum)
        for index in range(count):
            link = make_link(index)
            link.session.connect()
            link.session.receive_data(encode(ConnAck(False, 0, props), V5))
            link.transport = cast(asyncio.Transport, FakeTransport())
            on_outcome(ConnectOutcome(index, link, 0.001, 0.002))
        return self.stats


def onboarded_fleet(
    devices: int,
    *,
    qos: int = 0,
    per_connection: int = 1,
    receive_maximum: int | None = None,
    **options: Any,
) -> tuple[Fleet, FakeLoop]:
    """A fleet of ``devices`` JSON machine sensors every 10 ms, connected at time 0."""
    scenario = validate_scenario(
        {
            "name": "publish",
            "duration_s": 1.0,
            "fleet": {
                "devices": devices,
                "publish_interval_s": 0.01,
                "payload": "json",
                "qos": qos,
                "devices_per_connection": per_connection,
            },
            "ingest": {"enabled": False},
        },
        "<test>",
    )
    loop = FakeLoop()
    fleet = Fleet(
        scenario,
        "127.0.0.1",
        1883,
        loop=cast(asyncio.AbstractEventLoop, loop),
        wall_ns=lambda: WALL_NS,
        **options,
    )
    fleet.connector = cast(Any, FakeConnector(receive_maximum))
    fleet.build()
    asyncio.run(fleet.onboard(OnboardingPlan(fleet.connection_count, 1000.0)))
    return fleet, loop


def run_until(fleet: Fleet, loop: FakeLoop, now: float) -> None:
    """Run the fleet's scheduler at ``now`` until nothing more is due (as call_soon would)."""
    loop.now = now
    for _ in range(1000):
        fleet._scheduler._tick()
        if all(g.wheel is None or g.wheel.next_due() > now for g in fleet.groups):
            return
    raise AssertionError("the scheduler never caught up")


def transports(fleet: Fleet) -> list[FakeTransport]:
    links = {id(d.link): d.link for d in fleet.devices if d.link is not None}
    return [cast(FakeTransport, link.transport) for link in links.values()]


def publishes(transport: FakeTransport) -> list[Publish]:
    return [p for p in transport.packets() if isinstance(p, Publish)]


def ack_all(fleet: Fleet) -> None:
    """The broker acknowledges every QoS 1 message sent so far."""
    for device in fleet.devices:
        link = device.link
        assert link is not None
        for publish in publishes(cast(FakeTransport, link.transport)):
            assert publish.packet_id is not None
            link.data_received(encode(PubAck(publish.packet_id), V5))


def finished(fleet: Fleet) -> bool:
    return fleet._finished.is_set()


def test_a_device_blocked_on_its_last_message_is_not_finished_until_it_sends_it() -> None:
    fleet, loop = onboarded_fleet(2, qos=1, receive_maximum=1, messages_per_device=2)
    run_until(fleet, loop, 0.009)  # each device's first message fills its one inflight place
    run_until(fleet, loop, 0.019)  # the second cannot go: not finished, though it was its last
    assert fleet.counters.inflight_blocked == 2
    assert not finished(fleet)
    ack_all(fleet)
    run_until(fleet, loop, 0.029)
    assert finished(fleet)
    assert fleet.published_by_device() == {d.device_id: 2 for d in fleet.devices}
