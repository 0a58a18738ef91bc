"""A mixed plant: several models, intervals and payload formats, every message counted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from simulator.broker import LocalBroker
from simulator.scenario import validate_scenario
from tests.runs import run_here

pytestmark = pytest.mark.broker


def test_a_mix_of_models_and_formats_is_ingested_whole(
    mosquitto: LocalBroker, tmp_path: Path
) -> None:
    scenario = validate_scenario(
        {
            "name": "mixed",
            "duration_s": 2.0,
            "broker": {"url": mosquitto.url},
            "fleet": {
                "devices": 60,
                "publish_interval_s": 0.5,
                "mix": [
                    {"model": "cnc-machine", "count": 10, "publish_interval_s": 0.25},
                    {"model": "robot", "share": 0.5, "payload": "json"},
                    {"model": "power-meter", "share": 0.5, "payload": "sparkplug"},
                ],
            },
            "onboarding": {"rate_per_s": 1000.0, "max_in_flight": 20},
            "ingest": {"sqlite_path": str(tmp_path / "mixed.sqlite"), "drain_timeout_s": 10.0},
        },
        "<test>",
    )
    report, _ = run_here(scenario)
    messages = report["messages"]
    assert report["devices"]["connected"] == 60
    assert messages["malformed"] == 0
    assert messages["lost"] == 0
    assert messages["ingested"] == messages["published"]
    # The 25 Sparkplug power meters are each their own edge node: born once, dead at the end.
    sparkplug = report["sparkplug"]
    assert sparkplug is not None
    assert sparkplug["births"] == sparkplug["deaths"] == 25
    by_type = sparkplug["ingested_by_type"]
    assert by_type is not None
    assert by_type["NBIRTH"] == by_type["NDEATH"] == 25
    with sqlite3.connect(tmp_path / "mixed.sqlite") as db:
        prefixes = dict(
            db.execute(
                "SELECT substr(device_id, 1, instr(device_id, '-') - 1), count(DISTINCT device_id)"
                " FROM telemetry GROUP BY 1"
            ).fetchall()
        )
        cnc_per_device = db.execute(
            "SELECT count(*) * 1.0 / count(DISTINCT device_id) FROM telemetry"
            " WHERE device_id LIKE 'cnc-%'"
        ).fetchone()[0]
        robot_per_device = db.execute(
            "SELECT count(*) * 1.0 / count(DISTINCT device_id) FROM telemetry"
            " WHERE device_id LIKE 'rb-%'"
        ).fetchone()[0]
        stored = dict(
            db.execute(
                "SELECT substr(device_id, 1, instr(device_id, '-') - 1),"
                " count(DISTINCT device_id || '/' || seq) FROM telemetry GROUP BY 1"
            ).fetchall()
        )
    assert prefixes == {"cnc": 10, "rb": 25, "pm": 25}
    assert cnc_per_device > 1.5 * robot_per_device  # 0.25 s against 0.5 s
    # Each group's figures, as ingest attributed its messages, agree with the rows stored.
    groups = report["groups"]
    assert [(g["model"], g["payload"], g["devices"]) for g in groups] == [
        ("cnc-machine", "msgpack", 10),
        ("robot", "json", 25),
        ("power-meter", "sparkplug", 25),
    ]
    assert [g["ingested"] for g in groups] == [stored["cnc"], stored["rb"], stored["pm"]]
    assert [g["published"] for g in groups] == [g["ingested"] for g in groups]
    assert sum(g["published"] for g in groups) == messages["published"]
    assert all(g["lost"] == 0 and g["latency_ms_p99"] is not None for g in groups)
