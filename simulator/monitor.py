"""The run's monitor: once per interval, read the counters into the time series and show them.

The engine and the ingest worker keep cumulative counters and histograms as they go; the
monitor reads them once per interval (never per message) into a
:class:`~simulator.metrics.timeseries.Totals`, lets the
:class:`~simulator.metrics.timeseries.TimeSeries` turn it into a sample, and hands the sample
to the view. Everything else that watches a run (Prometheus, the web dashboard) reads the
time series' latest totals and samples, so they all see the same figures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Sized
from typing import Any, Protocol

from simulator.engine.devices import FleetCounters
from simulator.ingest.pool import IngestPool
from simulator.live.console import View
from simulator.metrics.histogram import Histogram
from simulator.metrics.process import cpu_seconds, rss_bytes
from simulator.metrics.timeseries import TimeSeries, Totals
from simulator.periodic import every


class FleetFigures(Protocol):
    """What the monitor reads of a fleet: a :class:`~simulator.engine.fleet.Fleet`, or the
    worker processes of ``run --workers`` added up (:class:`simulator.coordinator.workers.
    Workers`)."""

    @property
    def devices(self) -> Sized:
        """The fleet's devices (how many: the target)."""

    @property
    def counters(self) -> FleetCounters:
        """Published and acknowledged messages."""

    @property
    def connected(self) -> int:
        """Devices connected now."""

    def fewest_connected(self) -> int:
        """The fewest devices connected since the previous call."""

    @property
    def onboarded(self) -> int:
        """Devices onboarded so far."""

    @property
    def failed(self) -> int:
        """Devices that failed to onboard."""

    @property
    def overrun(self) -> int:
        """Firings the scheduler ran late."""

    @property
    def connect_us(self) -> Histogram:
        """Connect times so far."""


class Monitor:
    """Samples a fleet and its ingest child into a time series and a view."""

    def __init__(
        self,
        fleet: FleetFigures,
        ingest: IngestPool | None,
        view: View,
        clock: Callable[[], float],
    ) -> None:
        self.fleet = fleet
        self.ingest = ingest
        self.view = view
        self.series = TimeSeries()
        self.phase = "starting"
        self._clock = clock
        self._start = clock()
        self.faults_active: dict[str, int] = {}
        """Faults in force now, by kind (every kind the scenario has, 0 when none is)."""
        self.fleet_faults: Callable[[], Mapping[str, int]] | None = None
        """Faults in force on a fleet run elsewhere (the workers of ``run --workers``), by
        kind, added to :attr:`faults_active` (None: the fleet's faults are this run's)."""
        self.control: Sequence[Mapping[str, Any]] = ()
        """The run's live control requests so far (the controller's list, once there is one)."""
        self.stage_of: Callable[[float], int | None] | None = None
        """The stage running ``t_s`` after the start, for the samples (None: no stages)."""

    def elapsed_s(self) -> float:
        """Seconds since the monitor started: its samples' ``t_s`` now."""
        return self._clock() - self._start

    def totals(self) -> Totals:
        """The run's cumulative figures now."""
        fleet = self.fleet
        counters = fleet.counters
        t_s = self._clock() - self._start
        totals = Totals(
            t_s=t_s,
            phase=self.phase,
            stage=self.stage_of(t_s) if self.stage_of is not None else None,
            devices_target=len(fleet.devices),
            connected=fleet.connected,
            connected_low=fleet.fewest_connected(),
            onboarded=fleet.onboarded,
            reconnected=counters.reconnects,
            connect_failed=fleet.failed,
            published=counters.published,
            acked=counters.acked,
            overrun=fleet.overrun,
            rss_bytes=rss_bytes(),
            cpu_s=cpu_seconds(),
            connect_us=fleet.connect_us.copy(),
            faults_active=self._faults_active(),
            control=self.control,
        )
        progress = self.ingest.progress if self.ingest is not None else None
        if progress is not None:
            totals.take_ingest(progress)
        return totals

    def _faults_active(self) -> dict[str, int]:
        active = dict(self.faults_active)
        if self.fleet_faults is not None:
            for kind, count in self.fleet_faults().items():
                active[kind] = max(count, active.get(kind, 0))
        return active

    def sample(self) -> dict[str, Any]:
        """Take one sample now and show it."""
        totals = self.totals()
        sample = self.series.add(totals)
        self.view.update(sample, totals)
        return sample

    async def run(self, interval_s: float = 1.0) -> None:
        """Sample every ``interval_s`` until cancelled (drift-free: due times from the start)."""
        async for _ in every(interval_s):
            self.sample()
