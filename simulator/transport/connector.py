"""Paced, bounded connection set-up: the pool that executes an onboarding plan.

The plan says when connect number ``i`` may start (a pure function of time, see
``simulator.scenario.plan``); this pool carries it out with at most ``max_in_flight``
connects (TCP plus CONNACK) pending at once, because a broker's listen backlog is small
(Mosquitto's is 100) and a burst beyond it turns into SYN retries and one-second stalls.

The pool is ``max_in_flight`` worker tasks, not a task per device: each worker takes the next
index, waits for its start time, connects, reports, and takes the next.

A first connect that fails (a timeout, a refusal, a reset) is tried again, as a real device
would, up to :attr:`ConnectRetries.attempts` tries in all, after the reconnect backoff
(:mod:`simulator.transport.backoff`): the retry waits in one heap of due times, and the same
workers take it, before the plan's next connect, once it is due. Nothing waits per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from simulator.errors import (
    BrokerRefusedError,
    BrokerUnreachableError,
    ConnectError,
    SimulatorError,
    TlsCertificateError,
    TlsConfigError,
    TlsError,
)
from simulator.mqtt import Connected
from simulator.transport.backoff import backoff_s
from simulator.transport.connection import MqttLink
from simulator.transport.dealing import Dealing
from simulator.transport.tls import ContextSource
from simulator.transport.tls_link import TlsClient, TlsLayer, TlsLink

EARLY_ABORT_ATTEMPTS = 20
"""Failed attempts with no success at all after which the broker is declared unreachable."""

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
"""Linux (4.2 on): a bind to ``(address, 0)`` leaves the port to ``connect()``, which needs it
unique per (source, destination) pair only, not per source address; the constant is in the
socket module from Python 3.12 on."""


class StartSchedule(Protocol):
    """When connect number ``index`` may start, in seconds after the pool starts."""

    def start_s(self, index: int) -> float:
        """Seconds after the start at which connect ``index`` is due."""


@dataclass(slots=True)
class ConnectOutcome:
    """What happened to one connect: timings in seconds, or the error."""

    index: int
    link: MqttLink | None
    tcp_s: float = 0.0
    """From the start of the attempt until TCP was established."""
    total_s: float = 0.0
    """From the start of the attempt until CONNACK arrived."""
    late_s: float = 0.0
    """How far behind its planned start the attempt began."""
    attempt: int = 0
    """Which try of this connection's first connect it was (0: the first)."""
    retrying: bool = False
    """The attempt failed and will be tried again (no final outcome yet)."""
    error: BaseException | None = None
    connected: Connected | None = None
    """The CONNACK as an event: session present, what a lost session made the client drop."""


@dataclass(frozen=True, slots=True)
class ConnectRetries:
    """How a first connect that fails is tried again: ``attempts`` tries in all (1: never
    again), each after the reconnect backoff of its try, jittered from ``seed``."""

    attempts: int = 1
    min_s: float = 0.5
    max_s: float = 30.0
    seed: int = 0


@dataclass(slots=True)
class ConnectorStats:
    """Running totals the live view and the report read."""

    started: int = 0
    """Connect attempts begun, retries included."""
    connected: int = 0
    failed: int = 0
    """Connections whose every try failed."""
    failures: dict[str, int] = field(default_factory=dict)
    """Those connections by the reason their last try failed."""
    retries: int = 0
    """Tries that failed and were tried again."""
    retried: dict[str, int] = field(default_factory=dict)
    """Those tries by the reason they failed."""
    first_start: float | None = None
    last_connected: float | None = None


@dataclass(frozen=True, slots=True)
class _Job:
    """One :meth:`Connector.run`: what every worker of the pool shares."""

    loop: asyncio.AbstractEventLoop
    start: float
    count: int
    schedule: StartSchedule
    make_link: Callable[[int], MqttLink]
    on_outcome: Callable[[ConnectOutcome], None]


