"""A dead ingest worker is started again on its kept session and the run loses nothing.

Through the CLI with a real Mosquitto: devices publish at QoS 1 on kept sessions, the ingest
worker is killed with SIGKILL once it has committed rows (seen in the SQLite file, not after a
sleep), and the run starts it again with the same client id. The broker kept for that session
what the worker had not acknowledged (it acknowledges only committed rows) and what was
published while it was away; the new worker reads back what the dead one stored. Checked
against the file itself: every message the fleet published is there once under the run's
id, and the only rows beyond them are the duplicates the report counts.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from simulator.ingest.pool import MAX_RESTARTS
from tests.e2e.test_sink_faults import (
    finish,
    ingest_child_of,
    run_in_background,
    sqlite_rows,
    wait_for,
)

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def kept_session_scenario(
    directory: Path,
    database: Path,
    *,
    duration_s: float,
    workflow: str = "connect",
    brokers: int = 1,
) -> Path:
    """100 devices at 10 msg/s each, QoS 1, every session (the worker's too) kept 300 s,
    over ``brokers`` local Mosquittos."""
    path = directory / "restarted.toml"
    path.write_text(
        'name = "restarted"\n'
        f"duration_s = {duration_s}\n"
        f"[broker]\nclean_start = false\nsession_expiry_s = 300\ninstances = {brokers}\n"
        "[fleet]\ndevices = 100\npublish_interval_s = 0.1\nqos = 1\n"
        f'[onboarding]\nrate_per_s = 1000.0\nworkflow = "{workflow}"\n'
        f'[ingest]\nsink = "sqlite:///{database}"\nbatch_size = 200\ndrain_timeout_s = 30.0\n'
    )
    return path


def stored(database: Path, run_id: str) -> tuple[int, int]:
    """The run's rows in the file: all of them, and its distinct (device, sequence) pairs."""
    with sqlite3.connect(database) as db:
        (rows,) = db.execute(
            "SELECT count(*) FROM telemetry WHERE run_id = ?", (run_id,)
        ).fetchone()
    return int(rows), sqlite_rows(database, run_id)


def other_ingest_child(run_pid: int, killed: list[int]) -> bool:
    """Whether the run has an ingest worker that is not one of those already killed."""
    try:
        return ingest_child_of(run_pid) not in killed
    except AssertionError:
        return False  # between a death and the next start


def killed_once(tmp_path: Path, **keys: Any) -> tuple[str, dict[str, Any]]:
    """Run the kept-session scenario, SIGKILL an ingest worker once it has committed rows,
    and check that the run restarted it and lost nothing: every message published is in the
    file once under the run's id, the only rows beyond them the duplicates the report counts.
    Returns the run's output and report."""
    database = tmp_path / "rows.sqlite"
    scenario = kept_session_scenario(tmp_path, database, duration_s=6.0, **keys)
    with run_in_background(tmp_path, scenario) as run:
        wait_for(lambda: sqlite_rows(database) > 200, "the workers to commit some rows")
        os.kill(ingest_child_of(run.pid), signal.SIGKILL)
        code, output = finish(run)
    report = json.loads((tmp_path / "report.json").read_text())
    messages, ingest = report["messages"], report["ingest"]
    assert code == 0, output
    assert ingest["status"] == "ok"
    assert ingest["restarts"] == 1
    [death] = ingest["restart_reasons"]
    assert death["exit_status"] == -signal.SIGKILL
    assert "SIGKILL" in death["reason"]
    assert messages["lost"] == 0
    assert messages["ingested"] == messages["published"] > 0
    rows, distinct = stored(database, report["sink"]["run_id"])
    assert distinct == messages["published"]
    assert rows - distinct == messages["duplicated"]
    assert report["sink"]["committed_rows"] == rows
    assert "ingest worker restarted 1 time(s)" in output
    assert "restarted it on its kept session" in output
    return output, report


@pytest.mark.parametrize("workflow", ["connect", "register"])
def test_a_killed_worker_is_restarted_on_its_kept_session_and_nothing_is_lost(
    tmp_path: Path, workflow: str
) -> None:
    """Under ``register`` the worker also answered the registrations and hears the deaths
    sent on leaving, after its restart, and the onboarding funnel still adds up."""
    _, report = killed_once(tmp_path, workflow=workflow)
    if workflow == "register":
        funnel = report["onboarding"]["funnel"]["first_telemetry_ingested"]
        assert funnel["failed"] == 0
        assert funnel["reached"] + funnel["pending"] == 100
        assert report["onboarding"]["deaths"]["heard"] == 100


def test_a_killed_worker_of_a_broker_pool_is_restarted_and_nothing_is_counted_twice(
    tmp_path: Path,
) -> None:
    """Two local brokers, a worker on each, one SQLite file: the killed one's successor reads
    back only the devices its broker carried, so the run's figures match the file (read back
    with every device, its figures would count the other broker's twice)."""
    _, report = killed_once(tmp_path, brokers=2)
    assert len(report["broker"]["urls"]) == 2
    assert len(report["ingest"]["workers"]) == 2


def test_a_worker_killed_past_its_restarts_leaves_ingest_failed(tmp_path: Path) -> None:
    database = tmp_path / "rows.sqlite"
    scenario = kept_session_scenario(tmp_path, database, duration_s=15.0)
    killed: list[int] = []
    with run_in_background(tmp_path, scenario) as run:
        wait_for(lambda: sqlite_rows(database) > 200, "the worker to commit some rows")
        for _ in range(MAX_RESTARTS + 1):
            wait_for(lambda: other_ingest_child(run.pid, killed), "a worker not yet killed")
            pid = ingest_child_of(run.pid)
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        code, output = finish(run)
    report = json.loads((tmp_path / "report.json").read_text())
    ingest = report["ingest"]
    assert code == 1, output
    assert ingest["status"] == "failed"
    assert "status -9" in ingest["error"]
    assert ingest["restarts"] == MAX_RESTARTS
    assert [d["exit_status"] for d in ingest["restart_reasons"]] == [-9] * MAX_RESTARTS
    # What the fleet knows is all there; what ingest knew is unknown, not zero.
    assert report["devices"]["connected"] == 100
    assert report["messages"]["published"] > 0
    assert report["messages"]["ingested"] is None
    assert report["messages"]["lost"] is None
    assert "ingest figures are unknown" in output
