"""The embedded default sink: one SQLite file, WAL journal, one transaction per batch."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from simulator.errors import SinkError
from simulator.sinks import Malformed, Row

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS telemetry ("
    "device_id TEXT, seq INTEGER, emit_ns INTEGER, recv_ns INTEGER, topic TEXT, payload BLOB)",
    "CREATE TABLE IF NOT EXISTS malformed (recv_ns INTEGER, topic TEXT, payload BLOB, error TEXT)",
)
_INSERT_ROW = "INSERT INTO telemetry VALUES (?, ?, ?, ?, ?, ?)"
_INSERT_MALFORMED = "INSERT INTO malformed VALUES (?, ?, ?, ?)"


class SqliteSink:
    """Writes telemetry into tables ``telemetry`` and ``malformed`` of one SQLite file.

    The connection is opened with ``check_same_thread=False`` so the ingest worker can create
    the sink on its event loop and write from its single writer thread; only one thread may use
    the sink at a time. WAL with ``synchronous=NORMAL`` means a batch is durable against a crash
    of this process, though the last batches may be lost if the machine loses power.
    """

    kind = "sqlite"
    run_id = ""

    def __init__(self, path: Path) -> None:
        """Open (creating the file, its parent directories and the tables) the database at path."""
        self.path = path
        self._rows_written = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are opened explicitly, one per batch.
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                path, check_same_thread=False, isolation_level=None
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            for statement in _SCHEMA:
                self._conn.execute(statement)
            (last,) = self._conn.execute("SELECT max(rowid) FROM telemetry").fetchone()
        except (OSError, sqlite3.Error) as exc:
            raise SinkError(f"sqlite sink {path}: cannot open: {exc}") from exc
        self.rows_before = int(last or 0)
        """Telemetry rows the file held when opened (earlier runs), read from the largest rowid:
        exact unless rows were deleted; this sink's rows follow them."""

    @property
    def rows_written(self) -> int:
        """How many rows have been committed by this sink."""
        return self._rows_written

    def _write(self, sql: str, items: Sequence[Row] | Sequence[Malformed], what: str) -> None:
        conn = self._conn
        if conn is None:
            raise SinkError(
                f"sqlite sink {self.path}: cannot write {len(items)} {what}: the sink is closed"
            )
        if not items:
            return
        try:
            # The connection as a context manager commits, or rolls back if anything failed.
            with conn:
                conn.execute("BEGIN")
                conn.executemany(sql, (item[:6] for item in items))
        except sqlite3.Error as exc:
            raise SinkError(
                f"sqlite sink {self.path}: could not write a batch of {len(items)} {what}: {exc}"
            ) from exc

    def write_batch(self, rows: Sequence[Row]) -> None:
        """Insert ``rows`` in one transaction."""
        self._write(_INSERT_ROW, rows, "rows")
        self._rows_written += len(rows)

    def write_malformed(self, items: Sequence[Malformed]) -> None:
        """Insert ``items`` in one transaction."""
        self._write(_INSERT_MALFORMED, items, "malformed messages")

    def close(self) -> None:
        """Close the connection (checkpointing the WAL into the file); harmless twice."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()
