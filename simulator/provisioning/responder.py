"""The provisioning responder: the platform's side of the registration exchange.

It subscribes to every connection's registration topic (the scenario's template with each
placeholder level as ``+``) and answers each registration on the reply topic the device asked
for: MQTT 5's Response Topic and Correlation Data when present, the JSON body's ``reply_to`` and
``correlation`` otherwise (MQTT 3.1.1). So a run is complete on its own; switched off
(``[onboarding.responder] enabled = false``) a real platform answers instead.

To let a run prove its failure paths, it refuses a share of the devices and ignores another
share (their registrations time out). Which devices is a pure function of the seed and the
device id, so the same devices are refused in every run and on every re-announcement.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
    InflightLimitError,
    MessageReceived,
    MQTTVersion,
    Properties,
    PubAckReceived,
    Subscribed,
)
from simulator.payloads.registration import (
    ACCEPTED,
    REJECTED,
    Answer,
    decode_registration,
    encode_answer,
)
from simulator.transport.connection import MqttLink

ACCEPT = "accept"
REJECT = "reject"
IGNORE = "ignore"

REJECT_REASON = "not in the provisioning allow-list"
"""The reason the responder gives when it refuses a device."""


def topic_filter(template: str) -> str:
    """A subscription filter matching every topic ``template`` renders to."""
    return "/".join("+" if "{" in level else level for level in template.split("/"))


def verdict(seed: int, device_id: str, reject_share: float, silent_share: float) -> str:
    """What the responder does with ``device_id``'s registration: accept, reject or ignore."""
    if not reject_share and not silent_share:
        return ACCEPT
    digest = hashlib.blake2b(f"{seed}:{device_id}".encode(), digest_size=8).digest()
    draw = int.from_bytes(digest, "big") / 2**64
    if draw < reject_share:
        return REJECT
    if draw < reject_share + silent_share:
        return IGNORE
    return ACCEPT


@dataclass(frozen=True, slots=True)
class ResponderSettings:
    """Where the responder connects and how it decides."""

    host: str
    port: int
    register_topic: str
    mqtt_version: MQTTVersion = MQTTVersion.V5
    client_id: str = "provisioning-0"
    seed: int = 1
    reject_share: float = 0.0
    silent_share: float = 0.0
    config: Mapping[str, Any] = field(default_factory=dict)
    """The configuration every accepted device is sent."""
    keepalive_s: int = 60
    connect_timeout_s: float = 10.0
    username: str | None = None
    password: str | None = None


@dataclass(slots=True)
class ResponderCounters:
    """What the responder did, for the report."""

    registrations: int = 0
    accepted: int = 0
    rejected: int = 0
    ignored: int = 0
    malformed: int = 0
    unsent: int = 0
    """Answers dropped because the connection closed before they could be sent."""
    reconnects: int = 0

    def to_dict(self) -> dict[str, int]:
        """As the report shows it."""
        return {
            "registrations": self.registrations,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "ignored": self.ignored,
            "malformed": self.malformed,
            "unsent": self.unsent,
            "reconnects": self.reconnects,
        }


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
        self.counters = ResponderCounters()
        self._loop = loop
        self._wall_ns = wall_ns
        self._link: MqttLink | None = None
        self._subscribed: asyncio.Future[tuple[int, ...]] | None = None
        self._lost: asyncio.Event = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ping: asyncio.TimerHandle | None = None
        self._backlog: deque[tuple[str, bytes, Properties]] = deque()
        """Answers waiting for room in the broker's Receive Maximum."""

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
            self.counters.reconnects += 1

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
        waiter: asyncio.Future[Any] = self._loop.create_future()
        link.waiter = waiter
        try:
            async with asyncio.timeout(s.connect_timeout_s):
                await self._loop.create_connection(
                    lambda: link,
                    s.host,
                    s.port,
                    ssl=self._ssl,
                    server_hostname=s.host if self._ssl is not None else None,
                )
                await waiter
                self._link = link
                self._lost.clear()
                self._subscribed = self._loop.create_future()
                link.send(session.subscribe([(topic_filter(s.register_topic), 1)]))
                codes = await self._subscribed
        except OSError as exc:
            link.abort()
            raise BrokerUnreachableError(
                f"the provisioning responder could not connect to {s.host}:{s.port}: "
                f"{exc.strerror or exc!r}"
            ) from exc
        except (TimeoutError, SimulatorError):
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
            elif isinstance(event, PubAckReceived) and self._backlog:
                self._send_backlog(link)

    def on_lost(self, link: MqttLink, exc: BaseException | None) -> None:
        """The connection went away: reconnect (unless stopping)."""
        if self._link is link:
            self._link = None
            self._lost.set()

    def _answer(self, link: MqttLink, event: MessageReceived) -> None:
        publish = event.publish
        counters = self.counters
        counters.registrations += 1
        try:
            reg = decode_registration(publish.payload)
        except PayloadError:
            counters.malformed += 1
            return
        s = self.settings
        props = publish.properties
        reply_to = props.response_topic or reg.reply_to
        correlation = props.correlation_data or reg.correlation
        decision = verdict(s.seed, reg.device_id, s.reject_share, s.silent_share)
        if decision == IGNORE:
            counters.ignored += 1
            return
        if decision == REJECT:
            counters.rejected += 1
            answer = Answer(reg.device_id, REJECTED, correlation, REJECT_REASON)
        else:
            counters.accepted += 1
            answer = Answer(reg.device_id, ACCEPTED, correlation, config=s.config)
        properties = Properties()
        if s.mqtt_version is MQTTVersion.V5:
            properties = Properties(correlation_data=correlation, content_type="application/json")
        self._backlog.append((reply_to, encode_answer(answer), properties))
        self._send_backlog(link)

    def _send_backlog(self, link: MqttLink) -> None:
        """Send queued answers while the broker's Receive Maximum lets us."""
        backlog = self._backlog
        session = link.session
        while backlog:
            topic, body, properties = backlog[0]
            try:
                data = session.publish(topic, body, 1, properties=properties)
            except InflightLimitError:
                return  # the next PUBACK sends it
            except SimulatorError:
                # Closed under us: these devices time out, as they would with a real platform.
                self.counters.unsent += len(backlog)
                backlog.clear()
                return
            backlog.popleft()
            link.send(data)
