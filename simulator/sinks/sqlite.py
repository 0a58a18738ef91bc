"""The embedded default sink: one SQLite file, WAL journal, one transaction per batch.

Tables (every row carries the run id it was written under, so runs share a file unmixed)::

    telemetry (run_id, device_id, seq, emit_ns, recv_ns, topic, payload, signals)
    malformed (run_id, recv_ns, topic, payload, error)

``signals`` is the row's decoded values as JSON text, so a question about the data needs no
decoder: ``SELECT json_extract(signals, '$.temperature_c') FROM telemetry WHERE run_id = ?``.
It is text, not the bytes orjson returns: SQLite 3.45 and later read a BLOB given to the JSON
functions as its binary JSONB format, and older ones refuse it. Storing it costs about 1.2 µs of
CPU per row of 10 signals (encoding and the bigger pages; ``bench/sink_bench.py``), a fifth of
the ingest worker's budget per message, paid so that stored values can be queried at all.

A file written before run ids existed (tables without ``run_id`` and ``signals``) gets the
columns added in place when opened; its old rows keep ``NULL`` there.
"""

from __future__ import annotations

import errno
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from itertools import chain
from operator import itemgetter
from pathlib import Path

import orjson

from simulator.errors import SinkError
from simulator.sinks import ISLANDS_SQL, Malformed, Row, StoredDevice, check_run_id, stored_devices

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS telemetry (run_id TEXT, device_id TEXT, seq INTEGER, "
    "emit_ns INTEGER, recv_ns INTEGER, topic TEXT, payload BLOB, signals TEXT)",
    "CREATE TABLE IF NOT EXISTS malformed "
    "(run_id TEXT, recv_ns INTEGER, topic TEXT, payload BLOB, error TEXT)",
)
MAX_CHUNK_ROWS = 512
"""Most rows one INSERT statement carries (3,584 variables; SQLite allows 32,766 since 3.32,
999 before, and a smaller limit gives smaller chunks). A few hundred rows per statement already
take the per-statement costs off each row; bigger ones only bind longer holding the GIL."""
_COLUMNS = ("device_id", "seq", "emit_ns", "recv_ns", "topic", "signals", "payload")
"""The telemetry columns a row binds, in this order (the run id is a literal). A batch without
payloads (the default: they are not stored) binds all but the last, rather than a NULL a row:
a quarter of the sink's cost per row (docs/PERFORMANCE.md)."""
_ROW_VARIABLES = len(_COLUMNS)
_payload_of = itemgetter(5)
_ADDED_COLUMNS = {"telemetry": ("run_id TEXT", "signals TEXT"), "malformed": ("run_id TEXT",)}
"""Columns a file of the first version lacks, added by ALTER TABLE when it is opened."""

_REASONS = {
    "SQLITE_FULL": "disk_full",
    "SQLITE_BUSY": "locked",
    "SQLITE_LOCKED": "locked",
    "SQLITE_READONLY": "permission",
    "SQLITE_CANTOPEN": "permission",
    "SQLITE_PERM": "permission",
    "SQLITE_AUTH": "permission",
    "SQLITE_CONSTRAINT": "constraint",
}
"""Primary SQLite result code (the extended ones, e.g. ``SQLITE_BUSY_SNAPSHOT``, share it) to
the sink's failure reason."""

_OS_REASONS = {
    errno.ENOSPC: "disk_full",
    errno.EDQUOT: "disk_full",
    errno.EACCES: "permission",
    errno.EPERM: "permission",
    errno.EROFS: "permission",
}


_OPEN_RETRY_FIRST_S = 0.01
_OPEN_RETRY_MAX_S = 0.25
"""How long an open that found the file locked waits before trying again: doubling from the
first, up to the most, within the busy timeout."""


def failure_reason(exc: BaseException) -> str:
    """The sink failure reason (one of :data:`simulator.sinks.REASONS`) for an SQLite or OS error.

    SQLite errors are told apart by their result code name (``sqlite_errorname``, Python 3.11),
    which says what happened in every locale and every SQLite version; an error raised before
    SQLite ran (binding a value of a type it cannot store) has none and is ``other``.
    """
    if isinstance(exc, OSError):
        return _OS_REASONS.get(exc.errno or 0, "other")
    name: str = getattr(exc, "sqlite_errorname", "") or ""
    primary = "_".join(name.split("_")[:2])
    if primary in _REASONS:
        return _REASONS[primary]
    return "disk_full" if "disk is full" in str(exc) else "other"


