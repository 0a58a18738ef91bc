"""Merging the reports of a run's slices: sums, exact histograms, and inputs that cannot be one
run refused with the file named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from simulator.cli import main
from simulator.errors import ReportInputError
from simulator.metrics.faults import FaultRecord, fault_figures
from simulator.metrics.histogram import Histogram
from simulator.metrics.stages import StageMark, stage_figures
from simulator.report.json_report import problems, run_section
from simulator.report.merge import Input, merge_reports
from simulator.report.thresholds import evaluate, parse_thresholds
from simulator.report.timeline import ingest_samples
from simulator.scenario.composition import Group
from simulator.scenario.segment import Segment
from simulator.scenario.stages import StagePlan, StageSettings, stage_shares
from tests.reports import built_report, fake_timeseries, histogram

RUN = "trial-20261207T080000Z-abcdef"
START_NS = 1_796_630_400_000_000_000


def fleet_slice(index: int, count: int, *, late_ms: int = 0, **changes: Any) -> dict[str, Any]:
    """Slice ``index`` of ``count``, fleet only: 100 devices, 1,000 messages published."""
    changes.setdefault("connect_us", histogram([1000 * (index + 1), 2000 * (index + 1)]))
    return built_report(
        ingest=False,
        run=run_section(
            RUN,
            "k3f9a2-",
            ingest="off",
            segment=(index, count),
            start_at_ns=START_NS,
            started_at_ns=START_NS + late_ms * 1_000_000,
        ),
        **changes,
    )


def ingest_run(latency_us: list[int], unique: int) -> dict[str, Any]:
    """The run's ingest-only report: ``unique`` messages ingested at ``latency_us``."""
    report = built_report(
        latency_us=latency_us,
        unique=unique,
        devices_target=0,
        devices_connected=0,
        published=0,
        acked=0,
        connect_us=Histogram(),
        tcp_us=Histogram(),
        run=run_section(
            RUN,
            "k3f9a2-",
            role="ingest",
            ingest="only",
            start_at_ns=START_NS,
            started_at_ns=START_NS,
        ),
    )
    report["messages"]["lost"] = None
    return report


def inputs(*reports: dict[str, Any]) -> list[Input]:
    return [Input(f"r{n}.json", report) for n, report in enumerate(reports)]


def test_counts_add_up_and_lost_is_taken_across_every_report() -> None:
    merged = merge_reports(
        inputs(fleet_slice(0, 2), fleet_slice(1, 2), ingest_run([4000] * 1990, unique=1990))
    )
    assert merged["devices"]["target"] == 200
    assert merged["devices"]["connected"] == 200
    assert merged["connections"]["connected"] == 200
    assert merged["messages"]["published"] == 2000
    assert merged["messages"]["ingested"] == 1990
    assert merged["messages"]["lost"] == 10
    assert merged["sink"]["rows"] == 1990
    assert merged["ingest"]["status"] == "ok"
    assert merged["run"]["role"] == "merged"
    assert merged["run"]["id"] == RUN
    assert [s["segment"] for s in merged["run"]["segments"]] == [
        {"index": 0, "count": 2},
        {"index": 1, "count": 2},
        None,
    ]
    assert merged["run"]["missing_segments"] == []
    assert problems(merged) == ["10 of 2,000 messages were lost"]


def test_percentiles_come_from_the_histograms_merged_exactly() -> None:
    fast = list(range(1000, 50_000, 7))
    slow = list(range(40_000, 900_000, 13))
    merged = merge_reports(
        inputs(
            fleet_slice(0, 2, connect_us=histogram(fast)),
            fleet_slice(1, 2, connect_us=histogram(slow)),
        )
    )
    whole = histogram(fast + slow)
    assert merged["onboarding"]["connect_ms"]["p50"] == round(whole.percentile(50) / 1000, 3)
    assert merged["onboarding"]["connect_ms"]["p99"] == round(whole.percentile(99) / 1000, 3)
    assert Histogram.from_dict(merged["histograms"]["connect_us"]).to_dict() == whole.to_dict()