class Connector:
    """Executes ``count`` connects to ``host:port`` on ``schedule``, ``max_in_flight`` at a time.

    With ``more_brokers`` the connects are dealt over ``host:port`` and those, and over the
    ``source_addresses``, by :class:`~simulator.transport.dealing.Dealing`.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        max_in_flight: int,
        timeout_s: float,
        source_addresses: Sequence[str | None] = (None,),
        more_brokers: Sequence[tuple[str, int]] = (),
        numbering: tuple[int, int] = (0, 1),
        ssl_context: ContextSource | None = None,
        tls_layer: TlsLayer = "resume",
        retries: ConnectRetries = ConnectRetries(),
        clock: Callable[[], float] = time.perf_counter,
        tls_names: Sequence[str] = (),
    ) -> None:
        self.host = host
        self.port = port
        self.max_in_flight = max_in_flight
        self.timeout_s = timeout_s
        self.source_addresses = tuple(source_addresses)
        self.dealing = Dealing(((host, port), *more_brokers), self.source_addresses, *numbering)
        self._tls_names = dict(zip(self.dealing.brokers, tls_names, strict=False))
        """The name each broker's certificate carries, where it is not the host connected to
        (a relayed fleet: see ``Endpoint.tls_names``)."""
        """Which broker and source address each connection takes; ``numbering`` is the
        whole fleet's ``(first, step)`` for a process running one slice of it."""
        self.ssl_context = ssl_context
        """TLS: one context for every connection, or a function from a connection's client id
        to its own context (None: plain TCP)."""
        # Split once here so a connect asks one attribute which kind it has, not isinstance().
        self._shared_context = ssl_context if isinstance(ssl_context, ssl.SSLContext) else None
        self._context_for = None if isinstance(ssl_context, ssl.SSLContext) else ssl_context
        self.tls = (
            TlsClient(host, resume=tls_layer == "resume")
            if ssl_context is not None and tls_layer != "asyncio"
            else None
        )
        """The engine's TLS layer and its handshake counts (None: plain TCP, or the event
        loop's TLS with ``tls_layer="asyncio"``)."""
        # Timings use a fine clock of their own: uvloop's loop.time() ticks in milliseconds,
        # too coarse for connects that take one or two.
        self._clock = clock
        self.retries = retries
        self.stats = ConnectorStats()
        self._next = 0
        self._due: list[tuple[float, int, int]] = []
        """Retries waiting: (when due on the loop's clock, connection, try)."""
        self._attempting = 0
        """Connects under way: each may still add a retry."""
        self._failed_tries = 0
        """Failed tries, retried or not: with none connected yet, the unreachable check."""
        self._changed = asyncio.Event()
        """Set when a connect ends, so an idle worker looks for a retry again."""

    async def run(
        self,
        count: int,
        schedule: StartSchedule,
        make_link: Callable[[int], MqttLink],
        on_outcome: Callable[[ConnectOutcome], None],
    ) -> ConnectorStats:
        """Connect links ``0..count-1``; report each outcome; return the totals.

        Raises :class:`BrokerUnreachableError` if the first attempts all fail and none succeeds,
        so an unreachable broker is an error within seconds rather than ``count`` timeouts.
        """
        loop = asyncio.get_running_loop()
        start = loop.time()
        self._next = 0
        job = _Job(loop, start, count, schedule, make_link, on_outcome)
        workers = [
            asyncio.create_task(self._worker(job)) for _ in range(min(self.max_in_flight, count))
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            for task in workers:
                with contextlib.suppress(asyncio.CancelledError, SimulatorError):
                    await task
        return self.stats

    async def _take(self, job: _Job) -> tuple[int, int, float] | None:
        """The next connect to make, ``(connection, try, due)``: a retry that is due, else the
        plan's next; None once neither is left nor can come (no connect under way)."""
        loop = job.loop
        while True:
            self._changed.clear()
            due = self._due
            now = loop.time()
            if due and due[0][0] <= now:
                when, index, attempt = heapq.heappop(due)
                return index, attempt, when
            if self._next < job.count:
                index = self._next
                self._next = index + 1
                return index, 0, job.start + job.schedule.start_s(index)
            if not due and not self._attempting:
                return None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(due[0][0] - now if due else None):
                    await self._changed.wait()

    async def _worker(self, job: _Job) -> None:
        loop = job.loop
        while (taken := await self._take(job)) is not None:
            index, attempt, due = taken
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._attempting += 1
            try:
                outcome = await self._connect_one(loop, index, job.make_link)
            finally:
                self._attempting -= 1
                self._changed.set()
            outcome.late_s = max(0.0, -delay)
            outcome.attempt = attempt
            self._count(job, outcome)
            job.on_outcome(outcome)

    def _count(self, job: _Job, outcome: ConnectOutcome) -> None:
        """Count one try's outcome; schedule the retry of a failed one with tries left, or
        raise if the broker looks unreachable (the first tries all failed)."""
        stats = self.stats
        if outcome.link is not None:
            stats.connected += 1
            stats.last_connected = self._clock()
            return
        reason = _reason(outcome.error)
        self._failed_tries += 1
        if stats.connected == 0 and self._failed_tries >= min(EARLY_ABORT_ATTEMPTS, job.count):
            stats.failed += 1
            stats.failures[reason] = stats.failures.get(reason, 0) + 1
            job.on_outcome(outcome)
            raise self._unreachable(outcome, reason)
        retries = self.retries
        if outcome.attempt + 1 < retries.attempts:
            outcome.retrying = True
            stats.retries += 1
            stats.retried[reason] = stats.retried.get(reason, 0) + 1
            wait = backoff_s(
                outcome.attempt,
                outcome.index,
                retries.seed,
                min_s=retries.min_s,
                max_s=retries.max_s,
            )
            heapq.heappush(self._due, (job.loop.time() + wait, outcome.index, outcome.attempt + 1))
            return
        stats.failed += 1
        stats.failures[reason] = stats.failures.get(reason, 0) + 1

    def _unreachable(self, outcome: ConnectOutcome, reason: str) -> ConnectError:
        """The error that ends onboarding when the first tries all failed and none succeeded."""
        where = ", ".join(f"{host}:{port}" for host, port in self.dealing.brokers)
        tries = self._failed_tries
        if isinstance(outcome.error, BrokerRefusedError):
            return BrokerRefusedError(
                f"the broker at {where} refused the first {tries} connects; "
                f"the last one: {outcome.error}",
                outcome.error.reason_code,
            )
        if isinstance(outcome.error, TimeoutError) and outcome.tcp_s > 0:
            return BrokerUnreachableError(
                f"the broker at {where} accepted TCP but answered none of the first "
                f"{tries} CONNECTs within {self.timeout_s:g} s; a broker that "
                f"speaks only MQTT 3.1.1 may ignore an MQTT 5 CONNECT: try --mqtt 3.1.1"
            )
        return BrokerUnreachableError(
            f"broker {where} is unreachable: the first {tries} connects all failed ({reason})"
        )

    async def reconnect(self, index: int, link: MqttLink) -> ConnectOutcome:
        """Connect ``link`` again (after a drop); not counted in the onboarding totals."""
        return await self._connect_one(
            asyncio.get_running_loop(), index, lambda _: link, onboarding=False
        )

    async def _connect_one(
        self,
        loop: asyncio.AbstractEventLoop,
        index: int,
        make_link: Callable[[int], MqttLink],
        *,
        onboarding: bool = True,
    ) -> ConnectOutcome:
        stats = self.stats
        clock = self._clock
        begin = clock()
        if onboarding:
            if stats.first_start is None:
                stats.first_start = begin
            stats.started += 1
        link = make_link(index)
        # Keep our own reference: the link drops its waiter as soon as CONNACK resolves it,
        # which can happen before create_connection() returns to us.
        waiter: asyncio.Future[Any] = loop.create_future()
        link.waiter = waiter
        host, port = self.dealing.broker(index)
        name = self._tls_names.get((host, port), host)
        source = self.dealing.source(index)
        outcome = ConnectOutcome(index=index, link=None)
        context = self._shared_context
        tls_link: TlsLink | None = None
        try:
            if self._context_for is not None:
                # Built now, not up front: only the connection's SSLObject keeps it.
                context = self._context_for(link.session.client_id)
            if context is not None and self.tls is not None:
                tls_link = self.tls.link(
                    link, context, shared=self._context_for is None, server_hostname=name
                )
                context = None
            protocol: asyncio.Protocol = link if tls_link is None else tls_link
            async with asyncio.timeout(self.timeout_s):
                if source is None:
                    await loop.create_connection(
                        lambda: protocol,
                        host,
                        port,
                        ssl=context,
                        server_hostname=name if context is not None else None,
                    )
                else:
                    await loop.create_connection(
                        lambda: protocol,
                        sock=await _bound_connect(loop, source, host, port),
                        ssl=context,
                        server_hostname=name if context is not None else None,
                    )
                outcome.tcp_s = clock() - begin
                outcome.connected = await waiter
        except (OSError, TimeoutError, SimulatorError, ssl.SSLError) as exc:
            link.waiter = None
            link.abort()
            if tls_link is not None:
                # Before its handshake finished the link has no transport to abort.
                tls_link.abort()
            outcome.error = exc
            return outcome
        outcome.total_s = clock() - begin
        outcome.link = link
        return outcome


async def _bound_connect(
    loop: asyncio.AbstractEventLoop, source: str, host: str, port: int
) -> socket.socket:
    """A TCP socket bound to ``source`` and connected to ``host:port``.

    Bound with ``IP_BIND_ADDRESS_NO_PORT``, so each source address offers its ephemeral ports
    to every broker afresh (asyncio's ``local_addr`` binds first and takes the port then).
    A source address that is not this machine's fails here with ``EADDRNOTAVAIL``, which is
    said with the address.
    """
    family = socket.AF_INET6 if ipaddress.ip_address(source).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        if family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        try:
            sock.bind((source, 0))
        except OSError as exc:
            raise OSError(
                exc.errno, f"cannot bind source address {source} ({exc.strerror})"
            ) from exc
        await loop.sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _reason(exc: BaseException | None) -> str:
    """A short, stable label for a failed connect, used to count failures by kind."""
    if exc is None:
        return "unknown"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, BrokerRefusedError):
        return f"refused by broker (reason 0x{exc.reason_code:02X})"
    if isinstance(exc, TlsConfigError):
        return "client certificate unusable"
    # The same labels whichever TLS layer ran: ours raises these, the event loop's ssl's.
    if isinstance(exc, TlsCertificateError):
        return f"TLS certificate rejected ({exc.verify_message})"
    if isinstance(exc, TlsError):
        return f"TLS handshake failed ({exc.reason})"
    if isinstance(exc, ConnectError):
        return "closed before CONNACK"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate rejected ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed ({exc.reason or exc})"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return type(exc).__name__
