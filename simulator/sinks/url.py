"""Naming a sink by one string, opening it, and naming a run.

Accepted forms of a sink URL::

    sqlite:///relative/path.sqlite     a file, relative to the working directory
    sqlite:////absolute/path.sqlite    a file, absolute
    runs/ingest.sqlite                 any plain path: a SQLite file
    postgresql://user:pass@host:port/db   (or postgres://...) a PostgreSQL database

psycopg is imported only when a PostgreSQL target is opened or displayed, so runs that keep to
SQLite do not pay for loading it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from simulator.sinks import Sink, check_run_id
from simulator.sinks.sqlite import SqliteSink

ACCEPTED_FORMS = (
    "sqlite:///relative/path.sqlite, sqlite:////absolute/path.sqlite, a plain file path, "
    "postgresql://user:pass@host:port/db or postgres://user:pass@host:port/db"
)


@dataclass(frozen=True, slots=True)
class SinkTarget:
    """Where rows go, parsed and checked: a SQLite file or a PostgreSQL connection string."""

    kind: Literal["sqlite", "postgresql"]
    path: Path | None = None
    """The SQLite file (kind ``sqlite``)."""
    conninfo: str | None = None
    """The PostgreSQL URL as given, password included (kind ``postgresql``)."""

    def display(self) -> str:
        """The target as a URL for messages and reports, without the password."""
        if self.path is not None:
            return f"sqlite:///{self.path}"
        from simulator.sinks.postgresql import display_conninfo

        return display_conninfo(self.conninfo or "")


def parse_sink_url(text: str) -> SinkTarget:
    """Parse one of the accepted forms (see the module docstring) into a :class:`SinkTarget`.

    Raises ValueError naming the value and the accepted forms for anything else.
    """
    scheme, separator, rest = text.partition("://")
    if not separator:
        if text.strip():
            return SinkTarget("sqlite", path=Path(text))
        raise ValueError(f"sink {text!r} is empty; accepted: {ACCEPTED_FORMS}")
    if scheme == "sqlite":
        # sqlite:// + an empty host + /path: the path starts after the third slash.
        if not rest.startswith("/") or rest == "/":
            raise ValueError(
                f"sink {text!r} does not name a file (a SQLite URL has three slashes before a "
                f"relative path, four before an absolute one); accepted: {ACCEPTED_FORMS}"
            )
        return SinkTarget("sqlite", path=Path(rest[1:]))
    if scheme in ("postgresql", "postgres"):
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - checks that the port is a number
        except ValueError as exc:
            raise ValueError(f"sink {_masked(text)!r}: {exc}; accepted: {ACCEPTED_FORMS}") from exc
        if not parts.hostname and not parts.path.strip("/"):
            raise ValueError(
                f"sink {_masked(text)!r} names neither a host nor a database; "
                f"accepted: {ACCEPTED_FORMS}"
            )
        return SinkTarget("postgresql", conninfo=text)
    raise ValueError(f"sink {_masked(text)!r} is not a sink URL; accepted: {ACCEPTED_FORMS}")


def _masked(text: str) -> str:
    """``text`` with a password in ``scheme://user:password@`` replaced by ``***``, for errors."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", text)


def open_sink(target: SinkTarget, run_id: str, *, busy_timeout_s: float = 10.0) -> Sink:
    """Open the sink ``target`` names for the run ``run_id``.

    ``busy_timeout_s`` is how long a SQLite write waits for another writer's lock (PostgreSQL
    waits for row locks on its own and never needs one for ``COPY`` into a table). Raises
    SinkError with a reason if it cannot be opened, ValueError for a malformed run id.
    """
    if target.path is not None:
        return SqliteSink(target.path, run_id, busy_timeout_s=busy_timeout_s)
    from simulator.sinks.postgresql import PostgresSink

    return PostgresSink(target.conninfo or "", run_id)


_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def new_run_id(scenario_name: str, now_ns: int, seed_bytes: bytes | None = None) -> str:
    """A fresh run id: the scenario's name, the UTC time and 6 random hex digits, e.g.
    ``quickstart-20261207T011727Z-3f9a1c``.

    Readable (what ran, when) and sortable by time within a scenario; the random part tells
    apart runs started in the same second. ``now_ns`` is passed in so callers and tests own the
    clock; ``seed_bytes`` (at least 3 bytes) replaces ``os.urandom`` for a reproducible id.
    """
    random_part = (os.urandom(3) if seed_bytes is None else seed_bytes)[:3]
    if len(random_part) < 3:
        raise ValueError(f"seed_bytes needs at least 3 bytes, got {len(random_part)}")
    stamp = datetime.fromtimestamp(now_ns // 1_000_000_000, UTC).strftime("%Y%m%dT%H%M%SZ")
    # What is left of 64 characters after "-", the stamp, "-" and the random hex.
    name = _SLUG_UNSAFE.sub("-", scenario_name).strip("-")[:40] or "run"
    return check_run_id(f"{name}-{stamp}-{random_part.hex()}")
