"""Where ingested telemetry is stored: one small interface and its implementations.

A sink sees rows and malformed messages, never device models. Implementations:

- :class:`~simulator.sinks.memory.MemorySink`: keeps everything in lists; the test double.
- :class:`~simulator.sinks.sqlite.SqliteSink`: one SQLite file in WAL mode; the embedded default.

Every storage failure surfaces as :class:`~simulator.errors.SinkError` naming the sink and the
size of the batch that was lost, and writing to a closed sink is such a failure too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol


class Row(NamedTuple):
    """One telemetry message as stored: who sent it, its sequence, when, where, what."""

    device_id: str
    seq: int
    emit_ns: int
    """Device clock when the message was built, in ns since the epoch."""
    recv_ns: int
    """Ingest clock when the message arrived, in ns since the epoch."""
    topic: str
    payload: bytes


class Malformed(NamedTuple):
    """A message that could not be decoded, kept so the report can show what went wrong."""

    recv_ns: int
    topic: str
    payload: bytes
    error: str


class Sink(Protocol):
    """Stores batches of rows. Called from one thread at a time; batches are atomic."""

    kind: str
    """Short name of the implementation (``"memory"``, ``"sqlite"``) for reports and errors."""

    def write_batch(self, rows: Sequence[Row]) -> None:
        """Store ``rows`` all together or not at all; raise SinkError on failure."""
        ...

    def write_malformed(self, items: Sequence[Malformed]) -> None:
        """Store messages that could not be decoded; raise SinkError on failure."""
        ...

    def close(self) -> None:
        """Release the storage. Closing twice is harmless; writing afterwards raises SinkError."""
        ...

    @property
    def rows_written(self) -> int:
        """How many rows :meth:`write_batch` has stored so far."""
        ...


__all__ = ["Malformed", "Row", "Sink"]
