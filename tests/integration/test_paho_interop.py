"""Our sans-I/O session against paho-mqtt through a real Mosquitto, feature by feature.

Each test drives a :class:`ClientSession` over a plain blocking socket (the test is its
transport) and uses paho-mqtt 2.x as the independent peer on the other side of the broker,
in MQTT 3.1.1 and 5.0 wherever the feature exists in both.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties as PahoProperties

from simulator.broker import LocalBroker
from simulator.mqtt import (
    ClientSession,
    Connected,
    ConnectOptions,
    Event,
    MessageReceived,
    MQTTVersion,
    PongReceived,
    Properties,
    PubAckReceived,
    PubCompReceived,
    Publish,
    ServerDisconnected,
    SessionState,
    Subscribed,
    Subscription,
    Will,
    decode,
    encode,
)
from tests.waiting import wait_until_sync

pytestmark = pytest.mark.broker

WAIT_S = 10.0
"""Upper bound on any single wait; a healthy loopback run needs milliseconds."""
V311, V5 = MQTTVersion.V311, MQTTVersion.V5
VERSIONS = pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
E = TypeVar("E")


class Wire:
    """One connection of ours: a :class:`ClientSession` over a blocking loopback socket."""

    def __init__(self, broker: LocalBroker, session: ClientSession) -> None:
        self.session = session
        self.sock = socket.create_connection((broker.host, broker.port), timeout=WAIT_S)
        self.events: list[Event] = []
        self.flushed: list[bytes] = []
        """What the session queued by itself (acks, resends), one entry per read."""
        self.eof = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def connect(self) -> Connected:
        self.send(self.session.connect())
        return self.wait_for(Connected)

    def pump(self, timeout: float) -> None:
        """Read once (up to ``timeout``), feed the session, write what it queued."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65_536)
        except TimeoutError:
            return
        if not data:
            self.eof = True
            self.session.connection_lost()
            return
        self.events.extend(self.session.receive_data(data))
        out = self.session.data_to_send()
        if out:
            self.flushed.append(out)
            self.send(out)

    def wait_until(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not done():
            left = deadline - time.monotonic()
            if left <= 0 or self.eof:
                pytest.fail(f"{self.session.client_id}: gave up waiting for {what}")
            self.pump(min(left, 0.5))

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    def wait_for(self, kind: type[E], count: int = 1) -> E:
        self.wait_until(lambda: len(self.of(kind)) >= count, f"{count} {kind.__name__}")
        return self.of(kind)[count - 1]

    def messages(self) -> list[Publish]:
        return [e.publish for e in self.of(MessageReceived)]

    def subscribe(self, *subs: Subscription) -> tuple[int, ...]:
        self.send(self.session.subscribe(subs))
        return self.wait_for(Subscribed, len(self.of(Subscribed)) + 1).reason_codes

    def publish_acked(self, topic: str, payload: bytes, qos: int, **kw: Any) -> None:
        """Publish and, for QoS 1 and 2, wait until the broker completed the exchange."""
        done = PubAckReceived if qos == 1 else PubCompReceived
        before = len(self.of(done))
        self.send(self.session.publish(topic, payload, qos, **kw))
        if qos:
            self.wait_for(done, before + 1)

    def abort(self) -> None:
        """Vanish without DISCONNECT, as a crashed device does."""
        self.sock.close()
        self.session.connection_lost()


class Paho:
    """paho-mqtt running its own network thread: the independent peer."""

    def __init__(self, broker: LocalBroker, client_id: str, version: MQTTVersion) -> None:
        protocol = paho.MQTTv5 if version is V5 else paho.MQTTv311
        self.v5 = version is V5
        self.broker = broker
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id, protocol=protocol)
        self.messages: queue.Queue[paho.MQTTMessage] = queue.Queue()
        self.connected = threading.Event()
        self.acked: set[int] = set()
        self.client.on_connect = lambda *_: self.connected.set()
        self.client.on_subscribe = lambda _c, _u, mid, *_: self.acked.add(mid)
        self.client.on_message = lambda _c, _u, message: self.messages.put(message)

    def start(self) -> Paho:
        self.client.connect(self.broker.host, self.broker.port, keepalive=30)
        self.client.loop_start()
        assert self.connected.wait(WAIT_S), "paho did not connect"
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def subscribe(self, topic: str, qos: int = 2) -> None:
        _, mid = self.client.subscribe(topic, qos)
        wait_until_sync(lambda: mid in self.acked, f"paho's SUBACK for {topic}", WAIT_S)

    def publish(self, topic: str, payload: bytes, qos: int = 0, **kw: Any) -> None:
        info = self.client.publish(topic, payload, qos, **kw)
        info.wait_for_publish(WAIT_S)
        assert info.is_published()

    def take(self, count: int) -> list[paho.MQTTMessage]:
        deadline = time.monotonic() + WAIT_S
        got: list[paho.MQTTMessage] = []
        for _ in range(count):
            left = deadline - time.monotonic()
            try:
                got.append(self.messages.get(timeout=max(left, 0.001)))
            except queue.Empty:
                pytest.fail(f"paho received {len(got)} of {count} messages")
        return got


