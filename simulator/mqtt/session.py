"""The client side of one MQTT connection as a pure state machine.

``ClientSession`` turns calls into bytes to send and received bytes into events; it never
touches a socket or a clock (keepalive helpers take ``now``). One exists per device
connection, so it is a handful of slots: the receive buffer and outbound queue are the
shared empty ``b""`` while idle, connect options and broker limits are objects shared by
every session alike, and in-flight state and topic aliases exist only while in use.
This module holds the calls that produce bytes; what the session does with the broker's
bytes lives in :mod:`~simulator.mqtt.inbound`.

States and what moves between them::

    NEW | CLOSED --connect()--> CONNECTING --CONNACK 0--> CONNECTED
    CONNECTING --CONNACK failure--> CLOSED (raises BrokerRefusedError)
    CONNECTING | CONNECTED --disconnect() / server DISCONNECT / connection_lost()--> CLOSED
    any state --broker breaks the protocol--> CLOSED (raises RemoteProtocolError)

Delivery: QoS 1 and 2 both ways. Outbound QoS 2 is PUBLISH -> PUBREC -> PUBREL ->
PUBCOMP; QoS 1 and 2 messages together stay within the broker's Receive Maximum.
Inbound QoS 2 delivers each message once, at its PUBLISH (see ``inbound``). Inbound QoS 1
is acknowledged on arrival, or, with ``ConnectOptions.manual_acks``, when the application
says so (:meth:`~ClientSession.acknowledge`, oldest first, as the specification orders
PUBACKs); QoS 2 is acknowledged on arrival either way.

Sessions: a session the broker keeps after the connection ends (3.1.1: clean session 0;
5.0: a session expiry interval above 0) keeps its in-flight state across
:meth:`~ClientSession.connection_lost`; its next :meth:`~ClientSession.connect` asks to
resume, and if the broker answers session present the unacknowledged PUBLISH packets (DUP
set) and PUBRELs are queued in their original order; if it answers not present, they are
dropped and named in :attr:`Connected.discarded`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from struct import pack

from simulator.errors import InflightLimitError, PacketTooLargeError

from ..errors import LocalProtocolError
from .encoder import (
    encode,
    encode_publish_fields,
    encode_publish_with_id,
    fixed_header,
    publish_prefix,
)
from .events import Event
from .inbound import DEFAULT_RECEIVE_MAXIMUM, receive
from .inflight import PUBLISH_QOS1, InFlight, TopicAliases
from .options import (
    DEFAULT_LIMITS,
    DEFAULT_OPTIONS,
    RESUME_OPTIONS,
    BrokerLimits,
    ConnectOptions,
)
from .packet_type import PacketType
from .packets import (
    Connect,
    Disconnect,
    Packet,
    PingReq,
    Publish,
    Subscribe,
    Subscription,
    Unsubscribe,
    Will,
)
from .properties import NO_PROPERTIES, Properties
from .state import SessionState
from .version import MQTTVersion

__all__ = [
    "DEFAULT_RECEIVE_MAXIMUM",
    "KEEPALIVE_GRACE",
    "MAX_PACKET_ID",
    "ClientSession",
    "InflightLimitError",
    "PacketTooLargeError",
    "SessionState",
]

MAX_PACKET_ID = 0xFFFF
KEEPALIVE_GRACE = 1.5
"""The spec's factor: a peer silent for 1.5 keepalive periods is gone."""

_PINGREQ = encode(PingReq(), MQTTVersion.V311)
_V5 = MQTTVersion.V5
_ALIAS_PROPERTY = b"\x03\x23"
"""A property block of three bytes holding only a topic alias (identifier 0x23)."""
_EMPTY_TOPIC = b"\x00\x00"
_PUBLISH_QOS0 = 0x30
_QOS0_HEADERS: dict[int, bytes] = {}
"""QoS 0 PUBLISH fixed headers by remaining length, made the first time a length is sent.

A fleet's messages come in a few dozen lengths, so looking the two or three bytes up is
cheaper than building them per message; lengths of 16,384 and more are built each time, so
the table holds at most 16,384 entries."""


def _qos0_header(size: int) -> bytes:
    header = fixed_header(_PUBLISH_QOS0, size)
    if size < 16384:
        _QOS0_HEADERS[size] = header
    return header


_NEW, _CONNECTING, _CONNECTED, _CLOSED = SessionState
_PUBACK_HEAD = 0x4002_0000
"""A PUBACK of success without properties (both versions) read as a big-endian u32: type
0x40, remaining length 2; the packet id fills the low half."""


