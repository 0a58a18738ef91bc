"""Packets to bytes: the general :func:`encode` and the pieces of the PUBLISH hot path.

Every check here guards what *we* send, so failures are :class:`LocalProtocolError`.
A device publishes the same topic for its whole life, so :func:`publish_prefix` encodes
the topic once, and the session's
:meth:`~simulator.mqtt.session.ClientSession.publish_prefixed` only glues bytes together
per message: no dataclass, no string encoding, no property walk. The session is the one
place that frames a message from a prefix (it applies the topic alias and the broker's
limits), so the helpers below take parts it has already decided on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import LocalProtocolError
from . import packets
from .packet_type import PacketType
from .primitives import (
    MAX_VARINT,
    encode_binary,
    encode_string,
    encode_u16,
    encode_varint,
    topic_filter_problem,
)
from .properties import NO_PROPERTIES, WILL_PROPERTIES, Properties, encode_properties
from .version import MQTTVersion

_PROTOCOL_NAME = encode_string("MQTT")
_V5 = MQTTVersion.V5
_V311_SUBACK_CODES = frozenset({0, 1, 2, 0x80})
_PUBLISH = packets.Publish  # one lookup on the publish path


def fixed_header(first: int, size: int) -> bytes:
    """A packet's first byte and its remaining length ``size`` as a variable byte integer."""
    if size < 128:
        return bytes((first, size))
    if size < 16384:
        return bytes((first, (size & 0x7F) | 0x80, size >> 7))
    if size > MAX_VARINT:
        raise LocalProtocolError(f"packet body of {size} bytes exceeds the MQTT maximum")
    return bytes((first,)) + encode_varint(size)


def _is_empty(props: Properties) -> bool:
    return props is NO_PROPERTIES or props == NO_PROPERTIES


def _props(props: Properties, version: MQTTVersion, context: int, what: str) -> bytes:
    if version is MQTTVersion.V5:
        return encode_properties(props, context)
    if not _is_empty(props):
        raise LocalProtocolError(f"{what} properties need MQTT 5; this connection is 3.1.1")
    return b""


def _packet_id(packet_id: int | None, what: str) -> bytes:
    if packet_id is None or not 1 <= packet_id <= 0xFFFF:
        raise LocalProtocolError(f"{what} needs a packet id in 1..65535, got {packet_id}")
    return bytes((packet_id >> 8, packet_id & 0xFF))


def _byte(value: int, what: str) -> bytes:
    if not 0 <= value <= 0xFF:
        raise LocalProtocolError(f"{what} must be in 0..255, got {value}")
    return bytes((value,))


def _qos(qos: int, what: str) -> int:
    if qos not in (0, 1, 2):
        raise LocalProtocolError(f"{what} QoS must be 0, 1 or 2, got {qos}")
    return qos


def _topic_name(topic: str, version: MQTTVersion, props: Properties) -> bytes:
    if "+" in topic or "#" in topic:
        raise LocalProtocolError(f"a topic name must not contain wildcards: {topic!r}")
    # An empty topic is legal only in 5.0, when a topic alias stands in for it.
    if not topic and (version is MQTTVersion.V311 or props.topic_alias is None):
        raise LocalProtocolError("a topic name must not be empty")
    return encode_string(topic)


def _topic_filter(topic_filter: str) -> bytes:
    problem = topic_filter_problem(topic_filter)
    if problem is not None:
        raise LocalProtocolError(problem)
    return encode_string(topic_filter)


def _encode_will(will: packets.Will, version: MQTTVersion) -> bytes:
    _qos(will.qos, "will")
    return b"".join(
        (
            _props(will.properties, version, WILL_PROPERTIES, "will"),
            _topic_name(will.topic, version, will.properties),
            encode_binary(will.payload),
        )
    )


def _connect(p: packets.Connect, version: MQTTVersion) -> bytes:
    flags = 0x02 if p.clean_start else 0
    if p.will is not None:
        flags |= 0x04 | (_qos(p.will.qos, "will") << 3) | (0x20 if p.will.retain else 0)
    if p.username is not None:
        flags |= 0x80
    if p.password is not None:
        if version is MQTTVersion.V311 and p.username is None:
            raise LocalProtocolError("MQTT 3.1.1 does not allow a password without a username")
        flags |= 0x40
    parts = [
        _PROTOCOL_NAME,
        bytes((version, flags)),
        encode_u16(p.keepalive),
        _props(p.properties, version, PacketType.CONNECT, "CONNECT"),
        encode_string(p.client_id),
    ]
    if p.will is not None:
        parts.append(_encode_will(p.will, version))
    if p.username is not None:
        parts.append(encode_string(p.username))
    if p.password is not None:
        parts.append(encode_binary(p.password))
    return b"".join(parts)


