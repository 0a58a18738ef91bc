"""An edge node's Sparkplug B session: the rules of births, deaths, sequence numbers and aliases.

Pure: every method takes the time in milliseconds and returns ``(topic, payload)`` pairs for the
caller to publish (QoS 0, not retained, except the NDEATH will: QoS 1). The rules kept, from the
specification's payload and operational chapters:

- Each MQTT connect is a new session with the next ``bdSeq`` (0-255, wrapping). The NDEATH will
  that goes in CONNECT and the NBIRTH after it carry the same ``bdSeq``.
- One ``seq`` counter per edge node runs over NBIRTH, DBIRTH, NDATA, DDATA and DDEATH: the NBIRTH
  has 0, each following message one more, 255 is followed by 0. NDEATH has none.
- The NBIRTH comes first, then a device's DBIRTH before any of its DDATA; births name every metric
  with its data type and an alias unique across the edge node; data messages carry the alias
  only. An alias, once given to a metric, stays its alias for the life of this object, so a
  rebirth repeats it.
- An NCMD ``Node Control/Rebirth`` = true (by name or alias) is answered with a new NBIRTH and a
  DBIRTH for every device currently born, with their latest values.

Misuse (data before birth, an unknown metric, a type that does not fit) raises
:class:`~simulator.errors.LocalProtocolError`; a malformed command payload raises
:class:`~simulator.errors.PayloadError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from simulator.errors import LocalProtocolError, PayloadError
from simulator.payloads.sparkplug.datatype import DataType
from simulator.payloads.sparkplug.model import Metric, MetricValue, SparkplugPayload
from simulator.payloads.sparkplug.payload import decode_payload, encode_payload
from simulator.payloads.sparkplug.topics import MessageType, build_topic, parse_topic

BD_SEQ = "bdSeq"
"""The metric that ties an NBIRTH to its NDEATH."""
REBIRTH = "Node Control/Rebirth"
"""The node control metric a host writes true to ask for a rebirth."""

# The specification's examples show UInt64, but its issue #314 settled bdSeq as Int64, which is
# what the reference implementation sends; hosts read either.
_BD_SEQ_TYPE = DataType.Int64


class Message(NamedTuple):
    """One message to publish."""

    topic: str
    payload: bytes


class _Known:
    """What a birth declared about one metric, and its latest value (for a rebirth)."""

    __slots__ = ("alias", "birth", "value")

    def __init__(self, alias: int, birth: Metric) -> None:
        self.alias = alias
        self.birth = birth
        self.value = birth.value


class EdgeNode:
    """The Sparkplug session of one edge node and the devices behind it."""

    __slots__ = (
        "_aliases",
        "_bd_seq",
        "_born_devices",
        "_devices",
        "_edge_node_id",
        "_group_id",
        "_next_alias",
        "_next_bd_seq",
        "_node",
        "_node_born",
        "_seq",
    )

    def __init__(self, group_id: str, edge_node_id: str, first_bd_seq: int = 0) -> None:
        """Start with no session; ``first_bd_seq`` restores the count after a restart."""
        build_topic(MessageType.NBIRTH, group_id, edge_node_id)  # validates both ids
        if not 0 <= first_bd_seq <= 255:
            raise LocalProtocolError(f"bdSeq must be in 0..255, got {first_bd_seq}")
        self._group_id = group_id
        self._edge_node_id = edge_node_id
        self._next_bd_seq = first_bd_seq
        self._bd_seq: int | None = None
        self._seq = 0
        self._node_born = False
        self._node: dict[str, _Known] = {}
        self._devices: dict[str, dict[str, _Known]] = {}
        self._born_devices: set[str] = set()
        self._aliases: dict[tuple[str | None, str], int] = {}
        self._next_alias = 0

    @property
    def bd_seq(self) -> int | None:
        """The current session's ``bdSeq`` (``None`` before the first :meth:`death_will`)."""
        return self._bd_seq

    def death_will(self, now_ms: int) -> Message:
        """Start a new session and return its NDEATH, to register as the CONNECT will (QoS 1).

        Call once per MQTT connect, before :meth:`node_birth`; it takes the next ``bdSeq``.
        """
        self._bd_seq = self._next_bd_seq
        self._next_bd_seq = (self._next_bd_seq + 1) & 0xFF
        self._node_born = False
        self._born_devices.clear()
        return self._death(now_ms)

    def node_death(self, now_ms: int) -> Message:
        """End the session: the NDEATH to publish before disconnecting on purpose."""
        self._require_session()
        self._node_born = False
        self._born_devices.clear()
        return self._death(now_ms)

    def node_birth(self, now_ms: int, metrics: Iterable[Metric] = ()) -> Message:
        """Return the NBIRTH declaring the node's own metrics (each with name and data type).

        ``bdSeq`` and ``Node Control/Rebirth`` are added; ``seq`` restarts at 0.
        """
        self._require_session()
        declared = [
            Metric(name=BD_SEQ, datatype=_BD_SEQ_TYPE, value=self._bd_seq),
            Metric(name=REBIRTH, datatype=DataType.Boolean, value=False),
            *metrics,
        ]
        known = self._declare(None, declared)
        message = self._birth(MessageType.NBIRTH, None, known, now_ms, 0)
        self._node = known
        self._node_born = True
        self._born_devices.clear()
        self._seq = 1
        return message

    def device_birth(self, device_id: str, now_ms: int, metrics: Iterable[Metric]) -> Message:
        """Return the DBIRTH declaring a device's metrics (each with name and data type)."""
        self._require_node_born("DBIRTH")
        build_topic(MessageType.DBIRTH, self._group_id, self._edge_node_id, device_id)
        known = self._declare(device_id, list(metrics))
        message = self._birth(MessageType.DBIRTH, device_id, known, now_ms, self._seq)
        self._advance_seq()
        self._devices[device_id] = known
        self._born_devices.add(device_id)
        return message

    def node_data(self, now_ms: int, values: Mapping[str, MetricValue]) -> Message:
        """Return an NDATA carrying new values of node metrics, by alias."""
        self._require_node_born("NDATA")
        return self._data(MessageType.NDATA, None, self._node, now_ms, values)

    def device_data(
        self, device_id: str, now_ms: int, values: Mapping[str, MetricValue]
    ) -> Message:
        """Return a DDATA carrying new values of a born device's metrics, by alias."""
        self._require_node_born("DDATA")
        if device_id not in self._born_devices:
            raise LocalProtocolError(f"DDATA for device {device_id!r} before its DBIRTH")
        return self._data(MessageType.DDATA, device_id, self._devices[device_id], now_ms, values)

    def device_death(self, device_id: str, now_ms: int) -> Message:
        """Return the DDEATH of a born device; it needs a new DBIRTH before more data."""
        self._require_node_born("DDEATH")
        if device_id not in self._born_devices:
            raise LocalProtocolError(f"DDEATH for device {device_id!r}, which is not born")
        self._born_devices.discard(device_id)
        topic = build_topic(MessageType.DDEATH, self._group_id, self._edge_node_id, device_id)
        payload = _encode(SparkplugPayload(now_ms, (), self._seq))
        self._advance_seq()
        return Message(topic, payload)

    def handle_command(self, topic: str, payload: bytes, now_ms: int) -> list[Message]:
        """Act on a command to this node; return what to publish (empty if nothing).

        An NCMD with ``Node Control/Rebirth`` true is answered with the NBIRTH and every born
        device's DBIRTH. Other commands are not acted on: this node simulates equipment that
        publishes, and has no outputs to write.
        """
        parsed = parse_topic(topic)
        if (parsed.group_id, parsed.edge_node_id) != (self._group_id, self._edge_node_id) or (
            parsed.message_type not in (MessageType.NCMD, MessageType.DCMD)
        ):
            raise LocalProtocolError(f"{topic[:80]!r} is not a command to this edge node")
        command = decode_payload(payload)
        if parsed.message_type is not MessageType.NCMD or not self._wants_rebirth(command):
            return []
        self._require_node_born("a rebirth")
        births = [self._birth(MessageType.NBIRTH, None, self._node, now_ms, 0)]
        self._seq = 1
        for device, known in self._devices.items():
            if device in self._born_devices:
                births.append(self._birth(MessageType.DBIRTH, device, known, now_ms, self._seq))
                self._advance_seq()
        return births

    def _wants_rebirth(self, command: SparkplugPayload) -> bool:
        alias = self._aliases.get((None, REBIRTH))
        for metric in command.metrics:
            if metric.name == REBIRTH or (metric.name is None and metric.alias == alias):
                if type(metric.value) is not bool:
                    raise PayloadError(f"{REBIRTH} must carry a Boolean value")
                return metric.value
        return False

    def _declare(self, device_id: str | None, metrics: list[Metric]) -> dict[str, _Known]:
        known: dict[str, _Known] = {}
        for metric in metrics:
            name = metric.name
            if name is None or metric.datatype in (None, DataType.Unknown):
                raise LocalProtocolError("a birth metric needs a name and a data type")
            if name in known:
                raise LocalProtocolError(f"metric {name!r} declared twice in one birth")
            key = (device_id, name)
            alias = self._aliases.get(key)
            if alias is None:
                alias = self._aliases[key] = self._next_alias
                self._next_alias += 1
            known[name] = _Known(alias, metric)
        return known

    def _birth(
        self,
        kind: MessageType,
        device_id: str | None,
        known: dict[str, _Known],
        now_ms: int,
        seq: int,
    ) -> Message:
        metrics = []
        for name, entry in known.items():
            birth = entry.birth
            value = entry.value
            metrics.append(
                Metric(
                    name=name,
                    alias=entry.alias,
                    timestamp=now_ms,
                    datatype=birth.datatype,
                    value=value,
                    is_transient=birth.is_transient,
                    is_null=value is None,
                    metadata=birth.metadata,
                    properties=birth.properties,
                )
            )
        payload = _encode(SparkplugPayload(now_ms, tuple(metrics), seq))
        return Message(build_topic(kind, self._group_id, self._edge_node_id, device_id), payload)

    def _data(
        self,
        kind: MessageType,
        device_id: str | None,
        known: dict[str, _Known],
        now_ms: int,
        values: Mapping[str, MetricValue],
    ) -> Message:
        metrics = []
        for name, value in values.items():
            entry = known.get(name)
            if entry is None:
                where = "the node" if device_id is None else f"device {device_id!r}"
                raise LocalProtocolError(
                    f"metric {name!r} was not declared in the birth of {where}"
                )
            metrics.append(
                Metric(
                    alias=entry.alias,
                    timestamp=now_ms,
                    datatype=entry.birth.datatype,
                    value=value,
                    is_null=value is None,
                )
            )
        payload = _encode(SparkplugPayload(now_ms, tuple(metrics), self._seq))
        # Only after encoding succeeded, so a refused value neither uses up a seq nor becomes
        # the value a rebirth repeats.
        self._advance_seq()
        for name, value in values.items():
            known[name].value = value
        return Message(build_topic(kind, self._group_id, self._edge_node_id, device_id), payload)

    def _death(self, now_ms: int) -> Message:
        metric = Metric(name=BD_SEQ, timestamp=now_ms, datatype=_BD_SEQ_TYPE, value=self._bd_seq)
        payload = encode_payload(SparkplugPayload(now_ms, (metric,)))
        return Message(build_topic(MessageType.NDEATH, self._group_id, self._edge_node_id), payload)

    def _advance_seq(self) -> None:
        self._seq = (self._seq + 1) & 0xFF

    def _require_session(self) -> None:
        if self._bd_seq is None:
            raise LocalProtocolError("no session: call death_will() for the CONNECT first")

    def _require_node_born(self, what: str) -> None:
        if not self._node_born:
            raise LocalProtocolError(f"{what} before the NBIRTH of this session")


def _encode(payload: SparkplugPayload) -> bytes:
    try:
        return encode_payload(payload)
    except PayloadError as exc:
        raise LocalProtocolError(f"cannot encode: {exc}") from None
