"""What :meth:`ClientSession.receive_data` reports: one small event per meaningful packet."""

from __future__ import annotations

from dataclasses import dataclass

from .packets import Publish
from .properties import Properties


@dataclass(frozen=True, slots=True)
class Connected:
    """The broker accepted the connection (CONNACK with reason code 0)."""

    session_present: bool
    properties: Properties
    """The CONNACK properties (5.0), e.g. the broker's receive maximum."""


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """An application message arrived; a QoS 1 message's PUBACK is already queued."""

    publish: Publish


@dataclass(frozen=True, slots=True)
class PubAckReceived:
    """The broker acknowledged one of our QoS 1 messages."""

    packet_id: int
    reason_code: int


@dataclass(frozen=True, slots=True)
class Subscribed:
    """The broker answered a SUBSCRIBE: one granted QoS or failure code per filter."""

    packet_id: int
    reason_codes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PongReceived:
    """The broker answered a PINGREQ."""


@dataclass(frozen=True, slots=True)
class ServerDisconnected:
    """The broker sent DISCONNECT (5.0 only); the session is now closed."""

    reason_code: int
    reason_string: str | None


Event = (
    Connected | MessageReceived | PubAckReceived | Subscribed | PongReceived | ServerDisconnected
)
"""Anything :meth:`ClientSession.receive_data` can return."""
