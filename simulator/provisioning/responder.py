"""The provisioning responder: a connection of its own that answers registrations.

It subscribes to every connection's registration topic (the scenario's template with each
placeholder level as ``+``) and answers through a :class:`Provisioner`; it reconnects until
stopped. A run uses it when ingest is off (otherwise the ingest worker answers, see
:mod:`simulator.ingest.worker`); switched off (``[onboarding.responder] enabled = false``) a
real platform answers instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.errors import (
    BrokerUnreachableError,
    ConnectError,
    PayloadError,
    RemoteProtocolError,
    SimulatorError,
)
from simulator.mqtt import (
    ClientSession,
    Event,
    MessageReceived,
    MQTTVersion,
    Subscribed,
)
from simulator.payloads.registration import Registration, decode_registration
from simulator.provisioning.provisioner import Policy, Provisioner, ResponderCounters, topic_filter
from simulator.transport.connection import MqttLink, open_link


@dataclass(frozen=True, slots=True)
class ResponderSettings:
    """Where the responder connects and how it decides."""

    host: str
    port: int
    register_topic: str
    mqtt_version: MQTTVersion = MQTTVersion.V5
    client_id: str = "provisioning-0"
    policy: Policy = field(default_factory=Policy)
    keepalive_s: int = 60
    connect_timeout_s: float = 10.0
    username: str | None = None
    password: str | None = None


class Responder:
    """One subscriber connection that answers registrations; reconnects until stopped."""

    def __init__(
        self,
        settings: ResponderSettings,
        *,
        loop: asyncio.AbstractEventLoop,
        wall_ns: Callable[[], int],
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        self._ssl = ssl_context
        self._provisioner = Provisioner(settings.policy, settings.mqtt_version)
        self._loop = loop
        self._wall_ns = wall_ns
        self._link: MqttLink | None = None
        self._subscribed: asyncio.Future[tuple[int, ...]] | None = None
        self._lost: asyncio.Event = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ping: asyncio.TimerHandle | None = None

    @property
    def counters(self) -> ResponderCounters:
        """What the responder has answered so far."""
        return self._provisioner.counters

    async def start(self) -> None:
        """Connect and subscribe (raising if that fails), then keep the connection up."""
        await self._connect()
        self._task = self._loop.create_task(self._keep_connected())

    async def stop(self) -> None:
        """Disconnect and stop reconnecting."""
        self._stop.set()
        self._lost.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._ping is not None:
            self._ping.cancel()
        link, self._link = self._link, None
        if link is not None:
            link.close()

    async def _keep_connected(self) -> None:
        delay = 0.2
        while not self._stop.is_set():
            await self._lost.wait()
            if self._stop.is_set():
                return
            try:
                await self._connect()
            except (BrokerUnreachableError, ConnectError, RemoteProtocolError, TimeoutError):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._stop.wait()
                delay = min(5.0, delay * 2)
                continue
            delay = 0.2
            self._provisioner.counters.reconnects += 1

    async def _connect(self) -> None:
        s = self.settings
        session = ClientSession(
            s.client_id,
            s.mqtt_version,
            s.keepalive_s,
            username=s.username,
            password=s.password.encode() if s.password is not None else None,
        )
        link = MqttLink(session, self, self)
        await open_link(
            link,
            s.host,
            s.port,
            timeout_s=s.connect_timeout_s,
            ssl_context=self._ssl,
            failure=f"the provisioning responder could not connect to {s.host}:{s.port}",
        )
        self._link = link
        self._lost.clear()
        self._subscribed = self._loop.create_future()
        link.send(session.subscribe([(topic_filter(s.register_topic), 1)]))
        try:
            async with asyncio.timeout(s.connect_timeout_s):
                codes = await self._subscribed
        except TimeoutError:
            link.abort()
            raise
        if codes[0] >= 0x80:
            link.abort()
            raise ConnectError(
                f"the broker refused the provisioning responder's subscription to "
                f"{topic_filter(s.register_topic)!r} with reason code 0x{codes[0]:02X}"
            )
        self._arm_ping()

    def _arm_ping(self) -> None:
        # A subscriber that only listens must still send something within the keepalive.
        keepalive = self.settings.keepalive_s
        if keepalive:
            self._ping = self._loop.call_later(keepalive / 2, self._send_ping)

    def _send_ping(self) -> None:
        link = self._link
        if link is not None and link.transport is not None:
            with contextlib.suppress(SimulatorError):
                link.send(link.session.ping())
        self._arm_ping()

    # link listener

    def on_events(self, link: MqttLink, events: list[Event]) -> None:
        """Answer every registration; resolve the SUBACK waiter."""
        for event in events:
            if isinstance(event, Subscribed):
                waiter = self._subscribed
                if waiter is not None and not waiter.done():
                    waiter.set_result(tuple(event.reason_codes))
            elif isinstance(event, MessageReceived):
                self._answer(link, event)
        # Answers queued above, and those a PUBACK has made room for, in one write.
        self._provisioner.flush(link)

    def on_lost(self, link: MqttLink, exc: BaseException | None) -> None:
        """The connection went away: reconnect (unless stopping)."""
        if self._link is link:
            self._link = None
            self._lost.set()

    def _answer(self, link: MqttLink, event: MessageReceived) -> None:
        try:
            registration: Registration | None = decode_registration(event.publish.payload)
        except PayloadError:
            registration = None
        self._provisioner.answer(link, event.publish, registration)
