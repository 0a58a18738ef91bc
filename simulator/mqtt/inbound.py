"""What a :class:`~simulator.mqtt.session.ClientSession` does with the bytes the broker sends.

These functions are the session's receiving half: decoding, CONNACK (and the resume of a
kept session it decides), acknowledgements of our QoS 1 and 2 messages, the broker's QoS 1
and 2 messages to us, SUBACK and UNSUBACK, and server DISCONNECT. They are methods kept in
a module of their own, so they read and write the session's slots directly; the session
holds all of its state itself, which is what keeps one per device small.

Inbound QoS 2 follows the specification's "method B" (MQTT 3.1.1 figure 4.3, 5.0 figure
4.3): the message is delivered when its PUBLISH arrives and only the packet id is kept
until PUBREL, so a retransmitted PUBLISH is acknowledged again but not delivered twice,
and nothing but the id is stored.

Inbound QoS 1 is acknowledged at its PUBLISH, unless the options ask for ``manual_acks``:
then its packet id waits, in arrival order, for
:meth:`~simulator.mqtt.session.ClientSession.acknowledge`.

Resuming: if the broker answers a kept session's CONNECT with session present, the
unacknowledged PUBLISH packets (DUP set) and PUBRELs are queued in their original order;
if it answers not present, they are dropped and named in :attr:`Connected.discarded`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..errors import BrokerRefusedError, RemoteProtocolError
from .codec import decode, new_publish
from .encoder import encode
from .events import (
    Connected,
    Event,
    MessageReceived,
    MessagesReceived,
    PongReceived,
    PubAckReceived,
    PubCompReceived,
    PubRecReceived,
    ServerDisconnected,
    Subscribed,
    Unsubscribed,
    new_message,
)
from .inflight import (
    KIND_MASK,
    PUBLISH_QOS1,
    PUBLISH_QOS2,
    PUBREL,
    InFlight,
    TopicAliases,
    describe,
)
from .options import DEFAULT_LIMITS, limits_from_connack, resuming
from .packet_type import PacketType
from .packets import (
    Auth,
    ConnAck,
    Disconnect,
    Packet,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    UnsubAck,
)
from .properties import NO_PROPERTIES
from .reason_codes import ReasonCode, reason_code_name
from .state import SessionState
from .version import MQTTVersion

if TYPE_CHECKING:
    from .session import ClientSession

DEFAULT_RECEIVE_MAXIMUM = 65_535
"""What 5.0 assumes when CONNECT or CONNACK states no receive maximum; 3.1.1 has no limit."""

_V5 = MQTTVersion.V5
_NEW, _CONNECTING, _CONNECTED, _CLOSED = SessionState
_PUBACK = 0x40
"""The first byte of every PUBACK (its fixed header flags are reserved as 0)."""
_PUBLISH_QOS0 = 0x30
"""The first byte of a QoS 0 PUBLISH that is neither retained nor a duplicate."""
_TOPICS: dict[bytes, str] = {}
"""Topic names already read and checked, by their bytes: a subscriber hears the same few
thousand topics over and over, so each is decoded and checked once, not once per message. A
pure function's memo, shared by every session of the process."""
_TOPICS_KEPT = 1 << 16
"""Most topic names :data:`_TOPICS` keeps; past that it starts again from empty."""


def _ack(first: int, packet_id: int) -> bytes:
    """A PUBACK/PUBREC/PUBREL/PUBCOMP with success and no properties (both versions)."""
    return bytes((first, 2, packet_id >> 8, packet_id & 0xFF))


def receive(session: ClientSession, data: bytes) -> list[Event]:
    """:meth:`ClientSession.receive_data`: decode ``data`` and act on each packet."""
    state = session._state
    if state is _CLOSED or not data:
        return []
    if state is _NEW:
        session._close()
        raise RemoteProtocolError(f"client {session._client_id!r}: broker sent data before CONNECT")
    buf = session._buffer + data if session._buffer else data
    size = len(buf)
    pos = 0
    events: list[Event] = []
    version = session._version
    limit = session._options.maximum_packet_size
    try:
        while pos < size:
            if buf[pos] == _PUBLISH_QOS0 and session._state is _CONNECTED:
                pos = _short_publishes(session, buf, pos, size, events, limit)
                if pos >= size:
                    break
            if buf[pos] == _PUBACK and session._state is _CONNECTED:
                pos = _short_pubacks(session, buf, pos, size, events)
                if pos >= size:
                    break
            if limit is None:
                result = decode(buf, version, offset=pos)
            else:
                result = decode(buf, version, offset=pos, max_packet_size=limit)
            if result is None:
                break
            packet, used = result
            pos += used
            if type(packet) is Publish and session._state is _CONNECTED:
                event = _on_publish(session, packet)
            else:
                event = _on_packet(session, packet)
            if event is not None:
                events.append(event)
            if session._state is _CLOSED:
                return events
    except RemoteProtocolError as exc:
        session._close()
        raise RemoteProtocolError(f"client {session._client_id!r}: {exc}") from exc
    session._buffer = bytes(buf[pos:]) if pos < size else b""
    return events