def _connack(p: packets.ConnAck, version: MQTTVersion) -> bytes:
    if version is MQTTVersion.V311 and not 0 <= p.reason_code <= 5:
        raise LocalProtocolError(f"a 3.1.1 CONNACK return code is 0..5, got {p.reason_code}")
    flags = b"\x01" if p.session_present else b"\x00"
    reason = _byte(p.reason_code, "CONNACK reason code")
    return flags + reason + _props(p.properties, version, PacketType.CONNACK, "CONNACK")


def _publish(p: packets.Publish, version: MQTTVersion) -> bytes:
    qos = _qos(p.qos, "PUBLISH")
    parts = [_topic_name(p.topic, version, p.properties)]
    if qos:
        parts.append(_packet_id(p.packet_id, "a QoS 1 or 2 PUBLISH"))
    elif p.packet_id is not None:
        raise LocalProtocolError("a QoS 0 PUBLISH must not carry a packet id")
    elif p.dup:
        raise LocalProtocolError("a QoS 0 PUBLISH must not have the DUP flag set")
    parts.append(_props(p.properties, version, PacketType.PUBLISH, "PUBLISH"))
    parts.append(p.payload)
    return b"".join(parts)


def _ack(p: packets.AckPacket, version: MQTTVersion) -> bytes:
    """PUBACK, PUBREC, PUBREL and PUBCOMP share one layout."""
    name = p.packet_type.name
    pid = _packet_id(p.packet_id, name)
    if version is MQTTVersion.V311:
        if p.reason_code:
            raise LocalProtocolError(f"{name} reason codes need MQTT 5; this connection is 3.1.1")
        _props(p.properties, version, p.packet_type, name)
        return pid
    # The spec lets a success without properties drop the reason code entirely.
    if p.reason_code == 0 and _is_empty(p.properties):
        return pid
    reason = _byte(p.reason_code, f"{name} reason code")
    if _is_empty(p.properties):
        return pid + reason
    return pid + reason + encode_properties(p.properties, p.packet_type)


def _pid_props(
    p: packets.Subscribe | packets.SubAck | packets.Unsubscribe, version: MQTTVersion
) -> bytes:
    """The packet id and the properties that open SUBSCRIBE, SUBACK and UNSUBSCRIBE."""
    name = p.packet_type.name
    return _packet_id(p.packet_id, name) + _props(p.properties, version, p.packet_type, name)


def _subscribe(p: packets.Subscribe, version: MQTTVersion) -> bytes:
    if not p.subscriptions:
        raise LocalProtocolError("a SUBSCRIBE needs at least one topic filter")
    parts = [_pid_props(p, version)]
    for sub in p.subscriptions:
        topic_filter = _topic_filter(sub.topic_filter)
        options = _qos(sub.qos, "subscription")
        v5_options = (
            (0x04 if sub.no_local else 0)
            | (0x08 if sub.retain_as_published else 0)
            | (sub.retain_handling << 4)
        )
        if not 0 <= sub.retain_handling <= 2:
            raise LocalProtocolError(f"retain handling must be 0..2, got {sub.retain_handling}")
        if v5_options and version is MQTTVersion.V311:
            raise LocalProtocolError(
                f"subscription options beyond QoS need MQTT 5: {sub.topic_filter!r}"
            )
        parts.append(topic_filter)
        parts.append(bytes((options | v5_options,)))
    return b"".join(parts)


def _suback(p: packets.SubAck, version: MQTTVersion) -> bytes:
    if not p.reason_codes:
        raise LocalProtocolError("a SUBACK needs at least one reason code")
    if version is MQTTVersion.V311 and not _V311_SUBACK_CODES.issuperset(p.reason_codes):
        raise LocalProtocolError(f"3.1.1 SUBACK codes are 0, 1, 2 or 0x80, got {p.reason_codes}")
    codes = b"".join(_byte(code, "SUBACK reason code") for code in p.reason_codes)
    return _pid_props(p, version) + codes


def _unsubscribe(p: packets.Unsubscribe, version: MQTTVersion) -> bytes:
    if not p.topic_filters:
        raise LocalProtocolError("an UNSUBSCRIBE needs at least one topic filter")
    parts = [_pid_props(p, version)]
    parts.extend(_topic_filter(topic_filter) for topic_filter in p.topic_filters)
    return b"".join(parts)


def _unsuback(p: packets.UnsubAck, version: MQTTVersion) -> bytes:
    pid = _packet_id(p.packet_id, "UNSUBACK")
    if version is MQTTVersion.V311:
        if p.reason_codes:
            raise LocalProtocolError("UNSUBACK reason codes need MQTT 5; this connection is 3.1.1")
        _props(p.properties, version, PacketType.UNSUBACK, "UNSUBACK")
        return pid
    if not p.reason_codes:
        raise LocalProtocolError("a 5.0 UNSUBACK needs at least one reason code")
    codes = b"".join(_byte(code, "UNSUBACK reason code") for code in p.reason_codes)
    return pid + encode_properties(p.properties, PacketType.UNSUBACK) + codes


