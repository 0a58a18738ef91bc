"""Accounting: every message classified once, against hand-built and generated sequences."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import PayloadError
from simulator.ingest.accounting import Accounting
from simulator.metrics.histogram import Histogram
from simulator.sinks import Row

T0 = 1_716_000_000_000_000_000


def feed(acc: Accounting, device: str, seqs: Iterable[int], latency_ns: int = 2_000_000) -> None:
    for seq in seqs:
        acc.record(device, seq, T0, T0 + latency_ns)


COUNTERS = (
    "received",
    "unique",
    "duplicated",
    "out_of_order",
    "missing",
    "devices_seen",
    "malformed",
    "clock_skew",
)


def counters(acc: Accounting) -> dict[str, int]:
    return {name: getattr(acc, name) for name in COUNTERS}


def expect(**changes: int) -> dict[str, int]:
    return dict.fromkeys(COUNTERS, 0) | changes


def test_in_order() -> None:
    acc = Accounting()
    feed(acc, "press-1", range(5))
    assert counters(acc) == expect(received=5, unique=5, devices_seen=1)


def test_gap_then_late_fill() -> None:
    acc = Accounting()
    feed(acc, "press-1", [0, 1, 4])
    assert counters(acc) == expect(received=3, unique=3, missing=2, devices_seen=1)
    feed(acc, "press-1", [3])
    assert counters(acc) == expect(received=4, unique=4, missing=1, out_of_order=1, devices_seen=1)
    feed(acc, "press-1", [2, 5])
    assert counters(acc) == expect(received=6, unique=6, out_of_order=2, devices_seen=1)


def test_first_message_after_zero_means_the_earlier_ones_are_missing() -> None:
    acc = Accounting()
    feed(acc, "press-1", [3])
    assert counters(acc) == expect(received=1, unique=1, missing=3, devices_seen=1)


def test_duplicates() -> None:
    acc = Accounting()
    feed(acc, "press-1", [0, 1, 1, 0, 2, 2])
    assert counters(acc) == expect(received=6, unique=3, duplicated=3, devices_seen=1)


def test_duplicate_of_a_late_filled_sequence() -> None:
    acc = Accounting()
    feed(acc, "press-1", [0, 3, 1, 1])
    assert counters(acc) == expect(
        received=4, unique=3, duplicated=1, out_of_order=1, missing=1, devices_seen=1
    )


def test_filling_the_middle_of_a_hole_splits_it() -> None:
    acc = Accounting()
    feed(acc, "press-1", [0, 10])  # hole 1..9
    feed(acc, "press-1", [5, 5, 4, 6, 1, 9, 1, 9])
    assert acc.missing == 9 - 5
    assert acc.out_of_order == 5
    assert acc.duplicated == 3
    # What is still missing is exactly 2, 3, 7, 8: each arrives late once, then duplicates.
    feed(acc, "press-1", [2, 3, 7, 8, 2, 3, 7, 8])
    assert acc.missing == 0
    assert acc.out_of_order == 9
    assert acc.duplicated == 7
    assert acc.unique == 11


def test_many_devices_are_tracked_independently() -> None:
    acc = Accounting()
    for seq in range(3):
        for device in ("a", "b", "c"):
            if (device, seq) != ("b", 1):
                feed(acc, device, [seq])
    feed(acc, "c", [0])
    assert counters(acc) == expect(received=9, unique=8, duplicated=1, missing=1, devices_seen=3)
    assert acc.lost_against({"a": 3, "b": 3, "c": 3}) == 1


def test_negative_sequence_is_a_payload_error_and_counts_nothing() -> None:
    acc = Accounting()
    with pytest.raises(PayloadError, match="press-1"):
        feed(acc, "press-1", [-1])
    assert counters(acc) == expect()


def test_latency_is_recorded_in_microseconds_for_every_delivery() -> None:
    acc = Accounting()
    feed(acc, "press-1", [0, 1], latency_ns=1_500_999)
    feed(acc, "press-1", [1], latency_ns=3_000_000)
    assert acc.latency.count == acc.received == 3
    assert acc.latency.min == 1_500
    assert acc.latency.max == 3_000


def test_negative_latency_clamps_to_zero_and_is_counted() -> None:
    acc = Accounting()
    feed(acc, "press-1", [0], latency_ns=-5_000)
    assert acc.clock_skew == 1
    assert (acc.latency.count, acc.latency.max) == (1, 0)


def test_latency_goes_into_the_histogram_given() -> None:
    shared = Histogram(highest=10_000, significant_bits=5)
    acc = Accounting(latency=shared)
    feed(acc, "press-1", [0])
    assert acc.latency is shared
    assert shared.count == 1


def test_malformed_is_counted() -> None:
    acc = Accounting()
    acc.record_malformed()
    acc.record_malformed()
    assert counters(acc) == expect(malformed=2)


def test_lost_against_sees_tail_losses_and_silent_devices() -> None:
    acc = Accounting()
    feed(acc, "a", [0, 1, 2, 3, 4, 7])  # published 10: 5, 6, 8, 9 lost
    feed(acc, "b", [0, 1, 2, 3])  # published 4: nothing lost
    feed(acc, "c", [0, 1, 5])  # published 3: 2 lost; 5 is beyond that, not held against it
    assert acc.missing == 2 + 3
    assert acc.lost_against({"a": 10, "b": 4, "c": 3, "silent": 6}) == 4 + 0 + 1 + 6
    assert acc.lost_total(10 + 4 + 3 + 6) == 10 + 4 + 3 + 6 - acc.unique


def test_lost_total_is_negative_when_the_published_count_is_wrong() -> None:
    acc = Accounting()
    feed(acc, "a", range(5))
    assert acc.lost_total(3) == -2


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[int, list[int], int]:
    """0..n, each sent once, then shuffled, with some sent again: (n, messages, extra copies)."""
    n = draw(st.integers(min_value=0, max_value=200))
    extra = draw(st.lists(st.integers(min_value=0, max_value=n), max_size=50))
    messages = draw(st.permutations(list(range(n + 1)) + extra))
    return n, messages, len(extra)


@given(deliveries())
def test_complete_delivery_in_any_order_with_duplicates(case: tuple[int, list[int], int]) -> None:
    n, messages, extra = case
    acc = Accounting()
    feed(acc, "press-1", messages)
    assert acc.unique == n + 1
    assert acc.duplicated == extra
    assert acc.missing == 0
    assert acc.received == len(messages)
    assert acc.lost_against({"press-1": n + 1}) == 0


def reference(messages: list[tuple[str, int]]) -> dict[str, int]:
    """The same classification with a set of everything seen: obviously right, too big to run."""
    seen: dict[str, set[int]] = {}
    out = {"unique": 0, "duplicated": 0, "out_of_order": 0}
    for device, seq in messages:
        got = seen.setdefault(device, set())
        if seq in got:
            out["duplicated"] += 1
        else:
            if got and seq < max(got):
                out["out_of_order"] += 1
            out["unique"] += 1
            got.add(seq)
    out["missing"] = sum(max(got) + 1 - len(got) for got in seen.values())
    out["devices_seen"] = len(seen)
    return out


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(min_value=0, max_value=40)),
        max_size=300,
    ),
    st.integers(min_value=0, max_value=45),
)
def test_matches_a_set_based_reference(messages: list[tuple[str, int]], published: int) -> None:
    acc = Accounting()
    for device, seq in messages:
        acc.record(device, seq, T0, T0)
    got = counters(acc)
    assert {k: got[k] for k in reference(messages)} == reference(messages)
    delivered = {(d, s) for d, s in messages if s < published}
    plan = dict.fromkeys(("a", "b", "c"), published)
    assert acc.lost_against(plan) == 3 * published - len(delivered)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.integers(min_value=0, max_value=30),
            st.integers(min_value=-5_000, max_value=5_000_000_000),
        ),
        max_size=200,
    ),
    st.lists(st.integers(min_value=0, max_value=200), max_size=5),
)
def test_rows_in_bulk_are_accounted_as_one_by_one(
    messages: list[tuple[str, int, int]], cuts: list[int]
) -> None:
    """Whatever the rows and however a read's rows are split into bulk calls: the same counts,
    the same latencies, and the duplicates' positions where ``record`` said False."""
    one = Accounting()
    expected_dups = [
        i
        for i, (device, seq, lag) in enumerate(messages)
        if not one.record(device, seq, T0, T0 + lag)
    ]
    rows = [Row(device, seq, T0, T0 + lag, "t", None, {}) for device, seq, lag in messages]
    bulk = Accounting()
    dups: list[int] = []
    bounds = sorted({0, len(rows), *(c for c in cuts if c < len(rows))})
    for start, end in itertools.pairwise(bounds):
        bulk.record_rows(rows[:end], start, dups)
    assert counters(bulk) == counters(one)
    assert bulk.latency.to_dict() == one.latency.to_dict()
    assert dups == expected_dups