def test_latency_of_two_own_ingests_merges_exactly_too() -> None:
    a, b = [3000] * 50 + [9000] * 50, [1000] * 99 + [70_000]
    reports = []
    for index, latencies in enumerate((a, b)):
        report = built_report(
            latency_us=latencies,
            run=run_section(RUN, "k3f9a2-", segment=(index, 2), started_at_ns=START_NS),
        )
        reports.append(report)
    merged = merge_reports(inputs(*reports))
    whole = histogram(a + b)
    assert merged["latency_ms"]["p50"] == round(whole.percentile(50) / 1000, 3)
    assert merged["latency_ms"]["p99"] == round(whole.percentile(99) / 1000, 3)
    assert merged["messages"]["ingested"] == 2000


def test_durations_run_from_the_earliest_start_to_the_latest_end() -> None:
    merged = merge_reports(
        inputs(fleet_slice(0, 2), fleet_slice(1, 2, late_ms=250, publish_window_s=10.0))
    )
    assert merged["duration_s"] == 10.25
    assert merged["run"]["start_spread_s"] == 0.25
    assert merged["run"]["start_late_s"] == 0.25
    assert merged["throughput"]["published_per_s"] == round(2000 / 10.25, 1)


def test_a_missing_slice_is_named_and_fails_but_the_rest_is_merged() -> None:
    merged = merge_reports(inputs(fleet_slice(0, 3), fleet_slice(2, 3), ingest_run([1], 2000)))
    assert merged["run"]["missing_segments"] == ["1/3"]
    assert merged["messages"]["lost"] is None
    assert merged["devices"]["connected"] == 200
    assert problems(merged)[0] == "slices 1/3 are missing: the totals cover the others only"


@pytest.mark.parametrize(
    ("second", "said"),
    [
        (lambda: built_report(scenario="other", run=fleet_slice(1, 2)["run"]), "scenario 'other'"),
        (
            lambda: built_report(run=run_section("another-run", "x-", segment=(1, 2))),
            "is of run 'another-run'",
        ),
        (lambda: fleet_slice(0, 2), "slice 0/2 again (it is also r0.json)"),
        (lambda: fleet_slice(1, 3), "is slice 1/3, but r0.json is a slice of 2"),
    ],
)
def test_inputs_that_cannot_be_one_run_are_refused_naming_the_file(second: Any, said: str) -> None:
    with pytest.raises(ReportInputError, match=r"^r1\.json: .*") as caught:
        merge_reports(inputs(fleet_slice(0, 2), second()))
    assert said in str(caught.value)


def test_a_report_without_run_and_histograms_cannot_be_merged() -> None:
    old = fleet_slice(1, 2)
    del old["histograms"]
    with pytest.raises(ReportInputError, match=r"r1\.json: has no 'histograms'"):
        merge_reports(inputs(fleet_slice(0, 2), old))


def test_only_ingest_reports_are_not_a_run() -> None:
    with pytest.raises(ReportInputError, match="only ingest-only reports"):
        merge_reports(inputs(ingest_run([1], 10)))


def test_thresholds_read_the_merged_report() -> None:
    merged = merge_reports(
        inputs(fleet_slice(0, 2), fleet_slice(1, 2), ingest_run([4000] * 2000, unique=2000))
    )
    results = evaluate(
        parse_thresholds([("latency_ms.p99 < 5", "t"), ("messages.lost == 0", "t")]), merged
    )
    assert [r.passed for r in results] == [True, True]


def test_the_merge_command_writes_a_report_compare_accepts(tmp_path: Path) -> None:
    paths = []
    reports = (fleet_slice(0, 2), fleet_slice(1, 2), ingest_run([4000] * 2000, unique=2000))
    for n, report in enumerate(reports):
        path = tmp_path / f"r{n}.json"
        path.write_text(json.dumps(report))
        paths.append(str(path))
    out, page = tmp_path / "merged.json", tmp_path / "merged.html"
    argv = ["merge", *paths, "--report", str(out), "--html", str(page), "--quiet"]
    assert main([*argv, "--threshold", "latency_ms.p99 < 1"]) == 4
    assert "<html" in page.read_text()
    merged = json.loads(out.read_text())
    assert merged["thresholds"][0]["passed"] is False
    assert main(["compare", str(out), str(out)]) == 0
    assert main(["merge", paths[0], paths[0], "--report", str(out), "--quiet"]) == 2


