"""What a client asks for when it connects, and what the broker's CONNACK allows it.

Both are frozen and meant to be shared: one :class:`ConnectOptions` serves a whole fleet
(unless each device has its own will), and :func:`limits_from_connack` hands every
session connected to the same broker the same :class:`BrokerLimits` object, so neither
costs anything per device.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from .codec import DEFAULT_MAX_PACKET_SIZE
from .packets import Will
from .properties import NO_PROPERTIES, Properties
from .version import MQTTVersion

MAX_U16 = 0xFFFF


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """CONNECT settings beyond the client id, keepalive and credentials.

    Everything but ``clean_start`` and a property-less ``will`` needs MQTT 5;
    :meth:`problem` says what a 3.1.1 connection cannot carry.
    """

    clean_start: bool = True
    """``Clean Session`` in 3.1.1, ``Clean Start`` in 5.0, for the first CONNECT."""
    will: Will | None = None
    """The last will (topic, payload, QoS, retain; 5.0: will delay and other properties)."""
    session_expiry_interval: int = 0
    """Seconds the broker keeps the session after the connection ends (5.0)."""
    receive_maximum: int | None = None
    """How many QoS 1 and 2 messages the broker may have unacknowledged towards us (5.0).

    None sends no Receive Maximum, which the specification reads as 65,535; Mosquitto 2.0.11
    reads it as its ``max_inflight_messages`` instead (1,000 in ``broker_config/``), so a
    client that holds acknowledgements back (``manual_acks``) states it."""
    maximum_packet_size: int | None = None
    """The largest packet we accept; the broker is told, our decoder enforces it (5.0)."""
    topic_alias_maximum: int = 0
    """How many topic aliases the broker may use towards us (5.0)."""
    topic_aliases: bool = False
    """Alias our own topics, up to the broker's Topic Alias Maximum (5.0)."""
    user_properties: tuple[tuple[str, str], ...] = ()
    """User properties of the CONNECT packet (5.0)."""
    message_runs: bool = False
    """Deliver each run of plain QoS 0 messages (no retain, DUP or properties) in one read as
    one :class:`~simulator.mqtt.events.MessagesReceived`, not a
    :class:`~simulator.mqtt.events.MessageReceived` each: for a subscriber that takes
    thousands a second. Not sent to the broker."""
    manual_acks: bool = False
    """Leave the PUBACK of each incoming QoS 1 message to the application, which releases
    them in the order they arrived (:meth:`~simulator.mqtt.ClientSession.acknowledge`), say
    once it has stored them: the broker forgets a message only at its PUBACK, so with a kept
    session a client that dies before storing gets it again. QoS 2 is still acknowledged
    (PUBREC) on arrival. Not sent to the broker."""

    def problem(self, version: MQTTVersion) -> str | None:
        """Why these options cannot be used on a ``version`` connection, or None."""
        if not 0 <= self.session_expiry_interval <= 0xFFFF_FFFF:
            return f"session expiry interval {self.session_expiry_interval} is not a u32"
        if not 0 <= self.topic_alias_maximum <= MAX_U16:
            return f"topic alias maximum {self.topic_alias_maximum} is not in 0..65535"
        if self.receive_maximum is not None and not 1 <= self.receive_maximum <= MAX_U16:
            return f"receive maximum {self.receive_maximum} is not in 1..65535"
        if self.maximum_packet_size is not None and not (
            2 <= self.maximum_packet_size <= DEFAULT_MAX_PACKET_SIZE
        ):
            return f"maximum packet size {self.maximum_packet_size} is out of range"
        if version is MQTTVersion.V5:
            return None
        v5_only = [
            name
            for name, used in (
                ("session expiry interval", self.session_expiry_interval),
                ("receive maximum", self.receive_maximum is not None),
                ("maximum packet size", self.maximum_packet_size is not None),
                ("topic alias maximum", self.topic_alias_maximum),
                ("topic aliases", self.topic_aliases),
                ("user properties", self.user_properties),
                ("will properties", self.will and self.will.properties != NO_PROPERTIES),
            )
            if used
        ]
        if v5_only:
            return f"{', '.join(v5_only)} need MQTT 5; this connection is 3.1.1"
        return None

    def connect_properties(self) -> Properties:
        """The CONNECT property block these options ask for (5.0)."""
        return Properties(
            session_expiry_interval=self.session_expiry_interval or None,
            receive_maximum=self.receive_maximum,
            maximum_packet_size=self.maximum_packet_size,
            topic_alias_maximum=self.topic_alias_maximum or None,
            user_properties=self.user_properties,
        )


