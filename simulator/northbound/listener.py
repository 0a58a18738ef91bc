"""The gateway check's MQTT connection: subscribe to the gateway's output, feed every message.

Its own session and one :class:`~simulator.transport.subscriber.Subscriber` (capabilities
checked, SUBACK awaited, keepalive, reconnects with backoff, as the ingest worker's). Each
read's messages are checked at the time they arrived; a retained message the broker sends on
subscribing is older than the check and only counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from simulator.mqtt import ClientSession, Event, MessageReceived, MessagesReceived, MQTTVersion
from simulator.northbound.check import GatewayCheck
from simulator.scenario.broker_url import parse_broker_url
from simulator.transport.connection import MqttLink
from simulator.transport.subscriber import KeptConnection, Subscriber


class NorthboundListener:
    """The check's MQTT connection: subscribe to the gateway's output, feed every message."""

    def __init__(
        self,
        check: GatewayCheck,
        *,
        broker_url: str,
        client_id: str,
        loop: asyncio.AbstractEventLoop,
        now_s: Callable[[], float],
    ) -> None:
        address = parse_broker_url(broker_url, source="--broker")
        self._check = check
        self._now_s = now_s
        self._subscriber = Subscriber(
            ClientSession(
                client_id,
                MQTTVersion.V5,
                30,
                username=address.username,
                password=address.password.encode() if address.password is not None else None,
            ),
            self,
            loop=loop,
            host=address.host,
            port=address.port,
            timeout_s=10.0,
            who="the gateway check",
        )
        self._kept = KeptConnection(self._subscriber, self._subscribe, reconnected=self._back)
        self.reconnects = 0
        """Times the connection was lost and made again."""

    async def start(self) -> None:
        """Connect and subscribe (raising if that fails), then keep the connection up."""
        await self._kept.start()

    async def stop(self) -> None:
        """Disconnect and stop reconnecting."""
        await self._kept.stop()

    def _back(self) -> None:
        self.reconnects += 1

    async def _subscribe(self, link: MqttLink) -> None:
        await self._subscriber.subscribe_one(self._check.mapping.filter, self._check.settings.qos)

    # link listener

    def on_events(self, link: MqttLink, events: list[Event]) -> None:
        """Check every message, at the time it arrived."""
        now_s = self._now_s()
        check = self._check
        for event in events:
            if type(event) is MessageReceived:
                publish = event.publish
                if publish.retain:  # sent because we subscribed: older than the check
                    check.on_retained()
                else:
                    check.on_message(publish.topic, publish.payload, now_s)
            elif type(event) is MessagesReceived:
                for topic, payload in zip(event.topics, event.payloads, strict=True):
                    check.on_message(topic, payload, now_s)

    def on_lost(self, link: MqttLink, exc: BaseException | None) -> None:
        """Reconnect (unless stopping)."""
        self._kept.lost(link)