@pytest.fixture
def peers(mosquitto: LocalBroker) -> Iterator[Callable[..., Any]]:
    """Make ``Wire`` (given a session) and ``Paho`` (given id and version) peers; close all."""
    made: list[Wire | Paho] = []

    def make(*args: Any) -> Any:
        peer: Wire | Paho
        if isinstance(args[0], ClientSession):
            peer = Wire(mosquitto, args[0])
        else:
            peer = Paho(mosquitto, *args).start()
        made.append(peer)
        return peer

    yield make
    for peer in made:
        if isinstance(peer, Paho):
            peer.stop()
        else:
            peer.sock.close()


def connected(make: Callable[..., Any], client_id: str, version: MQTTVersion, **kw: Any) -> Wire:
    wire: Wire = make(ClientSession(client_id, version, 30, **kw))
    assert not wire.connect().session_present
    return wire


def paho_properties(**values: Any) -> PahoProperties:
    props = PahoProperties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    for name, value in values.items():
        setattr(props, name, value)
    return props


def paho_property(message: paho.MQTTMessage, name: str) -> Any:
    """A property paho decoded (its ``Properties`` sets attributes by name at run time)."""
    return getattr(message.properties, name, None)


def decoded(data: bytes, version: MQTTVersion) -> list[Any]:
    packets: list[Any] = []
    pos = 0
    while pos < len(data):
        result = decode(data, version, offset=pos)
        assert result is not None
        packets.append(result[0])
        pos += result[1]
    return packets


# QoS 0, 1 and 2, both ways


@VERSIONS
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_our_messages_reach_paho_once_each_in_order(
    peers: Callable[..., Any], version: MQTTVersion, qos: int
) -> None:
    sub: Paho = peers("paho-sub", version)
    sub.subscribe("plant/out", qos=2)
    wire = connected(peers, "ours-pub", version)
    for n in range(20):
        wire.publish_acked("plant/out", str(n).encode(), qos)
    got = sub.take(20)
    assert [m.payload for m in got] == [str(n).encode() for n in range(20)]
    assert {m.qos for m in got} == {qos}
    assert sub.messages.empty()


@VERSIONS
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_paho_messages_reach_us_exactly_once_in_order(
    peers: Callable[..., Any], version: MQTTVersion, qos: int
) -> None:
    wire = connected(peers, "ours-sub", version)
    assert wire.subscribe(Subscription("plant/in", 2)) == (2,)
    pub: Paho = peers("paho-pub", version)
    for n in range(20):
        pub.publish("plant/in", str(n).encode(), qos)
    wire.wait_for(MessageReceived, 20)
    pub.publish("plant/in", b"end", 1)  # once this arrives, any duplicate would have too
    wire.wait_until(lambda: wire.messages()[-1].payload == b"end", "the end marker")
    received = wire.messages()[:-1]
    assert [m.payload for m in received] == [str(n).encode() for n in range(20)]
    assert {m.qos for m in received} == {qos}
    assert wire.session.inflight_count == 0


