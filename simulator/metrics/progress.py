"""What a slice's fleet has done so far: one typed value that crosses the process boundary.

A worker process of ``run --workers N`` (a slice run with ``--jsonl``) prints one
:class:`FleetProgress` per second as a JSON line; the coordinator reads them back
(:meth:`FleetProgress.from_dict`) and adds the workers' latest up (:meth:`FleetProgress.add`)
into the one live view. Counts are cumulative since the worker started, so a later line
supersedes an earlier one and the workers' lines add up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulator.metrics.histogram import Histogram
from simulator.metrics.timeseries import Totals


@dataclass(slots=True)
class FleetProgress:
    """A fleet's cumulative figures at one instant (one worker's, or several added)."""

    phase: str = "starting"
    devices_target: int = 0
    connected: int = 0
    connected_low: int = 0
    """The fewest devices connected since the worker's previous line: a dip shorter than the
    interval between two lines, which ``connected`` no longer shows (added up: the sum of
    each worker's fewest, which need not have come at one moment)."""
    onboarded: int = 0
    connect_failed: int = 0
    published: int = 0
    acked: int = 0
    overrun: int = 0
    rss_bytes: int = 0
    cpu_s: float = 0.0
    connect_us: Histogram = field(default_factory=Histogram)
    faults_active: dict[str, int] = field(default_factory=dict)
    """The worker's faults in force now, by kind (added up: per kind the most any worker has,
    since each worker carries its share of the same faults)."""

    @classmethod
    def of(cls, totals: Totals) -> FleetProgress:
        """The fleet's part of a run's totals."""
        return cls(
            totals.phase,
            totals.devices_target,
            totals.connected,
            totals.connected_low,
            totals.onboarded,
            totals.connect_failed,
            totals.published,
            totals.acked,
            totals.overrun,
            totals.rss_bytes,
            totals.cpu_s,
            totals.connect_us,
            dict(totals.faults_active),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for the worker's progress lines."""
        data = {name: getattr(self, name) for name in _FIELDS}
        data["connect_us"] = self.connect_us.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FleetProgress:
        """The value :meth:`to_dict` wrote; unknown keys are ignored (a newer worker)."""
        values = {name: data[name] for name in _FIELDS if name in data}
        values["connect_us"] = Histogram.from_dict(data["connect_us"])
        return cls(**values)

    def add(self, other: FleetProgress) -> None:
        """Add another worker's figures to these; the phase is the least advanced."""
        for name in _SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.connect_us.merge(other.connect_us)
        for kind, count in other.faults_active.items():
            self.faults_active[kind] = max(count, self.faults_active.get(kind, 0))
        if _PHASES.get(other.phase, 0) < _PHASES.get(self.phase, 0):
            self.phase = other.phase


_FIELDS = tuple(FleetProgress.__dataclass_fields__)
_SUMMED = tuple(name for name in _FIELDS if name not in ("phase", "connect_us", "faults_active"))
_PHASES = {
    name: rank
    for rank, name in enumerate(
        ("starting", "onboarding", "publishing", "draining", "stopping", "done")
    )
}
