"""The command line end to end: real processes, a real Mosquitto started by the run itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from simulator.broker import free_port
from simulator.report.json_report import CONTRACT_KEYS, get_path

ROOT = Path(__file__).resolve().parents[2]


def simulator(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulator", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )


@pytest.mark.broker
@pytest.mark.slow
def test_quickstart_runs_end_to_end(tmp_path: Path) -> None:
    report_path = tmp_path / "quickstart.json"
    result = simulator(
        "run",
        str(ROOT / "scenarios" / "quickstart.toml"),
        "--report",
        str(report_path),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(report_path.read_text())
    for key in CONTRACT_KEYS:
        get_path(report, key)
    assert report["scenario"] == "quickstart"
    assert report["devices"]["connected"] == report["devices"]["target"] == 1000
    assert report["messages"]["lost"] == 0
    assert report["messages"]["ingested"] == report["messages"]["published"] > 0
    assert (tmp_path / "runs" / "quickstart.sqlite").exists()
    # The live view: at least one progress line per second of publishing.
    progress = [line for line in result.stderr.splitlines() if "connected 1,000/1,000" in line]
    assert len(progress) >= 10


@pytest.mark.broker
def test_overrides_apply_and_the_report_is_written(tmp_path: Path) -> None:
    report_path = tmp_path / "r.json"
    result = simulator(
        "run",
        str(ROOT / "scenarios" / "quickstart.toml"),
        "--devices",
        "50",
        "--interval",
        "0.5",
        "--duration",
        "2",
        "--mqtt",
        "3.1.1",
        "--report",
        str(report_path),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    assert report["devices"]["target"] == 50
    assert report["broker"]["mqtt_version"] == "3.1.1"
    assert report["messages"]["lost"] == 0
    assert "report written to" in result.stderr


def test_invalid_scenario_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'duration_s = -1\n[fleet]\ndevices = 0\npublish_interval_s = 1\ncolour = "red"\n'
    )
    result = simulator("run", str(bad), "--interval", "0", cwd=tmp_path)
    assert result.returncode == 2
    for where in ("duration_s", "fleet.devices", "fleet.colour", "--interval"):
        assert where in result.stderr
    assert str(bad) in result.stderr


def test_unreachable_broker_exits_3_and_names_it(tmp_path: Path) -> None:
    port = free_port("127.0.0.1")
    result = simulator(
        "run",
        str(ROOT / "scenarios" / "quickstart.toml"),
        "--broker",
        f"mqtt://127.0.0.1:{port}",
        "--devices",
        "10",
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 3
    assert f"127.0.0.1:{port}" in result.stderr
    assert "unreachable" in result.stderr


def test_a_fleet_beyond_the_open_files_limit_is_refused_before_connecting(tmp_path: Path) -> None:
    # A child with a hard limit of 1,024 descriptors cannot hold 2,000 devices.
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024)); "
        "from simulator.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "run",
            str(ROOT / "scenarios" / "quickstart.toml"),
            "--devices",
            "2000",
            "--broker",
            "mqtt://127.0.0.1:1",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 3
    assert "needs 2,065 open files" in result.stderr
    assert "1,024" in result.stderr
    assert "processes" in result.stderr
