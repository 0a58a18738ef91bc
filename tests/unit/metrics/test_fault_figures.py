"""What the report says each fault did: its record, and its window of the time series."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.metrics.faults import (
    SETTLE_S,
    FaultRecord,
    fault_figures,
    merged_record,
    record_of,
)


def sample(t_s: float, duplicated: int, gaps: int, p99: float | None) -> dict[str, Any]:
    return {"t_s": t_s, "duplicated_total": duplicated, "lost_so_far": gaps, "latency_ms_p99": p99}


SAMPLES = [
    sample(1.0, 0, 0, 2.0),
    sample(2.0, 0, 0, 2.0),
    sample(3.0, 4, 7, 900.0),  # the fault at 2.5 s: duplicates, gaps, a latency peak
    sample(4.0, 6, 0, 40.0),
    sample(5.0, 6, 0, 3.0),
    sample(12.0, 9, 0, 500.0),  # after the window: not the fault's
]


def test_a_fault_window_runs_until_all_are_back_and_settled() -> None:
    record = FaultRecord("broker_restart", 2.5, started_s=2.5, ended_s=3.5, detail="down 1 s")
    record.devices_before, record.devices_cut, record.devices_lowest = 100, 100, 0
    record.back_s = 1.5
    (figures,) = fault_figures([record], SAMPLES, qos=1)
    assert figures["window_s"] == [2.5, 2.5 + 1.5 + SETTLE_S]
    assert figures["qos"] == 1
    assert figures["devices_lost"] == 100
    assert figures["duplicated"] == 6
    assert figures["gaps_peak"] == 7
    assert figures["lost"] == 0  # every gap it opened was filled within the window
    assert figures["latency_ms_p99_peak"] == 900.0
    assert figures["back_s"] == 1.5


def test_the_next_fault_ends_the_window_and_order_is_by_start() -> None:
    first = FaultRecord("drop_connections", 2.5, started_s=2.5, back_s=None)
    second = FaultRecord("drop_connections", 3.5, started_s=3.5, back_s=0.5)
    late, early = fault_figures([second, first], SAMPLES, qos=1)[::-1]
    assert early["at_s"] == 2.5
    assert early["window_s"] == [2.5, 3.5]
    assert early["duplicated"] == 4
    assert late["window_s"] == [3.5, 3.5 + 0.5 + SETTLE_S]
    assert late["duplicated"] == 2


def test_a_fault_not_reached_has_no_window() -> None:
    (figures,) = fault_figures([FaultRecord("broker_restart", 90.0)], SAMPLES, qos=1)
    assert figures["started_s"] is None
    assert figures["window_s"] is None
    assert figures["duplicated"] is None


def test_the_backlog_peak_is_the_most_published_and_not_yet_stored_in_the_window() -> None:
    def at(t_s: float, published: int, ingested: int) -> dict[str, Any]:
        return {**sample(t_s, 0, 0, 5.0), "published_total": published, "ingested_total": ingested}

    samples = [at(1.0, 100, 100), at(2.0, 200, 150), at(3.0, 300, 120), at(4.0, 400, 400)]
    slow = FaultRecord("slow_sink", 1.5, started_s=1.5, ended_s=3.5, back_s=2.0)
    (figures,) = fault_figures([slow], samples, qos=0)
    assert figures["backlog_peak"] == 180
    (before,) = fault_figures([FaultRecord("slow_sink", 9.0, started_s=9.0)], samples, qos=0)
    assert before["backlog_peak"] is None


def test_without_ingest_a_fault_has_its_window_and_none_of_ingest_s_figures() -> None:
    record = FaultRecord("partition", 2.5, started_s=2.5, ended_s=3.5, back_s=1.0)
    (figures,) = fault_figures([record], SAMPLES, qos=0, ingest=False)
    assert figures["window_s"] == [2.5, 2.5 + 1.0 + SETTLE_S]
    assert figures["duplicated"] is None
    assert figures["lost"] is None
    assert figures["gaps_peak"] is None
    assert figures["backlog_peak"] is None
    assert figures["latency_ms_p99_peak"] is None


def test_at_qos_0_the_gaps_a_window_leaves_open_are_its_lost_messages() -> None:
    """Gaps open before the fault are not its; those it opened and nothing filled are."""
    samples = [sample(1.0, 0, 2, 3.0), sample(2.0, 0, 9, 3.0), sample(3.0, 0, 6, 3.0)]
    network = FaultRecord("network", 1.5, duration_s=1.0, started_s=1.5, back_s=0.0)
    (figures,) = fault_figures([network], samples, qos=0)
    assert figures["qos"] == 0
    assert (figures["gaps_peak"], figures["lost"]) == (9, 4)


def test_a_backlog_is_never_negative_where_ingest_figures_are_newer() -> None:
    # Merged from several processes, ingest's total may be from a later instant than the
    # fleet's published one.
    samples = [{**sample(3.0, 0, 0, 5.0), "published_total": 100, "ingested_total": 165}]
    record = FaultRecord("drop_connections", 2.5, started_s=2.5, ended_s=2.5, back_s=0.1)
    (figures,) = fault_figures([record], samples, qos=1)
    assert figures["backlog_peak"] == 0


def test_slices_shares_of_a_fault_are_one_record_with_the_devices_added_up() -> None:
    first = FaultRecord("drop_connections", 2.0, started_s=2.0, ended_s=2.1, back_s=0.5)
    first.detail = "cut 15 connections (15 devices)"
    first.devices_before, first.devices_cut, first.devices_lowest = 30, 15, 15
    second = FaultRecord("drop_connections", 2.0, started_s=2.3, ended_s=2.4, back_s=1.0)
    second.detail = "cut 14 connections (14 devices)"
    second.devices_before, second.devices_cut, second.devices_lowest = 29, 14, 16
    merged = merged_record([("worker 0/2", first), ("worker 1/2", second)])
    assert (merged.started_s, merged.ended_s) == (2.0, 2.4)
    assert (merged.devices_before, merged.devices_cut, merged.devices_lowest) == (59, 29, 31)
    assert merged.back_s == pytest.approx(1.3)  # the last slice whole again at 3.3 s
    assert merged.detail == (
        "worker 0/2: cut 15 connections (15 devices); worker 1/2: cut 14 connections (14 devices)"
    )
    assert merged.error is None


def test_what_every_slice_said_alike_is_said_once() -> None:
    shares = [
        (name, FaultRecord("network", 3.0, 1.0, started_s=3.0, ended_s=4.0, detail="+50 ms"))
        for name in ("worker 0/2", "worker 1/2")
    ]
    assert merged_record(shares).detail == "+50 ms, in each of 2"
    assert merged_record(shares[:1]).detail == "+50 ms"


def test_a_slice_not_back_leaves_the_fault_not_back_and_errors_are_named() -> None:
    back = FaultRecord("drop_connections", 2.0, started_s=2.0, ended_s=2.0, back_s=0.5)
    stuck = FaultRecord("drop_connections", 2.0, started_s=2.0, ended_s=2.0, error="no relay")
    merged = merged_record([("a", back), ("b", stuck)])
    assert merged.back_s is None
    assert merged.error == "b: no relay"
    unreached = merged_record([("a", FaultRecord("broker_restart", 90.0))])
    assert (unreached.started_s, unreached.devices_before) == (None, 0)


def test_a_record_comes_back_from_its_figures_and_moves_to_another_clock() -> None:
    record = FaultRecord("broker_restart", 5.0, started_s=5.0, ended_s=5.5, detail="down")
    record.devices_before, record.devices_cut, record.devices_lowest = 60, 60, 12
    record.back_s = 2.0
    (figures,) = fault_figures([record], [], qos=1)
    assert record_of(figures) == record
    moved = record.moved(0.75)
    assert (moved.at_s, moved.started_s, moved.ended_s, moved.back_s) == (5.0, 5.75, 6.25, 2.0)
