"""Byte-for-byte agreement with the independent ``mqtt5`` codec (Rust; MQTT 5.0 only).

Each strategy draws one of our packets together with the equivalent ``mqtt5`` packet.
``mqtt5`` leaves a property out when it equals the spec default (receive maximum 65535,
retain available, ...), so our side never sets a property to its default here.
"""

from __future__ import annotations

from typing import Any

import mqtt5
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.mqtt import (
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PingResp,
    Properties,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    ReasonCode,
    SubAck,
    Subscribe,
    UnsubAck,
    Unsubscribe,
    decode,
    encode,
)
from simulator.mqtt.primitives import MAX_VARINT
from tests.unit.mqtt.mqtt_strategies import packet_ids, subscriptions, texts, topic_filters, topics
from tests.unit.mqtt.versions import V5

user_props = st.lists(st.tuples(texts, texts), max_size=2)
u32 = st.integers(1, 0xFFFF_FFFF)
Pair = tuple[Packet, Any]

# mqtt5's keyword arguments that name a property differently from ours.
_OUR_NAMES = {
    "reason_str": "reason_string",
    "assigned_client_id": "assigned_client_identifier",
    "max_packet_size": "maximum_packet_size",
}


def _ours(theirs: dict[str, Any], **more: Any) -> Properties:
    """Our properties for mqtt5's keyword arguments ``theirs`` (its names, user properties as
    a list), with ``more`` that mqtt5 takes in another form."""
    kw = {_OUR_NAMES.get(name, name): value for name, value in theirs.items()}
    kw["user_properties"] = tuple(kw.get("user_properties", ()))
    return Properties(**kw, **more)


def _reason_and_users(draw: st.DrawFn) -> dict[str, Any]:
    """A reason string or none, and user properties, as mqtt5's keyword arguments."""
    return {"reason_str": draw(_opt(texts)), "user_properties": draw(user_props)}


def _codes(kind: Any) -> st.SearchStrategy[Any]:
    """mqtt5's reason codes of one kind (its enums cannot be iterated, so probe ours)."""
    found = []
    for code in sorted({int(c) for c in ReasonCode}):
        try:
            found.append(kind(code))
        except ValueError:
            continue
    assert found
    return st.sampled_from(found)


def _opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def publish_pairs(draw: st.DrawFn) -> Pair:
    topic, payload = draw(topics), draw(st.binary(max_size=200))
    qos, retain = draw(st.integers(0, 2)), draw(st.booleans())
    packet_id = draw(packet_ids) if qos else None
    dup = draw(st.booleans()) and qos > 0
    kw = {
        "payload_format_indicator": draw(_opt(st.just(1))),
        "message_expiry_interval": draw(_opt(u32)),
        "content_type": draw(_opt(texts)),
        "response_topic": draw(_opt(topics)),
        "correlation_data": draw(_opt(st.binary(max_size=8))),
        "topic_alias": draw(_opt(st.integers(1, 0xFFFF))),
        "user_properties": draw(user_props),
    }
    sub_ids = draw(st.lists(st.integers(1, MAX_VARINT), max_size=2))
    props = _ours(kw, subscription_identifiers=tuple(sub_ids))
    ours = Publish(topic, payload, qos, retain, dup, packet_id, props)
    kw["payload_format_indicator"] = kw["payload_format_indicator"] or 0
    theirs = mqtt5.PublishPacket(
        topic,
        payload,
        qos=mqtt5.QoS(qos),
        retain=retain,
        packet_id=packet_id,
        duplicate=dup,
        subscription_ids=sub_ids,
        **kw,
    )
    return ours, theirs


