"""Process costs: parsing /proc text, and live readings that move the right way."""

from __future__ import annotations

import sys

import pytest

from simulator.metrics.process import (
    cpu_seconds,
    parse_statm_resident,
    parse_status_kib,
    peak_rss_bytes,
    rss_bytes,
)

STATUS = """Name:\tpython
VmPeak:\t  300000 kB
VmHWM:\t   51234 kB
VmRSS:\t   40000 kB
"""


def test_statm_resident_is_the_second_field_in_pages() -> None:
    assert parse_statm_resident("5000 1200 300 1 0 900 0\n", 4096) == 1200 * 4096


def test_status_value_is_read_by_key() -> None:
    assert parse_status_kib(STATUS, "VmHWM") == 51234
    assert parse_status_kib(STATUS, "VmRSS") == 40000
    assert parse_status_kib(STATUS, "VmSwap") == 0


# A platform condition, not a missing tool: only Linux has /proc, and CI runs on Linux, where
# these tests always run.
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@linux_only
def test_rss_grows_when_memory_is_touched() -> None:
    before = rss_bytes()
    block = b"\x01" * (64 * 1024 * 1024)  # every byte written, so every page is resident
    after = rss_bytes()
    assert len(block) > 0
    assert after - before > 32 * 1024 * 1024


@linux_only
def test_peak_is_at_least_current() -> None:
    current = rss_bytes()
    assert current > 0
    assert peak_rss_bytes() >= current


def test_cpu_seconds_advances_with_work() -> None:
    start = cpu_seconds()
    assert start >= 0
    reading = start
    # CPU time ticks in steps of a few ms; spin (bounded) until it moves.
    for _ in range(20_000_000):
        reading = cpu_seconds()
        if reading > start:
            break
    assert reading > start
