"""What :meth:`ClientSession.receive_data` reports: one small event per meaningful packet.

A QoS 1 message of ours ends with :class:`PubAckReceived`; a QoS 2 message with
:class:`PubCompReceived`, or with :class:`PubRecReceived` when its reason code is a
failure (0x80 or above), since the broker then ends the exchange there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .packets import Publish
from .properties import Properties


@dataclass(frozen=True, slots=True)
class Connected:
    """The broker accepted the connection (CONNACK with reason code 0)."""

    session_present: bool
    properties: Properties
    """The CONNACK properties (5.0), e.g. the broker's receive maximum."""
    discarded: tuple[int, ...] = ()
    """Packet ids of our QoS 1/2 messages dropped unacknowledged: the broker had no session."""
    resent: int = 0
    """How many unacknowledged PUBLISH (DUP set) and PUBREL packets the session queued in
    :meth:`ClientSession.data_to_send` to resume the session, in their original order."""


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """An application message arrived; its PUBACK or PUBREC is already queued (a QoS 1
    PUBACK waits for :meth:`ClientSession.acknowledge` with ``manual_acks``).

    A QoS 2 message is delivered once, when its PUBLISH arrives; a retransmission of it
    before PUBREL is acknowledged again but not delivered again.
    """

    publish: Publish


@dataclass(frozen=True, slots=True)
class MessagesReceived:
    """A run of plain QoS 0 messages, in order: ``topics[i]`` carried ``payloads[i]``.

    Given instead of a :class:`MessageReceived` each when the session's options ask for
    ``message_runs``: a run is every QoS 0 PUBLISH without retain, DUP or properties that
    one read brings in a row, so a subscriber pays for one event per read, not per message.
    """

    topics: list[str]
    payloads: list[bytes]


def _message_factory() -> Callable[[Publish], MessageReceived]:
    # As codec.new_publish: the frozen dataclass's __init__ costs an object.__setattr__.
    new = object.__new__
    publish_ = getattr(MessageReceived, "publish").__set__  # noqa: B009 - a slot, not typed

    def make(publish: Publish) -> MessageReceived:
        event: MessageReceived = new(MessageReceived)
        publish_(event, publish)
        return event

    return make


new_message = _message_factory()
"""``MessageReceived(publish)`` for the receive path's hot loop, without its ``__init__``."""


@dataclass(frozen=True, slots=True)
class _Acknowledged:
    """What the broker's acknowledgement of a packet of ours says: its packet id and reason
    code, and a 5.0 reason string."""

    packet_id: int
    reason_code: int
    reason_string: str | None = None


@dataclass(frozen=True, slots=True)
class PubAckReceived(_Acknowledged):
    """The broker acknowledged one of our QoS 1 messages."""


@dataclass(frozen=True, slots=True)
class PubRecReceived(_Acknowledged):
    """The broker received one of our QoS 2 messages; PUBREL is queued unless it failed."""


@dataclass(frozen=True, slots=True)
class PubCompReceived(_Acknowledged):
    """One of our QoS 2 messages is complete; its packet id is free again."""


@dataclass(frozen=True, slots=True)
class _Answered:
    """The broker's answer to a SUBSCRIBE or UNSUBSCRIBE: its packet id, one reason code per
    filter, and a 5.0 reason string."""

    packet_id: int
    reason_codes: tuple[int, ...]
    reason_string: str | None = None


@dataclass(frozen=True, slots=True)
class Subscribed(_Answered):
    """The broker answered a SUBSCRIBE: one granted QoS or failure code per filter."""


@dataclass(frozen=True, slots=True)
class Unsubscribed(_Answered):
    """The broker answered an UNSUBSCRIBE (5.0: one reason code per filter; 3.1.1: none)."""


@dataclass(frozen=True, slots=True)
class PongReceived:
    """The broker answered a PINGREQ."""


@dataclass(frozen=True, slots=True)
class ServerDisconnected:
    """The broker sent DISCONNECT (5.0 only); the session is now closed."""

    reason_code: int
    reason_string: str | None


Event = (
    Connected
    | MessageReceived
    | MessagesReceived
    | PubAckReceived
    | PubRecReceived
    | PubCompReceived
    | Subscribed
    | Unsubscribed
    | PongReceived
    | ServerDisconnected
)
"""Anything :meth:`ClientSession.receive_data` can return."""
