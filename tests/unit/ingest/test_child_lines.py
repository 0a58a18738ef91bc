"""A worker's progress line fits what ``run`` reads, even for a mixed fleet's many groups."""

from __future__ import annotations

import json

from simulator.ingest.child import LINE_LIMIT
from simulator.metrics.histogram import DEFAULT_HIGHEST, Histogram
from simulator.metrics.ingest import GroupIngest, IngestSnapshot


def full_histogram() -> Histogram:
    """A histogram with a count in every bucket: its longest JSON form."""
    hist = Histogram()
    value = 1
    while value < DEFAULT_HIGHEST:
        hist.record(value)
        value += max(1, value // 2_000)
    return hist


def test_a_line_with_a_hundred_groups_of_full_histograms_fits() -> None:
    hist = full_histogram()
    groups = [GroupIngest(10**9, hist.copy()) for _ in range(100)]
    snapshot = IngestSnapshot(latency_us=hist, first_telemetry_us=hist.copy(), groups=groups)

    line = json.dumps({"event": "progress", "snapshot": snapshot.to_dict()})

    assert len(line) > 10 * 64 * 1024  # far past asyncio's default
    assert len(line) < LINE_LIMIT
