"""The ``asyncio.Protocol`` adapter between a socket and the sans-I/O MQTT session.

One :class:`MqttLink` per connection, as uvicorn does it: callbacks, no task per connection.
It feeds received bytes to the session, flushes whatever the session wants sent, and hands
the session's events to one shared :class:`LinkListener` (one per fleet or worker, not per
device). The only per-connection async object is the CONNACK waiter, which exists while a
connect is in flight and is dropped as soon as it resolves.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Protocol, cast

from simulator.errors import BrokerUnreachableError, ConnectError, SimulatorError
from simulator.mqtt import ClientSession, Connected, Event


class LinkListener(Protocol):
    """What a fleet or a worker does with its connections' events."""

    def on_events(self, link: MqttLink, events: list[Event]) -> None:
        """Events other than the CONNACK arrived on ``link``."""

    def on_lost(self, link: MqttLink, exc: BaseException | None) -> None:
        """``link`` closed after it had connected (``exc`` is None for a clean close)."""


class MqttLink(asyncio.Protocol):
    """One MQTT connection: transport plus session, plus a back-reference for the listener."""

    __slots__ = ("error", "listener", "owner", "session", "silent_since", "transport", "waiter")

    def __init__(
        self, session: ClientSession, listener: LinkListener, owner: object = None
    ) -> None:
        self.session = session
        self.listener = listener
        self.owner = owner
        """Whatever the listener wants to find from a link (a device, a worker)."""
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Connected] | None = None
        self.error: SimulatorError | None = None
        """Why the link was closed by us, if it was (a protocol error from the broker)."""
        self.silent_since: float | None = None
        """The first keepalive tick (:mod:`.keepalive`) since the broker last sent anything:
        it has been silent at least since then. None until such a tick."""

    # asyncio.Protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send CONNECT as soon as TCP is up."""
        # uvloop's transports do not subclass asyncio.Transport, so no isinstance check here.
        tcp = cast(asyncio.Transport, transport)
        self.transport = tcp
        tcp.write(self.session.connect())

    def data_received(self, data: bytes) -> None:
        """Feed the session; answer what it wants answered; pass events on."""
        try:
            events = self.session.receive_data(data)
        except SimulatorError as exc:
            self._fail(exc)
            return
        self.silent_since = None
        transport = self.transport
        out = self.session.data_to_send()
        if out and transport is not None:
            transport.write(out)
        waiter = self.waiter
        if waiter is not None and events and isinstance(events[0], Connected):
            self.waiter = None
            if not waiter.done():
                waiter.set_result(events[0])
            events = events[1:]
        if events:
            self.listener.on_events(self, events)

    def eof_received(self) -> bool | None:
        """The broker closed its side: let the transport close ours."""
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail a pending connect, or tell the listener an established link went away."""
        self.transport = None
        self.session.connection_lost()
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                # A connect error (a TLS layer's failed handshake) already says what happened.
                waiter.set_exception(
                    exc
                    if isinstance(exc, ConnectError)
                    else ConnectError(
                        f"connection closed before CONNACK: {exc or 'closed by broker'}"
                    )
                )
            return
        self.listener.on_lost(self, self.error or exc)

    # used by the owner

    def send(self, data: bytes) -> None:
        """Write ``data`` if the link is open (a closed link drops it; the caller counts)."""
        transport = self.transport
        if transport is not None:
            transport.write(data)

    def close(self) -> None:
        """Send DISCONNECT and close the socket once it is flushed."""
        transport = self.transport
        if transport is None:
            return
        with contextlib.suppress(SimulatorError):
            transport.write(self.session.disconnect())
        transport.close()

    def abort(self) -> None:
        """Close the socket at once, dropping anything unsent."""
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, exc: SimulatorError) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_exception(exc)
            self.abort()
            return
        self.error = exc
        self.abort()


async def open_link(
    link: MqttLink,
    host: str,
    port: int,
    *,
    timeout_s: float,
    ssl_context: ssl.SSLContext | None = None,
    socket_path: str | None = None,
    failure: str,
) -> Connected:
    """Connect one long-lived link (TCP, TLS if given, CONNECT and its CONNACK) in time.

    For the single connections of the ingest worker and the provisioning responder; the
    fleet's many connections go through the :class:`~simulator.transport.connector.Connector`.
    With ``socket_path`` the link goes over that Unix socket, the same broker's listener on
    this host, instead of TCP to ``host:port``. A socket error or the timeout raises
    :class:`BrokerUnreachableError` starting with ``failure`` (e.g. "ingest could not
    connect to mqtt://host:1883").
    """
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[Connected] = loop.create_future()
    link.waiter = waiter
    try:
        async with asyncio.timeout(timeout_s):
            if socket_path is not None:
                await loop.create_unix_connection(lambda: link, socket_path, ssl=ssl_context)
            else:
                await loop.create_connection(
                    lambda: link,
                    host,
                    port,
                    ssl=ssl_context,
                    server_hostname=host if ssl_context is not None else None,
                )
            return await waiter
    except (OSError, TimeoutError) as exc:
        link.abort()
        why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or repr(exc))
        raise BrokerUnreachableError(f"{failure}: {why}") from exc
    except SimulatorError:
        link.abort()
        raise
