"""What each fault of a run's ``[[faults]]`` did, from its record and the run's time series.

The timeline (:mod:`simulator.faults`) keeps a :class:`FaultRecord` per fault: when it
happened, how many devices were connected before it, the fewest connected while it lasted and
when they were all back. :func:`fault_figures` adds what the time series saw in the fault's
window (from the fault until every device was back and :data:`SETTLE_S` more, or until the
next fault), at the fleet's telemetry QoS (``qos``: one per fleet, so the window's figures are
that QoS's): the duplicates ingest counted, the messages lost in the window (sequence gaps it
opened that were still open at its end), the most gaps open at once, the largest backlog
(messages published and not yet stored) and the highest per-interval latency p99. Messages
lost for good are the run's ``messages.lost``: a gap still open at a window's end may yet be
filled by a redelivery.

Pure: times are seconds since the run began, as the time series' ``t_s``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypedDict

from simulator.metrics.timeseries import growth, split_window

SETTLE_S = 5.0
"""How long after every device is back a fault's window goes on (late messages arrive)."""


@dataclass(slots=True)
class FaultRecord:
    """One fault as the timeline saw it happen."""

    kind: str
    at_s: float
    """When it was planned, in seconds after the run began."""
    duration_s: float | None = None
    """How long its window was planned to last (None: a fault of a moment)."""
    started_s: float | None = None
    """When it began (None: the run ended first)."""
    ended_s: float | None = None
    """When its action was over (the broker listening again; the connections cut)."""
    detail: str = ""
    """What it did, in a few words."""
    error: str | None = None
    """Why it could not be carried out, if it could not."""
    devices_before: int = 0
    """Devices connected when it began."""
    devices_cut: int = 0
    """Devices whose connections the fault's action itself took away."""
    devices_lowest: int = 0
    """The fewest devices connected from its start until they were all back."""
    back_s: float | None = None
    """From its start until as many devices were connected as before (None: not by the end)."""

    def moved(self, by_s: float) -> FaultRecord:
        """This record on a clock that started ``by_s`` seconds earlier (when it began and
        ended; what was planned stays as planned)."""
        return replace(
            self,
            started_s=self.started_s + by_s if self.started_s is not None else None,
            ended_s=self.ended_s + by_s if self.ended_s is not None else None,
        )


def record_of(figures: Mapping[str, Any]) -> FaultRecord:
    """The record a report's entry of ``faults`` was made from (:class:`FaultFigures`)."""
    before = int(figures["devices_before"])
    return FaultRecord(
        kind=figures["kind"],
        at_s=figures["at_s"],
        duration_s=figures["duration_s"],
        started_s=figures["started_s"],
        ended_s=figures["ended_s"],
        detail=figures["detail"],
        error=figures["error"],
        devices_before=before,
        devices_cut=int(figures["devices_cut"]),
        devices_lowest=before - int(figures["devices_lost"]),
        back_s=figures["back_s"],
    )


def merged_record(parts: Sequence[tuple[str, FaultRecord]]) -> FaultRecord:
    """One fault as several processes saw their share of it, each record by its process's
    name and on one clock: each worker's cut of its own connections, or the coordinator's
    restart of the broker. Devices are summed (the fewest connected is the sum of each
    process's fewest: their dips need not coincide, so the fleet's fewest at any one moment
    was at least that); it began with the first, ended with the last, and was over once the
    last process was whole again (None if one never was)."""
    records = [record for _, record in parts]
    first = records[0]
    merged = FaultRecord(first.kind, first.at_s, first.duration_s)
    merged.detail = _said(parts, "detail")
    merged.error = _said(parts, "error") or None
    begun = [record for record in records if record.started_s is not None]
    if not begun:
        return merged
    start = merged.started_s = min(record.started_s or 0.0 for record in begun)
    ends = [record.ended_s for record in begun]
    merged.ended_s = max(end for end in ends if end is not None) if None not in ends else None
    merged.devices_before = sum(record.devices_before for record in begun)
    merged.devices_cut = sum(record.devices_cut for record in begun)
    merged.devices_lowest = sum(record.devices_lowest for record in begun)
    backs = [(r.started_s or 0.0) + r.back_s for r in begun if r.back_s is not None]
    merged.back_s = max(backs) - start if len(backs) == len(begun) else None
    return merged


