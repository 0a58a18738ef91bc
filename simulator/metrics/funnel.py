"""The onboarding funnel: how many devices reached each stage, how fast, and who fell out where.

Every stage's time is measured from the start of the device's connection attempt, so a stage's
p99 is "99 % of devices had got this far within ...": the stages add up along one clock. A
device that does not reach a stage is counted at that stage as rejected (the other side said
no: CONNACK refusal, SUBACK failure code, registration refused), timed out (no answer in time)
or failed (anything else, e.g. the connection dropped mid-way), or is still pending when the
run ends (a device whose first message was not due yet), so for every stage
``reached + rejected + timeouts + failed + pending`` equals the previous stage's ``reached``,
and the first stage's sum is the number of devices that tried.

The counts are in devices: a gateway's connection that reaches CONNACK brings all of its
devices there at once.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypedDict

from simulator.metrics.histogram import Histogram, percentile_ms

TCP_CONNECT = "tcp_connect"
CONNACK = "connack"
SUBACK = "suback"
REGISTERED = "registered"
FIRST_TELEMETRY = "first_telemetry_ingested"

CONNECT_STAGES = (TCP_CONNECT, CONNACK)
"""The stages of the ``connect`` workflow."""
REGISTER_STAGES = (TCP_CONNECT, CONNACK, SUBACK, REGISTERED)
"""The stages of the ``register`` workflow, as far as the fleet sees them."""

MAX_STAGE_US = 3_600_000_000
"""Longest stage time the histograms hold: one hour, in microseconds."""


class StageFigures(TypedDict):
    """One stage as the report shows it (times in milliseconds)."""

    stage: str
    reached: int
    rejected: int
    timeouts: int
    failed: int
    retries: int
    pending: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None


class ReannouncedFigures(TypedDict):
    """Registrations sent again after reconnects, as the report shows them."""

    sent: int
    accepted: int
    rejected: int
    timeouts: int
    failed: int
    retries: int
    p50_ms: float | None
    p99_ms: float | None


@dataclass(slots=True)
class Stage:
    """One stage of the funnel."""

    name: str
    reached: int = 0
    rejected: int = 0
    timeouts: int = 0
    failed: int = 0
    retries: int = 0
    """Requests sent again after a timeout (devices that got through count in ``reached``)."""
    pending: int = 0
    """Devices still on their way when the run ended (e.g. a device whose first message was
    not due yet): neither reached nor fallen out."""
    elapsed_us: Histogram = field(default_factory=lambda: Histogram(MAX_STAGE_US))
    """Time from the start of the connection attempt to reaching this stage."""

    def reach(self, elapsed_us: int, count: int = 1) -> None:
        """``count`` devices reached this stage ``elapsed_us`` after their attempt began."""
        self.reached += count
        self.elapsed_us.record(max(0, elapsed_us), count)

    @property
    def fell_out(self) -> int:
        """Devices that got to the previous stage but not to this one."""
        return self.rejected + self.timeouts + self.failed

    def to_dict(self) -> StageFigures:
        """The stage as the report shows it (times in milliseconds)."""
        hist = self.elapsed_us
        return {
            "stage": self.name,
            "reached": self.reached,
            "rejected": self.rejected,
            "timeouts": self.timeouts,
            "failed": self.failed,
            "retries": self.retries,
            "pending": self.pending,
            "p50_ms": percentile_ms(hist, 50),
            "p99_ms": percentile_ms(hist, 99),
            "max_ms": percentile_ms(hist, 100),
        }


class Funnel:
    """Stages in order, each with its counts and its time histogram."""

    __slots__ = ("_by_name", "stages")

    def __init__(self, names: Sequence[str]) -> None:
        self.stages = [Stage(name) for name in names]
        self._by_name = {stage.name: stage for stage in self.stages}

    def __getitem__(self, name: str) -> Stage:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def add(self, stage: Stage) -> None:
        """Append a stage measured elsewhere (the ingest side's first telemetry)."""
        self.stages.append(stage)
        self._by_name[stage.name] = stage

    def leaks(self) -> list[str]:
        """Stages whose counts do not add up to the previous stage's ``reached`` (should be none).

        Devices still on their way at the moment of asking (e.g. registered but not yet
        answered) make a stage short; ask once everything has settled.
        """
        problems = []
        for before, stage in itertools.pairwise(self.stages):
            if stage.reached + stage.fell_out + stage.pending != before.reached:
                problems.append(
                    f"{stage.name}: reached {stage.reached} + fell out {stage.fell_out} + "
                    f"pending {stage.pending} != {before.name} reached {before.reached}"
                )
        return problems

    def to_dict(self) -> dict[str, StageFigures]:
        """Every stage, in order, by name, as the report shows it (``funnel.registered.p99_ms``
        is then a threshold key)."""
        return {stage.name: stage.to_dict() for stage in self.stages}


@dataclass(slots=True)
class Reannouncements:
    """Registrations sent again after a reconnect: what a gateway reboot storm looks like."""

    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    timeouts: int = 0
    failed: int = 0
    retries: int = 0
    elapsed_us: Histogram = field(default_factory=lambda: Histogram(MAX_STAGE_US))
    """From the start of the reconnect attempt to the registration's answer."""

    def to_dict(self) -> ReannouncedFigures:
        """As the report shows it (times in milliseconds)."""
        hist = self.elapsed_us
        return {
            "sent": self.sent,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "timeouts": self.timeouts,
            "failed": self.failed,
            "retries": self.retries,
            "p50_ms": percentile_ms(hist, 50),
            "p99_ms": percentile_ms(hist, 99),
        }
