"""What every client stack shares: its command line, its figures and how it reports them.

A stack process is started by ``bench/run.py`` with the broker's address and the workload size,
and ends by printing one JSON object (a :class:`StackFigures`) as the last line of its standard
output; anything it wants a human to read goes to standard error. Times are the event loop's
monotonic clock, except the ``*_wall_ns`` fields, which are Unix time so they can be set beside
the independent subscriber's timestamps.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from simulator.metrics.process import rss_bytes
from simulator.transport.limits import raise_open_files_limit

DEFAULT_CONCURRENCY = 100
"""Connects pending at once; the engine's default, and Mosquitto's listen backlog."""


@dataclass(frozen=True, slots=True)
class StackArgs:
    """The command line of a stack process."""

    host: str
    port: int
    devices: int
    messages: int
    concurrency: int
    connect_timeout_s: float
    phase_timeout_s: float


def parse_args(description: str, argv: list[str] | None = None) -> StackArgs:
    """Parse a stack's command line (the same for every stack)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--devices", type=int, required=True)
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--connect-timeout", type=float, default=10.0, dest="connect_timeout_s")
    parser.add_argument(
        "--phase-timeout",
        type=float,
        default=120.0,
        dest="phase_timeout_s",
        help="upper bound in seconds on each phase (connect, publish, disconnect)",
    )
    ns = parser.parse_args(argv)
    return StackArgs(
        ns.host,
        ns.port,
        ns.devices,
        ns.messages,
        ns.concurrency,
        ns.connect_timeout_s,
        ns.phase_timeout_s,
    )


@dataclass(slots=True)
class StackFigures:
    """What one stack measured about itself; the subscriber's counts are added by the runner."""

    stack: str
    devices: int
    messages: int
    connected: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    connect_s: float = 0.0
    """From the first connect's start to the last CONNACK."""
    baseline_rss_bytes: int = 0
    """Before the first per-device object was created."""
    connected_rss_bytes: int = 0
    """With every device connected (before the first publish, except for the engine)."""
    connected_wall_ns: int = 0
    """When every device had tried to connect."""
    sent: int = 0
    publish_s: float = 0.0
    """From the start of publishing (for the engine: of onboarding, which it overlaps) until
    the stack's last message was handed to its socket."""
    publish_start_wall_ns: int = 0
    publish_end_wall_ns: int = 0
    cpu_s: float = 0.0
    """CPU time of the whole stack process (user + system), from start to report."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Stack-specific figures (the engine's overruns, the ingest worker's final snapshot)."""
    notes: list[str] = field(default_factory=list)

    def mark_baseline(self) -> None:
        """Record the RSS before any per-device object exists."""
        self.baseline_rss_bytes = rss_bytes()

    def mark_connected(self) -> None:
        """Record the RSS, and the time, with every device connected."""
        self.connected_rss_bytes = rss_bytes()
        self.connected_wall_ns = time.time_ns()

    def count_failure(self, exc: BaseException) -> None:
        """Count one failed connect under a short label for its kind."""
        self.failed += 1
        reason = type(exc).__name__
        self.failures[reason] = self.failures.get(reason, 0) + 1


def prepare_process() -> None:
    """Raise the open-files limit: one descriptor per device connection."""
    raise_open_files_limit()


def report(figures: StackFigures) -> None:
    """Print the figures as the last line of standard output."""
    times = os.times()
    figures.cpu_s = times.user + times.system
    sys.stdout.write(json.dumps(dataclasses.asdict(figures)) + "\n")
    sys.stdout.flush()


def say(text: str) -> None:
    """A progress line for a human, on standard error."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
