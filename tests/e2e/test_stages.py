"""``[[stages]]`` through ``factory-sim run`` against the Mosquitto the run starts itself: a ramp
up, a hold, a spike and a ramp down, checked by counts (devices connected at each stage's end,
messages per stage within a generous bound of the plan, deaths said on leaving), never by how
fast this machine is; and the fleet's two groups reported apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.commands import run_reported
from tests.scenario_files import halves, scenario_file

pytestmark = pytest.mark.broker


def test_a_staged_run_follows_its_plan_and_reports_each_stage(tmp_path: Path) -> None:
    scenario = scenario_file(
        tmp_path,
        "stages",
        seed=3,
        fleet={
            "devices": 300,
            "publish_interval_s": 0.5,
            "mix": halves(
                "machine-sensor", {"model": "robot", "payload": "json", "publish_interval_s": 1.0}
            ),
        },
        onboarding={"workflow": "register"},
        ingest={"sqlite_path": "rows.sqlite"},
        # A ramp up, a hold, a spike and a ramp down.
        stages=[
            {"duration_s": 3.0, "devices": 300, "msg_rate_per_s": 600.0},
            {"duration_s": 4.0, "devices": 300, "msg_rate_per_s": 600.0},
            {"duration_s": 2.0, "devices": 300, "msg_rate_per_s": 1800.0},
            {"duration_s": 3.0, "devices": 0, "msg_rate_per_s": 0.0},
        ],
    )
    done, report = run_reported("run", str(scenario), cwd=tmp_path)

    stages = report["stages"]
    assert [s["number"] for s in stages] == [1, 2, 3, 4]
    assert [(s["start_s"], s["end_s"]) for s in stages] == [(0, 3), (3, 7), (7, 9), (9, 12)]
    assert [s["devices_planned"] for s in stages] == [300, 300, 300, 0]
    assert [s["msg_rate_planned_per_s"] for s in stages] == [300, 600, 1200, 900]
    assert [s["messages_planned"] for s in stages] == [900, 2400, 2400, 2700]
    # Connects due by 3 s have the hold's 4 s and the spike's 2 to catch up, however busy
    # the machine; the ramp down leaves every connection (the driver's own doing).
    assert stages[1]["devices_achieved"] >= 270
    assert stages[2]["devices_achieved"] == 300
    assert stages[3]["devices_achieved"] == 0
    for stage in stages[1:]:
        assert 0.5 * stage["messages_planned"] <= stage["published"]
        assert stage["published"] <= 1.5 * stage["messages_planned"]
        assert stage["kept"] is (stage["behind"] is None)
    assert sum(s["published"] for s in stages) <= report["messages"]["published"]

    # Leaving is not dropping: each device said its death, nothing was lost.
    assert report["devices"]["dropped_after_connect"] == 0
    assert report["onboarding"]["deaths"]["sent"] == 300
    assert report["messages"]["lost"] == 0
    assert report["messages"]["ingested"] == report["messages"]["published"]

    numbered = [s["stage"] for s in report["timeseries"] if s["stage"] is not None]
    assert numbered == sorted(numbered)
    assert set(numbered) <= {1, 2, 3, 4}
    assert {2, 3, 4} <= set(numbered)

    groups = report["groups"]
    assert [(g["model"], g["payload"], g["connection"]) for g in groups] == [
        ("machine-sensor", "msgpack", "direct"),
        ("robot", "json", "direct"),
    ]
    assert [g["devices"] for g in groups] == [150, 150]
    assert sum(g["published"] for g in groups) == report["messages"]["published"]
    for group in groups:
        assert group["published"] > 0
        assert group["ingested"] == group["published"]
        assert group["lost"] == 0
        assert group["latency_ms_p99"] is not None

    summary = done.stdout + done.stderr
    assert "stage 1 " in summary
    assert "stage 4 " in summary
    assert "group       machine-sensor msgpack direct every 0.5 s: 150 devices" in summary
    assert "group       robot json direct every 1 s: 150 devices" in summary