class SqliteSink:
    """Writes telemetry into tables ``telemetry`` and ``malformed`` of one SQLite file.

    The connection is opened with ``check_same_thread=False`` so the ingest worker can create
    the sink on its event loop and write from its single writer thread; only one thread may use
    the sink at a time. WAL with ``synchronous=NORMAL`` means a batch is durable against a crash
    of this process, though the last batches may be lost if the machine loses power.

    Another writer on the same file (a second run, a person with the sqlite3 shell) makes a batch
    wait up to ``busy_timeout_s`` for its lock rather than fail at once. Each batch starts with
    ``BEGIN IMMEDIATE``, which takes the write lock up front: that is where SQLite's busy handler
    waits. A deferred ``BEGIN`` would take it at the first insert, where in WAL mode a writer
    that began as a reader can get ``SQLITE_BUSY`` without the handler ever being called.
    """

    kind = "sqlite"

    def __init__(self, path: Path, run_id: str, *, busy_timeout_s: float = 10.0) -> None:
        """Open (creating the file, its parent directories and the tables, and adding the columns
        a file of the first version lacks) the database at ``path`` for the run ``run_id``.

        Raises ValueError for a malformed run id, SinkError (with a reason) if the file cannot be
        opened or prepared.
        """
        self.path = path
        self.run_id = check_run_id(run_id)
        self._rows_written = 0
        # The run id is checked to be plain characters, so it sits in the SQL as a literal and
        # the per-row values need not carry it.
        self._inserts: dict[tuple[int, int], str] = {}
        """The INSERT of ``n`` rows of ``k`` values each, by ``(n, k)``: ``n`` a power of two up
        to :attr:`_chunk`, ``k`` the first ``k`` of :data:`_COLUMNS`."""
        self._chunk = 1
        self._insert_malformed = (
            "INSERT INTO malformed (run_id, recv_ns, topic, payload, error) "
            f"VALUES ('{run_id}', ?, ?, ?, ?)"
        )
        self._conn: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are opened explicitly, one per batch. ``timeout`` is
            # SQLite's busy timeout, the wait for another connection's lock.
            conn = sqlite3.connect(
                path, timeout=busy_timeout_s, check_same_thread=False, isolation_level=None
            )
        except (OSError, sqlite3.Error) as exc:
            raise SinkError(f"sqlite sink {path}: cannot open: {exc}", failure_reason(exc)) from exc
        deadline = time.monotonic() + busy_timeout_s
        wait_s = _OPEN_RETRY_FIRST_S
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                self._prepare(conn)
                (last,) = conn.execute("SELECT max(rowid) FROM telemetry").fetchone()
                break
            except sqlite3.Error as exc:
                # Switching a file to WAL, or reading one another connection is switching or
                # recovering, can fail with SQLITE_BUSY without the busy handler being called:
                # several workers opening one new file at once. Tried again until the timeout.
                if failure_reason(exc) == "locked" and time.monotonic() + wait_s < deadline:
                    time.sleep(wait_s)
                    wait_s = min(2 * wait_s, _OPEN_RETRY_MAX_S)
                    continue
                conn.close()
                raise SinkError(
                    f"sqlite sink {path}: cannot open: {exc}", failure_reason(exc)
                ) from exc
        self._conn = conn
        # As many rows per statement as SQLite allows variables for, up to MAX_CHUNK_ROWS.
        variables = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        while self._chunk * 2 <= MAX_CHUNK_ROWS and self._chunk * 2 * _ROW_VARIABLES <= variables:
            self._chunk *= 2
        self.rows_before = int(last or 0)
        """Telemetry rows the file held when opened (earlier runs), read from the largest rowid:
        exact unless rows were deleted; this sink's rows follow them."""

    @staticmethod
    def _prepare(conn: sqlite3.Connection) -> None:
        # One write transaction, so two sinks opening a new or old file at once neither race
        # to create the tables nor both add a column: the second reads the schema after the
        # first has committed.
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA:
                conn.execute(statement)
            for table, columns in _ADDED_COLUMNS.items():
                present = {info[1] for info in conn.execute(f"PRAGMA table_info({table})")}
                for column in columns:
                    if column.split()[0] not in present:
                        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise

    @property
    def rows_written(self) -> int:
        """How many rows have been committed by this sink."""
        return self._rows_written

    def _connection(self, size: int, what: str) -> sqlite3.Connection:
        if self._conn is None:
            raise SinkError(
                f"sqlite sink {self.path}: cannot write {size} {what}: the sink is closed", "closed"
            )
        return self._conn

    def _commit(self, size: int, what: str, write: Callable[[sqlite3.Connection], object]) -> None:
        """Run ``write`` (storing ``size`` ``what``) in one transaction; SinkError if it fails."""
        conn = self._connection(size, what)
        try:
            conn.execute("BEGIN IMMEDIATE")
            write(conn)
            conn.execute("COMMIT")
        except (sqlite3.Error, OverflowError) as exc:
            # OverflowError is an integer beyond SQLite's 64 bits, met while binding. SQLite rolls
            # some failures back by itself (a full disk may); whatever is left of the
            # transaction goes, so the next batch starts clean.
            if conn.in_transaction:
                try:
                    conn.rollback()
                except sqlite3.Error as rollback_exc:
                    exc.add_note(f"and rolling back failed too: {rollback_exc}")
            raise SinkError(
                f"sqlite sink {self.path}: could not write a batch of {size} {what}: {exc}",
                failure_reason(exc),
            ) from exc

    def _insert(self, rows: int, width: int) -> str:
        """The INSERT of ``rows`` rows of ``width`` values (made once per shape: a handful)."""
        sql = self._inserts.get((rows, width))
        if sql is None:
            columns = ", ".join(_COLUMNS[:width])
            row = f"('{self.run_id}'" + ", ?" * width + ")"
            sql = self._inserts[rows, width] = (
                f"INSERT INTO telemetry (run_id, {columns}) VALUES " + ", ".join([row] * rows)
            )
        return sql

    def _insert_values(
        self, conn: sqlite3.Connection, values: Sequence[object], width: int
    ) -> None:
        """Insert the rows whose values lie flat in ``values``, ``width`` to a row, a chunk per
        statement: as many rows as fit, then halving, so a batch of any size takes few
        statements of few sizes."""
        rows = len(values) // width
        start = 0
        chunk = self._chunk
        while start < rows:
            while chunk > rows - start:
                chunk //= 2
            end = start + chunk
            conn.execute(self._insert(chunk, width), values[start * width : end * width])
            start = end

    def write_batch(self, rows: Sequence[Row]) -> None:
        """Insert ``rows`` in one transaction, their values as JSON text in ``signals``.

        Many rows go in one statement (:data:`MAX_CHUNK_ROWS`), not one statement each
        (``executemany``): the sqlite3 module gives up the GIL around every statement it steps,
        and a writer thread that needs it back while the event loop thread is busy decoding
        waits a switch interval (5 ms) each time. One statement per row made the writer crawl
        at a few thousand rows per second whenever messages kept arriving, so batches were
        committed mostly while reading was paused, in bursts. Many rows per statement also cost
        less CPU (``bench/ingest_replay.py``, docs/PERFORMANCE.md).
        """
        self._connection(len(rows), "rows")
        if not rows:
            return
        dumps = orjson.dumps
        try:
            # ``default=dict`` turns a values mapping that is not a dict into one. Unpacking
            # each row in the loop's target is a fifth cheaper than slicing and re-packing it.
            fields: Iterator[tuple[object, ...]] = (
                (device_id, seq, emit_ns, recv_ns, topic, dumps(signals, default=dict).decode())
                for device_id, seq, emit_ns, recv_ns, topic, _, signals in rows
            )
            payloads = list(map(_payload_of, rows))
            width = _ROW_VARIABLES
            if payloads.count(None) == len(rows):  # none at all; b"" is a payload
                width -= 1
            else:
                fields = ((*row, payload) for row, payload in zip(fields, payloads, strict=True))
            values = list(chain.from_iterable(fields))
        except orjson.JSONEncodeError as exc:
            raise SinkError(
                f"sqlite sink {self.path}: could not write a batch of {len(rows)} rows: "
                f"values not storable as JSON: {exc}"
            ) from exc
        self._commit(len(rows), "rows", lambda conn: self._insert_values(conn, values, width))
        self._rows_written += len(rows)

    def write_malformed(self, items: Sequence[Malformed]) -> None:
        """Insert ``items`` in one transaction."""
        self._connection(len(items), "malformed messages")
        if items:
            sql = self._insert_malformed
            self._commit(
                len(items), "malformed messages", lambda conn: conn.executemany(sql, items)
            )

    def read_stored(self) -> Iterator[StoredDevice]:
        """This run's telemetry in the file, device by device (see :meth:`Sink.read_stored`).

        One statement, read as it goes: SQLite groups the run's rows into islands of
        consecutive sequence numbers (a device that lost nothing is one row), so memory grows
        with the devices, not the rows. The file has no index on the run id (every insert
        would pay for one), so this scans the table once: seconds for millions of rows, paid
        only when a worker is restarted.
        """
        conn = self._conn
        if conn is None:
            raise SinkError(
                f"sqlite sink {self.path}: cannot read the run's rows: the sink is closed", "closed"
            )
        try:
            cursor = conn.execute(ISLANDS_SQL.format(run_id="?"), (self.run_id,))
            yield from stored_devices(cursor)
        except sqlite3.Error as exc:
            raise SinkError(
                f"sqlite sink {self.path}: cannot read the run's rows: {exc}", failure_reason(exc)
            ) from exc

    def close(self) -> None:
        """Close the connection (checkpointing the WAL into the file); harmless twice."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()
