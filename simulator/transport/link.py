"""Link conditions: when each chunk of bytes crossing an impaired link may go on.

The relay (:mod:`.relay`) passes the fleet's connections through to the broker; while a
``network`` or ``partition`` fault lasts it asks this module when each chunk it read may be
written on. Pure: no sockets, no clock (``now`` is passed in), randomness from an injected
``random.Random``.

- **Latency and jitter.** A chunk read at ``now`` is due at ``now + latency +- jitter`` (never
  before ``now``), but never before the chunk ahead of it in the same direction of the same
  connection: TCP delivers in order, so a chunk drawn a shorter delay waits for its elder.
- **Loss.** A TCP stream cannot lose bytes: what the application sees of a lost segment is
  its retransmission, a retransmission timeout later, with everything behind it held up
  (head-of-line blocking). So a lost chunk is delayed by :data:`RETRANSMIT_TIMEOUT_S`
  (Linux's smallest RTO); lost again (``loss`` is drawn once more) the timeout doubles, as
  TCP's backoff does, at most :data:`MAX_RETRANSMITS` times.
- **Partition.** While held, nothing is due: chunks queue up, in order, and go on when the
  hold is lifted. So do ends of connections: a side that closed is closed on the far side
  only once what it sent before has gone, as a FIN travels behind the data.

Each direction of a connection is a :class:`Lane`: a FIFO of (due time, bytes), its due times
never decreasing. :class:`Lanes` keeps one heap of the lanes that hold something, keyed by
the due time of their first chunk, so one timer serves every connection: the relay sets it
for :meth:`Lanes.next_due` and calls :meth:`Lanes.release` when it fires. A chunk queued
behind another costs an append; a lane that becomes non-empty, one heap push.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from dataclasses import dataclass
from typing import Protocol

RETRANSMIT_TIMEOUT_S = 0.2
"""What a lost chunk waits before it is sent again: Linux's minimum RTO (``TCP_RTO_MIN``)."""

MAX_RETRANSMITS = 6
"""Retransmissions of one chunk at most (0.2 + 0.4 + ... + 6.4 s = 12.6 s): at ``loss = 1``
every chunk still arrives, late, rather than never."""


@dataclass(frozen=True, slots=True)
class Impairment:
    """What a ``network`` fault does to the link, each way."""

    latency_s: float = 0.0
    jitter_s: float = 0.0
    loss: float = 0.0
    """Share of chunks lost (and sent again), 0..1."""

    def describe(self) -> str:
        """In a few words, for the report."""
        parts = [f"+{self.latency_s * 1000:g} ms"]
        if self.jitter_s:
            parts[0] += f" +-{self.jitter_s * 1000:g} ms"
        if self.loss:
            parts.append(
                f"{self.loss:.1%} of chunks lost and resent after "
                f"{RETRANSMIT_TIMEOUT_S * 1000:g} ms"
            )
        return ", ".join(parts)


class LaneOut(Protocol):
    """Where a lane's released chunks go: the far side's transport."""

    def write(self, data: bytes) -> None:
        """Pass ``data`` on."""

    def end(self, reset: bool) -> None:
        """The near side closed (``reset``: abruptly): close the far side likewise."""


class Lane:
    """One direction of one connection: its queued chunks, oldest first."""

    __slots__ = ("chunks", "last_due", "out", "queued_bytes", "waiting")

    def __init__(self, out: LaneOut) -> None:
        self.out = out
        self.chunks: deque[tuple[float, bytes | bool]] | None = None
        """(due, bytes), or (due, reset) for the near side's end; made on first use."""
        self.last_due = 0.0
        """Due time of the latest chunk queued: none behind it may go earlier."""
        self.queued_bytes = 0
        self.waiting = False
        """In the heap of :class:`Lanes`."""

    @property
    def empty(self) -> bool:
        """Nothing queued: a chunk may pass at once if the link is clear."""
        return not self.chunks


