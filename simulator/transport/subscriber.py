"""One long-lived subscriber connection: connect, check, subscribe, keep alive, come back.

The ingest worker and the provisioning responder each hold one connection for a whole run
and need the same from it, so this class does it once for both:

* :meth:`Subscriber.connect` opens the link (TCP, TLS, CONNECT, CONNACK) and hands it to the
  owner's ``setup``, which subscribes; if any of it fails the link is aborted and the error
  raised, so a failed attempt leaves nothing behind on the owner's session.
* :meth:`Subscriber.subscribe` checks each filter against the broker's CONNACK first
  (:mod:`simulator.mqtt.capabilities`): a filter the broker cannot take is one
  :class:`BrokerCapabilityError` naming it and the CONNACK property, before anything is
  sent. It then waits for the SUBACK, and fails at once, not at the timeout, if the broker
  disconnects meanwhile, naming its DISCONNECT reason (0x9E: shared subscriptions not
  supported) and recording it in :attr:`Subscriber.disconnect_reason` for a fallback.
* Keepalive: one timer per connection, every :attr:`~simulator.mqtt.ClientSession.ping_interval`
  (which honours the broker's Server Keep Alive), runs :func:`.keepalive.keep_alive`: it
  pings, and drops a broker that has gone silent so that the owner reconnects.
* :meth:`Subscriber.retry` reconnects with the jittered exponential backoff of
  :mod:`.backoff`, the fleet's own.
* :class:`KeptConnection` is the loop an owner that only listens needs around it (the
  responder, the gateway check): connect and set up at start, and again after every loss,
  until stopped.

The subscriber is its link's listener: it looks at the events only while a SUBACK is awaited
or when the broker's DISCONNECT ends a batch (always the last event of one), so the owner's
per-message loop pays nothing for it, and passes every batch and every loss on to the owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import zlib
from collections.abc import Awaitable, Callable, Sequence

from simulator.errors import (
    BrokerCapabilityError,
    ConnectError,
    LocalProtocolError,
    RemoteProtocolError,
)
from simulator.mqtt import (
    ClientSession,
    Event,
    PacketType,
    ReasonCode,
    ServerDisconnected,
    Subscribed,
    reason_code_name,
)
from simulator.mqtt.capabilities import subscription_missing
from simulator.transport.backoff import backoff_s
from simulator.transport.connection import LinkListener, MqttLink, open_link
from simulator.transport.keepalive import keep_alive

CAPABILITY_REASONS = frozenset(
    {
        ReasonCode.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED,
        ReasonCode.SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED,
        ReasonCode.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED,
    }
)
"""DISCONNECT reasons that say the broker lacks something, not that something went wrong."""


class Subscriber:
    """One subscriber connection on the owner's session; the owner's listener gets its events.

    ``who`` names the owner in every error ("the ingest worker"); ``min_s`` and ``max_s``
    bound the reconnect backoff, whose jitter is drawn from the client id.
    """

    def __init__(
        self,
        session: ClientSession,
        listener: LinkListener,
        *,
        loop: asyncio.AbstractEventLoop,
        host: str,
        port: int,
        timeout_s: float,
        who: str,
        ssl_context: ssl.SSLContext | None = None,
        socket_path: str | None = None,
        min_s: float = 0.5,
        max_s: float = 10.0,
    ) -> None:
        self.session = session
        self.host = host
        self.port = port
        self.socket_path = socket_path
        """The broker's Unix socket on this host, used instead of TCP to ``host:port``."""
        self.who = who
        self._listener = listener
        self._loop = loop
        self._timeout_s = timeout_s
        self._ssl = ssl_context
        self._min_s = min_s
        self._max_s = max_s
        self._seed = zlib.crc32(session.client_id.encode())
        self.link: MqttLink | None = None
        """The connection while it is up (None between connections)."""
        self.disconnect_reason: int | None = None
        """The reason code of the broker's DISCONNECT ending the latest connection, if any."""
        self._gone: ConnectError | None = None
        """Why the latest connection ended, once it has."""
        self._suback: asyncio.Future[tuple[int, ...]] | None = None
        self._subscribing = ""
        """What the awaited SUBACK answers, as errors name it."""
        self._timer: asyncio.TimerHandle | None = None

    @property
    def address(self) -> str:
        """``host:port`` (and the Unix socket, if used), as errors name the broker."""
        if self.socket_path is not None:
            return f"{self.host}:{self.port} (over {self.socket_path})"
        return f"{self.host}:{self.port}"

    async def connect(self, setup: Callable[[MqttLink], Awaitable[None]]) -> MqttLink:
        """Connect, then let ``setup`` subscribe on the new link; raise if either fails."""
        link = MqttLink(self.session, self, self._listener)
        self.disconnect_reason = None
        self._gone = None
        await open_link(
            link,
            self.host,
            self.port,
            timeout_s=self._timeout_s,
            ssl_context=self._ssl,
            socket_path=self.socket_path,
            failure=f"{self.who} could not connect to mqtt://{self.address}",
        )
        self.link = link
        self._arm()
        try:
            await setup(link)
        except BaseException:
            # The link shares the owner's session: close it now, so that its close is done
            # with before the next attempt puts a new connection on the session.
            self.link = None
            self._disarm()
            link.abort()
            raise
        return link

    async def subscribe(self, filters: Sequence[tuple[str, int]]) -> tuple[int, ...]:
        """Subscribe to ``(filter, qos)`` pairs in one packet; the SUBACK's reason codes."""
        limits = self.session.limits
        for topic_filter, _ in filters:
            problem = subscription_missing(limits, topic_filter)
            if problem is not None:
                raise BrokerCapabilityError(f"{self.who}: the broker at {self.address} {problem}")
        link = self.link
        if self._gone is not None:
            raise self._gone
        if link is None:
            raise ConnectError(f"{self.who}: lost the connection to {self.address}")
        waiter: asyncio.Future[tuple[int, ...]] = self._loop.create_future()
        self._suback = waiter
        self._subscribing = repr(filters[0][0]) if len(filters) == 1 else f"{len(filters)} filters"
        try:
            try:
                packet = self.session.subscribe(filters)
            except LocalProtocolError as exc:  # closed by a protocol error, loss not yet told
                raise ConnectError(
                    f"{self.who}: lost the connection to {self.address} ({exc})"
                ) from exc
            link.send(packet)
            async with asyncio.timeout(self._timeout_s):
                return await waiter
        except TimeoutError:
            raise ConnectError(
                f"{self.who}: the broker at {self.address} did not answer the subscription "
                f"to {self._subscribing} within {self._timeout_s:g} s"
            ) from None
        finally:
            self._suback = None

    async def subscribe_one(self, topic_filter: str, qos: int) -> None:
        """Subscribe to one filter; ConnectError naming it if the broker refuses it."""
        (code,) = await self.subscribe([(topic_filter, qos)])
        if code >= 0x80:
            raise ConnectError(
                f"the broker refused {self.who}'s subscription to {topic_filter!r} "
                f"with reason code 0x{code:02X}"
            )

    async def retry(self, stop: asyncio.Event, attempt: Callable[[], Awaitable[object]]) -> bool:
        """Run ``attempt`` (connect and subscribe) until it succeeds; False if stopped first.

        The first try is at once; after each failure the wait is :func:`.backoff.backoff_s`
        of the tries so far, cut short by ``stop``.
        """
        tries = 0
        while not stop.is_set():
            try:
                await attempt()
            except (ConnectError, RemoteProtocolError):
                delay = backoff_s(tries, 0, self._seed, min_s=self._min_s, max_s=self._max_s)
                tries += 1
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await stop.wait()
                continue
            return True
        return False

    def close(self) -> None:
        """Stop keeping the connection alive and disconnect it."""
        self._disarm()
        link, self.link = self.link, None
        if link is not None:
            link.close()

    # link listener

    def on_events(self, link: MqttLink, events: list[Event]) -> None:
        """Resolve the SUBACK waiter, note a DISCONNECT; pass every event to the owner."""
        if self._suback is not None or type(events[-1]) is ServerDisconnected:
            for event in events:
                if type(event) is Subscribed:
                    waiter = self._suback
                    if waiter is not None and not waiter.done():
                        waiter.set_result(event.reason_codes)
                elif type(event) is ServerDisconnected and link is self.link:
                    self.disconnect_reason = event.reason_code
                    self._ended(self._disconnected(event))
        self._listener.on_events(link, events)

    def on_lost(self, link: MqttLink, exc: BaseException | None) -> None:
        """The connection closed: stop its keepalive, fail a pending subscribe, tell the owner."""
        if link is self.link:
            self.link = None
            self._disarm()
            if self._gone is None:
                why = f"({exc})" if exc is not None else "(closed by the broker)"
                self._ended(
                    ConnectError(f"{self.who}: lost the connection to {self.address} {why}")
                )
        self._listener.on_lost(link, exc if exc is not None else self._gone)

    # internals

    def _disconnected(self, event: ServerDisconnected) -> ConnectError:
        """The error a broker's DISCONNECT makes: a capability it lacks, or a plain refusal."""
        code = event.reason_code
        name = reason_code_name(code, self.session.version, PacketType.DISCONNECT)
        why = f" ({event.reason_string})" if event.reason_string else ""
        during = f" when it subscribed to {self._subscribing}" if self._suback is not None else ""
        message = (
            f"{self.who}: the broker at {self.address} disconnected it with reason "
            f"0x{code:02X} ({name.lower().replace('_', ' ')}){why}{during}"
        )
        if code in CAPABILITY_REASONS:
            return BrokerCapabilityError(message)
        return ConnectError(message)

    def _ended(self, error: ConnectError) -> None:
        self._gone = error
        waiter = self._suback
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def _arm(self) -> None:
        interval = self.session.ping_interval
        if interval > 0:
            self._timer = self._loop.call_later(interval, self._keep_alive)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _keep_alive(self) -> None:
        self._timer = None
        link = self.link
        if link is not None:
            keep_alive((link,), self._loop.time())
            self._arm()


