"""Each stage's figures: its marks, its window of the time series, and the verdict on its plan."""

from __future__ import annotations

import pytest

from simulator.metrics.histogram import Histogram
from simulator.metrics.stages import StageMark, stage_figures
from simulator.metrics.timeseries import value_at

SAMPLES = [
    {"t_s": float(t), "ingested_total": 100 * t, "lost_so_far": 0 if t < 12 else 3,
     "cpu_percent": 50.0}
    for t in range(1, 21)
]  # fmt: skip


def mark(number: int, start: float, end: float, **figures: object) -> StageMark:
    base: dict[str, object] = {
        "devices_planned": 100,
        "devices_slack": 0,
        "messages_planned": 1000.0,
        "devices_achieved": 100,
        "published": 1000,
        "ended": True,
    }
    base.update(figures)
    return StageMark(number, start, end, **base)  # type: ignore[arg-type]


def latency(*values: int) -> Histogram:
    hist = Histogram()
    for value in values:
        hist.record(value)
    return hist


def test_a_stage_that_kept_to_its_plan_reads_its_window() -> None:
    at_start = latency(5_000)
    at_end = latency(5_000, 1_000, 1_000, 2_000)
    (figures,) = stage_figures([mark(1, 10.0, 20.0)], SAMPLES, {1: at_start}, at_end)

    assert figures["kept"] is True
    assert figures["behind"] is None
    assert figures["ingested"] == 1000
    assert figures["ingested_per_s"] == 100.0
    assert figures["lost"] == 3
    assert figures["msg_rate_planned_per_s"] == figures["msg_rate_achieved_per_s"] == 100.0
    # The histogram's buckets keep three significant digits.
    assert figures["latency_ms_p50"] == pytest.approx(1.0, rel=0.01)
    assert figures["latency_ms_p99"] == pytest.approx(2.0, rel=0.01)
    assert figures["cpu_percent"] == 50.0


def test_devices_short_of_plan_say_why() -> None:
    failed, slow = stage_figures(
        [
            mark(1, 0.0, 10.0, devices_achieved=90, connect_failed=10),
            mark(2, 10.0, 20.0, devices_achieved=90),
        ],
        SAMPLES,
        {},
        None,
    )

    assert failed["kept"] is False
    assert failed["behind"] == (
        "devices fell behind: 90 of 100 planned devices were connected at its end; "
        "10 devices failed to connect"
    )
    assert "could not keep to the plan" in str(slow["behind"])
    assert slow["latency_ms_p99"] is None


def test_messages_short_of_plan_name_the_simulator_or_the_broker() -> None:
    late, held = stage_figures(
        [mark(1, 0.0, 10.0, published=900, overrun=60), mark(2, 10.0, 20.0, published=900,
         inflight_blocked=7)],
        SAMPLES,
        {},
        None,
    )  # fmt: skip

    assert "simulator fell behind its schedule (60 sends ran late)" in str(late["behind"])
    assert "a simulator limit, not the platform's" in str(late["behind"])
    assert "Receive Maximum held 7 sends back" in str(held["behind"])


def test_a_ramp_up_short_of_messages_names_the_first_firings_a_hold_the_simulator() -> None:
    ramp, hold = stage_figures(
        [mark(1, 0.0, 10.0, published=900, overrun=3, rising=True), mark(2, 10.0, 20.0,
         published=900, overrun=3)],
        SAMPLES,
        {},
        None,
    )  # fmt: skip

    assert "wait up to one publish interval for their first firing" in str(ramp["behind"])
    assert hold["behind"] == (
        "messages fell behind: 900 messages sent of 1,000 planned; the simulator sent less "
        "than asked (simulator CPU 50 %)"
    )


def test_within_five_per_cent_is_kept_and_a_gateway_s_extra_devices_are_allowed() -> None:
    (figures,) = stage_figures(
        [mark(1, 0.0, 10.0, published=952, devices_achieved=0, devices_planned=0,
         devices_slack=9)],
        SAMPLES,
        {},
        None,
    )  # fmt: skip

    assert figures["kept"] is True


def test_a_stage_cut_short_says_so() -> None:
    (figures,) = stage_figures([mark(1, 0.0, 4.5, ended=False)], SAMPLES, {}, None)

    assert figures["behind"] == "stage 1 was cut short: the run stopped 4.5 s in"


def test_a_stage_shorter_than_a_sample_gets_its_share_of_what_was_ingested() -> None:
    (figures,) = stage_figures([mark(1, 10.5, 11.5)], SAMPLES, {}, None)

    assert figures["ingested"] == 100
    assert figures["ingested_per_s"] == 100.0


def test_a_figure_between_samples_is_read_on_the_line_between_them() -> None:
    samples: list[dict[str, float | None]] = [
        {"t_s": 1.0, "n": 10},
        {"t_s": 2.0, "n": None},
        {"t_s": 3.0, "n": 30},
    ]

    assert value_at(samples, "n", 0.0) == 10.0
    assert value_at(samples, "n", 2.5) == 25.0
    assert value_at(samples, "n", 3.0) == 30.0
    assert value_at(samples, "n", 9.0) == 30.0
    assert value_at(samples, "gone", 2.0) is None
