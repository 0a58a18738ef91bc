"""A TCP relay between the fleet and its broker(s), under link conditions it is told.

A run whose scenario has ``network`` or ``partition`` faults puts one :class:`Relay` between
its fleet and the broker: one listening socket per broker, and for each connection accepted
there one connection on to that broker. No privileges and no ``tc``, so it works against any
broker; the ingest workers connect to the broker directly (the fault is on the plant's
uplink). While the link is clear a chunk read on one side is written on the other at once,
the same ``bytes`` object (the kernel copies it, we do not); under a fault it waits in its
lane until due (:mod:`.link`), one loop timer serving every connection.

Flow control, both ways: a side is read only while the other side's transport takes writes
(``pause_writing``/``resume_writing``) and while its lane holds less than
:data:`HIGH_WATER` bytes, so a partition or a slow broker pushes back on the sender through
TCP, as a real link would, instead of filling memory.

Per connection: one :class:`_Pipe` (two transports, two protocols, two lanes). Nothing per
device beyond its connection; a task only while the onward connection is being made.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import random
from collections.abc import Callable, Sequence
from typing import cast

from simulator.transport.link import Impairment, Lane, Lanes

HIGH_WATER = 256 * 1024
"""Bytes queued in a lane past which its near side is no longer read."""
LOW_WATER = 64 * 1024
"""Bytes queued in a lane below which its near side is read again."""
TICK_S = 0.001
"""The timer fires on whole ticks of this length, never before a chunk's due time: a delayed
chunk goes on up to a tick late, and thousands of chunks a second share each firing instead
of each costing one (bench/relay.py)."""


class _Side(asyncio.Protocol):
    """One end of a pipe: the fleet's (``down``) or the broker's (``up``)."""

    __slots__ = ("early", "far_full", "lane", "pipe", "queue_full", "transport")

    lane: Lane
    """What this side sends on, queued for the far side (the lane's ``out``)."""

    def __init__(self, pipe: _Pipe) -> None:
        self.pipe = pipe
        self.transport: asyncio.Transport | None = None
        self.far_full = False
        """The far side's transport takes no more writes for now."""
        self.queue_full = False
        """This side's lane holds :data:`HIGH_WATER` bytes or more."""
        self.early: list[bytes] | None = None
        """What the far side sent before this side was connected (the fleet's CONNECT while
        the broker's side is being made: a loop may read before a pause takes effect)."""

    # what this side's lane (the other side's bytes) does to this side's transport

    def write(self, data: bytes) -> None:
        """Write what the far side sent (kept until this side is connected)."""
        if self.transport is not None:
            self.transport.write(data)
        elif not self.pipe.closed:
            if self.early is None:
                self.early = []
            self.early.append(data)

    def end(self, reset: bool) -> None:
        """The far side closed: close this one likewise."""
        if self.transport is not None:
            if reset:
                self.transport.abort()
            else:
                self.transport.close()

    # flow control of this side's reading

    def _reading(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self.far_full or self.queue_full:
            transport.pause_reading()
        else:
            transport.resume_reading()

    # asyncio.Protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.pipe.made(self)

    def data_received(self, data: bytes) -> None:
        self.pipe.relay.carry(self, data)

    def eof_received(self) -> bool:
        return False  # close; connection_lost passes the end on

    def connection_lost(self, exc: Exception | None) -> None:
        self.pipe.lost(self, exc)

    def pause_writing(self) -> None:
        far = self.pipe.other(self)
        far.far_full = True
        far._reading()

    def resume_writing(self) -> None:
        far = self.pipe.other(self)
        far.far_full = False
        far._reading()


class _Pipe:
    """One relayed connection: the fleet's side and the broker's."""

    __slots__ = ("closed", "down", "relay", "up")

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.down = down = _Side(self)
        self.up = up = _Side(self)
        down.lane = Lane(up)
        up.lane = Lane(down)
        self.closed = 0
        """Sides whose connection is lost."""

    def other(self, side: _Side) -> _Side:
        return self.up if side is self.down else self.down

    def made(self, side: _Side) -> None:
        if side is self.down:
            side._reading()  # paused until the broker's side is there (Relay._accepted)
            return
        if self.closed:  # the fleet's side went while this one was being made
            assert side.transport is not None
            side.transport.abort()
            return
        if side.early is not None:
            assert side.transport is not None
            side.transport.writelines(side.early)
            side.early = None
        self.down.far_full = False
        self.down._reading()

    def lost(self, side: _Side, exc: Exception | None) -> None:
        self.closed += 1
        far = self.other(side)
        side.transport = None
        if self.closed == 2:
            self.relay.gone(self)
            return
        if far.transport is None:
            return
        self.relay.ending(side, reset=exc is not None)


class Relay:
    """Relays connections to ``upstreams`` (one listening socket each), under conditions."""

    def __init__(
        self,
        upstreams: Sequence[tuple[str, int]],
        *,
        loop: asyncio.AbstractEventLoop,
        rng: random.Random,
        source_addresses: tuple[str | None, ...] = (None,),
        admit: Callable[[], bool] | None = None,
    ) -> None:
        """``source_addresses`` are taken in turn by the onward connections (as the fleet's
        own, :mod:`.limits`); ``admit``, asked at every accepted connection, resets those it
        refuses before any byte passes (a lost uplink at the moment of connecting)."""
        self._upstreams = tuple(upstreams)
        self._loop = loop
        self._lanes = Lanes(rng)
        self._sources = source_addresses
        self._admit = admit
        self._servers: list[asyncio.Server] = []
        self._pipes: set[_Pipe] = set()
        self._connecting: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self.accepted = 0
        """Connections accepted and passed on."""
        self.refused = 0
        """Connections reset because ``admit`` refused them or the broker did."""
        self.addresses: list[tuple[str, int]] = []
        """Where the relay listens, one address per upstream, in their order."""

    @property
    def open(self) -> int:
        """Connections relayed now."""
        return len(self._pipes)

    @property
    def queued_bytes(self) -> int:
        """Bytes read and not yet passed on (delayed or held), over every connection."""
        return sum(pipe.down.lane.queued_bytes + pipe.up.lane.queued_bytes for pipe in self._pipes)

    @property
    def lanes(self) -> Lanes:
        """The conditions in force (read only; change them through the relay)."""
        return self._lanes

    async def start(self, host: str = "127.0.0.1") -> list[tuple[str, int]]:
        """Listen on ``host``, one port per upstream; return the addresses."""
        for upstream in self._upstreams:
            server = await self._loop.create_server(
                functools.partial(self._accepted, upstream), host, 0, backlog=4096
            )
            self._servers.append(server)
            name = server.sockets[0].getsockname()
            self.addresses.append((name[0], name[1]))
        return self.addresses

    async def close(self) -> None:
        """Stop listening and cut every relayed connection."""
        for server in self._servers:
            server.close()
        for task in list(self._connecting):
            task.cancel()
        for pipe in list(self._pipes):
            for side in (pipe.down, pipe.up):
                if side.transport is not None:
                    side.transport.abort()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()

    # the conditions

    def impair(self, impairment: Impairment) -> None:
        """Delay and lose chunks as ``impairment`` says, until :meth:`restore`."""
        self._lanes.impair(impairment)

    def restore(self, impairment: Impairment) -> None:
        """End ``impairment``; what it delayed still goes at its due time."""
        self._lanes.restore(impairment)

    def hold(self) -> None:
        """Let nothing pass either way (a partition), until :meth:`unhold`."""
        self._lanes.hold()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def unhold(self) -> None:
        """End the partition: what queued during it goes on, in order."""
        self._lanes.unhold()
        self._arm()

    # connections

    def _accepted(self, upstream: tuple[str, int]) -> asyncio.Protocol:
        pipe = _Pipe(self)
        if self._admit is not None and not self._admit():
            self.refused += 1
            return _Reset()
        self._pipes.add(pipe)
        self.accepted += 1
        # Not read until the broker's side is connected.
        pipe.down.far_full = True
        source = self._sources[self.accepted % len(self._sources)]
        task = self._loop.create_task(self._connect(pipe, upstream, source))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)
        return pipe.down

    async def _connect(self, pipe: _Pipe, upstream: tuple[str, int], source: str | None) -> None:
        host, port = upstream
        try:
            await self._loop.create_connection(
                lambda: pipe.up,
                host,
                port,
                local_addr=(source, 0) if source is not None else None,
            )
        except OSError as exc:
            self.refused += 1
            pipe.lost(pipe.up, exc)  # as if it had connected and been reset: the device's too

    def carry(self, side: _Side, data: bytes) -> None:
        """``side`` read ``data``: pass it on now, or queue it until due."""
        lanes = self._lanes
        lane = side.lane
        if lanes.passes(lane):
            side.lane.out.write(data)
            return
        lanes.push(lane, data, self._loop.time())
        if lane.queued_bytes >= HIGH_WATER and not side.queue_full:
            side.queue_full = True
            side._reading()
        self._arm()

    def ending(self, side: _Side, *, reset: bool) -> None:
        """``side`` closed: close the far side once what ``side`` sent before has gone."""
        lane = side.lane
        if self._lanes.passes(lane):
            lane.out.end(reset)
            return
        self._lanes.push_end(lane, self._loop.time(), reset=reset)
        self._arm()

    def gone(self, pipe: _Pipe) -> None:
        self._pipes.discard(pipe)
        self._lanes.drop(pipe.down.lane)
        self._lanes.drop(pipe.up.lane)

    # the one timer

    def _arm(self) -> None:
        due = self._lanes.next_due()
        if due is None:
            return
        at = math.ceil(due / TICK_S) * TICK_S
        timer = self._timer
        if timer is not None:
            if self._timer_at <= at:
                return
            timer.cancel()
        self._timer_at = at
        self._timer = self._loop.call_at(at, self._fire)

    def _fire(self) -> None:
        self._timer = None
        for lane in self._lanes.release(self._loop.time()):
            far = cast(_Side, lane.out)
            near = far.pipe.other(far)
            if near.queue_full and lane.queued_bytes < LOW_WATER:
                near.queue_full = False
                near._reading()
        self._arm()


class _Reset(asyncio.Protocol):
    """A connection refused at accept: reset before any byte passes."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.Transport, transport).abort()