class KeptConnection:
    """A subscriber's connection kept up for its owner until stopped.

    :meth:`start` connects and runs ``setup`` on the link (raising if either fails), then
    watches: after each loss the owner reports (:meth:`lost`) it connects and sets up again
    with the subscriber's backoff, and tells ``reconnected``.
    """

    def __init__(
        self,
        subscriber: Subscriber,
        setup: Callable[[MqttLink], Awaitable[None]],
        *,
        reconnected: Callable[[], None] = lambda: None,
    ) -> None:
        self._subscriber = subscriber
        self._setup = setup
        self._reconnected = reconnected
        self.link: MqttLink | None = None
        """The connection in use (None while there is none)."""
        self._lost = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and set up (raising if that fails), then keep the connection up."""
        await self._connect()
        self._task = asyncio.get_running_loop().create_task(self._keep())

    async def stop(self) -> None:
        """Stop reconnecting and disconnect."""
        self._stop.set()
        self._lost.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.link = None
        self._subscriber.close()

    def lost(self, link: MqttLink) -> None:
        """``link`` went away: connect again (unless stopping, or it was not in use)."""
        if link is self.link:
            self.link = None
            self._lost.set()

    async def _connect(self) -> None:
        await self._subscriber.connect(self._take)

    async def _take(self, link: MqttLink) -> None:
        await self._setup(link)
        self.link = link
        self._lost.clear()

    async def _keep(self) -> None:
        while not self._stop.is_set():
            await self._lost.wait()
            if self._stop.is_set():
                return
            if await self._subscriber.retry(self._stop, self._connect):
                self._reconnected()
