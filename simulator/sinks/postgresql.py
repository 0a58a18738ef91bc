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
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import orjson
import psycopg
from psycopg import Copy
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import set_json_dumps

from simulator.errors import SinkError
from simulator.sinks import ISLANDS_SQL, Malformed, Row, StoredDevice, check_run_id, stored_devices

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
    "COPY telemetry (run_id, device_id, seq, emit_ns, recv_ns, topic, payload, signals) FROM STDIN"
)
_TEXT_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
"""What ``COPY``'s text format escapes in a field: the backslash and the separators."""
_FIELDS_KEPT = 1 << 16
"""Most escaped device ids and topics the sink remembers; past that it starts again."""
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

    Each batch is one transaction holding one ``COPY``, committed before :attr:`rows_written`
    counts it. Telemetry goes as one block of ``COPY`` text built here (see
    :meth:`write_batch`); psycopg's per-row binary ``write_row``, which took less CPU than its
    per-row text form (2.7 against 3.4 µs with 10 signals), costs twice the block's. The
    values go through orjson into ``jsonb``.

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
        self._escaped: dict[str, str] = {}
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

    def _failed(self, conn: psycopg.Connection[Any], exc: psycopg.Error, doing: str) -> SinkError:
        """The SinkError for ``exc``, met while ``doing``; a lost connection is dropped, so the
        next call connects again."""
        reason = failure_reason(exc, connection_broken=conn.broken or conn.closed)
        if reason == "connection_lost":
            self._conn = None
            conn.close()
        return SinkError(f"postgresql sink {self.display}: {doing}: {exc}", reason)

    def _copy(self, statement: str, size: int, what: str, write: Callable[[Copy], None]) -> None:
        conn = self._connection(size, what)
        try:
            with conn.transaction(), conn.cursor() as cursor, cursor.copy(statement) as copy:
                write(copy)
        except (OverflowError, TypeError, ValueError) as exc:
            # Raised here, before the server saw the batch (values that are not JSON, a number
            # beyond bigint in a malformed row); the transaction was rolled back on the way out.
            # The server refuses a telemetry number beyond bigint itself (SQLSTATE 22003).
            raise SinkError(
                f"postgresql sink {self.display}: could not write a batch of {size} "
                f"{what}: a value cannot be stored: {exc}"
            ) from exc
        except psycopg.Error as exc:
            raise self._failed(conn, exc, f"could not write a batch of {size} {what}") from exc

    def write_batch(self, rows: Sequence[Row]) -> None:
        """Copy ``rows`` in one transaction, their values into ``signals`` as jsonb.

        The rows go as one block of ``COPY`` text made here, not row by row through psycopg's
        dumpers: 2.3 against 4.8 µs of this process's CPU per row (machine-sensor rows of
        ``bench/ingest_replay.py``, batches of 1,000, side by side).
        """
        self._connection(len(rows), "rows")
        if rows:
            data = self._copy_text(rows)
            self._copy(_COPY_ROWS, len(rows), "rows", lambda copy: copy.write(data))
            self._rows_written += len(rows)

    def _copy_text(self, rows: Sequence[Row]) -> bytes:
        """``rows`` as ``COPY`` text: tab-separated fields, ``\\N`` for NULL, bytea in hex,
        and the backslash, tab, newline and carriage return escaped in every text field."""
        dumps = orjson.dumps
        known = self._escaped.get
        field = self._field
        run_id = self.run_id
        lines: list[str] = []
        add = lines.append
        for device_id, seq, emit_ns, recv_ns, topic, payload, values in rows:
            signals = dumps(values, default=dict).decode()
            if "\\" in signals:  # JSON escapes: the backslash is COPY's escape character too
                signals = signals.replace("\\", "\\\\")
            stored = "\\N" if payload is None else "\\\\x" + payload.hex()
            add(
                f"{run_id}\t{known(device_id) or field(device_id)}\t{seq}\t{emit_ns}\t"
                f"{recv_ns}\t{known(topic) or field(topic)}\t{stored}\t{signals}\n"
            )
        return "".join(lines).encode()

    def _field(self, text: str) -> str:
        """``text`` escaped for ``COPY``, remembered: device ids and topics come back again and
        again."""
        escaped = self._escaped.get(text)
        if escaped is None:
            if len(self._escaped) >= _FIELDS_KEPT:
                self._escaped.clear()
            escaped = self._escaped[text] = text.translate(_TEXT_ESCAPES)
        return escaped

    def write_malformed(self, items: Sequence[Malformed]) -> None:
        """Copy ``items`` in one transaction."""
        self._connection(len(items), "malformed messages")
        if items:
            run_id = self.run_id

            def write(copy: Copy) -> None:
                copy.set_types(_MALFORMED_TYPES)
                for item in items:
                    copy.write_row((run_id, *item))

            self._copy(_COPY_MALFORMED, len(items), "malformed messages", write)

    def read_stored(self) -> Iterator[StoredDevice]:
        """This run's telemetry in the database, device by device (see
        :meth:`Sink.read_stored`).

        The server groups the run's rows (found through the ``run_id`` index) into islands
        of consecutive sequence numbers, and a server-side cursor hands them over a block at
        a time, so neither side holds the whole run. A lost connection is dropped, as a
        write's is, and the next call connects again.
        """
        if self._closed:
            raise SinkError(
                f"postgresql sink {self.display}: cannot read the run's rows: the sink is closed",
                "closed",
            )
        conn = self._conn if self._conn is not None else self._connect("reconnect to read")
        self._conn = conn
        try:
            with conn.transaction(), conn.cursor(name="stored") as cursor:
                cursor.itersize = 10_000
                cursor.execute(ISLANDS_SQL.format(run_id="%s"), (self.run_id,))
                yield from stored_devices(cursor)
        except psycopg.Error as exc:
            raise self._failed(conn, exc, "cannot read the run's rows") from exc

    def close(self) -> None:
        """Close the connection; harmless twice."""
        self._closed = True
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()
