"""The time series sampler: rates and per-interval latency from cumulative totals (fake time)."""

from __future__ import annotations

import pytest

from simulator.metrics.histogram import Histogram
from simulator.metrics.timeseries import SAMPLE_KEYS, TimeSeries, Totals


def totals(t_s: float, latency: Histogram, **figures: int | float | str) -> Totals:
    return Totals(t_s=t_s, latency_us=latency, **figures)  # type: ignore[arg-type]


def test_rates_are_differences_over_the_interval() -> None:
    series = TimeSeries()
    latency = Histogram()
    series.add(totals(1.0, latency, published=100, ingested=90, onboarded=50, cpu_s=0.5))
    sample = series.add(
        totals(3.0, latency, published=500, ingested=490, onboarded=150, cpu_s=1.5, reconnected=8)
    )
    assert sample["published_per_s"] == 200.0
    assert sample["reconnects_per_s"] == 4.0
    assert sample["ingested_per_s"] == 200.0
    assert sample["onboarding_rate_per_s"] == 50.0
    assert sample["cpu_percent"] == 50.0
    assert sample["published_total"] == 500
    assert list(sample) == list(SAMPLE_KEYS)


def test_ingested_per_second_runs_on_ingest_s_own_clock() -> None:
    """A line read late is not a second with nothing stored and the next with double."""
    series = TimeSeries()
    latency = Histogram()

    def at(t_s: float, ingest_t_s: float, ingested: int) -> float:
        sample = totals(t_s, latency, ingested=ingested)
        sample.ingest_t_s = ingest_t_s
        rate: float = series.add(sample)["ingested_per_s"]
        return rate

    assert at(1.0, 100.0, 1000) == 1000.0  # the first: over the run's own first second
    assert at(2.0, 101.0, 2000) == 1000.0
    assert at(3.0, 101.0, 2000) == 1000.0  # no newer line came: the last rate holds
    assert at(4.0, 103.0, 4000) == 1000.0  # two seconds' worth, over two of ingest's seconds
    assert at(5.0, 104.0, 4000) == 0.0  # a newer line with nothing stored: a stall, said so


def test_the_first_sample_counts_from_time_zero() -> None:
    sample = TimeSeries().add(totals(2.0, Histogram(), published=10))
    assert sample["published_per_s"] == 5.0


def test_latency_percentiles_cover_only_the_interval() -> None:
    series = TimeSeries()
    latency = Histogram()
    for _ in range(1000):
        latency.record(100_000)  # 100 ms in the first second
    first = series.add(totals(1.0, latency))
    for _ in range(10):
        latency.record(2_000)  # 2 ms in the second
    second = series.add(totals(2.0, latency))
    third = series.add(totals(3.0, latency))  # nothing new
    assert first["latency_ms_p50"] == pytest.approx(100.0, rel=0.01)
    assert second["latency_ms_p50"] == pytest.approx(2.0, rel=0.01)
    assert second["latency_ms_p99"] == pytest.approx(2.0, rel=0.01)
    assert third["latency_ms_p50"] is None


def test_counters_so_far_and_phase_are_carried_as_they_are() -> None:
    sample = TimeSeries().add(
        totals(
            1.0,
            Histogram(),
            missing=3,
            duplicated=2,
            out_of_order=1,
            malformed=4,
            phase="draining",
            connected=7,
            rss_bytes=1234,
        )
    )
    assert (
        sample["lost_so_far"],
        sample["duplicated_total"],
        sample["out_of_order_total"],
        sample["malformed_total"],
    ) == (3, 2, 1, 4)
    assert (sample["phase"], sample["connected"], sample["rss_bytes"]) == ("draining", 7, 1234)


def test_time_must_move_forward() -> None:
    series = TimeSeries()
    series.add(totals(2.0, Histogram()))
    with pytest.raises(ValueError, match="forward"):
        series.add(totals(1.0, Histogram()))
    assert series.latest is not None
    assert series.latest.t_s == 2.0


def test_a_control_request_is_in_the_sample_of_the_interval_it_came_in_and_no_other() -> None:
    series = TimeSeries()
    latency = Histogram()
    requests: list[dict[str, object]] = []

    def at(t_s: float) -> object:
        return series.add(Totals(t_s=t_s, latency_us=latency, control=list(requests)))["control"]

    assert at(1.0) is None
    requests.append({"t_s": 1.4, "action": "pause", "detail": "publishing paused", "ok": True})
    requests.append({"t_s": 1.9, "action": "rate", "detail": "refused", "ok": False})
    assert at(2.0) == requests
    assert at(3.0) is None
    requests.append({"t_s": 3.2, "action": "resume", "detail": "resumed", "ok": True})
    assert at(4.0) == requests[2:]
