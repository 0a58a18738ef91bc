"""How many workers a fleet needs, and the numbers said."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.coordinator.split import split_fleet
from simulator.coordinator.workers import worker_argv, worker_scenario
from simulator.metrics.histogram import Histogram
from simulator.metrics.progress import FleetProgress
from simulator.scenario import validate_scenario


def test_workers_as_asked_when_each_share_fits() -> None:
    split = split_fleet(30_000, requested=4, open_files=20_000, margin=64)
    assert (split.workers, split.per_worker, split.capacity) == (4, 7_500, 19_936)
    assert not split.raised
    assert split.said() == (
        "30,000 connections over 4 worker process(es), at most 7,500 each: as asked "
        "(one process may hold 19,936 connections (open-file limit 20,000))"
    )


def test_auto_takes_as_many_as_the_file_limit_needs() -> None:
    split = split_fleet(100_000, requested=None, open_files=20_000, margin=64)
    assert split.workers == 6
    assert split.per_worker == 16_667
    assert split.said().startswith("100,000 connections over 6 worker process(es)")
    assert split_fleet(500, requested=None, open_files=20_000, margin=64).workers == 1


def test_too_few_workers_are_raised_and_it_is_said() -> None:
    split = split_fleet(50_000, requested=2, open_files=20_000, margin=64)
    assert split.workers == 3
    assert split.raised
    assert "2 asked for, but one process may hold 19,936 connections" in split.said()


def test_no_workers_is_not_a_split() -> None:
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        split_fleet(10, requested=0, open_files=1024, margin=64)


def test_progress_lines_add_up_and_keep_the_least_advanced_phase() -> None:
    a = FleetProgress("publishing", 10, 10, 10, 10, 0, 100, 0, 1, 1000, 0.5, Histogram())
    a.connect_us.record(1500)
    a.faults_active = {"network": 1, "partition": 0}
    b = FleetProgress.from_dict(
        FleetProgress(
            "onboarding", 12, 7, 5, 7, 1, 40, 0, 0, 2000, 0.25, Histogram(), {"partition": 1}
        ).to_dict()
    )
    b.connect_us.record(900)
    a.add(b)
    assert (a.phase, a.devices_target, a.connected, a.connect_failed, a.published) == (
        "onboarding",
        22,
        17,
        1,
        140,
    )
    assert a.connect_us.count == 2
    assert a.connected_low == 15  # each worker's fewest since its previous line, added up
    # Each worker carries its share of the same faults: a kind counts as often as in one.
    assert a.faults_active == {"network": 1, "partition": 1}


def test_a_worker_reads_its_slice_of_the_scenario_on_stdin() -> None:
    argv = worker_argv(1, 3, run_id="r-1", report=Path("/x/slice-1.json"), extra=["--insecure"])
    assert argv[:2] == ["run", "-"]
    assert argv[argv.index("--segment") + 1] == "1/3"
    assert "--no-ingest" in argv
    assert "--await-start" in argv
    assert argv[-1] == "--insecure"
    settings = {"broker": {"url": None, "urls": None, "instances": 2}, "thresholds": {"a": 1}}
    text = worker_scenario(settings, ["mqtt://127.0.0.1:1", "mqtt://127.0.0.1:2"])
    assert '"urls": ["mqtt://127.0.0.1:1", "mqtt://127.0.0.1:2"]' in text
    assert '"instances": 1' in text
    assert '"thresholds": {}' in text


def test_a_staged_scenario_reaches_its_workers_as_it_was_resolved() -> None:
    staged = validate_scenario(
        {
            "name": "staged",
            "fleet": {"devices": 10, "publish_interval_s": 1.0},
            "stages": [{"duration_s": 2.0, "devices": 10, "msg_rate_per_s": 10.0}],
        },
        "q",
    )
    text = worker_scenario(staged.model_dump(mode="json"), ["mqtt://127.0.0.1:1"])
    again = validate_scenario(json.loads(text), "<stdin>")
    assert again.stages == staged.stages
    assert again.duration_s == staged.duration_s == 2.0
    assert again.onboarding.rate_per_s == staged.onboarding.rate_per_s
