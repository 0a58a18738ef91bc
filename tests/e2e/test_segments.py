"""One run as one process, and as 2 and 4 slices with their ingest run and the merge: the same
fleet, the same messages, the same totals (issue 11's exactness target).

Every device sends a fixed number of messages (``fleet.messages_per_device``), so what each
run publishes does not depend on its timing. Latencies are measured, not planned, so two runs
never have the same ones: the merge's percentiles are checked against the slices' own
histograms merged here, exactly, and the one-process run's against nothing but its counts.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from simulator.broker import LocalBroker
from simulator.metrics.histogram import Histogram
from tests.commands import CHILD_ENV, simulator
from tests.scenario_files import halves, scenario_file
from tests.waiting import wait_until_sync

pytestmark = [pytest.mark.broker, pytest.mark.slow]

MESSAGES = 6


def scenario(tmp_path: Path) -> Path:
    return scenario_file(
        tmp_path,
        "exact",
        seed=11,
        duration_s=60.0,
        broker={"mqtt_version": "5"},
        fleet={
            "devices": 46,
            "publish_interval_s": 0.25,
            "messages_per_device": MESSAGES,
            "mix": halves("machine-sensor", {"model": "cnc-machine", "devices_per_connection": 4}),
        },
        onboarding={"rate_per_s": 200.0},
        ingest={"sink": f"sqlite:///{tmp_path / 'rows.sqlite'}"},
    )


def report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def stored(tmp_path: Path, run_id: str) -> set[tuple[str, int]]:
    """Every (device, sequence) the run stored."""
    with sqlite3.connect(tmp_path / "rows.sqlite") as db:
        rows = db.execute("SELECT device_id, seq FROM telemetry WHERE run_id = ?", (run_id,))
        return {(device, seq) for device, seq in rows}


def start(argv: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """``python -m simulator`` with ``argv`` in the background, its stderr into ``log``."""
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "simulator", *argv],
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=out,
            env=CHILD_ENV,
        )


def sliced_run(tmp_path: Path, toml: Path, broker: str, count: int) -> dict[str, Any]:
    """One ingest run, then ``count`` fleet-only slices started at one moment, then merged.

    The ingest run is started first and waited for (it says so once it has subscribed): a
    slice that publishes before it listens loses those messages, as on a real cluster.
    """
    run_id = f"exact-{count}-slices"
    out = tmp_path / f"n{count}"
    out.mkdir()
    run = ["run", str(toml), "--broker", broker, "--run-id", run_id]
    ingest_log = out / "ingest.log"
    processes = [
        start(
            [*run, "--ingest-only", "--idle-stop", "5", "--report", str(out / "ingest.json")],
            tmp_path,
            ingest_log,
        )
    ]
    try:
        wait_until_sync(
            lambda: "ingest only (run id" in ingest_log.read_text(),
            "the ingest run to subscribe",
            timeout_s=60,
        )
        start_at = f"{time.time() + 4:.3f}"
        for k in range(count):
            argv = ["--segment", f"{k}/{count}", "--start-at", start_at, "--quiet"]
            report_path = str(out / f"slice-{k}.json")
            processes.append(
                start([*run, *argv, "--report", report_path], tmp_path, out / f"{k}.log")
            )
        codes = [process.wait(timeout=180) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    said = {log.name: log.read_text() for log in out.glob("*.log")}
    assert codes == [0] * len(processes), said
    merged = out / "merged.json"
    inputs = [str(out / f"slice-{k}.json") for k in range(count)] + [str(out / "ingest.json")]
    merge = simulator("merge", *inputs, "--report", str(merged), cwd=tmp_path)
    assert merge.returncode == 0, merge.stderr
    return report(merged)


def test_slices_and_their_merge_add_up_to_the_one_process_run(
    tmp_path: Path, mosquitto: LocalBroker
) -> None:
    toml = scenario(tmp_path)
    whole_path = tmp_path / "whole.json"
    whole_run = simulator(
        "run",
        str(toml),
        "--broker",
        mosquitto.url,
        "--report",
        str(whole_path),
        "--quiet",
        cwd=tmp_path,
    )
    assert whole_run.returncode == 0, whole_run.stderr
    whole = report(whole_path)
    devices = whole["devices"]["target"]
    assert whole["messages"]["published"] == devices * MESSAGES
    assert whole["messages"]["ingested"] == devices * MESSAGES
    rows = stored(tmp_path, whole["run"]["id"])
    assert len(rows) == devices * MESSAGES

    for count in (2, 4):
        merged = sliced_run(tmp_path, toml, mosquitto.url, count)
        for key in ("target", "connected", "failed"):
            assert merged["devices"][key] == whole["devices"][key], key
        for key in ("target", "connected"):
            assert merged["connections"][key] == whole["connections"][key], key
        messages = merged["messages"]
        assert messages["published"] == whole["messages"]["published"]
        assert messages["ingested"] == whole["messages"]["ingested"]
        assert messages["lost"] == 0
        assert messages["duplicated"] == 0
        # The same devices sent the same sequence numbers, however the fleet was sliced.
        assert stored(tmp_path, merged["run"]["id"]) == rows
        run = merged["run"]
        assert run["missing_segments"] == []
        assert [s["segment"]["index"] for s in run["segments"] if s["segment"]] == list(
            range(count)
        )
        assert run["start_spread_s"] is not None
        assert run["start_spread_s"] >= 0
        slices = [report(Path(s["file"])) for s in run["segments"]]
        # Each slice took its share of the fleet and its own client ids under the run's tag.
        assert all(s["run"]["client_id_prefix"] == run["client_id_prefix"] for s in slices)
        assert sum(s["devices"]["connected"] for s in slices) == devices
        # The merge's percentiles are those of the slices' histograms added, exactly.
        connect = Histogram()
        for part in slices:
            connect.merge(Histogram.from_dict(part["histograms"]["connect_us"]))
        assert connect.count == whole["connections"]["connected"]
        for p, key in ((50, "p50"), (99, "p99")):
            expected = round(connect.percentile(p) / 1000, 3)
            assert merged["onboarding"]["connect_ms"][key] == expected
        latency = Histogram.from_dict(merged["histograms"]["latency_us"])
        assert latency.count == whole["messages"]["ingested"]
        assert merged["latency_ms"]["p99"] == round(latency.percentile(99) / 1000, 3)
