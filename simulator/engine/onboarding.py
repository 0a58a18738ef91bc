"""The ``register`` onboarding workflow, on the device side: subscribe, announce, wait, admit.

Once a connection has its CONNACK, its client subscribes to the connection's reply topic; at
the SUBACK each of its devices (one, or a gateway's many) publishes a registration (QoS 1,
MQTT 5 Response Topic and Correlation Data, see :mod:`simulator.payloads.registration`) and
waits for the platform's answer; an accepted device is admitted to its publish wheel, a
refused one never publishes. After a reconnect every device of the connection announces itself
again, as a rebooted gateway does, counted apart as re-announcements.

No task or timer per device: waiting is an entry in a dict while it lasts, and one timer
(re-armed to the earliest deadline) expires every SUBACK and answer that came too late. All
deadlines have the same length, so they expire in the order they were set: a deque, not a
heap. A connection's registrations that do not fit in the broker's Receive Maximum wait in a
per-connection queue, which exists only while that connection is registering.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from simulator.engine.hooks import ConnectionHook
from simulator.errors import InflightLimitError, LocalProtocolError, PayloadError
from simulator.fleet import DeviceModel, TopicTemplate
from simulator.fleet.plant import DeviceIdentity
from simulator.metrics.funnel import (
    REGISTER_STAGES,
    REGISTERED,
    SUBACK,
    Funnel,
    Reannouncements,
    Stage,
)
from simulator.mqtt import (
    MQTTVersion,
    Properties,
    PubAckReceived,
    Publish,
    Subscribed,
)
from simulator.payloads.registration import (
    Registration,
    correlation_for,
    decode_answer,
    encode_registration,
    index_of,
)
from simulator.scenario.schema import OnboardingSettings
from simulator.transport.connection import MqttLink

FIRMWARE = "fsim-1.0.0"
"""The firmware version every emulated device reports."""


class Member(Protocol):
    """What the registrar reads of a device."""

    index: int
    device_id: str
    group: int


class TopicHost(Protocol):
    """What rendering a connection's onboarding topics reads of the fleet."""

    def members(self, connection: int) -> Sequence[Member]:
        """The devices a connection carries."""

    def connection_identity(self, connection: int) -> DeviceIdentity:
        """The plant identity topics of the connection are rendered from."""

    def model_of(self, device: Member) -> DeviceModel:
        """The device's equipment model."""


def connection_topic(host: TopicHost, template: TopicTemplate, connection: int) -> str:
    """``template`` rendered for ``connection`` (``{device}`` is its client id)."""
    model = host.model_of(host.members(connection)[0])
    return template.render(host.connection_identity(connection), model.name)


class RegistrarHost(TopicHost, Protocol):
    """The fleet's topology, as the registrar sees it."""

    def client_id(self, connection: int) -> str:
        """The connection's MQTT client id."""

    def telemetry_topic(self, device: Member) -> str | None:
        """Where ``device`` publishes its telemetry (said in its registration), if one topic."""


@dataclass(slots=True, eq=False)
class _Attempt:
    """One connection's registration round (its first onboarding, or after a reconnect)."""

    connection: int
    link: MqttLink
    begin: float
    """Clock time the connection attempt began."""
    t0_ns: int
    """The same moment on the wall clock, for the platform side."""
    reannounce: bool
    client_id: str
    register_topic: str
    reply_topic: str
    queue: deque[Member] = field(default_factory=deque)
    """Registrations not yet sent because the broker's Receive Maximum was reached."""
    packet_ids: set[int] = field(default_factory=set)
    """Packet ids of this round's registrations still waiting for their PUBACK."""


