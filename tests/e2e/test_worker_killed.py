"""A worker process of ``run --workers`` killed mid-run: the run still merges and writes its
report from the others, names the missing slice and why, and exits 1, not 0."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.e2e.test_sink_faults import finish, run_in_background, sqlite_rows, wait_for
from tests.processes import children_running

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def worker_child(run_pid: int, slice_name: str) -> int | None:
    """The pid of the run's worker process for ``slice_name`` (``1/2``), if it runs yet."""
    found = children_running(run_pid, "--segment", slice_name)
    return found[0] if found else None


def test_a_killed_worker_leaves_a_report_that_names_its_slice_and_fails(tmp_path: Path) -> None:
    database = tmp_path / "rows.sqlite"
    scenario = tmp_path / "killed.toml"
    scenario.write_text(
        'name = "killed"\nduration_s = 8.0\n'
        "[fleet]\ndevices = 100\npublish_interval_s = 0.25\n"
        f'[ingest]\nsink = "sqlite:///{database}"\nbatch_size = 100\n'
    )
    with run_in_background(tmp_path, scenario, "--workers", "2") as run:
        wait_for(lambda: sqlite_rows(database) > 400, "both workers' rows to be stored")
        victim = worker_child(run.pid, "1/2")
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        code, output = finish(run)

    assert code == 1, output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["run"]["missing_segments"] == ["1/2"]
    assert report["messages"]["lost"] is None  # what the dead worker published is unknown
    assert report["devices"]["connected"] == 50  # the other slice's
    assert f"worker 1/2 exited with status {-signal.SIGKILL}" in output
    assert (
        f"worker 1/2 exited with status {-signal.SIGKILL} and wrote no report: its slice's "
        "figures are missing" in report["notes"]
    )
    assert "FAILED: slices 1/2 are missing: the totals cover the others only" in output
