"""Batcher: closes on size and on age, with a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.ingest.batcher import Batcher


def test_a_batch_closes_when_full() -> None:
    batcher: Batcher[str] = Batcher(max_size=3, max_age_s=10.0)
    assert batcher.add("a", now=0.0) is None
    assert batcher.add("b", now=0.1) is None
    assert batcher.pending == 2
    assert batcher.add("c", now=0.2) == ["a", "b", "c"]
    assert batcher.pending == 0
    assert batcher.deadline is None


def test_a_batch_closes_when_its_oldest_item_is_old_enough() -> None:
    batcher: Batcher[int] = Batcher(max_size=100, max_age_s=0.5)
    batcher.add(1, now=10.0)
    batcher.add(2, now=10.4)
    assert batcher.deadline == 10.5
    assert batcher.due(now=10.49) is None
    assert batcher.due(now=10.5) == [1, 2]
    assert batcher.due(now=99.0) is None


def test_age_counts_from_the_first_item_of_each_batch() -> None:
    batcher: Batcher[int] = Batcher(max_size=2, max_age_s=1.0)
    batcher.add(1, now=0.0)
    assert batcher.add(2, now=0.9) == [1, 2]
    batcher.add(3, now=5.0)
    assert batcher.due(now=5.9) is None
    assert batcher.deadline == 6.0
    assert batcher.due(now=6.0) == [3]


def test_drain_returns_whatever_is_pending() -> None:
    batcher: Batcher[int] = Batcher(max_size=10, max_age_s=1.0)
    assert batcher.drain() == []
    batcher.add(1, now=0.0)
    batcher.add(2, now=0.0)
    assert batcher.drain() == [1, 2]
    assert batcher.pending == 0
    assert batcher.due(now=100.0) is None


def test_a_batch_of_one_closes_at_once() -> None:
    batcher: Batcher[int] = Batcher(max_size=1, max_age_s=1.0)
    assert batcher.add(7, now=0.0) == [7]


@pytest.mark.parametrize(("size", "age"), [(0, 1.0), (10, 0.0), (10, -1.0), (10, float("nan"))])
def test_bad_limits_are_rejected(size: int, age: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        Batcher[int](max_size=size, max_age_s=age)


@given(
    st.integers(min_value=1, max_value=20),
    st.floats(min_value=0.01, max_value=5.0),
    st.lists(st.floats(min_value=0.0, max_value=1.0), max_size=200),
)
def test_every_item_comes_out_once_in_order_within_limits(
    size: int, age: float, steps: list[float]
) -> None:
    batcher: Batcher[int] = Batcher(max_size=size, max_age_s=age)
    out: list[list[int]] = []
    now = 0.0
    for item, step in enumerate(steps):
        now += step
        late = batcher.due(now)
        if late is not None:
            out.append(late)
        full = batcher.add(item, now)
        if full is not None:
            out.append(full)
    out.append(batcher.drain())
    assert [item for batch in out for item in batch] == list(range(len(steps)))
    assert all(len(batch) <= size for batch in out)


@given(
    st.integers(min_value=1, max_value=20),
    st.integers(min_value=0, max_value=5),
    st.lists(st.integers(min_value=0, max_value=45), max_size=30),
)
def test_adding_many_at_once_makes_the_batches_one_at_a_time_would(
    size: int, pending: int, reads: list[int]
) -> None:
    one: Batcher[int] = Batcher(max_size=size, max_age_s=1.0)
    many: Batcher[int] = Batcher(max_size=size, max_age_s=1.0)
    item = 0
    for _ in range(min(pending, size - 1)):  # an open batch from before, not yet full
        assert one.add(item, now=0.0) is None
        assert many.add_many([item], now=0.0) == []
        item += 1
    for read, count in enumerate(reads):
        items = list(range(item, item + count))
        item += count
        filled = [batch for x in items if (batch := one.add(x, now=float(read))) is not None]
        assert many.add_many(items, now=float(read)) == filled
        assert many.pending == one.pending
        assert many.deadline == one.deadline
    assert many.drain() == one.drain()
