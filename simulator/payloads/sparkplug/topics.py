"""The Sparkplug B topic namespace: build and parse with validation.

Edge node and device messages::

    spBv1.0/<group_id>/<message_type>/<edge_node_id>[/<device_id>]

``N*`` message types name no device and ``D*`` types must; a host application's state is
``spBv1.0/STATE/<host_id>``. Each id must be a non-empty UTF-8 string without the MQTT
characters ``/``, ``+`` and ``#`` (the specification reserves them; an empty id would make a level
that no subscription can tell apart).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from simulator.errors import TopicError

NAMESPACE = "spBv1.0"
"""The first level of every Sparkplug B topic."""


class MessageType(Enum):
    """The message types of the namespace."""

    NBIRTH = "NBIRTH"
    NDEATH = "NDEATH"
    DBIRTH = "DBIRTH"
    DDEATH = "DDEATH"
    NDATA = "NDATA"
    DDATA = "DDATA"
    NCMD = "NCMD"
    DCMD = "DCMD"
    STATE = "STATE"

    @property
    def is_device(self) -> bool:
        """Whether the topic names a device after the edge node."""
        return self.value[0] == "D"


_BY_NAME = {kind.value: kind for kind in MessageType}
_RESERVED = frozenset("/+#")


@dataclass(frozen=True, slots=True)
class SparkplugTopic:
    """One parsed topic. For ``STATE`` only ``host_id`` is set; otherwise it is ``None``."""

    message_type: MessageType
    group_id: str | None = None
    edge_node_id: str | None = None
    device_id: str | None = None
    host_id: str | None = None

    def __str__(self) -> str:
        if self.message_type is MessageType.STATE:
            return f"{NAMESPACE}/STATE/{self.host_id}"
        base = f"{NAMESPACE}/{self.group_id}/{self.message_type.value}/{self.edge_node_id}"
        return base if self.device_id is None else f"{base}/{self.device_id}"


def build_topic(
    message_type: MessageType, group_id: str, edge_node_id: str, device_id: str | None = None
) -> str:
    """Return the topic of an edge node (``device_id`` ``None``) or device message.

    Raises :class:`TopicError` for an invalid id, a device id on an ``N*`` type, none on a ``D*``
    type, or ``STATE`` (see :func:`state_topic`).
    """
    if message_type is MessageType.STATE:
        raise TopicError("STATE topics name a host application: use state_topic()")
    _check_id("group_id", group_id)
    _check_id("edge_node_id", edge_node_id)
    if message_type.is_device:
        if device_id is None:
            raise TopicError(f"a {message_type.value} topic needs a device_id")
        _check_id("device_id", device_id)
        return f"{NAMESPACE}/{group_id}/{message_type.value}/{edge_node_id}/{device_id}"
    if device_id is not None:
        raise TopicError(f"a {message_type.value} topic names no device")
    return f"{NAMESPACE}/{group_id}/{message_type.value}/{edge_node_id}"


def state_topic(host_id: str) -> str:
    """Return the topic a host application publishes its state on."""
    _check_id("host_id", host_id)
    return f"{NAMESPACE}/STATE/{host_id}"


def parse_topic(topic: str) -> SparkplugTopic:
    """Return the parts of a Sparkplug B topic; raise :class:`TopicError` saying what is wrong."""
    parts = topic.split("/")
    if parts[0] != NAMESPACE:
        raise TopicError(f"not a Sparkplug B topic (must start with {NAMESPACE}/): {topic[:80]!r}")
    if len(parts) == 3 and parts[1] == "STATE":
        _check_id("host_id", parts[2])
        return SparkplugTopic(MessageType.STATE, host_id=parts[2])
    if len(parts) not in (4, 5):
        raise TopicError(f"a Sparkplug B topic has 4 or 5 levels, got {len(parts)}")
    message_type = _BY_NAME.get(parts[2])
    if message_type is None or message_type is MessageType.STATE:
        allowed = ", ".join(name for name in _BY_NAME if name != "STATE")
        raise TopicError(f"unknown message type {parts[2][:20]!r}; allowed: {allowed}")
    device_id = parts[4] if len(parts) == 5 else None
    if message_type.is_device != (device_id is not None):
        need = "needs a device_id" if message_type.is_device else "names no device"
        raise TopicError(f"a {message_type.value} topic {need}")
    _check_id("group_id", parts[1])
    _check_id("edge_node_id", parts[3])
    if device_id is not None:
        _check_id("device_id", device_id)
    return SparkplugTopic(message_type, parts[1], parts[3], device_id)


def _check_id(what: str, value: str) -> None:
    if type(value) is not str or not value:
        raise TopicError(f"{what} must be a non-empty string, got {value!r}")
    if _RESERVED.intersection(value):
        raise TopicError(f"{what} {value[:40]!r} contains one of the reserved characters / + #")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise TopicError(f"{what} is not valid UTF-8 (it holds a lone surrogate)") from None
