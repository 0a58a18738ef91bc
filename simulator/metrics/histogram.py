"""A mergeable log-linear histogram of non-negative integers, in the HdrHistogram style.

Values are grouped into buckets whose width doubles with each power of two, and each power of
two is split into ``2**significant_bits`` linear sub-buckets. A value ``v`` therefore lands in a
bucket no wider than ``v / 2**significant_bits``: with the default of 7 bits the relative error of
any reported value is below 1 % (0.78 %), whatever the magnitude, in a few thousand buckets.

Two histograms with the same layout merge exactly (bucket counts add), so every worker process
keeps its own and sends :meth:`Histogram.to_dict` as JSON to whoever writes the report.

Arguments that no caller could mean (a negative value, a layout mismatch, a corrupt dict) raise
:class:`ValueError`, as the standard library does: they are bugs at the call site, and this room
imports nothing else from the package.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from math import ceil
from typing import Any

DEFAULT_SIGNIFICANT_BITS = 7
"""Sub-bucket precision: 2**7 linear steps per power of two, i.e. < 1 % relative error."""

DEFAULT_HIGHEST = 3_600_000_000
"""Default highest trackable value: one hour, when values are microseconds."""

_MAX_SIGNIFICANT_BITS = 16


class Histogram:
    """Counts of non-negative integers in log-linear buckets; mergeable and serialisable.

    ``record`` is meant for hot paths: a bit length, a shift and a few integer updates.
    Values above ``highest`` are recorded as ``highest`` and counted in :attr:`overflow`, so a
    run never fails on one absurd latency, yet the report can say that the top is a floor.
    """

    __slots__ = (
        "_counts",
        "_highest",
        "_max",
        "_min",
        "_overflow",
        "_shift_base",
        "_significant_bits",
        "_sum",
        "_total",
    )

    def __init__(
        self,
        highest: int = DEFAULT_HIGHEST,
        significant_bits: int = DEFAULT_SIGNIFICANT_BITS,
    ) -> None:
        """Make an empty histogram for values ``0..highest`` with ``significant_bits`` precision."""
        if not 1 <= significant_bits <= _MAX_SIGNIFICANT_BITS:
            raise ValueError(
                f"significant_bits must be in 1..{_MAX_SIGNIFICANT_BITS}, got {significant_bits}"
            )
        if highest < 1:
            raise ValueError(f"highest must be >= 1, got {highest}")
        self._significant_bits = significant_bits
        self._shift_base = significant_bits + 1
        self._highest = highest
        self._counts = [0] * (self._index(highest) + 1)
        self._total = 0
        self._sum = 0
        # Sentinels outside any recordable value, so the hot path needs no "is it empty" branch.
        self._min = highest + 1
        self._max = -1
        self._overflow = 0

    def _index(self, value: int) -> int:
        shift = value.bit_length() - self._shift_base
        if shift < 0:
            return value
        return (shift << self._significant_bits) + (value >> shift)

    def _bucket_high(self, index: int) -> int:
        """Highest value that lands in bucket ``index`` (HdrHistogram's "highest equivalent")."""
        bits = self._significant_bits
        if index < 1 << self._shift_base:
            return index
        shift = (index >> bits) - 1
        mantissa = index - (shift << bits)
        return ((mantissa + 1) << shift) - 1

    def record(self, value: int, count: int = 1) -> None:
        """Record ``count`` (>= 1) occurrences of ``value`` (>= 0; above ``highest`` clamps)."""
        if not 0 <= value <= self._highest:
            value = self._clamp(value, count)
        shift = value.bit_length() - self._shift_base
        if shift < 0:
            self._counts[value] += count
        else:
            self._counts[(shift << self._significant_bits) + (value >> shift)] += count
        self._total += count
        self._sum += value * count
        # Plain comparisons, not min()/max(): the builtin call costs twice as much here.
        if value < self._min:  # noqa: PLR1730
            self._min = value
        if value > self._max:  # noqa: PLR1730
            self._max = value

    def record_many(self, values: list[int]) -> None:
        """Record each of ``values`` once: :meth:`record` for a whole list, in one call.

        The ingest worker records a latency for every message; one call per read instead of
        one per message takes the call and the per-value bookkeeping (total, sum, least,
        most) off each value.
        """
        if not values:
            return
        least, most = min(values), max(values)
        if least < 0 or most > self._highest:
            for value in values:
                self.record(value)
            return
        counts = self._counts
        base = self._shift_base
        bits = self._significant_bits
        for value in values:
            shift = value.bit_length() - base
            if shift < 0:
                counts[value] += 1
            else:
                counts[(shift << bits) + (value >> shift)] += 1
        self._total += len(values)
        self._sum += sum(values)
        if least < self._min:  # noqa: PLR1730
            self._min = least
        if most > self._max:  # noqa: PLR1730
            self._max = most

    def _clamp(self, value: int, count: int) -> int:
        if value < 0:
            raise ValueError(f"histogram values must be >= 0, got {value}")
        self._overflow += count
        return self._highest

    def record_corrected(self, value: int, expected_interval: int) -> None:
        """Record ``value`` and the samples a stalled fixed-rate sender could not take.

        Coordinated-omission correction as HdrHistogram's ``recordValueWithExpectedInterval``:
        when a sample that should come every ``expected_interval`` took ``value``, the samples
        that were due meanwhile would have seen ``value - interval``, ``value - 2*interval``,
        ... down to and including ``expected_interval``; those are recorded too.
        """
        self.record(value)
        if expected_interval <= 0:
            return
        missing = value - expected_interval
        while missing >= expected_interval:
            self.record(missing)
            missing -= expected_interval

    def merge(self, other: Histogram) -> None:
        """Add every count of ``other`` (same layout) into this histogram."""
        if (other._highest, other._significant_bits) != (self._highest, self._significant_bits):
            raise ValueError(
                "cannot merge histograms with different layouts: "
                f"highest {self._highest} / {other._highest}, "
                f"significant_bits {self._significant_bits} / {other._significant_bits}"
            )
        counts = self._counts
        for index, n in enumerate(other._counts):
            if n:
                counts[index] += n
        self._total += other._total
        self._sum += other._sum
        self._overflow += other._overflow
        self._min = min(self._min, other._min)
        self._max = max(self._max, other._max)

    def since(self, earlier: Histogram) -> Histogram:
        """What was recorded after ``earlier``, a snapshot of this same histogram, was taken.

        Bucket counts subtract exactly. The interval's own min and max are not kept by either
        side, so they are taken from the edges of its first and last non-empty bucket (within
        the relative error), clamped to this histogram's exact min and max.
        """
        if (earlier._highest, earlier._significant_bits) != (self._highest, self._significant_bits):
            raise ValueError("cannot subtract histograms with different layouts")
        delta = Histogram(self._highest, self._significant_bits)
        counts = delta._counts
        first = last = -1
        for index, (now, then) in enumerate(zip(self._counts, earlier._counts, strict=True)):
            n = now - then
            if n < 0:
                raise ValueError("the earlier histogram is not a snapshot of this one")
            if n:
                counts[index] = n
                if first < 0:
                    first = index
                last = index
        delta._total = self._total - earlier._total
        delta._sum = self._sum - earlier._sum
        delta._overflow = self._overflow - earlier._overflow
        if first >= 0:
            low = self._bucket_high(first - 1) + 1 if first else 0
            delta._min = max(self._min, low)
            delta._max = min(self._max, self._bucket_high(last))
        return delta

    def copy(self) -> Histogram:
        """An independent snapshot of this histogram."""
        twin = Histogram(self._highest, self._significant_bits)
        twin.merge(self)
        return twin

    def count_at_or_below(self, value: int) -> int:
        """How many recorded values are at or below ``value``, to bucket precision.

        Counts every bucket whose highest equivalent value is ``<= value``: what a Prometheus
        histogram bucket with ``le=value`` reports, understated by less than the relative error.
        """
        total = 0
        for index, n in enumerate(self._counts):
            if n:
                if self._bucket_high(index) > value:
                    break
                total += n
        return total

    @property
    def count(self) -> int:
        """How many values were recorded."""
        return self._total

    @property
    def overflow(self) -> int:
        """How many recorded values were above ``highest`` (and were recorded as ``highest``)."""
        return self._overflow

    @property
    def highest(self) -> int:
        """The highest trackable value."""
        return self._highest

    @property
    def significant_bits(self) -> int:
        """Linear sub-buckets per power of two, as a power of two."""
        return self._significant_bits

    @property
    def min(self) -> int:
        """The smallest recorded value, exactly; 0 when empty."""
        return self._min if self._total else 0

    @property
    def max(self) -> int:
        """The largest recorded value (after clamping to ``highest``), exactly; 0 when empty."""
        return self._max if self._total else 0

    @property
    def mean(self) -> float:
        """The exact mean of the recorded values (after clamping); 0.0 when empty."""
        return self._sum / self._total if self._total else 0.0

    def percentile(self, p: float) -> int:
        """The value at or below which ``p`` % (0..100) of the recorded values fall.

        Reported as the highest value of the bucket holding that rank, kept within the real
        min and max, so it overstates by less than the relative error. 0 when empty.
        """
        if not 0 <= p <= 100:
            raise ValueError(f"percentile must be in 0..100, got {p}")
        if not self._total:
            return 0
        # str() gives the shortest decimal for the float, so 99.9 % of 1000 is 999, not 1000.
        rank = max(1, ceil(Fraction(str(p)) * self._total / 100))
        seen = 0
        for index, n in enumerate(self._counts):
            seen += n
            if seen >= rank:
                return max(self._min, min(self._bucket_high(index), self._max))
        raise AssertionError("bucket counts do not add up to the total")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready, sparse encoding: layout, exact stats, and non-empty buckets only."""
        return {
            "highest": self._highest,
            "significant_bits": self._significant_bits,
            "count": self._total,
            "sum": self._sum,
            "min": self.min,
            "max": self.max,
            "overflow": self._overflow,
            "buckets": {str(i): n for i, n in enumerate(self._counts) if n},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Histogram:
        """Rebuild a histogram from :meth:`to_dict` output (e.g. after a JSON round trip)."""
        try:
            hist = cls(int(data["highest"]), int(data["significant_bits"]))
            total = int(data["count"])
            buckets = {int(k): int(n) for k, n in data["buckets"].items()}
            stats = int(data["sum"]), int(data["min"]), int(data["max"]), int(data["overflow"])
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a histogram dict: {exc!r}") from exc
        size = len(hist._counts)
        if any(not 0 <= i < size or n <= 0 for i, n in buckets.items()):
            raise ValueError(f"histogram buckets must be indexes 0..{size - 1} with counts > 0")
        if sum(buckets.values()) != total:
            raise ValueError(f"histogram buckets add up to {sum(buckets.values())}, not {total}")
        for index, n in buckets.items():
            hist._counts[index] = n
        hist._total = total
        hist._sum, low, high, hist._overflow = stats
        if total:
            hist._min, hist._max = low, high
        return hist


def percentile_ms(hist: Histogram, p: float) -> float | None:
    """The ``p``-th percentile of ``hist``, a histogram of microseconds, in milliseconds.

    Rounded to the microsecond, as reports show times; None while ``hist`` is empty.
    """
    return round(hist.percentile(p) / 1000.0, 3) if hist.count else None
