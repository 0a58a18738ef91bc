"""Connections that carry Sparkplug B devices are edge nodes: the fleet's Sparkplug hooks.

A connection with at least one device of a ``sparkplug`` payload group is an edge node named
by its client id (``gw-00001``, or the device id of a device connected on its own), in the
Sparkplug group ``fleet.sparkplug_group`` (default: the enterprise). Per the specification:

- Every CONNECT carries the NDEATH as its will (QoS 1, not retained) with the next bdSeq
  (:meth:`EdgeNodes.arm`, before each connect attempt, reconnects included).
- When the first device of a session is admitted (at CONNACK with the ``connect`` workflow,
  at its accepted registration with ``register``), the NBIRTH goes out and the node subscribes
  to its NCMD topic; each admitted device then gets its DBIRTH before its first DDATA. A device
  connected on its own is its own edge node: its metrics are in the NBIRTH and it sends NDATA.
- Telemetry goes out as DDATA (NDATA) on the device's own topic, numbered by the edge node's
  seq; an NCMD ``Node Control/Rebirth`` is answered with the NBIRTH and every admitted
  device's DBIRTH.

Births and deaths are QoS 0 and 1 as the specification says; data messages keep the fleet's
QoS (``fleet.qos``), as every other device's telemetry does. A connection's other devices
(another payload format) publish as before, on their own topics. The scenario's
``[fleet.will]`` applies to the other connections: an MQTT connection has one will, and an
edge node's is its NDEATH.

State: one :class:`~simulator.payloads.sparkplug.slotted_node.NodeCounters` per edge node
(created at its first connect), nothing per device: aliases come from the device's slot.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from simulator.engine.hooks import ConnectionHook
from simulator.errors import LocalProtocolError, PayloadError
from simulator.fleet import DeviceModel
from simulator.mqtt import Publish, Will, publish_prefix
from simulator.mqtt.session import ClientSession
from simulator.payloads.codec import Value
from simulator.payloads.sparkplug.slotted_node import (
    SIM_METRICS,
    NodeCounters,
    alias_base,
    data_payload,
    death_payload,
    device_birth_payload,
    device_death_payload,
    node_birth_payload,
    wants_rebirth,
)
from simulator.payloads.sparkplug.topics import MessageType, build_topic
from simulator.transport.connection import MqttLink

SPARKPLUG = "sparkplug"
"""The payload format whose devices sit on edge nodes."""


class EdgeDevice(Protocol):
    """What the edge nodes read of a device."""

    index: int
    device_id: str
    group: int
    seq: int
    state: Any
    prefix: bytes
    admitted: bool
    link: MqttLink | None


class EdgeGroup(Protocol):
    """What the edge nodes read of a device group."""

    @property
    def model(self) -> DeviceModel:
        """The group's equipment model."""

    @property
    def codec(self) -> Any:
        """The group's payload codec (its ``name`` tells the format)."""


class EdgeHost(Protocol):
    """The fleet's topology, as its edge nodes see it."""

    def connection_of(self, index: int) -> int:
        """The connection that carries device ``index``."""

    def first_device(self, connection: int) -> int:
        """The index of a connection's first device (a device's slot counts from there)."""

    def is_gateway(self, connection: int) -> bool:
        """Whether a connection is a gateway (else a device connected on its own)."""

    @property
    def groups(self) -> Sequence[EdgeGroup]:
        """The device groups, by index."""

    def client_id(self, connection: int) -> str:
        """The connection's MQTT client id: the edge node id."""

    def members(self, connection: int) -> Sequence[EdgeDevice]:
        """The devices a connection carries."""


def publishes_sparkplug(host: EdgeHost) -> bool:
    """Whether any device of ``host`` uses the Sparkplug payload (and so needs edge nodes)."""
    return any(group.codec.name == SPARKPLUG for group in host.groups)


