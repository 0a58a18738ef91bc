"""The run's time series: one sample per interval, computed from cumulative totals.

Nothing here is called per message. Once per interval the runner reads the counters and
histograms the engine and ingest already keep into a :class:`Totals` and hands it to
:meth:`TimeSeries.add`, which turns the difference from the previous totals into rates and
the latency histogram's difference into that interval's percentiles. The live view, the
Prometheus exporter, the web dashboard and the HTML report all read the same samples and the
same latest totals, so what a user watched and what they archive agree.

A sample (a plain dict, JSON-ready; the report's ``timeseries`` key is a list of them):

=========================  =========================================================
``t_s``                    seconds since the run started
``phase``                  starting, onboarding, publishing, draining, stopping
``stage``                  the ``[[stages]]`` entry running then, from 1 (null: none)
``connected``              devices connected at that instant
``onboarding_rate_per_s``  devices that completed onboarding per second, this interval
``reconnects_per_s``       dropped connections that came back per second, this interval
``published_per_s``        messages published per second, this interval
``ingested_per_s``         messages received by ingest per second, this interval
``published_total``        messages published so far
``ingested_total``         distinct messages ingested so far
``lost_so_far``            sequence gaps ingest has seen and not (yet) seen filled
``duplicated_total``       duplicates ingest has seen so far
``out_of_order_total``     late arrivals ingest has seen so far
``malformed_total``        payloads ingest could not decode so far
``latency_ms_p50``         median end-to-end latency of this interval's messages (or null)
``latency_ms_p99``         99th percentile of the same (or null)
``rss_bytes``              simulator process RSS
``cpu_percent``            simulator process CPU use this interval (100 = one core)
``control``                the live control requests of this interval (``t_s``, ``action``,
                           ``detail``, ``ok``; see :mod:`simulator.control`), or null
=========================  =========================================================

Pure: time comes in with the totals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from simulator.metrics.histogram import Histogram, percentile_ms
from simulator.metrics.ingest import IngestSnapshot

MESSAGE_COUNTS: tuple[str, ...] = (
    "published_total",
    "ingested_total",
    "lost_so_far",
    "duplicated_total",
    "out_of_order_total",
    "malformed_total",
)
"""The keys of a sample that count messages up to its instant (totals so far, and the gaps
still open), not over its interval; in their order in the sample."""

SAMPLE_KEYS: tuple[str, ...] = (
    "t_s",
    "phase",
    "stage",
    "connected",
    "onboarding_rate_per_s",
    "reconnects_per_s",
    "published_per_s",
    "ingested_per_s",
    *MESSAGE_COUNTS,
    "latency_ms_p50",
    "latency_ms_p99",
    "rss_bytes",
    "cpu_percent",
    "control",
)
"""Every key of a sample, in order."""


@dataclass(slots=True)
class Totals:
    """Cumulative figures of a run at one instant (what a scrape or a sample reads)."""

    t_s: float
    phase: str = "starting"
    stage: int | None = None
    """The ``[[stages]]`` entry running at ``t_s`` (from 1; None: no stage)."""
    devices_target: int = 0
    connected: int = 0
    connected_low: int = 0
    """The fewest devices connected since the previous totals were taken."""
    onboarded: int = 0
    reconnected: int = 0
    """Dropped connections that came back."""
    connect_failed: int = 0
    published: int = 0
    acked: int = 0
    received: int = 0
    ingested: int = 0
    missing: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    malformed: int = 0
    overrun: int = 0
    rss_bytes: int = 0
    cpu_s: float = 0.0
    latency_us: Histogram = field(default_factory=Histogram)
    connect_us: Histogram = field(default_factory=Histogram)
    ingest_t_s: float | None = None
    """When ingest took its figures, on its own clock (None: the same instant as ``t_s``)."""
    faults_active: dict[str, int] = field(default_factory=dict)
    """Faults in force, by kind: every kind the scenario has, 0 when none of it is."""
    control: Sequence[Mapping[str, Any]] = ()
    """Every live control request so far, in order (cumulative, as every figure here)."""

    def take_ingest(self, snap: IngestSnapshot) -> None:
        """Fill in ingest's figures from a worker's snapshot; ingested means committed."""
        self.ingest_t_s = snap.taken_ns / 1e9 if snap.taken_ns else None
        self.received = snap.received
        self.ingested = snap.committed_unique
        self.missing = snap.missing
        self.duplicated = snap.duplicated
        self.out_of_order = snap.out_of_order
        self.malformed = snap.malformed
        self.latency_us = snap.latency_us


def split_window(
    samples: Sequence[Mapping[str, Any]], start: float, end: float
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """The samples taken at or before ``start``, and those within ``(start, end]``: what a
    window of the run (a fault's, a stage's) reads its figures from."""
    before = [s for s in samples if s["t_s"] <= start]
    inside = [s for s in samples if start < s["t_s"] <= end]
    return before, inside


def growth(
    key: str, before: Sequence[Mapping[str, Any]], inside: Sequence[Mapping[str, Any]]
) -> int | None:
    """How much the cumulative figure ``key`` grew over a window (None: not measured)."""
    values = [s[key] for s in inside if s.get(key) is not None]
    if not values:
        return None
    first = before[-1].get(key) if before else None
    return int(values[-1] - (first or 0))


def value_at(samples: Sequence[Mapping[str, Any]], key: str, t_s: float) -> float | None:
    """The cumulative figure ``key`` at ``t_s``, read linearly between the samples either
    side (the first sample's value before it, the last's after it; None: not measured)."""
    before: Mapping[str, Any] | None = None
    for sample in samples:
        value = sample.get(key)
        if value is None:
            continue
        if sample["t_s"] >= t_s:
            if before is None or sample["t_s"] == t_s:
                return float(value)
            span = sample["t_s"] - before["t_s"]
            share = (t_s - before["t_s"]) / span if span > 0 else 1.0
            return float(before[key] + (value - before[key]) * share)
        before = sample
    return float(before[key]) if before is not None else None


def _rate(now: float, then: float, span: float) -> float:
    return round((now - then) / span, 1) if span > 0 else 0.0


class TimeSeries:
    """Samples of a run, one per :meth:`add`; keeps the latest totals for live readers."""

    def __init__(self) -> None:
        self.samples: list[dict[str, Any]] = []
        self.latest: Totals | None = None
        self._latency_at_last: Histogram | None = None
        self._ingested_per_s = 0.0
        self._control_seen = 0
        self.stage_latency: dict[int, Histogram] = {}
        """The cumulative latency histogram as each stage began (at the sample before its
        first): a stage's latency is the next stage's entry (or the end's) minus its own."""

    def add(self, totals: Totals) -> dict[str, Any]:
        """Record ``totals`` (cumulative, taken at ``totals.t_s``) and return the new sample."""
        previous = self.latest
        if previous is not None and totals.t_s < previous.t_s:
            raise ValueError(f"samples must move forward in time: {totals.t_s} < {previous.t_s}")
        if previous is None:
            previous = Totals(t_s=0.0)
        span = totals.t_s - previous.t_s
        latency = totals.latency_us
        last = self._latency_at_last
        interval = latency.since(last) if last is not None else latency.copy()
        sample: dict[str, Any] = {
            "t_s": round(totals.t_s, 3),
            "phase": totals.phase,
            "stage": totals.stage,
            "connected": totals.connected,
            "onboarding_rate_per_s": _rate(totals.onboarded, previous.onboarded, span),
            "reconnects_per_s": _rate(totals.reconnected, previous.reconnected, span),
            "published_per_s": _rate(totals.published, previous.published, span),
            "ingested_per_s": self._ingest_rate(totals, previous, span),
            "published_total": totals.published,
            "ingested_total": totals.ingested,
            "lost_so_far": totals.missing,
            "duplicated_total": totals.duplicated,
            "out_of_order_total": totals.out_of_order,
            "malformed_total": totals.malformed,
            "latency_ms_p50": percentile_ms(interval, 50),
            "latency_ms_p99": percentile_ms(interval, 99),
            "rss_bytes": totals.rss_bytes,
            "cpu_percent": round(100 * (totals.cpu_s - previous.cpu_s) / span, 1)
            if span > 0
            else 0.0,
            "control": [dict(event) for event in totals.control[self._control_seen :]] or None,
        }
        self._control_seen = len(totals.control)
        was = self.latest.stage if self.latest is not None else None
        if totals.stage != was:
            # Stage k's latency is what the cumulative histogram gained from its first sample
            # to the next stage's (or past the last stage, key last + 1).
            key = totals.stage if totals.stage is not None else (was or 0) + 1
            self.stage_latency.setdefault(key, last.copy() if last is not None else Histogram())
        self.samples.append(sample)
        self.latest = totals
        self._latency_at_last = latency.copy()
        return sample

    def _ingest_rate(self, totals: Totals, previous: Totals, span: float) -> float:
        """Messages committed per second, over ingest's own clock when it gives one.

        Ingest's figures come in lines a busy reader may take late or skip (they are
        cumulative); timing them by their arrival would show a stored second as nothing and the
        next as double. Over the worker's clock the rate is true for its last interval, and
        stays so (repeated) until a newer line comes.
        """
        now, then = totals.ingest_t_s, previous.ingest_t_s
        if now is None or then is None:
            return _rate(totals.ingested, previous.ingested, span)
        if now > then:
            self._ingested_per_s = _rate(totals.ingested, previous.ingested, now - then)
        return self._ingested_per_s
