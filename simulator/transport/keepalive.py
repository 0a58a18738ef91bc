"""Keepalive for any number of links from one tick: ping, and drop a broker gone silent.

The fleet's ping wheel and each long-lived subscriber's one timer call :func:`keep_alive`
every :attr:`~simulator.mqtt.ClientSession.ping_interval` (half the keepalive in force, the
broker's Server Keep Alive when its CONNACK names one). No time is read per received packet:
receiving only clears :attr:`MqttLink.silent_since`, and the first tick after that stamps it
with the tick's time, one float shared by every link of the tick. A link whose broker has
then stayed silent for the session's grace (:meth:`~simulator.mqtt.ClientSession.keepalive_expired`,
1.5 keepalives) is dead: a stalled or partitioned broker never closes the socket, so the link
is aborted with the reason and its owner reconnects it as after any drop.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from simulator.errors import LocalProtocolError, RemoteProtocolError
from simulator.mqtt.session import KEEPALIVE_GRACE
from simulator.transport.connection import MqttLink


def keep_alive(links: Iterable[MqttLink], now: float) -> int:
    """Ping every open link of ``links`` at ``now``; abort those whose broker went silent.

    Returns how many were aborted. They are aborted after the loop, so a transport that
    reports its loss at once cannot change ``links`` while it is walked.
    """
    dead: list[MqttLink] = []
    for link in links:
        if link.transport is None:
            continue
        session = link.session
        silent = link.silent_since
        if silent is None:
            link.silent_since = now
        elif session.keepalive_expired(now, silent):
            dead.append(link)
            continue
        with contextlib.suppress(LocalProtocolError):  # closing: no ping needed
            link.send(session.ping())
    for link in dead:
        keepalive = link.session.keepalive
        link.error = RemoteProtocolError(
            f"{link.session.client_id}: the broker sent nothing for {KEEPALIVE_GRACE:g} x its "
            f"keepalive of {keepalive} s"
        )
        link.abort()
    return len(dead)
