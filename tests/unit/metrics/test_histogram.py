"""Histogram: exact where it must be, within the stated relative error elsewhere, mergeable."""

from __future__ import annotations

import json
import random
from fractions import Fraction
from math import ceil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.metrics.histogram import Histogram

BITS = 7
RELATIVE_ERROR = 2.0**-BITS
HIGHEST = 3_600_000_000


def exact_percentile(values: list[int], p: float) -> int:
    """The nearest-rank percentile on the sorted raw values, p read as the decimal it prints as."""
    ordered = sorted(values)
    rank = max(1, ceil(Fraction(str(p)) * len(ordered) / 100))
    return ordered[rank - 1]


def filled(values: list[int], **kwargs: int) -> Histogram:
    hist = Histogram(**kwargs)
    for v in values:
        hist.record(v)
    return hist


def test_empty_histogram_reports_zeros() -> None:
    hist = Histogram()
    assert (hist.count, hist.min, hist.max, hist.mean, hist.overflow) == (0, 0, 0, 0.0, 0)
    assert hist.percentile(50) == 0
    assert hist.percentile(100) == 0


def test_small_values_are_exact() -> None:
    # Below 2**(bits+1) every value has its own bucket.
    values = list(range(2 ** (BITS + 1)))
    hist = filled(values)
    for p in (1, 10, 25, 50, 75, 90, 99, 100):
        assert hist.percentile(p) == exact_percentile(values, p)


def test_stats_are_exact() -> None:
    values = [3, 1_000, 77_777, 123_456_789]
    hist = filled(values)
    assert hist.count == 4
    assert hist.min == 3
    assert hist.max == 123_456_789
    assert hist.mean == sum(values) / 4


def test_record_with_count_equals_repeated_records() -> None:
    one = Histogram()
    one.record(5_000, count=3)
    many = filled([5_000, 5_000, 5_000])
    assert one.to_dict() == many.to_dict()


def test_percentile_never_leaves_the_real_range() -> None:
    # 1_000_001 shares a bucket with values up to ~1_007_000, but nothing above it was seen.
    hist = filled([1_000_001] * 10)
    assert hist.percentile(0) == 1_000_001
    assert hist.percentile(50) == 1_000_001
    assert hist.percentile(100) == 1_000_001


def test_percentile_reports_highest_equivalent_value() -> None:
    hist = filled([1_000_001, 2_000_000])
    p50 = hist.percentile(50)
    assert 1_000_001 < p50 < 1_000_001 * (1 + RELATIVE_ERROR)
    # 1_000_001 >> 12 = 244 is the bucket's mantissa; its top is 245 << 12 minus one.
    assert p50 == (245 << 12) - 1