# retained messages


@VERSIONS
def test_our_retained_message_greets_a_later_paho_subscriber(
    peers: Callable[..., Any], version: MQTTVersion
) -> None:
    wire = connected(peers, "ours-retain", version)
    wire.publish_acked("plant/config", b"v1", 1, retain=True)
    sub: Paho = peers("paho-late", version)
    sub.subscribe("plant/config", qos=1)
    (message,) = sub.take(1)
    assert (message.payload, message.retain) == (b"v1", True)


@VERSIONS
def test_paho_retained_message_greets_our_later_subscription(
    peers: Callable[..., Any], version: MQTTVersion
) -> None:
    pub: Paho = peers("paho-retain", version)
    pub.publish("plant/setpoint", b"42", 1, retain=True)
    wire = connected(peers, "ours-late", version)
    wire.subscribe(Subscription("plant/setpoint", 1))
    message = wire.wait_for(MessageReceived).publish
    assert (message.payload, message.retain) == (b"42", True)


# last wills


@VERSIONS
def test_our_will_reaches_paho_when_our_socket_just_closes(
    peers: Callable[..., Any], version: MQTTVersion
) -> None:
    sub: Paho = peers("paho-watch", version)
    sub.subscribe("plant/status/#", qos=1)
    props = Properties(user_properties=(("why", "crash"),)) if version is V5 else Properties()
    will = Will("plant/status/dev-1", b"offline", 1, False, props)
    wire = connected(peers, "dev-1", version, options=ConnectOptions(will=will))
    wire.abort()
    (message,) = sub.take(1)
    assert (message.topic, message.payload, message.qos) == ("plant/status/dev-1", b"offline", 1)
    if version is V5:
        assert paho_property(message, "UserProperty") == [("why", "crash")]


@VERSIONS
def test_a_clean_disconnect_sends_no_will(peers: Callable[..., Any], version: MQTTVersion) -> None:
    sub: Paho = peers("paho-watch", version)
    sub.subscribe("plant/status/#", qos=1)
    will = Will("plant/status/dev-2", b"offline", 1)
    wire = connected(peers, "dev-2", version, options=ConnectOptions(will=will))
    wire.send(wire.session.disconnect())
    wire.sock.close()
    sentinel: Paho = peers("paho-sentinel", version)
    sentinel.publish("plant/status/marker", b"after", 1)
    (message,) = sub.take(1)
    assert message.payload == b"after"


@VERSIONS
def test_paho_will_reaches_us_when_its_socket_just_closes(
    peers: Callable[..., Any], version: MQTTVersion, mosquitto: LocalBroker
) -> None:
    wire = connected(peers, "ours-watch", version)
    wire.subscribe(Subscription("plant/status/#", 1))
    protocol = paho.MQTTv5 if version is V5 else paho.MQTTv311
    doomed = paho.Client(CallbackAPIVersion.VERSION2, "paho-doomed", protocol=protocol)
    props = paho_properties(ContentType="text/plain") if version is V5 else None
    doomed.will_set("plant/status/paho", b"lost", 1, False, properties=props)
    connacked = threading.Event()
    doomed.on_connect = lambda *_: connacked.set()
    doomed.connect(mosquitto.host, mosquitto.port, keepalive=30)
    deadline = time.monotonic() + WAIT_S
    while not connacked.is_set() and time.monotonic() < deadline:
        doomed.loop(timeout=0.1)  # no network thread: nothing may send DISCONNECT later
    assert connacked.is_set()
    sock = doomed.socket()
    assert isinstance(sock, socket.socket)
    sock.close()
    message = wire.wait_for(MessageReceived).publish
    assert (message.topic, message.payload, message.qos) == ("plant/status/paho", b"lost", 1)
    if version is V5:
        assert message.properties.content_type == "text/plain"


# MQTT 5 properties, both ways

SENT = Properties(
    user_properties=(("site", "01"), ("line", "03"), ("site", "again")),
    response_topic="plant/replies/dev-9",
    correlation_data=b"\x00req-7\xff",
    content_type="application/msgpack",
    message_expiry_interval=3600,
)
"""Every application property a telemetry or request/response message may carry."""


