"""The client side of one MQTT connection as a pure state machine.

``ClientSession`` turns calls into bytes to send and received bytes into events; it never
touches a socket or a clock (keepalive helpers take ``now``). One exists per device
connection, so it is a handful of slots: the receive buffer and outbound queue are the
shared empty ``b""`` while idle, and the in-flight sets exist only while something is in
flight.

States and what moves between them::

    NEW --connect()--> CONNECTING --CONNACK 0--> CONNECTED
    CONNECTING --CONNACK failure--> CLOSED (raises BrokerRefusedError)
    CONNECTING | CONNECTED --disconnect() / server DISCONNECT / connection_lost()--> CLOSED
    any state --broker breaks the protocol--> CLOSED (raises RemoteProtocolError)
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from ..errors import BrokerRefusedError, LocalProtocolError, RemoteProtocolError
from .codec import decode
from .encoder import encode, encode_publish_qos0, encode_publish_qos1, publish_prefix
from .events import (
    Connected,
    Event,
    MessageReceived,
    PongReceived,
    PubAckReceived,
    ServerDisconnected,
    Subscribed,
)
from .packet_type import PacketType
from .packets import (
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    Publish,
    SubAck,
    Subscribe,
    Subscription,
)
from .reason_codes import reason_code_name
from .version import MQTTVersion

MAX_PACKET_ID = 0xFFFF
DEFAULT_RECEIVE_MAXIMUM = 65_535
"""What 5.0 assumes when CONNACK carries no receive maximum; 3.1.1 has no limit of its own."""
KEEPALIVE_GRACE = 1.5
"""The spec's factor: a peer silent for 1.5 keepalive periods is gone."""

_PINGREQ = encode(PingReq(), MQTTVersion.V311)


class SessionState(Enum):
    """Where a :class:`ClientSession` is in its life."""

    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"


class InflightLimitError(LocalProtocolError):
    """A QoS 1 publish would exceed the broker's receive maximum; wait for a PUBACK."""


_NEW, _CONNECTING, _CONNECTED, _CLOSED = SessionState


