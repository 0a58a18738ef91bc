"""Slices of a run: dealt by global connection index, never overlapping, always the whole."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.scenario.composition import Group, compose, connection_starts
from simulator.scenario.plan import OnboardingPlan
from simulator.scenario.segment import (
    Segment,
    SegmentSchedule,
    parse_start_at,
    slice_connections,
    slice_device_count,
    slice_devices,
    slice_starts,
)
from tests.unit.scenario.mix import Entry


def _fleets() -> list[tuple[Group, ...]]:
    """Direct devices, gateways, a mix of both, odd sizes, and fleets smaller than N."""
    fleets: list[tuple[Group, ...]] = []
    for devices in (0, 1, 2, 7, 60, 101, 1000):
        for per in (1, 3, 53):
            fleets.append(
                compose(
                    devices, [], model="m", payload="msgpack", interval_s=1.0, per_connection=per
                )
            )
        fleets.append(
            compose(
                devices,
                [
                    Entry("a", share=0.5),
                    Entry("b", share=0.3, devices_per_connection=4),
                    Entry("c", share=0.2, devices_per_connection=10, publish_interval_s=5.0),
                ],
                model="m",
                payload="msgpack",
                interval_s=1.0,
            )
        )
    return fleets


FLEETS = _fleets()
COUNTS = (1, 2, 3, 4, 5, 8, 16)


@pytest.mark.parametrize("groups", FLEETS, ids=lambda g: f"{sum(x.count for x in g)}dev")
@pytest.mark.parametrize("count", COUNTS)
def test_slices_never_overlap_and_add_up_to_the_whole_fleet(
    groups: tuple[Group, ...], count: int
) -> None:
    whole = list(range(sum(group.count for group in groups)))
    slices = [slice_devices(groups, Segment(index, count)) for index in range(count)]
    dealt = [device for part in slices for device in part]
    assert len(dealt) == len(set(dealt)), "a device is in two slices"
    assert sorted(dealt) == whole
    assert [len(part) for part in slices] == [
        slice_device_count(groups, Segment(index, count)) for index in range(count)
    ]


@pytest.mark.parametrize("groups", FLEETS, ids=lambda g: f"{sum(x.count for x in g)}dev")
@pytest.mark.parametrize("count", COUNTS)
def test_a_gateway_stays_whole_in_one_slice(groups: tuple[Group, ...], count: int) -> None:
    starts = connection_starts(groups)
    owner: dict[int, int] = {}
    for index in range(count):
        for device in slice_devices(groups, Segment(index, count)):
            owner[device] = index
    for connection in range(len(starts) - 1):
        members = range(starts[connection], starts[connection + 1])
        assert {owner[d] for d in members} == {connection % count}


@pytest.mark.parametrize("groups", FLEETS, ids=lambda g: f"{sum(x.count for x in g)}dev")
@pytest.mark.parametrize("count", COUNTS)
def test_slice_starts_cut_the_slice_devices_by_connection(
    groups: tuple[Group, ...], count: int
) -> None:
    starts = connection_starts(groups)
    for index in range(count):
        segment = Segment(index, count)
        local = slice_starts(starts, segment)
        connections = slice_connections(groups, segment)
        assert len(local) == len(connections) + 1
        for k, connection in enumerate(connections):
            assert local[k + 1] - local[k] == starts[connection + 1] - starts[connection]
        assert local[-1] == slice_device_count(groups, segment)


@given(
    connections=st.integers(min_value=0, max_value=500),
    count=st.integers(min_value=1, max_value=40),
    rate=st.floats(min_value=0.5, max_value=1e5),
)
def test_the_slices_schedules_together_are_the_whole_plan(
    connections: int, count: int, rate: float
) -> None:
    plan = OnboardingPlan(connections, rate)
    times = []
    for index in range(count):
        segment = Segment(index, count)
        schedule = SegmentSchedule(plan, segment)
        mine = [schedule.start_s(k) for k in range(segment.connections(connections))]
        assert mine == sorted(mine)
        times.extend(mine)
    assert sorted(times) == [plan.start_s(i) for i in range(connections)]


def test_each_slice_connects_at_a_share_of_the_rate() -> None:
    plan = OnboardingPlan(1000, 100.0)
    schedule = SegmentSchedule(plan, Segment(1, 4))
    assert schedule.start_s(0) == pytest.approx(0.01)
    assert schedule.start_s(1) - schedule.start_s(0) == pytest.approx(0.04)  # 25/s
    assert schedule.eta_s() == pytest.approx(plan.start_s(997))


@given(total=st.integers(min_value=0, max_value=10_000), count=st.integers(1, 64))
def test_local_and_global_connections_are_inverse(total: int, count: int) -> None:
    for index in range(count):
        segment = Segment(index, count)
        for local in range(segment.connections(total)):
            number = segment.global_connection(local)
            assert number < total
            assert segment.owns(number)
            assert segment.local_connection(number) == local


def test_parse_reads_i_of_n() -> None:
    assert Segment.parse("2/4") == Segment(2, 4)
    assert Segment.parse(" 0 / 1 ") == Segment()
    assert str(Segment(3, 8)) == "3/8"
    assert Segment().whole


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("4/4", "slice index must be in 0..3 for 4 slice(s), got 4"),
        ("0/0", "a run has at least 1 slice, got 0"),
        ("1", "expected I/N (e.g. 0/4), got '1'"),
        ("-1/4", "expected I/N (e.g. 0/4), got '-1/4'"),
        ("a/b", "expected I/N (e.g. 0/4), got 'a/b'"),
    ],
)
def test_parse_says_what_is_wrong(text: str, said: str) -> None:
    with pytest.raises(ValueError, match="^" + said.replace("(", r"\(").replace(")", r"\)")):
        Segment.parse(text)


def test_a_connection_of_another_slice_is_not_ours() -> None:
    with pytest.raises(ValueError, match="connection 5 is not in slice 0/2"):
        Segment(0, 2).local_connection(5)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1796630400", 1_796_630_400_000_000_000),
        ("1796630400.25", 1_796_630_400_250_000_000),
        ("2026-12-07T08:00:00Z", 1_796_630_400_000_000_000),
        ("2026-12-07T08:00:00", 1_796_630_400_000_000_000),
        ("2026-12-07T09:00:00+01:00", 1_796_630_400_000_000_000),
        ("2026-12-07T08:00:00.5Z", 1_796_630_400_500_000_000),
    ],
)
def test_start_at_takes_iso_utc_or_epoch_seconds(text: str, ns: int) -> None:
    assert parse_start_at(text) == ns


@pytest.mark.parametrize("text", ["tomorrow", "nan", "inf", "-5", "2026-13-01T00:00:00Z", ""])
def test_start_at_refuses_what_is_not_a_time(text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_start_at(text)