def stored(messages: list[tuple[str, int]]) -> list[tuple[str, int, list[int]]]:
    """What a sink would hand back of ``messages``: per device its rows and its distinct
    sequences as half-open ranges, as :meth:`Sink.read_stored` does."""
    out: list[tuple[str, int, list[int]]] = []
    for device in sorted({d for d, _ in messages}):
        seqs = [s for d, s in messages if d == device]
        ranges: list[int] = []
        for seq in sorted(set(seqs)):
            if ranges and ranges[-1] == seq:
                ranges[-1] = seq + 1
            else:
                ranges += (seq, seq + 1)
        out.append((device, len(seqs), ranges))
    return out


def test_a_seeded_device_goes_on_after_what_was_stored() -> None:
    acc = Accounting()
    acc.seed([("press-1", 6, [0, 3, 5, 7]), ("press-2", 1, [2, 3])])
    assert counters(acc) == expect(received=7, unique=6, duplicated=1, missing=4, devices_seen=2)
    feed(acc, "press-1", [2, 3, 7])  # stored already, a gap filled late, the next one
    feed(acc, "press-2", [0, 1, 3])
    assert counters(acc) == expect(
        received=13, unique=11, duplicated=2, out_of_order=3, missing=1, devices_seen=2
    )
    assert acc.lost_against({"press-1": 8, "press-2": 4}) == 1  # press-1's 4


def test_seeding_after_recording_is_refused() -> None:
    acc = Accounting()
    feed(acc, "press-1", [0])
    with pytest.raises(ValueError, match="after messages were recorded"):
        acc.seed([])


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(min_value=0, max_value=30)),
        max_size=200,
    ),
    st.integers(min_value=0, max_value=200),
)
def test_seeded_with_what_was_stored_it_classifies_the_rest_as_one_that_saw_it_all(
    messages: list[tuple[str, int]], cut: int
) -> None:
    """A worker that died after storing the first ``cut`` messages, replaced by one seeded
    from the sink: every later message is new or not as it would have been, and the run's
    counts (latency and lateness aside) come out the same."""
    whole = Accounting()
    new = [whole.record(device, seq, T0, T0) for device, seq in messages]
    seeded = Accounting()
    seeded.seed(stored(messages[:cut]))
    assert [seeded.record(d, s, T0, T0) for d, s in messages[cut:]] == new[cut:]
    for name in ("received", "unique", "duplicated", "missing", "devices_seen"):
        assert getattr(seeded, name) == getattr(whole, name), name
