"""What the report says each fault did: its record, and its window of the time series."""

from __future__ import annotations

from typing import Any

from simulator.metrics.faults import SETTLE_S, FaultRecord, fault_figures


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
