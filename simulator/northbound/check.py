"""The northbound check: every value a gateway publishes, against the southbound ground truth.

Pure: each message comes in with its arrival time (seconds since the southbound server's
epoch, on the server's own clock), and :meth:`GatewayCheck.section` says what was found, as
the report's ``gateway`` section (:class:`~simulator.report.gateway.GatewaySection`).

For each value: is the device one of the fleet's, the signal one of its model's; is it
correct, stale or wrong (:mod:`.truth`); if it is the first arrival of a value the truth took
at a step (a change), how long after that step began it arrived. Per device: which signals
were seen, the longest gap between two messages. For each south-side fault
(:mod:`simulator.southbound.faults`), how soon the gateway's data for each faulted device
stopped being fresh: the gateway's quality field flagged it, a stale or wrong value came, or
no good value came for longer than ``max_staleness_ms``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.errors import PayloadError
from simulator.metrics.histogram import Histogram, percentile_ms
from simulator.northbound.mapping import GatewayMapping, Reading
from simulator.northbound.truth import GroundTruth
from simulator.report.gateway import GatewayFault, GatewaySection
from simulator.scenario.gateway import GatewaySettings
from simulator.southbound.faults import Fault, FaultPlan

EXAMPLES = 10
"""Examples kept of each kind of finding."""

MAX_WRONG_TAGS = 100
"""Tags named in ``values.wrong_tags`` at most."""


@dataclass(slots=True)
class _Watch:
    """One faulted device during one fault."""

    last_good: float
    """Arrival of its latest correct, vouched-for message (-inf: none yet)."""
    detected_s: float | None = None
    how: str = ""


class GatewayCheck:
    """Accumulates what a gateway publishes; one per check."""

    def __init__(
        self,
        truth: GroundTruth,
        settings: GatewaySettings,
        faults: FaultPlan,
        *,
        started_s: float,
    ) -> None:
        """``started_s``: when checking began (seconds since the epoch)."""
        self.truth = truth
        self.settings = settings
        self.mapping = GatewayMapping(settings)
        self.faults = faults
        self.started_s = started_s
        self._staleness_s = settings.max_staleness_ms / 1000
        n = truth.devices
        self._ids = [truth.device_id(index) for index in range(n)]
        self._index = {device_id: index for index, device_id in enumerate(self._ids)}
        self._positions: dict[int, dict[str, int]] = {}
        self._field_counts = [len(truth.signals(index)) for index in range(n)]
        self._seen_signals = [0] * n
        self._last_arrival = [math.nan] * n
        self._last_good = [-math.inf] * n
        self._checked = [False] * n
        self._max_gap = [0.0] * n
        self._last_change: dict[int, list[float]] = {}
        self.received = 0
        self.retained = 0
        self.unparsed = 0
        self.readings = 0
        self.correct = 0
        self.stale = 0
        self.wrong = 0
        self.flagged = 0
        self._unknown_devices: dict[str, None] = {}
        self._unknown_tags: dict[str, None] = {}
        self._wrong_tags: dict[str, int] = {}
        self._wrong_examples: list[dict[str, object]] = []
        self._stale_examples: list[dict[str, object]] = []
        self.latency = Histogram()
        """Microseconds from a southbound change to its first northbound arrival."""
        self._watches: dict[tuple[int, int], _Watch] = {}
        self._faulted: dict[int, list[Fault]] = {}
        for fault in faults.faults:
            devices = fault.devices or tuple(range(n))  # a restart takes every device
            for index in devices:
                self._faulted.setdefault(index, []).append(fault)

    def _position(self, index: int, signal: str) -> int | None:
        positions = self._positions.get(index)
        if positions is None:
            signals = self.truth.signals(index)
            positions = {signal: number for number, signal in enumerate(signals)}
            self._positions[index] = positions
        return positions.get(signal)

    def on_retained(self) -> None:
        """A retained message the broker sent on subscribing: published before the check
        began, perhaps by an earlier run, so it is counted and not checked."""
        self.received += 1
        self.retained += 1

    def on_message(self, topic: str, payload: bytes, t_s: float) -> None:
        """Check one message that arrived at ``t_s``."""
        self.received += 1
        try:
            readings = self.mapping.readings(topic, payload)
        except PayloadError:
            self.unparsed += 1
            return
        by_device: dict[str, list[Reading]] = {}
        for reading in readings:
            by_device.setdefault(reading.device, []).append(reading)
        for device, of_device in by_device.items():
            self._device_message(device, of_device, t_s)

    def _device_message(self, device: str, readings: list[Reading], t_s: float) -> None:
        index = self._index.get(device)
        if index is None:
            self._unknown_devices.setdefault(device, None)
            return
        previous = self._last_arrival[index]
        if not math.isnan(previous):
            self._max_gap[index] = max(self._max_gap[index], t_s - previous)
        self._last_arrival[index] = t_s
        fresh = True
        flagged = False
        checked: list[tuple[int, object]] = []
        shown: list[Reading] = []
        for reading in readings:
            self.readings += 1
            position = self._position(index, reading.signal)
            if position is None:
                self._unknown_tags.setdefault(f"{device}/{reading.signal}", None)
                continue
            self._seen_signals[index] |= 1 << position
            if not reading.good:
                self.flagged += 1
                flagged = True
                continue
            checked.append((position, reading.value))
            shown.append(reading)
        matches = self.truth.match_many(index, checked, t_s) if checked else []
        # The device's first values checked show what changed before the check could have
        # heard of it (a flagged message before them showed nothing): no latency from them.
        first = bool(checked) and not self._checked[index]
        if checked:
            self._checked[index] = True
        update_s = self.truth.update_s_of(index)
        for (position, _), reading, match in zip(checked, shown, matches, strict=True):
            if match.verdict == "correct":
                self.correct += 1
                if match.changed_step is not None:
                    self._changed(
                        index, position, match.changed_step * update_s, t_s, measure=not first
                    )
                continue
            fresh = False
            if match.verdict == "stale":
                self.stale += 1
                self._example(self._stale_examples, index, position, reading, t_s)
            else:
                self.wrong += 1
                tag = f"{device}/{reading.signal}"
                if tag in self._wrong_tags or len(self._wrong_tags) < MAX_WRONG_TAGS:
                    self._wrong_tags[tag] = self._wrong_tags.get(tag, 0) + 1
                self._example(self._wrong_examples, index, position, reading, t_s)
        if index in self._faulted:
            self._watch(index, t_s, flagged=flagged, fresh=fresh)
        if fresh and not flagged:
            self._last_good[index] = t_s

    def _changed(
        self, index: int, position: int, changed_s: float, t_s: float, *, measure: bool
    ) -> None:
        """A change first seen (``changed_s``: the start of its step): its latency, unless it
        is in the device's first message (which shows what changed before the check could
        have heard of it)."""
        last = self._last_change.get(index)
        if last is None:
            last = self._last_change[index] = [-1.0] * self._field_counts[index]
        if changed_s <= last[position]:
            return
        last[position] = changed_s
        if measure and changed_s >= self.started_s:
            self.latency.record(round((t_s - changed_s) * 1_000_000))

    def _example(
        self, into: list[dict[str, object]], index: int, position: int, reading: Reading, t_s: float
    ) -> None:
        if len(into) >= EXAMPLES:
            return
        number = self.truth.numbers_at(index, t_s)[position]
        into.append(
            {
                "device": reading.device,
                "signal": reading.signal,
                "got": reading.value,
                "expected": self.truth.expected(index, position, number),
                "at_s": round(t_s, 3),
            }
        )

    def _watch(self, index: int, t_s: float, *, flagged: bool, fresh: bool) -> None:
        for fault in self._faulted[index]:
            if t_s < fault.start_s:
                continue
            watch = self._watches.get((fault.number, index))
            if watch is None:
                watch = self._watches[(fault.number, index)] = _Watch(self._last_good[index])
            if watch.detected_s is not None:
                continue
            if min(t_s, fault.end_s) - watch.last_good > self._staleness_s:
                watch.detected_s, watch.how = watch.last_good + self._staleness_s, "stopped"
            elif t_s >= fault.end_s:
                continue  # over: what came after it says nothing of it
            elif flagged:
                watch.detected_s, watch.how = t_s, "flagged"
            elif not fresh:
                watch.detected_s, watch.how = t_s, "stale"
            else:
                watch.last_good = t_s

    def _fault_section(self, fault: Fault, now_s: float) -> GatewayFault:
        devices = fault.devices or tuple(range(self.truth.devices))
        end = min(fault.end_s, now_s)
        after: list[float] = []
        reactions: dict[str, int] = {}
        undetected: list[str] = []
        for index in devices:
            watch = self._watches.get((fault.number, index))
            if watch is None:
                watch = _Watch(self._last_good[index])
            detected, how = watch.detected_s, watch.how
            if detected is None and end - watch.last_good > self._staleness_s:
                detected, how = watch.last_good + self._staleness_s, "stopped"
            if detected is None:
                undetected.append(self._ids[index])
                continue
            after.append(max(0.0, detected - fault.start_s))
            reactions[how] = reactions.get(how, 0) + 1
        after.sort()
        return {
            "number": fault.number,
            "kind": fault.kind,
            "start_s": fault.start_s,
            "end_s": fault.end_s,
            "devices": len(devices),
            "detected": len(after),
            "undetected": len(undetected),
            "detected_after_s": {
                "max": round(after[-1], 3) if after else None,
                "p50": round(after[(len(after) - 1) // 2], 3) if after else None,
            },
            "reactions": reactions,
            "undetected_examples": undetected[:EXAMPLES],
        }

    def section(self, now_s: float) -> GatewaySection:
        """The report's ``gateway`` section as of ``now_s``."""
        n = self.truth.devices
        seen = [i for i in range(n) if not math.isnan(self._last_arrival[i])]
        missing = [self._ids[i] for i in range(n) if math.isnan(self._last_arrival[i])]
        tags_seen = sum(bin(bits).count("1") for bits in self._seen_signals)
        tags_expected = sum(self._field_counts)
        # A device that stopped publishing shows in its gap up to now, not only between messages.
        gaps = {i: max(self._max_gap[i], now_s - self._last_arrival[i]) for i in seen}
        over = [i for i in seen if gaps[i] > self._staleness_s]
        worst = sorted(seen, key=lambda i: -gaps[i])[:5]
        faults = [
            self._fault_section(fault, now_s)
            for fault in self.faults.faults
            if fault.start_s < now_s
        ]
        return {
            "topic": self.mapping.filter,
            "max_staleness_ms": self.settings.max_staleness_ms,
            "duration_s": round(now_s - self.started_s, 3),
            "messages": {
                "received": self.received,
                "retained": self.retained,
                "unparsed": self.unparsed,
                "readings": self.readings,
            },
            "devices": {
                "expected": n,
                "seen": len(seen),
                "missing": len(missing),
                "missing_examples": missing[:EXAMPLES],
                "unknown": len(self._unknown_devices),
                "unknown_examples": list(self._unknown_devices)[:EXAMPLES],
            },
            "tags": {
                "expected": tags_expected,
                "seen": tags_seen,
                "missing": tags_expected - tags_seen,
                "unknown": len(self._unknown_tags),
                "unknown_examples": list(self._unknown_tags)[:EXAMPLES],
            },
            "values": {
                "checked": self.correct + self.stale + self.wrong,
                "correct": self.correct,
                "stale": self.stale,
                "wrong": self.wrong,
                "flagged": self.flagged,
                "wrong_tags": dict(self._wrong_tags),
                "wrong_examples": list(self._wrong_examples),
                "stale_examples": list(self._stale_examples),
            },
            "latency_ms": {
                "count": self.latency.count,
                "p50": percentile_ms(self.latency, 50),
                "p99": percentile_ms(self.latency, 99),
                "max": round(self.latency.max / 1000, 3) if self.latency.count else None,
            },
            "gaps": {
                "max_ms": round(max(gaps.values()) * 1000, 3) if seen else None,
                "devices_over_staleness": len(over),
                "worst": [
                    {"device": self._ids[i], "max_gap_ms": round(gaps[i] * 1000, 3)} for i in worst
                ],
            },
            "faults": faults,
        }
