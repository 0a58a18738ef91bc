"""PostgreSQL through ``COPY``: one transaction per batch, reconnecting after a lost server.

Tables (created when missing; every row carries its run id)::

    telemetry (run_id text, device_id text, seq bigint, emit_ns bigint, recv_ns bigint,
               topic text, payload bytea, signals jsonb)
    malformed (run_id text, recv_ns bigint, topic text, payload bytea, error text)

``signals`` is ``jsonb``, so ``SELECT signals->>'temperature_c' FROM telemetry WHERE run_id = $1``
needs no decoder. ``telemetry`` has a btree index on ``run_id``, since every question about
one run filters on it and a sequential scan of a shared table grows with every run it holds.
It is cheap to keep: a btree over few distinct keys appends to its rightmost leaf and
deduplicates the keys. ``bench/sink_bench.py`` (raw COPY with and without it, batches of 1000)
found under 0.1 µs of this process's CPU per row and 0 to 1 µs of the server's, of about 10 µs
the server spends per row anyway, within the run-to-run spread.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import orjson
import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import set_json_dumps

from simulator.errors import SinkError
from simulator.sinks import Malformed, Row, check_run_id

_SCHEMA = (
    # Serialises schema creation between sinks opening an empty database at the same moment:
    # two concurrent CREATE TABLE IF NOT EXISTS can both pass the check and one then fails.
    "SELECT pg_advisory_xact_lock(7215032406)",
    "CREATE TABLE IF NOT EXISTS telemetry (run_id text, device_id text, seq bigint, "
    "emit_ns bigint, recv_ns bigint, topic text, payload bytea, signals jsonb)",
    "CREATE INDEX IF NOT EXISTS telemetry_run_id ON telemetry (run_id)",
    "CREATE TABLE IF NOT EXISTS malformed "
    "(run_id text, recv_ns bigint, topic text, payload bytea, error text)",
)
_COPY_ROWS = (
    "COPY telemetry (run_id, device_id, seq, emit_ns, recv_ns, topic, payload, signals) "
    "FROM STDIN (FORMAT BINARY)"
)
_ROW_TYPES = ("text", "text", "int8", "int8", "int8", "text", "bytea", "jsonb")
_COPY_MALFORMED = (
    "COPY malformed (run_id, recv_ns, topic, payload, error) FROM STDIN (FORMAT BINARY)"
)
_MALFORMED_TYPES = ("text", "int8", "text", "bytea", "text")

_CONNECTION_LOST_STATES = ("57P01", "57P02", "57P03")
"""admin_shutdown (the server stopping, pg_terminate_backend), crash_shutdown, cannot_connect_now
(starting up or shutting down): the session is gone, a new one may work."""


_dumps = functools.partial(orjson.dumps, default=dict)
"""What the jsonb dumper serialises values with: orjson, several times faster than the standard
library's json; ``default=dict`` takes a values mapping that is not a dict."""


def failure_reason(exc: psycopg.Error, *, connection_broken: bool = False) -> str:
    """The sink failure reason (one of :data:`simulator.sinks.REASONS`) for a psycopg error.

    Decided by SQLSTATE, which names the condition whatever the server's language; an error
    without one (the socket closed, the server refused the connection) or one that left the
    connection broken is ``connection_lost``.
    """
    state = exc.sqlstate or ""
    if connection_broken or state.startswith("08") or state in _CONNECTION_LOST_STATES:
        return "connection_lost"
    if state.startswith("53"):
        # 53100 disk_full, and the other insufficient-resources conditions (out of memory, too
        # many connections): all mean the server has no room for more now.
        return "disk_full"
    if state in ("55P03", "40P01"):
        return "locked"
    if state == "42501" or state.startswith("28"):
        return "permission"
    if state.startswith("23"):
        return "constraint"
    if not state and isinstance(exc, psycopg.OperationalError):
        return "connection_lost"
    return "other"


