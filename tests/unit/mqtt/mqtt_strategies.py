"""Hypothesis strategies for valid MQTT packets of either version."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from simulator.mqtt import (
    NO_PROPERTIES,
    PROPERTY_TABLE,
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    MQTTVersion,
    Packet,
    PacketType,
    PingReq,
    PingResp,
    Properties,
    PropertyType,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
)
from simulator.mqtt.primitives import MAX_VARINT
from simulator.mqtt.properties import WILL_PROPERTIES

texts = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12)
topics = texts.filter(lambda t: t and "+" not in t and "#" not in t)
topic_filters = st.builds(
    lambda levels, tail: "/".join([*levels, *tail]),
    st.lists(topics | st.just("+") | st.just(""), min_size=1, max_size=3),
    st.lists(st.just("#"), max_size=1),
).filter(bool)
packet_ids = st.integers(1, 0xFFFF)
payloads = st.binary(max_size=300)

_NONZERO = {"receive_maximum", "topic_alias", "maximum_packet_size"}


def _value(kind: PropertyType, name: str) -> st.SearchStrategy[Any]:
    low = 1 if name in _NONZERO else 0
    return {
        PropertyType.BYTE: st.integers(0, 1),
        PropertyType.TWO_BYTE: st.integers(low, 0xFFFF),
        PropertyType.FOUR_BYTE: st.integers(low, 0xFFFF_FFFF),
        PropertyType.VARINT: st.integers(1, MAX_VARINT),
        PropertyType.STRING: texts,
        PropertyType.BINARY: st.binary(max_size=16),
        PropertyType.STRING_PAIR: st.tuples(texts, texts),
    }[kind]


def properties(context: int) -> st.SearchStrategy[Properties]:
    """Any valid property set for ``context`` (a packet type or the will)."""
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for spec in PROPERTY_TABLE:
        if context not in spec.contexts:
            continue
        value = _value(spec.kind, spec.name)
        if spec.repeatable:
            optional[spec.name] = st.lists(value, min_size=1, max_size=3).map(tuple)
        else:
            optional[spec.name] = value
    return st.fixed_dictionaries({}, optional=optional).map(lambda d: Properties(**d))


def _props(version: MQTTVersion, context: int) -> st.SearchStrategy[Properties]:
    return properties(context) if version is MQTTVersion.V5 else st.just(NO_PROPERTIES)


def publishes(version: MQTTVersion) -> st.SearchStrategy[Publish]:
    """Valid PUBLISH packets (QoS 0 to 2) for ``version``."""

    def build(qos: int, pid: int, dup: bool, **kw: Any) -> Publish:
        return Publish(qos=qos, packet_id=pid if qos else None, dup=dup and qos > 0, **kw)

    return st.builds(
        build,
        qos=st.integers(0, 2),
        pid=packet_ids,
        dup=st.booleans(),
        topic=topics,
        payload=payloads,
        retain=st.booleans(),
        properties=_props(version, PacketType.PUBLISH),
    )


def wills(version: MQTTVersion) -> st.SearchStrategy[Will]:
    """Valid will messages for ``version``."""
    return st.builds(
        Will,
        topic=topics,
        payload=st.binary(max_size=20),
        qos=st.integers(0, 2),
        retain=st.booleans(),
        properties=_props(version, WILL_PROPERTIES),
    )


def connects(version: MQTTVersion) -> st.SearchStrategy[Connect]:
    """Valid CONNECT packets for ``version``."""

    def build(username: str | None, password: bytes | None, **kw: Any) -> Connect:
        if version is MQTTVersion.V311 and username is None:
            password = None
        return Connect(username=username, password=password, **kw)

    return st.builds(
        build,
        client_id=texts,
        keepalive=st.integers(0, 0xFFFF),
        clean_start=st.booleans(),
        username=st.none() | texts,
        password=st.none() | st.binary(max_size=20),
        will=st.none() | wills(version),
        properties=_props(version, PacketType.CONNECT),
    )


def subscriptions(version: MQTTVersion) -> st.SearchStrategy[Subscription]:
    """Valid subscription entries for ``version``."""
    if version is MQTTVersion.V311:
        return st.builds(Subscription, topic_filter=topic_filters, qos=st.integers(0, 2))
    return st.builds(
        Subscription,
        topic_filter=topic_filters,
        qos=st.integers(0, 2),
        no_local=st.booleans(),
        retain_as_published=st.booleans(),
        retain_handling=st.integers(0, 2),
    )


def packets(version: MQTTVersion) -> st.SearchStrategy[Packet]:
    """Any packet this codec supports, valid for ``version``."""
    v5 = version is MQTTVersion.V5
    reason = st.integers(0, 255) if v5 else st.just(0)
    suback_codes = st.integers(0, 255) if v5 else st.sampled_from([0, 1, 2, 0x80])
    acks = [
        st.builds(
            kind,
            packet_id=packet_ids,
            reason_code=reason,
            properties=_props(version, kind.packet_type),
        )
        for kind in (PubAck, PubRec, PubRel, PubComp)
    ]
    unsuback_codes = (
        st.lists(st.integers(0, 255), min_size=1, max_size=4).map(tuple) if v5 else st.just(())
    )
    v5_only = (
        [st.builds(Auth, reason_code=reason, properties=_props(version, PacketType.AUTH))]
        if v5
        else []
    )
    return st.one_of(
        *acks,
        *v5_only,
        st.builds(
            Unsubscribe,
            packet_id=packet_ids,
            topic_filters=st.lists(topic_filters, min_size=1, max_size=4).map(tuple),
            properties=_props(version, PacketType.UNSUBSCRIBE),
        ),
        st.builds(
            UnsubAck,
            packet_id=packet_ids,
            reason_codes=unsuback_codes,
            properties=_props(version, PacketType.UNSUBACK),
        ),
        connects(version),
        st.builds(
            ConnAck,
            session_present=st.booleans(),
            reason_code=st.integers(0, 255) if v5 else st.integers(0, 5),
            properties=_props(version, PacketType.CONNACK),
        ),
        publishes(version),
        st.builds(
            Subscribe,
            packet_id=packet_ids,
            subscriptions=st.lists(subscriptions(version), min_size=1, max_size=4).map(tuple),
            properties=_props(version, PacketType.SUBSCRIBE),
        ),
        st.builds(
            SubAck,
            packet_id=packet_ids,
            reason_codes=st.lists(suback_codes, min_size=1, max_size=4).map(tuple),
            properties=_props(version, PacketType.SUBACK),
        ),
        st.just(PingReq()),
        st.just(PingResp()),
        st.builds(
            Disconnect, reason_code=reason, properties=_props(version, PacketType.DISCONNECT)
        ),
    )
