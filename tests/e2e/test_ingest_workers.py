"""Several ingest workers give the totals one worker gives: every device to exactly one of
them, registrations answered by all, figures merged. Through the CLI, against Mosquitto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_cli import ROOT

pytestmark = [pytest.mark.broker, pytest.mark.slow]

DEVICES = 120


def run(directory: Path, workers: int, mqtt: str) -> dict[str, Any]:
    scenario = directory / f"workers-{workers}.toml"
    scenario.write_text(
        'name = "workers"\n'
        "duration_s = 2.0\n"
        f'[broker]\nmqtt_version = "{mqtt}"\n'
        f"[fleet]\ndevices = {DEVICES}\npublish_interval_s = 0.2\nsites = 2\n"
        "lines_per_site = 3\n"
        '[onboarding]\nworkflow = "register"\nrate_per_s = 1000.0\n'
        f'[ingest]\nworkers = {workers}\nsqlite_path = "rows-{workers}.sqlite"\n'
    )
    report = directory / f"report-{workers}.json"
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "run", str(scenario), "--report", str(report)],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(report.read_text())
    return data


@pytest.mark.parametrize("mqtt", ["5", "3.1.1"])
def test_three_workers_account_like_one(tmp_path: Path, mqtt: str) -> None:
    one, three = run(tmp_path, 1, mqtt), run(tmp_path, 3, mqtt)
    for report in (one, three):
        messages = report["messages"]
        assert messages["ingested"] == messages["published"] > 0
        assert (messages["lost"], messages["duplicated"], messages["out_of_order"]) == (0, 0, 0)
        funnel = report["onboarding"]["funnel"]
        assert funnel["registered"]["reached"] == DEVICES
        assert funnel["first_telemetry_ingested"]["reached"] == DEVICES
        assert report["onboarding"]["responder"]["accepted"] == DEVICES
        assert report["onboarding"]["deaths"]["heard"] == DEVICES
    workers = three["ingest"]["workers"]
    assert len(workers) == 3
    # Each worker took a share of the messages and of the registrations, and the shares add up.
    assert all(w["received"] > 0 and w["registrations"] > 0 for w in workers)
    assert sum(w["received"] for w in workers) == three["messages"]["received"]
    assert sum(w["registrations"] for w in workers) == DEVICES
    assert len(one["ingest"]["workers"]) == 1