def _said(parts: Sequence[tuple[str, FaultRecord]], attribute: str) -> str:
    """What the processes said of a fault (its ``detail`` or ``error``): once if every one
    said the same, else each with the process's name."""
    said = [(name, text) for name, record in parts if (text := getattr(record, attribute))]
    if not said:
        return ""
    texts = {text for _, text in said}
    if len(texts) == 1 and len(said) == len(parts):
        text = said[0][1]
        return text if len(parts) == 1 else f"{text}, in each of {len(parts)}"
    return "; ".join(f"{name}: {text}" for name, text in said)


class FaultFigures(TypedDict):
    """One fault as the report shows it."""

    kind: str
    at_s: float
    duration_s: float | None
    started_s: float | None
    ended_s: float | None
    detail: str
    error: str | None
    devices_before: int
    devices_cut: int
    devices_lost: int
    back_s: float | None
    window_s: list[float] | None
    qos: int
    """The QoS of the fleet's telemetry, which the window's message figures are counted at."""
    duplicated: int | None
    lost: int | None
    """Sequence gaps the window opened that were still open at its end."""
    gaps_peak: int | None
    backlog_peak: int | None
    latency_ms_p99_peak: float | None


def fault_figures(
    records: Sequence[FaultRecord],
    samples: Sequence[Mapping[str, Any]],
    *,
    qos: int,
    ingest: bool = True,
) -> list[FaultFigures]:
    """Each fault, in the order they happened, with what the time series saw in its window
    of the fleet's messages, published at ``qos``; without ``ingest`` (a run that stored
    nothing) only the window, none of ingest's figures."""
    ordered = sorted(records, key=lambda r: (r.started_s is None, r.started_s or 0.0, r.at_s))
    figures = []
    for number, record in enumerate(ordered):
        later = [r.started_s for r in ordered[number + 1 :] if r.started_s is not None]
        figures.append(_figures(record, samples, later[0] if later else None, qos, ingest))
    return figures


def _figures(
    record: FaultRecord,
    samples: Sequence[Mapping[str, Any]],
    next_start: float | None,
    qos: int,
    ingest: bool,
) -> FaultFigures:
    figures: FaultFigures = {
        "kind": record.kind,
        "at_s": record.at_s,
        "duration_s": record.duration_s,
        "started_s": _round(record.started_s),
        "ended_s": _round(record.ended_s),
        "detail": record.detail,
        "error": record.error,
        "devices_before": record.devices_before,
        "devices_cut": record.devices_cut,
        "devices_lost": max(0, record.devices_before - record.devices_lowest),
        "back_s": _round(record.back_s),
        "window_s": None,
        "qos": qos,
        "duplicated": None,
        "lost": None,
        "gaps_peak": None,
        "backlog_peak": None,
        "latency_ms_p99_peak": None,
    }
    start = record.started_s
    if start is None or not samples:
        return figures
    end = samples[-1]["t_s"]
    if record.back_s is not None:
        end = min(end, start + record.back_s + SETTLE_S)
    if next_start is not None:
        end = min(end, next_start)
    before, inside = split_window(samples, start, end)
    figures["window_s"] = [round(start, 3), round(max(start, end), 3)]
    if not inside or not ingest:
        return figures
    figures["duplicated"] = growth("duplicated_total", before, inside)
    opened = growth("lost_so_far", before, inside)
    figures["lost"] = max(0, opened) if opened is not None else None
    gaps = [s["lost_so_far"] for s in inside if s.get("lost_so_far") is not None]
    figures["gaps_peak"] = max(gaps) if gaps else None
    # Merged from several processes, a sample's ingested total may be newer than its
    # published one: a backlog is never less than none.
    backlog = [
        max(0, s["published_total"] - s["ingested_total"])
        for s in inside
        if s.get("published_total") is not None and s.get("ingested_total") is not None
    ]
    figures["backlog_peak"] = max(backlog) if backlog else None
    p99 = [s["latency_ms_p99"] for s in inside if s.get("latency_ms_p99") is not None]
    figures["latency_ms_p99_peak"] = max(p99) if p99 else None
    return figures


def _round(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None
