"""Where ingested telemetry is stored: one small interface and its implementations.

A sink sees rows and malformed messages, never device models. Implementations:

- :class:`~simulator.sinks.memory.MemorySink`: keeps everything in lists; the test double.
- :class:`~simulator.sinks.sqlite.SqliteSink`: one SQLite file in WAL mode; the embedded default.
- :class:`~simulator.sinks.postgresql.PostgresSink`: PostgreSQL through ``COPY``.

:func:`~simulator.sinks.url.open_sink` opens one from a URL (``sqlite:///path``,
``postgresql://user:pass@host:port/db``). Every sink writes its rows under the run id it was
opened with, so several runs share one database or file without mixing.

A batch is committed whole or not at all. Every storage failure surfaces as
:class:`~simulator.errors.SinkError` naming the sink and the size of the batch, with a short
``reason`` (one of :data:`REASONS`) that the report counts by; writing to a closed sink is such
a failure too. Retrying is the caller's business (the ingest worker's writer), so a sink makes
one attempt per call and, after a lost connection, reconnects on the next call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Final, NamedTuple, Protocol

from simulator.payloads.codec import Value

REASONS: Final = (
    "disk_full",
    "locked",
    "permission",
    "constraint",
    "connection_lost",
    "closed",
    "other",
)
"""Why a batch could not be stored; the report's ``sink.errors`` counts rows by these."""


_RUN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def check_run_id(run_id: str) -> str:
    """Return ``run_id`` if it is 1 to 64 of ``A-Z a-z 0-9 . _ -``; raise ValueError otherwise.

    So short and plain that a sink may write it into its SQL as a literal, bound once per
    statement instead of once per row, and that it reads well in a file name or a report.
    """
    if not _RUN_ID.fullmatch(run_id):
        raise ValueError(
            f"run id {run_id!r} is not 1 to 64 characters of letters, digits, '.', '_' and '-'"
        )
    return run_id


class Row(NamedTuple):
    """One telemetry message as stored: who sent it, its sequence, when, where, what."""

    device_id: str
    seq: int
    emit_ns: int
    """Device clock when the message was built, in ns since the epoch."""
    recv_ns: int
    """Ingest clock when the message arrived, in ns since the epoch."""
    topic: str
    payload: bytes | None
    """The payload as it arrived; None unless the worker stores payloads (``store_payloads``)."""
    values: Mapping[str, Value]
    """The decoded signals (name to value), stored in a queryable form (JSON)."""


class Malformed(NamedTuple):
    """A message that could not be decoded, kept so the report can show what went wrong."""

    recv_ns: int
    topic: str
    payload: bytes
    error: str


class StoredDevice(NamedTuple):
    """What a run has stored of one device's telemetry (:meth:`Sink.read_stored`)."""

    device_id: str
    topic: str
    """The topic of its rows (the least, should they have come on several)."""
    rows: int
    """Its rows, duplicates included."""
    sequences: list[int]
    """Its distinct sequence numbers as sorted, disjoint half-open ranges, flat:
    ``[start0, end0, start1, end1, ...]``; a device that lost nothing has one range."""


def stored_devices(islands: Iterable[tuple[str, str, int, int, int]]) -> Iterator[StoredDevice]:
    """:class:`StoredDevice` values from a storage's islands of consecutive sequence numbers:
    ``(device_id, topic, rows, start, end)`` ordered by device, then start; a device's rows and
    topic are the sum and the least of its islands'."""
    device: str | None = None
    least, count = "", 0
    sequences: list[int] = []
    for device_id, topic, rows, start, end in islands:
        if device_id != device:
            if device is not None:
                yield StoredDevice(device, least, count, sequences)
            device, least, count, sequences = device_id, topic, 0, []
        least = min(least, topic)
        count += rows
        sequences += (start, end)
    if device is not None:
        yield StoredDevice(device, least, count, sequences)


ISLANDS_SQL = """
WITH seqs AS (
    SELECT device_id, seq, count(*) AS n, min(topic) AS topic
    FROM telemetry WHERE run_id = {run_id} GROUP BY device_id, seq
), islands AS (
    SELECT device_id, seq, n, topic,
           seq - row_number() OVER (PARTITION BY device_id ORDER BY seq) AS island
    FROM seqs
)
SELECT device_id, min(topic), CAST(sum(n) AS BIGINT), min(seq), max(seq) + 1
FROM islands GROUP BY device_id, island ORDER BY device_id, min(seq)
"""
"""One run's telemetry as islands of consecutive sequence numbers per device (the rows of
:func:`stored_devices`), in the SQL SQLite and PostgreSQL both speak; ``{run_id}`` is the
placeholder's place. One statement, so what it reads is one consistent snapshot."""


class Sink(Protocol):
    """Stores batches of rows. Called from one thread at a time; batches are atomic."""

    kind: str
    """Short name of the implementation (``"memory"``, ``"sqlite"``, ``"postgresql"``)."""
    run_id: str
    """The run every row written here belongs to (a column of every stored row)."""

    def write_batch(self, rows: Sequence[Row]) -> None:
        """Store ``rows`` all together (one transaction, committed on return) or not at all;
        raise SinkError with a ``reason`` on failure."""
        ...

    def write_malformed(self, items: Sequence[Malformed]) -> None:
        """Store messages that could not be decoded; raise SinkError on failure."""
        ...

    def read_stored(self) -> Iterator[StoredDevice]:
        """What the storage holds of this run's telemetry, device by device, whoever wrote it:
        a worker restarted after its predecessor died reads what that one committed.

        One device at a time, so a large run is not held whole in memory twice; consume it
        before writing. Raise SinkError with a ``reason`` if the storage cannot be read.
        """
        ...

    def close(self) -> None:
        """Release the storage. Closing twice is harmless; writing afterwards raises SinkError
        with reason ``closed``."""
        ...

    @property
    def rows_written(self) -> int:
        """How many rows :meth:`write_batch` has committed so far."""
        ...

    @property
    def rows_before(self) -> int:
        """Telemetry rows of other runs the storage held when opened (0 if unknown)."""
        ...


__all__ = [
    "ISLANDS_SQL",
    "REASONS",
    "Malformed",
    "Row",
    "Sink",
    "StoredDevice",
    "check_run_id",
    "stored_devices",
]
