"""What each stage of a run's ``[[stages]]`` achieved against its plan.

The stage driver (:mod:`simulator.engine.staging`) keeps a :class:`StageMark` per stage: its
plan (devices at its end, messages offered over it) and what the fleet's own counters said at
its end (devices connected, messages published, sends that ran late or waited for the broker,
connects that failed). :func:`stage_figures` adds what the time series saw in the stage's
window, as :func:`~simulator.metrics.faults.fault_figures` does for a fault's: messages
ingested, sequence gaps opened, latency (from the cumulative histogram at the stage's first
sample and the next stage's), the simulator's CPU. Messages ingested are read at the stage's
own start and end, between the samples either side. Then it says whether the stage kept to its
plan (devices and messages within :data:`TOLERANCE`) or which part fell behind, and the likely
reason, in one sentence.

The slices of a run (``--segment``, ``--workers``) each mark their share of the plan;
:func:`summed_marks` adds their figures back up stage by stage into the marks one process
would have kept, which :func:`stage_figures` then reads against the merged time series.

Pure: times are seconds since the run began, as the time series' ``t_s``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from simulator.metrics.histogram import Histogram, percentile_ms
from simulator.metrics.timeseries import growth, split_window, value_at

TOLERANCE = 0.05
"""How far from its plan a stage may end and still count as kept."""


@dataclass(slots=True)
class StageMark:
    """One stage as the driver saw it: its plan and the fleet's counters over it."""

    number: int
    start_s: float
    end_s: float
    """When it ended (planned end, or when the run stopped it)."""
    devices_planned: int
    """Devices the plan has connected at its end (a slice's: its own among them)."""
    devices_slack: int
    """How many more devices may be connected at its end by construction (a gateway's)."""
    messages_planned: float
    """Messages the plan offers over the stage (a slice's: its share, see
    :func:`~simulator.scenario.stages.stage_shares`)."""
    devices_achieved: int = 0
    published: int = 0
    """Messages the fleet published during the stage."""
    overrun: int = 0
    """Sends that ran more than a slot late during the stage."""
    inflight_blocked: int = 0
    """Sends postponed at the broker's Receive Maximum during the stage."""
    connect_failed: int = 0
    """Devices whose connect failed for good during the stage."""
    ended: bool = False
    """Whether the stage ran to its planned end (False: the run stopped first)."""
    rising: bool = False
    """Whether the stage raises the devices (it connects more as it goes)."""


class LoadStageFigures(TypedDict):
    """One stage as the report shows it."""

    number: int
    start_s: float
    end_s: float
    devices_planned: int
    devices_achieved: int
    msg_rate_planned_per_s: float
    msg_rate_achieved_per_s: float
    messages_planned: int
    published: int
    ingested: int | None
    ingested_per_s: float | None
    lost: int | None
    """Sequence gaps opened during the stage and not filled by its end."""
    latency_ms_p50: float | None
    latency_ms_p99: float | None
    cpu_percent: float | None
    """The simulator's mean CPU use over the stage's samples (100 = one core)."""
    devices_slack: int
    """How many devices beyond ``devices_planned`` its end may have by construction (the
    rest of a gateway's block the target reached into)."""
    overrun: int
    """Sends that ran more than a slot late during the stage."""
    inflight_blocked: int
    """Sends postponed at the broker's Receive Maximum during the stage."""
    connect_failed: int
    """Devices whose connect failed for good during the stage."""
    ended: bool
    """Whether the stage ran to its planned end (False: the run stopped first)."""
    kept: bool
    behind: str | None
    """Which part fell behind its plan and why, in a sentence (None: kept)."""


def stage_figures(
    marks: Sequence[StageMark],
    samples: Sequence[Mapping[str, Any]],
    latency_at: Mapping[int, Histogram],
    latency_end: Histogram | None,
) -> list[LoadStageFigures]:
    """Each stage with what the time series saw in it and whether it kept to its plan.

    ``latency_at`` is the cumulative latency histogram as each stage began (key: its number;
    the key past the last stage, the end of the stages); ``latency_end`` the last one taken.
    """
    figures = []
    for mark in marks:
        span = mark.end_s - mark.start_s
        before, inside = split_window(samples, mark.start_s, mark.end_s)
        ingested = _between(samples, "ingested_total", mark.start_s, mark.end_s)
        lost = growth("lost_so_far", before, inside)
        cpu = [s["cpu_percent"] for s in inside if s.get("cpu_percent") is not None]
        p50, p99 = stage_latency_ms(mark.number, latency_at, latency_end)
        figures.append(
            LoadStageFigures(
                number=mark.number,
                start_s=round(mark.start_s, 3),
                end_s=round(mark.end_s, 3),
                devices_planned=mark.devices_planned,
                devices_achieved=mark.devices_achieved,
                msg_rate_planned_per_s=round(mark.messages_planned / span, 1) if span else 0.0,
                msg_rate_achieved_per_s=round(mark.published / span, 1) if span else 0.0,
                messages_planned=round(mark.messages_planned),
                published=mark.published,
                ingested=ingested,
                ingested_per_s=round(ingested / span, 1) if ingested is not None and span else None,
                lost=max(0, lost) if lost is not None else None,
                latency_ms_p50=p50,
                latency_ms_p99=p99,
                cpu_percent=round(sum(cpu) / len(cpu), 1) if cpu else None,
                devices_slack=mark.devices_slack,
                overrun=mark.overrun,
                inflight_blocked=mark.inflight_blocked,
                connect_failed=mark.connect_failed,
                ended=mark.ended,
                kept=True,
                behind=None,
            )
        )
        behind = _behind(mark, figures[-1])
        figures[-1]["kept"] = behind is None
        figures[-1]["behind"] = behind
    return figures


