"""Fleet composition: blocks by model that always add up to the fleet."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.scenario.composition import Group, compose, connection_starts
from tests.unit.scenario.mix import Entry


def test_no_mix_is_one_group_of_the_default_model() -> None:
    assert compose(7, [], model="m", payload="msgpack", interval_s=1.0) == (
        Group("m", "msgpack", 1.0, 0, 7),
    )


def test_counts_first_then_shares_of_the_rest_with_entry_settings() -> None:
    groups = compose(
        10,
        [
            Entry("a", count=3, publish_interval_s=5.0),
            Entry("b", share=0.5),
            Entry("c", share=0.5, payload="json"),
        ],
        model="m",
        payload="msgpack",
        interval_s=1.0,
    )
    assert groups == (
        Group("a", "msgpack", 5.0, 0, 3),
        Group("b", "msgpack", 1.0, 3, 4),
        Group("c", "json", 1.0, 7, 3),
    )


def test_counts_beyond_the_fleet_or_nothing_to_fill_the_rest_are_errors() -> None:
    with pytest.raises(ValueError, match="more than the 5 devices"):
        compose(5, [Entry("a", count=6)], model="m", payload="p", interval_s=1.0)
    with pytest.raises(ValueError, match="no entry has a share"):
        compose(5, [Entry("a", count=2)], model="m", payload="p", interval_s=1.0)


@given(
    devices=st.integers(min_value=1, max_value=10_000),
    shares=st.lists(st.floats(min_value=0.01, max_value=1.0), min_size=1, max_size=8),
)
def test_shares_always_add_up_to_the_fleet_in_consecutive_blocks(
    devices: int, shares: list[float]
) -> None:
    groups = compose(
        devices,
        [Entry(f"m{i}", share=s) for i, s in enumerate(shares)],
        model="m",
        payload="p",
        interval_s=1.0,
    )
    assert sum(g.count for g in groups) == devices
    start = 0
    for group in groups:
        assert group.start == start
        start += group.count
    total = sum(shares)
    for group in groups:
        share = shares[int(group.model[1:])]
        assert abs(group.count - devices * share / total) < 1


def test_each_entry_can_put_its_devices_behind_gateways_or_not() -> None:
    groups = compose(
        25,
        [Entry("direct", count=5), Entry("behind", share=1.0, devices_per_connection=8)],
        model="m",
        payload="msgpack",
        interval_s=1.0,
        per_connection=1,
    )
    assert [(g.model, g.count, g.per_connection, g.connections) for g in groups] == [
        ("direct", 5, 1, 5),
        ("behind", 20, 8, 3),
    ]
    # Five connections of one device, then gateways of 8, 8 and the remaining 4.
    assert list(connection_starts(groups)) == [0, 1, 2, 3, 4, 5, 13, 21, 25]


def test_the_fleet_default_applies_where_an_entry_says_nothing() -> None:
    groups = compose(
        10, [Entry("a", share=1.0)], model="m", payload="p", interval_s=1.0, per_connection=4
    )
    assert [g.per_connection for g in groups] == [4]
    assert list(connection_starts(groups)) == [0, 4, 8, 10]
