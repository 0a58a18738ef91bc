"""The one keepalive tick (fleet and subscribers): pings, and a silent broker found, on a fake
clock. Silence is counted from the first tick after the broker last sent anything, against the
session's keepalive in force (the broker's Server Keep Alive once its CONNACK names one)."""

from __future__ import annotations

import asyncio
from typing import cast

from simulator.errors import RemoteProtocolError
from simulator.mqtt import (
    NO_PROPERTIES,
    ClientSession,
    ConnAck,
    Decoder,
    MQTTVersion,
    PingReq,
    PingResp,
    Properties,
    encode,
)
from simulator.transport.connection import MqttLink
from simulator.transport.keepalive import keep_alive
from tests.link_listener import RecordingListener

V5 = MQTTVersion.V5


class FakeTransport:
    def __init__(self) -> None:
        self.written = b""
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written += data

    def abort(self) -> None:
        self.aborted = True


def connected(keepalive: int, connack: Properties = NO_PROPERTIES) -> MqttLink:
    link = MqttLink(ClientSession("dev-1", V5, keepalive), RecordingListener())
    link.connection_made(cast(asyncio.Transport, FakeTransport()))
    link.data_received(encode(ConnAck(properties=connack), V5))
    return link


def pings(link: MqttLink) -> int:
    decoder = Decoder(V5)
    decoder.feed(cast(FakeTransport, link.transport).written)
    return sum(isinstance(packet, PingReq) for packet in decoder)


def test_every_tick_pings_and_an_answering_broker_stays_alive() -> None:
    link = connected(10)
    for tick in range(10):
        assert keep_alive([link], 100.0 + 5.0 * tick) == 0
        link.data_received(encode(PingResp(), V5))
    assert pings(link) == 10
    assert not cast(FakeTransport, link.transport).aborted


def test_a_broker_silent_for_one_and_a_half_keepalives_is_dropped_with_the_reason() -> None:
    link = connected(10)
    assert keep_alive([link], 100.0) == 0  # silent since, at least, now
    assert keep_alive([link], 105.0) == 0
    assert keep_alive([link], 110.0) == 0
    assert keep_alive([link], 114.9) == 0
    assert keep_alive([link], 115.0) == 1
    assert cast(FakeTransport, link.transport).aborted
    assert isinstance(link.error, RemoteProtocolError)
    assert "1.5 x its keepalive of 10 s" in str(link.error)
    assert pings(link) == 4  # no ping on the tick that found it dead


def test_anything_from_the_broker_restarts_the_silence() -> None:
    link = connected(10)
    keep_alive([link], 100.0)
    keep_alive([link], 110.0)
    link.data_received(encode(PingResp(), V5))
    assert keep_alive([link], 115.0) == 0  # heard since 110: silent since 115 at most
    assert keep_alive([link], 129.9) == 0
    assert keep_alive([link], 130.0) == 1


def test_the_brokers_server_keep_alive_decides_the_interval_and_the_grace() -> None:
    link = connected(60, Properties(server_keep_alive=2))
    assert link.session.ping_interval == 1.0
    keep_alive([link], 0.0)
    assert keep_alive([link], 2.9) == 0
    assert keep_alive([link], 3.0) == 1


def test_closed_links_are_left_alone() -> None:
    link = connected(10)
    link.transport = None
    assert keep_alive([link], 100.0) == 0
    assert link.silent_since is None