def summed_marks(slices: Sequence[Sequence[Mapping[str, Any]]]) -> list[StageMark]:
    """One run's marks from its slices' reported stages (each a report's ``stages``): counts
    added stage by stage; a stage ended if it ended in every slice, and ran from the earliest
    start to the latest end; it rises if its planned devices exceed the stage before's, as in
    the whole plan (the slices' planned devices add up to the plan's)."""
    marks: dict[int, StageMark] = {}
    seen: dict[int, int] = {}
    for stages in slices:
        for stage in stages:
            number = int(stage["number"])
            mark = marks.get(number)
            if mark is None:
                mark = marks[number] = StageMark(
                    number,
                    float(stage["start_s"]),
                    float(stage["end_s"]),
                    0,
                    int(stage["devices_slack"]),
                    0.0,
                    ended=True,
                )
            seen[number] = seen.get(number, 0) + 1
            mark.start_s = min(mark.start_s, float(stage["start_s"]))
            mark.end_s = max(mark.end_s, float(stage["end_s"]))
            mark.devices_slack = max(mark.devices_slack, int(stage["devices_slack"]))
            mark.devices_planned += int(stage["devices_planned"])
            mark.messages_planned += int(stage["messages_planned"])
            mark.devices_achieved += int(stage["devices_achieved"])
            mark.published += int(stage["published"])
            mark.overrun += int(stage["overrun"])
            mark.inflight_blocked += int(stage["inflight_blocked"])
            mark.connect_failed += int(stage["connect_failed"])
            mark.ended = mark.ended and bool(stage["ended"])
    ordered = [marks[number] for number in sorted(marks)]
    previous = 0
    for mark in ordered:
        mark.ended = mark.ended and seen[mark.number] == len(slices)
        mark.rising = mark.devices_planned > previous
        previous = mark.devices_planned
    return ordered


def _between(
    samples: Sequence[Mapping[str, Any]], key: str, start: float, end: float
) -> int | None:
    """How much the cumulative ``key`` grew from ``start`` to ``end``, read between samples
    (a stage shorter than the sampling interval still gets its share)."""
    first, last = value_at(samples, key, start), value_at(samples, key, end)
    if first is None or last is None:
        return None
    return round(last - first)


def stage_latency_ms(
    number: int, latency_at: Mapping[int, Histogram], end: Histogram | None
) -> tuple[float | None, float | None]:
    """Stage ``number``'s latency p50 and p99 in ms, from the cumulative histograms as each
    stage began (``latency_at``, as :func:`stage_figures` takes them) and the last one taken
    (None, None: not measured)."""
    start = latency_at.get(number)
    stop = latency_at.get(number + 1, end)
    if start is None or stop is None:
        return None, None
    latency = stop.since(start)
    return percentile_ms(latency, 50), percentile_ms(latency, 99)


def _behind(mark: StageMark, figures: LoadStageFigures) -> str | None:
    """Which part of the stage fell behind its plan and why, or None if it kept to it."""
    if not mark.ended:
        return f"stage {mark.number} was cut short: the run stopped {mark.end_s:,.1f} s in"
    planned, achieved = mark.devices_planned, mark.devices_achieved
    short = achieved < planned * (1 - TOLERANCE)
    over = achieved > planned * (1 + TOLERANCE) + mark.devices_slack
    cpu = figures["cpu_percent"]
    busy = f" (simulator CPU {cpu:,.0f} %)" if cpu is not None else ""
    devices = f"{achieved:,} of {planned:,} planned devices were connected at its end"
    if short:
        if mark.connect_failed:
            why = f"{mark.connect_failed:,} devices failed to connect"
        else:
            why = (
                "the connects could not keep to the plan: the broker answered slowly or the "
                f"simulator's event loop was busy{busy}"
            )
        return f"devices fell behind: {devices}; {why}"
    if over:
        return f"devices stayed above plan: {devices}; connections left late{busy}"
    wanted = mark.messages_planned
    sent = mark.published
    allowed = wanted * TOLERANCE
    if abs(sent - wanted) <= allowed or (wanted < 1 / TOLERANCE and abs(sent - wanted) < 1):
        return None
    said = f"{sent:,} messages sent of {round(wanted):,} planned"
    if sent > wanted:
        return f"messages ran above plan: {said}; senders caught up on earlier firings"
    missing = wanted - sent
    if mark.overrun >= missing / 2:
        why = (
            f"the simulator fell behind its schedule ({mark.overrun:,} sends ran late){busy}: "
            "a simulator limit, not the platform's"
        )
    elif mark.inflight_blocked:
        why = (
            f"the broker's Receive Maximum held {mark.inflight_blocked:,} sends back (QoS 1/2 "
            "in-flight bound): acknowledgements came too slowly"
        )
    elif mark.rising:
        why = (
            "devices that had just connected wait up to one publish interval for their first "
            "firing, and the stage kept connecting them"
        )
    else:
        why = f"the simulator sent less than asked{busy}"
    return f"messages fell behind: {said}; {why}"