def test_an_ingest_run_that_listened_after_the_slices_started_is_said() -> None:
    late = ingest_run([1000] * 2000, unique=2000)
    late["run"]["started_at_ns"] = START_NS + 1_500_000_000
    merged = merge_reports(inputs(fleet_slice(0, 1), late))
    assert any("listening only 1.500 s after the first slice" in n for n in merged["notes"])
    on_time = merge_reports(inputs(fleet_slice(0, 1), ingest_run([1000] * 2000, unique=2000)))
    assert not any("listening only" in n for n in on_time["notes"])


def test_the_slices_onboarding_plans_become_one() -> None:
    plan: dict[str, Any] = {"onboarding_planned_s": 2.0, "max_in_flight": 50, "connect_retries": 3}
    merged = merge_reports(
        inputs(
            fleet_slice(0, 2, **plan),
            fleet_slice(1, 2, **plan),
            ingest_run([4000] * 2000, unique=2000),
        )
    )
    whole = merged["onboarding"]["plan"]
    assert (whole["connections"], whole["max_in_flight"], whole["retries"]) == (200, 100, 6)
    assert whole["planned_s"] == 2.0
    assert whole["kept"] is True


def test_a_slice_without_a_plan_leaves_the_merged_plan_unknown() -> None:
    merged = merge_reports(
        inputs(fleet_slice(0, 2, onboarding_planned_s=2.0), fleet_slice(1, 2), ingest_run([], 0))
    )
    assert merged["onboarding"]["plan"] is None


GROUPS = [
    Group("machine-sensor", "msgpack", 0.5, 0, 37),
    Group("machine-sensor", "msgpack", 2.0, 37, 40, per_connection=8),
    Group("robot", "json", 1.0, 77, 23),
]
STAGES = [
    StageSettings(duration_s=3.0, devices=61, msg_rate_per_s=90.0),
    StageSettings(duration_s=4.0, devices=100, msg_rate_per_s=137.0),
    StageSettings(duration_s=2.0, devices=100, msg_rate_per_s=400.0),
    StageSettings(duration_s=3.0, devices=0, msg_rate_per_s=0.0),
]


def kept_marks(segment: Segment, *, short: int = 0) -> list[StageMark]:
    """Slice ``segment``'s marks had it done its share of the plan exactly (``short``
    devices fewer at the second stage's end)."""
    plan = StagePlan(STAGES, GROUPS)
    return [
        StageMark(
            stage.number,
            stage.start_s,
            stage.end_s,
            share.devices_planned,
            7,
            share.messages_planned,
            devices_achieved=share.devices_planned - (short if stage.number == 2 else 0),
            published=share.messages_planned,
            ended=True,
            rising=stage.devices_to > stage.devices_from,
        )
        for stage, share in zip(plan.stages, stage_shares(plan, segment), strict=True)
    ]


def staged_slice(index: int, count: int, marks: list[StageMark]) -> dict[str, Any]:
    report = fleet_slice(index, count)
    report["stages"] = stage_figures(marks, report["timeseries"], {}, None)
    return report


@pytest.mark.parametrize("count", [2, 3])
def test_the_slices_stages_add_up_to_what_one_process_reports(count: int) -> None:
    slices = [staged_slice(i, count, kept_marks(Segment(i, count))) for i in range(count)]
    merged = merge_reports(inputs(*slices))

    one = stage_figures(kept_marks(Segment()), merged["timeseries"], {}, None)
    assert merged["stages"] == one
    assert [s["devices_planned"] for s in merged["stages"]] == [61, 100, 100, 0]
    assert [s["kept"] for s in merged["stages"]] == [True] * 4
    # Each slice planned its share, not the whole plan.
    assert slices[0]["stages"][1]["devices_planned"] < 100


def test_a_slice_that_fell_behind_is_judged_on_the_whole_run() -> None:
    behind = [kept_marks(Segment(0, 2), short=10), kept_marks(Segment(1, 2))]
    merged = merge_reports(inputs(*(staged_slice(i, 2, m) for i, m in enumerate(behind))))

    second = merged["stages"][1]
    assert second["devices_achieved"] == 90
    assert second["kept"] is False
    assert second["behind"].startswith(
        "devices fell behind: 90 of 100 planned devices were connected at its end"
    )


