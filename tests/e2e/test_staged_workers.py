"""``[[stages]]`` over ``run --workers 2`` against the Mosquitto the run starts itself: each
worker follows the one plan for its slice, and the merged report's stages are the plan's
(planned figures equal to one process's run of the same scenario), achieved by the slices
together, with nothing lost. Checked by counts, never by how fast this machine is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.commands import run_reported
from tests.scenario_files import halves, scenario_file

pytestmark = [pytest.mark.broker, pytest.mark.slow]

PLANNED = ("number", "start_s", "end_s", "devices_planned", "messages_planned")


def run(tmp_path: Path, name: str, *flags: str) -> dict[str, Any]:
    where = tmp_path / name
    where.mkdir()
    scenario = scenario_file(
        where,
        "staged-workers",
        seed=5,
        fleet={
            "devices": 300,
            "publish_interval_s": 1.0,
            "mix": halves(
                "machine-sensor", {"model": "machine-sensor", "devices_per_connection": 5}
            ),
        },
        ingest={"sink": f"sqlite:///{where / 'rows.sqlite'}"},
        # A ramp up, a hold and a ramp down.
        stages=[
            {"duration_s": 4.0, "devices": 300, "msg_rate_per_s": 450.0},
            {"duration_s": 4.0, "devices": 300, "msg_rate_per_s": 450.0},
            {"duration_s": 4.0, "devices": 0, "msg_rate_per_s": 0.0},
        ],
    )
    _, report = run_reported("run", str(scenario), *flags, cwd=where)
    return report


def test_workers_follow_one_stage_plan_and_the_merged_stages_are_the_plans(
    tmp_path: Path,
) -> None:
    gates = ("stages.2.devices_achieved == 300", "stages.3.lost == 0")
    merged = run(tmp_path, "workers", "--workers", "2", *(f"--threshold={g}" for g in gates))
    one = run(tmp_path, "one")

    assert merged["run"]["role"] == "merged"
    stages = merged["stages"]
    assert [s["number"] for s in stages] == [1, 2, 3]
    # The plan, as one process plans it: 900 messages up the ramp, 1,800 in the hold, 900
    # down, 300 devices then none.
    plan = [{key: s[key] for key in PLANNED} for s in one["stages"]]
    assert [{key: s[key] for key in PLANNED} for s in stages] == plan
    assert [s["messages_planned"] for s in stages] == [900, 1800, 900]
    assert [s["msg_rate_planned_per_s"] for s in stages] == [
        s["msg_rate_planned_per_s"] for s in one["stages"]
    ]

    # The hold gives every connect due by 4 s another 4 s; the ramp down leaves them all.
    assert stages[1]["devices_achieved"] == 300
    assert stages[2]["devices_achieved"] == 0
    # Each stage's count is read by each worker at the stage's end on its own clock, a tick
    # (50 ms) at most after the factor moved; in the hold the factor is constant, so the
    # count is off by what the reads' lateness and the wheels' phases move across its edges.
    hold = stages[1]
    assert abs(hold["published"] - hold["messages_planned"]) <= 0.1 * hold["messages_planned"]
    for stage in (stages[0], stages[2]):
        # On a ramp a device connects when the plan reaches it and first fires up to one
        # interval later: the ramp's published count may fall short by up to a second of the
        # rate at its end (up) or run over by that (down).
        assert abs(stage["published"] - stage["messages_planned"]) <= 450 + 0.1 * 900
    for stage in stages:
        assert stage["lost"] == 0
        assert stage["ingested"] is not None
    assert merged["messages"]["lost"] == 0
    assert merged["messages"]["ingested"] == merged["messages"]["published"]
    # Leaving is not dropping: every connection the plan no longer wanted left cleanly.
    assert merged["devices"]["connected"] == 300
    assert merged["devices"]["dropped_after_connect"] == 0
    assert sum(s["published"] for s in stages) <= merged["messages"]["published"]
    assert stages[1]["latency_ms_p99"] is not None

    # The thresholds read the merged stages by their number.
    assert [(t["expr"], t["passed"]) for t in merged["thresholds"]] == [(g, True) for g in gates]

    # The merged time series names the stage running at each second, in order.
    numbered = [s["stage"] for s in merged["timeseries"] if s["stage"] is not None]
    assert numbered == sorted(numbered)
    assert {1, 2, 3} <= set(numbered)
