"""Interval histograms (``since``), snapshots and cumulative bucket counts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.metrics.histogram import Histogram

values = st.lists(st.integers(min_value=0, max_value=10**9), max_size=200)


@given(before=values, after=values)
def test_since_holds_exactly_what_was_recorded_after_the_snapshot(
    before: list[int], after: list[int]
) -> None:
    hist = Histogram()
    for v in before:
        hist.record(v)
    snapshot = hist.copy()
    for v in after:
        hist.record(v)
    expected = Histogram()
    for v in after:
        expected.record(v)
    delta = hist.since(snapshot)
    assert delta.count == len(after)
    assert delta.to_dict()["buckets"] == expected.to_dict()["buckets"]
    if after:
        for p in (50.0, 99.0, 100.0):
            exact = expected.percentile(p)
            assert abs(delta.percentile(p) - exact) <= max(1, exact // 100)


def test_a_snapshot_is_independent() -> None:
    hist = Histogram()
    hist.record(5)
    snap = hist.copy()
    hist.record(7)
    assert snap.count == 1
    assert hist.count == 2


def test_since_refuses_what_is_not_an_earlier_snapshot() -> None:
    a = Histogram()
    a.record(3)
    with pytest.raises(ValueError, match="snapshot"):
        Histogram().since(a)
    with pytest.raises(ValueError, match="layouts"):
        a.since(Histogram(highest=1000))


def test_count_at_or_below_is_cumulative() -> None:
    hist = Histogram()
    for v in (1, 2, 3, 1000, 5000):
        hist.record(v)
    assert hist.count_at_or_below(0) == 0
    assert hist.count_at_or_below(3) == 3
    assert hist.count_at_or_below(1100) == 4
    assert hist.count_at_or_below(10**6) == 5