def _short_pubacks(
    session: ClientSession, buf: bytes, pos: int, size: int, events: list[Event]
) -> int:
    """Complete the QoS 1 messages of a run of short PUBACKs at ``pos``; returns where it ended.

    A QoS 1 publisher spends most of its receiving on PUBACKs, nearly all of them short:
    ``40 02 id id`` (success, the only form in 3.1.1) or, in 5.0, ``40 03 id id rc`` (such
    as 0x10, no matching subscribers, or a refusal of 0x80 and above). Read in place, one
    costs a dict lookup and its event instead of a decoded packet and the general dispatch.
    The run stops at the first packet that is anything else, is incomplete, or does not
    acknowledge a QoS 1 PUBLISH in flight (an unknown id, id 0, an id awaiting PUBREC): the
    general path then decodes that packet and answers it as it always has.
    """
    flight = session._flight
    if flight is None:
        return pos
    outgoing = flight.outgoing
    v5 = session._version is _V5
    while pos + 4 <= size and buf[pos] == _PUBACK:
        length = buf[pos + 1]
        if length == 2:
            reason = 0
        elif length == 3 and v5 and pos + 5 <= size:
            reason = buf[pos + 4]
        else:
            break
        packet_id = buf[pos + 2] << 8 | buf[pos + 3]
        stored = outgoing.get(packet_id)
        if stored is None or stored[0] & KIND_MASK != PUBLISH_QOS1:
            break
        del outgoing[packet_id]
        events.append(PubAckReceived(packet_id, reason))
        pos += 2 + length
    if flight.is_empty():
        session._flight = None
    return pos


def _short_publishes(  # noqa: PLR0917 - the receive loop's own state, passed as it stands
    session: ClientSession,
    buf: bytes,
    pos: int,
    size: int,
    events: list[Event],
    limit: int | None,
) -> int:
    """Deliver a run of plain QoS 0 PUBLISH packets at ``pos``; returns where it ended.

    A subscriber spends most of its receiving on these: first byte ``0x30`` (no retain, no
    DUP), a topic, in 5.0 an empty property list, the payload. Read in place, with the topic
    looked up in :data:`_TOPICS`, one costs two slices, and none of the general decoder's
    steps; the run becomes one :class:`MessagesReceived` if the session's options ask for
    ``message_runs``, else a :class:`MessageReceived` each. The run stops at the first packet
    that is anything else, is incomplete, is over ``limit``, carries properties (a topic alias
    among them), or whose topic is not known yet and not a valid topic name: the general path
    then decodes that packet, and checks, refuses or delivers it as it always has.
    """
    v5 = session._version is _V5
    known = _TOPICS
    topics: list[str] = []
    payloads: list[bytes] = []
    add_topic = topics.append
    add_payload = payloads.append
    while pos + 4 < size and buf[pos] == _PUBLISH_QOS0:
        length = buf[pos + 1]
        head = pos + 2
        if length >= 0x80:
            # A multi-byte remaining length: the general decoder checks its encoding.
            byte = buf[pos + 2]
            if byte >= 0x80 or not byte:
                break
            length = (length & 0x7F) | byte << 7
            head = pos + 3
        end = head + length
        if end > size or (limit is not None and end - pos > limit) or head + 2 > end:
            break
        start = head + 2
        stop = start + (buf[head] << 8 | buf[head + 1])
        if stop >= end if v5 else stop > end:
            break
        name = buf[start:stop]
        topic = known.get(name)
        if topic is None:
            topic = _checked_topic(name)
            if topic is None:
                break
        if v5:
            if buf[stop]:
                break
            stop += 1
        add_topic(topic)
        add_payload(buf[stop:end])
        pos = end
    if not topics:
        return pos
    if session._options.message_runs:
        events.append(MessagesReceived(topics, payloads))
    else:
        events.extend(
            new_message(new_publish(topic, payload, 0, False, False, None, NO_PROPERTIES))
            for topic, payload in zip(topics, payloads, strict=True)
        )
    return pos


def _checked_topic(name: bytes) -> str | None:
    """``name`` as a topic name to deliver, remembered, or None if it is not one (empty, not
    UTF-8, or holding U+0000 or a wildcard)."""
    try:
        topic = str(name, "utf-8")
    except UnicodeDecodeError:
        return None
    if not topic or "\x00" in topic or "+" in topic or "#" in topic:
        return None
    if len(_TOPICS) >= _TOPICS_KEPT:
        _TOPICS.clear()
    _TOPICS[name] = topic
    return topic