@st.composite
def connect_pairs(draw: st.DrawFn) -> Pair:
    client_id, keepalive, clean = draw(texts), draw(st.integers(0, 0xFFFF)), draw(st.booleans())
    username, password = draw(_opt(texts)), draw(_opt(st.binary(max_size=8)))
    session_expiry = draw(_opt(u32))
    receive_max = draw(_opt(st.integers(1, 0xFFFE)))
    alias_max = draw(_opt(st.integers(1, 0xFFFF)))
    max_packet = draw(_opt(u32))
    problem_info = draw(_opt(st.just(0)))
    response_info = draw(_opt(st.just(1)))
    users = draw(user_props)
    props = Properties(
        session_expiry_interval=session_expiry,
        receive_maximum=receive_max,
        topic_alias_maximum=alias_max,
        maximum_packet_size=max_packet,
        request_problem_information=problem_info,
        request_response_information=response_info,
        user_properties=tuple(users),
    )
    ours = Connect(client_id, keepalive, clean, username, password, None, props)
    theirs = mqtt5.ConnectPacket(
        client_id,
        username=username,
        password=password,
        clean_start=clean,
        keep_alive=keepalive,
        session_expiry_interval=session_expiry or 0,
        receive_max=receive_max or 0xFFFF,
        topic_alias_max=alias_max or 0,
        max_packet_size=max_packet,
        request_problem_info=problem_info is None,
        request_response_info=response_info == 1,
        user_properties=users,
    )
    return ours, theirs


@st.composite
def connack_pairs(draw: st.DrawFn) -> Pair:
    present = draw(st.booleans())
    code = draw(_codes(mqtt5.ConnAckReasonCode))
    kw = {
        "session_expiry_interval": draw(_opt(u32)),
        "assigned_client_id": draw(_opt(texts)),
        "server_keep_alive": draw(_opt(st.integers(0, 0xFFFF))),
        "max_packet_size": draw(_opt(u32)),
        **_reason_and_users(draw),
    }
    receive_max = draw(_opt(st.integers(1, 0xFFFE)))
    max_qos = draw(_opt(st.integers(0, 1)))
    retain = draw(_opt(st.just(0)))
    wildcard = draw(_opt(st.just(0)))
    props = _ours(
        kw,
        receive_maximum=receive_max,
        maximum_qos=max_qos,
        retain_available=retain,
        wildcard_subscription_available=wildcard,
    )
    theirs = mqtt5.ConnAckPacket(
        session_present=present,
        reason_code=code,
        receive_max=receive_max or 0xFFFF,
        max_qos=mqtt5.QoS(2 if max_qos is None else max_qos),
        retain_available=retain is None,
        wildcard_subscription_available=wildcard is None,
        **kw,
    )
    return ConnAck(present, int(code), props), theirs


@st.composite
def ack_pairs(draw: st.DrawFn) -> Pair:
    packet_id = draw(packet_ids)
    kw = _reason_and_users(draw)
    if draw(st.booleans()):
        code = draw(_codes(mqtt5.PubAckReasonCode))
        puback = mqtt5.PubAckPacket(packet_id, reason_code=code, **kw)
        return PubAck(packet_id, int(code), _ours(kw)), puback
    codes = draw(st.lists(_codes(mqtt5.SubAckReasonCode), min_size=1, max_size=3))
    suback = mqtt5.SubAckPacket(packet_id, codes, **kw)
    return SubAck(packet_id, tuple(int(c) for c in codes), _ours(kw)), suback


_QOS2_ACKS: list[tuple[type[PubRec | PubRel | PubComp], Any, Any]] = [
    (PubRec, mqtt5.PubRecPacket, mqtt5.PubRecReasonCode),
    (PubRel, mqtt5.PubRelPacket, mqtt5.PubRelReasonCode),
    (PubComp, mqtt5.PubCompPacket, mqtt5.PubCompReasonCode),
]


@st.composite
def qos2_ack_pairs(draw: st.DrawFn) -> Pair:
    ours_cls, theirs_cls, codes = draw(st.sampled_from(_QOS2_ACKS))
    packet_id = draw(packet_ids)
    code = draw(_codes(codes))
    kw = _reason_and_users(draw)
    theirs = theirs_cls(packet_id, reason_code=code, **kw)
    return ours_cls(packet_id, int(code), _ours(kw)), theirs