class ClientSession:
    """One client connection's protocol state: packet ids, in-flight QoS 1, keepalive."""

    __slots__ = (
        "_buffer",
        "_clean_start",
        "_client_id",
        "_inflight",
        "_keepalive",
        "_next_id",
        "_outbound",
        "_password",
        "_receive_maximum",
        "_state",
        "_subscribes",
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
    ) -> None:
        if not 0 <= keepalive <= 0xFFFF:
            raise LocalProtocolError(f"keepalive must be in 0..65535 seconds, got {keepalive}")
        self._client_id = client_id
        self._version = version
        self._keepalive = keepalive
        self._clean_start = clean_start
        self._username = username
        self._password = password
        self._state = _NEW
        self._next_id = 1
        self._inflight: set[int] | None = None
        self._subscribes: dict[int, int] | None = None
        """SUBSCRIBE packet id -> how many filters it asked for."""
        self._receive_maximum = DEFAULT_RECEIVE_MAXIMUM
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
    def keepalive(self) -> int:
        """Keepalive in seconds: ours, or the broker's Server Keep Alive once CONNACK said so."""
        return self._keepalive

    @property
    def receive_maximum(self) -> int:
        """How many QoS 1 messages may be unacknowledged at once."""
        return self._receive_maximum

    @property
    def inflight_count(self) -> int:
        """QoS 1 messages sent and not yet acknowledged."""
        return len(self._inflight) if self._inflight else 0

    def connect(self) -> bytes:
        """Start the connection: returns the CONNECT packet to send."""
        if self._state is not _NEW:
            raise LocalProtocolError(f"connect() on a {self._state.value} session")
        data = encode(
            Connect(
                self._client_id, self._keepalive, self._clean_start, self._username, self._password
            ),
            self._version,
        )
        self._state = _CONNECTING
        return data

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> bytes:
        """Encode a PUBLISH; QoS 1 takes a packet id and counts against the receive maximum."""
        self._check_connected("publish()")
        if qos == 0:
            return encode(Publish(topic, payload, 0, retain), self._version)
        packet_id = self._begin_qos1(qos)
        data = encode(Publish(topic, payload, 1, retain, False, packet_id), self._version)
        self._commit_qos1(packet_id)
        return data

    def publish_prefixed(self, prefix: bytes, payload: bytes, qos: int = 0) -> bytes:
        """The hot-path :meth:`publish`: ``prefix`` comes from :func:`publish_prefix`."""
        if self._state is not _CONNECTED:
            self._check_connected("publish_prefixed()")
        if qos == 0:
            return encode_publish_qos0(prefix, payload)
        packet_id = self._begin_qos1(qos)
        data = encode_publish_qos1(prefix, packet_id, payload, self._version)
        self._commit_qos1(packet_id)
        return data

    def topic_prefix(self, topic: str) -> bytes:
        """:func:`publish_prefix` for this session's version."""
        return publish_prefix(topic, self._version)

    def subscribe(self, filters: Sequence[tuple[str, int] | Subscription]) -> bytes:
        """Encode a SUBSCRIBE for ``(topic_filter, qos)`` pairs or full :class:`Subscription`s.

        Only QoS 0 and 1 are supported; 5.0-only options on a 3.1.1 connection are refused.
        """
        self._check_connected("subscribe()")
        subs = tuple(f if isinstance(f, Subscription) else Subscription(*f) for f in filters)
        for sub in subs:
            if sub.qos not in (0, 1):
                raise LocalProtocolError(f"only QoS 0 and 1 are supported, got {sub.qos}")
        packet_id = self._allocate_id()
        data = encode(Subscribe(packet_id, subs), self._version)
        if self._subscribes is None:
            self._subscribes = {}
        self._subscribes[packet_id] = len(subs)
        return data

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
        """The transport closed: forget everything that was in flight."""
        self._close()

    def data_to_send(self) -> bytes:
        """Bytes the session produced by itself (PUBACKs); returns them and forgets them."""
        data = self._outbound
        self._outbound = b""
        return data

    def ping_due(self, now: float, last_sent: float) -> bool:
        """Whether a PINGREQ should go out, given when we last sent anything."""
        return self._keepalive > 0 and now - last_sent >= self._keepalive

    def keepalive_expired(self, now: float, last_received: float) -> bool:
        """Whether the broker has been silent too long, given when it last sent anything."""
        return self._keepalive > 0 and now - last_received >= KEEPALIVE_GRACE * self._keepalive

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes read from the connection; returns the events they complete, in order.

        Raises :class:`RemoteProtocolError` (the session is then closed) if the broker breaks
        the protocol, and :class:`BrokerRefusedError` if CONNACK reports a failure. Bytes
        arriving after the session closed are ignored: they were in flight.
        """
        state = self._state
        if state is _CLOSED or not data:
            return []
        if state is _NEW:
            self._close()
            raise RemoteProtocolError(
                f"client {self._client_id!r}: broker sent data before CONNECT"
            )
        buf = self._buffer + data if self._buffer else data
        size = len(buf)
        pos = 0
        events: list[Event] = []
        version = self._version
        try:
            while pos < size:
                result = decode(buf, version, offset=pos)
                if result is None:
                    break
                packet, used = result
                pos += used
                if type(packet) is Publish and self._state is _CONNECTED:
                    events.append(self._on_publish(packet))
                else:
                    events.append(self._on_packet(packet))
                    if self._state is _CLOSED:
                        return events
        except RemoteProtocolError as exc:
            self._close()
            raise RemoteProtocolError(f"client {self._client_id!r}: {exc}") from exc
        self._buffer = bytes(buf[pos:]) if pos < size else b""
        return events

    def _on_publish(self, packet: Publish) -> Event:
        if packet.qos:
            if packet.qos != 1:
                raise RemoteProtocolError(
                    "broker sent a QoS 2 PUBLISH; we never subscribe at QoS 2"
                )
            assert packet.packet_id is not None  # the decoder guarantees it for QoS > 0
            self._outbound += encode(PubAck(packet.packet_id), self._version)
        return MessageReceived(packet)

    def _on_packet(self, packet: Packet) -> Event:
        name = packet.packet_type.name
        if self._state is _CONNECTING:
            if type(packet) is not ConnAck:
                raise RemoteProtocolError(f"broker sent {name} before CONNACK")
            return self._on_connack(packet)
        if type(packet) is PubAck:
            if not self._inflight or packet.packet_id not in self._inflight:
                raise RemoteProtocolError(f"PUBACK for unknown packet id {packet.packet_id}")
            self._inflight.discard(packet.packet_id)
            if not self._inflight:
                self._inflight = None
            return PubAckReceived(packet.packet_id, packet.reason_code)
        if type(packet) is SubAck:
            return self._on_suback(packet)
        if type(packet) is PingResp:
            return PongReceived()
        if type(packet) is Disconnect and self._version is MQTTVersion.V5:
            self._close()
            return ServerDisconnected(packet.reason_code, packet.properties.reason_string)
        raise RemoteProtocolError(f"broker sent an unexpected {name} to a connected client")

    def _on_connack(self, packet: ConnAck) -> Event:
        if packet.reason_code:
            self._close()
            code = packet.reason_code
            name = reason_code_name(code, self._version, PacketType.CONNACK)
            raise BrokerRefusedError(
                f"broker refused client {self._client_id!r}: {name} (0x{code:02X})", code
            )
        props = packet.properties
        if props.receive_maximum is not None:
            self._receive_maximum = props.receive_maximum
        if props.server_keep_alive is not None:
            self._keepalive = props.server_keep_alive
        self._state = _CONNECTED
        return Connected(packet.session_present, props)

    def _on_suback(self, packet: SubAck) -> Event:
        expected = self._subscribes.pop(packet.packet_id, None) if self._subscribes else None
        if expected is None:
            raise RemoteProtocolError(f"SUBACK for unknown packet id {packet.packet_id}")
        if not self._subscribes:
            self._subscribes = None
        if len(packet.reason_codes) != expected:
            raise RemoteProtocolError(
                f"SUBACK {packet.packet_id} has {len(packet.reason_codes)} reason codes "
                f"for {expected} topic filters"
            )
        return Subscribed(packet.packet_id, packet.reason_codes)

    def _check_connected(self, what: str) -> None:
        if self._state is not _CONNECTED:
            raise LocalProtocolError(
                f"{what} on a {self._state.value} session (client {self._client_id!r}); "
                "wait for CONNACK"
            )

    def _begin_qos1(self, qos: int) -> int:
        if qos != 1:
            raise LocalProtocolError(f"only QoS 0 and 1 are supported, got {qos}")
        if self.inflight_count >= self._receive_maximum:
            raise InflightLimitError(
                f"client {self._client_id!r} has {self._receive_maximum} QoS 1 messages in "
                "flight, the broker's receive maximum"
            )
        return self._allocate_id()

    def _commit_qos1(self, packet_id: int) -> None:
        if self._inflight is None:
            self._inflight = {packet_id}
        else:
            self._inflight.add(packet_id)

    def _allocate_id(self) -> int:
        inflight = self._inflight or ()
        subscribes = self._subscribes or ()
        for _ in range(MAX_PACKET_ID):
            packet_id = self._next_id
            self._next_id = packet_id + 1 if packet_id < MAX_PACKET_ID else 1
            if packet_id not in inflight and packet_id not in subscribes:
                return packet_id
        raise LocalProtocolError(f"client {self._client_id!r} has no free packet id")

    def _close(self) -> None:
        self._state = _CLOSED
        self._buffer = b""
        self._inflight = None
        self._subscribes = None
