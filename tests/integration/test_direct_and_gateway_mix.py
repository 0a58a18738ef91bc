"""One fleet: machines connected directly and sensors behind gateways, counted apart."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from simulator.broker import LocalBroker
from simulator.scenario import validate_scenario
from tests.runs import run_here

pytestmark = pytest.mark.broker


def test_direct_devices_and_gateways_in_one_run(mosquitto: LocalBroker, tmp_path: Path) -> None:
    scenario = validate_scenario(
        {
            "name": "direct-and-gateways",
            "duration_s": 1.5,
            "broker": {"url": mosquitto.url},
            "fleet": {
                "devices": 70,
                "publish_interval_s": 0.25,
                "mix": [
                    {"model": "cnc-machine", "count": 30},
                    {"model": "vibration-sensor", "share": 1.0, "devices_per_connection": 10},
                ],
            },
            "onboarding": {"workflow": "register", "register_timeout_s": 5.0},
            "ingest": {"sqlite_path": str(tmp_path / "mix.sqlite")},
        },
        "<test>",
    )
    report, _ = run_here(scenario)
    assert report["devices"]["target"] == report["devices"]["connected"] == 70
    # 30 machines on their own connections and 40 sensors behind 4 gateways.
    assert report["connections"]["target"] == report["connections"]["connected"] == 34
    funnel = report["onboarding"]["funnel"]
    assert funnel["registered"]["reached"] == 70
    assert funnel["first_telemetry_ingested"]["reached"] == 70
    assert report["messages"]["lost"] == 0
    with sqlite3.connect(tmp_path / "mix.sqlite") as db:
        devices = {row[0] for row in db.execute("SELECT DISTINCT device_id FROM telemetry")}
    assert len(devices) == 70
    assert sum(device.startswith("cnc-") for device in devices) == 30
