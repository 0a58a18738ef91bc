"""Per-connection state that exists only while it is needed: in-flight packets, topic aliases.

A :class:`~simulator.mqtt.session.ClientSession` holds ``None`` instead of either object
while it has nothing in flight and uses no aliases, which is the idle state of almost
every device.
"""

from __future__ import annotations

from .packet_type import PacketType

PUBLISH_QOS1 = 0x32
PUBLISH_QOS2 = 0x34
PUBREL = 0x62
KIND_MASK = 0xF6
"""The first byte without DUP (0x08) and RETAIN (0x01): packet type and QoS."""


def describe(first: int) -> str:
    """What a stored outgoing packet is, for error messages."""
    kind = first & KIND_MASK
    if kind == PUBLISH_QOS1:
        return "a QoS 1 PUBLISH awaiting PUBACK"
    if kind == PUBLISH_QOS2:
        return "a QoS 2 PUBLISH awaiting PUBREC"
    return "a QoS 2 message awaiting PUBCOMP"


class InFlight:
    """Everything unfinished on one connection, by packet id.

    ``outgoing`` maps our packet ids to the bytes we would send again on a resumed
    session: the PUBLISH (QoS 1 awaiting PUBACK, QoS 2 awaiting PUBREC) or, after PUBREC,
    the PUBREL awaiting PUBCOMP. The first byte of the stored packet says which, so no
    second table is needed; insertion order is send order, which is the order the spec
    requires for retransmission (a PUBREL takes its PUBLISH's place). ``incoming`` holds
    the broker's packet ids of QoS 2 messages we delivered and acknowledged with PUBREC,
    until PUBREL. ``unacked`` holds, with ``manual_acks``, the broker's packet ids of QoS 1
    messages delivered and not yet released by the application, in the order they arrived
    (the order their PUBACKs must go in); they belong to the connection they came on.
    ``requests`` holds SUBSCRIBE and UNSUBSCRIBE ids and how many filters each asked for.
    """

    __slots__ = ("incoming", "outgoing", "requests", "unacked")

    def __init__(self) -> None:
        self.outgoing: dict[int, bytes] = {}
        self.incoming: set[int] | None = None
        self.unacked: list[int] | None = None
        self.requests: dict[int, tuple[PacketType, int]] | None = None

    def is_empty(self) -> bool:
        """True when nothing is left in flight."""
        return not self.outgoing and not self.incoming and not self.requests and not self.unacked


ALIASED_TOPIC = b"\x00\x00\x03\x23"
"""An empty topic, then a property block of three bytes holding only a topic alias (0x23):
with the alias's two bytes, what a 5.0 PUBLISH carries in place of its topic."""


class TopicAliases:
    """Topic aliases of one connection, both ways; they die with the connection.

    Outbound, a topic gets the next free alias the first time it is published while any
    is free, and keeps it for the connection (device topics are fixed, so no eviction).
    Keys are :func:`~simulator.mqtt.encoder.publish_prefix` bytes, so the general and the
    hot path share aliases; values are the variable header that replaces the prefix once
    the broker knows the alias, so a QoS 0 message with an alias is framed as cheaply as
    one without.
    """

    __slots__ = ("inbound", "maximum", "outbound")

    def __init__(self, maximum: int, accept_inbound: bool) -> None:
        self.maximum = maximum
        """How many aliases we may assign (the broker's Topic Alias Maximum, or 0)."""
        self.outbound: dict[bytes, bytes] = {}
        """Publish prefix -> :data:`ALIASED_TOPIC` and the alias's two bytes."""
        self.inbound: dict[int, str] | None = {} if accept_inbound else None
        """Alias -> topic the broker set, if we allowed the broker aliases."""

    def lookup(self, prefix: bytes) -> tuple[bytes | None, bool]:
        """The alias (two bytes) for ``prefix`` and whether it is new (the topic goes with it).

        A new alias is not recorded until :meth:`assign` (the packet might not be sent).
        ``(None, False)`` means no alias: none allowed, or all taken by other topics.
        """
        aliased = self.outbound.get(prefix)
        if aliased is not None:
            return aliased[len(ALIASED_TOPIC) :], False
        count = len(self.outbound)
        if count >= self.maximum:
            return None, False
        return (count + 1).to_bytes(2, "big"), True

    def assign(self, prefix: bytes, alias: bytes) -> None:
        """Record that the broker now knows ``alias`` for ``prefix``."""
        self.outbound[prefix] = ALIASED_TOPIC + alias
