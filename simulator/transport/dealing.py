"""Which broker and which local address connection ``i`` takes: pure functions of ``i``.

Connection ``i`` of a fleet goes to broker ``i mod K`` and leaves from source address
``(i div K) mod S``, for ``K`` brokers and ``S`` source addresses. The source index skips by
whole rounds of brokers so that every (source, broker) pair gets its share even when ``K`` and
``S`` have a common factor (``i mod S`` with ``K = S = 2`` would use two pairs of four), and
because it is a function of the index alone, a reconnect goes where the first connect went,
slices of a fleet agree on it, and the ingest worker of one broker hears all of a device.

A (source, destination) pair is what the kernel's ephemeral ports are counted against, so the
busiest pair carries :func:`per_pair` connections; the preflight checks that against the port
range (:mod:`simulator.transport.limits`).

A process that runs one slice of a fleet numbers its connections ``0..n-1``; ``first`` and
``step`` say which connection of the whole fleet its ``j`` is (``first + j * step``), so the
dealing stays the whole fleet's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from simulator.errors import InvalidArgumentError


@dataclass(frozen=True, slots=True)
class Dealing:
    """The brokers and source addresses of a fleet, and who gets which."""

    brokers: tuple[tuple[str, int], ...]
    """Each broker's ``(host, port)``; at least one."""
    sources: tuple[str | None, ...] = (None,)
    """Local addresses to bind (None: the system's choice); at least one."""
    first: int = 0
    """The whole fleet's number of this process's connection 0."""
    step: int = 1
    """How far apart in the whole fleet this process's consecutive connections are."""

    def __post_init__(self) -> None:
        if not self.brokers or not self.sources or self.step < 1 or self.first < 0:
            raise InvalidArgumentError(
                "a dealing needs a broker, a source address, first >= 0 and step >= 1"
            )

    def broker(self, index: int) -> tuple[str, int]:
        """The ``(host, port)`` this process's connection ``index`` connects to."""
        return self.brokers[self.broker_index(index)]

    def broker_index(self, index: int) -> int:
        """Which of :attr:`brokers` this process's connection ``index`` connects to."""
        return (self.first + index * self.step) % len(self.brokers)

    def source(self, index: int) -> str | None:
        """The local address this process's connection ``index`` binds (None: the system's
        choice)."""
        number = self.first + index * self.step
        return self.sources[(number // len(self.brokers)) % len(self.sources)]

    def per_broker(self, connections: int) -> int:
        """Connections the busiest broker gets of the whole fleet's ``connections``."""
        return per_broker(connections, len(self.brokers))

    def per_pair(self, connections: int) -> int:
        """Connections the busiest (source, broker) pair carries of the whole fleet's
        ``connections``."""
        return per_pair(connections, len(self.brokers), len(self.sources))


def per_broker(connections: int, brokers: int) -> int:
    """Connections the busiest of ``brokers`` brokers gets when ``connections`` are dealt."""
    return math.ceil(connections / brokers)


def per_pair(connections: int, brokers: int, sources: int) -> int:
    """Connections the busiest (source, broker) pair carries when ``connections`` are dealt
    over ``brokers`` brokers and ``sources`` source addresses."""
    return math.ceil(connections / (brokers * sources))


def broker_of_device(index: int, blocks: Sequence[tuple[int, int]], brokers: int) -> int:
    """Which of ``brokers`` brokers carries the fleet's device ``index``: its connection's.

    ``blocks`` are the fleet's groups in order, each ``(first device index, devices per
    connection)``; empty means a connection per device. The connection numbering is the whole
    fleet's (``connection_starts`` of :mod:`simulator.scenario.composition`): each group's
    devices cut into connections of its size, group after group. So a worker of one broker can
    tell, from a device's index alone, whether that broker carried it.
    """
    if brokers < 1 or index < 0:
        raise InvalidArgumentError(f"need brokers >= 1 and index >= 0, got {brokers}, {index}")
    connection = 0
    for number, (start, per_connection) in enumerate(blocks):
        end = blocks[number + 1][0] if number + 1 < len(blocks) else None
        if end is not None and index >= end:
            connection += -(-(end - start) // per_connection)
            continue
        return (connection + (index - start) // per_connection) % brokers
    return index % brokers
