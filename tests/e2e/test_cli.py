"""The command line end to end: real processes, a real Mosquitto started by the run itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from simulator.broker import free_port
from simulator.report.json_report import CONTRACT_KEYS, get_path
from tests.commands import python, quickstart, run_reported, simulator

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.broker
@pytest.mark.slow
def test_quickstart_runs_end_to_end(tmp_path: Path) -> None:
    result, report = run_reported(
        "--threshold", "messages.lost == 0", cwd=tmp_path, command=quickstart
    )
    for key in CONTRACT_KEYS:
        get_path(report, key)
    assert report["scenario"] == "quickstart"
    assert report["devices"]["connected"] == report["devices"]["target"] == 1000
    assert report["messages"]["lost"] == 0
    assert report["messages"]["ingested"] == report["messages"]["published"] > 0
    assert (tmp_path / "runs" / "quickstart.sqlite").exists()
    thresholds = [(t["expr"], t["passed"]) for t in report["thresholds"]]
    assert thresholds == [("messages.lost == 0", True)]  # the test's own, none of the file's
    # The live view: at least one progress line per second of publishing.
    progress = [line for line in result.stderr.splitlines() if "connected 1,000/1,000" in line]
    assert len(progress) >= 10


@pytest.mark.broker
def test_overrides_apply_and_the_report_is_written(tmp_path: Path) -> None:
    result, report = run_reported(
        "--devices",
        "50",
        "--interval",
        "0.5",
        "--duration",
        "2",
        "--mqtt",
        "3.1.1",
        cwd=tmp_path,
        command=quickstart,
    )
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
    result = python(
        "-c",
        code,
        "run",
        str(ROOT / "scenarios" / "quickstart.toml"),
        "--devices",
        "2000",
        "--broker",
        "mqtt://127.0.0.1:1",
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 3
    assert "needs 2,065 open files" in result.stderr
    assert "1,024" in result.stderr
    assert "processes" in result.stderr


@pytest.mark.broker
def test_an_impossible_threshold_fails_the_run_and_the_junit_file_says_which(
    tmp_path: Path,
) -> None:
    import xml.etree.ElementTree as ET

    junit = tmp_path / "thresholds.xml"
    report_path = tmp_path / "r.json"
    result = quickstart(
        "--devices",
        "30",
        "--duration",
        "2",
        "--threshold",
        "latency_ms.p99 < 0.000001",
        "--threshold",
        "messages.lost == 0",
        "--junit",
        str(junit),
        "--report",
        str(report_path),
        cwd=tmp_path,
    )
    assert result.returncode == 4, result.stderr
    assert "FAIL  latency_ms.p99 < 0.000001" in result.stderr
    assert "PASS  messages.lost == 0" in result.stderr
    suite = ET.parse(junit).getroot()
    failed = [
        case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None
    ]
    assert failed == ["latency_ms.p99 < 0.000001"]
    report = json.loads(report_path.read_text())
    assert [t["passed"] for t in report["thresholds"] if t["source"] == "--threshold"] == [
        False,
        True,
    ]


def test_bad_thresholds_are_reported_with_the_scenario_problems(tmp_path: Path) -> None:
    result = simulator(
        "run",
        str(ROOT / "scenarios" / "quickstart.toml"),
        "--devices",
        "0",
        "--threshold",
        "latncy_ms.p99 < 5",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "--devices: fleet.devices" in result.stderr
    assert "did you mean latency_ms.p99" in result.stderr


def test_compare_exits_1_on_a_regression_and_0_without(tmp_path: Path) -> None:
    def report(p99: float, lost: int) -> dict[str, Any]:
        base: dict[str, Any] = json.loads(
            (ROOT / "tests" / "e2e" / "data" / "report.json").read_text()
        )
        base["latency_ms"]["p99"] = p99
        base["messages"]["lost"] = lost
        return base

    base, same, worse = tmp_path / "base.json", tmp_path / "same.json", tmp_path / "worse.json"
    base.write_text(json.dumps(report(5.0, 0)))
    same.write_text(json.dumps(report(5.2, 0)))
    worse.write_text(json.dumps(report(9.0, 3)))
    ok = simulator("compare", str(base), str(same), cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = simulator("compare", str(base), str(worse), "--tolerance", "0.1", cwd=tmp_path)
    assert bad.returncode == 1
    assert "latency_ms.p99" in bad.stdout
    assert "messages.lost" in bad.stdout
    missing = simulator("compare", str(base), str(tmp_path / "nope.json"), cwd=tmp_path)
    assert missing.returncode == 2
    assert "nope.json" in missing.stderr
