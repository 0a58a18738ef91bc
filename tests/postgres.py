"""A private PostgreSQL server for tests and benchmarks, started from the system's binaries.

:class:`PostgresCluster` runs ``initdb`` and ``pg_ctl`` from the newest
``/usr/lib/postgresql/*/bin`` into a temporary directory: its own data directory, its unix
socket inside that directory, TCP on a free port of 127.0.0.1 only, so it never meets another
server on the machine. PostgreSQL refuses to run as root, so as root every server command runs
as the ``postgres`` system user (``runuser``) in a directory it owns. The only process it ever
stops is its own postmaster, through ``pg_ctl`` on its own data directory.

The fixtures (registered in ``tests/conftest.py``): ``postgres_cluster`` (session-scoped: one
server for the whole run, with :meth:`~PostgresCluster.stop` and :meth:`~PostgresCluster.start`
for tests of a stopped server) and ``postgres_url`` (a password-protected role's URL). Missing
binaries make them fail with what to install, never skip: a ``postgres`` test that did not run
must not look like one that passed. ``bench/sink_bench.py`` starts its server through the same
class.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import psycopg
import pytest

USER = "sim"
PASSWORD = "sim-secret"
DATABASE = "telemetry"

_SERVER_BINARIES = Path("/usr/lib/postgresql")


def find_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that holds ``initdb``.

    Raises FileNotFoundError saying what to install when there is none.
    """
    found = [p.parent for p in _SERVER_BINARIES.glob("*/bin/initdb") if os.access(p, os.X_OK)]
    if not found:
        raise FileNotFoundError(
            f"no PostgreSQL server binaries (no {_SERVER_BINARIES}/*/bin/initdb): run "
            "scripts/setup as root, or install them (e.g. 'sudo apt-get install -y postgresql')"
        )

    def version(bin_dir: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name))

    return max(found, key=version)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class PostgresCluster:
    """One private PostgreSQL server: :meth:`create` once, :meth:`start`/:meth:`stop` at will,
    :meth:`destroy` at the end.

    ``settings`` are server settings given at every start (``fsync=off`` makes the tests
    faster; the benchmark keeps the defaults).
    """

    def __init__(self, settings: Mapping[str, str] | None = None) -> None:
        self.bin_dir = find_bin_dir()
        self.settings = dict(settings or {})
        self.root = Path(tempfile.mkdtemp(prefix="factory-sim-pg-"))
        self.data_dir = self.root / "data"
        self.log_file = self.root / "server.log"
        self.port = _free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")

    @property
    def url(self) -> str:
        """The URL of the password-protected role that owns the test database."""
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    def admin_connect(self) -> psycopg.Connection[tuple[object, ...]]:
        """An autocommit connection as the superuser, over the private unix socket."""
        return psycopg.connect(
            host=str(self.root), port=self.port, user="postgres", dbname="postgres", autocommit=True
        )

    def _run(self, *command: str) -> None:
        argv = [str(self.bin_dir / command[0]), *command[1:]]
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            log = self.log_file.read_text() if self.log_file.exists() else ""
            raise RuntimeError(
                f"{' '.join(argv)} exited with {done.returncode}:\n{done.stdout}{done.stderr}{log}"
            )

    def create(self) -> None:
        """initdb, start, and make the role with a password and its database."""
        # Local (unix socket) connections are the superuser's, inside a directory only the
        # server's user can reach; TCP needs the role's password.
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth-local=trust",
            "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-instructions",
        )  # fmt: skip
        self.start()
        with self.admin_connect() as admin:
            admin.execute(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")
            admin.execute(f"CREATE DATABASE {DATABASE} OWNER {USER}")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-c port={self.port}",
            f"-c unix_socket_directories={self.root}",
            *(f"-c {name}={value}" for name, value in self.settings.items()),
        ]
        self._run(
            "pg_ctl", "start", "-w", "-D", str(self.data_dir), "-l", str(self.log_file),
            "-o", " ".join(options),
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server (fast: open sessions are terminated) and wait until it is down."""
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data_dir))

    def destroy(self) -> None:
        """Stop the server if it runs and remove its directory."""
        if (self.data_dir / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One private PostgreSQL server for the session; fails (never skips) without binaries.

    A test that stops it starts it again before it ends (in a ``finally``).
    """
    try:
        cluster = PostgresCluster({"fsync": "off", "synchronous_commit": "off"})
    except FileNotFoundError as exc:
        pytest.fail(str(exc))
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """``postgresql://user:password@127.0.0.1:PORT/db`` of the private server's test role."""
    return postgres_cluster.url
