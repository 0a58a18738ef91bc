"""``run --workers``: one run as worker processes under one coordinator, one live view and one
report; a fleet beyond one process's open files split automatically, the numbers said."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.commands import python, run_reported

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SCENARIO = """
name = "workers"
seed = 3
duration_s = 60.0

[broker]
instances = {brokers}

[fleet]
devices = {devices}
publish_interval_s = 0.25
messages_per_device = 4
devices_per_connection = {per}

[onboarding]
rate_per_s = 500.0

[ingest]
sink = "sqlite:///{sink}"
"""


def scenario(tmp_path: Path, devices: int, per: int = 1, brokers: int = 1) -> Path:
    path = tmp_path / "workers.toml"
    sink = tmp_path / "rows.sqlite"
    path.write_text(SCENARIO.format(devices=devices, per=per, brokers=brokers, sink=sink))
    return path


def test_workers_run_the_fleet_as_one_with_one_view_and_one_report(tmp_path: Path) -> None:
    run, report = run_reported(
        "run", str(scenario(tmp_path, 30, per=3)), "--workers", "3", cwd=tmp_path
    )
    assert report["devices"]["connected"] == 30
    assert report["connections"]["connected"] == 10
    assert report["messages"]["published"] == 30 * 4
    assert report["messages"]["ingested"] == 30 * 4
    assert report["messages"]["lost"] == 0
    assert report["run"]["role"] == "merged"
    labels = [entry["file"] for entry in report["run"]["segments"]]
    assert labels == ["worker 0/3", "worker 1/3", "worker 2/3", "the coordinator's ingest"]
    assert report["scenario_path"].endswith("workers.toml")
    # One live view: the workers' lines added up, their messages under their label.
    assert "connected 30/30" in run.stderr
    assert "worker 2/3: onboarding 9 devices (slice 2/3 of 30)" in run.stderr
    assert "10 connections over 3 worker process(es), at most 4 each: as asked" in run.stderr


def test_a_fleet_beyond_one_processs_open_files_is_split_with_the_numbers(
    tmp_path: Path,
) -> None:
    # A hard limit of 256 files holds 192 connections per process (64 spare): 300 need 2,
    # and two local brokers (each with the same limit).
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256)); "
        "from simulator.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    run, report = run_reported(
        "-c",
        code,
        "run",
        str(scenario(tmp_path, 300, brokers=2)),
        "--workers",
        "1",
        cwd=tmp_path,
        command=python,
    )
    said = (
        "300 connections over 2 worker process(es), at most 150 each: 1 asked for, but one "
        "process may hold 192 connections (open-file limit 256)"
    )
    assert said in run.stderr
    assert report["devices"]["connected"] == 300
    assert report["messages"]["lost"] == 0
