"""What an ingest worker subscribes to on each connection, and the fallbacks it takes.

Telemetry: the topic filter, as an MQTT 5 shared subscription (``$share/<group>/...``) so
several workers split the load, or plainly when the broker has none (its CONNACK says so, its
SUBACK refuses with 0x9E, or it disconnects the worker with 0x9E), or this worker's share of
the topics when the run partitions them (:mod:`simulator.scenario.partition`). Then the
Sparkplug group's topics if the telemetry filter does not cover them, and at QoS 1 the
registration and death topics. A refusal is a :class:`ConnectError` naming the filter; a
fallback is said once, in the worker's notes.
"""

from __future__ import annotations

from simulator.errors import BrokerCapabilityError, ConnectError
from simulator.ingest.settings import WorkerSettings
from simulator.ingest.sparkplug import SparkplugTraffic
from simulator.mqtt import MQTTVersion
from simulator.mqtt.capabilities import qos_missing, shared_missing
from simulator.mqtt.reason_codes import ReasonCode
from simulator.mqtt.topics import matches
from simulator.transport.subscriber import Subscriber

SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = ReasonCode.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED


class Subscriptions:
    """One worker's subscriptions, made again on every connection it opens."""

    def __init__(
        self,
        settings: WorkerSettings,
        sparkplug: SparkplugTraffic | None,
        *,
        responds: bool,
        notes: list[str],
    ) -> None:
        self.settings = settings
        self.sparkplug = sparkplug
        self.responds = responds
        """Whether the worker answers registrations (so it needs QoS 1 from the broker)."""
        self.notes = notes
        """The worker's notes, where a fallback is said."""
        self.shared = bool(settings.share_group) and settings.mqtt_version is MQTTVersion.V5
        """Whether the telemetry, Sparkplug and onboarding filters are shared; off for good
        once the broker shows it has no shared subscriptions."""

    def refused_by_disconnect(self, subscriber: Subscriber) -> bool:
        """After a connect that failed with a capability error: whether it was the broker
        disconnecting a shared subscription with 0x9E (then sharing is given up, and the
        worker should connect once more, plainly)."""
        refused = subscriber.disconnect_reason == SHARED_SUBSCRIPTIONS_NOT_SUPPORTED
        if not (self.shared and refused):
            return False
        self._plainly(
            f"the broker at {subscriber.address} disconnected the worker with reason 0x9E "
            f"(shared subscriptions not supported) when it subscribed to "
            f"{self.filter(shared=True)!r}"
        )
        return True

    async def make(self, subscriber: Subscriber, *, first: bool) -> None:
        """Make every subscription on the subscriber's new connection (``first``: the
        worker's first, the only one whose granted QoS is worth a note)."""
        limits = subscriber.session.limits
        if self.responds:
            problem = qos_missing(limits, 1, "the QoS of the registration answers")
            if problem is not None:
                raise BrokerCapabilityError(
                    f"{subscriber.who}: the broker at {subscriber.address} {problem}"
                )
        settings = self.settings
        partition = settings.partition
        if self.shared and not partition:
            problem = shared_missing(limits)
            if problem is not None:
                self._plainly(f"the broker at {subscriber.address} {problem}")
        if partition:
            await self._partition(subscriber, partition, first=first)
            shared = False
            codes: tuple[int, ...] = (settings.qos,)
        else:
            codes, shared = await self._telemetry(subscriber)
        sparkplug = self.sparkplug
        if sparkplug is not None and not matches(self.filter(shared=False), sparkplug.probe):
            wanted = (
                f"$share/{settings.share_group}/{sparkplug.filter}" if shared else sparkplug.filter
            )
            code = (await self._one(subscriber, wanted))[0]
            if code > 2:
                raise ConnectError(
                    f"broker refused the ingest subscription to {sparkplug.filter!r} with "
                    f"reason code 0x{code:02X}"
                )
        # QoS 1 whatever the telemetry's: registrations and deaths are few and must not be
        # dropped.
        if settings.register_filter is not None:
            await self._onboarding(
                subscriber,
                settings.register_filter,
                shared,
                "the onboarding funnel's first-telemetry stage cannot be measured",
            )
        if settings.death_filter is not None:
            await self._onboarding(
                subscriber, settings.death_filter, shared, "device deaths cannot be counted"
            )
        if codes[0] < settings.qos and first:
            self.notes.append(
                f"the broker granted the ingest subscription QoS {codes[0]}, not the "
                f"QoS {settings.qos} asked for: messages it drops on the way in are "
                f"counted as lost"
            )

    def filter(self, *, shared: bool) -> str:
        """The telemetry filter, with its ``$share`` prefix if ``shared`` and still sharing."""
        settings = self.settings
        if shared and self.shared:
            return f"$share/{settings.share_group}/{settings.topic_filter}"
        return settings.topic_filter

    def _wanted(self, topic_filter: str, shared: bool) -> str:
        """``topic_filter`` as subscribed: in the share group if ``shared``."""
        return f"$share/{self.settings.share_group}/{topic_filter}" if shared else topic_filter

    def _plainly(self, why: str) -> None:
        """Give up shared subscriptions for good, and say so once."""
        self.shared = False
        self.notes.append(
            f"{why}: this worker subscribed plainly, so run only one ingest worker against it"
        )

    async def _telemetry(self, subscriber: Subscriber) -> tuple[tuple[int, ...], bool]:
        """Subscribe to ``topic_filter`` (shared when asked and possible); the granted codes
        and whether the subscription is shared."""
        codes = await self._one(subscriber, self.filter(shared=True))
        if self.shared and codes[0] == SHARED_SUBSCRIPTIONS_NOT_SUPPORTED:
            self._plainly(
                "the broker refused the shared subscription (SUBACK 0x9E, shared "
                "subscriptions not supported)"
            )
            codes = await self._one(subscriber, self.filter(shared=False))
        if codes[0] > 2:
            raise ConnectError(
                f"broker refused the ingest subscription to {self.filter(shared=False)!r} "
                f"with reason code 0x{codes[0]:02X}"
            )
        return codes, self.shared

    async def _partition(
        self, subscriber: Subscriber, filters: tuple[str, ...], *, first: bool
    ) -> None:
        """Subscribe plainly to this worker's share of the telemetry topics, in one packet."""
        qos = self.settings.qos
        codes = await subscriber.subscribe([(f, qos) for f in filters])
        refused = [f for f, code in zip(filters, codes, strict=False) if code > 2]
        if refused:
            raise ConnectError(
                f"broker refused {len(refused)} of the ingest worker's {len(filters)} "
                f"subscriptions, e.g. {refused[0]!r}"
            )
        granted = min(codes, default=qos)
        if granted < qos and first:
            self.notes.append(
                f"the broker granted the ingest subscriptions QoS {granted}, not the QoS {qos} "
                f"asked for: messages it drops on the way in are counted as lost"
            )

    async def _onboarding(
        self, subscriber: Subscriber, topic_filter: str, shared: bool, loss: str
    ) -> None:
        """Subscribe at QoS 1 to an onboarding filter; a refusal is an error that says ``loss``."""
        if (await self._one(subscriber, self._wanted(topic_filter, shared), qos=1))[0] >= 0x80:
            raise ConnectError(
                f"broker refused the ingest subscription to {topic_filter!r}: {loss}"
            )

    async def _one(
        self, subscriber: Subscriber, topic_filter: str, qos: int | None = None
    ) -> tuple[int, ...]:
        wanted = self.settings.qos if qos is None else qos
        return await subscriber.subscribe([(topic_filter, wanted)])