class Lanes:
    """Every lane of a relay, the conditions in force, and the one heap that says what is due."""

    def __init__(self, rng: random.Random, *, rto_s: float = RETRANSMIT_TIMEOUT_S) -> None:
        self._rng = rng
        self._rto_s = rto_s
        self._impairments: list[Impairment] = []
        self._holds = 0
        self._heap: list[tuple[float, int, Lane]] = []
        self._order = itertools.count()

    # the conditions

    @property
    def impairment(self) -> Impairment | None:
        """The ``network`` fault in force (the latest begun of those that overlap)."""
        return self._impairments[-1] if self._impairments else None

    @property
    def held(self) -> bool:
        """A partition is in force."""
        return self._holds > 0

    @property
    def clear(self) -> bool:
        """Nothing is in force: chunks of an empty lane pass at once."""
        return not self._impairments and not self._holds

    def impair(self, impairment: Impairment) -> None:
        """Put ``impairment`` in force, until :meth:`restore` takes it away."""
        self._impairments.append(impairment)

    def restore(self, impairment: Impairment) -> None:
        """End ``impairment`` (another one begun later stays in force)."""
        self._impairments.remove(impairment)

    def hold(self) -> None:
        """Let nothing pass, until as many :meth:`unhold` calls."""
        self._holds += 1

    def unhold(self) -> None:
        """End one hold; the queued chunks are due as they were (the relay's timer is set
        again by whoever called this)."""
        if self._holds == 0:
            raise ValueError("unhold() without hold()")
        self._holds -= 1

    # the chunks

    def passes(self, lane: Lane) -> bool:
        """A chunk read now on ``lane`` may be written on at once (the fast path)."""
        return not self._impairments and not self._holds and not lane.chunks

    def due(self, lane: Lane, now: float) -> float:
        """When a chunk read at ``now`` on ``lane`` may go on, under the conditions in force."""
        due = now
        impairment = self.impairment
        if impairment is not None:
            delay = impairment.latency_s
            if impairment.jitter_s:
                delay += self._rng.uniform(-impairment.jitter_s, impairment.jitter_s)
            due += max(0.0, delay)
            if impairment.loss:
                timeout = self._rto_s
                for _ in range(MAX_RETRANSMITS):
                    if self._rng.random() >= impairment.loss:
                        break
                    due += timeout
                    timeout *= 2
        return max(due, lane.last_due)

    def push(self, lane: Lane, data: bytes, now: float) -> None:
        """Queue ``data`` on ``lane`` for when it is due."""
        lane.queued_bytes += len(data)
        self._queue(lane, self.due(lane, now), data)

    def push_end(self, lane: Lane, now: float, *, reset: bool) -> None:
        """Queue the near side's end behind what it sent (not delayed itself: a FIN or a
        reset travels with the stream's last bytes)."""
        self._queue(lane, max(now, lane.last_due), reset)

    def _queue(self, lane: Lane, due: float, item: bytes | bool) -> None:
        chunks = lane.chunks
        if chunks is None:
            chunks = lane.chunks = deque()
        chunks.append((due, item))
        lane.last_due = due
        if not lane.waiting:
            lane.waiting = True
            heapq.heappush(self._heap, (chunks[0][0], next(self._order), lane))

    def next_due(self) -> float | None:
        """When the earliest queued chunk is due (None: nothing queued, or held)."""
        if self._holds or not self._heap:
            return None
        return self._heap[0][0]

    def release(self, now: float) -> list[Lane]:
        """Hand every chunk due by ``now`` to its lane's ``out``, in order; return the lanes
        that gave something (so the relay may read their near side again)."""
        if self._holds:
            return []
        heap = self._heap
        released = []
        while heap and heap[0][0] <= now:
            _, _, lane = heapq.heappop(heap)
            chunks = lane.chunks
            assert chunks is not None
            while chunks and chunks[0][0] <= now:
                _, item = chunks.popleft()
                if isinstance(item, bool):
                    lane.out.end(item)
                    continue
                lane.queued_bytes -= len(item)
                lane.out.write(item)
            released.append(lane)
            if chunks:
                heapq.heappush(heap, (chunks[0][0], next(self._order), lane))
            else:
                lane.waiting = False
        return released

    def drop(self, lane: Lane) -> None:
        """Forget what ``lane`` holds (its far side is gone); it leaves the heap when due."""
        if lane.chunks:
            lane.chunks.clear()
        lane.queued_bytes = 0