def _on_publish(session: ClientSession, packet: Publish) -> Event | None:
    props = packet.properties
    if props is not NO_PROPERTIES and props.topic_alias is not None:
        packet = _resolve_alias(session, packet, props.topic_alias)
    qos = packet.qos
    if not qos:
        return MessageReceived(packet)
    packet_id = packet.packet_id
    assert packet_id is not None  # the decoder guarantees it for QoS > 0
    if qos == 1:
        if session._options.manual_acks:
            _hold(session, packet_id)
        else:
            session._outbound += _ack(0x40, packet_id)
        return MessageReceived(packet)
    # QoS 2, method B: deliver now, remember the id until PUBREL.
    flight = session._flight
    incoming = flight.incoming if flight is not None else None
    session._outbound += _ack(0x50, packet_id)
    if incoming is not None and packet_id in incoming:
        return None
    allowed = session._options.receive_maximum or DEFAULT_RECEIVE_MAXIMUM
    if incoming is not None and len(incoming) >= allowed:
        raise RemoteProtocolError(
            f"PUBLISH {packet_id}: more than {allowed} QoS 2 messages in flight, "
            "our receive maximum"
        )
    if flight is None:
        flight = session._flight = InFlight()
    if flight.incoming is None:
        flight.incoming = {packet_id}
    else:
        flight.incoming.add(packet_id)
    return MessageReceived(packet)


def _hold(session: ClientSession, packet_id: int) -> None:
    """Keep a QoS 1 message's id for :meth:`ClientSession.acknowledge` (``manual_acks``).

    Not checked against our Receive Maximum: Mosquitto 2.0.11 sends a subscriber that
    acknowledges its oldest message while others wait in its queue up to another Receive
    Maximum of them (fixed in 2.0.13), so a strict client would be disconnected over and over
    by a broker doing its best. Ids the broker reuses past 65,535 held are still acknowledged
    in arrival order, which is the order it looks them up in.
    """
    flight = session._flight
    if flight is None:
        flight = session._flight = InFlight()
    unacked = flight.unacked
    if unacked is None:
        flight.unacked = [packet_id]
    else:
        unacked.append(packet_id)


def _resolve_alias(session: ClientSession, packet: Publish, alias: int) -> Publish:
    allowed = session._options.topic_alias_maximum
    where = "PUBLISH" if packet.packet_id is None else f"PUBLISH {packet.packet_id}"
    if alias > allowed:
        raise RemoteProtocolError(
            f"{where}: topic alias {alias} exceeds our topic alias maximum of {allowed}"
        )
    aliases = session._aliases
    inbound = aliases.inbound if aliases is not None else None
    assert inbound is not None  # CONNACK creates it whenever we allow aliases
    if packet.topic:
        inbound[alias] = packet.topic
        return packet
    topic = inbound.get(alias)
    if topic is None:
        raise RemoteProtocolError(f"{where}: topic alias {alias} was never set")
    return replace(packet, topic=topic)


def _on_packet(session: ClientSession, packet: Packet) -> Event | None:
    name = packet.packet_type.name
    if session._state is _CONNECTING:
        if type(packet) is not ConnAck:
            raise RemoteProtocolError(f"broker sent {name} before CONNACK")
        return _on_connack(session, packet)
    kind = type(packet)
    if kind is PubAck or kind is PubRec or kind is PubComp:
        return _on_ack(session, packet)  # type: ignore[arg-type]
    if kind is PubRel:
        _on_pubrel(session, packet)  # type: ignore[arg-type]
        return None
    if kind is SubAck or kind is UnsubAck:
        return _on_request_ack(session, packet)  # type: ignore[arg-type]
    if kind is PingResp:
        return PongReceived()
    if kind is Disconnect and session._version is _V5:
        assert isinstance(packet, Disconnect)
        session._close()
        return ServerDisconnected(packet.reason_code, packet.properties.reason_string)
    if kind is Auth:
        raise RemoteProtocolError("broker sent AUTH, but we asked for no enhanced auth")
    raise RemoteProtocolError(f"broker sent an unexpected {name} to a connected client")


