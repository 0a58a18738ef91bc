"""Time series of several reports laid on one wall clock."""

from __future__ import annotations

from typing import Any

from simulator.metrics.timeseries import SAMPLE_KEYS
from simulator.report.timeline import Track, ingest_samples, merge_timeseries

SECOND_NS = 1_000_000_000


def sample(
    t_s: float, published_total: int, rate: float, phase: str = "publishing"
) -> dict[str, Any]:
    return {
        "t_s": t_s,
        "phase": phase,
        "connected": 10,
        "published_per_s": rate,
        "published_total": published_total,
        "latency_ms_p99": rate / 10,
    }


def test_samples_fall_on_the_second_of_the_wall_clock_they_were_taken_at() -> None:
    early = Track(0, [sample(1.0, 10, 10.0), sample(2.0, 20, 10.0), sample(3.0, 30, 10.0)])
    late = Track(2 * SECOND_NS, [sample(1.0, 5, 5.0), sample(2.0, 10, 5.0)])
    merged = merge_timeseries([early, late])
    assert [s["t_s"] for s in merged] == [1.0, 2.0, 3.0, 4.0]
    assert [s["published_total"] for s in merged] == [10, 20, 35, 40]
    assert [s["published_per_s"] for s in merged] == [10.0, 10.0, 15.0, 5.0]
    assert [s["connected"] for s in merged] == [10, 10, 20, 20]
    assert [s["latency_ms_p99"] for s in merged] == [1.0, 1.0, 1.0, 0.5]
    assert all(list(s) == list(SAMPLE_KEYS) for s in merged)


def test_the_phase_is_the_least_advanced_of_the_reports_still_running() -> None:
    a = Track(0, [sample(1.0, 1, 1.0, "onboarding"), sample(2.0, 2, 1.0, "done")])
    b = Track(0, [sample(1.0, 1, 1.0, "publishing"), sample(2.0, 2, 1.0, "draining")])
    assert [s["phase"] for s in merge_timeseries([a, b])] == ["onboarding", "draining"]


def test_no_samples_make_no_series() -> None:
    assert merge_timeseries([Track(0, []), Track(5, [])]) == []


def test_each_second_carries_the_control_requests_every_report_took_in_it() -> None:
    """Each on the merged clock: b started a second after a."""
    pause = {"t_s": 1.5, "action": "pause", "detail": "publishing paused", "ok": True}
    fault = {"t_s": 0.6, "action": "fault", "detail": "partition triggered", "ok": True}
    a = Track(0, [sample(1.0, 1, 1.0), {**sample(2.0, 2, 1.0), "control": [pause]}])
    b = Track(SECOND_NS, [{**sample(1.0, 1, 1.0), "control": [fault]}, sample(2.0, 2, 1.0)])
    merged = merge_timeseries([a, b])
    assert [s["control"] for s in merged] == [None, [pause, {**fault, "t_s": 1.6}], None]


def test_a_request_is_kept_when_a_late_sample_and_the_next_fall_on_one_second() -> None:
    pause = {"t_s": 1.2, "action": "pause", "detail": "publishing paused", "ok": True}
    resume = {"t_s": 1.9, "action": "resume", "detail": "publishing resumed", "ok": True}
    late = {**sample(1.6, 1, 1.0), "control": [pause]}  # due at 1.0, taken late
    (merged,) = merge_timeseries([Track(0, [late, {**sample(2.01, 2, 1.0), "control": [resume]}])])
    assert merged["t_s"] == 2.0
    assert merged["control"] == [pause, resume]


def test_a_request_falls_in_the_second_of_its_own_time_not_of_its_sample() -> None:
    """The coordinator started 0.45 s after the worker: its sample at 3.0 falls on second 3
    (3.45, rounded), but a request it took at 2.9 came at 3.35, so it goes to second 4."""
    early = {"t_s": 1.2, "action": "pause", "detail": "publishing paused", "ok": True}
    late = {"t_s": 2.9, "action": "resume", "detail": "publishing resumed", "ok": True}
    worker = Track(0, [sample(float(t), t, 1.0) for t in (1, 2, 3, 4)])
    coordinator = Track(
        450_000_000,
        ingest_samples(
            [
                sample(1.0, 0, 0.0, "running"),
                {**sample(2.0, 0, 0.0, "running"), "control": [early]},
                {**sample(3.0, 0, 0.0, "running"), "control": [late]},
            ],
            keep=("control",),
        ),
    )
    merged = merge_timeseries([worker, coordinator])
    assert [(s["t_s"], s["control"]) for s in merged] == [
        (1.0, None),
        (2.0, [{**early, "t_s": 1.65}]),
        (3.0, None),
        (4.0, [{**late, "t_s": 3.35}]),
    ]


def test_a_request_after_the_last_second_goes_in_the_last_sample() -> None:
    late = {"t_s": 2.9, "action": "resume", "detail": "publishing resumed", "ok": True}
    track = Track(450_000_000, [sample(1.0, 1, 1.0), {**sample(2.0, 2, 1.0), "control": [late]}])
    assert [s["control"] for s in merge_timeseries([track], origin=0)] == [
        None,
        [{**late, "t_s": 3.35}],
    ]


def test_an_ingest_process_adds_its_ingest_but_not_a_fleet_it_watched() -> None:
    # A coordinator: started 2 s before its workers, it counts their published messages too
    # (from their progress) and ingests them; only its ingest is added to theirs.
    watcher = {**sample(3.0, 20, 10.0, "running"), "stage": 1, "ingested_total": 18}
    early = {**sample(1.0, 0, 0.0, "starting"), "ingested_total": 0}
    coordinator = Track(0, ingest_samples([early, watcher]))
    worker = Track(2 * SECOND_NS, [{**sample(1.0, 20, 10.0), "stage": 2, "ingested_total": 0}])

    merged = merge_timeseries([worker, coordinator], origin=2 * SECOND_NS)
    assert [s["t_s"] for s in merged] == [1.0]
    alone = merge_timeseries([coordinator])
    assert [(s["t_s"], s["phase"], s["stage"]) for s in alone] == [
        (1.0, "starting", None),
        (2.0, "starting", None),
        (3.0, "starting", None),
    ]
    assert merged[0]["published_total"] == 20
    assert merged[0]["ingested_total"] == 18
    assert merged[0]["connected"] == 10
    assert (merged[0]["phase"], merged[0]["stage"]) == ("publishing", 2)