def test_v5_properties_survive_our_publish_to_paho(peers: Callable[..., Any]) -> None:
    sub: Paho = peers("paho-props", V5)
    sub.subscribe("plant/rpc", qos=1)
    wire = connected(peers, "ours-props", V5)
    wire.publish_acked("plant/rpc", b"\x81", 1, properties=SENT)
    (message,) = sub.take(1)
    assert paho_property(message, "UserProperty") == list(SENT.user_properties)
    assert paho_property(message, "ResponseTopic") == SENT.response_topic
    assert paho_property(message, "CorrelationData") == SENT.correlation_data
    assert paho_property(message, "ContentType") == SENT.content_type
    # The broker forwards the time left, so up to a second may be gone.
    assert 3599 <= paho_property(message, "MessageExpiryInterval") <= 3600


def test_v5_properties_survive_paho_publish_to_us(peers: Callable[..., Any]) -> None:
    wire = connected(peers, "ours-props", V5)
    wire.subscribe(Subscription("plant/rpc", 1))
    pub: Paho = peers("paho-props", V5)
    properties = paho_properties(
        UserProperty=list(SENT.user_properties),
        ResponseTopic=SENT.response_topic,
        CorrelationData=SENT.correlation_data,
        ContentType=SENT.content_type,
        MessageExpiryInterval=3600,
    )
    pub.publish("plant/rpc", b"\x81", 1, properties=properties)
    props = wire.wait_for(MessageReceived).publish.properties
    assert props.user_properties == SENT.user_properties
    assert props.response_topic == SENT.response_topic
    assert props.correlation_data == SENT.correlation_data
    assert props.content_type == SENT.content_type
    assert props.message_expiry_interval is not None
    assert 3599 <= props.message_expiry_interval <= 3600


# outbound topic aliases


def test_paho_sees_full_topics_when_we_send_aliases(peers: Callable[..., Any]) -> None:
    sub: Paho = peers("paho-alias", V5)
    sub.subscribe("plant/+/telemetry", qos=1)
    wire: Wire = peers(
        ClientSession("ours-alias", V5, 30, options=ConnectOptions(topic_aliases=True))
    )
    assert wire.connect().properties.topic_alias_maximum  # the broker allows some
    session = wire.session
    sent = []
    for n in range(3):
        sent.append(session.publish("plant/a/telemetry", b"a%d" % n, 1))
        wire.send(sent[-1])
        prefix = session.topic_prefix("plant/b/telemetry")
        sent.append(session.publish_prefixed(prefix, b"b%d" % n, 0))
        wire.send(sent[-1])
    wire.wait_for(PubAckReceived, 3)
    packets = [decoded(data, V5)[0] for data in sent]
    assert [p.topic for p in packets[:2]] == ["plant/a/telemetry", "plant/b/telemetry"]
    assert {p.topic for p in packets[2:]} == {""}  # later ones carry only the alias
    assert [p.properties.topic_alias for p in packets] == [1, 2] * 3
    got = sub.take(6)
    assert [(m.topic, m.payload) for m in got] == [
        (f"plant/{t}/telemetry", b"%s%d" % (t.encode(), n)) for n in range(3) for t in "ab"
    ]


# subscription options (5.0)


@pytest.mark.parametrize("no_local", [True, False])
def test_no_local_keeps_our_own_publish_from_coming_back(
    peers: Callable[..., Any], no_local: bool
) -> None:
    wire = connected(peers, "ours-nolocal", V5)
    wire.subscribe(Subscription("plant/cmd", 1, no_local=no_local))
    wire.publish_acked("plant/cmd", b"mine", 1)
    pub: Paho = peers("paho-cmd", V5)
    pub.publish("plant/cmd", b"theirs", 1)
    # Mosquitto queues our echo before it acks our PUBLISH, so it would come first.
    wire.wait_until(lambda: b"theirs" in [m.payload for m in wire.messages()], "paho's")
    expected = [b"theirs"] if no_local else [b"mine", b"theirs"]
    assert [m.payload for m in wire.messages()] == expected


