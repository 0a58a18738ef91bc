"""The fleet's hot path: a publish wheel's due devices in, PUBLISH writes out.

One :class:`Publisher` per fleet gives each publish wheel its action. A firing builds each due
device's message (model sample, payload) and has the connection's session frame it from the
device's pre-encoded PUBLISH prefix (at every QoS, so topic aliases and the broker's CONNACK
limits apply to every message); a gateway's devices on one link share one write. A wheel at
least one whole interval behind hands a slot's overdue firings over together (up to
:data:`CATCH_UP_REPEATS` of them), and each device's backlog then leaves in one write, every
message still stamped with its own scheduled time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from simulator.engine.devices import Device, DeviceGroup, FleetCounters
from simulator.engine.edge_node import EdgeNodes
from simulator.engine.pacing import Pace
from simulator.errors import InflightLimitError, LocalProtocolError, PacketTooLargeError
from simulator.mqtt import SessionState
from simulator.transport.connection import MqttLink

WRITE_BURST = 64
"""Connections whose messages are written back to back, the broker woken once for them: enough
to spare it most wake-ups, few enough that sending still overlaps building when the sender is
flat out (docs/PERFORMANCE.md, "Writes back to back")."""

CATCH_UP_REPEATS = 8
"""Most overdue messages of one device a wheel behind schedule hands over for one write.

Merging saves a syscall per message, but the scheduler's budget is checked between handovers,
so a slot's members times this is one callback with no socket read or timer in between.
Unbounded, the windows grew with the lateness into callbacks of seconds."""

_CONNECTED = SessionState.CONNECTED


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

        pace = group.pace
        if pace is None:
            return publish

        def publish_paced(due: float, members: list[Device], repeats: int) -> None:
            self.publish(group, due, members, repeats, pace)

        return publish_paced

    def publish(
        self,
        group: DeviceGroup,
        due: float,
        members: list[Device],
        repeats: int,
        pace: Pace | None = None,
    ) -> None:
        """Publish ``repeats`` firings, due from ``due`` on, of every device in ``members``.

        One firing (``repeats == 1``) is the common case; a wheel a whole interval behind
        hands a slot's overdue firings over together, and each device's backlog then leaves
        in one write. Each message carries its own scheduled time (``due + r * interval``), so
        the lateness shows up as latency; what merging saves is the syscall per message, the
        way a TCP stack sends a backlog in one segment. Both go through the one loop below: a
        single firing is a backlog of one.

        A message the session refuses is not written: over the broker's Maximum Packet Size
        it is counted in ``too_large`` and skipped (the device goes on with its next one); at
        the broker's Receive Maximum it waits, with the rest of the device's backlog, for a
        later firing (``inflight_blocked``); on a session already closing (the broker
        disconnected us or broke the protocol) the device's backlog waits for its reconnect.

        Under ``[[stages]]`` the group's ``pace`` says how many messages each device sends
        at each of its firings (none, one or several, all stamped with the firing's due time);
        without stages every firing sends one and the pace costs one test per device.
        """
        epoch = self.epoch
        wall_epoch_ns = self.wall_epoch_ns
        interval = group.interval_s
        times: list[tuple[int, float]] = []
        for r in range(repeats):
            t_s = due + r * interval - epoch
            times.append((wall_epoch_ns + int(t_s * 1e9), t_s))
        encode = group.codec.encode_sample  # the model contract holds samples to the rules
        edges = self.edges
        edge_data = edges.encoder(group) if edges is not None else None
        sample = group.model.sample
        qos = self.qos
        limit = self.limit
        advanced = 0
        too_large = 0
        finished = 0
        # A gateway's devices sit side by side in a slot (their phases are adjacent): their
        # messages go out in one write per run of the same link instead of one per message.
        # Without gateways each device's messages make one write.
        coalesce = self.coalesce
        out_link: MqttLink | None = None
        out_transport: asyncio.Transport | None = None
        chunks: list[bytes] = []
        # The writes wait until :data:`WRITE_BURST` connections' messages are built (or the
        # handover's last), then go back to back: the broker is woken once for the lot
        # instead of once or more per message (see ``_write_all``).
        ready: list[tuple[asyncio.Transport, bytes]] = []
        for device in members:
            link = device.link
            transport = link.transport if link is not None else None
            if link is None or transport is None:
                continue
            first = device.seq
            run = times
            if pace is not None:
                run = _paced(pace, device.index, times)
            if limit is not None:
                left = limit - first
                if left <= 0:
                    continue
                if left < repeats:
                    run = times[:left]
            if link is not out_link or not coalesce:
                if chunks and out_transport is not None:
                    ready.append((out_transport, b"".join(chunks)))
                    chunks.clear()
                    if len(ready) == WRITE_BURST:
                        _write_all(ready)
                        ready.clear()
                out_link = link
                out_transport = transport
            seq = first
            for ts_ns, t_s in run:
                values = sample(device.state, seq, t_s)
                if edge_data is None:
                    payload = encode(device.device_id, seq, ts_ns, values)
                else:
                    payload = edge_data(link, device.index, device.device_id, seq, ts_ns, values)
                try:
                    chunks.append(link.session.publish_prefixed(device.prefix, payload, qos))
                except InflightLimitError:
                    # The rest wait for acks: sent from a later firing, in sequence.
                    self.counters.inflight_blocked += 1
                    if edge_data is not None and edges is not None:
                        edges.not_sent(link, device.index)
                    break
                except PacketTooLargeError:
                    too_large += 1
                    if edge_data is not None and edges is not None:
                        edges.not_sent(link, device.index)
                except LocalProtocolError:
                    if link.session.state is _CONNECTED:
                        raise
                    if edge_data is not None and edges is not None:
                        edges.not_sent(link, device.index)
                    break
                seq += 1
            device.seq = seq
            advanced += seq - first
            if seq == limit:
                finished += 1
                if seq - first < repeats:
                    # Its quota ended the backlog early: the rest were no sends, late or not.
                    wheel = group.wheel
                    assert wheel is not None
                    wheel.member_left(seq - first)
        if chunks and out_transport is not None:
            ready.append((out_transport, b"".join(chunks)))
        _write_all(ready)
        counters = self.counters
        counters.published += advanced - too_large
        if too_large:
            counters.too_large += too_large
        if finished:
            self._retire(members, finished)

    def _retire(self, members: list[Device], finished: int) -> None:
        # Devices that sent their last message leave the wheel, so they are neither visited
        # again nor counted as overrun; the slot list is rebuilt in place once per slot.
        limit = self.limit
        assert limit is not None
        members[:] = [device for device in members if device.seq < limit]
        self._finished(finished)


def _paced(pace: Pace, index: int, times: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """The messages device ``index`` sends for these firings under ``pace``: each firing's
    due time as many times as the pace gives it (none, once, or several)."""
    run: list[tuple[int, float]] = []
    for due in times:
        run.extend((due,) * pace.messages(due[1], index))
    return run


def _write_all(ready: list[tuple[asyncio.Transport, bytes]]) -> None:
    """Write each connection's bytes, one after the other with nothing in between.

    On a loopback every ``send()`` runs the broker's receive side and, if the broker sleeps,
    wakes it. Written as each device's message was built, a few microseconds of Python apart,
    the broker took each message, went back to sleep and was woken again, and both sides
    paid for every wake-up; written back to back, it wakes once and finds many connections
    ready (docs/PERFORMANCE.md, "Writes back to back").
    """
    for transport, data in ready:
        transport.write(data)
