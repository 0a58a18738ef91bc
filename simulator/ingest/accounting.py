"""Accounting for every telemetry message: in order, lost so far, late, duplicated; latency.

Each device publishes sequence numbers 0, 1, 2, ... The accounting keeps, per device, only the
next sequence it expects, plus, for devices with holes, the holes as a flat sorted list of
half-open ranges ``[start0, end0, start1, end1, ...]``. A device that has lost nothing costs one
dict entry; a gap of a billion messages costs two integers. Classification of one message:

- ``seq == expected``: in order (the hot path: one dict lookup and one store).
- ``seq > expected``: a gap; ``expected .. seq-1`` become missing (lost so far).
- ``seq < expected`` inside a hole: out of order, a late arrival; no longer missing.
- ``seq < expected`` otherwise: seen before, a duplicate.

Latency (``recv_ns - emit_ns``) goes into a :class:`~simulator.metrics.Histogram` in
microseconds for every message received, duplicates included, since each is a delivery. Pure:
times are passed in; nothing here reads a clock.

A fleet of several groups (model, interval, payload format: consecutive blocks of device
indexes) is also counted per group: each device's group follows from the fleet index its id
ends with (``robot-000042``), looked up once per device and kept in a dict. Only such a fleet
pays for it, one dict lookup per message; a fleet of one group takes the loop it always took.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence

from simulator.errors import PayloadError
from simulator.metrics.histogram import Histogram
from simulator.metrics.ingest import GroupIngest
from simulator.sinks import Row


def device_index(device_id: str) -> int | None:
    """The fleet index a simulated device's id ends with (``ms-000042``: 42); None for an id
    without one (a device this project did not name)."""
    digits = device_id.rpartition("-")[2]
    return int(digits) if digits.isdigit() else None


class Accounting:
    """Per-device sequence tracking and latency for everything one ingest worker receives."""

    __slots__ = (
        "_clock_skew",
        "_duplicated",
        "_group_of",
        "_group_starts",
        "_groups",
        "_holes",
        "_latency",
        "_malformed",
        "_missing",
        "_next",
        "_out_of_order",
        "_unique",
    )

    def __init__(self, latency: Histogram | None = None, group_starts: Sequence[int] = ()) -> None:
        """Start with nothing seen; latency goes into ``latency`` (microseconds) if given.

        ``group_starts`` is the first fleet index of each of several groups: messages are then
        counted per group too (:attr:`groups`), their latency recorded in each group's
        histogram (``latency`` keeps what was recorded before, :attr:`latency` adds them up);
        the last group holds devices whose id names no index.
        """
        self._next: dict[str, int] = {}
        self._holes: dict[str, list[int]] = {}
        self._latency = latency if latency is not None else Histogram()
        self._unique = 0
        self._duplicated = 0
        self._out_of_order = 0
        self._missing = 0
        self._malformed = 0
        self._clock_skew = 0
        self._group_starts = list(group_starts) if len(group_starts) > 1 else []
        self._groups = [GroupIngest() for _ in self._group_starts] or None
        self._group_of: dict[str, int] = {}
        """Each device's group, by id, once it has been seen."""

    def seed(self, devices: Iterable[tuple[str, int, list[int]]]) -> None:
        """Start from what a run already stored, before anything else is recorded: per device
        its rows (duplicates included) and its distinct sequence numbers as sorted half-open
        ranges ``[start0, end0, start1, end1, ...]`` (:meth:`Sink.read_stored`).

        A restarted worker's way to whole-run figures: a device expects the sequence after its
        last stored one, the gaps between its ranges (and below the first) are missing, stored
        duplicates count as duplicated. So a message sent again that was stored already is a
        duplicate, one that fills a gap arrives late, and the rest is new, as it would have
        been to the worker that died. Latency and the other counts start from nothing.
        """
        if self._next:
            raise ValueError("seed() after messages were recorded")
        holes_of = self._holes
        for device_id, rows, ranges in devices:
            distinct = 0
            holes: list[int] = []
            expected = 0
            for k in range(0, len(ranges), 2):
                start, end = ranges[k], ranges[k + 1]
                if start > expected:
                    holes += (expected, start)
                    self._missing += start - expected
                distinct += end - start
                expected = end
            self._next[device_id] = expected
            if holes:
                holes_of[device_id] = holes
            self._unique += distinct
            self._duplicated += rows - distinct
            if self._groups is not None:
                self._groups[self._group(device_id)].unique += distinct

    def record(self, device_id: str, seq: int, emit_ns: int, recv_ns: int) -> bool:
        """Account for one received message; True if it was not seen before (not a duplicate).

        A negative ``seq`` raises PayloadError.
        """
        expected = self._next.get(device_id)
        if seq == expected:
            self._next[device_id] = seq + 1
            self._unique += 1
            new = True
        else:
            new = self._classify(device_id, seq, expected)
        latency_ns = recv_ns - emit_ns
        if latency_ns < 0:
            # The device's clock is ahead of ours; count it rather than poison the histogram.
            self._clock_skew += 1
            latency_ns = 0
        self._latency.record(latency_ns // 1000)
        return new

    def record_rows(self, rows: Sequence[Row], start: int, dups: list[int]) -> None:
        """Account for ``rows[start:]`` as :meth:`record` does each, in order, and append the
        positions (in ``rows``) of those seen before to ``dups``.

        The ingest worker's way: one call per read, the in-order case inline and the
        latencies recorded together, instead of two calls per message. Every codec gives
        sequences >= 0; a negative one raises PayloadError here too, with the rows before
        it accounted for.
        """
        if self._groups is not None:
            self._record_rows_by_group(rows, start, dups, self._groups)
            return
        next_seq = self._next
        expected_of = next_seq.get
        latencies: list[int] = []
        add_latency = latencies.append
        unique = 0
        skewed = 0
        try:
            for position in range(start, len(rows)):
                device_id, seq, emit_ns, recv_ns, _, _, _ = rows[position]
                expected = expected_of(device_id)
                if seq == expected:
                    next_seq[device_id] = seq + 1
                    unique += 1
                elif not self._classify(device_id, seq, expected):
                    dups.append(position)
                latency_ns = recv_ns - emit_ns
                if latency_ns < 0:
                    skewed += 1
                    latency_ns = 0
                add_latency(latency_ns // 1000)
        finally:
            self._unique += unique
            self._clock_skew += skewed
            self._latency.record_many(latencies)

    def _record_rows_by_group(
        self, rows: Sequence[Row], start: int, dups: list[int], groups: list[GroupIngest]
    ) -> None:
        """:meth:`record_rows` for a fleet of several groups: each message's latency and, if
        new, its count go to its device's group instead (the run's latency is then the sum of
        the groups' histograms, :attr:`latency`: each value is recorded once)."""
        next_seq = self._next
        expected_of = next_seq.get
        group_of = self._group_of
        by_group: list[list[int]] = [[] for _ in groups]
        new_in: list[int] = [0] * len(groups)
        unique = 0
        skewed = 0
        try:
            for position in range(start, len(rows)):
                device_id, seq, emit_ns, recv_ns, _, _, _ = rows[position]
                group = group_of.get(device_id)
                if group is None:
                    group = self._group(device_id)
                expected = expected_of(device_id)
                if seq == expected:
                    next_seq[device_id] = seq + 1
                    unique += 1
                    new_in[group] += 1
                elif self._classify(device_id, seq, expected):
                    new_in[group] += 1
                else:
                    dups.append(position)
                latency_ns = recv_ns - emit_ns
                if latency_ns < 0:
                    skewed += 1
                    latency_ns = 0
                by_group[group].append(latency_ns // 1000)
        finally:
            self._unique += unique
            self._clock_skew += skewed
            for figures, values, new in zip(groups, by_group, new_in, strict=True):
                if values:
                    figures.unique += new
                    figures.latency_us.record_many(values)

    def _group(self, device_id: str) -> int:
        """The group of ``device_id``, from the fleet index its id ends with (remembered)."""
        index = device_index(device_id)
        starts = self._group_starts
        group = bisect_right(starts, index) - 1 if index is not None else len(starts) - 1
        self._group_of[device_id] = max(group, 0)
        return max(group, 0)

    @property
    def groups(self) -> list[GroupIngest] | None:
        """Per group of a fleet of several (None: one group, not counted apart)."""
        return self._groups

    def _classify(self, device_id: str, seq: int, expected: int | None) -> bool:
        if seq < 0:
            raise PayloadError(f"device {device_id!r}: sequence number must be >= 0, got {seq}")
        if expected is None:
            expected = 0
        if seq >= expected:
            if seq > expected:
                self._holes.setdefault(device_id, []).extend((expected, seq))
                self._missing += seq - expected
            self._next[device_id] = seq + 1
            self._unique += 1
            return True
        holes = self._holes.get(device_id)
        if holes is not None:
            i = bisect_right(holes, seq)
            if i & 1:
                self._fill(device_id, holes, i, seq)
                return True
        self._duplicated += 1
        return False

    def _fill(self, device_id: str, holes: list[int], i: int, seq: int) -> None:
        """Take ``seq`` out of the hole ``[holes[i-1], holes[i])`` that holds it."""
        start, end = holes[i - 1], holes[i]
        if seq == start and seq + 1 == end:
            del holes[i - 1 : i + 1]
            if not holes:
                del self._holes[device_id]
        elif seq == start:
            holes[i - 1] = seq + 1
        elif seq + 1 == end:
            holes[i] = seq
        else:
            holes[i:i] = (seq, seq + 1)
        self._missing -= 1
        self._out_of_order += 1
        self._unique += 1

    def knows(self, device_id: str) -> bool:
        """Whether any message from ``device_id`` has been accounted for."""
        return device_id in self._next

    def record_malformed(self) -> None:
        """Count one message that could not be decoded (it has no device or sequence to track)."""
        self._malformed += 1

    @property
    def received(self) -> int:
        """Every message accounted for by :meth:`record`."""
        return self._unique + self._duplicated

    @property
    def unique(self) -> int:
        """Distinct (device, seq) pairs received, late arrivals included."""
        return self._unique

    @property
    def duplicated(self) -> int:
        """Messages whose (device, seq) had already been received."""
        return self._duplicated

    @property
    def out_of_order(self) -> int:
        """Messages that arrived after a later sequence of the same device had."""
        return self._out_of_order

    @property
    def missing(self) -> int:
        """Sequences skipped by a gap and not (yet) received: lost so far, tail losses excluded."""
        return self._missing

    @property
    def devices_seen(self) -> int:
        """Devices that delivered at least one message."""
        return len(self._next)

    @property
    def malformed(self) -> int:
        """Messages counted by :meth:`record_malformed`."""
        return self._malformed

    @property
    def clock_skew(self) -> int:
        """Messages that arrived before they were sent by our clock; recorded as 0 latency."""
        return self._clock_skew

    @property
    def latency(self) -> Histogram:
        """Latency of every received message, in microseconds (for a fleet of several groups,
        a new histogram adding up the groups')."""
        if self._groups is None:
            return self._latency
        total = self._latency.copy()
        for group in self._groups:
            total.merge(group.latency_us)
        return total

    def _received_below(self, device_id: str, limit: int) -> int:
        """How many distinct sequences in ``0..limit-1`` this device delivered."""
        top = min(self._next.get(device_id, 0), limit)
        holes = self._holes.get(device_id, ())
        absent = 0
        for k in range(0, len(holes), 2):
            start = holes[k]
            if start >= top:
                break
            absent += min(holes[k + 1], top) - start
        return top - absent

    def lost_against(self, published: Mapping[str, int]) -> int:
        """Messages that never arrived, given how many each device really published.

        Unlike :attr:`missing` this sees tail losses (the last messages of a device) and
        devices that never got a message through. Sequences at or beyond a device's published
        count are not held against it, and devices absent from ``published`` are ignored.
        """
        return sum(n - self._received_below(dev, n) for dev, n in published.items())

    def lost_total(self, published: int) -> int:
        """Messages that never arrived, given how many the whole fleet published.

        Negative if more distinct messages arrived than ``published`` says were sent, which
        means the published count is wrong; it is reported, not hidden.
        """
        return published - self._unique
