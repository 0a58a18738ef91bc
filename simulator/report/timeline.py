"""Time series of several reports laid on one wall clock: the merged report's ``timeseries``.

Each report's samples count ``t_s`` from its own start (``run.started_at_ns``). The merged
series counts from the earliest start, one sample per second: sample ``k`` takes, from every
report, its latest sample at or before second ``k`` (a sample at ``t_s`` of a report that
started ``offset`` seconds after the earliest falls on second ``round(offset + t_s)``). Then:

- levels and running totals (``connected``, ``*_total``, ``lost_so_far``, ``rss_bytes``) are
  summed over the reports, each one's last value carried forward once it has ended;
- rates (``*_per_s``, ``cpu_percent``) are summed over the reports that have a sample in that
  second (a report that has ended adds nothing);
- the interval's latency percentiles are the worst of the reports' (exact with one ingest);
- the phase is the least advanced of the reports still running ("starting" before any has a
  sample); a report of ingest alone, whose samples have no phase and no fleet figures, has no
  say in it, nor in the stage;
- the live control requests are every report's, each one's ``t_s`` moved onto the merged clock
  and the request placed by that time, not by its sample's: second ``k`` carries those after
  ``k - 1`` up to ``k`` (a sample's second is rounded, a request's time is not), in time order.

Pure: the times come in with the reports.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from simulator.metrics.timeseries import MESSAGE_COUNTS, SAMPLE_KEYS

LEVELS = ("connected", *MESSAGE_COUNTS, "rss_bytes")
"""Sample keys that are a level or a running total: summed, carried forward."""

RATES = (
    "onboarding_rate_per_s",
    "reconnects_per_s",
    "published_per_s",
    "ingested_per_s",
    "cpu_percent",
)
"""Sample keys that are a rate over the interval: summed over the reports sampled then."""

WORST = ("latency_ms_p50", "latency_ms_p99")
"""Sample keys of which the merged sample takes the largest."""

PHASES = ("starting", "onboarding", "publishing", "draining", "stopping", "done")


@dataclass(frozen=True, slots=True)
class Track:
    """One report's samples and when its clock started (ns since the epoch)."""

    started_at_ns: int
    samples: Sequence[dict[str, Any]]


def merge_timeseries(tracks: Sequence[Track], origin: int | None = None) -> list[dict[str, Any]]:
    """One series over every track, on the clock of ``origin`` (ns since the epoch; None: the
    earliest start), see the module; samples before ``origin`` are left out."""
    tracks = [track for track in tracks if track.samples]
    if not tracks:
        return []
    if origin is None:
        origin = min(track.started_at_ns for track in tracks)
    placed: list[dict[int, dict[str, Any]]] = []
    requests: list[dict[str, Any]] = []
    for track in tracks:
        offset_s = (track.started_at_ns - origin) / 1e9
        by_second: dict[int, dict[str, Any]] = {}
        for sample in track.samples:
            requests.extend(
                {**c, "t_s": round(c["t_s"] + offset_s, 3)} for c in sample.get("control") or ()
            )
            second = round(offset_s + float(sample["t_s"]))
            if second >= 0:
                by_second[second] = sample
        if by_second:
            placed.append(by_second)
    if not placed:
        return []
    last = max(max(seconds) for seconds in placed)
    merged: list[dict[str, Any]] = []
    latest: list[dict[str, Any] | None] = [None] * len(placed)
    for second in range(last + 1):
        now: list[dict[str, Any] | None] = [seconds.get(second) for seconds in placed]
        for i, current in enumerate(now):
            if current is not None:
                latest[i] = current
        if all(sample is None for sample in latest):
            continue
        merged.append(_one(second, now, latest))
    _place_requests(merged, requests)
    return merged


def _place_requests(merged: list[dict[str, Any]], requests: list[dict[str, Any]]) -> None:
    """Put each request in the first sample at or after its time (the last, if none is)."""
    seconds = [sample["t_s"] for sample in merged]
    for request in sorted(requests, key=lambda r: float(r["t_s"])):
        at = min(bisect.bisect_left(seconds, request["t_s"]), len(merged) - 1)
        merged[at]["control"] = [*(merged[at]["control"] or ()), request]


_OWN_RATES = ("ingested_per_s", "cpu_percent")
FLEET_KEYS = (
    "phase",
    "stage",
    "control",
    "connected",
    "published_total",
    *(key for key in RATES if key not in _OWN_RATES),
)
"""Sample keys a fleet's process says; a report of ingest alone leaves them null."""


def ingest_samples(
    samples: Sequence[dict[str, Any]], keep: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The samples of a process whose fleet ran elsewhere (its figures of the fleet are the
    slices' own, read from them), with only its ingest's and its own process's figures (and
    those of ``keep``: a coordinator's ``control``, the live requests it took), so a merge
    adds those to the slices' samples."""
    cleared = [key for key in FLEET_KEYS if key not in keep]
    return [{**sample, **dict.fromkeys(cleared)} for sample in samples]


def _one(
    second: int, now: list[dict[str, Any] | None], latest: list[dict[str, Any] | None]
) -> dict[str, Any]:
    sample: dict[str, Any] = {"t_s": float(second)}
    fleets = [s for s in latest if s is not None and s.get("phase") is not None]
    running = [s for s in fleets if s["phase"] != "done"]
    phases = [s["phase"] for s in running] or ["done" if fleets else "starting"]
    sample["phase"] = min(phases, key=lambda p: PHASES.index(p) if p in PHASES else 0)
    stages = [s["stage"] for s in running if s.get("stage") is not None]
    sample["stage"] = min(stages) if stages else None
    for key in LEVELS:
        values = _values(latest, key)
        sample[key] = sum(values) if values else None
    for key in RATES:
        values = _values(now, key)
        sample[key] = round(sum(values), 1) if values else 0.0
    for key in WORST:
        values = _values(now, key)
        sample[key] = max(values) if values else None
    sample["control"] = None  # see _place_requests
    return {key: sample[key] for key in SAMPLE_KEYS}


def _values(samples: Sequence[dict[str, Any] | None], key: str) -> list[float]:
    return [s[key] for s in samples if s is not None and s.get(key) is not None]
