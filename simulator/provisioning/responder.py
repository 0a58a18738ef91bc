"""The provisioning responder: a connection of its own that answers registrations.

It subscribes to every connection's registration topic (the scenario's template with each
placeholder level as ``+``) and answers through a :class:`Provisioner`. Its connection is a
:class:`~simulator.transport.subscriber.Subscriber`, as the ingest worker's is: the broker's
capabilities checked (answers go out at QoS 1, the filter has wildcards), keepalive at the
broker's Server Keep Alive, and reconnects with the fleet's backoff until stopped. A run
uses it when ingest is off (otherwise the ingest worker answers, see
:mod:`simulator.ingest.worker`); switched off (``[onboarding.responder] enabled = false``) a
real platform answers instead.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.errors import BrokerCapabilityError, PayloadError
from simulator.mqtt import ClientSession, Event, MessageReceived, MQTTVersion
from simulator.mqtt.capabilities import qos_missing
from simulator.payloads.registration import Registration, decode_registration
from simulator.provisioning.provisioner import Policy, Provisioner, ResponderCounters, topic_filter
from simulator.transport.connection import MqttLink
from simulator.transport.subscriber import KeptConnection, Subscriber


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
        self._provisioner = Provisioner(settings.policy, settings.mqtt_version)
        self._loop = loop
        self._wall_ns = wall_ns
        s = settings
        session = ClientSession(
            s.client_id,
            s.mqtt_version,
            s.keepalive_s,
            username=s.username,
            password=s.password.encode() if s.password is not None else None,
        )
        self._subscriber = Subscriber(
            session,
            self,
            loop=loop,
            host=s.host,
            port=s.port,
            timeout_s=s.connect_timeout_s,
            who="the provisioning responder",
            ssl_context=ssl_context,
        )
        self._kept = KeptConnection(self._subscriber, self._subscribe, reconnected=self._back)

    @property
    def counters(self) -> ResponderCounters:
        """What the responder has answered so far."""
        return self._provisioner.counters

    async def start(self) -> None:
        """Connect and subscribe (raising if that fails), then keep the connection up."""
        await self._kept.start()

    async def stop(self) -> None:
        """Disconnect and stop reconnecting."""
        await self._kept.stop()

    def _back(self) -> None:
        self._provisioner.counters.reconnects += 1

    async def _subscribe(self, link: MqttLink) -> None:
        """Check what answering needs, subscribe to the registrations, take the link."""
        subscriber = self._subscriber
        problem = qos_missing(subscriber.session.limits, 1, "the QoS of its answers")
        if problem is not None:
            raise BrokerCapabilityError(
                f"{subscriber.who}: the broker at {subscriber.address} {problem}"
            )
        await subscriber.subscribe_one(topic_filter(self.settings.register_topic), 1)

    # link listener

    def on_events(self, link: MqttLink, events: list[Event]) -> None:
        """Answer every registration."""
        for event in events:
            if isinstance(event, MessageReceived):
                self._answer(link, event)
        # Answers queued above, and those a PUBACK has made room for, in one write.
        self._provisioner.flush(link)

    def on_lost(self, link: MqttLink, exc: BaseException | None) -> None:
        """The connection went away: reconnect (unless stopping)."""
        self._kept.lost(link)

    def _answer(self, link: MqttLink, event: MessageReceived) -> None:
        try:
            registration: Registration | None = decode_registration(event.publish.payload)
        except PayloadError:
            registration = None
        self._provisioner.answer(link, event.publish, registration)