@st.composite
def unsubscribe_pairs(draw: st.DrawFn) -> Pair:
    packet_id = draw(packet_ids)
    if draw(st.booleans()):
        filters = draw(st.lists(topic_filters, min_size=1, max_size=3))
        users = draw(user_props)
        theirs = mqtt5.UnsubscribePacket(packet_id, filters, user_properties=users)
        return Unsubscribe(packet_id, tuple(filters), _ours({"user_properties": users})), theirs
    codes = draw(st.lists(_codes(mqtt5.UnsubAckReasonCode), min_size=1, max_size=3))
    kw = _reason_and_users(draw)
    unsuback = mqtt5.UnsubAckPacket(packet_id, codes, **kw)
    return UnsubAck(packet_id, tuple(int(c) for c in codes), _ours(kw)), unsuback


@st.composite
def auth_pairs(draw: st.DrawFn) -> Pair:
    code = draw(_codes(mqtt5.AuthReasonCode))
    kw = {
        "authentication_method": draw(_opt(texts)),
        "authentication_data": draw(_opt(st.binary(max_size=8))),
        **_reason_and_users(draw),
    }
    return Auth(int(code), _ours(kw)), mqtt5.AuthPacket(reason_code=code, **kw)


@st.composite
def subscribe_pairs(draw: st.DrawFn) -> Pair:
    packet_id = draw(packet_ids)
    subs = draw(st.lists(subscriptions(V5), min_size=1, max_size=3))
    sub_id = draw(_opt(st.integers(1, MAX_VARINT)))
    users = draw(user_props)
    filters = [
        mqtt5.TopicFilter(
            s.topic_filter,
            max_qos=mqtt5.QoS(s.qos),
            no_local=s.no_local,
            retain_as_published=s.retain_as_published,
            retain_handling=mqtt5.RetainHandling(s.retain_handling),
        )
        for s in subs
    ]
    props = Properties(
        subscription_identifiers=() if sub_id is None else (sub_id,), user_properties=tuple(users)
    )
    theirs = mqtt5.SubscribePacket(
        packet_id, filters, subscription_id=sub_id, user_properties=users
    )
    return Subscribe(packet_id, tuple(subs), props), theirs


@st.composite
def disconnect_pairs(draw: st.DrawFn) -> Pair:
    code = draw(_codes(mqtt5.DisconnectReasonCode))
    kw = {
        "session_expiry_interval": draw(_opt(u32)),
        "server_reference": draw(_opt(texts)),
        **_reason_and_users(draw),
    }
    return Disconnect(int(code), _ours(kw)), mqtt5.DisconnectPacket(reason_code=code, **kw)


pairs = st.one_of(
    publish_pairs(),
    connect_pairs(),
    connack_pairs(),
    ack_pairs(),
    qos2_ack_pairs(),
    unsubscribe_pairs(),
    auth_pairs(),
    subscribe_pairs(),
    disconnect_pairs(),
    st.just((PingReq(), mqtt5.PingReqPacket())),
    st.just((PingResp(), mqtt5.PingRespPacket())),
)


@given(pairs)
def test_we_write_the_same_bytes_as_mqtt5(pair: Pair) -> None:
    ours, theirs = pair
    assert encode(ours, V5) == theirs.write()


@given(pairs)
def test_we_read_what_mqtt5_writes(pair: Pair) -> None:
    ours, theirs = pair
    wire = theirs.write()
    decoded = decode(wire, V5)
    assert decoded is not None
    # mqtt5 drops an all-default property block, which we read back as the shared empty one.
    assert decoded == (ours, len(wire))


@given(pairs)
def test_mqtt5_reads_what_we_write(pair: Pair) -> None:
    ours, theirs = pair
    wire = encode(ours, V5)
    assert mqtt5.read(memoryview(wire)) == (theirs, len(wire))


@pytest.mark.parametrize("size", [0, 127, 128, 16_383, 16_384, 100_000])
def test_large_publishes_agree(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    theirs = mqtt5.PublishPacket("big/topic", payload).write()
    assert encode(Publish("big/topic", payload), V5) == theirs
    assert decode(theirs, V5) == (Publish("big/topic", payload), len(theirs))