class EdgeNodes(ConnectionHook):
    """The Sparkplug edge nodes of one fleet."""

    def __init__(
        self,
        host: EdgeHost,
        group_id: str,
        *,
        wall_ns: Callable[[], int],
        run_time_s: Callable[[], float],
    ) -> None:
        """``run_time_s`` is the time since the run began, which models are sampled at."""
        build_topic(MessageType.NBIRTH, group_id, "edge")  # validates the group id
        self.group_id = group_id
        self._host = host
        self._wall_ns = wall_ns
        self._run_time_s = run_time_s
        self._groups = frozenset(
            number for number, group in enumerate(host.groups) if group.codec.name == SPARKPLUG
        )
        self.stride = SIM_METRICS + max(
            (len(host.groups[number].model.signals) for number in self._groups), default=0
        )
        """Aliases each device slot of an edge node takes."""
        self._nodes: dict[int, NodeCounters] = {}
        self.births = 0
        """NBIRTH and DBIRTH messages sent, rebirths included."""
        self.rebirths = 0
        """NCMD rebirth requests answered."""
        self.deaths = 0
        """DDEATH and NDEATH messages sent by edge nodes leaving on purpose."""

    def covers(self, group: int) -> bool:
        """Whether devices of group ``group`` publish as Sparkplug edge-node devices."""
        return group in self._groups

    def node(self, connection: int) -> NodeCounters | None:
        """The counters of a connection's edge node (None before its first connect)."""
        return self._nodes.get(connection)

    def built(self, devices: Sequence[EdgeDevice], version: Any) -> None:
        """Point each Sparkplug device's pre-encoded PUBLISH prefix at its DDATA (NDATA) topic."""
        host = self._host
        for device in devices:
            if device.group in self._groups:
                connection = host.connection_of(device.index)
                edge = host.client_id(connection)
                if not host.is_gateway(connection):
                    topic = build_topic(MessageType.NDATA, self.group_id, edge)
                else:
                    topic = build_topic(MessageType.DDATA, self.group_id, edge, device.device_id)
                device.prefix = publish_prefix(topic, version)

    def arm(self, connection: int, session: ClientSession) -> None:
        """Before a connect attempt: a new session, its NDEATH as the will of the CONNECT."""
        if not any(d.group in self._groups for d in self._host.members(connection)):
            return
        node = self._nodes.get(connection)
        if node is None:
            node = self._nodes[connection] = NodeCounters()
        bd_seq = node.new_session()
        topic = build_topic(MessageType.NDEATH, self.group_id, self._host.client_id(connection))
        session.set_will(Will(topic, death_payload(bd_seq, self._wall_ns() // 1_000_000), 1))

    def admitted(self, device: EdgeDevice, link: MqttLink) -> None:
        """``device`` joins its wheel: the NBIRTH first if the session has none, then its DBIRTH."""
        if device.group not in self._groups:
            return
        connection = link.owner
        assert isinstance(connection, int)
        node = self._nodes[connection]
        if not node.born:
            self._node_birth(connection, node, link)
            link.send(
                link.session.subscribe(
                    [(build_topic(MessageType.NCMD, self.group_id, self._edge_id(link)), 0)]
                )
            )
        if self._host.is_gateway(connection):
            self._device_birth(device, node, link)

    def encoder(self, group: EdgeGroup) -> Callable[..., bytes] | None:
        """The data encoder of ``group``'s devices (None: the group's codec applies)."""
        return self.data if group.codec.name == SPARKPLUG else None

    def data(  # noqa: PLR0917 - the hot path, called positionally
        self,
        link: MqttLink,
        index: int,
        device_id: str,
        seq: int,
        ts_ns: int,
        values: dict[str, Value],
    ) -> bytes:
        """The DDATA (NDATA) of a device's message ``seq``, numbered by its edge node."""
        connection: Any = link.owner
        node = self._nodes[connection]
        base = alias_base(index - self._host.first_device(connection), self.stride)
        return data_payload(node.take(), base, device_id, seq, ts_ns, values)

    def not_sent(self, link: MqttLink, index: int) -> None:
        """The message :meth:`data` numbered for device ``index`` was not sent."""
        connection: Any = link.owner
        self._nodes[connection].give_back()

    def _edge_id(self, link: MqttLink) -> str:
        """The edge node id of ``link``: its connection's client id, without the run's prefix
        the session connects with (topics name the node as the fleet does)."""
        connection = link.owner
        assert isinstance(connection, int)
        return self._host.client_id(connection)

    def on_message(self, link: MqttLink, publish: Publish) -> bool:
        """A message on ``link``: act on an NCMD to its edge node; False if it is not one."""
        connection = link.owner
        if not isinstance(connection, int) or connection not in self._nodes:
            return False
        ncmd = build_topic(MessageType.NCMD, self.group_id, self._edge_id(link))
        if publish.topic != ncmd:
            return False
        node = self._nodes[connection]
        try:
            rebirth = wants_rebirth(publish.payload)
        except PayloadError:
            return True  # a malformed command is not acted on
        if rebirth and node.born:
            self.rebirths += 1
            self._node_birth(connection, node, link)
            if self._host.is_gateway(connection):
                for device in self._host.members(connection):
                    if device.admitted and device.link is link and device.group in self._groups:
                        self._device_birth(device, node, link)
        return True

    def goodbye(self, connection: int, link: MqttLink) -> None:
        """Before an intentional disconnect: a DDEATH per born device, then the NDEATH.

        A clean DISCONNECT makes the broker drop the will, so an edge node that leaves on
        purpose says its death itself (Sparkplug 3.0, operational behaviour of an edge node).
        """
        node = self._nodes.get(connection)
        if node is None or not node.born:
            return
        now_ms = self._wall_ns() // 1_000_000
        edge = self._edge_id(link)
        if self._host.is_gateway(connection):
            for device in self._host.members(connection):
                if device.admitted and device.link is link and device.group in self._groups:
                    topic = build_topic(MessageType.DDEATH, self.group_id, edge, device.device_id)
                    self._say(link, topic, device_death_payload(node.take(), now_ms), 0)
        topic = build_topic(MessageType.NDEATH, self.group_id, edge)
        self._say(link, topic, death_payload(node.bd_seq, now_ms), 1)
        node.born = False

    def _say(self, link: MqttLink, topic: str, payload: bytes, qos: int) -> None:
        try:
            link.send(link.session.publish(topic, payload, qos))
        except LocalProtocolError:
            return  # closing or a full window: the broker publishes the NDEATH will instead
        self.deaths += 1

    def _node_birth(self, connection: int, node: NodeCounters, link: MqttLink) -> None:
        now_ns = self._wall_ns()
        own = None
        if not self._host.is_gateway(connection):
            device = self._host.members(connection)[0]
            own = (
                alias_base(0, self.stride),
                device.device_id,
                device.seq,
                now_ns,
                self._sample(device),
            )
        payload = node_birth_payload(node.bd_seq, now_ns // 1_000_000, own)
        node.birth()
        topic = build_topic(MessageType.NBIRTH, self.group_id, self._edge_id(link))
        self._send(link, topic, payload)

    def _device_birth(self, device: EdgeDevice, node: NodeCounters, link: MqttLink) -> None:
        now_ns = self._wall_ns()
        connection: Any = link.owner
        payload = device_birth_payload(
            node.seq,
            now_ns // 1_000_000,
            alias_base(device.index - self._host.first_device(connection), self.stride),
            device.device_id,
            device.seq,
            now_ns,
            self._sample(device),
        )
        node.take()
        topic = build_topic(
            MessageType.DBIRTH, self.group_id, self._edge_id(link), device.device_id
        )
        self._send(link, topic, payload)

    def _sample(self, device: EdgeDevice) -> dict[str, Value]:
        # A birth states current values, but sampling advances the model's state; a copy of
        # the state gives the values without changing what the next message will say.
        model = self._host.groups[device.group].model
        sample = model.sample(copy.copy(device.state), device.seq, self._run_time_s())
        return dict(sample)

    def _send(self, link: MqttLink, topic: str, payload: bytes) -> None:
        try:
            link.send(link.session.publish(topic, payload, 0))
        except LocalProtocolError:
            return  # the link is closing: the next connect births again
        self.births += 1