def _auth(p: packets.Auth, version: MQTTVersion) -> bytes:
    if version is MQTTVersion.V311:
        raise LocalProtocolError("AUTH needs MQTT 5; this connection is 3.1.1")
    # Always written in full (the spec allows dropping a bare success), as mqtt5 does.
    return _byte(p.reason_code, "AUTH reason code") + encode_properties(
        p.properties, PacketType.AUTH
    )


def _empty(_p: Any, _version: MQTTVersion) -> bytes:
    return b""


def _disconnect(p: packets.Disconnect, version: MQTTVersion) -> bytes:
    if version is MQTTVersion.V311:
        if p.reason_code:
            raise LocalProtocolError("DISCONNECT reason codes need MQTT 5")
        _props(p.properties, version, PacketType.DISCONNECT, "DISCONNECT")
        return b""
    if p.reason_code == 0 and _is_empty(p.properties):
        return b""
    reason = _byte(p.reason_code, "DISCONNECT reason code")
    if _is_empty(p.properties):
        return reason
    return reason + encode_properties(p.properties, PacketType.DISCONNECT)


_ENCODERS: dict[type, tuple[int, Callable[[Any, MQTTVersion], bytes]]] = {
    packets.Connect: (0x10, _connect),
    packets.ConnAck: (0x20, _connack),
    packets.PubAck: (0x40, _ack),
    packets.PubRec: (0x50, _ack),
    packets.PubRel: (0x62, _ack),
    packets.PubComp: (0x70, _ack),
    packets.Subscribe: (0x82, _subscribe),
    packets.SubAck: (0x90, _suback),
    packets.Unsubscribe: (0xA2, _unsubscribe),
    packets.UnsubAck: (0xB0, _unsuback),
    packets.PingReq: (0xC0, _empty),
    packets.PingResp: (0xD0, _empty),
    packets.Disconnect: (0xE0, _disconnect),
    packets.Auth: (0xF0, _auth),
}


def encode(packet: packets.Packet, version: MQTTVersion) -> bytes:
    """Encode one packet, fixed header included, for a connection speaking ``version``."""
    if type(packet) is _PUBLISH:
        body = _publish(packet, version)
        first = 0x30 | (packet.qos << 1) | (0x08 if packet.dup else 0) | (1 if packet.retain else 0)
    else:
        try:
            first, encoder = _ENCODERS[type(packet)]
        except KeyError:
            raise LocalProtocolError(f"cannot encode {type(packet).__name__}") from None
        body = encoder(packet, version)
    return fixed_header(first, len(body)) + body


def publish_prefix(topic: str, version: MQTTVersion) -> bytes:
    """Pre-encode the variable header of a QoS 0 PUBLISH to ``topic``.

    That is the topic's two-byte length and UTF-8 bytes, then for 5.0 an empty property
    block. Compute it once per device and pass it to
    :meth:`~simulator.mqtt.session.ClientSession.publish_prefixed` for every message.
    """
    field = _topic_name(topic, MQTTVersion.V311, NO_PROPERTIES)
    return field + b"\x00" if version is MQTTVersion.V5 else field


def encode_publish_with_id(
    first: int, prefix: bytes, packet_id: int, payload: bytes, version: MQTTVersion
) -> bytes:
    """A QoS 1 or 2 PUBLISH whose first byte (type, DUP, QoS, retain) is ``first``."""
    if not 1 <= packet_id <= 0xFFFF:
        raise LocalProtocolError(
            f"a QoS 1 or 2 PUBLISH needs a packet id in 1..65535, got {packet_id}"
        )
    size = len(prefix) + 2 + len(payload)
    if version is _V5:
        # The id goes in front of the prefix's empty property block: the three bytes of
        # ``packet_id << 8`` are the id and that block at once.
        topic, ident = prefix[:-1], (packet_id << 8).to_bytes(3, "big")
    else:
        topic, ident = prefix, packet_id.to_bytes(2, "big")
    return b"".join((fixed_header(first, size), topic, ident, payload))


def encode_publish_fields(
    first: int, topic_field: bytes, packet_id: bytes, properties: bytes, payload: bytes
) -> bytes:
    """A PUBLISH from pre-encoded parts: topic string, packet id (or ``b""``), property block.

    The topic-alias hot path uses it: the same device topic goes out as the empty topic
    ``b"\\x00\\x00"`` plus a three-byte alias property once the broker knows the alias.
    """
    size = len(topic_field) + len(packet_id) + len(properties) + len(payload)
    return b"".join((fixed_header(first, size), topic_field, packet_id, properties, payload))