DEFAULT_OPTIONS = ConnectOptions()
RESUME_OPTIONS = ConnectOptions(clean_start=False)


@lru_cache(maxsize=256)
def resuming(options: ConnectOptions) -> ConnectOptions:
    """``options`` for the reconnects of a session the broker keeps: no clean start.

    Cached, so a fleet sharing one options object shares its resuming twin too.
    """
    return replace(options, clean_start=False)


@dataclass(frozen=True, slots=True)
class BrokerLimits:
    """What the broker's CONNACK allows this connection; 3.1.1 brokers state none."""

    receive_maximum: int = MAX_U16
    """QoS 1 and 2 messages we may have unacknowledged at once."""
    topic_alias_maximum: int = 0
    """Topic aliases we may use; 0 forbids them."""
    maximum_packet_size: int = DEFAULT_MAX_PACKET_SIZE
    """The largest packet the broker accepts from us."""
    maximum_qos: int = 2
    retain_available: bool = True
    server_keep_alive: int | None = None
    """The broker's keepalive, which replaces ours."""
    session_expiry_interval: int | None = None
    """The broker's session expiry, which replaces ours."""
    wildcard_subscription_available: bool = True
    """Whether filters with ``+`` or ``#`` may be subscribed to."""
    subscription_identifier_available: bool = True
    """Whether a SUBSCRIBE may carry a subscription identifier."""
    shared_subscription_available: bool = True
    """Whether ``$share/{group}/{filter}`` subscriptions may be made."""


DEFAULT_LIMITS = BrokerLimits()


def limits_from_connack(props: Properties) -> BrokerLimits:
    """The limits a 5.0 CONNACK's properties state; equal limits are one shared object."""
    if props is NO_PROPERTIES:
        return DEFAULT_LIMITS
    return _interned(
        MAX_U16 if props.receive_maximum is None else props.receive_maximum,
        props.topic_alias_maximum or 0,
        props.maximum_packet_size or DEFAULT_MAX_PACKET_SIZE,
        2 if props.maximum_qos is None else props.maximum_qos,
        props.retain_available != 0,
        props.server_keep_alive,
        props.session_expiry_interval,
        # Absent means available (MQTT 5.0, 3.2.2.3.11 to 3.2.2.3.13).
        props.wildcard_subscription_available != 0,
        props.subscription_identifier_available != 0,
        props.shared_subscription_available != 0,
    )


@lru_cache(maxsize=64)
def _interned(  # noqa: PLR0917 - mirrors the BrokerLimits fields
    receive_maximum: int,
    topic_alias_maximum: int,
    maximum_packet_size: int,
    maximum_qos: int,
    retain_available: bool,
    server_keep_alive: int | None,
    session_expiry_interval: int | None,
    wildcard_subscription_available: bool,
    subscription_identifier_available: bool,
    shared_subscription_available: bool,
) -> BrokerLimits:
    return BrokerLimits(
        receive_maximum,
        topic_alias_maximum,
        maximum_packet_size,
        maximum_qos,
        retain_available,
        server_keep_alive,
        session_expiry_interval,
        wildcard_subscription_available,
        subscription_identifier_available,
        shared_subscription_available,
    )
