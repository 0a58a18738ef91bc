"""``[[faults]]`` through ``factory-sim run`` against the Mosquitto the run starts itself: a
lost uplink (half the connections cut) and a broker restart, at QoS 1 with kept sessions:
every device back, nothing lost, each fault in the report and the summary."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.commands import run_reported
from tests.scenario_files import scenario_file

pytestmark = pytest.mark.broker


def cut_and_restart(tmp_path: Path, name: str) -> Path:
    """60 devices at QoS 1 on kept sessions; half their connections cut at 2 s, the broker
    restarted at 5 s; rows in ``rows.sqlite``."""
    return scenario_file(
        tmp_path,
        name,
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


def assert_cut_and_restart_reported(tmp_path: Path, report: dict[str, Any]) -> None:
    """What a run of :func:`cut_and_restart` reports, in one process or over several: each
    fault once, with the whole fleet's devices; every device back, nothing lost, and each
    published message in ``rows.sqlite`` under the run's id."""
    cut, restart = report["faults"]
    assert cut["kind"] == "drop_connections"
    assert (cut["devices_before"], cut["devices_cut"], cut["devices_lost"]) == (60, 30, 30)
    assert cut["back_s"] is not None
    assert 2.0 <= cut["started_s"] < 5.0
    assert restart["kind"] == "broker_restart"
    assert restart["error"] is None
    assert (restart["devices_before"], restart["devices_lost"]) == (60, 60)
    assert restart["back_s"] is not None
    # Over workers the merged clock starts with the first slice, which may wake a few ms
    # after the start the coordinator counts its broker restart from (start_late_s).
    assert restart["started_s"] >= 5.0 - (report["run"]["start_late_s"] or 0.0)
    # The window's message figures are the fleet's QoS's; its redeliveries filled every gap.
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


def test_a_cut_and_a_broker_restart_lose_nothing_and_are_reported(tmp_path: Path) -> None:
    done, report = run_reported("run", str(cut_and_restart(tmp_path, "faults")), cwd=tmp_path)

    assert_cut_and_restart_reported(tmp_path, report)
    assert report["faults"][0]["detail"] == "cut 30 connections (30 devices)"

    summary = done.stdout + done.stderr
    assert "fault       drop_connections at 2 s: cut 30 connections (30 devices)" in summary
    assert "fault       broker_restart at 5 s: the local broker down 0.5 s; 60 of 60" in summary
    assert "at QoS 1: 0 lost, " in summary


def test_a_fault_after_the_run_is_said_not_reached(tmp_path: Path) -> None:
    scenario = scenario_file(
        tmp_path,
        "late",
        duration_s=1.0,
        fleet={"devices": 5, "publish_interval_s": 0.5},
        faults=[{"kind": "drop_connections", "at_s": 3600}],
    )
    done, report = run_reported("run", str(scenario), cwd=tmp_path)
    (fault,) = report["faults"]
    assert fault["started_s"] is None
    assert "fault       drop_connections at 3600 s: not reached" in done.stdout + done.stderr
