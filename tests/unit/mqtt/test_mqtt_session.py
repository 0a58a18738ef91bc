"""The client session state machine: every (state, input) pair, QoS 1 flows, keepalive, size."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import Enum

import pytest

from simulator.errors import (
    BrokerRefusedError,
    InflightLimitError,
    LocalProtocolError,
    RemoteProtocolError,
)
from simulator.mqtt import (
    Auth,
    ClientSession,
    ConnAck,
    Connect,
    Connected,
    Disconnect,
    MessageReceived,
    MQTTVersion,
    Packet,
    PingReq,
    PingResp,
    PongReceived,
    Properties,
    PubAck,
    PubAckReceived,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    ServerDisconnected,
    SessionState,
    SubAck,
    Subscribe,
    Subscribed,
    Subscription,
    UnsubAck,
    Unsubscribe,
    decode,
    encode,
)
from simulator.mqtt.options import DEFAULT_LIMITS, DEFAULT_OPTIONS
from simulator.mqtt.session import DEFAULT_RECEIVE_MAXIMUM
from tests.unit.mqtt import sessions
from tests.unit.mqtt.versions import V5, V311, VERSIONS

NEW, CONNECTING, CONNECTED, CLOSED = SessionState


def session_in(state: SessionState, version: MQTTVersion = V5) -> ClientSession:
    """A session driven through its public API into ``state``."""
    session = ClientSession("dev-1", version, 60)
    if state is NEW:
        return session
    session.connect()
    if state is CONNECTING:
        return session
    session.receive_data(encode(ConnAck(), version))
    if state is CLOSED:
        session.disconnect()
    assert session.state is state
    return session


CALLS: dict[str, Callable[[ClientSession], bytes]] = {
    "connect": lambda s: s.connect(),
    "publish": lambda s: s.publish("t", b"x"),
    "publish_qos1": lambda s: s.publish("t", b"x", qos=1),
    "publish_qos2": lambda s: s.publish("t", b"x", qos=2),
    "publish_retained": lambda s: s.publish("t", b"x", retain=True),
    "publish_prefixed": lambda s: s.publish_prefixed(s.topic_prefix("t"), b"x"),
    "publish_prefixed_qos2": lambda s: s.publish_prefixed(s.topic_prefix("t"), b"x", 2),
    "subscribe": lambda s: s.subscribe([("t/#", 1)]),
    "unsubscribe": lambda s: s.unsubscribe(["t/#"]),
    "ping": lambda s: s.ping(),
    "disconnect": lambda s: s.disconnect(),
}
# (call, state) -> the state afterwards, or None when the call is misuse.
CALL_TABLE: dict[tuple[str, SessionState], SessionState | None] = {
    ("connect", NEW): CONNECTING,
    ("connect", CLOSED): CONNECTING,  # a reconnect
    **{(c, CONNECTED): CONNECTED for c in CALLS if c not in ("connect", "disconnect")},
    ("disconnect", CONNECTING): CLOSED,
    ("disconnect", CONNECTED): CLOSED,
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("state", list(SessionState))
@pytest.mark.parametrize("call", list(CALLS))
def test_every_call_in_every_state(call: str, state: SessionState, version: MQTTVersion) -> None:
    session = session_in(state, version)
    after = CALL_TABLE.get((call, state))
    if after is None:
        with pytest.raises(LocalProtocolError, match=state.value):
            CALLS[call](session)
        assert session.state is state
    else:
        data = CALLS[call](session)
        assert decode(data, version) is not None
        assert session.state is after


BROKER_PACKETS: dict[str, Packet] = {
    "connack": ConnAck(),
    "connack_refused": ConnAck(reason_code=0x87),
    "publish_qos0": Publish("t", b"x"),
    "publish_qos1": Publish("t", b"x", qos=1, packet_id=9),
    "publish_qos2": Publish("t", b"x", qos=2, packet_id=9),
    "puback_unknown": PubAck(77),
    "pubrec_unknown": PubRec(77),
    "pubrel_unknown": PubRel(77),
    "pubcomp_unknown": PubComp(77),
    "suback_unknown": SubAck(77, (0,)),
    "unsuback_unknown": UnsubAck(77, (0,)),
    "unsubscribe": Unsubscribe(1, ("t",)),
    "auth": Auth(0x18),
    "pingresp": PingResp(),
    "disconnect": Disconnect(0x8B, Properties(reason_string="bye")),
    "connect": Connect("x", 10),
    "subscribe": Subscribe(1, (Subscription("t"),)),
    "pingreq": PingReq(),
}
_CONNECTED_OK: dict[str, type | None] = {
    "publish_qos0": MessageReceived,
    "publish_qos1": MessageReceived,
    # We may have subscribed at QoS 1 only; the broker picks the QoS of what it sends and
    # we cannot tell which (possibly earlier) subscription matched, so the flow decides.
    "publish_qos2": MessageReceived,
    # Our PUBCOMP may have died with an earlier connection: answered, not an error.
    "pubrel_unknown": None,
    "pingresp": PongReceived,
}


class _Error:
    """Marks a (state, packet) pair that must raise RemoteProtocolError."""


_ERROR = _Error


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("state", list(SessionState))
@pytest.mark.parametrize("name", list(BROKER_PACKETS))
def test_every_broker_packet_in_every_state(
    name: str, state: SessionState, version: MQTTVersion
) -> None:
    session = session_in(state, version)
    packet = BROKER_PACKETS[name]
    if version is V311 and name == "connack_refused":
        packet = ConnAck(reason_code=5)
    if version is V311 and name == "disconnect":
        packet = Disconnect()
    if version is V311 and name == "unsuback_unknown":
        packet = UnsubAck(77)
    # 3.1.1 has no AUTH: type 15 is reserved there, which must fail the same way.
    wire = b"\xf0\x00" if version is V311 and name == "auth" else encode(packet, version)
    if state is CLOSED:
        assert session.receive_data(wire) == []  # bytes in flight when we closed
        assert session.state is CLOSED
        return
    expected: type | None = _ERROR
    if state is CONNECTING and name == "connack":
        expected, after = Connected, CONNECTED
    elif state is CONNECTING and name == "connack_refused":
        with pytest.raises(BrokerRefusedError, match="NOT_AUTHORIZED") as info:
            session.receive_data(wire)
        assert info.value.reason_code == packet.reason_code  # type: ignore[union-attr]
        assert session.state is CLOSED
        return
    elif state is CONNECTED and name in _CONNECTED_OK:
        expected, after = _CONNECTED_OK[name], CONNECTED
    elif state is CONNECTED and name == "disconnect" and version is V5:
        expected, after = ServerDisconnected, CLOSED
    if expected is _ERROR:
        with pytest.raises(RemoteProtocolError, match="client 'dev-1'"):
            session.receive_data(wire)
        assert session.state is CLOSED
        return
    events = session.receive_data(wire)
    assert [type(e) for e in events] == ([] if expected is None else [expected])
    assert session.state is after


@pytest.mark.parametrize("version", VERSIONS)
def test_qos1_publish_flow_tracks_inflight_until_puback(version: MQTTVersion) -> None:
    session = session_in(CONNECTED, version)
    first = decode(session.publish("t", b"a", qos=1), version)
    second = decode(session.publish_prefixed(session.topic_prefix("t"), b"b", qos=1), version)
    assert first is not None
    assert second is not None
    assert first[0] == Publish("t", b"a", qos=1, packet_id=1)
    assert second[0] == Publish("t", b"b", qos=1, packet_id=2)
    assert session.inflight_count == 2
    events = session.receive_data(encode(PubAck(2), version) + encode(PubAck(1), version))
    assert events == [PubAckReceived(2, 0), PubAckReceived(1, 0)]
    assert session.inflight_count == 0
    with pytest.raises(RemoteProtocolError, match="PUBACK for unknown packet id 1"):
        session.receive_data(encode(PubAck(1), version))


def test_receive_maximum_from_connack_limits_inflight() -> None:
    session = sessions.connected(V5, connack=ConnAck(properties=Properties(receive_maximum=2)))
    assert session.receive_maximum == 2
    session.publish("t", b"", qos=1)
    session.publish("t", b"", qos=1)
    with pytest.raises(InflightLimitError, match="receive maximum"):
        session.publish("t", b"", qos=1)
    session.receive_data(encode(PubAck(1), V5))
    session.publish("t", b"", qos=1)  # a slot freed up
    assert session.inflight_count == 2


def test_packet_ids_wrap_and_skip_ids_still_in_flight() -> None:
    session = session_in(CONNECTED)
    session.publish("t", b"", qos=1)  # id 1 stays in flight
    for expected in range(2, 65_536):
        wire = session.publish("t", b"", qos=1)
        assert wire[-3:-1] == expected.to_bytes(2, "big")  # id sits before the property byte
        session.receive_data(encode(PubAck(expected), V5))
    wrapped = decode(session.publish("t", b"", qos=1), V5)
    assert wrapped is not None
    assert wrapped[0] == Publish("t", b"", qos=1, packet_id=2)


@pytest.mark.parametrize("version", VERSIONS)
def test_incoming_qos1_publish_queues_a_puback(version: MQTTVersion) -> None:
    session = session_in(CONNECTED, version)
    two = encode(Publish("a", b"1", qos=1, packet_id=5), version) + encode(
        Publish("b", b"2", qos=1, packet_id=6), version
    )
    events = session.receive_data(two)
    assert [e.publish.topic for e in events if isinstance(e, MessageReceived)] == ["a", "b"]
    assert session.data_to_send() == encode(PubAck(5), version) + encode(PubAck(6), version)
    assert session.data_to_send() == b""


@pytest.mark.parametrize("version", VERSIONS)
def test_subscribe_and_suback(version: MQTTVersion) -> None:
    session = session_in(CONNECTED, version)
    wire = session.subscribe([("$share/ingest/plant/#", 1), ("other/+", 0)])
    assert decode(wire, version) == (
        Subscribe(1, (Subscription("$share/ingest/plant/#", 1), Subscription("other/+", 0))),
        len(wire),
    )
    assert session.receive_data(encode(SubAck(1, (1, 0)), version)) == [Subscribed(1, (1, 0))]
    with pytest.raises(RemoteProtocolError, match="SUBACK for unknown packet id 1"):
        session.receive_data(encode(SubAck(1, (1, 0)), version))


def test_suback_with_the_wrong_number_of_codes_is_a_remote_error() -> None:
    session = session_in(CONNECTED)
    session.subscribe([("a", 0), ("b", 1)])
    with pytest.raises(RemoteProtocolError, match="1 reason codes for 2 topic filters"):
        session.receive_data(encode(SubAck(1, (0,)), V5))


@pytest.mark.parametrize(
    "option",
    [
        Subscription("a", 1, no_local=True),
        Subscription("a", 1, retain_as_published=True),
        Subscription("a", 1, retain_handling=2),
    ],
)
def test_v5_subscription_options_are_refused_on_311(option: Subscription) -> None:
    v311 = session_in(CONNECTED, V311)
    with pytest.raises(LocalProtocolError, match=r"client 'dev-1': SUBSCRIBE 1: .*need MQTT 5"):
        v311.subscribe([option])


def test_v5_subscription_options_go_out_on_5() -> None:
    session = session_in(CONNECTED, V5)
    subs = (Subscription("a/#", 2, no_local=True, retain_as_published=True, retain_handling=1),)
    wire = session.subscribe(subs)
    assert decode(wire, V5) == (Subscribe(1, subs), len(wire))


def test_publish_misuse_is_local_and_names_the_client() -> None:
    session = session_in(CONNECTED, V311)
    with pytest.raises(LocalProtocolError, match="client 'dev-1': PUBLISH QoS must be 0, 1 or 2"):
        session.publish("a", b"", qos=3)
    with pytest.raises(LocalProtocolError, match="client 'dev-1': PUBLISH to 'a/\\+'"):
        session.publish("a/+", b"")
    with pytest.raises(LocalProtocolError, match=r"client 'dev-1': PUBLISH to 'a': .*need MQTT 5"):
        session.publish("a", b"", properties=Properties(content_type="x"))


def test_partial_packets_are_kept_until_complete() -> None:
    session = session_in(CONNECTED)
    wire = encode(Publish("t", b"payload"), V5) + encode(PingResp(), V5)
    assert session.receive_data(wire[:5]) == []
    assert session.receive_data(wire[5:-1]) == [MessageReceived(Publish("t", b"payload"))]
    assert session.receive_data(wire[-1:]) == [PongReceived()]


def test_connack_failure_on_311_names_the_return_code() -> None:
    session = session_in(CONNECTING, V311)
    with pytest.raises(BrokerRefusedError, match="BAD_USER_NAME_OR_PASSWORD \\(0x04\\)"):
        session.receive_data(encode(ConnAck(reason_code=4), V311))


def test_connect_carries_the_credentials() -> None:
    session = ClientSession("dev-1", V311, 30, clean_start=False, username="u", password=b"p")
    wire = session.connect()
    assert decode(wire, V311) == (Connect("dev-1", 30, False, "u", b"p"), len(wire))


def test_server_keep_alive_overrides_ours_and_drives_keepalive_decisions() -> None:
    session = session_in(CONNECTING)
    session.receive_data(encode(ConnAck(properties=Properties(server_keep_alive=10)), V5))
    assert session.keepalive == 10
    assert session.ping_interval == 5.0
    assert not session.keepalive_expired(now=114.9, last_received=100.0)
    assert session.keepalive_expired(now=115.0, last_received=100.0)


def test_keepalive_zero_never_pings() -> None:
    session = ClientSession("dev-1", V5, 0)
    assert session.ping_interval == 0
    assert not session.keepalive_expired(now=1e9, last_received=0.0)
    with pytest.raises(LocalProtocolError, match="keepalive"):
        ClientSession("dev-1", V5, 70_000)


def test_connection_lost_closes_and_forgets_inflight() -> None:
    session = session_in(CONNECTED)
    session.publish("t", b"", qos=1)
    session.connection_lost()
    assert session.state is CLOSED
    assert session.inflight_count == 0


_EMPTY = b""


def _shared(value: object) -> bool:
    """True for values every session shares rather than owns."""
    if value is None or value is _EMPTY or isinstance(value, Enum | bool):
        return True
    if value is DEFAULT_OPTIONS or value is DEFAULT_LIMITS:
        return True
    return isinstance(value, int) and (-5 <= value <= 256 or value is DEFAULT_RECEIVE_MAXIMUM)


def test_an_idle_connected_session_is_small() -> None:
    client_id = "dev-000001"
    session = ClientSession(client_id, V5, 60)
    session.connect()
    session.receive_data(encode(ConnAck(), V5))
    session.publish("t", b"x", qos=1)
    session.receive_data(encode(PubAck(1), V5))
    owned = [
        getattr(session, slot)
        for slot in ClientSession.__slots__
        if getattr(session, slot) is not client_id and not _shared(getattr(session, slot))
    ]
    assert owned == []  # everything else is shared: None, b"", enums, cached ints
    assert sys.getsizeof(session) + sys.getsizeof(client_id) < 200
