"""The test double: a sink that keeps everything in lists."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from simulator.errors import SinkError
from simulator.sinks import Malformed, Row, StoredDevice, check_run_id, stored_devices


class MemorySink:
    """Keeps rows and malformed messages in memory, in the order they were written.

    :meth:`fail_next_batch` and :meth:`fail_batches` make writes fail with a chosen reason, so
    callers can test how they handle a full disk or a lost server without having one.
    """

    kind = "memory"
    rows_before = 0

    def __init__(self, run_id: str = "test", *, rows: list[Row] | None = None) -> None:
        """Make an open sink whose rows belong to ``run_id``: empty, or appending to ``rows``,
        the list of a sink opened before for the same run (as a restarted worker opens the
        storage its predecessor wrote to)."""
        self.run_id = check_run_id(run_id)
        self.rows: list[Row] = [] if rows is None else rows
        self._written = 0
        self.malformed: list[Malformed] = []
        self.batches = 0
        """How many non-empty row batches were written (to check that batching happened)."""
        self._closed = False
        self._failures = 0
        self._failure = ("", "other")

    @property
    def rows_written(self) -> int:
        """How many rows this sink has stored."""
        return self._written

    def fail_next_batch(self, reason_text: str, reason: str = "other") -> None:
        """Make the next :meth:`write_batch` or :meth:`write_malformed` raise SinkError saying
        ``reason_text``, with ``reason`` (one of :data:`simulator.sinks.REASONS`)."""
        self.fail_batches(1, reason_text, reason)

    def fail_batches(self, count: int, reason_text: str, reason: str = "other") -> None:
        """Make the next ``count`` writes fail like :meth:`fail_next_batch`: a storage that stays
        broken for a while, for testing retries."""
        self._failures = count
        self._failure = (reason_text, reason)

    def _check(self, what: str, size: int) -> None:
        if self._closed:
            raise SinkError(
                f"memory sink: cannot write {size} {what}: the sink is closed", "closed"
            )
        if self._failures:
            self._failures -= 1
            text, reason = self._failure
            raise SinkError(
                f"memory sink: could not write a batch of {size} {what}: {text}", reason
            )

    def write_batch(self, rows: Sequence[Row]) -> None:
        """Append ``rows``."""
        self._check("rows", len(rows))
        if rows:
            self.rows.extend(rows)
            self._written += len(rows)
            self.batches += 1

    def write_malformed(self, items: Sequence[Malformed]) -> None:
        """Append ``items``."""
        self._check("malformed messages", len(items))
        self.malformed.extend(items)

    def read_stored(self) -> Iterator[StoredDevice]:
        """The rows stored so far, device by device (see :meth:`Sink.read_stored`)."""
        if self._closed:
            raise SinkError("memory sink: cannot read the run's rows: the sink is closed", "closed")
        counts: dict[tuple[str, int], tuple[int, str]] = {}
        for row in self.rows:
            key = (row.device_id, row.seq)
            n, topic = counts.get(key, (0, row.topic))
            counts[key] = (n + 1, min(topic, row.topic))
        islands: list[tuple[str, str, int, int, int]] = []
        for (device_id, seq), (n, topic) in sorted(counts.items()):
            last = islands[-1] if islands else None
            if last is not None and last[0] == device_id and last[4] == seq:
                islands[-1] = (device_id, min(last[1], topic), last[2] + n, last[3], seq + 1)
            else:
                islands.append((device_id, topic, n, seq, seq + 1))
        return stored_devices(islands)

    def close(self) -> None:
        """Refuse further writes; the stored lists stay readable."""
        self._closed = True
