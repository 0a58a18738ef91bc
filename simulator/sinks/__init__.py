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
from collections.abc import Mapping, Sequence
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


__all__ = ["REASONS", "Malformed", "Row", "Sink", "check_run_id"]