class ClientSession:
    """One client connection's protocol state: packet ids, QoS flows, aliases, keepalive."""

    __slots__ = (
        "_aliases",
        "_buffer",
        "_client_id",
        "_flight",
        "_keepalive",
        "_limits",
        "_next_id",
        "_options",
        "_outbound",
        "_password",
        "_state",
        "_username",
        "_version",
    )

    def __init__(
        self,
        client_id: str,
        version: MQTTVersion,
        keepalive: int,
        *,
        clean_start: bool = True,
        username: str | None = None,
        password: bytes | None = None,
        options: ConnectOptions | None = None,
    ) -> None:
        if not 0 <= keepalive <= 0xFFFF:
            raise LocalProtocolError(f"keepalive must be in 0..65535 seconds, got {keepalive}")
        if options is None:
            options = DEFAULT_OPTIONS if clean_start else RESUME_OPTIONS
        elif not clean_start:
            raise LocalProtocolError("pass clean_start inside options, not beside them")
        problem = options.problem(version)
        if problem is not None:
            raise LocalProtocolError(f"client {client_id!r}: {problem}")
        self._client_id = client_id
        self._version = version
        self._keepalive = keepalive
        self._options = options
        self._username = username
        self._password = password
        self._state = _NEW
        self._next_id = 1
        self._limits = DEFAULT_LIMITS
        self._flight: InFlight | None = None
        self._aliases: TopicAliases | None = None
        self._outbound = b""
        self._buffer = b""

    @property
    def state(self) -> SessionState:
        """The current state."""
        return self._state

    @property
    def client_id(self) -> str:
        """The client identifier sent in CONNECT."""
        return self._client_id

    @property
    def version(self) -> MQTTVersion:
        """The protocol version of this connection."""
        return self._version

    @property
    def options(self) -> ConnectOptions:
        """The CONNECT options; after a kept session's first CONNACK, without clean start."""
        return self._options

    @property
    def limits(self) -> BrokerLimits:
        """What the broker's last CONNACK allowed (defaults before it and on 3.1.1)."""
        return self._limits

    @property
    def keepalive(self) -> int:
        """Keepalive in seconds: ours, or the broker's Server Keep Alive once CONNACK said so."""
        server = self._limits.server_keep_alive
        return self._keepalive if server is None else server

    @property
    def receive_maximum(self) -> int:
        """How many QoS 1 and 2 messages may be unacknowledged at once."""
        return self._limits.receive_maximum

    @property
    def inflight_count(self) -> int:
        """QoS 1 and 2 messages sent and not yet complete."""
        flight = self._flight
        return len(flight.outgoing) if flight is not None else 0

    @property
    def persistent(self) -> bool:
        """Whether the broker keeps this session after the connection ends."""
        if self._version is not _V5:
            return not self._options.clean_start
        expiry = self._limits.session_expiry_interval
        return (self._options.session_expiry_interval if expiry is None else expiry) > 0

    def set_will(self, will: Will | None) -> None:
        """Carry ``will`` in the next CONNECT (Sparkplug numbers each connect's will anew)."""
        if self._state is not _NEW and self._state is not _CLOSED:
            raise LocalProtocolError(f"set_will() on a {self._state.value} session")
        self._options = replace(self._options, will=will)

    def connect(self) -> bytes:
        """Start a connection (a new one, or a reconnect): returns the CONNECT to send."""
        if self._state is not _NEW and self._state is not _CLOSED:
            raise LocalProtocolError(f"connect() on a {self._state.value} session")
        opts = self._options
        props = opts.connect_properties() if self._version is _V5 else NO_PROPERTIES
        packet = Connect(
            self._client_id,
            self._keepalive,
            opts.clean_start,
            self._username,
            self._password,
            opts.will,
            props,
        )
        try:
            data = encode(packet, self._version)
        except LocalProtocolError as exc:
            raise LocalProtocolError(f"client {self._client_id!r}: CONNECT: {exc}") from exc
        self._limits = DEFAULT_LIMITS
        self._state = _CONNECTING
        return data

    def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int = 0,
        retain: bool = False,
        *,
        properties: Properties = NO_PROPERTIES,
    ) -> bytes:
        """Encode a PUBLISH; QoS 1 and 2 take a packet id and count against the window.

        ``properties`` (5.0) carry message expiry, content type, response topic,
        correlation data, user properties; the session adds the topic alias itself.
        """
        self._check_connected("publish()")
        self._check_publish(qos, retain)
        if properties is not NO_PROPERTIES and (
            properties.topic_alias is not None or properties.subscription_identifiers
        ):
            raise LocalProtocolError(
                f"client {self._client_id!r}: PUBLISH to {topic!r}: topic aliases are the "
                "session's to assign and subscription identifiers the broker's"
            )
        packet_id = self._take_packet_id() if qos else None
        aliases = self._aliases
        alias: bytes | None = None
        key = b""
        new = False
        try:
            plain = Publish(topic, payload, qos, retain, False, packet_id, properties)
            if aliases is not None and aliases.maximum:
                key = publish_prefix(topic, _V5)
                alias, new = aliases.lookup(key)
            if alias is None:
                data = encode(plain, self._version)
            else:
                aliased = replace(
                    plain,
                    topic=topic if new else "",
                    properties=replace(properties, topic_alias=int.from_bytes(alias, "big")),
                )
                data = encode(aliased, self._version)
        except LocalProtocolError as exc:
            raise LocalProtocolError(
                f"client {self._client_id!r}: PUBLISH to {topic!r}: {exc}"
            ) from exc
        self._check_size(data, "PUBLISH", packet_id)
        if new and alias is not None and aliases is not None:
            aliases.assign(key, alias)
        if packet_id is not None:
            # A resumed session is a new connection, where our aliases mean nothing.
            self._store(packet_id, data if alias is None else encode(plain, self._version))
        return data

    def publish_prefixed(
        self, prefix: bytes, payload: bytes, qos: int = 0, retain: bool = False
    ) -> bytes:
        """The hot-path :meth:`publish`: ``prefix`` comes from :meth:`topic_prefix`.

        Every message the fleet sends goes through here, QoS 0 included, so the broker's
        CONNACK limits apply to all of them: a packet over its Maximum Packet Size raises
        :class:`PacketTooLargeError` and is not sent. With topic aliases on, the first
        message on a connection carries the topic and its alias, later ones only the alias
        (an empty topic); once the broker's Topic Alias Maximum is used up, further topics
        go out in full. The device keeps passing the same prefix either way.
        """
        if self._state is not _CONNECTED:
            self._check_connected("publish_prefixed()")
        if qos == 0 and not retain:
            # A QoS 0 message keeps no state, so this is only framing: the prefix, or the
            # aliased variable header that stands for it, then the payload.
            aliases = self._aliases
            if aliases is not None:
                aliased = aliases.outbound.get(prefix)
                if aliased is not None:
                    prefix = aliased
                elif len(aliases.outbound) < aliases.maximum:
                    return self._publish_prefixed(prefix, payload, 0, False)  # a new alias
            size = len(prefix) + len(payload)
            header = _QOS0_HEADERS.get(size)
            if header is None:
                header = _qos0_header(size)
            data = b"".join((header, prefix, payload))
            if len(data) > self._limits.maximum_packet_size:
                self._check_size(data, "PUBLISH", None)
            return data
        if qos == 1 and not retain and self._aliases is None and self._limits.maximum_qos:
            return self._publish_qos1(prefix, payload)
        return self._publish_prefixed(prefix, payload, qos, retain)

    def _publish_qos1(self, prefix: bytes, payload: bytes) -> bytes:
        # Without aliases the packet sent is the packet kept for a resend: one object.
        packet_id = self._take_packet_id()
        data = encode_publish_with_id(PUBLISH_QOS1, prefix, packet_id, payload, self._version)
        if len(data) > self._limits.maximum_packet_size:
            self._check_size(data, "PUBLISH", packet_id)
        self._store(packet_id, data)
        return data

    def _publish_prefixed(self, prefix: bytes, payload: bytes, qos: int, retain: bool) -> bytes:
        self._check_publish(qos, retain)
        first = 0x30 | (qos << 1) | retain
        packet_id = self._take_packet_id() if qos else None
        pid = b"" if packet_id is None else packet_id.to_bytes(2, "big")
        v5 = self._version is _V5
        # A 5.0 prefix is the topic string plus an empty property block.
        topic_field, props = (prefix[:-1], b"\x00") if v5 else (prefix, b"")
        aliases = self._aliases
        alias, new = (None, False) if aliases is None else aliases.lookup(prefix)
        if alias is None:
            data = encode_publish_fields(first, topic_field, pid, props, payload)
        else:
            sent_topic = topic_field if new else _EMPTY_TOPIC
            data = encode_publish_fields(first, sent_topic, pid, _ALIAS_PROPERTY + alias, payload)
        self._check_size(data, "PUBLISH", packet_id)
        if new and alias is not None and aliases is not None:
            aliases.assign(prefix, alias)
        if packet_id is not None:
            if alias is not None:
                data_plain = encode_publish_fields(first, topic_field, pid, props, payload)
                self._store(packet_id, data_plain)
            else:
                self._store(packet_id, data)
        return data

    def topic_prefix(self, topic: str) -> bytes:
        """:func:`publish_prefix` for this session's version."""
        return publish_prefix(topic, self._version)

    def subscribe(
        self,
        filters: Sequence[tuple[str, int] | Subscription],
        *,
        properties: Properties = NO_PROPERTIES,
    ) -> bytes:
        """Encode a SUBSCRIBE for ``(topic_filter, qos)`` pairs or full :class:`Subscription`s.

        No local, retain as published and retain handling are 5.0 options; a 3.1.1 session
        refuses them.
        """
        self._check_connected("subscribe()")
        subs = tuple(f if isinstance(f, Subscription) else Subscription(*f) for f in filters)
        packet_id = self._allocate_id()
        packet = Subscribe(packet_id, subs, properties)
        return self._request(packet, PacketType.SUBSCRIBE, packet_id, len(subs))

    def unsubscribe(
        self, topic_filters: Sequence[str], *, properties: Properties = NO_PROPERTIES
    ) -> bytes:
        """Encode an UNSUBSCRIBE for ``topic_filters``."""
        self._check_connected("unsubscribe()")
        packet_id = self._allocate_id()
        packet = Unsubscribe(packet_id, tuple(topic_filters), properties)
        return self._request(packet, PacketType.UNSUBSCRIBE, packet_id, len(topic_filters))

    def ping(self) -> bytes:
        """Encode a PINGREQ."""
        self._check_connected("ping()")
        return _PINGREQ

    def disconnect(self, reason_code: int = 0) -> bytes:
        """Encode a DISCONNECT and close the session; the transport should then close."""
        if self._state is not _CONNECTING and self._state is not _CONNECTED:
            raise LocalProtocolError(f"disconnect() on a {self._state.value} session")
        data = encode(Disconnect(reason_code), self._version)
        self._close()
        return data

    def connection_lost(self) -> None:
        """The transport closed: forget what was in flight, unless the broker keeps it."""
        self._close()

    @property
    def unacknowledged(self) -> int:
        """QoS 1 messages received on this connection and not yet acknowledged
        (``manual_acks``; always 0 without)."""
        flight = self._flight
        unacked = flight.unacked if flight is not None else None
        return len(unacked) if unacked is not None else 0

    def acknowledge(self, count: int) -> bytes:
        """The PUBACKs of the ``count`` oldest QoS 1 messages still unacknowledged, in the
        order they arrived, as MQTT requires (``manual_acks``).

        Unacknowledged messages belong to the connection they came on: a connection loss
        forgets them (the broker sends them again, DUP set, if it resumes the session), so
        ``count`` counts only messages received since the last CONNACK. On a session that
        is not connected there is nothing to acknowledge and ``b""`` comes back, whatever
        ``count`` says: the connection they came on is gone. A ``count`` beyond
        :attr:`unacknowledged` on a connected session is a :class:`LocalProtocolError`.
        """
        if count <= 0 or self._state is not _CONNECTED:
            return b""
        flight = self._flight
        unacked = flight.unacked if flight is not None else None
        if flight is None or unacked is None or count > len(unacked):
            raise LocalProtocolError(
                f"client {self._client_id!r}: cannot acknowledge {count} messages, "
                f"{self.unacknowledged} are unacknowledged"
            )
        released = unacked[:count]
        del unacked[:count]
        if not unacked:
            flight.unacked = None
            if flight.is_empty():
                self._flight = None
        # Every PUBACK is 40 02 and the packet id: one big-endian u32 each, packed at once.
        return pack(f">{count}I", *[_PUBACK_HEAD | packet_id for packet_id in released])

    def data_to_send(self) -> bytes:
        """Bytes the session produced by itself (acks, PUBRELs, retransmissions)."""
        data = self._outbound
        self._outbound = b""
        return data

    @property
    def ping_interval(self) -> float:
        """Seconds between PINGREQs: half the keepalive in force (0: never ping).

        The keepalive in force is the broker's Server Keep Alive once its CONNACK names one.
        Half of it, so a ping sent late by a busy process, or slow on the way, still reaches
        the broker within the keepalive and far inside its 1.5x grace.
        """
        return self.keepalive / 2

    def keepalive_expired(self, now: float, last_received: float) -> bool:
        """Whether the broker has been silent too long, given when it last sent anything."""
        keepalive = self.keepalive
        return keepalive > 0 and now - last_received >= KEEPALIVE_GRACE * keepalive

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes read from the connection; returns the events they complete, in order.

        Raises :class:`RemoteProtocolError` (the session is then closed) if the broker breaks
        the protocol, and :class:`BrokerRefusedError` if CONNACK reports a failure. Bytes
        arriving after the session closed are ignored: they were in flight.
        """
        return receive(self, data)

    # outbound helpers

    def _check_connected(self, what: str) -> None:
        if self._state is not _CONNECTED:
            raise LocalProtocolError(
                f"{what} on a {self._state.value} session (client {self._client_id!r}); "
                "wait for CONNACK"
            )

    def _check_publish(self, qos: int, retain: bool) -> None:
        limits = self._limits
        if qos not in (0, 1, 2):
            raise LocalProtocolError(
                f"client {self._client_id!r}: PUBLISH QoS must be 0, 1 or 2, got {qos}"
            )
        if qos > limits.maximum_qos:
            raise LocalProtocolError(
                f"client {self._client_id!r}: PUBLISH at QoS {qos} exceeds the broker's "
                f"maximum QoS of {limits.maximum_qos}"
            )
        if retain and not limits.retain_available:
            raise LocalProtocolError(
                f"client {self._client_id!r}: retained PUBLISH, but the broker has no retain"
            )

    def _check_size(self, data: bytes, what: str, packet_id: int | None) -> None:
        limit = self._limits.maximum_packet_size
        if len(data) > limit:
            label = what if packet_id is None else f"{what} {packet_id}"
            raise PacketTooLargeError(
                f"client {self._client_id!r}: {label} of {len(data)} bytes exceeds the "
                f"broker's maximum packet size of {limit}"
            )

    def _request(self, packet: Packet, kind: PacketType, packet_id: int, count: int) -> bytes:
        try:
            data = encode(packet, self._version)
        except LocalProtocolError as exc:
            raise LocalProtocolError(
                f"client {self._client_id!r}: {kind.name} {packet_id}: {exc}"
            ) from exc
        self._check_size(data, kind.name, packet_id)
        flight = self._flight
        if flight is None:
            flight = self._flight = InFlight()
        if flight.requests is None:
            flight.requests = {}
        flight.requests[packet_id] = (kind, count)
        return data

    def _take_packet_id(self) -> int:
        flight = self._flight
        if flight is not None and len(flight.outgoing) >= self._limits.receive_maximum:
            raise InflightLimitError(
                f"client {self._client_id!r} has {self._limits.receive_maximum} QoS 1 and 2 "
                "messages in flight, the broker's receive maximum"
            )
        return self._allocate_id()

    def _store(self, packet_id: int, data: bytes) -> None:
        flight = self._flight
        if flight is None:
            flight = self._flight = InFlight()
        flight.outgoing[packet_id] = data

    def _allocate_id(self) -> int:
        packet_id = self._next_id
        flight = self._flight
        if flight is not None and (
            packet_id in flight.outgoing or (flight.requests and packet_id in flight.requests)
        ):
            packet_id = self._free_id(flight, packet_id)
        self._next_id = packet_id + 1 if packet_id < MAX_PACKET_ID else 1
        return packet_id

    def _free_id(self, flight: InFlight, packet_id: int) -> int:
        # The next id not in use, counting on from ``packet_id`` and wrapping after 65535.
        outgoing = flight.outgoing
        requests = flight.requests or ()
        for _ in range(MAX_PACKET_ID):
            if packet_id not in outgoing and packet_id not in requests:
                return packet_id
            packet_id = packet_id + 1 if packet_id < MAX_PACKET_ID else 1
        raise LocalProtocolError(f"client {self._client_id!r} has no free packet id")

    def _close(self) -> None:
        self._state = _CLOSED
        self._buffer = b""
        self._outbound = b""
        self._aliases = None
        flight = self._flight
        if flight is None:
            return
        # Acknowledgements of SUBSCRIBE and UNSUBSCRIBE never come on another connection, and
        # ours of the broker's QoS 1 messages never go on one: it sends those again.
        flight.requests = None
        flight.unacked = None
        if not self.persistent or flight.is_empty():
            self._flight = None
