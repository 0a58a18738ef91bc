"""The OPC UA server: a block of the fleet's devices as asyncua's server, one updater for all.

An :class:`OpcuaServer` shows devices ``first..stop - 1`` of the fleet as the nodes
:mod:`~simulator.southbound.node_map` describes. Its values are written by one updater (no
task or timer per device): at each step boundary of a model block it moves every device of
the block on to the step the clock is at (:func:`~simulator.southbound.samples.advance`, the
same ground truth Modbus shows) and puts each signal's new ``DataValue`` in the node's value
attribute of asyncua's address space, calling the data change callbacks of the subscriptions
that monitor it, as asyncua's own ``write_attribute_value`` does without its per-write lookups
and type check (which cost as much again as the whole update, docs/PERFORMANCE.md); the
values' types are ours and fixed per node. The node ids, data types and units are the node
map's; a value's source timestamp is the instant of its step. The clock is injected:
``update()`` writes what is due at ``clock() - epoch``, so a test fixes the clock and knows the
exact step.

Faults (:mod:`~simulator.southbound.faults`): a silent device's values turn Bad
(``BadNoCommunication``, the value null as OPC UA Part 4, 7.7.1 asks of a Bad one) at the
fault's start and stay so until its end, when the step's values are written again, the
updater waking at both instants; a restart is :meth:`OpcuaServer.stop_listening` (every
connection dropped, the address space and the updater carrying on) and
:meth:`OpcuaServer.listen_again`.

asyncua keeps each value as a ``DataValue`` in its address space: that, the node objects
asyncua builds (about 20 KB a tag with its unit and range properties), a reference to each
value attribute and a model state per device are all this holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Final

from asyncua import Server, ua
from asyncua.server.binary_server_asyncio import BinaryServer

from simulator.errors import InvalidArgumentError, PortError
from simulator.southbound import opcua_reads
from simulator.southbound.faults import FaultPlan
from simulator.southbound.node_map import (
    COUNTERS_FOLDER,
    DEVICES_FOLDER,
    UNECE_CODES,
    UNECE_NAMESPACE,
    NodeField,
    NodeType,
    node_id,
    node_map,
    unece_unit_id,
)
from simulator.southbound.samples import ModelBlock, advance, step_at

_VARIANTS = {
    NodeType.DOUBLE: (ua.VariantType.Double, ua.ObjectIds.Double, float),
    NodeType.INT64: (ua.VariantType.Int64, ua.ObjectIds.Int64, int),
    NodeType.STRING: (ua.VariantType.String, ua.ObjectIds.String, str),
}
"""Per node type: the variant type, the DataType node, and the conversion of a sample value."""


class _Settled(ua.DataValue):  # type: ignore[misc]
    """A ``DataValue`` nobody changes once made, so a deep copy of it is itself.

    asyncua deep-copies every value it hands to a subscription
    (``MonitoredItemValues.set_current_datavalue``), in case its writer changes it later: 43 µs
    of CPU per value, 22 times the cost of making one (docs/PERFORMANCE.md). The updater makes
    a new value for every step and never touches one again, and asyncua's server replaces
    rather than mutates what it keeps, so the copy can be the value.
    """

    __slots__ = ()

    def __deepcopy__(self, memo: dict[int, Any]) -> _Settled:
        return self


_YIELD_EVERY = 256
"""Devices written between two yields to the loop, so reads are answered during a big round."""


@dataclass(slots=True)
class OpcuaCounters:
    """What a server's updater has done since it started."""

    rounds: int = 0
    """Rounds that wrote at least one block."""
    writes: int = 0
    """Values written (one per signal of every device moved on)."""
    skipped_steps: int = 0
    """Steps a block jumped over because the updater came late (values never shown)."""
    notified: int = 0
    """New values handed to subscriptions (one per monitored item of a written node)."""
    callback_errors: int = 0
    """Subscription callbacks that raised on a new value (asyncua's bug or ours; the value
    is written all the same)."""
    silenced: int = 0
    """Times a device fell silent (a fault): its values turned Bad and stopped changing."""
    restarts: int = 0
    """Times the server stopped listening, dropping every connection, and listened again
    (a fault)."""


