"""The register workflow on the device side, through real sessions and a fake transport.

Each connection is a real :class:`ClientSession` that has had its CONNACK, behind an
:class:`MqttLink` whose transport records what is written. What the broker would send (SUBACK,
PUBACK, the platform's answers) is fed to the link as bytes, and a fake fleet passes the
session's events to the registrar as the real fleet does. The registrar's own clock is a fake;
only its deadlines run on the loop's timer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import pytest

from simulator.engine.onboarding import FIRMWARE, Registrar
from simulator.fleet import DeviceIdentity, DeviceModel, get_model
from simulator.metrics.funnel import CONNACK, REGISTERED, SUBACK, TCP_CONNECT, Funnel, StageFigures
from simulator.mqtt import (
    NO_PROPERTIES,
    ClientSession,
    ConnAck,
    ConnectOptions,
    Decoder,
    Event,
    MessageReceived,
    MQTTVersion,
    Packet,
    Properties,
    PubAck,
    PubAckReceived,
    Publish,
    SubAck,
    Subscribe,
    Subscribed,
    encode,
)
from simulator.payloads.registration import (
    ACCEPTED,
    REJECTED,
    Answer,
    correlation_for,
    decode_registration,
    encode_answer,
)
from simulator.scenario.schema import OnboardingSettings
from simulator.transport.connection import MqttLink
from tests.fake_clock import FakeClock
from tests.waiting import wait_until

V311, V5 = MQTTVersion.V311, MQTTVersion.V5
VERSIONS = pytest.mark.parametrize("version", [V5, V311], ids=["v5", "v311"])
MODEL = get_model("machine-sensor")
WALL_NS = 1_716_000_000_000_000_000
ELAPSED_S = 0.010
"""How long each connection took up to its CONNACK."""
LONG = 60.0
"""A deadline no test reaches."""
SHORT = 0.05
"""A deadline the timeout tests wait out."""

SINGLE, GATEWAY = 0, 1


@dataclass
class Dev:
    index: int
    device_id: str
    group: int = 0


class FakeTransport:
    """Records writes; decodes them on demand."""

    def __init__(self, version: MQTTVersion) -> None:
        self.decoder = Decoder(version)
        self.packets: list[Packet] = []
        self.acked: set[int] = set()
        """Packet ids the fake broker has acknowledged on this connection."""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.decoder.feed(data)
        self.packets.extend(self.decoder)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def of(self, kind: type[Any]) -> list[Any]:
        return [p for p in self.packets if isinstance(p, kind)]


class Fleet:
    """The registrar's host, what it admits, and the links' listener: dispatches events as
    the fleet does."""

    def __init__(self) -> None:
        self.connections: dict[int, list[Dev]] = {
            SINGLE: [Dev(0, "ms-000000")],
            GATEWAY: [Dev(1, "ms-000001"), Dev(2, "ms-000002"), Dev(3, "ms-000003")],
        }
        self.clients = {SINGLE: "ms-000000", GATEWAY: "gw-0001"}
        self.admitted: list[tuple[str, MqttLink]] = []
        self.other_acks: list[int] = []
        """PUBACKs the registrar said were not its own."""
        self.registrar: Registrar | None = None

    # RegistrarHost, and admission

    def members(self, connection: int) -> list[Dev]:
        return self.connections[connection]

    def client_id(self, connection: int) -> str:
        return self.clients[connection]

    def connection_identity(self, connection: int) -> DeviceIdentity:
        return DeviceIdentity(self.clients[connection], "site-01", "line-01")

    def model_of(self, device: Any) -> DeviceModel:
        return MODEL

    def admit(self, device: Any, link: MqttLink) -> None:
        self.admitted.append((device.device_id, link))

    def telemetry_topic(self, device: Any) -> str:
        return f"factory/site-01/line-01/{device.device_id}/telemetry"

    # LinkListener

    def on_events(self, link: MqttLink, events: list[Event]) -> None:
        registrar = self.registrar
        assert registrar is not None
        for event in events:
            if isinstance(event, Subscribed):
                registrar.on_subscribed(link, event)
            elif isinstance(event, MessageReceived):
                registrar.on_message(link, event.publish)
            elif isinstance(event, PubAckReceived) and not registrar.owns_ack(link, event):
                self.other_acks.append(event.packet_id)

    def on_lost(self, link: MqttLink, exc: BaseException | None) -> None:
        assert self.registrar is not None
        assert isinstance(link.owner, int)
        self.registrar.lost(link.owner, link)


class Rig:
    def __init__(self, version: MQTTVersion, timeout_s: float = LONG, attempts: int = 1) -> None:
        self.version = version
        self.fleet = Fleet()
        self.clock = FakeClock(100.0)
        settings = OnboardingSettings(
            workflow="register", register_timeout_s=timeout_s, register_attempts=attempts
        )
        self.registrar = Registrar(
            self.fleet,
            settings,
            version,
            admit=self.fleet.admit,
            loop=asyncio.get_running_loop(),
            wall_ns=lambda: WALL_NS,
            clock=self.clock,
        )
        self.fleet.registrar = self.registrar
        self._next_pid = 1

    @property
    def funnel(self) -> Funnel:
        return self.registrar.funnel

    def session(
        self,
        connection: int,
        receive_maximum: int | None = None,
        options: ConnectOptions | None = None,
    ) -> ClientSession:
        session = ClientSession(self.fleet.clients[connection], self.version, 60, options=options)
        session.connect()
        self.connack(session, receive_maximum)
        return session

    def connack(
        self, session: ClientSession, receive_maximum: int | None = None, present: bool = False
    ) -> None:
        props = NO_PROPERTIES
        if receive_maximum is not None:
            props = Properties(receive_maximum=receive_maximum)
        session.receive_data(encode(ConnAck(present, 0, props), self.version))

    def link(self, connection: int, session: ClientSession | None = None) -> MqttLink:
        if session is None:
            session = self.session(connection)
        link = MqttLink(session, self.fleet, connection)
        link.transport = cast(asyncio.Transport, FakeTransport(self.version))
        return link

    def connect(
        self, connection: int, receive_maximum: int | None = None, *, reannounce: bool = False
    ) -> MqttLink:
        """A connection that has its CONNACK, handed to the registrar as the fleet does."""
        link = self.link(connection, self.session(connection, receive_maximum))
        self.start(connection, link, reannounce=reannounce)
        return link

    def subscribed(
        self, connection: int, receive_maximum: int | None = None, *, reannounce: bool = False
    ) -> MqttLink:
        """:meth:`connect`, and the SUBACK to its reply-topic subscription: ready to register."""
        link = self.connect(connection, receive_maximum, reannounce=reannounce)
        self.suback(link)
        return link

    def start(self, connection: int, link: MqttLink, *, reannounce: bool = False) -> None:
        count = len(self.fleet.members(connection))
        if not reannounce:  # the fleet's stages
            self.funnel[TCP_CONNECT].reach(2_000, count)
            self.funnel[CONNACK].reach(int(ELAPSED_S * 1e6), count)
        self.registrar.connected(connection, link, ELAPSED_S, reannounce=reannounce)

    def deliver(self, link: MqttLink, packet: Packet) -> None:
        link.data_received(encode(packet, self.version))

    def suback(self, link: MqttLink, code: int = 1) -> None:
        (subscribe,) = sent(link, Subscribe)
        self.deliver(link, SubAck(subscribe.packet_id, (code,)))

    def puback(self, link: MqttLink, packet_id: int | None) -> None:
        assert packet_id is not None
        transport(link).acked.add(packet_id)
        self.deliver(link, PubAck(packet_id))

    def answer(
        self,
        link: MqttLink,
        dev: Dev,
        status: str = ACCEPTED,
        *,
        topic: str | None = None,
        device_id: str | None = None,
        payload: bytes | None = None,
    ) -> None:
        """The platform's answer on the connection's reply topic, as the responder sends it."""
        assert isinstance(link.owner, int)
        correlation = correlation_for(dev.index)
        body = encode_answer(
            Answer(dev.device_id if device_id is None else device_id, status, correlation)
        )
        props = NO_PROPERTIES
        if self.version is V5:
            props = Properties(correlation_data=correlation, content_type="application/json")
        if topic is None:
            topic = reply_topic(self.fleet.clients[link.owner])
        packet_id = self._next_pid
        self._next_pid += 1
        publish = Publish(
            topic, body if payload is None else payload, 1, False, False, packet_id, props
        )
        self.deliver(link, publish)

    def ack_registrations(self, link: MqttLink) -> None:
        for publish in registrations(link):
            assert publish.packet_id is not None
            if publish.packet_id not in transport(link).acked:
                self.puback(link, publish.packet_id)


def transport(link: MqttLink) -> FakeTransport:
    assert isinstance(link.transport, FakeTransport)
    return link.transport


def sent(link: MqttLink, kind: type[Any]) -> list[Any]:
    return transport(link).of(kind)


def registrations(link: MqttLink) -> list[Publish]:
    return [p for p in sent(link, Publish) if p.topic.endswith("/register")]


def counts(funnel: Funnel) -> list[StageFigures]:
    return [stage.to_dict() for stage in funnel.stages]


def reply_topic(client_id: str) -> str:
    return f"onboarding/{client_id}/config"


@pytest.fixture
def rigs() -> Iterator[Callable[..., Rig]]:
    made: list[Rig] = []

    def make(version: MQTTVersion = V5, **kwargs: Any) -> Rig:
        rig = Rig(version, **kwargs)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.registrar.close()


async def settled(rig: Rig) -> None:
    """Let the loop run until the registrar's deadline timers have left nothing pending (polled:
    a timer callback signals nothing)."""
    await wait_until(lambda: rig.registrar.pending == 0, "no registration pending")


# subscribing


@VERSIONS
async def test_start_subscribes_to_the_connections_reply_topic(
    rigs: Callable[..., Rig], version: MQTTVersion
) -> None:
    rig = rigs(version)
    link = rig.connect(GATEWAY)
    (subscribe,) = sent(link, Subscribe)
    assert [(s.topic_filter, s.qos) for s in subscribe.subscriptions] == [
        (reply_topic("gw-0001"), 1)
    ]
    assert not sent(link, Publish)
    assert rig.registrar.pending == 3


@VERSIONS
async def test_suback_sends_one_registration_per_member(
    rigs: Callable[..., Rig], version: MQTTVersion
) -> None:
    rig = rigs(version)
    link = rig.connect(GATEWAY)
    rig.clock.now += 0.020
    rig.suback(link, 1)
    published = sent(link, Publish)
    assert [p.topic for p in published] == ["onboarding/gw-0001/register"] * 3
    assert {p.qos for p in published} == {1}
    bodies = [decode_registration(p.payload) for p in published]
    assert [b.device_id for b in bodies] == ["ms-000001", "ms-000002", "ms-000003"]
    for body, dev, publish in zip(bodies, rig.fleet.members(GATEWAY), published, strict=True):
        assert body.model == MODEL.name
        assert body.firmware == FIRMWARE
        assert body.capabilities == tuple(sorted(MODEL.signals))
        assert body.t0_ns == WALL_NS - int(ELAPSED_S * 1e9)
        assert body.gateway == "gw-0001"
        assert body.topic == f"factory/site-01/line-01/{dev.device_id}/telemetry"
        # Both versions carry the reply topic and correlation in the body (3.1.1 needs it).
        assert body.reply_to == reply_topic("gw-0001")
        assert body.correlation == correlation_for(dev.index)
        if version is V5:
            assert publish.properties.response_topic == reply_topic("gw-0001")
            assert publish.properties.correlation_data == correlation_for(dev.index)
        else:
            assert publish.properties == NO_PROPERTIES
    suback = rig.funnel[SUBACK]
    assert suback.reached == 3
    # From the start of the attempt: 10 ms to CONNACK, then 20 ms on the (fake) clock.
    assert suback.elapsed_us.max == pytest.approx(30_000, rel=2**-7)
    assert rig.registrar.pending == 3


async def test_a_device_on_its_own_connection_names_no_gateway(
    rigs: Callable[..., Rig],
) -> None:
    rig = rigs()
    link = rig.subscribed(SINGLE)
    (publish,) = sent(link, Publish)
    assert publish.topic == "onboarding/ms-000000/register"
    body = decode_registration(publish.payload)
    assert body.device_id == "ms-000000"
    assert body.gateway is None
    assert json.loads(publish.payload).get("gateway") is None


async def test_refused_subscription_rejects_every_member_at_suback(
    rigs: Callable[..., Rig],
) -> None:
    rig = rigs()
    link = rig.connect(GATEWAY)
    rig.suback(link, 0x87)
    assert not sent(link, Publish)
    suback = rig.funnel[SUBACK]
    assert (suback.reached, suback.rejected) == (0, 3)
    assert rig.registrar.pending == 0
    assert rig.funnel.leaks() == []


async def test_a_suback_on_another_link_of_the_connection_is_ignored(
    rigs: Callable[..., Rig],
) -> None:
    rig = rigs()
    link = rig.connect(GATEWAY)
    stale = rig.link(GATEWAY)
    stale.session.subscribe([("x", 1)])
    rig.deliver(stale, SubAck(1, (1,)))
    assert rig.funnel[SUBACK].reached == 0
    assert rig.registrar.pending == 3
    rig.suback(link)
    assert rig.funnel[SUBACK].reached == 3


async def test_a_session_closed_before_start_fails_at_suback(
    rigs: Callable[..., Rig],
) -> None:
    rig = rigs()
    link = rig.link(GATEWAY)
    link.session.connection_lost()
    rig.start(GATEWAY, link)
    assert rig.funnel[SUBACK].failed == 3
    assert rig.registrar.pending == 0
    assert rig.funnel.leaks() == []


# answers


@VERSIONS
async def test_accepted_answers_admit_every_device(
    rigs: Callable[..., Rig], version: MQTTVersion
) -> None:
    rig = rigs(version)
    links = {c: rig.connect(c) for c in (SINGLE, GATEWAY)}
    for link in links.values():
        rig.suback(link)
        rig.ack_registrations(link)
    assert rig.fleet.other_acks == []
    rig.clock.now += 0.5
    for connection, link in links.items():
        for dev in rig.fleet.members(connection):
            rig.answer(link, dev)
    assert sorted(rig.fleet.admitted, key=lambda a: a[0]) == [
        ("ms-000000", links[SINGLE]),
        ("ms-000001", links[GATEWAY]),
        ("ms-000002", links[GATEWAY]),
        ("ms-000003", links[GATEWAY]),
    ]
    registered = rig.funnel[REGISTERED]
    assert registered.reached == 4
    assert registered.fell_out == 0
    assert registered.elapsed_us.min == pytest.approx(510_000, rel=2**-7)
    assert rig.registrar.last_accepted == rig.clock.now
    assert rig.registrar.pending == 0
    assert (rig.registrar.late_answers, rig.registrar.invalid_answers) == (0, 0)
    assert rig.funnel.leaks() == []


async def test_rejected_answer_is_counted_and_not_admitted(rigs: Callable[..., Rig]) -> None:
    rig = rigs()
    link = rig.subscribed(GATEWAY)
    first, second, third = rig.fleet.members(GATEWAY)
    rig.answer(link, first)
    rig.answer(link, second, REJECTED)
    rig.answer(link, third)
    assert [device for device, _ in rig.fleet.admitted] == ["ms-000001", "ms-000003"]
    registered = rig.funnel[REGISTERED]
    assert (registered.reached, registered.rejected) == (2, 1)
    assert rig.registrar.pending == 0
    assert rig.funnel.leaks() == []


async def test_no_answer_times_out_after_the_deadline(rigs: Callable[..., Rig]) -> None:
    rig = rigs(timeout_s=SHORT)
    link = rig.subscribed(GATEWAY)
    rig.answer(link, rig.fleet.members(GATEWAY)[0])
    await settled(rig)
    registered = rig.funnel[REGISTERED]
    assert (registered.reached, registered.timeouts) == (1, 2)
    assert rig.fleet.admitted == [("ms-000001", link)]
    assert rig.funnel.leaks() == []


async def test_suback_never_arriving_times_out(rigs: Callable[..., Rig]) -> None:
    rig = rigs(timeout_s=SHORT)
    rig.connect(GATEWAY)
    rig.connect(SINGLE)
    await settled(rig)
    suback = rig.funnel[SUBACK]
    assert (suback.reached, suback.timeouts) == (0, 4)
    assert rig.funnel[REGISTERED].reached == 0
    assert rig.funnel.leaks() == []


async def test_a_suback_after_its_deadline_registers_nobody(rigs: Callable[..., Rig]) -> None:
    rig = rigs(timeout_s=SHORT)
    link = rig.connect(SINGLE)
    await settled(rig)
    rig.suback(link)
    assert not sent(link, Publish)
    assert (rig.funnel[SUBACK].reached, rig.funnel[SUBACK].timeouts) == (0, 1)
    assert rig.funnel.leaks() == []


async def test_an_answer_after_the_timeout_is_late(rigs: Callable[..., Rig]) -> None:
    rig = rigs(timeout_s=SHORT)
    link = rig.subscribed(SINGLE)
    await settled(rig)
    rig.answer(link, rig.fleet.members(SINGLE)[0])
    assert rig.registrar.late_answers == 1
    assert rig.fleet.admitted == []
    registered = rig.funnel[REGISTERED]
    assert (registered.reached, registered.timeouts) == (0, 1)
    assert rig.funnel.leaks() == []


async def test_a_second_answer_is_late_and_admits_once(rigs: Callable[..., Rig]) -> None:
    rig = rigs()
    link = rig.subscribed(SINGLE)
    dev = rig.fleet.members(SINGLE)[0]
    rig.answer(link, dev)
    rig.answer(link, dev)
    assert rig.registrar.late_answers == 1
    assert len(rig.fleet.admitted) == 1
    assert rig.funnel[REGISTERED].reached == 1
    assert rig.funnel.leaks() == []


async def test_answers_that_do_not_fit_are_invalid(rigs: Callable[..., Rig]) -> None:
    rig = rigs()
    single = rig.connect(SINGLE)
    gateway = rig.connect(GATEWAY)
    rig.suback(single)
    rig.suback(gateway)
    first, second, _ = rig.fleet.members(GATEWAY)
    rig.answer(gateway, first, device_id="ms-000003")  # someone else's id with first's index
    rig.answer(single, second)  # a gateway device's answer on the single device's reply topic
    rig.answer(gateway, first, payload=b"{not json")
    rig.answer(gateway, first, payload=encode_answer(Answer("ms-000001", "maybe", b"\0")))
    assert rig.registrar.invalid_answers == 4
    assert rig.fleet.admitted == []
    assert rig.registrar.pending == 4
    # None of that spoilt the real answers.
    rig.answer(gateway, first)
    rig.answer(gateway, second)
    assert [device for device, _ in rig.fleet.admitted] == ["ms-000001", "ms-000002"]


async def test_the_mqtt5_correlation_property_wins_over_the_body(
    rigs: Callable[..., Rig],
) -> None:
    rig = rigs(V5)
    link = rig.subscribed(GATEWAY)
    first, second, _ = rig.fleet.members(GATEWAY)
    # The body names the first device's correlation; the property (the second's) decides.
    body = encode_answer(Answer(second.device_id, ACCEPTED, correlation_for(first.index)))
    rig.answer(link, second, payload=body)
    assert rig.fleet.admitted == [("ms-000002", link)]
    assert rig.registrar.invalid_answers == 0


async def test_messages_off_the_reply_topic_are_not_answers(rigs: Callable[..., Rig]) -> None:
    rig = rigs()
    link = rig.subscribed(SINGLE)
    dev = rig.fleet.members(SINGLE)[0]
    publish = Publish("onboarding/ms-000000/other", b"{}", 0)
    assert rig.registrar.on_message(link, publish) is False
    rig.answer(link, dev, topic=reply_topic("gw-0001"))
    assert (rig.registrar.invalid_answers, rig.registrar.late_answers) == (0, 0)
    assert rig.fleet.admitted == []
    reply = Publish(
        reply_topic("ms-000000"), encode_answer(Answer(dev.device_id, ACCEPTED, correlation_for(0)))
    )
    assert rig.registrar.on_message(link, reply) is True
    assert rig.fleet.admitted == [("ms-000000", link)]


# links lost


async def test_link_lost_while_subscribing_fails_at_suback(rigs: Callable[..., Rig]) -> None:
    rig = rigs(timeout_s=SHORT)
    link = rig.connect(GATEWAY)
    link.connection_lost(None)
    assert rig.funnel[SUBACK].failed == 3
    assert rig.registrar.pending == 0
    await asyncio.sleep(2 * SHORT)  # the dropped SUBACK's deadline passes: nothing more
    assert rig.funnel[SUBACK].fell_out == 3
    assert rig.funnel.leaks() == []


async def test_link_lost_while_waiting_fails_what_was_pending(rigs: Callable[..., Rig]) -> None:
    rig = rigs(timeout_s=SHORT)
    link = rig.subscribed(GATEWAY)
    rig.answer(link, rig.fleet.members(GATEWAY)[1])
    link.connection_lost(ConnectionResetError())
    registered = rig.funnel[REGISTERED]
    assert (registered.reached, registered.failed) == (1, 2)
    assert rig.registrar.pending == 0
    await asyncio.sleep(2 * SHORT)  # the registrations' deadlines pass: counted once only
    assert (registered.failed, registered.timeouts) == (2, 0)
    assert rig.funnel.leaks() == []


async def test_link_lost_with_registrations_queued_fails_them_too(
    rigs: Callable[..., Rig],
) -> None:
    rig = rigs()
    link = rig.subscribed(GATEWAY, receive_maximum=2)
    assert len(registrations(link)) == 2
    link.connection_lost(None)
    assert rig.funnel[REGISTERED].failed == 3
    assert rig.registrar.pending == 0
    assert rig.funnel.leaks() == []


# re-announcements


async def onboard(rig: Rig, connection: int) -> MqttLink:
    link = rig.subscribed(connection)
    rig.ack_registrations(link)
    for dev in rig.fleet.members(connection):
        rig.answer(link, dev)
    return link


async def test_reannouncement_is_counted_apart_from_the_funnel(rigs: Callable[..., Rig]) -> None:
    rig = rigs()
    first = await onboard(rig, GATEWAY)
    before = counts(rig.funnel)
    first.connection_lost(None)
    assert counts(rig.funnel) == before  # nothing was pending
    session = first.session
    session.connect()
    rig.connack(session)
    again = rig.link(GATEWAY, session)
    rig.start(GATEWAY, again, reannounce=True)
    rig.suback(again)
    assert len(registrations(again)) == 3
    assert rig.registrar.reannounced.sent == 3
    rig.ack_registrations(again)
    first_dev, second_dev, third_dev = rig.fleet.members(GATEWAY)
    rig.clock.now += 0.25
    rig.answer(again, first_dev)
    rig.answer(again, second_dev, REJECTED)
    assert [a for a in rig.fleet.admitted if a[1] is again] == [("ms-000001", again)]
    again.connection_lost(None)
    reannounced = rig.registrar.reannounced
    assert (reannounced.accepted, reannounced.rejected, reannounced.failed) == (1, 1, 1)
    assert reannounced.elapsed_us.max == pytest.approx(260_000, rel=2**-7)
    assert counts(rig.funnel) == before
    assert rig.funnel.leaks() == []
    assert rig.registrar.pending == 0
    assert third_dev.device_id not in [d for d, link in rig.fleet.admitted if link is again]


async def test_reannouncement_timeouts_and_refusals_stay_out_of_the_funnel(
    rigs: Callable[..., Rig],
) -> None:
    rig = rigs(timeout_s=SHORT)
    link = rig.connect(GATEWAY, reannounce=True)
    rig.suback(link, 0x80)
    rig.subscribed(SINGLE, reannounce=True)
    await settled(rig)
    reannounced = rig.registrar.reannounced
    assert (reannounced.sent, reannounced.rejected, reannounced.timeouts) == (1, 3, 1)
    assert all(stage.reached == stage.fell_out == 0 for stage in rig.funnel.stages)


# the broker's Receive Maximum


async def test_registrations_wait_for_room_in_the_receive_maximum(
    rigs: Callable[..., Rig],
) -> None:
    rig = rigs()
    link = rig.subscribed(GATEWAY, receive_maximum=2)
    sent_first = registrations(link)
    assert [decode_registration(p.payload).device_id for p in sent_first] == [
        "ms-000001",
        "ms-000002",
    ]
    assert rig.registrar.pending == 3
    # An answer is not a PUBACK: it frees no room.
    rig.answer(link, rig.fleet.members(GATEWAY)[0])
    assert len(registrations(link)) == 2
    rig.puback(link, sent_first[0].packet_id)
    assert rig.fleet.other_acks == []
    third = registrations(link)[2:]
    assert [decode_registration(p.payload).device_id for p in third] == ["ms-000003"]
    for dev in rig.fleet.members(GATEWAY)[1:]:
        rig.answer(link, dev)
    assert rig.funnel[REGISTERED].reached == 3
    assert rig.registrar.pending == 0
    assert rig.funnel.leaks() == []


async def test_owns_ack_only_for_registrations(rigs: Callable[..., Rig]) -> None:
    rig = rigs()
    link = rig.connect(GATEWAY, receive_maximum=10)
    assert rig.registrar.owns_ack(link, PubAckReceived(1, 0)) is False  # no round yet
    rig.suback(link)
    telemetry = link.session.publish("factory/site-01/ms-000001/telemetry", b"x", 1)
    link.send(telemetry)
    (other,) = [p for p in sent(link, Publish) if p.topic.endswith("/telemetry")]
    rig.puback(link, other.packet_id)
    assert rig.fleet.other_acks == [other.packet_id]
    assert rig.registrar.owns_ack(link, PubAckReceived(999, 0)) is False
    first = registrations(link)[0]
    rig.puback(link, first.packet_id)
    assert rig.fleet.other_acks == [other.packet_id]


async def test_registrations_go_out_when_a_kept_session_fills_the_window(
    rigs: Callable[..., Rig],
) -> None:
    # A device publishing telemetry at QoS 1 with a kept session drops; on reconnect the
    # session resends its unacknowledged messages, which fill the broker's Receive Maximum
    # before the re-announcement. Each PUBACK of theirs frees room the registration needs.
    rig = rigs()
    options = ConnectOptions(clean_start=False, session_expiry_interval=300)
    session = rig.session(SINGLE, receive_maximum=2, options=options)
    for seq in range(2):
        session.publish("factory/site-01/ms-000000/telemetry", bytes([seq]), 1)
    session.connection_lost()
    session.connect()
    link = rig.link(SINGLE, session)
    rig.connack(session, receive_maximum=2, present=True)
    resent = session.data_to_send()
    link.send(resent)
    telemetry = sent(link, Publish)
    assert len(telemetry) == 2
    rig.start(SINGLE, link, reannounce=True)
    rig.suback(link)
    assert registrations(link) == []  # no room yet
    assert rig.registrar.pending == 1
    rig.puback(link, telemetry[0].packet_id)
    assert len(registrations(link)) == 1
    assert rig.registrar.reannounced.sent == 1
    rig.answer(link, rig.fleet.members(SINGLE)[0])
    assert rig.registrar.reannounced.accepted == 1
    assert rig.registrar.pending == 0


async def test_a_retry_goes_out_when_telemetry_fills_the_window(
    rigs: Callable[..., Rig],
) -> None:
    # Behind a gateway, accepted devices publish at QoS 1 while another device still waits
    # for its answer; when its retry is due the window may be full of their telemetry.
    rig = rigs(timeout_s=SHORT, attempts=2)
    link = rig.subscribed(GATEWAY, receive_maximum=2)
    rig.ack_registrations(link)
    rig.ack_registrations(link)  # the third went out on the first PUBACKs
    assert len(registrations(link)) == 3
    first, second, third = rig.fleet.members(GATEWAY)
    rig.answer(link, first)
    rig.answer(link, second)
    for dev in (first, second):
        link.send(link.session.publish(f"factory/{dev.device_id}/telemetry", b"x", 1))
    await wait_until(lambda: rig.funnel[REGISTERED].retries == 1, "a registration retried")
    assert rig.funnel[REGISTERED].retries == 1
    assert len(registrations(link)) == 3  # no room for the retry yet
    (telemetry, _) = [p for p in sent(link, Publish) if p.topic.endswith("/telemetry")]
    rig.puback(link, telemetry.packet_id)
    assert len(registrations(link)) == 4
    rig.answer(link, third)
    assert rig.funnel[REGISTERED].reached == 3
    assert rig.registrar.pending == 0
    assert rig.funnel.leaks() == []


# retries


async def test_an_unanswered_registration_is_sent_again(rigs: Callable[..., Rig]) -> None:
    rig = rigs(timeout_s=SHORT, attempts=2)
    link = rig.subscribed(SINGLE)
    await wait_until(lambda: len(registrations(link)) == 2, "a registration sent again")
    first, second = registrations(link)
    assert first.payload == second.payload  # the same registration, same correlation
    assert rig.funnel[REGISTERED].retries == 1
    rig.answer(link, rig.fleet.members(SINGLE)[0])
    assert rig.funnel[REGISTERED].reached == 1
    assert rig.funnel.leaks() == []


async def test_retries_give_up_after_the_last_attempt(rigs: Callable[..., Rig]) -> None:
    rig = rigs(timeout_s=SHORT, attempts=2)
    link = rig.subscribed(SINGLE)
    await settled(rig)
    assert len(registrations(link)) == 2
    registered = rig.funnel[REGISTERED]
    assert (registered.retries, registered.timeouts) == (1, 1)
    assert rig.funnel.leaks() == []
