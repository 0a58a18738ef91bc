"""A real fleet on fakes: a fake loop, a connector that hands out links with their CONNACK
already in, and transports that record every write.

The fleet builds its devices, onboards them through the fake connector, puts them on its wheels
and publishes from its one scheduler. Only the clock moves by hand, so a test can put the fleet
any distance behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from simulator.engine.fleet import Fleet, FleetOptions
from simulator.mqtt import (
    NO_PROPERTIES,
    ConnAck,
    Decoder,
    MQTTVersion,
    Packet,
    Properties,
    Publish,
    encode,
)
from simulator.scenario import OnboardingPlan, Scenario
from simulator.transport.connection import MqttLink
from simulator.transport.connector import ConnectorStats, ConnectOutcome
from simulator.transport.endpoint import Endpoint
from tests.unit.engine.fake_loop import FakeLoop

WALL_NS = 1_716_000_000_000_000_000
"""The wall clock of every fake fleet (a message's timestamp is this plus its model time)."""
V5 = MQTTVersion.V5


class FakeTransport:
    """Records every write, and the packets in them."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def publish_writes(self) -> list[bytes]:
        """The writes that carry messages (a gateway's link also sends keepalive pings)."""
        return [data for data in self.writes if data[0] >> 4 == 3]

    def packets(self) -> list[Packet]:
        return decoded(b"".join(self.writes))

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class FakeConnector:
    """Connects every link at once, on a fake transport, with a CONNACK carrying ``connack``
    (``transport`` makes each link's transport: a test may want more than writes recorded)."""

    host = "127.0.0.1"
    port = 1883

    def __init__(
        self,
        connack: Properties = NO_PROPERTIES,
        transport: Callable[[], FakeTransport] = FakeTransport,
    ) -> None:
        self.connack = connack
        self.transport = transport
        self.stats = ConnectorStats()

    async def run(
        self,
        count: int,
        schedule: object,
        make_link: Callable[[int], MqttLink],
        on_outcome: Callable[[ConnectOutcome], None],
    ) -> ConnectorStats:
        for index in range(count):
            link = make_link(index)
            link.session.connect()
            link.transport = cast(asyncio.Transport, self.transport())
            link.data_received(encode(ConnAck(False, 0, self.connack), V5))
            on_outcome(ConnectOutcome(index, link, 0.001, 0.002))
        return self.stats


def built(
    scenario: Scenario, connector: FakeConnector | None = None, options: FleetOptions | None = None
) -> tuple[Fleet, FakeLoop]:
    """``scenario``'s fleet on a fake loop, built, its connections to be made by ``connector``
    (default: CONNACKs without properties) once onboarded; with the loop that moves its clock."""
    loop = FakeLoop()
    fleet = Fleet(
        scenario,
        Endpoint("127.0.0.1", 1883),
        loop=cast(asyncio.AbstractEventLoop, loop),
        wall_ns=lambda: WALL_NS,
        options=options or FleetOptions(),
    )
    fleet.connector = cast(Any, connector or FakeConnector())
    fleet.build()
    return fleet, loop


def onboarded(
    scenario: Scenario,
    connack: Properties = NO_PROPERTIES,
    *,
    transport: Callable[[], FakeTransport] = FakeTransport,
    options: FleetOptions | None = None,
) -> tuple[Fleet, FakeLoop]:
    """``scenario``'s fleet on a fake loop, built and every connection made at 0 by a
    ``FakeConnector`` whose CONNACKs carry ``connack``; with the loop that moves its clock."""
    fleet, loop = built(scenario, FakeConnector(connack, transport), options)
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
    """Each connection's fake transport, once (a gateway's devices share one)."""
    links = {id(d.link): d.link for d in fleet.devices if d.link is not None}
    return [cast(FakeTransport, link.transport) for link in links.values()]


def decoded(data: bytes) -> list[Packet]:
    """The MQTT 5 packets in ``data``."""
    decoder = Decoder(V5)
    decoder.feed(data)
    return list(decoder)


def publishes(transport: FakeTransport) -> list[Publish]:
    """The PUBLISH packets written to ``transport``."""
    return [p for p in transport.packets() if isinstance(p, Publish)]
