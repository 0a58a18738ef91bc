"""MQTT 5 through the session: will, publish properties, topic aliases, limits, reason codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import (
    BrokerRefusedError,
    LocalProtocolError,
    PacketTooLargeError,
    RemoteProtocolError,
)
from simulator.mqtt import (
    ClientSession,
    ConnAck,
    Connect,
    ConnectOptions,
    Disconnect,
    MessageReceived,
    MQTTVersion,
    Properties,
    PubAck,
    PubAckReceived,
    Publish,
    ServerDisconnected,
    SessionState,
    SubAck,
    Subscribed,
    UnsubAck,
    Unsubscribe,
    Unsubscribed,
    Will,
    decode,
    encode,
)
from tests.unit.mqtt import sessions
from tests.unit.mqtt.versions import V5, V311

LONG_TOPIC = "factory/site-01/line-03/cell-07/ms-000042/telemetry"


def connected(
    version: MQTTVersion = V5, options: ConnectOptions | None = None, **connack: object
) -> ClientSession:
    props = Properties(**connack)  # type: ignore[arg-type]
    return sessions.connected(version, options, ConnAck(properties=props))


def test_connect_carries_will_session_expiry_and_limits() -> None:
    will = Will("dev-1/status", b"gone", 1, True, Properties(will_delay_interval=30))
    options = ConnectOptions(
        will=will,
        session_expiry_interval=600,
        receive_maximum=10,
        maximum_packet_size=4096,
        topic_alias_maximum=5,
        user_properties=(("site", "01"),),
    )
    wire = ClientSession("dev-1", V5, 30, username="u", password=b"p", options=options).connect()
    props = Properties(
        session_expiry_interval=600,
        receive_maximum=10,
        maximum_packet_size=4096,
        topic_alias_maximum=5,
        user_properties=(("site", "01"),),
    )
    assert decode(wire, V5) == (Connect("dev-1", 30, True, "u", b"p", will, props), len(wire))


def test_a_311_will_without_properties_goes_out() -> None:
    will = Will("dev-1/status", b"gone", 2, True)
    wire = ClientSession("dev-1", V311, 30, options=ConnectOptions(will=will)).connect()
    assert decode(wire, V311) == (Connect("dev-1", 30, will=will), len(wire))


@pytest.mark.parametrize(
    "options",
    [
        ConnectOptions(session_expiry_interval=1),
        ConnectOptions(topic_aliases=True),
        ConnectOptions(will=Will("t", b"", properties=Properties(will_delay_interval=5))),
        ConnectOptions(user_properties=(("a", "b"),)),
    ],
)
def test_v5_options_are_refused_on_311(options: ConnectOptions) -> None:
    with pytest.raises(LocalProtocolError, match=r"client 'dev-1': .*need MQTT 5"):
        ClientSession("dev-1", V311, 30, options=options)


def test_publish_properties_go_out() -> None:
    session = connected()
    props = Properties(
        message_expiry_interval=60,
        content_type="application/msgpack",
        response_topic="dev-1/reply",
        correlation_data=b"\x01\x02",
        user_properties=(("unit", "C"),),
    )
    wire = session.publish("t", b"x", qos=1, retain=True, properties=props)
    assert decode(wire, V5) == (Publish("t", b"x", 1, True, False, 1, props), len(wire))
    with pytest.raises(LocalProtocolError, match="topic aliases are the session's"):
        session.publish("t", b"x", properties=Properties(topic_alias=1))


def test_retain_is_refused_when_the_broker_has_none() -> None:
    session = connected(retain_available=0)
    with pytest.raises(LocalProtocolError, match="broker has no retain"):
        session.publish_prefixed(session.topic_prefix("t"), b"", retain=True)


def test_inbound_retain_flag_reaches_the_event() -> None:
    session = connected()
    message = Publish("t", b"x", retain=True)
    assert session.receive_data(encode(message, V5)) == [MessageReceived(message)]


ALIASING = ConnectOptions(topic_aliases=True)


@given(payloads=st.lists(st.binary(max_size=40), min_size=1, max_size=4), qos=st.integers(0, 2))
def test_aliased_hot_path_matches_the_general_encoder(payloads: list[bytes], qos: int) -> None:
    session = connected(options=ALIASING, topic_alias_maximum=2)
    prefix = session.topic_prefix(LONG_TOPIC)
    for index, payload in enumerate(payloads):
        wire = session.publish_prefixed(prefix, payload, qos)
        topic = LONG_TOPIC if index == 0 else ""
        expected = Publish(
            topic,
            payload,
            qos,
            packet_id=index + 1 if qos else None,
            properties=Properties(topic_alias=1),
        )
        assert wire == encode(expected, V5)


def test_aliases_are_shared_by_both_paths_and_run_out() -> None:
    session = connected(options=ALIASING, topic_alias_maximum=1)
    first = session.publish("a/b", b"1")
    assert decode(first, V5) == (
        Publish("a/b", b"1", properties=Properties(topic_alias=1)),
        len(first),
    )
    second = session.publish_prefixed(session.topic_prefix("a/b"), b"2")
    assert decode(second, V5) == (
        Publish("", b"2", properties=Properties(topic_alias=1)),
        len(second),
    )
    third = session.publish("c", b"3")  # no alias left: the topic goes in full
    assert decode(third, V5) == (Publish("c", b"3"), len(third))
    assert len(second) < len(first)


def test_no_aliases_without_the_brokers_maximum() -> None:
    session = connected(options=ALIASING)
    wire = session.publish_prefixed(session.topic_prefix("a"), b"1")
    assert decode(wire, V5) == (Publish("a", b"1"), len(wire))


def test_aliases_restart_on_a_new_connection_and_resends_carry_the_topic() -> None:
    options = ConnectOptions(topic_aliases=True, session_expiry_interval=60)
    session = connected(options=options, topic_alias_maximum=5)
    prefix = session.topic_prefix("a")
    session.publish_prefixed(prefix, b"1")
    session.publish_prefixed(prefix, b"2", qos=1)  # sent with the alias only
    session.connection_lost()
    session.connect()
    session.receive_data(encode(ConnAck(True, properties=Properties(topic_alias_maximum=5)), V5))
    resent = session.data_to_send()
    assert decode(resent, V5) == (Publish("a", b"2", 1, dup=True, packet_id=1), len(resent))
    again = session.publish_prefixed(prefix, b"3")
    assert decode(again, V5) == (
        Publish("a", b"3", properties=Properties(topic_alias=1)),
        len(again),
    )


def test_inbound_aliases_resolve_and_unknown_ones_are_remote_errors() -> None:
    session = connected(options=ConnectOptions(topic_alias_maximum=2))
    first = Publish("plant/x", b"1", properties=Properties(topic_alias=2))
    session.receive_data(encode(first, V5))
    [event] = session.receive_data(
        encode(Publish("", b"2", properties=Properties(topic_alias=2)), V5)
    )
    assert isinstance(event, MessageReceived)
    assert event.publish.topic == "plant/x"
    with pytest.raises(RemoteProtocolError, match="PUBLISH: topic alias 1 was never set"):
        session.receive_data(encode(Publish("", b"", properties=Properties(topic_alias=1)), V5))


def test_an_alias_beyond_our_maximum_is_a_remote_error() -> None:
    session = connected()
    message = Publish("t", b"", qos=1, packet_id=3, properties=Properties(topic_alias=1))
    with pytest.raises(RemoteProtocolError, match="PUBLISH 3: topic alias 1 exceeds our"):
        session.receive_data(encode(message, V5))


def test_the_brokers_maximum_packet_size_is_enforced_before_sending() -> None:
    session = connected(maximum_packet_size=64)
    session.publish("t", bytes(50))
    with pytest.raises(
        PacketTooLargeError,
        match="PUBLISH of 65 bytes exceeds the broker's maximum packet size of 64",
    ):
        session.publish_prefixed(session.topic_prefix("t"), bytes(59))
    with pytest.raises(PacketTooLargeError, match="PUBLISH 1 of 67 bytes"):
        session.publish("t", bytes(59), qos=1)
    assert session.inflight_count == 0  # nothing was sent, nothing is in flight


def test_our_maximum_packet_size_is_enforced_on_receipt() -> None:
    session = connected(options=ConnectOptions(maximum_packet_size=32))
    with pytest.raises(RemoteProtocolError, match="PUBLISH packet of 37 bytes exceeds"):
        session.receive_data(encode(Publish("t", bytes(31)), V5))


def test_reason_codes_and_strings_reach_events() -> None:
    session = connected()
    session.publish("t", b"", qos=1)
    session.subscribe([("a", 1)])
    session.unsubscribe(["a", "b"])
    acks = (
        encode(PubAck(1, 0x10, Properties(reason_string="nobody")), V5)
        + encode(SubAck(2, (0x87,), Properties(reason_string="acl")), V5)
        + encode(UnsubAck(3, (0, 0x11)), V5)
    )
    assert session.receive_data(acks) == [
        PubAckReceived(1, 0x10, "nobody"),
        Subscribed(2, (0x87,), "acl"),
        Unsubscribed(3, (0, 0x11)),
    ]


def test_unsubscribe_on_311_and_its_empty_unsuback() -> None:
    session = connected(V311)
    wire = session.unsubscribe(["a/#"])
    assert decode(wire, V311) == (Unsubscribe(1, ("a/#",)), len(wire))
    assert session.receive_data(encode(UnsubAck(1), V311)) == [Unsubscribed(1, ())]


def test_an_unsuback_with_the_wrong_count_is_a_remote_error() -> None:
    session = connected()
    session.unsubscribe(["a", "b"])
    with pytest.raises(RemoteProtocolError, match="UNSUBACK 1 has 1 reason codes for 2"):
        session.receive_data(encode(UnsubAck(1, (0,)), V5))


def test_connack_refusal_names_code_and_reason_string() -> None:
    session = ClientSession("dev-1", V5, 60)
    session.connect()
    refusal = ConnAck(reason_code=0x86, properties=Properties(reason_string="bad password"))
    with pytest.raises(
        BrokerRefusedError,
        match="client 'dev-1': BAD_USER_NAME_OR_PASSWORD \\(0x86\\): bad password",
    ) as info:
        session.receive_data(encode(refusal, V5))
    assert info.value.reason_code == 0x86


def test_server_disconnect_surfaces_its_reason() -> None:
    session = connected()
    bye = Disconnect(0x8E, Properties(reason_string="taken over"))
    assert session.receive_data(encode(bye, V5)) == [ServerDisconnected(0x8E, "taken over")]
    assert session.state is SessionState.CLOSED


def test_server_keep_alive_replaces_ours_for_this_connection_only() -> None:
    session = connected(server_keep_alive=5)
    assert session.keepalive == 5
    session.connection_lost()
    wire = session.connect()
    assert decode(wire, V5) == (Connect("dev-1", 60), len(wire))  # we ask for ours again