@pytest.mark.parametrize(("handling", "greeted"), [(2, False), (0, True)])
def test_retain_handling_2_sends_no_retained_message_on_subscribe(
    peers: Callable[..., Any], handling: int, greeted: bool
) -> None:
    pub: Paho = peers("paho-retain", V5)
    pub.publish("plant/mode", b"old", 1, retain=True)
    wire = connected(peers, "ours-rh", V5)
    wire.subscribe(Subscription("plant/mode", 1, retain_handling=handling))
    pub.publish("plant/mode", b"live", 1)
    wire.wait_until(lambda: b"live" in [m.payload for m in wire.messages()], "the live one")
    expected = [(b"old", True), (b"live", False)] if greeted else [(b"live", False)]
    assert [(m.payload, m.retain) for m in wire.messages()] == expected


# kept sessions


@VERSIONS
def test_a_kept_session_resends_unacknowledged_qos1_with_dup_and_paho_gets_them(
    peers: Callable[..., Any], version: MQTTVersion
) -> None:
    sub: Paho = peers("paho-kept", version)
    sub.subscribe("plant/kept", qos=1)
    if version is V5:
        session = ClientSession(
            "ours-kept", V5, 30, options=ConnectOptions(session_expiry_interval=60)
        )
    else:
        session = ClientSession("ours-kept", V311, 30, clean_start=False)
    first: Wire = peers(session)
    first.connect()
    first.publish_acked("plant/kept", b"acked", 1)
    for n in range(3):
        session.publish("plant/kept", b"lost-%d" % n, 1)  # never reaches the wire
    first.abort()
    assert session.inflight_count == 3
    second: Wire = peers(session)
    resumed = second.connect()
    assert (resumed.session_present, resumed.resent, resumed.discarded) == (True, 3, ())
    resend = decoded(second.flushed[0], version)
    assert [(p.payload, p.dup, p.qos) for p in resend] == [
        (b"lost-%d" % n, True, 1) for n in range(3)
    ]
    second.wait_for(PubAckReceived, 3)
    assert session.inflight_count == 0
    got = sub.take(4)
    assert [m.payload for m in got] == [b"acked", b"lost-0", b"lost-1", b"lost-2"]


# the broker hangs up


@VERSIONS
def test_a_takeover_by_the_same_client_id_closes_the_first_connection(
    peers: Callable[..., Any], version: MQTTVersion
) -> None:
    first = connected(peers, "dev-twin", version)
    second = connected(peers, "dev-twin", version)
    first.wait_until(lambda: first.session.state is SessionState.CLOSED, "the broker to hang up")
    codes = [d.reason_code for d in first.of(ServerDisconnected)]
    if version is V5:
        # MQTT 5.0 [MQTT-3.1.4-3] wants DISCONNECT 0x8E (session taken over) first. Mosquitto
        # sends it from 2.0.15 on (eclipse-mosquitto/mosquitto#2607); 2.0.11 only closes.
        assert codes in ([0x8E], [])
    else:
        assert (codes, first.eof) == ([], True)  # 3.1.1 has no server DISCONNECT
    second.send(second.session.ping())
    second.wait_for(PongReceived)
    assert second.session.state is SessionState.CONNECTED


def test_a_server_disconnect_surfaces_with_its_reason_and_closes_the_session(
    peers: Callable[..., Any],
) -> None:
    wire = connected(peers, "ours-offender", V5)
    allowed = wire.session.limits.topic_alias_maximum
    # The session never sends an alias the broker did not allow, so write one past the
    # broker's Topic Alias Maximum with the bare codec: Mosquitto must answer 0x94.
    wire.send(encode(Publish("plant/x", b"x", properties=Properties(topic_alias=allowed + 1)), V5))
    disconnect = wire.wait_for(ServerDisconnected)
    assert disconnect.reason_code == 0x94  # topic alias invalid
    assert wire.session.state is SessionState.CLOSED
    wire.pump(WAIT_S)
    assert wire.eof  # then it closes the connection
