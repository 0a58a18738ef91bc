"""The MQTT control packets this core speaks, as frozen, slotted dataclasses.

Fields hold what is on the wire, for both versions: MQTT 3.1.1 has no properties, no AUTH
and no reason codes on the publish acknowledgements, UNSUBACK or DISCONNECT, so there they
must keep their defaults (the encoder refuses anything else). Packets do not validate
themselves: the encoder checks what we send (:class:`LocalProtocolError`), the decoder what
we receive (:class:`RemoteProtocolError`), so building a packet on the hot path costs only
the object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .packet_type import PacketType
from .properties import NO_PROPERTIES, Properties


@dataclass(frozen=True, slots=True)
class Will:
    """The message the broker publishes for a client that vanishes without DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class Connect:
    """CONNECT: the first packet a client sends."""

    packet_type: ClassVar[PacketType] = PacketType.CONNECT
    client_id: str
    keepalive: int
    clean_start: bool = True
    """``Clean Session`` in 3.1.1, ``Clean Start`` in 5.0."""
    username: str | None = None
    password: bytes | None = None
    will: Will | None = None
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class ConnAck:
    """CONNACK: the broker's answer to CONNECT."""

    packet_type: ClassVar[PacketType] = PacketType.CONNACK
    session_present: bool = False
    reason_code: int = 0
    """The 3.1.1 return code (0-5) or the 5.0 reason code; 0 is success in both."""
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class Publish:
    """PUBLISH: an application message, in either direction."""

    packet_type: ClassVar[PacketType] = PacketType.PUBLISH
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None
    """Present exactly when ``qos > 0``."""
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class _PublishAck:
    """The layout PUBACK, PUBREC, PUBREL and PUBCOMP share; each names its packet type."""

    packet_type: ClassVar[PacketType]
    packet_id: int
    reason_code: int = 0
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class PubAck(_PublishAck):
    """PUBACK: acknowledges a QoS 1 PUBLISH."""

    packet_type: ClassVar[PacketType] = PacketType.PUBACK


@dataclass(frozen=True, slots=True)
class PubRec(_PublishAck):
    """PUBREC: the receiver of a QoS 2 PUBLISH has it (step 2 of 4)."""

    packet_type: ClassVar[PacketType] = PacketType.PUBREC


@dataclass(frozen=True, slots=True)
class PubRel(_PublishAck):
    """PUBREL: the sender of a QoS 2 PUBLISH releases its packet id (step 3 of 4)."""

    packet_type: ClassVar[PacketType] = PacketType.PUBREL


@dataclass(frozen=True, slots=True)
class PubComp(_PublishAck):
    """PUBCOMP: the QoS 2 exchange is complete (step 4 of 4)."""

    packet_type: ClassVar[PacketType] = PacketType.PUBCOMP


@dataclass(frozen=True, slots=True)
class Subscription:
    """One topic filter of a SUBSCRIBE and its options (all but ``qos`` are 5.0 only)."""

    topic_filter: str
    qos: int = 0
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0


@dataclass(frozen=True, slots=True)
class Subscribe:
    """SUBSCRIBE: asks for one or more topic filters."""

    packet_type: ClassVar[PacketType] = PacketType.SUBSCRIBE
    packet_id: int
    subscriptions: tuple[Subscription, ...]
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class SubAck:
    """SUBACK: one granted QoS or failure code per requested filter, in order."""

    packet_type: ClassVar[PacketType] = PacketType.SUBACK
    packet_id: int
    reason_codes: tuple[int, ...]
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """UNSUBSCRIBE: drops one or more topic filters."""

    packet_type: ClassVar[PacketType] = PacketType.UNSUBSCRIBE
    packet_id: int
    topic_filters: tuple[str, ...]
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class UnsubAck:
    """UNSUBACK: one reason code per filter in 5.0; none at all in 3.1.1."""

    packet_type: ClassVar[PacketType] = PacketType.UNSUBACK
    packet_id: int
    reason_codes: tuple[int, ...] = ()
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class PingReq:
    """PINGREQ: keeps the connection alive."""

    packet_type: ClassVar[PacketType] = PacketType.PINGREQ


@dataclass(frozen=True, slots=True)
class PingResp:
    """PINGRESP: the broker's answer to PINGREQ."""

    packet_type: ClassVar[PacketType] = PacketType.PINGRESP


@dataclass(frozen=True, slots=True)
class Disconnect:
    """DISCONNECT: client to broker in both versions; broker to client in 5.0 too."""

    packet_type: ClassVar[PacketType] = PacketType.DISCONNECT
    reason_code: int = 0
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class Auth:
    """AUTH (5.0 only): one step of an enhanced authentication exchange."""

    packet_type: ClassVar[PacketType] = PacketType.AUTH
    reason_code: int = 0
    properties: Properties = NO_PROPERTIES


Packet = (
    Connect
    | ConnAck
    | Publish
    | PubAck
    | PubRec
    | PubRel
    | PubComp
    | Subscribe
    | SubAck
    | Unsubscribe
    | UnsubAck
    | PingReq
    | PingResp
    | Disconnect
    | Auth
)
"""Any packet this core can encode or decode."""

AckPacket = PubAck | PubRec | PubRel | PubComp
"""The four packets that carry only a packet id, a reason code and properties."""