def display_conninfo(conninfo: str) -> str:
    """``postgresql://user@host:port/db`` for a URL or ``key=value`` connection string: what a
    message or a report may show (never the password)."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "postgresql://(unparsable connection string)"
    user = params.get("user")
    host = params.get("host") or "localhost"
    port = params.get("port") or 5432
    dbname = params.get("dbname") or user or ""
    return f"postgresql://{f'{user}@' if user else ''}{host}:{port}/{dbname}"


class PostgresSink:
    """Writes telemetry into tables ``telemetry`` and ``malformed`` of a PostgreSQL database.

    Each batch is one transaction holding one binary ``COPY``, committed before
    :attr:`rows_written` counts it. Binary rather than text ``COPY`` because on this project's
    machine it took less CPU per row in this process (2.7 against 3.4 µs with 10 signals,
    measured side by side while choosing; the server's share was the same): ints and bytes go
    as they are instead of being formatted and escaped. The values go through orjson into
    ``jsonb``.

    A lost connection (the server stopped or restarted, the session terminated) fails the batch
    with reason ``connection_lost`` and drops the connection; the next call connects again
    first, and fails the same way while the server stays away. Only one thread may use the sink
    at a time.
    """

    kind = "postgresql"

    def __init__(self, conninfo: str, run_id: str, *, connect_timeout_s: float = 10.0) -> None:
        """Connect to the database of ``conninfo`` (a URL or ``key=value`` string) for the run
        ``run_id`` and create the tables if missing.

        Raises ValueError for a malformed run id, SinkError (with a reason) if the server cannot
        be reached or the tables cannot be made.
        """
        self.run_id = check_run_id(run_id)
        self.display = display_conninfo(conninfo)
        """Where the rows go, for messages: the connection string without its password."""
        self._conninfo = conninfo
        # libpq takes whole seconds and treats 1 as 2.
        self._connect_timeout = max(2, math.ceil(connect_timeout_s))
        self._rows_written = 0
        self._closed = False
        self._conn: psycopg.Connection[Any] | None = self._connect("open")
        self.rows_before = self._estimate_rows()
        """An estimate of the telemetry rows the database held when opened (other runs), from
        the planner's statistics (``pg_class.reltuples``, as of the last VACUUM or ANALYZE; 0
        if never gathered): an exact ``count(*)`` reads the whole table, which may hold
        billions of rows."""

    @property
    def rows_written(self) -> int:
        """How many rows have been committed by this sink."""
        return self._rows_written

    def _connect(self, doing: str) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(self._conninfo, connect_timeout=self._connect_timeout)
        except psycopg.Error as exc:
            raise SinkError(
                f"postgresql sink {self.display}: cannot {doing}: {exc}", failure_reason(exc)
            ) from exc
        set_json_dumps(_dumps, conn)
        try:
            with conn.transaction():
                for statement in _SCHEMA:
                    conn.execute(statement)
        except psycopg.Error as exc:
            conn.close()
            raise SinkError(
                f"postgresql sink {self.display}: cannot create the tables: {exc}",
                failure_reason(exc),
            ) from exc
        return conn

    def _estimate_rows(self) -> int:
        conn = self._conn
        assert conn is not None  # just connected
        try:
            with conn.transaction():
                found = conn.execute(
                    "SELECT reltuples FROM pg_class WHERE oid = 'telemetry'::regclass"
                ).fetchone()
        except psycopg.Error as exc:
            conn.close()
            raise SinkError(
                f"postgresql sink {self.display}: cannot open: {exc}", failure_reason(exc)
            ) from exc
        # -1 means the table was never analysed.
        return max(0, int(found[0])) if found else 0

    def _connection(self, size: int, what: str) -> psycopg.Connection[Any]:
        if self._closed:
            raise SinkError(
                f"postgresql sink {self.display}: cannot write {size} {what}: the sink is closed",
                "closed",
            )
        if self._conn is None:
            self._conn = self._connect(f"reconnect to write {size} {what}")
        return self._conn

    def _copy(
        self, statement: str, types: Sequence[str], records: Sequence[Sequence[Any]], what: str
    ) -> None:
        conn = self._connection(len(records), what)
        try:
            with conn.transaction(), conn.cursor() as cursor, cursor.copy(statement) as copy:
                copy.set_types(types)
                write = copy.write_row
                run_id = self.run_id
                for record in records:
                    write((run_id, *record))
        except (OverflowError, TypeError, ValueError) as exc:
            # Raised here, before the server saw the row (a number beyond bigint, values that
            # are not JSON); the transaction was rolled back on the way out.
            raise SinkError(
                f"postgresql sink {self.display}: could not write a batch of {len(records)} "
                f"{what}: a value cannot be stored: {exc}"
            ) from exc
        except psycopg.Error as exc:
            lost = conn.broken or conn.closed
            reason = failure_reason(exc, connection_broken=lost)
            if reason == "connection_lost":
                self._conn = None
                conn.close()
            raise SinkError(
                f"postgresql sink {self.display}: could not write a batch of {len(records)} "
                f"{what}: {exc}",
                reason,
            ) from exc

    def write_batch(self, rows: Sequence[Row]) -> None:
        """Copy ``rows`` in one transaction, their values into ``signals`` as jsonb."""
        self._connection(len(rows), "rows")
        if rows:
            self._copy(_COPY_ROWS, _ROW_TYPES, rows, "rows")
            self._rows_written += len(rows)

    def write_malformed(self, items: Sequence[Malformed]) -> None:
        """Copy ``items`` in one transaction."""
        self._connection(len(items), "malformed messages")
        if items:
            self._copy(_COPY_MALFORMED, _MALFORMED_TYPES, items, "malformed messages")

    def close(self) -> None:
        """Close the connection; harmless twice."""
        self._closed = True
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()
