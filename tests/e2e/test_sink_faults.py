"""Real storage faults during a whole run: the report still comes, its numbers add up against
the database itself, and the exit code says what happened.

Each test causes the fault for real: a filesystem that fills up (a 600 KB tmpfs), a second
process holding the SQLite file locked, the ingest worker killed with SIGKILL (and restarted),
PostgreSQL stopped. "Adds up" is checked against the storage, not against the report's own
arithmetic: the distinct (device, sequence) pairs stored under the run's id must be the report's
``messages.ingested``, and ``published == ingested + lost``.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.e2e.test_cli import ROOT
from tests.postgres import PostgresCluster
from tests.processes import children_running

pytestmark = [pytest.mark.broker, pytest.mark.slow]

WAIT_S = 60.0


def scenario(directory: Path, sink: str, *, retry_s: float, busy_s: float = 0.2) -> Path:
    """100 devices at 10 msg/s each for 4 s: about 4,000 rows, stored at ``sink``."""
    path = directory / "faulty.toml"
    path.write_text(
        'name = "faulty"\n'
        "duration_s = 4.0\n"
        "[fleet]\ndevices = 100\npublish_interval_s = 0.1\n"
        "[onboarding]\nrate_per_s = 1000.0\n"
        f"[ingest]\nsink = {json.dumps(sink)}\nsink_retry_s = {retry_s}\n"
        f"sqlite_busy_timeout_s = {busy_s}\nbatch_size = 200\ndrain_timeout_s = 10.0\n"
    )
    return path


@contextmanager
def run_in_background(
    directory: Path, scenario_path: Path, *args: str, new_session: bool = False
) -> Iterator[subprocess.Popen[str]]:
    """``factory-sim run`` (with ``args``) as a child process, in a session (and process
    group) of its own with ``new_session``, as a terminal starts it; its report goes to
    ``directory/report.json``."""
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            "run",
            str(scenario_path),
            "--report",
            str(directory / "report.json"),
            *args,
        ],
        cwd=directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=new_session,
    ) as run:
        try:
            yield run
        finally:
            if run.poll() is None:
                run.send_signal(signal.SIGINT)
                run.wait(timeout=30)


def finish(run: subprocess.Popen[str]) -> tuple[int, str]:
    output, _ = run.communicate(timeout=120)
    return run.returncode, output


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def sqlite_rows(path: Path, run_id: str | None = None) -> int:
    """Distinct (device, seq) pairs stored (of ``run_id``, or of any run); 0 before the table."""
    if not path.exists():
        return 0
    with sqlite3.connect(path, timeout=5) as db:
        try:
            where = " WHERE run_id = ?" if run_id is not None else ""
            params = (run_id,) if run_id is not None else ()
            (count,) = db.execute(
                f"SELECT count(*) FROM (SELECT DISTINCT device_id, seq FROM telemetry{where})",
                params,
            ).fetchone()
        except sqlite3.OperationalError:
            return 0
    return int(count)


def assert_adds_up(report: dict[str, Any], stored: int) -> None:
    messages = report["messages"]
    assert messages["ingested"] == stored
    assert messages["published"] == messages["ingested"] + messages["lost"]
    assert messages["published"] > 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 600 KB filesystem of our own, gone afterwards."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_disk_is_counted_as_lost_rows_and_fails_the_run(
    tmp_path: Path, small_disk: Path
) -> None:
    database = small_disk / "rows.sqlite"
    with run_in_background(
        tmp_path, scenario(tmp_path, f"sqlite:///{database}", retry_s=1.0)
    ) as run:
        code, output = finish(run)
    report = json.loads((tmp_path / "report.json").read_text())
    sink = report["sink"]
    assert code == 1, output
    assert sink["failed_rows"] > 0
    assert set(sink["errors"]) == {"disk_full"}
    assert sink["errors"]["disk_full"] == sink["failed_rows"]
    assert report["messages"]["lost"] > 0
    assert_adds_up(report, sqlite_rows(database, sink["run_id"]))
    assert "NOT stored (disk_full" in output
    assert "rows could not be stored" in output


@pytest.mark.parametrize(("lock_s", "retry_s"), [(0.6, 10.0), (3.0, 0.5)], ids=["brief", "long"])
def test_a_locked_file_is_waited_for_and_only_a_long_lock_loses_rows(
    tmp_path: Path, lock_s: float, retry_s: float
) -> None:
    database = tmp_path / "rows.sqlite"
    with run_in_background(
        tmp_path, scenario(tmp_path, f"sqlite:///{database}", retry_s=retry_s)
    ) as run:
        wait_for(lambda: sqlite_rows(database) > 500, "the run to store some rows")
        locker = sqlite3.connect(database, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        time.sleep(lock_s)  # the fault itself: another process holds the file this long
        locker.execute("ROLLBACK")
        locker.close()
        code, output = finish(run)
    report = json.loads((tmp_path / "report.json").read_text())
    sink = report["sink"]
    assert_adds_up(report, sqlite_rows(database, sink["run_id"]))
    if lock_s < retry_s:
        assert code == 0, output
        assert sink["failed_rows"] == 0
        assert report["messages"]["lost"] == 0
        assert sink["retries"] > 0  # it did meet the lock
    else:
        assert code == 1, output
        assert sink["failed_rows"] > 0
        assert set(sink["errors"]) == {"locked"}


def ingest_child_of(pid: int) -> int:
    """The pid of the ingest worker that run ``pid`` started."""
    found = children_running(pid, "simulator", "ingest")
    assert found, f"run {pid} has no ingest child"
    return found[0]


def test_a_killed_ingest_worker_is_restarted_and_at_qos0_what_it_missed_is_lost(
    tmp_path: Path,
) -> None:
    """At QoS 0 on a clean session nobody keeps messages for a dead worker: the run starts it
    again (tests/e2e/test_ingest_restart.py has the kept session that loses nothing), and what
    was published meanwhile, or batched and not yet committed, is counted lost, exactly."""
    database = tmp_path / "rows.sqlite"
    with run_in_background(
        tmp_path, scenario(tmp_path, f"sqlite:///{database}", retry_s=1.0)
    ) as run:
        wait_for(lambda: sqlite_rows(database) > 200, "the run to store some rows")
        os.kill(ingest_child_of(run.pid), signal.SIGKILL)
        code, output = finish(run)
    report = json.loads((tmp_path / "report.json").read_text())
    assert code == 1, output
    assert report["ingest"]["status"] == "ok"
    assert report["ingest"]["restarts"] == 1
    assert report["messages"]["lost"] > 0
    assert_adds_up(report, sqlite_rows(database, report["sink"]["run_id"]))
    assert "restarted it on a new session" in output
    assert "messages were lost" in output


@pytest.mark.postgres
def test_postgresql_stopped_mid_run_counts_what_it_could_not_store(
    tmp_path: Path, postgres_cluster: PostgresCluster, postgres_url: str
) -> None:
    def stored(run_id: str | None = None) -> int:
        with psycopg.connect(postgres_url) as db:
            exists = db.execute("SELECT to_regclass('telemetry')").fetchone()
            if exists is None or exists[0] is None:
                return 0
            where, params = ("WHERE run_id = %s", (run_id,)) if run_id else ("", ())
            row = db.execute(
                f"SELECT count(*) FROM (SELECT DISTINCT run_id, device_id, seq FROM telemetry "
                f"{where}) AS s",
                params,
            ).fetchone()
            return int(row[0]) if row is not None else 0

    before = stored()
    try:
        with run_in_background(tmp_path, scenario(tmp_path, postgres_url, retry_s=1.0)) as run:
            wait_for(lambda: stored() > before + 500, "the run to store some rows")
            postgres_cluster.stop()
            code, output = finish(run)
    finally:
        postgres_cluster.start()
    report = json.loads((tmp_path / "report.json").read_text())
    sink = report["sink"]
    assert code == 1, output
    assert sink["kind"] == "postgresql"
    assert sink["failed_rows"] > 0
    assert set(sink["errors"]) == {"connection_lost"}
    assert "sim-secret" not in output  # the password never shows
    assert_adds_up(report, stored(sink["run_id"]))
