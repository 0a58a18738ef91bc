"""The onboarding exchange: a device's registration and the platform's answer, as JSON.

A device announces itself once its connection is up (and again after every reconnect) with a
:class:`Registration` on its registration topic and waits for an :class:`Answer` on its reply
topic before it sends telemetry. Under MQTT 5 the reply topic and the correlation data travel
as the PUBLISH's Response Topic and Correlation Data properties, as the specification's
request/response pattern has it; MQTT 3.1.1 has no properties, so both are also in the JSON
body (``reply_to``, ``correlation``) and a platform answering either version reads them there.

JSON rather than msgpack on purpose: this exchange happens once per device and connection,
and a platform team reads and answers it with their own tools.

A registered device also has a death: a :class:`Death` on its connection's death topic, one per
device when the connection leaves on purpose, and the connection's MQTT will (naming every
device it carries) when it vanishes. A platform marks those devices offline.

The correlation data is the device's index in the fleet as four bytes: unique within a run,
and what the fleet looks a device up by without a table of a million ids.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from simulator.errors import PayloadError

ACCEPTED = "accepted"
REJECTED = "rejected"
STATUSES = (ACCEPTED, REJECTED)

LEFT = "disconnect"
"""A death's reason when the connection left on purpose."""
LOST = "connection lost"
"""A death's reason when the broker published it as the connection's will."""
DEATH_REASONS = (LEFT, LOST)


@dataclass(frozen=True, slots=True)
class Registration:
    """What a device says about itself when it comes online."""

    device_id: str
    model: str
    firmware: str
    capabilities: tuple[str, ...]
    """The signals its telemetry carries."""
    t0_ns: int
    """Wall-clock time its connection attempt began (ns since the epoch), so the platform side
    can time the whole onboarding up to its first telemetry."""
    reply_to: str
    correlation: bytes
    gateway: str | None = None
    """The client id of the gateway it is behind, if any."""
    topic: str | None = None
    """Where its telemetry will be published, so a platform that partitions its ingest by
    topic knows which of its workers the device belongs to."""


@dataclass(frozen=True, slots=True)
class Answer:
    """The platform's acknowledgement (with configuration) or refusal of one registration."""

    device_id: str
    status: str
    correlation: bytes
    reason: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        """Whether the device may start sending telemetry."""
        return self.status == ACCEPTED


@dataclass(frozen=True, slots=True)
class Death:
    """The devices of a connection that went offline, and why."""

    devices: tuple[str, ...]
    gateway: str | None
    """The client id of the gateway they were behind, if any."""
    reason: str
    """:data:`LEFT` or :data:`LOST`."""
    ts_ms: int
    """Wall-clock ms since the epoch: when it was sent, or for a will when it was set (the
    broker publishes a will later, at a moment the device cannot know)."""


def correlation_for(index: int) -> bytes:
    """The correlation data of the device with fleet index ``index``."""
    return index.to_bytes(4, "big")


def index_of(correlation: bytes) -> int:
    """The fleet index a correlation made by :func:`correlation_for` stands for."""
    if len(correlation) != 4:
        raise PayloadError(f"correlation data must be 4 bytes, got {len(correlation)}")
    return int.from_bytes(correlation, "big")


def encode_registration(reg: Registration) -> bytes:
    """The JSON body of a registration."""
    body: dict[str, Any] = {
        "device_id": reg.device_id,
        "model": reg.model,
        "firmware": reg.firmware,
        "capabilities": list(reg.capabilities),
        "t0_ns": reg.t0_ns,
        "reply_to": reg.reply_to,
        "correlation": reg.correlation.hex(),
    }
    if reg.gateway is not None:
        body["gateway"] = reg.gateway
    if reg.topic is not None:
        body["topic"] = reg.topic
    return json.dumps(body, separators=(",", ":")).encode()


