"""The life of a client session, in its own module so both halves of the session share it."""

from __future__ import annotations

from enum import Enum


class SessionState(Enum):
    """Where a :class:`~simulator.mqtt.session.ClientSession` is in its life."""

    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"
