"""The fleet's hot path: a publish wheel's due devices in, PUBLISH writes out.

One :class:`Publisher` per fleet gives each publish wheel its action. A firing builds each due
device's message (model sample, payload, pre-encoded PUBLISH prefix) and writes it; a gateway's
devices on one link share one write. A wheel at least one whole interval behind hands a slot's
overdue firings over together (up to :data:`CATCH_UP_REPEATS` of them), and each device's
backlog then leaves in one write, every message still stamped with its own scheduled time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from simulator.engine.devices import Device, DeviceGroup, FleetCounters
from simulator.engine.edge_node import EdgeNodes
from simulator.mqtt import InflightLimitError, encode_publish_qos0
from simulator.transport.connection import MqttLink

CATCH_UP_REPEATS = 8
"""Most overdue messages of one device a wheel behind schedule hands over for one write.

Merging saves a syscall per message, but the scheduler's budget is checked between handovers,
so a slot's members times this is one callback with no socket read or timer in between.
Unbounded, the windows grew with the lateness into callbacks of seconds."""


class Publisher:
    """Publishes a fleet's due devices; counts into the fleet's :class:`FleetCounters`."""

    def __init__(
        self,
        counters: FleetCounters,
        *,
        qos: int,
        limit: int | None,
        coalesce: bool,
        edges: EdgeNodes | None,
        finished: Callable[[int], None],
    ) -> None:
        self.counters = counters
        self.qos = qos
        self.limit = limit
        """Messages per device before it leaves its wheel (benchmarks); None: no limit."""
        self.coalesce = coalesce
        """Whether devices next to each other on one link (a gateway's) share a write."""
        self.edges = edges
        self._finished = finished
        """Told how many devices sent their last message (with ``limit``)."""
        self.epoch = 0.0
        """Loop time of the fleet's epoch, from which due times are counted."""
        self.wall_epoch_ns = 0
        """The same moment on the wall clock, for emit timestamps."""

    def start(self, epoch: float, wall_epoch_ns: int) -> None:
        """Count due times from ``epoch`` (loop time), which is ``wall_epoch_ns`` on the wall."""
        self.epoch = epoch
        self.wall_epoch_ns = wall_epoch_ns

    def action(self, group: DeviceGroup) -> Callable[[float, list[Device], int], None]:
        """The wheel action that publishes ``group``'s due members (one per group)."""

        def publish(due: float, members: list[Device], repeats: int) -> None:
            self.publish(group, due, members, repeats)

        return publish

    def publish(self, group: DeviceGroup, due: float, members: list[Device], repeats: int) -> None:
        """Publish ``repeats`` firings, due from ``due`` on, of every device in ``members``."""
        if repeats > 1:
            self._publish_overdue(group, due, members, repeats)
            return
        ts_ns = self.wall_epoch_ns + int((due - self.epoch) * 1e9)
        t_s = due - self.epoch
        encode = group.codec.encode
        edges = self.edges
        edge_data = edges.encoder(group) if edges is not None else None
        sample = group.model.sample
        qos = self.qos
        limit = self.limit
        sent = 0
        finished = 0
        # A gateway's devices sit side by side in a slot (their phases are adjacent): their
        # messages go out in one write per run of the same link instead of one per message.
        coalesce = self.coalesce
        out_link: MqttLink | None = None
        out_transport: asyncio.Transport | None = None
        chunks: list[bytes] = []
        for device in members:
            link = device.link
            transport = link.transport if link is not None else None
            if link is None or transport is None:
                continue
            seq = device.seq
            if limit is not None and seq + 1 >= limit:
                if seq >= limit:
                    continue
                finished += 1
            values = sample(device.state, seq, t_s)
            if edge_data is None:
                payload = encode(device.device_id, seq, ts_ns, values)
            else:
                payload = edge_data(link, device.index, device.device_id, seq, ts_ns, values)
            if qos == 0:
                data = encode_publish_qos0(device.prefix, payload)
            else:
                try:
                    data = link.session.publish_prefixed(device.prefix, payload, qos)
                except InflightLimitError:
                    self.counters.inflight_blocked += 1
                    if edges is not None and edge_data is not None:
                        edges.not_sent(link, device.index)
                    if limit is not None and seq + 1 >= limit:
                        finished -= 1  # its last message waits: it stays on the wheel
                    continue
            if not coalesce:
                transport.write(data)
            elif link is out_link:
                chunks.append(data)
            else:
                if chunks and out_transport is not None:
                    out_transport.write(b"".join(chunks))
                out_link, out_transport, chunks = link, transport, [data]
            device.seq = seq + 1
            sent += 1
        if chunks and out_transport is not None:
            out_transport.write(b"".join(chunks))
        self.counters.published += sent
        if finished:
            self._retire(members, finished)

    def _publish_overdue(
        self, group: DeviceGroup, due: float, members: list[Device], repeats: int
    ) -> None:
        """Publish ``repeats`` overdue firings of ``members``: each device's backlog in one write.

        A wheel a whole interval behind hands a slot's overdue firings over together. Each
        message still carries its own scheduled time (``due + r * interval``), so the lateness
        shows up as latency; what is saved is the syscall per message, the way a TCP stack
        sends a backlog in one segment. The single-firing path stays in :meth:`publish`,
        kept free of the per-message bookkeeping this one needs.
        """
        wheel = group.wheel
        assert wheel is not None
        epoch = self.epoch
        wall_epoch_ns = self.wall_epoch_ns
        interval = group.interval_s
        times: list[tuple[int, float]] = []
        for r in range(repeats):
            t_s = due + r * interval - epoch
            times.append((wall_epoch_ns + int(t_s * 1e9), t_s))
        encode = group.codec.encode
        edges = self.edges
        edge_data = edges.encoder(group) if edges is not None else None
        sample = group.model.sample
        qos = self.qos
        limit = self.limit
        sent = 0
        finished = 0
        # Without gateways every device's messages make one write; with them, a run of
        # devices on the same link shares it, as in publish().
        coalesce = self.coalesce
        out_link: MqttLink | None = None
        out_transport: asyncio.Transport | None = None
        chunks: list[bytes] = []
        for device in members:
            link = device.link
            transport = link.transport if link is not None else None
            if link is None or transport is None:
                continue
            first = device.seq
            stop = first + repeats
            if limit is not None:
                if first >= limit:
                    continue
                stop = min(stop, limit)
            if link is not out_link or not coalesce:
                if chunks and out_transport is not None:
                    out_transport.write(b"".join(chunks))
                out_link, out_transport, chunks = link, transport, []
            seq = first
            while seq < stop:
                ts_ns, t_s = times[seq - first]
                values = sample(device.state, seq, t_s)
                if edge_data is None:
                    payload = encode(device.device_id, seq, ts_ns, values)
                else:
                    payload = edge_data(link, device.index, device.device_id, seq, ts_ns, values)
                if qos == 0:
                    chunks.append(encode_publish_qos0(device.prefix, payload))
                else:
                    try:
                        chunks.append(link.session.publish_prefixed(device.prefix, payload, qos))
                    except InflightLimitError:
                        # The rest wait for acks: sent from a later firing, in sequence.
                        self.counters.inflight_blocked += 1
                        if edges is not None and edge_data is not None:
                            edges.not_sent(link, device.index)
                        break
                seq += 1
            device.seq = seq
            sent += seq - first
            if seq == limit:
                finished += 1
                if seq - first < repeats:
                    # Its quota ended the backlog early: the rest were no sends, late or not.
                    wheel.member_left(seq - first)
        if chunks and out_transport is not None:
            out_transport.write(b"".join(chunks))
        self.counters.published += sent
        if finished:
            self._retire(members, finished)

    def _retire(self, members: list[Device], finished: int) -> None:
        # Devices that sent their last message leave the wheel, so they are neither visited
        # again nor counted as overrun; the slot list is rebuilt in place once per slot.
        limit = self.limit
        assert limit is not None
        members[:] = [device for device in members if device.seq < limit]
        self._finished(finished)
