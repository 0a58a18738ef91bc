"""Answering registrations: the platform's decision and its reply, on whatever link heard them.

Used by the standalone :class:`~simulator.provisioning.responder.Responder` connection and by
the ingest worker, which already subscribes to the registrations (to time first telemetry) and
so answers them on its own connection without a second subscriber or process.

The reply goes to the topic the device asked for: MQTT 5's Response Topic and Correlation Data
when present, the JSON body's ``reply_to`` and ``correlation`` otherwise (MQTT 3.1.1). Answers
are QoS 1; those that do not fit in the broker's Receive Maximum wait in one backlog per
provisioner and go out as PUBACKs free the window.

To let a run prove its failure paths, it refuses a share of the devices and ignores another
share (their registrations time out). Which devices is a pure function of the seed and the
device id, so the same devices are refused in every run and on every re-announcement.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from simulator.errors import InflightLimitError, SimulatorError
from simulator.mqtt import MQTTVersion, Properties, Publish
from simulator.payloads.registration import (
    ACCEPTED,
    REJECTED,
    Answer,
    Registration,
    encode_answer,
)
from simulator.transport.connection import MqttLink

ACCEPT = "accept"
REJECT = "reject"
IGNORE = "ignore"

REJECT_REASON = "not in the provisioning allow-list"
"""The reason given when a device is refused."""


def verdict(seed: int, device_id: str, reject_share: float, silent_share: float) -> str:
    """What the platform does with ``device_id``'s registration: accept, reject or ignore."""
    if not reject_share and not silent_share:
        return ACCEPT
    digest = hashlib.blake2b(f"{seed}:{device_id}".encode(), digest_size=8).digest()
    draw = int.from_bytes(digest, "big") / 2**64
    if draw < reject_share:
        return REJECT
    if draw < reject_share + silent_share:
        return IGNORE
    return ACCEPT


def topic_filter(template: str) -> str:
    """A subscription filter matching every topic ``template`` renders to."""
    return "/".join("+" if "{" in level else level for level in template.split("/"))


@dataclass(frozen=True, slots=True)
class Policy:
    """How registrations are decided."""

    seed: int = 1
    reject_share: float = 0.0
    silent_share: float = 0.0
    config: Mapping[str, Any] = field(default_factory=dict)
    """The configuration every accepted device is sent."""


@dataclass(slots=True)
class ResponderCounters:
    """What was answered, for the report."""

    registrations: int = 0
    accepted: int = 0
    rejected: int = 0
    ignored: int = 0
    malformed: int = 0
    unsent: int = 0
    """Answers dropped because the connection closed before they could be sent."""
    reconnects: int = 0

    def to_dict(self) -> dict[str, int]:
        """As the report shows it: every counter, by name."""
        return asdict(self)


class Provisioner:
    """Decides and answers registrations; owns the backlog of answers waiting for the window."""

    __slots__ = ("_backlog", "_config_json", "_v5", "counters", "policy")

    def __init__(self, policy: Policy, version: MQTTVersion) -> None:
        self.policy = policy
        self._config_json = (
            f',"config":{json.dumps(dict(policy.config), separators=(",", ":"))}'
            if policy.config
            else ""
        )
        self._v5 = version is MQTTVersion.V5
        self.counters = ResponderCounters()
        self._backlog: deque[tuple[str, bytes, Properties]] = deque()

    def answer(self, link: MqttLink, publish: Publish, registration: Registration | None) -> None:
        """Queue the answer to one registration heard on ``link`` (``None``: it did not decode).

        Nothing is written yet: call :meth:`flush` once the batch of events that brought it is
        done, so a burst of registrations is answered in one write.
        """
        counters = self.counters
        counters.registrations += 1
        if registration is None:
            counters.malformed += 1
            return
        policy = self.policy
        props = publish.properties
        reply_to = props.response_topic or registration.reply_to
        correlation = props.correlation_data or registration.correlation
        device_id = registration.device_id
        decision = verdict(policy.seed, device_id, policy.reject_share, policy.silent_share)
        if decision == IGNORE:
            counters.ignored += 1
            return
        if decision == REJECT:
            counters.rejected += 1
            body = encode_answer(Answer(device_id, REJECTED, correlation, REJECT_REASON))
        else:
            counters.accepted += 1
            body = self._accepted(device_id, correlation)
        properties = Properties()
        if self._v5:
            properties = Properties(correlation_data=correlation, content_type="application/json")
        self._backlog.append((reply_to, body, properties))

    def _accepted(self, device_id: str, correlation: bytes) -> bytes:
        """:func:`encode_answer` of an acceptance, byte for byte, without building a dict.

        Every acceptance carries the same configuration; its JSON is made once.
        """
        return (
            f'{{"device_id":{json.dumps(device_id)},"status":"{ACCEPTED}",'
            f'"correlation":"{correlation.hex()}"{self._config_json}}}'
        ).encode()

    def flush(self, link: MqttLink) -> None:
        """Send queued answers while the broker's Receive Maximum lets us (call on PUBACK)."""
        backlog = self._backlog
        if not backlog:
            return
        session = link.session
        out: list[bytes] = []
        try:
            while backlog:
                topic, body, properties = backlog[0]
                try:
                    out.append(session.publish(topic, body, 1, properties=properties))
                except InflightLimitError:
                    return  # the next PUBACK sends it
                except SimulatorError:
                    # Closed under us: these devices time out, as with any platform that fails.
                    self.counters.unsent += len(backlog)
                    backlog.clear()
                    return
                backlog.popleft()
        finally:
            if out:
                link.send(b"".join(out))
