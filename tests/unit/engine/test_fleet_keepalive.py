"""The fleet's ping wheel on a fake clock: at the interval of the broker's Server Keep Alive,
a ping per link per turn, and a link whose broker stays silent found dead, with no timer per
device (the wheel is one of the scheduler's)."""

from __future__ import annotations

from typing import cast

from simulator.engine.fleet import Fleet
from simulator.mqtt import MQTTVersion, PingReq, PingResp, Properties, encode
from simulator.scenario import validate_scenario
from tests.unit.engine.fake_fleet import FakeTransport, onboarded, transports
from tests.unit.engine.fake_loop import FakeLoop

V5 = MQTTVersion.V5


class AbortableTransport(FakeTransport):
    """Remembers an abort, for the test to report the loss as the event loop would."""

    aborted = False

    def abort(self) -> None:
        self.aborted = True


def fleet_with(connack: Properties, devices: int = 3) -> tuple[Fleet, FakeLoop]:
    """Devices reporting once a minute, keepalive 60 s asked for, connected at 0."""
    scenario = validate_scenario(
        {
            "name": "keepalive",
            "duration_s": 1.0,
            "broker": {"keepalive_s": 60},
            "fleet": {"devices": devices, "publish_interval_s": 60.0},
            "onboarding": {"reconnect": False},
            "ingest": {"enabled": False},
        },
        "<test>",
    )
    return onboarded(scenario, connack, transport=AbortableTransport)


def tick_until(fleet: Fleet, loop: FakeLoop, end: float, *, answer: bool) -> None:
    """Run the scheduler every 0.1 s from the fake clock's time up to ``end``; the broker
    answers every ping if ``answer``; an aborted link is reported lost."""
    step = round(loop.now * 10)
    while step / 10 <= end:
        loop.now = step / 10
        fleet._scheduler._tick()
        for device in fleet.devices:
            link = device.link
            if link is None or link.transport is None:
                continue
            if cast(AbortableTransport, link.transport).aborted:
                link.connection_lost(None)
            elif answer and link.silent_since is not None:
                link.data_received(encode(PingResp(), V5))
        step += 1


def pings(transport: FakeTransport) -> int:
    return sum(isinstance(packet, PingReq) for packet in transport.packets())


def test_the_ping_wheel_turns_at_half_the_brokers_server_keep_alive() -> None:
    fleet, loop = fleet_with(Properties(server_keep_alive=4))
    wheel = fleet.pings.wheel
    assert wheel is not None
    assert wheel.interval_s == 2.0
    tick_until(fleet, loop, 9.95, answer=True)
    assert [pings(t) for t in transports(fleet)] == [5, 5, 5]
    assert fleet.counters.dead_links == 0


def test_links_whose_broker_stays_silent_are_found_dead_after_its_grace() -> None:
    fleet, loop = fleet_with(Properties(server_keep_alive=4))
    tick_until(fleet, loop, 5.9, answer=False)
    assert fleet.counters.dead_links == 0  # silent since its first ping, under 1.5 x 4 s
    tick_until(fleet, loop, 10.0, answer=False)
    assert fleet.counters.dead_links == 3
    assert fleet.connected == 0


def test_a_server_keep_alive_of_zero_means_no_pings_at_all() -> None:
    fleet, _ = fleet_with(Properties(server_keep_alive=0))
    assert fleet.pings.wheel is None