def decode_registration(data: bytes) -> Registration:
    """Parse a registration body; :class:`PayloadError` names what is missing or wrong."""
    body = _object(data, "registration")
    capabilities = body.get("capabilities", [])
    if not isinstance(capabilities, list) or not all(isinstance(c, str) for c in capabilities):
        raise PayloadError("registration: 'capabilities' must be a list of strings")
    gateway = _optional_text(body, "gateway", "registration")
    t0 = _integer(body, "t0_ns", "registration")
    return Registration(
        _text(body, "device_id", "registration"),
        _text(body, "model", "registration"),
        _text(body, "firmware", "registration"),
        tuple(capabilities),
        t0,
        _text(body, "reply_to", "registration"),
        _hex(body, "registration"),
        gateway,
        _optional_text(body, "topic", "registration"),
    )


def encode_answer(answer: Answer) -> bytes:
    """The JSON body of an answer."""
    body: dict[str, Any] = {
        "device_id": answer.device_id,
        "status": answer.status,
        "correlation": answer.correlation.hex(),
    }
    if answer.reason is not None:
        body["reason"] = answer.reason
    if answer.config:
        body["config"] = dict(answer.config)
    return json.dumps(body, separators=(",", ":")).encode()


def decode_answer(data: bytes, correlation: bytes | None = None) -> Answer:
    """Parse an answer; ``correlation`` (MQTT 5's property) wins over the body's."""
    body = _object(data, "answer")
    status = _text(body, "status", "answer")
    if status not in STATUSES:
        raise PayloadError(f"answer: 'status' must be one of {', '.join(STATUSES)}, not {status!r}")
    reason = _optional_text(body, "reason", "answer")
    config = body.get("config", {})
    if not isinstance(config, dict):
        raise PayloadError("answer: 'config' must be an object")
    return Answer(
        _text(body, "device_id", "answer"),
        status,
        correlation if correlation is not None else _hex(body, "answer"),
        reason,
        config,
    )


def encode_death(death: Death) -> bytes:
    """The JSON body of a death."""
    body: dict[str, Any] = {
        "devices": list(death.devices),
        "reason": death.reason,
        "ts_ms": death.ts_ms,
    }
    if death.gateway is not None:
        body["gateway"] = death.gateway
    return json.dumps(body, separators=(",", ":")).encode()


def decode_death(data: bytes) -> Death:
    """Parse a death body; :class:`PayloadError` names what is missing or wrong."""
    body = _object(data, "death")
    devices = body.get("devices")
    if (
        not isinstance(devices, list)
        or not devices
        or not all(isinstance(d, str) and d for d in devices)
    ):
        raise PayloadError("death: 'devices' must be a non-empty list of device ids")
    reason = _text(body, "reason", "death")
    if reason not in DEATH_REASONS:
        raise PayloadError(f"death: 'reason' must be one of {', '.join(DEATH_REASONS)}")
    gateway = _optional_text(body, "gateway", "death")
    return Death(tuple(devices), gateway, reason, _integer(body, "ts_ms", "death"))


def capabilities_of(signals: Sequence[str] | Mapping[str, object]) -> tuple[str, ...]:
    """The capability list of a model: its signal names, sorted."""
    return tuple(sorted(signals))


def _object(data: bytes, what: str) -> dict[str, Any]:
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: absurdly nested arrays from whoever may publish on these topics.
        raise PayloadError(f"{what}: not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise PayloadError(f"{what}: must be a JSON object")
    return body


def _text(body: Mapping[str, Any], key: str, what: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{what}: {key!r} must be a non-empty string")
    return value


def _optional_text(body: Mapping[str, Any], key: str, what: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise PayloadError(f"{what}: {key!r} must be a string")
    return value


def _integer(body: Mapping[str, Any], key: str, what: str) -> int:
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PayloadError(f"{what}: {key!r} must be an integer")
    return value


def _hex(body: Mapping[str, Any], what: str) -> bytes:
    value = body.get("correlation")
    if not isinstance(value, str):
        raise PayloadError(f"{what}: 'correlation' must be a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise PayloadError(f"{what}: 'correlation' is not hex: {value!r}") from exc
