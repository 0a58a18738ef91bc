"""The onboarding funnel: stage counts, times in milliseconds, and leaks between stages."""

from __future__ import annotations

import pytest

from simulator.metrics.funnel import (
    CONNACK,
    CONNECT_STAGES,
    FIRST_TELEMETRY,
    REGISTER_STAGES,
    REGISTERED,
    SUBACK,
    TCP_CONNECT,
    Funnel,
    Reannouncements,
    Stage,
)

# Values the histogram holds within its relative error of 2**-7 (HdrHistogram style).
REL = 2.0**-7


def test_reach_counts_devices_and_records_their_time() -> None:
    stage = Stage(CONNACK)
    stage.reach(2_000)
    stage.reach(5_000, count=3)
    assert stage.reached == 4
    assert stage.elapsed_us.count == 4
    assert stage.elapsed_us.min == 2_000
    assert stage.elapsed_us.max == pytest.approx(5_000, rel=REL)


def test_reach_before_the_start_counts_as_zero() -> None:
    # Clocks of two hosts can disagree by a little; the device still reached the stage.
    stage = Stage(FIRST_TELEMETRY)
    stage.reach(-300)
    assert stage.reached == 1
    assert stage.elapsed_us.max == 0


def test_fell_out_sums_the_three_ways_out() -> None:
    stage = Stage(SUBACK, reached=5, rejected=1, timeouts=2, failed=3)
    assert stage.fell_out == 6


def test_to_dict_gives_counts_and_percentiles_in_milliseconds() -> None:
    stage = Stage(REGISTERED, rejected=2, timeouts=1, failed=4)
    stage.reach(2_000, count=99)
    stage.reach(250_000)
    report = stage.to_dict()
    assert report["stage"] == REGISTERED
    assert (report["reached"], report["rejected"], report["timeouts"], report["failed"]) == (
        100,
        2,
        1,
        4,
    )
    assert report["p50_ms"] == pytest.approx(2.0, rel=REL)
    assert report["p99_ms"] == pytest.approx(2.0, rel=REL)
    assert report["max_ms"] == 250.0  # the maximum is exact


def test_to_dict_rounds_to_microseconds() -> None:
    stage = Stage(TCP_CONNECT)
    stage.reach(123)  # small values are exact
    report = stage.to_dict()
    assert report["p50_ms"] == report["p99_ms"] == report["max_ms"] == 0.123


def test_to_dict_has_no_times_when_no_device_got_there() -> None:
    stage = Stage(SUBACK, rejected=3)
    report = stage.to_dict()
    assert report["reached"] == 0
    assert report["rejected"] == 3
    assert report["p50_ms"] is None
    assert report["p99_ms"] is None
    assert report["max_ms"] is None


def test_funnel_keeps_stages_in_the_given_order() -> None:
    funnel = Funnel(REGISTER_STAGES)
    assert [stage.name for stage in funnel.stages] == [TCP_CONNECT, CONNACK, SUBACK, REGISTERED]
    assert [stage.name for stage in Funnel(CONNECT_STAGES).stages] == [TCP_CONNECT, CONNACK]


def test_funnel_looks_stages_up_by_name() -> None:
    funnel = Funnel(CONNECT_STAGES)
    assert funnel[CONNACK] is funnel.stages[1]
    assert CONNACK in funnel
    assert SUBACK not in funnel
    assert 3 not in funnel
    with pytest.raises(KeyError):
        funnel[SUBACK]


def test_add_appends_a_stage_measured_elsewhere() -> None:
    funnel = Funnel(REGISTER_STAGES)
    first = Stage(FIRST_TELEMETRY)
    funnel.add(first)
    assert funnel.stages[-1] is first
    assert funnel[FIRST_TELEMETRY] is first
    assert FIRST_TELEMETRY in funnel
    assert [stage.name for stage in funnel.stages][-2:] == [REGISTERED, FIRST_TELEMETRY]


def settled(funnel: Funnel) -> None:
    """Ten devices: two refused at CONNACK, one SUBACK timeout, two refused at registration."""
    funnel[TCP_CONNECT].reach(1_000, 10)
    funnel[CONNACK].reach(2_000, 8)
    funnel[CONNACK].rejected = 2
    funnel[SUBACK].reach(3_000, 7)
    funnel[SUBACK].timeouts = 1
    funnel[REGISTERED].reach(4_000, 5)
    funnel[REGISTERED].rejected = 2


def test_no_leaks_when_every_stage_adds_up() -> None:
    funnel = Funnel(REGISTER_STAGES)
    assert funnel.leaks() == []
    settled(funnel)
    assert funnel.leaks() == []


def test_a_stage_that_does_not_add_up_is_named() -> None:
    funnel = Funnel(REGISTER_STAGES)
    settled(funnel)
    funnel[REGISTERED].failed = 1  # one device counted twice
    leaks = funnel.leaks()
    assert len(leaks) == 1
    assert leaks[0].startswith(f"{REGISTERED}:")
    assert f"{SUBACK} reached 7" in leaks[0]


def test_a_device_still_on_its_way_shows_as_a_leak() -> None:
    funnel = Funnel(REGISTER_STAGES)
    settled(funnel)
    funnel[REGISTERED].reached -= 1
    assert [leak.split(":")[0] for leak in funnel.leaks()] == [REGISTERED]


def test_every_short_stage_is_named() -> None:
    funnel = Funnel(REGISTER_STAGES)
    funnel[TCP_CONNECT].reach(1_000, 4)
    funnel[SUBACK].reach(1_000, 4)
    # CONNACK is short of TCP, SUBACK exceeds CONNACK, REGISTERED is short of SUBACK.
    assert [leak.split(":")[0] for leak in funnel.leaks()] == [CONNACK, SUBACK, REGISTERED]


def test_an_added_stage_takes_part_in_the_leak_check() -> None:
    funnel = Funnel(REGISTER_STAGES)
    settled(funnel)
    first = Stage(FIRST_TELEMETRY)
    funnel.add(first)
    assert [leak.split(":")[0] for leak in funnel.leaks()] == [FIRST_TELEMETRY]
    first.reach(9_000, 5)
    assert funnel.leaks() == []


def test_reannouncements_to_dict() -> None:
    again = Reannouncements()
    empty = again.to_dict()
    assert empty["p50_ms"] is None
    assert empty["p99_ms"] is None
    assert (empty["sent"], empty["accepted"], empty["failed"]) == (0, 0, 0)
    again.sent = 6
    again.accepted = 3
    again.rejected = 1
    again.timeouts = 1
    again.failed = 1
    for value in (100, 100, 200):
        again.elapsed_us.record(value)
    report = again.to_dict()
    assert report["sent"] == 6
    assert report["accepted"] == 3
    assert report["rejected"] == 1
    assert report["timeouts"] == 1
    assert report["failed"] == 1
    assert report["p50_ms"] == 0.1
    assert report["p99_ms"] == 0.2