class Registrar(ConnectionHook):
    """Runs the register workflow for every connection of one fleet."""

    claims_acks = True

    def __init__(
        self,
        host: RegistrarHost,
        settings: OnboardingSettings,
        version: MQTTVersion,
        *,
        admit: Callable[[Member, MqttLink], None],
        loop: asyncio.AbstractEventLoop,
        wall_ns: Callable[[], int],
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._host = host
        self._admit = admit
        """Starts publishing an accepted device over its link (the fleet's)."""
        self._version = version
        self._register = TopicTemplate(settings.register_topic)
        self._reply = TopicTemplate(settings.reply_topic)
        self.timeout_s = settings.register_timeout_s
        self.attempts = settings.register_attempts
        self._loop = loop
        self._wall_ns = wall_ns
        self._clock = clock
        self.funnel = Funnel(REGISTER_STAGES)
        """First onboarding of every device, stage by stage."""
        self.reannounced = Reannouncements()
        self.late_answers = 0
        """Answers for a device that was not waiting (timed out already, or answered twice)."""
        self.invalid_answers = 0
        """Messages on a reply topic that were not a well-formed answer for this connection."""
        self.last_accepted: float | None = None
        """Clock time the last device of the first onboarding was accepted."""
        self._subscribing: dict[int, _Attempt] = {}
        self._subscribing_devices = 0
        self._waiting: dict[int, _Attempt] = {}
        """Devices (by fleet index) waiting for their answer."""
        self._rounds: dict[int, _Attempt] = {}
        """Connections whose registrations are not all acknowledged by the broker yet."""
        self._deadlines: deque[tuple[float, int, bool, _Attempt]] = deque()
        self._tries: dict[int, int] = {}
        """Devices (by fleet index) that have sent their registration more than once."""
        self._timer: asyncio.TimerHandle | None = None
        self._reply_topics: dict[int, str] = {}
        self._signals: dict[str, tuple[str, ...]] = {}
        """Each model's capability list, sorted once."""
        """Each connection's reply topic, from its first registration round on."""

    @property
    def pending(self) -> int:
        """Devices still between CONNACK and their answer."""
        queued = sum(len(attempt.queue) for attempt in self._rounds.values())
        return len(self._waiting) + self._subscribing_devices + queued

    def connected(
        self, connection: int, link: MqttLink, elapsed_s: float, *, reannounce: bool
    ) -> None:
        """``link`` has its CONNACK, ``elapsed_s`` after its attempt began: subscribe."""
        now = self._clock()
        reply_topic = connection_topic(self._host, self._reply, connection)
        self._reply_topics[connection] = reply_topic
        attempt = _Attempt(
            connection,
            link,
            now - elapsed_s,
            self._wall_ns() - int(elapsed_s * 1e9),
            reannounce,
            self._host.client_id(connection),
            connection_topic(self._host, self._register, connection),
            reply_topic,
        )
        self._subscribing[connection] = attempt
        self._subscribing_devices += len(self._host.members(connection))
        try:
            link.send(link.session.subscribe([(reply_topic, 1)]))
        except LocalProtocolError:  # closed between CONNACK and now: nothing to wait for
            self._count(attempt, SUBACK, self._unsubscribing(connection), failed=True)
            return
        self._expect(connection, subscribing=True, attempt=attempt)

    def owns_ack(self, link: MqttLink, event: PubAckReceived) -> bool:
        """Whether a PUBACK belongs to a registration; any PUBACK sends the next one queued.

        Any: the window may be full of other QoS 1 messages (a kept session's resends, the
        telemetry of devices admitted already), and each of their PUBACKs frees a place too.
        """
        connection = link.owner
        if not self._rounds or not isinstance(connection, int):
            return False
        attempt = self._rounds.get(connection)
        if attempt is None:
            return False
        owned = event.packet_id in attempt.packet_ids
        attempt.packet_ids.discard(event.packet_id)
        if owned or attempt.queue:
            self._send_queued(attempt)
        return owned

    def on_subscribed(self, link: MqttLink, event: Subscribed) -> None:
        """The SUBACK of a reply topic: register every device, or count the refusal."""
        connection = link.owner
        if not isinstance(connection, int):
            return
        attempt = self._subscribing.get(connection)
        if attempt is None or attempt.link is not link:
            return
        self._unsubscribing(connection)
        members = self._host.members(connection)
        code = event.reason_codes[0] if event.reason_codes else 0x80
        if code >= 0x80:
            self._count(attempt, SUBACK, len(members), rejected=True)
            return
        if not attempt.reannounce:
            self.funnel[SUBACK].reach(self._elapsed_us(attempt), len(members))
        attempt.queue.extend(members)
        self._rounds[connection] = attempt
        self._send_queued(attempt)

    def on_message(self, link: MqttLink, publish: Publish) -> bool:
        """A message on a connection; returns whether it was an answer to a registration."""
        connection = link.owner
        if not isinstance(connection, int):
            return False
        if publish.topic != self._reply_topics.get(connection):
            return False
        try:
            answer = decode_answer(publish.payload, publish.properties.correlation_data)
            index = index_of(answer.correlation)
        except PayloadError:
            self.invalid_answers += 1
            return True
        attempt = self._waiting.get(index)
        if attempt is None:
            self.late_answers += 1
            return True
        if attempt.connection != connection:
            self.invalid_answers += 1
            return True
        device = next((d for d in self._host.members(connection) if d.index == index), None)
        if device is None or device.device_id != answer.device_id:
            self.invalid_answers += 1
            return True
        del self._waiting[index]
        self._tries.pop(index, None)
        if answer.accepted:
            if attempt.reannounce:
                self.reannounced.accepted += 1
                self.reannounced.elapsed_us.record(self._elapsed_us(attempt))
            else:
                self.funnel[REGISTERED].reach(self._elapsed_us(attempt))
                self.last_accepted = self._clock()
            self._admit(device, link)
        else:
            self._count(attempt, REGISTERED, 1, rejected=True)
        return True

    def lost(self, connection: int, link: MqttLink) -> None:
        """``link`` dropped: whatever it was waiting for counts as failed."""
        attempt = self._subscribing.get(connection)
        if attempt is not None and attempt.link is link:
            self._count(attempt, SUBACK, self._unsubscribing(connection), failed=True)
        attempt = self._rounds.pop(connection, None)
        if attempt is not None and attempt.link is link and attempt.queue:
            self._count(attempt, REGISTERED, len(attempt.queue), failed=True)
            for device in attempt.queue:
                self._tries.pop(device.index, None)
            attempt.queue.clear()
        for device in self._host.members(connection):
            waiting = self._waiting.get(device.index)
            if waiting is not None and waiting.link is link:
                del self._waiting[device.index]
                self._tries.pop(device.index, None)
                self._count(waiting, REGISTERED, 1, failed=True)

    def close(self) -> None:
        """Stop the timer (at the end of a run)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # sending

    def _send_queued(self, attempt: _Attempt) -> None:
        queue = attempt.queue
        # A gateway's registrations go out in one write, not one per device.
        out: list[bytes] = []
        try:
            while queue:
                device = queue[0]
                try:
                    data = self._registration(attempt, device)
                except InflightLimitError:
                    return  # the next PUBACK on this connection sends it
                except LocalProtocolError:
                    # The session closed under us: lost() counts what is left.
                    return
                queue.popleft()
                attempt.packet_ids.add(_packet_id(data))
                out.append(data)
                self._waiting[device.index] = attempt
                if attempt.reannounce and device.index not in self._tries:
                    self.reannounced.sent += 1
                self._expect(device.index, subscribing=False, attempt=attempt)
        finally:
            if out:
                attempt.link.send(b"".join(out))
        if not attempt.packet_ids:
            self._rounds.pop(attempt.connection, None)

    def _retry(self, attempt: _Attempt, index: int, tries: int) -> None:
        """Send a registration that got no answer again (through the round's queue)."""
        device = next(d for d in self._host.members(attempt.connection) if d.index == index)
        self._tries[index] = tries
        target: Stage | Reannouncements = (
            self.reannounced if attempt.reannounce else self.funnel[REGISTERED]
        )
        target.retries += 1
        attempt.queue.append(device)
        self._rounds[attempt.connection] = attempt
        self._send_queued(attempt)

    def _registration(self, attempt: _Attempt, device: Member) -> bytes:
        client_id = attempt.client_id
        reply_to = attempt.reply_topic
        correlation = correlation_for(device.index)
        body = encode_registration(
            Registration(
                device.device_id,
                (model := self._host.model_of(device)).name,
                FIRMWARE,
                self._capabilities(model),
                attempt.t0_ns,
                reply_to,
                correlation,
                client_id if client_id != device.device_id else None,
                self._host.telemetry_topic(device),
            )
        )
        properties = Properties()
        if self._version is MQTTVersion.V5:
            properties = Properties(
                response_topic=reply_to,
                correlation_data=correlation,
                content_type="application/json",
            )
        return attempt.link.session.publish(attempt.register_topic, body, 1, properties=properties)

    def _capabilities(self, model: DeviceModel) -> tuple[str, ...]:
        found = self._signals.get(model.name)
        if found is None:
            found = self._signals[model.name] = tuple(sorted(model.signals))
        return found

    # deadlines

    def _expect(self, key: int, *, subscribing: bool, attempt: _Attempt) -> None:
        self._deadlines.append((self._loop.time() + self.timeout_s, key, subscribing, attempt))
        if self._timer is None:
            self._timer = self._loop.call_at(self._deadlines[0][0], self._expire)

    def _expire(self) -> None:
        self._timer = None
        now = self._loop.time()
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, key, subscribing, attempt = deadlines.popleft()
            pending = self._subscribing if subscribing else self._waiting
            if pending.get(key) is not attempt:
                continue
            if subscribing:
                self._count(attempt, SUBACK, self._unsubscribing(key), timeout=True)
                continue
            del self._waiting[key]
            tries = self._tries.pop(key, 1)
            if tries >= self.attempts or attempt.link.transport is None:
                self._count(attempt, REGISTERED, 1, timeout=True)
                continue
            self._retry(attempt, key, tries + 1)
        if deadlines:
            self._timer = self._loop.call_at(deadlines[0][0], self._expire)

    # counting

    def _count(
        self,
        attempt: _Attempt,
        stage: str,
        count: int,
        *,
        rejected: bool = False,
        timeout: bool = False,
        failed: bool = False,
    ) -> None:
        target: Stage | Reannouncements = (
            self.reannounced if attempt.reannounce else self.funnel[stage]
        )
        target.rejected += count * rejected
        target.timeouts += count * timeout
        target.failed += count * failed

    def _unsubscribing(self, connection: int) -> int:
        """Forget a connection's SUBACK wait; return how many devices it was holding up."""
        del self._subscribing[connection]
        count = len(self._host.members(connection))
        self._subscribing_devices -= count
        return count

    def _elapsed_us(self, attempt: _Attempt) -> int:
        return int((self._clock() - attempt.begin) * 1e6)


def _packet_id(data: bytes) -> int:
    """The packet id of an encoded QoS 1 or 2 PUBLISH (it follows the topic name)."""
    # Fixed header byte, remaining length (1-4 bytes, high bit = more), topic length + topic.
    i = 1
    while data[i] & 0x80:
        i += 1
    i += 1
    i += 2 + int.from_bytes(data[i : i + 2], "big")
    return int.from_bytes(data[i : i + 2], "big")
