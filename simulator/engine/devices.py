"""A fleet's per-device state, its groups, and the totals it keeps.

A :class:`Device` is a few slots: identity, pre-encoded PUBLISH prefix, sequence, the model's
compact state and its link. Devices of one model, interval and payload format form a
:class:`DeviceGroup`, which owns their one publish wheel.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from simulator.engine.pacing import Pace
from simulator.engine.wheel import TimingWheel
from simulator.fleet import DeviceModel, PlantLayout, get_model
from simulator.payloads import PayloadCodec, get_codec
from simulator.scenario.composition import Group
from simulator.transport.connection import MqttLink


class Device:
    """One emulated device: identity, pre-encoded topic, sequence, model state and link."""

    __slots__ = (
        "admitted",
        "device_id",
        "group",
        "index",
        "link",
        "phase_s",
        "prefix",
        "seq",
        "state",
    )

    def __init__(  # noqa: PLR0917 - built once per device in one place, positionally for speed
        self, index: int, device_id: str, prefix: bytes, phase_s: float, state: Any, group: int = 0
    ) -> None:
        self.index = index
        self.group = group
        """Index of the device's :class:`DeviceGroup` (model, interval, payload format)."""
        self.device_id = device_id
        self.prefix = prefix
        """The PUBLISH variable header (topic, and v5's empty properties), encoded once."""
        self.phase_s = phase_s
        self.state = state
        self.seq = 0
        """Sequence number of the next message; also how many it has published."""
        self.link: MqttLink | None = None
        self.admitted = False
        """On its publish wheel: connected and (with the register workflow) accepted."""


class DeviceGroup:
    """Devices of one model, interval and payload format: one publish wheel between them."""

    __slots__ = (
        "codec",
        "connections",
        "count",
        "interval_s",
        "layout",
        "model",
        "pace",
        "per_connection",
        "start",
        "wheel",
    )

    def __init__(self, spec: Group, plant: PlantLayout) -> None:
        self.model: DeviceModel = get_model(spec.model)
        self.codec: PayloadCodec = get_codec(spec.payload)
        self.interval_s = spec.interval_s
        self.start = spec.start
        self.count = spec.count
        self.per_connection = spec.per_connection
        self.connections = spec.connections
        self.layout = replace(plant, id_prefix=self.model.id_prefix)
        self.wheel: TimingWheel[Device] | None = None
        self.pace: Pace | None = None
        """Scales the devices' rate at firing time under ``[[stages]]`` (None: their own)."""


@dataclass(slots=True)
class FleetCounters:
    """Totals the live view samples once a second and the report reads at the end."""

    published: int = 0
    acked: int = 0
    dropped_links: int = 0
    drop_reasons: dict[str, int] = field(default_factory=dict)
    """Dropped connections by why they went (see :func:`drop_reason`)."""
    reconnects: int = 0
    """Dropped connections that came back."""
    dead_links: int = 0
    """Connections dropped because the broker stopped answering keepalive pings."""
    discarded: int = 0
    """QoS 1/2 messages dropped unacknowledged because the broker had lost our session."""
    refused: int = 0
    """Messages the broker refused with a reason code (e.g. 0x87 not authorized)."""
    inflight_blocked: int = 0
    """QoS 1 and 2 sends postponed because the broker's receive maximum was reached."""
    too_large: int = 0
    """Messages not sent because they exceeded the broker's Maximum Packet Size (CONNACK)."""


def drop_reason(exc: BaseException | None) -> str:
    """Why a connection went away, in a few words that many drops share (no client ids)."""
    if exc is None:
        return "closed by the broker"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    text = str(exc)
    # Our own messages name the connection first ("gw-00042: ..."): count by what follows.
    head, _, rest = text.partition(": ")
    return (rest if rest and " " not in head else text)[:80] or type(exc).__name__
