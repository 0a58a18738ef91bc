"""What this process costs: resident memory, peak resident memory, CPU time.

Memory is read from ``/proc/self``, so it is measured on Linux only. Elsewhere the memory
functions return 0, meaning "not measured here": a report on a laptop should still come out,
only without the memory figures, rather than a run failing over a statistic.
"""

from __future__ import annotations

import os
from pathlib import Path

_PROC_SELF = Path("/proc/self")


def rss_bytes() -> int:
    """Current resident set size in bytes (``/proc/self/statm``); 0 where there is no /proc."""
    try:
        text = (_PROC_SELF / "statm").read_text()
    except OSError:
        return 0
    return parse_statm_resident(text, os.sysconf("SC_PAGE_SIZE"))


def peak_rss_bytes() -> int:
    """Peak resident set size in bytes (``VmHWM`` in /proc/self/status); 0 without /proc."""
    try:
        text = (_PROC_SELF / "status").read_text()
    except OSError:
        return 0
    return parse_status_kib(text, "VmHWM") * 1024


def cpu_seconds() -> float:
    """User plus system CPU time this process has used so far, in seconds."""
    times = os.times()
    return times.user + times.system


def parse_statm_resident(text: str, page_size: int) -> int:
    """Resident bytes from the text of a ``statm`` file (second field, in pages)."""
    return int(text.split()[1]) * page_size


def parse_status_kib(text: str, key: str) -> int:
    """The value in KiB of a line such as ``VmHWM:   1234 kB`` in a ``status`` file; 0 if absent."""
    prefix = key + ":"
    for line in text.splitlines():
        if line.startswith(prefix):
            return int(line[len(prefix) :].split()[0])
    return 0