@pytest.mark.parametrize("p", [-0.1, 100.01])
def test_percentile_outside_0_to_100_is_rejected(p: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        Histogram().percentile(p)


def test_decimal_percentiles_pick_the_nearest_rank() -> None:
    # 99.9 % of 1000 values is rank 999 exactly; float arithmetic alone would give 1000.
    values = list(range(1, 1001))
    hist = filled(values)
    assert hist.percentile(99.9) == 999
    assert hist.percentile(0.1) == 1


def test_values_above_highest_are_clamped_and_counted() -> None:
    hist = Histogram(highest=10_000)
    hist.record(50)
    hist.record(10_000)
    hist.record(10**12, count=2)
    assert hist.overflow == 2
    assert hist.count == 4
    assert hist.max == 10_000
    assert hist.percentile(100) == 10_000


def test_negative_values_are_rejected() -> None:
    hist = Histogram()
    with pytest.raises(ValueError, match=">= 0"):
        hist.record(-1)
    assert hist.count == 0


@pytest.mark.parametrize(("highest", "bits"), [(0, 7), (100, 0), (100, 17)])
def test_bad_layouts_are_rejected(highest: int, bits: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        Histogram(highest=highest, significant_bits=bits)


def test_random_data_percentiles_within_relative_error() -> None:
    rng = random.Random(20240521)
    values = [int(rng.lognormvariate(8, 2)) for _ in range(50_000)]
    hist = filled(values)
    for p in (0, 1, 5, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100):
        exact = exact_percentile(values, p)
        got = hist.percentile(p)
        assert exact <= got <= exact * (1 + RELATIVE_ERROR), (p, exact, got)


@given(
    st.lists(st.integers(min_value=0, max_value=HIGHEST), min_size=1, max_size=300),
    st.floats(min_value=0, max_value=100),
    st.integers(min_value=1, max_value=10),
)
def test_any_percentile_within_relative_error(values: list[int], p: float, bits: int) -> None:
    hist = filled(values, significant_bits=bits)
    exact = exact_percentile(values, p)
    got = hist.percentile(p)
    assert exact <= got <= exact * (1 + 2.0**-bits)


@given(
    st.lists(st.integers(min_value=0, max_value=10**10), max_size=200),
    st.lists(st.integers(min_value=0, max_value=10**10), max_size=200),
)
def test_merge_equals_recording_everything_in_one(left: list[int], right: list[int]) -> None:
    merged = filled(left)
    merged.merge(filled(right))
    assert merged.to_dict() == filled(left + right).to_dict()


def test_merge_into_empty_keeps_min_and_max() -> None:
    merged = Histogram()
    merged.merge(filled([40, 7_000]))
    assert (merged.min, merged.max, merged.count) == (40, 7_000, 2)


def test_merge_rejects_a_different_layout() -> None:
    with pytest.raises(ValueError, match="different layouts"):
        Histogram(significant_bits=7).merge(Histogram(significant_bits=8))


@given(st.lists(st.integers(min_value=0, max_value=10**10), max_size=200))
def test_to_dict_survives_json_and_rebuilds_the_same_histogram(values: list[int]) -> None:
    original = filled(values)
    wire = json.dumps(original.to_dict())
    rebuilt = Histogram.from_dict(json.loads(wire))
    assert rebuilt.to_dict() == original.to_dict()
    assert (rebuilt.count, rebuilt.min, rebuilt.max, rebuilt.overflow) == (
        original.count,
        original.min,
        original.max,
        original.overflow,
    )
    for p in (0, 50, 99, 100):
        assert rebuilt.percentile(p) == original.percentile(p)


def test_to_dict_is_sparse() -> None:
    encoded = filled([1, 1, 1, 500_000]).to_dict()
    assert encoded["buckets"] == {"1": 3, str(Histogram()._index(500_000)): 1}


def test_histograms_from_two_processes_merge_exactly_via_json() -> None:
    a, b = filled([1, 2, 3_000_000]), filled([10**11, 5])
    received = Histogram.from_dict(json.loads(json.dumps(b.to_dict())))
    a.merge(received)
    assert a.to_dict() == filled([1, 2, 3_000_000, 10**11, 5]).to_dict()
    assert a.overflow == 1


def _encoded(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "highest": 100,
        "significant_bits": 7,
        "count": 1,
        "sum": 0,
        "min": 0,
        "max": 0,
        "overflow": 0,
        "buckets": {"0": 1},
    }
    return base | changes


def test_encoded_helper_is_valid_as_is() -> None:
    assert Histogram.from_dict(_encoded()).count == 1


@pytest.mark.parametrize(
    "corrupt",
    [
        {},
        _encoded(buckets={"0": 2}),
        _encoded(buckets={"100000": 1}),
        _encoded(buckets={"0": 0}, count=0),
        _encoded(buckets=[1, 2]),
        _encoded(count=None),
    ],
)
def test_from_dict_rejects_corrupt_input(corrupt: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="histogram"):
        Histogram.from_dict(corrupt)


def test_corrected_recording_fills_in_the_samples_a_stall_swallowed() -> None:
    # HdrHistogram's own unit test: value 4 at an expected interval of 1 also records 3, 2, 1.
    hist = Histogram()
    hist.record_corrected(4, 1)
    assert hist.count == 4
    assert [hist.percentile(p) for p in (25, 50, 75, 100)] == [1, 2, 3, 4]


def test_corrected_recording_goes_down_to_the_interval_inclusive() -> None:
    corrected = Histogram()
    corrected.record_corrected(100_000, 10)
    assert corrected.to_dict() == filled(list(range(100_000, 9, -10))).to_dict()


def test_corrected_recording_leaves_fast_values_alone() -> None:
    corrected = Histogram()
    for value in (0, 5, 10):
        corrected.record_corrected(value, 10)
    corrected.record_corrected(7, 0)
    assert corrected.to_dict() == filled([0, 5, 10, 7]).to_dict()


def test_corrected_recording_reveals_a_stall_in_the_upper_percentiles() -> None:
    # HdrHistogram's motivating case: 10,000 samples of 1 ms taken every 10 ms, then a 100 s
    # stall. Raw, the stall is one sample in 10,001 and p99.99 still says 1 ms; corrected,
    # the 9,999 samples the stalled sender never took show up between 10 ms and 100 s.
    raw, corrected = Histogram(), Histogram()
    for _ in range(10_000):
        raw.record(1)
        corrected.record_corrected(1, 10)
    raw.record(100_000)
    corrected.record_corrected(100_000, 10)
    assert raw.percentile(99.99) == 1
    assert corrected.count == 20_000
    assert corrected.percentile(50) == 1
    expanded = [1] * 10_000 + list(range(100_000, 9, -10))
    for p in (50, 75, 90, 99, 99.99, 100):
        exact = exact_percentile(expanded, p)
        assert exact <= corrected.percentile(p) <= exact * (1 + RELATIVE_ERROR)
    assert 49_000 < corrected.percentile(75) < 51_000


@given(st.lists(st.integers(min_value=0, max_value=2_000), max_size=300))
def test_recording_a_list_is_recording_each(values: list[int]) -> None:
    one, many = Histogram(highest=1_000), Histogram(highest=1_000)
    for value in values:
        one.record(value)
    many.record_many(values)
    assert many.to_dict() == one.to_dict()
    assert (many.min, many.max, many.overflow) == (one.min, one.max, one.overflow)
