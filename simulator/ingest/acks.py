"""Acknowledging the broker's QoS 1 messages once their rows are committed (kept sessions).

The worker's session holds the PUBACKs (``manual_acks``) and releases the oldest on request;
this counts which to release. Messages are numbered as the session delivers them, over the
worker's whole life: a batch handed to the writer carries the number of the last message
delivered before it was cut, and once the writer is done with it everything up to that
number may be acknowledged, since each of those messages has its row in that batch or an
earlier one, or has none. Numbers of messages held by a connection that was lost are simply
passed over: the broker sends those messages again on a resumed session, under new numbers.
"""

from __future__ import annotations

from simulator.mqtt import ClientSession
from simulator.transport.connection import MqttLink


class CommitAcks:
    """Which of the broker's QoS 1 messages may be acknowledged, and acknowledging them."""

    __slots__ = ("_link", "_released", "_session", "_taken")

    def __init__(self, session: ClientSession) -> None:
        self._session = session
        self._taken = 0
        self._released = 0
        """Acknowledged, or forgotten with the connection they came on."""
        self._link: MqttLink | None = None

    @property
    def taken(self) -> int:
        """QoS 1 messages delivered up to the end of the latest read."""
        return self._taken

    def read(self, link: MqttLink) -> None:
        """A read on ``link`` has been accounted for and batched: count what it delivered."""
        self._link = link
        self._taken = self._released + self._session.unacknowledged

    def lost(self) -> None:
        """The connection went away, and its unacknowledged messages with it."""
        self._released = self._taken

    def release(self, through: int) -> None:
        """Acknowledge the messages up to number ``through`` not acknowledged yet, oldest
        first, if the connection they came on is still there."""
        count = through - self._released
        if count <= 0:
            return
        self._released = through
        data = self._session.acknowledge(count)  # nothing if that connection is gone
        link = self._link
        if data and link is not None:
            link.send(data)
