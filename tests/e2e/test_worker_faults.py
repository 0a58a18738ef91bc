"""``[[faults]]`` in a run over worker processes (``run --workers``): each worker cuts its own
share of the connections, the coordinator restarts the broker it runs; the report has each
fault once, as one process would have reported it, and nothing is lost at QoS 1."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.commands import run_reported
from tests.scenario_files import scenario_file

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_workers_cut_their_connections_and_the_coordinator_restarts_the_broker(
    tmp_path: Path,
) -> None:
    scenario = scenario_file(
        tmp_path,
        "worker-faults",
        duration_s=8.0,
        seed=5,
        broker={"clean_start": False, "session_expiry_s": 300},
        fleet={"devices": 60, "publish_interval_s": 0.25, "qos": 1},
        onboarding={"reconnect_min_s": 0.1, "reconnect_max_s": 1.0},
        ingest={"sqlite_path": "rows.sqlite"},
        faults=[
            {"kind": "drop_connections", "at_s": 2.0, "share": 0.5},
            {"kind": "broker_restart", "at_s": 5.0, "down_s": 0.5},
        ],
    )
    done, report = run_reported("run", str(scenario), "--workers", "2", cwd=tmp_path)

    assert report["run"]["role"] == "merged"
    # The coordinator's part names the broker it started, as the workers' do.
    assert report["broker"]["urls"] == [report["broker"]["url"]]
    cut, restart = report["faults"]
    # Each worker cut half of its 30 connections; the merge adds the two up.
    assert cut["kind"] == "drop_connections"
    assert cut["detail"] == "cut 15 connections (15 devices), in each of 2"
    assert (cut["devices_before"], cut["devices_cut"], cut["devices_lost"]) == (60, 30, 30)
    assert cut["back_s"] is not None
    assert 2.0 <= cut["started_s"] < 5.0
    # The coordinator restarted the broker it runs, with the whole fleet connected before.
    assert restart["kind"] == "broker_restart"
    assert restart["error"] is None
    assert restart["detail"] == "the local broker down 0.5 s"
    assert restart["devices_before"] == 60
    assert restart["devices_lost"] == 60
    assert restart["back_s"] is not None
    assert restart["started_s"] >= 5.0
    assert (cut["qos"], restart["qos"]) == (1, 1)
    assert restart["lost"] == 0
    assert report["devices"]["drops_by_reason"]["cut by a drop_connections fault"] == 30

    messages = report["messages"]
    assert messages["lost"] == 0
    assert messages["ingested"] == messages["published"]
    with sqlite3.connect(tmp_path / "rows.sqlite") as db:
        (distinct,) = db.execute(
            "SELECT count(DISTINCT device_id || '/' || seq) FROM telemetry WHERE run_id = ?",
            (report["sink"]["run_id"],),
        ).fetchone()
    assert distinct == messages["published"]

    said = done.stdout + done.stderr
    assert "worker 0/2: fault: drop_connections at " in said
    assert "worker 1/2: fault: drop_connections at " in said
    assert "fault: broker_restart at " in said
    assert (
        "fault       drop_connections at 2 s: cut 15 connections (15 devices), in each of 2" in said
    )
    assert "fault       broker_restart at 5 s: the local broker down 0.5 s; 60 of 60" in said