def test_what_ingest_stored_per_stage_is_known_only_from_its_time_series() -> None:
    def slice_with_samples(index: int) -> dict[str, Any]:
        report = staged_slice(index, 2, kept_marks(Segment(index, 2)))
        report["timeseries"] = [
            {"t_s": float(t), "phase": "publishing", "stage": 1, "ingested_total": 0}
            for t in range(13)
        ]
        return report

    ingest = ingest_run([1000], 4400)
    silent = merge_reports(inputs(slice_with_samples(0), slice_with_samples(1), ingest))
    assert [s["ingested"] for s in silent["stages"]] == [None] * 4
    assert [s["lost"] for s in silent["stages"]] == [None] * 4

    # An ingest that brings its samples (as a run over workers' coordinator does).
    ingest["timeseries"] = ingest_samples(
        [
            {"t_s": float(t), "ingested_total": 400 * t, "lost_so_far": 0, "phase": "publishing"}
            for t in range(13)
        ]
    )
    heard = merge_reports(inputs(slice_with_samples(0), slice_with_samples(1), ingest))
    assert [s["ingested"] for s in heard["stages"]] == [1200, 1600, 800, 1200]
    assert [s["lost"] for s in heard["stages"]] == [0] * 4


def test_thresholds_read_a_stage_of_the_merged_report_by_its_number() -> None:
    behind = [kept_marks(Segment(0, 2), short=10), kept_marks(Segment(1, 2))]
    merged = merge_reports(inputs(*(staged_slice(i, 2, m) for i, m in enumerate(behind))))
    thresholds = parse_thresholds(
        [
            ("stages.2.devices_achieved >= 95", "t"),
            ("stages.3.devices_achieved == 100", "t"),
            ("stages.3.messages_planned == 537", "t"),
            ("stages.5.published > 0", "t"),
        ]
    )
    results = evaluate(thresholds, merged)
    assert [(r.value, r.passed) for r in results] == [
        (90, False),
        (100, True),
        (537, True),
        (None, False),  # no stage 5: not measured
    ]


def cut(at_s: float, started_s: float, before: int, lowest: int, back_s: float) -> FaultRecord:
    record = FaultRecord("drop_connections", at_s, started_s=started_s, ended_s=started_s)
    record.detail = f"cut {before - lowest} connections ({before - lowest} devices)"
    record.devices_before, record.devices_lowest = before, lowest
    record.devices_cut, record.back_s = before - lowest, back_s
    return record


def test_each_fault_is_one_entry_from_every_report_that_carried_out_its_share() -> None:
    # Two slices each cut their own connections (the second started 0.5 s later, its clock
    # 0.5 s behind); the ingest run's (a coordinator's) restarted the broker.
    first, second = fleet_slice(0, 2), fleet_slice(1, 2, late_ms=500)
    first["timeseries"] = second["timeseries"] = fake_timeseries(10, devices=50)
    first["faults"] = fault_figures([cut(2.0, 2.0, 50, 25, 0.4)], [], qos=1)
    second["faults"] = fault_figures([cut(2.0, 1.6, 50, 30, 0.5)], [], qos=1)
    restart = FaultRecord("broker_restart", 5.0, started_s=5.0, ended_s=5.5, detail="down")
    restart.devices_before = restart.devices_cut = 100
    restart.back_s = 1.0
    ingest = ingest_run([500] * 10, 2000)
    ingest["faults"] = fault_figures([restart], [], qos=1)

    merged = merge_reports(inputs(first, second, ingest))

    dropped, restarted = merged["faults"]
    assert dropped["started_s"] == 2.0
    assert (dropped["devices_before"], dropped["devices_cut"], dropped["devices_lost"]) == (
        100,
        45,
        45,
    )
    assert dropped["back_s"] == 0.6  # the second slice whole at 2.1 + 0.5 on the merged clock
    assert dropped["detail"] == (
        "r0.json: cut 25 connections (25 devices); r1.json: cut 20 connections (20 devices)"
    )
    assert (restarted["kind"], restarted["detail"], restarted["devices_lost"]) == (
        "broker_restart",
        "down",
        100,
    )
    assert dropped["window_s"] is not None  # judged again on the merged time series


def test_reports_without_faults_merge_to_none() -> None:
    assert merge_reports(inputs(fleet_slice(0, 2), fleet_slice(1, 2)))["faults"] == []
