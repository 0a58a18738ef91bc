"""Paced, bounded connection set-up: the pool that executes an onboarding plan.

The plan says when connect number ``i`` may start (a pure function of time, see
``simulator.scenario.plan``); this pool carries it out with at most ``max_in_flight``
connects (TCP plus CONNACK) pending at once, because a broker's listen backlog is small
(Mosquitto's is 100) and a burst beyond it turns into SYN retries and one-second stalls.

The pool is ``max_in_flight`` worker tasks, not a task per device: each worker takes the next
index, waits for its start time, connects, reports, and takes the next.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from simulator.transport.connection import MqttLink
from simulator.transport.tls import ContextSource
from simulator.transport.tls_link import TlsClient, TlsLayer, TlsLink

EARLY_ABORT_ATTEMPTS = 20
"""Failed attempts with no success at all after which the broker is declared unreachable."""


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
    error: BaseException | None = None
    connected: Connected | None = None
    """The CONNACK as an event: session present, what a lost session made the client drop."""


@dataclass(slots=True)
class ConnectorStats:
    """Running totals the live view and the report read."""

    started: int = 0
    connected: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
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
    """Executes ``count`` connects to ``host:port`` on ``schedule``, ``max_in_flight`` at a time."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        max_in_flight: int,
        timeout_s: float,
        source_addresses: Sequence[str | None] = (None,),
        ssl_context: ContextSource | None = None,
        tls_layer: TlsLayer = "resume",
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.host = host
        self.port = port
        self.max_in_flight = max_in_flight
        self.timeout_s = timeout_s
        self.source_addresses = tuple(source_addresses)
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
        self.stats = ConnectorStats()
        self._next = 0

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

    async def _worker(self, job: _Job) -> None:
        stats = self.stats
        loop, count, on_outcome = job.loop, job.count, job.on_outcome
        while self._next < count:
            index = self._next
            self._next = index + 1
            due = job.start + job.schedule.start_s(index)
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            outcome = await self._connect_one(loop, index, job.make_link)
            outcome.late_s = max(0.0, -delay)
            if outcome.link is not None:
                stats.connected += 1
                stats.last_connected = self._clock()
            else:
                stats.failed += 1
                reason = _reason(outcome.error)
                stats.failures[reason] = stats.failures.get(reason, 0) + 1
                if stats.connected == 0 and stats.failed >= min(EARLY_ABORT_ATTEMPTS, count):
                    on_outcome(outcome)
                    where = f"{self.host}:{self.port}"
                    if isinstance(outcome.error, BrokerRefusedError):
                        raise BrokerRefusedError(
                            f"the broker at {where} refused the first {stats.failed} connects; "
                            f"the last one: {outcome.error}",
                            outcome.error.reason_code,
                        )
                    if isinstance(outcome.error, TimeoutError) and outcome.tcp_s > 0:
                        raise BrokerUnreachableError(
                            f"the broker at {where} accepted TCP but answered none of the first "
                            f"{stats.failed} CONNECTs within {self.timeout_s:g} s; a broker that "
                            f"speaks only MQTT 3.1.1 may ignore an MQTT 5 CONNECT: try --mqtt 3.1.1"
                        )
                    raise BrokerUnreachableError(
                        f"broker {where} is unreachable: the first {stats.failed} connects "
                        f"all failed ({reason})"
                    )
            on_outcome(outcome)

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
        source = self.source_addresses[index % len(self.source_addresses)]
        local_addr = (source, 0) if source is not None else None
        outcome = ConnectOutcome(index=index, link=None)
        context = self._shared_context
        tls_link: TlsLink | None = None
        try:
            if self._context_for is not None:
                # Built now, not up front: only the connection's SSLObject keeps it.
                context = self._context_for(link.session.client_id)
            if context is not None and self.tls is not None:
                tls_link = self.tls.link(link, context, shared=self._context_for is None)
                context = None
            protocol: asyncio.Protocol = link if tls_link is None else tls_link
            async with asyncio.timeout(self.timeout_s):
                await loop.create_connection(
                    lambda: protocol,
                    self.host,
                    self.port,
                    local_addr=local_addr,
                    ssl=context,
                    server_hostname=self.host if context is not None else None,
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