COUNTERS: Final = tuple(field.name for field in fields(OpcuaCounters))
"""The counters a server shows as ``Int64`` variables ``ns=2;s=simulator.<name>`` in the
folder ``ns=2;s=simulator``, updated after every round, so a test or benchmark reads what
the updater did (``skipped_steps`` above 0: values a gateway could never have seen)."""


class _Slice:
    """The devices of one model block a server shows, and where their state is."""

    __slots__ = ("block", "fields", "first", "node_ids", "states", "step", "values")

    def __init__(self, block: ModelBlock, first: int, stop: int, namespace: int) -> None:
        self.block = block
        self.first = first
        fields = node_map(block.model).fields
        self.fields = tuple((f.signal, _VARIANTS[f.type][0], _VARIANTS[f.type][2]) for f in fields)
        self.node_ids = [
            [ua.NodeId(node_id(block.device_id(index), f.signal), namespace) for f in fields]
            for index in range(first, stop)
        ]
        self.states: list[Any] = [None] * (stop - first)
        self.values: list[list[Any]] = []
        """Per device, per signal: the node's value attribute (asyncua's ``AttributeValue``),
        found once the nodes exist."""
        self.step = -1
        """The step every device of the slice shows; -1 before the first write."""


class OpcuaServer:
    """Devices ``first..stop - 1`` of a fleet as one OPC UA server."""

    def __init__(
        self,
        blocks: Sequence[ModelBlock],
        devices: range,
        *,
        seed: int,
        host: str,
        port: int,
        namespace: str,
        clock: Callable[[], float],
        epoch: float,
        faults: FaultPlan | None = None,
    ) -> None:
        """``blocks``: the fleet's model blocks; ``devices``: the indexes this server shows;
        ``port`` 0 lets the system choose. ``clock() - epoch`` is the time values are
        computed for; ``faults``: the silent devices among them, and when."""
        if not devices or devices.step != 1:
            raise InvalidArgumentError(f"devices must be a non-empty range, got {devices}")
        self.blocks = tuple(blocks)
        self.devices = devices
        self.seed = seed
        self.host = host
        self._port = port
        self.namespace = namespace
        self._clock = clock
        self.epoch = epoch
        """The time, on ``clock``, that is step 0 of every device."""
        self.counters = OpcuaCounters()
        self.namespace_index = 0
        """The namespace's index on the server (filled by :meth:`start`)."""
        self.url = ""
        """``opc.tcp://host:port/``, the port as bound (filled by :meth:`start`)."""
        self._server: Server | None = None
        self._slices: list[_Slice] = []
        self._counters: list[tuple[str, Any]] = []
        """Each counter's name and its node's value attribute."""
        plan = faults if faults is not None else FaultPlan(())
        self._silent = tuple(
            fault
            for fault in plan.faults
            if fault.kind == "silent" and any(index in devices for index in fault.devices)
        )
        """The silent faults of this server's devices (slow and exception are Modbus
        answers; the scenario refuses them for devices served over OPC UA only)."""
        self._edges = tuple(sorted({t for f in self._silent for t in (f.start_s, f.end_s)}))
        self._silenced: dict[int, tuple[_Slice, int]] = {}
        """The devices shown Bad now: their slice and offset in it."""
        self._held: dict[int, dict[str, Any]] = {}
        """A silenced device's sample at its slice's step, written once it answers again."""

    @property
    def port(self) -> int:
        """The port it listens on (as bound once started)."""
        return self._port

    async def start(self) -> None:
        """Build the nodes, write the values of now and listen; :class:`PortError` names an
        address that cannot be bound."""
        await self.build()
        await self.listen()

    async def build(self) -> None:
        """Build the address space, every device's nodes in it (the slow part of a start:
        seconds for tens of thousands of tags), without listening yet."""
        opcua_reads.install()
        server = Server()
        await server.init()
        server.set_endpoint(f"opc.tcp://{self.host}:{self._port}/")
        server.set_server_name("factory-sim southbound")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        self.namespace_index = await server.register_namespace(self.namespace)
        self._server = server
        self._slices = [
            _Slice(block, first, stop, self.namespace_index)
            for block in self.blocks
            if (first := max(block.start, self.devices.start))
            < (stop := min(block.start + block.count, self.devices.stop))
        ]
        await self._add_nodes(server)
        space = server.iserver.aspace
        value = ua.AttributeIds.Value
        for piece in self._slices:
            piece.values = [[space[n].attributes[value] for n in ids] for ids in piece.node_ids]
        self._counters = [
            (
                name,
                space[ua.NodeId(node_id(COUNTERS_FOLDER, name), self.namespace_index)].attributes[
                    value
                ],
            )
            for name in COUNTERS
        ]

    async def listen(self) -> None:
        """Write the values of now and listen (once built)."""
        server = self._server
        if server is None:
            raise InvalidArgumentError("build the server before it listens")
        await self.update()
        try:
            await server.start()
        except OSError as exc:
            self._server = None
            await server.stop()
            raise PortError.from_os_error(self.host, self._port, exc) from exc
        self._port = server.bserver.port if server.bserver is not None else self._port
        self.url = f"opc.tcp://{self.host}:{self._port}/"

    async def close(self) -> None:
        """Stop listening and drop every session."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop()

    async def stop_listening(self) -> None:
        """Close the listening socket and every connection (a restart's first half); the
        address space and the updater carry on."""
        if self._server is not None and self._server.bserver is not None:
            await self._server.bserver.stop()

    async def listen_again(self) -> None:
        """Listen again at the port first bound (a restart's second half)."""
        server = self._server
        if server is None:
            return
        listener = BinaryServer(server.iserver, self.host, self._port, server.limits)
        listener.set_policies(server._policies)  # as asyncua's own start() passes them
        await listener.start()
        server.bserver = listener
        self.counters.restarts += 1

    def next_update_s(self) -> float:
        """Seconds from now until the next step boundary of any block this server shows, or
        the next start or end of a silent device's fault, whichever is first."""
        t_s = self._clock() - self.epoch
        due = min((step_at(t_s, s.block.update_s) + 1) * s.block.update_s for s in self._slices)
        edge = next((t for t in self._edges if t > t_s), due)
        return max(0.0, min(due, edge) - t_s)

    async def run(self) -> None:
        """Write the values due at every step boundary until cancelled."""
        while True:
            await asyncio.sleep(self.next_update_s())
            await self.update()

    async def update(self) -> int:
        """Move every block whose step has changed on to the step the clock is at and write
        its values; return how many were written."""
        if self._server is None:
            return 0
        t_s = self._clock() - self.epoch
        counters = self.counters
        data_value = _Settled
        variant = ua.Variant
        written = 0
        now = datetime.now(UTC)
        silent = {i for f in self._silent if f.active(t_s) for i in f.devices}
        held = self._held
        back: set[int] = set()  # silenced until now, written good by this round's new step
        for piece in self._slices:
            block = piece.block
            step = step_at(t_s, block.update_s)
            at = piece.step
            if step == at:
                continue
            if at >= 0 and step > at + 1:
                counters.skipped_steps += step - at - 1
            source = datetime.fromtimestamp(self.epoch + step * block.update_s, UTC)
            states = piece.states
            fields = piece.fields
            for offset, values in enumerate(piece.values):
                state, sample = advance(
                    block.model,
                    piece.first + offset,
                    self.seed,
                    block.update_s,
                    step,
                    state=states[offset],
                    at=at,
                )
                states[offset] = state
                if held or silent:
                    index = piece.first + offset
                    if index in silent:
                        held[index] = sample
                        continue
                    if held.pop(index, None) is not None:
                        back.add(index)
                for (signal, kind, convert), attribute in zip(fields, values, strict=True):
                    value = data_value(
                        variant(convert(sample[signal]), kind),
                        SourceTimestamp=source,
                        ServerTimestamp=now,
                    )
                    attribute.value = value
                    if attribute.datachange_callbacks:
                        await self._notify(attribute, value)
                written += len(fields)
                if offset % _YIELD_EVERY == _YIELD_EVERY - 1:
                    await asyncio.sleep(0)
            piece.step = step
        if silent or self._silenced:
            written += await self._show_silence(silent, back, now)
        if written:
            counters.rounds += 1
            counters.writes += written
            for name, attribute in self._counters:
                value = data_value(
                    variant(getattr(counters, name), ua.VariantType.Int64),
                    SourceTimestamp=now,
                    ServerTimestamp=now,
                )
                await self._put(attribute, value)
        return written

    async def _show_silence(self, silent: set[int], back: set[int], now: datetime) -> int:
        """Turn the values of devices that fell silent Bad (``BadNoCommunication``, as a
        server does for a device it cannot reach, the value null and the source timestamp the
        instant it was found silent) and write the values of those that answer again (unless
        this round's new step wrote them, ``back``); return the values written."""
        written = 0
        for index in silent.difference(self._silenced):
            piece = next(p for p in self._slices if p.first <= index < p.first + len(p.values))
            offset = index - piece.first
            self._silenced[index] = (piece, offset)
            self.counters.silenced += 1
            for attribute in piece.values[offset]:
                value = _Settled(
                    ua.Variant(None, ua.VariantType.Null),
                    StatusCode=ua.StatusCode(ua.StatusCodes.BadNoCommunication),
                    SourceTimestamp=now,
                    ServerTimestamp=now,
                )
                await self._put(attribute, value)
                written += 1
        for index in set(self._silenced).difference(silent):
            piece, offset = self._silenced.pop(index)
            if index in back:
                continue
            sample = self._held.pop(index, None)
            if sample is None:  # silenced and back within one step: nothing new to show
                sample = advance(
                    piece.block.model, index, self.seed, piece.block.update_s, piece.step
                )[1]
            source = datetime.fromtimestamp(self.epoch + piece.step * piece.block.update_s, UTC)
            for (signal, kind, convert), attribute in zip(
                piece.fields, piece.values[offset], strict=True
            ):
                value = _Settled(
                    ua.Variant(convert(sample[signal]), kind),
                    SourceTimestamp=source,
                    ServerTimestamp=now,
                )
                await self._put(attribute, value)
                written += 1
        return written

    async def _put(self, attribute: Any, value: Any) -> None:
        """Give a node ``value`` and tell the subscriptions monitoring it (the per-step loop
        does the same inline: it runs for every tag)."""
        attribute.value = value
        if attribute.datachange_callbacks:
            await self._notify(attribute, value)

    async def _notify(self, attribute: Any, value: Any) -> None:
        """Hand a new value to the subscriptions monitoring its node."""
        for handle, callback in list(attribute.datachange_callbacks.items()):
            self.counters.notified += 1
            try:
                await callback(handle, value)
            except Exception:
                self.counters.callback_errors += 1

    async def _add_nodes(self, server: Server) -> None:
        """Every folder and variable, in one AddNodes call."""
        ns = self.namespace_index
        objects = ua.NodeId(ua.ObjectIds.ObjectsFolder)
        root = ua.NodeId(DEVICES_FOLDER, ns)
        items = [_folder(root, objects, DEVICES_FOLDER, ns, "a folder per device")]
        counters = ua.NodeId(COUNTERS_FOLDER, ns)
        items.append(_folder(counters, objects, COUNTERS_FOLDER, ns, "what the updater did"))
        for name in COUNTERS:
            nid = ua.NodeId(node_id(COUNTERS_FOLDER, name), ns)
            items.extend(_variable(nid, counters, NodeField(name, NodeType.INT64), ns, 0.0))
        for piece in self._slices:
            block = piece.block
            fields = node_map(block.model).fields
            for offset in range(len(piece.node_ids)):
                device_id = block.device_id(piece.first + offset)
                folder = ua.NodeId(device_id, ns)
                items.append(
                    _folder(
                        folder, root, device_id, ns, f"{block.model.name} #{piece.first + offset}"
                    )
                )
                for field, nid in zip(fields, piece.node_ids[offset], strict=True):
                    items.extend(_variable(nid, folder, field, ns, block.update_s))
        results = await server.iserver.isession.add_nodes(items)
        bad = [r.StatusCode for r in results if not r.StatusCode.is_good()]
        if bad:
            raise InvalidArgumentError(f"{len(bad)} nodes could not be added: {bad[0]}")


def _folder(
    nid: ua.NodeId, parent: ua.NodeId, name: str, ns: int, description: str
) -> ua.AddNodesItem:
    attributes = ua.ObjectAttributes()
    attributes.DisplayName = ua.LocalizedText(name)
    attributes.Description = ua.LocalizedText(description)
    return _node(
        nid,
        ua.QualifiedName(name, ns),
        parent,
        reference=ua.ObjectIds.Organizes,
        type_definition=ua.ObjectIds.FolderType,
        attributes=attributes,
    )


def _variable(
    nid: ua.NodeId, parent: ua.NodeId, field: NodeField, ns: int, update_s: float
) -> list[ua.AddNodesItem]:
    """A signal's variable, with its EngineeringUnits and EURange properties if it has them."""
    data_type = _VARIANTS[field.type][1]
    attributes = _read_only(field.signal, data_type, ua.Variant(None, ua.VariantType.Null))
    attributes.Description = ua.LocalizedText(field.description)
    attributes.MinimumSamplingInterval = update_s * 1000.0
    # AnalogItemType promises an EURange; a count with neither unit nor range is a plain one.
    analog = field.type is not NodeType.STRING and (bool(field.unit) or field.low is not None)
    type_definition = ua.ObjectIds.AnalogItemType if analog else ua.ObjectIds.BaseDataVariableType
    item = _node(
        nid,
        ua.QualifiedName(field.signal, ns),
        parent,
        reference=ua.ObjectIds.HasComponent,
        type_definition=type_definition,
        attributes=attributes,
    )
    items = [item]
    if field.unit:
        code, name = UNECE_CODES.get(field.unit, ("", field.unit))
        units = ua.EUInformation(
            NamespaceUri=UNECE_NAMESPACE,
            UnitId=unece_unit_id(code) if code else -1,
            DisplayName=ua.LocalizedText(field.unit),
            Description=ua.LocalizedText(name),
        )
        items.append(_property(nid, "EngineeringUnits", units, ua.ObjectIds.EUInformation))
    if analog and field.low is not None and field.high is not None:
        bounds = ua.Range(Low=field.low, High=field.high)
        items.append(_property(nid, "EURange", bounds, ua.ObjectIds.Range))
    return items


def _property(parent: ua.NodeId, name: str, value: object, data_type: int) -> ua.AddNodesItem:
    attributes = _read_only(name, data_type, ua.Variant(value, ua.VariantType.ExtensionObject))
    return _node(
        ua.NodeId(f"{parent.Identifier}.{name}", parent.NamespaceIndex),
        ua.QualifiedName(name, 0),
        parent,
        reference=ua.ObjectIds.HasProperty,
        type_definition=ua.ObjectIds.PropertyType,
        attributes=attributes,
    )


def _read_only(name: str, data_type: int, value: ua.Variant) -> ua.VariableAttributes:
    """The attributes of a scalar variable that clients may read and not write."""
    attributes = ua.VariableAttributes()
    attributes.DisplayName = ua.LocalizedText(name)
    attributes.DataType = ua.NodeId(data_type)
    attributes.Value = value
    attributes.ValueRank = ua.ValueRank.Scalar
    attributes.AccessLevel = ua.AccessLevel.CurrentRead.mask
    attributes.UserAccessLevel = ua.AccessLevel.CurrentRead.mask
    return attributes


def _node(
    nid: ua.NodeId,
    browse_name: ua.QualifiedName,
    parent: ua.NodeId,
    *,
    reference: int,
    type_definition: int,
    attributes: ua.ObjectAttributes | ua.VariableAttributes,
) -> ua.AddNodesItem:
    """The request adding node ``nid`` below ``parent``: an Object for object attributes,
    else a Variable."""
    item = ua.AddNodesItem()
    item.RequestedNewNodeId = nid
    item.BrowseName = browse_name
    item.NodeClass = (
        ua.NodeClass.Object
        if isinstance(attributes, ua.ObjectAttributes)
        else ua.NodeClass.Variable
    )
    item.ParentNodeId = parent
    item.ReferenceTypeId = ua.NodeId(reference)
    item.TypeDefinition = ua.NodeId(type_definition)
    item.NodeAttributes = attributes
    return item
