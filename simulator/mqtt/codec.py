"""Bytes to packets: :func:`decode` for one packet, :class:`Decoder` for a byte stream.

``decode`` returns ``None`` while the packet is incomplete and raises
:class:`RemoteProtocolError`, naming the packet type, when the bytes break the rules.
PUBLISH is decoded by a dedicated inline branch because a subscriber spends most of its
time there; every other packet goes through a small function per type.
:func:`encode` lives in :mod:`.encoder`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..errors import LocalProtocolError, RemoteProtocolError
from . import packets
from .packet_type import PacketType, packet_type_name
from .primitives import (
    MAX_VARINT,
    Buffer,
    decode_binary,
    decode_string,
    decode_u8,
    decode_u16,
    topic_filter_problem,
)
from .properties import NO_PROPERTIES, WILL_PROPERTIES, Properties, decode_properties
from .version import MQTTVersion

DEFAULT_MAX_PACKET_SIZE = 1 + 4 + MAX_VARINT
"""The largest packet MQTT can express; pass a smaller ``max_packet_size`` to cap memory."""

_V5 = MQTTVersion.V5
_PUBLISH_PROPS = PacketType.PUBLISH
_V311_SUBACK_CODES = frozenset({0, 1, 2, 0x80})

_Body = Callable[[Buffer, int, int, MQTTVersion], packets.Packet]


def _frame(buf: Buffer, offset: int) -> tuple[int, int] | None:
    """Where the packet at ``offset`` has its body: ``(start, end)``, or None if unknown yet."""
    size = len(buf)
    if size - offset < 2:
        return None
    byte = buf[offset + 1]
    if byte < 128:
        return offset + 2, offset + 2 + byte
    remaining = byte & 0x7F
    shift = 7
    pos = offset + 2
    while True:
        if pos >= size:
            return None
        byte = buf[pos]
        pos += 1
        remaining |= (byte & 0x7F) << shift
        if byte < 128:
            if byte == 0:
                name = packet_type_name(buf[offset] >> 4)
                raise RemoteProtocolError(f"{name} remaining length is not minimally encoded")
            return pos, pos + remaining
        shift += 7
        if shift == 28:
            raise RemoteProtocolError(
                f"{packet_type_name(buf[offset] >> 4)} remaining length is longer than 4 bytes"
            )


def _pid(buf: Buffer, pos: int, end: int) -> tuple[int, int]:
    packet_id, pos = decode_u16(buf, pos, end)
    if packet_id == 0:
        raise RemoteProtocolError("packet id 0 is not allowed")
    return packet_id, pos


def _topic_filter(buf: Buffer, pos: int, end: int) -> tuple[str, int]:
    topic_filter, pos = decode_string(buf, pos, end)
    problem = topic_filter_problem(topic_filter)
    if problem is not None:
        raise RemoteProtocolError(problem)
    return topic_filter, pos


def _finish(pos: int, end: int) -> None:
    if pos != end:
        raise RemoteProtocolError(f"{end - pos} unexpected bytes at the end of the packet")


def _props(
    buf: Buffer, pos: int, end: int, version: MQTTVersion, context: int
) -> tuple[Properties, int]:
    """The property block at ``pos``: a 5.0 packet has one where a 3.1.1 packet has none."""
    if version is not _V5:
        return NO_PROPERTIES, pos
    return decode_properties(buf, pos, end, context)


def _qos(qos: int) -> int:
    if qos == 3:
        raise RemoteProtocolError("QoS 3 is not a valid QoS")
    return qos


def _connect(buf: Buffer, pos: int, end: int, version: MQTTVersion) -> packets.Connect:
    name, pos = decode_string(buf, pos, end)
    if name != "MQTT":
        raise RemoteProtocolError(f"protocol name must be 'MQTT', got {name!r}")
    level, pos = decode_u8(buf, pos, end)
    if level != version:
        raise RemoteProtocolError(f"protocol level {level} on a connection expecting {version}")
    flags, pos = decode_u8(buf, pos, end)
    if flags & 0x01:
        raise RemoteProtocolError("reserved connect flag is set")
    keepalive, pos = decode_u16(buf, pos, end)
    props, pos = _props(buf, pos, end, version, PacketType.CONNECT)
    client_id, pos = decode_string(buf, pos, end)
    will = None
    will_qos = _qos((flags >> 3) & 3)
    if flags & 0x04:
        will_props, pos = _props(buf, pos, end, version, WILL_PROPERTIES)
        topic, pos = decode_string(buf, pos, end)
        payload, pos = decode_binary(buf, pos, end)
        will = packets.Will(topic, payload, will_qos, bool(flags & 0x20), will_props)
    elif flags & 0x38:
        raise RemoteProtocolError("will QoS or retain set without the will flag")
    username = password = None
    if flags & 0x80:
        username, pos = decode_string(buf, pos, end)
    if flags & 0x40:
        if version is MQTTVersion.V311 and username is None:
            raise RemoteProtocolError("password flag set without the username flag")
        password, pos = decode_binary(buf, pos, end)
    _finish(pos, end)
    return packets.Connect(
        client_id, keepalive, bool(flags & 0x02), username, password, will, props
    )


def _connack(buf: Buffer, pos: int, end: int, version: MQTTVersion) -> packets.ConnAck:
    flags, pos = decode_u8(buf, pos, end)
    if flags & 0xFE:
        raise RemoteProtocolError("reserved acknowledge flags are set")
    reason, pos = decode_u8(buf, pos, end)
    props, pos = _props(buf, pos, end, version, PacketType.CONNACK)
    if version is not _V5 and reason > 5:
        raise RemoteProtocolError(f"3.1.1 return code must be 0..5, got {reason}")
    _finish(pos, end)
    return packets.ConnAck(bool(flags), reason, props)


def _ack_decoder(cls: type[packets.AckPacket]) -> _Body:
    """PUBACK, PUBREC, PUBREL and PUBCOMP share one layout."""
    context = cls.packet_type

    def body(buf: Buffer, pos: int, end: int, version: MQTTVersion) -> packets.Packet:
        packet_id, pos = _pid(buf, pos, end)
        reason = 0
        props = NO_PROPERTIES
        # 5.0 lets the reason code and then the property block be left off.
        if version is _V5 and pos < end:
            reason, pos = decode_u8(buf, pos, end)
            if pos < end:
                props, pos = _props(buf, pos, end, version, context)
        _finish(pos, end)
        return cls(packet_id, reason, props)

    return body


def _subscribe(buf: Buffer, pos: int, end: int, version: MQTTVersion) -> packets.Subscribe:
    packet_id, pos = _pid(buf, pos, end)
    props, pos = _props(buf, pos, end, version, PacketType.SUBSCRIBE)
    subscriptions = []
    while pos < end:
        topic_filter, pos = _topic_filter(buf, pos, end)
        options, pos = decode_u8(buf, pos, end)
        reserved = 0xC0 if version is _V5 else 0xFC
        if options & reserved or (options & 0x30) == 0x30:
            raise RemoteProtocolError(f"reserved subscription option bits set: 0x{options:02X}")
        subscriptions.append(
            packets.Subscription(
                topic_filter,
                _qos(options & 3),
                bool(options & 0x04),
                bool(options & 0x08),
                (options >> 4) & 3,
            )
        )
    if not subscriptions:
        raise RemoteProtocolError("no topic filters")
    return packets.Subscribe(packet_id, tuple(subscriptions), props)


def _suback(buf: Buffer, pos: int, end: int, version: MQTTVersion) -> packets.SubAck:
    packet_id, pos = _pid(buf, pos, end)
    props, pos = _props(buf, pos, end, version, PacketType.SUBACK)
    codes = tuple(buf[pos:end])
    if not codes:
        raise RemoteProtocolError("no reason codes")
    if version is MQTTVersion.V311 and not _V311_SUBACK_CODES.issuperset(codes):
        raise RemoteProtocolError(f"3.1.1 return codes are 0, 1, 2 or 0x80, got {codes}")
    return packets.SubAck(packet_id, codes, props)


def _unsubscribe(buf: Buffer, pos: int, end: int, version: MQTTVersion) -> packets.Unsubscribe:
    packet_id, pos = _pid(buf, pos, end)
    props, pos = _props(buf, pos, end, version, PacketType.UNSUBSCRIBE)
    filters = []
    while pos < end:
        topic_filter, pos = _topic_filter(buf, pos, end)
        filters.append(topic_filter)
    if not filters:
        raise RemoteProtocolError("no topic filters")
    return packets.Unsubscribe(packet_id, tuple(filters), props)


def _unsuback(buf: Buffer, pos: int, end: int, version: MQTTVersion) -> packets.UnsubAck:
    packet_id, pos = _pid(buf, pos, end)
    if version is not _V5:
        _finish(pos, end)
        return packets.UnsubAck(packet_id)
    props, pos = _props(buf, pos, end, version, PacketType.UNSUBACK)
    codes = tuple(buf[pos:end])
    if not codes:
        raise RemoteProtocolError("no reason codes")
    return packets.UnsubAck(packet_id, codes, props)


def _auth(buf: Buffer, pos: int, end: int, version: MQTTVersion) -> packets.Auth:
    # Only a bare success may leave off both the reason code and the property block.
    if pos == end:
        return packets.Auth()
    reason, pos = decode_u8(buf, pos, end)
    if pos == end:
        raise RemoteProtocolError("reason code without a property length")
    props, pos = decode_properties(buf, pos, end, PacketType.AUTH)
    _finish(pos, end)
    return packets.Auth(reason, props)


def _pingreq(buf: Buffer, pos: int, end: int, version: MQTTVersion) -> packets.PingReq:
    _finish(pos, end)
    return packets.PingReq()


def _pingresp(buf: Buffer, pos: int, end: int, version: MQTTVersion) -> packets.PingResp:
    _finish(pos, end)
    return packets.PingResp()


def _disconnect(buf: Buffer, pos: int, end: int, version: MQTTVersion) -> packets.Disconnect:
    reason = 0
    props = NO_PROPERTIES
    if version is _V5 and pos < end:
        reason, pos = decode_u8(buf, pos, end)
        if pos < end:
            props, pos = _props(buf, pos, end, version, PacketType.DISCONNECT)
    _finish(pos, end)
    return packets.Disconnect(reason, props)


# Packet type -> (required low nibble, body decoder); PUBLISH is handled inline.
_DECODERS: dict[int, tuple[int, _Body]] = {
    PacketType.CONNECT: (0, _connect),
    PacketType.CONNACK: (0, _connack),
    PacketType.PUBACK: (0, _ack_decoder(packets.PubAck)),
    PacketType.PUBREC: (0, _ack_decoder(packets.PubRec)),
    PacketType.PUBREL: (2, _ack_decoder(packets.PubRel)),
    PacketType.PUBCOMP: (0, _ack_decoder(packets.PubComp)),
    PacketType.SUBSCRIBE: (2, _subscribe),
    PacketType.SUBACK: (0, _suback),
    PacketType.UNSUBSCRIBE: (2, _unsubscribe),
    PacketType.UNSUBACK: (0, _unsuback),
    PacketType.PINGREQ: (0, _pingreq),
    PacketType.PINGRESP: (0, _pingresp),
    PacketType.DISCONNECT: (0, _disconnect),
}
# AUTH exists only in 5.0; in 3.1.1 type 15 is reserved.
_DECODERS_V5 = {**_DECODERS, PacketType.AUTH: (0, _auth)}


def _publish_factory() -> Callable[
    [str, bytes, int, bool, bool, int | None, Properties], packets.Publish
]:
    # A frozen dataclass's __init__ assigns each field through object.__setattr__; the
    # ingest subscriber builds one Publish per message, so set the slots directly.
    # Publish has no __post_init__, so the result is identical to Publish(...).
    new = object.__new__
    publish = packets.Publish
    topic_, payload_, qos_, retain_, dup_, pid_, props_ = (
        getattr(publish, name).__set__
        for name in ("topic", "payload", "qos", "retain", "dup", "packet_id", "properties")
    )

    def make(  # noqa: PLR0917 - mirrors the Publish field order
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        dup: bool,
        packet_id: int | None,
        props: Properties,
    ) -> packets.Publish:
        packet: packets.Publish = new(publish)
        topic_(packet, topic)
        payload_(packet, payload)
        qos_(packet, qos)
        retain_(packet, retain)
        dup_(packet, dup)
        pid_(packet, packet_id)
        props_(packet, props)
        return packet

    return make


new_publish = _publish_factory()
"""Publish(topic, payload, qos, retain, dup, packet_id, properties), positional, at a third of
the cost: for the receive paths that build one per message."""


def _publish(buf: Buffer, first: int, pos: int, end: int, version: MQTTVersion) -> packets.Publish:
    qos = (first >> 1) & 3
    if qos == 3:
        raise RemoteProtocolError("QoS 3 is not a valid QoS")
    if pos + 2 > end:
        raise RemoteProtocolError("packet ends inside the topic length")
    start = pos + 2
    pos = start + ((buf[pos] << 8) | buf[pos + 1])
    if pos > end:
        raise RemoteProtocolError("topic runs past the end of the packet")
    try:
        topic = str(buf[start:pos], "utf-8")
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError(f"topic is not valid UTF-8: {exc.reason}") from exc
    if "\x00" in topic or "+" in topic or "#" in topic:
        raise RemoteProtocolError(f"topic name contains U+0000 or a wildcard: {topic!r}")
    packet_id = None
    if qos:
        if pos + 2 > end:
            raise RemoteProtocolError("packet ends inside the packet id")
        packet_id = (buf[pos] << 8) | buf[pos + 1]
        if not packet_id:
            raise RemoteProtocolError("packet id 0 is not allowed")
        pos += 2
    elif first & 0x08:
        raise RemoteProtocolError("DUP flag set on a QoS 0 message")
    props = NO_PROPERTIES
    if version is _V5:
        if pos >= end:
            raise RemoteProtocolError("packet ends before the property length")
        if buf[pos]:
            props, pos = decode_properties(buf, pos, end, _PUBLISH_PROPS)
        else:
            pos += 1
        if not topic and props.topic_alias is None:
            raise RemoteProtocolError("empty topic name without a topic alias")
    elif not topic:
        raise RemoteProtocolError("empty topic name")
    return new_publish(
        topic, bytes(buf[pos:end]), qos, bool(first & 1), bool(first & 8), packet_id, props
    )


def decode(
    buf: Buffer,
    version: MQTTVersion,
    *,
    offset: int = 0,
    max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
) -> tuple[packets.Packet, int] | None:
    """Decode the packet starting at ``buf[offset]``.

    Returns the packet and how many bytes it took, or ``None`` if ``buf`` does not yet hold
    all of it. Raises :class:`RemoteProtocolError` for malformed input or a packet larger
    than ``max_packet_size`` (which is checked as soon as the length is known, before the
    rest arrives).
    """
    frame = _frame(buf, offset)
    if frame is None:
        return None
    start, end = frame
    first = buf[offset]
    if end - offset > max_packet_size:
        raise RemoteProtocolError(
            f"{packet_type_name(first >> 4)} packet of {end - offset} bytes exceeds the "
            f"maximum packet size of {max_packet_size}"
        )
    if end > len(buf):
        return None
    kind = first >> 4
    entry = (_DECODERS_V5 if version is _V5 else _DECODERS).get(kind)
    if entry is None and kind != 3:
        raise RemoteProtocolError(f"packet type {kind} is reserved")
    try:
        if entry is None:
            return _publish(buf, first, start, end, version), end - offset
        flags, body = entry
        if first & 0x0F != flags:
            raise RemoteProtocolError(f"reserved fixed header flags 0x{first & 0x0F:X}")
        return body(buf, start, end, version), end - offset
    except RemoteProtocolError as exc:
        raise RemoteProtocolError(f"malformed {packet_type_name(kind)} packet: {exc}") from exc


class Decoder:
    """Turns a byte stream into packets; feed it what the transport reads.

    Parsing walks an offset through the current buffer, so one read carrying hundreds of
    packets costs one pass. Bytes fed while a packet is incomplete are kept as a list of
    chunks and joined only once the whole packet is there, so a large packet arriving in
    many small reads is copied once, not once per read.
    """

    __slots__ = ("_buf", "_chunks", "_max_packet_size", "_need", "_pending", "_pos", "_version")

    def __init__(
        self, version: MQTTVersion, *, max_packet_size: int = DEFAULT_MAX_PACKET_SIZE
    ) -> None:
        if max_packet_size < 2:
            raise LocalProtocolError(f"max_packet_size must be at least 2, got {max_packet_size}")
        self._version = version
        self._max_packet_size = max_packet_size
        self._buf = b""
        self._pos = 0
        self._chunks: list[bytes] = []
        self._pending = 0
        """Bytes held in ``_chunks``."""
        self._need = 0
        """Bytes the incomplete packet at ``_pos`` needs in all, once its header is known."""

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as packets."""
        return len(self._buf) - self._pos + self._pending

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes read from the connection."""
        if data:
            self._chunks.append(bytes(data))
            self._pending += len(data)

    def next_packet(self) -> packets.Packet | None:
        """The next complete packet, or ``None`` if more data is needed."""
        while True:
            if self._pos < len(self._buf):
                result = decode(
                    self._buf,
                    self._version,
                    offset=self._pos,
                    max_packet_size=self._max_packet_size,
                )
                if result is not None:
                    packet, used = result
                    self._pos += used
                    return packet
                frame = _frame(self._buf, self._pos)
                self._need = 0 if frame is None else frame[1] - self._pos
            if not self._chunks or self.buffered < self._need:
                return None
            self._join()

    def _join(self) -> None:
        rest = self._buf[self._pos :]
        if rest:
            self._chunks.insert(0, rest)
        self._buf = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._pending = 0
        self._pos = 0
        self._need = 0

    def __iter__(self) -> Iterator[packets.Packet]:
        """Yield every complete packet buffered so far."""
        while (packet := self.next_packet()) is not None:
            yield packet


__all__ = [
    "DEFAULT_MAX_PACKET_SIZE",
    "Decoder",
    "decode",
]