def _on_ack(session: ClientSession, packet: PubAck | PubRec | PubComp) -> Event | None:
    name = packet.packet_type.name
    packet_id = packet.packet_id
    flight = session._flight
    stored = flight.outgoing.get(packet_id) if flight is not None else None
    if flight is None or stored is None:
        raise RemoteProtocolError(f"{name} for unknown packet id {packet_id}")
    stage = stored[0] & KIND_MASK
    reason_string = packet.properties.reason_string
    if type(packet) is PubRec:
        if stage == PUBREL:
            # A repeated PUBREC: the broker may not have seen our PUBREL.
            session._outbound += stored
            return None
        expected = PUBLISH_QOS2
    else:
        expected = PUBLISH_QOS1 if type(packet) is PubAck else PUBREL
    if stage != expected:
        raise RemoteProtocolError(
            f"{name} for packet id {packet_id}, which is {describe(stored[0])}"
        )
    if type(packet) is PubRec and packet.reason_code < 0x80:
        release = _ack(PUBREL, packet_id)
        flight.outgoing[packet_id] = release  # same place in the resend order
        session._outbound += release
        return PubRecReceived(packet_id, packet.reason_code, reason_string)
    del flight.outgoing[packet_id]
    if flight.is_empty():
        session._flight = None
    if type(packet) is PubAck:
        return PubAckReceived(packet_id, packet.reason_code, reason_string)
    if type(packet) is PubRec:
        return PubRecReceived(packet_id, packet.reason_code, reason_string)
    return PubCompReceived(packet_id, packet.reason_code, reason_string)


def _on_pubrel(session: ClientSession, packet: PubRel) -> None:
    """Answer PUBREL with PUBCOMP; the message was delivered at PUBLISH already."""
    packet_id = packet.packet_id
    flight = session._flight
    incoming = flight.incoming if flight is not None else None
    if flight is None or incoming is None or packet_id not in incoming:
        # Not misbehaviour: our PUBCOMP may have been lost with the last connection.
        # The spec wants a PUBCOMP either way; 5.0 says we had no such id.
        if session._version is _V5:
            code = ReasonCode.PACKET_IDENTIFIER_NOT_FOUND
            session._outbound += encode(PubComp(packet_id, code), _V5)
        else:
            session._outbound += _ack(0x70, packet_id)
        return
    incoming.discard(packet_id)
    if flight.is_empty():
        session._flight = None
    session._outbound += _ack(0x70, packet_id)


def _on_request_ack(session: ClientSession, packet: SubAck | UnsubAck) -> Event:
    name = packet.packet_type.name
    asked = PacketType.SUBSCRIBE if type(packet) is SubAck else PacketType.UNSUBSCRIBE
    flight = session._flight
    requests = flight.requests if flight is not None else None
    entry = requests.pop(packet.packet_id, None) if requests is not None else None
    if flight is None or entry is None or entry[0] is not asked:
        raise RemoteProtocolError(f"{name} for unknown packet id {packet.packet_id}")
    if flight.is_empty():
        session._flight = None
    codes = packet.reason_codes
    # A 3.1.1 UNSUBACK carries no codes at all.
    if len(codes) != entry[1] and (codes or session._version is _V5):
        raise RemoteProtocolError(
            f"{name} {packet.packet_id} has {len(codes)} reason codes for {entry[1]} topic filters"
        )
    reason_string = packet.properties.reason_string
    if type(packet) is SubAck:
        return Subscribed(packet.packet_id, codes, reason_string)
    return Unsubscribed(packet.packet_id, codes, reason_string)


def _on_connack(session: ClientSession, packet: ConnAck) -> Event:
    props = packet.properties
    if packet.reason_code:
        session._close()
        code = packet.reason_code
        name = reason_code_name(code, session._version, PacketType.CONNACK)
        why = f": {props.reason_string}" if props.reason_string else ""
        raise BrokerRefusedError(
            f"broker refused client {session._client_id!r}: {name} (0x{code:02X}){why}", code
        )
    opts = session._options
    if packet.session_present and opts.clean_start:
        raise RemoteProtocolError("CONNACK says a session is present after a clean start")
    session._limits = limits = (
        limits_from_connack(props) if session._version is _V5 else DEFAULT_LIMITS
    )
    discarded: tuple[int, ...] = ()
    resent = 0
    flight = session._flight
    if flight is not None and packet.session_present:
        # The spec wants them again in their original order, PUBLISH with DUP set.
        again = [
            bytes((data[0] | 0x08,)) + data[1:] if data[0] >> 4 == 3 else data
            for data in flight.outgoing.values()
        ]
        session._outbound += b"".join(again)
        resent = len(again)
    elif flight is not None:
        discarded = tuple(flight.outgoing)
        session._flight = None
    if session._version is _V5:
        alias_max = limits.topic_alias_maximum if opts.topic_aliases else 0
        if alias_max or opts.topic_alias_maximum:
            session._aliases = TopicAliases(alias_max, opts.topic_alias_maximum > 0)
    if opts.clean_start and session.persistent:
        session._options = resuming(opts)
    session._state = _CONNECTED
    return Connected(packet.session_present, props, discarded, resent)
