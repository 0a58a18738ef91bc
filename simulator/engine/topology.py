"""Which devices each connection carries, and the names that follow from it.

A fleet's devices sit in groups (model, interval, payload format); each group's devices are
cut into connections of ``per_connection`` devices: a device connected on its own, or a
gateway (client id ``gw-NNNNN``) carrying a block of them. One array of each connection's
first device (:func:`~simulator.scenario.composition.connection_starts`) answers every
question about who is where, so nothing is stored per connection here. The workflows
(registrar, deaths, edge nodes) read the fleet through this object: its members, client ids,
plant identities and telemetry topics.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import replace

from simulator.engine.devices import Device, DeviceGroup
from simulator.engine.onboarding import Member
from simulator.fleet import DeviceModel, PlantLayout, TopicTemplate
from simulator.fleet.plant import DeviceIdentity
from simulator.mqtt import MQTTVersion, publish_prefix
from simulator.scenario.composition import Group, connection_starts
from simulator.scenario.plan import publish_phase_s
from simulator.scenario.segment import WHOLE, Segment, slice_starts


class Topology:
    """A fleet's devices, by group and by connection."""

    def __init__(
        self,
        specs: Sequence[Group],
        layout: PlantLayout,
        topic: str,
        segment: Segment = WHOLE,
    ) -> None:
        self.segment = segment
        """Which slice of the run this fleet is (``0/1``: the whole fleet). Connections are
        numbered within the slice (``0..connection_count-1``); devices keep their global
        index (see :mod:`simulator.scenario.segment`)."""
        self._global_starts = connection_starts(specs)
        """First device (global index) of each connection of the whole fleet, and its size."""
        self._starts = (
            self._global_starts if segment.whole else slice_starts(self._global_starts, segment)
        )
        """Where each of this slice's connections' devices begin in :attr:`devices`, and the
        slice's device count at the end (the global starts for the whole fleet)."""
        self._gateway = bytearray(
            spec.per_connection > 1 for spec in specs for _ in range(spec.connections)
        )
        """Per global connection: 1 if it is a gateway (client id gw-NNNNN), 0 if a device."""
        self._layout = layout
        self._topic = TopicTemplate(topic)
        self.groups = [DeviceGroup(spec, layout) for spec in specs]
        """The fleet by model, interval and payload format (one group without a mix)."""
        self.devices: list[Device] = []
        """Every device, by fleet index (filled by :meth:`build`)."""
        self.has_gateways = any(self._gateway)
        """Whether any connection carries several devices."""

    @property
    def connection_count(self) -> int:
        """Connections the fleet needs: one per device, or one per gateway."""
        return len(self._starts) - 1

    def build(self, seed: int, version: MQTTVersion) -> None:
        """Create every device's compact state and pre-encoded PUBLISH prefix: this slice's
        devices only, connection by connection (the whole fleet in index order)."""
        template = self._topic
        devices = self.devices
        number = 0
        for first, end in self._device_blocks():
            while first >= self.groups[number].start + self.groups[number].count:
                number += 1
            group = self.groups[number]
            model = group.model
            layout = group.layout
            for index in range(first, end):
                identity = layout.identity(index)
                topic = template.render(identity, model.name)
                devices.append(
                    Device(
                        index,
                        identity.device_id,
                        publish_prefix(topic, version),
                        _phase_s(group, index - group.start),
                        model.new_state(index, seed),
                        number,
                    )
                )

    def _device_blocks(self) -> Iterator[tuple[int, int]]:
        """This slice's devices as blocks of global indexes (each within one group), in
        :attr:`devices` order: the whole fleet is one block per group."""
        if self.segment.whole:
            for group in self.groups:
                if group.count:
                    yield group.start, group.start + group.count
            return
        starts = self._global_starts
        segment = self.segment
        for connection in range(segment.index, len(starts) - 1, segment.count):
            yield starts[connection], starts[connection + 1]

    def _global(self, connection: int) -> int:
        return self.segment.global_connection(connection)

    def members(self, connection: int) -> list[Device]:
        """The devices connection ``connection`` carries."""
        starts = self._starts
        return self.devices[starts[connection] : starts[connection + 1]]

    def connection_of(self, index: int) -> int:
        """The connection (of this slice) that carries device ``index`` (a global index)."""
        connection = bisect_right(self._global_starts, index) - 1
        return self.segment.local_connection(connection)

    def first_device(self, connection: int) -> int:
        """The (global) index of a connection's first device."""
        return self._global_starts[self._global(connection)]

    def is_gateway(self, connection: int) -> bool:
        """Whether a connection is a gateway (its client id is gw-NNNNN) or a device's own."""
        return bool(self._gateway[self._global(connection)])

    def client_id(self, connection: int) -> str:
        """The MQTT client id of a connection: the device's id, or the gateway's (numbered
        in the whole fleet, so every slice names it alike). The run's client id prefix is
        added at CONNECT (:mod:`.sessions`), not here: topics and registrations use this."""
        number = self._global(connection)
        if not self._gateway[number]:
            return self.devices[self._starts[connection]].device_id
        return f"gw-{number:05d}"

    def connection_identity(self, connection: int) -> DeviceIdentity:
        """The plant identity of a connection: its first device's, named by its client id."""
        index = self.first_device(connection)
        return replace(self._layout.identity(index), device_id=self.client_id(connection))

    def model_of(self, device: Member) -> DeviceModel:
        """The equipment model of ``device``."""
        return self.groups[device.group].model

    def telemetry_topic(self, device: Member) -> str | None:
        """The topic ``device`` publishes its telemetry on; None for a Sparkplug device, whose
        topic names its edge node rather than its place in the plant."""
        group = self.groups[device.group]
        if group.codec.name == "sparkplug":
            return None
        return self._topic.render(group.layout.identity(device.index), group.model.name)


def _phase_s(group: DeviceGroup, local: int) -> float:
    """Device ``local`` of ``group``'s phase: its own, or its gateway's.

    A gateway polls its devices and sends their values in one burst, so its devices share the
    gateway's phase (the gateways are spread over the interval instead): their messages then
    leave in one write.
    """
    per = group.per_connection
    if per == 1:
        return publish_phase_s(local, group.count, group.interval_s)
    return publish_phase_s(local // per, group.connections, group.interval_s)
