"""``[[stages]]``: load that changes over time, and the plan it makes, as pure functions of time.

Each stage lasts ``duration_s`` and ramps linearly to its targets from the previous stage's:
``devices`` connected at its end, and ``msg_rate_per_s`` offered across the fleet. The first
stage ramps from an empty fleet (0 devices, 0 messages per second): a run with stages starts
with nothing connected, as a plant before its shift, and every stage says where it goes, so a
plan reads the same whatever the fleet's size. A stage whose targets equal the previous ones
holds (a soak); a short one with a higher rate is a spike.

The plan (:class:`StagePlan`) answers, for any ``t`` seconds after the run began: which stage,
how many devices should be connected, which rate is offered, and the factor by which every
device's own rate (one message per publish interval) is scaled so that the connected devices
offer that rate. Devices connect in fleet order (connection ``c`` when the target first
reaches its first device) and leave in reverse order once the target falls below them; the
target may fall only after its last rise, so every connection connects once (a connection
that left is not brought back).

A run split into slices (:mod:`simulator.scenario.segment`) shares one plan: the factor is
the same for every device wherever it runs, a slice connects its own connections when the
plan reaches them (:class:`StageSchedule` with a segment), and :func:`stage_shares` says which
part of each stage's planned devices and messages is the slice's, so the slices' figures add
up to the plan's exactly.

Like :mod:`simulator.scenario.plan`, nothing here reads a clock: time is a parameter.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from simulator.scenario.composition import Group, connection_starts
from simulator.scenario.segment import WHOLE, Segment
from simulator.scenario.table import Table

MAX_STAGE_S = 7 * 86_400.0
"""Longest stage: a week, as a run's duration."""

QUADRATURE_STEPS = 512
"""Steps over which a ramp's planned messages are shared out among slices (see
:func:`stage_shares`): a hold needs one, its shares being constant."""

MAX_MESSAGES_PER_FIRING = 64
"""Most messages one device sends at one firing of its wheel: the rate a stage asks of the
devices it plans, over their own rate (one per interval), may not exceed this."""


class StageSettings(Table):
    """One ``[[stages]]`` entry: where the load goes by the end of ``duration_s``."""

    duration_s: Annotated[float, Field(gt=0.0, le=MAX_STAGE_S)]
    """How long the stage lasts."""
    devices: Annotated[int, Field(ge=0)]
    """Devices connected at the stage's end (reached linearly from the previous stage's)."""
    msg_rate_per_s: Annotated[float, Field(ge=0.0)]
    """Messages per second offered across the fleet at the stage's end (reached linearly)."""


@dataclass(frozen=True, slots=True)
class PlannedStage:
    """One stage of the plan, on the run's timeline."""

    number: int
    """From 1, as the report and the time series name it."""
    start_s: float
    end_s: float
    devices_from: float
    devices_to: int
    rate_from: float
    rate_to: float

    @property
    def duration_s(self) -> float:
        """How long the stage lasts."""
        return self.end_s - self.start_s

    @property
    def planned_messages(self) -> float:
        """Messages the stage offers: its mean rate over its duration."""
        return (self.rate_from + self.rate_to) / 2 * self.duration_s

    def messages_until(self, t_s: float) -> float:
        """Messages the stage offers from its start until ``t_s`` (a stage cut short there)."""
        end = min(max(t_s, self.start_s), self.end_s)
        _, rate = self.at(end)
        return (self.rate_from + rate) / 2 * (end - self.start_s)

    def at(self, t_s: float) -> tuple[float, float]:
        """Devices and rate planned ``t_s`` after the run began (within this stage)."""
        share = min(1.0, max(0.0, (t_s - self.start_s) / self.duration_s))
        devices = self.devices_from + (self.devices_to - self.devices_from) * share
        return devices, self.rate_from + (self.rate_to - self.rate_from) * share


class StagePlan:
    """A fleet's stages on the run's timeline, and what they ask for at any moment."""

    __slots__ = ("_ends", "_groups", "stages")

    def __init__(self, stages: Sequence[StageSettings], groups: Sequence[Group]) -> None:
        planned: list[PlannedStage] = []
        start, devices, rate = 0.0, 0.0, 0.0
        for number, stage in enumerate(stages, 1):
            end = start + stage.duration_s
            planned.append(
                PlannedStage(number, start, end, devices, stage.devices, rate, stage.msg_rate_per_s)
            )
            start, devices, rate = end, float(stage.devices), stage.msg_rate_per_s
        self.stages = tuple(planned)
        self._ends = [stage.end_s for stage in planned]
        self._groups = tuple(groups)

    @property
    def groups(self) -> tuple[Group, ...]:
        """The fleet's groups, in fleet order (whose rates the plan scales)."""
        return self._groups

    @property
    def total_s(self) -> float:
        """When the last stage ends."""
        return self._ends[-1] if self._ends else 0.0

    @property
    def peak_devices(self) -> int:
        """The most devices any stage asks for (the fleet is built for these)."""
        return max((stage.devices_to for stage in self.stages), default=0)

    def stage_at(self, t_s: float) -> PlannedStage | None:
        """The stage running ``t_s`` after the run began (a boundary belongs to the stage it
        ends); None before the start and after the last stage."""
        if t_s < 0 or not self.stages or t_s > self.total_s:
            return None
        index = bisect_right(self._ends, t_s)
        if index > 0 and self._ends[index - 1] == t_s:
            index -= 1
        return self.stages[min(index, len(self.stages) - 1)]

    def at(self, t_s: float) -> tuple[float, float]:
        """Devices and offered rate planned ``t_s`` after the run began (after the last
        stage: its end's)."""
        stage = self.stage_at(t_s)
        if stage is None:
            if t_s < 0 or not self.stages:
                return 0.0, 0.0
            last = self.stages[-1]
            return float(last.devices_to), last.rate_to
        return stage.at(t_s)

    def base_rate(self, devices: float) -> float:
        """Messages per second ``devices`` (the first ones, in fleet order) offer at their
        own rate, one message per publish interval each."""
        rate = 0.0
        for group in self._groups:
            planned = min(max(devices - group.start, 0.0), group.count)
            if planned <= 0:
                break
            rate += planned / group.interval_s
        return rate

    def factor(self, t_s: float) -> float:
        """By how much every device's own rate is scaled ``t_s`` after the run began, so that
        the devices planned then offer the rate planned then (0 when none is planned)."""
        devices, rate = self.at(t_s)
        base = self.base_rate(devices)
        if base <= 0 or rate <= 0:
            return 0.0
        return min(rate / base, float(MAX_MESSAGES_PER_FIRING))

    def first_reaching(self, devices: int) -> float:
        """When the device target first reaches ``devices`` (math.inf: never)."""
        for stage in self.stages:
            if stage.devices_to >= devices:
                if stage.devices_from >= devices:
                    return stage.start_s
                share = (devices - stage.devices_from) / (stage.devices_to - stage.devices_from)
                return stage.start_s + share * stage.duration_s
        return math.inf


class StageSchedule:
    """When each connection's connect starts on a stage plan: when the device target first
    reaches its first device (a :class:`~simulator.transport.connector.StartSchedule`).

    With a ``segment``, the connections are the slice's: its local connection ``k`` is the
    whole fleet's ``segment.global_connection(k)`` and starts when that one would in the whole
    run, so the slices' connect times together are the whole plan's."""

    __slots__ = ("_plan", "_segment", "_starts", "connections")

    def __init__(self, plan: StagePlan, starts: Sequence[int], segment: Segment = WHOLE) -> None:
        """``starts`` is the first device of every connection of the whole fleet, and the
        fleet's size at the end (:func:`~simulator.scenario.composition.connection_starts`)."""
        self._plan = plan
        self._starts = starts
        self._segment = segment
        whole = bisect_right(starts, plan.peak_devices - 1) if plan.peak_devices else 0
        self.connections = segment.connections(whole)
        """Connections (of the slice) the plan connects at all: those whose first device it
        reaches."""

    def start_s(self, index: int) -> float:
        """Seconds after the start at which (the slice's) connection ``index``'s connect is
        due."""
        connection = self._segment.global_connection(index)
        return self._plan.first_reaching(self._starts[connection] + 1)

    def eta_s(self) -> float:
        """When the last connect is due (0 for none)."""
        return self.start_s(self.connections - 1) if self.connections else 0.0


@dataclass(frozen=True, slots=True)
class StageShare:
    """A slice's part of one stage's plan."""

    devices_planned: int
    """The slice's devices among the first ``devices_to`` of the fleet."""
    messages_planned: int
    """The slice's part of the stage's planned messages (the slices' parts add up to the
    whole plan's, rounded, exactly)."""


def stage_shares(plan: StagePlan, segment: Segment = WHOLE) -> list[StageShare]:
    """Each stage's planned devices and messages that are slice ``segment``'s.

    Devices: exact, the slice's among the first ``devices_to``. Messages: the rate planned at
    ``t`` is offered by the devices planned then, each at the same factor over its own rate, so
    a slice's part at ``t`` is its devices' own rate over all planned devices' (counted as
    :meth:`StagePlan.base_rate` counts them, a device being connected part-way through a
    ramp). That part times the planned rate is integrated with the trapezoid rule over
    :data:`QUADRATURE_STEPS` steps: the slices' parts at each step add up to 1 and the planned
    rate is linear, so their integrals add up to the stage's planned messages exactly (to float
    rounding); each is within the rule's error of its own integral. The whole plan's messages,
    rounded, are then dealt out by largest remainder, so the integers add up too.
    """
    rates = SliceRates(plan.groups, segment.count)
    shares: list[StageShare] = []
    for stage in plan.stages:
        devices = rates.devices_below(stage.devices_to)[segment.index]
        parts = message_parts(stage, rates)
        shares.append(
            StageShare(devices, _dealt(parts, round(stage.planned_messages))[segment.index])
        )
    return shares


def message_parts(
    stage: PlannedStage, rates: SliceRates, steps: int = QUADRATURE_STEPS
) -> list[float]:
    """Every slice's planned messages over ``stage``, by the trapezoid rule over ``steps``
    (one for a hold: its parts are constant; see :func:`stage_shares`)."""
    if stage.devices_from == stage.devices_to:
        steps = 1
    parts = [0.0] * rates.count
    width = stage.duration_s / steps
    for step in range(steps + 1):
        devices, rate = stage.at(stage.start_s + step * width)
        base = rates.base(devices)
        total = sum(base)
        if total <= 0 or rate <= 0:
            continue
        weight = width * rate * (0.5 if step in (0, steps) else 1.0) / total
        for index, own in enumerate(base):
            parts[index] += weight * own
    return parts


def _dealt(parts: Sequence[float], total: int) -> list[int]:
    """``total`` dealt out in proportion to ``parts`` by largest remainder."""
    whole = sum(parts)
    if whole <= 0:
        return [0] * len(parts)
    exact = [part * total / whole for part in parts]
    dealt = [math.floor(value) for value in exact]
    order = sorted(range(len(parts)), key=lambda i: (dealt[i] - exact[i], i))
    for index in order[: max(0, total - sum(dealt))]:
        dealt[index] += 1
    return dealt


class SliceRates:
    """Every slice's devices, and their own rate, among the first ``d`` of the fleet (``count``
    slices dealt as :mod:`simulator.scenario.segment` deals them)."""

    __slots__ = ("_devices", "_intervals", "_rates", "_starts", "count")

    def __init__(self, groups: Sequence[Group], count: int) -> None:
        self.count = count
        self._starts = connection_starts(groups)
        self._intervals = [group.interval_s for group in groups for _ in range(group.connections)]
        # Running sums along each slice's connections (every count-th): _rates[c] is the rate
        # of connection c and the slice's connections before it, and _devices[c] their size.
        self._rates: list[float] = []
        self._devices: list[int] = []
        for connection, interval in enumerate(self._intervals):
            size = self._starts[connection + 1] - self._starts[connection]
            before = connection - count
            self._rates.append(size / interval + (self._rates[before] if before >= 0 else 0.0))
            self._devices.append(size + (self._devices[before] if before >= 0 else 0))

    def base(self, devices: float) -> list[float]:
        """Each slice's own rate (one message per interval a device) among the first
        ``devices`` (fractional: the device at the edge counts in part)."""
        return self._spread(devices, self._rates, fractional=True)

    def devices_below(self, devices: int) -> list[int]:
        """How many of the first ``devices`` are each slice's."""
        return [round(value) for value in self._spread(devices, self._devices, fractional=False)]

    def _spread(self, devices: float, sums: Sequence[float], *, fractional: bool) -> list[float]:
        starts, count = self._starts, self.count
        connections = len(sums)
        # The connection holding the edge device; those before it are the slices' whole.
        edge = min(bisect_right(starts, devices) - 1, connections)
        if devices <= 0:
            return [0.0] * count
        out = [0.0] * count
        for connection in range(max(0, edge - count), edge):
            out[connection % count] = float(sums[connection])
        if edge < connections:
            inside = devices - starts[edge]
            if fractional:
                inside /= self._intervals[edge]
            out[edge % count] += inside
        return out


def stage_problems(
    stages: Sequence[StageSettings], groups: Sequence[Group], fleet_devices: int
) -> list[tuple[tuple[str | int, ...], object, str]]:
    """What is wrong with ``stages`` for this fleet: (key path, value, why) for each problem."""
    problems: list[tuple[tuple[str | int, ...], object, str]] = []
    plan = StagePlan(stages, groups)
    fell = False
    previous = 0
    for number, stage in enumerate(stages):
        where = ("stages", number)
        if stage.devices > fleet_devices:
            problems.append(
                (
                    (*where, "devices"),
                    stage.devices,
                    f"must be at most [fleet] devices ({fleet_devices}): the fleet is built "
                    f"once, for the largest stage",
                )
            )
        if stage.devices > previous and fell:
            problems.append(
                (
                    (*where, "devices"),
                    stage.devices,
                    "may not rise again after an earlier stage lowered it: a connection that "
                    "left is not brought back",
                )
            )
        fell = fell or stage.devices < previous
        previous = stage.devices
        if stage.devices == 0 and stage.msg_rate_per_s > 0:
            problems.append(
                (
                    (*where, "msg_rate_per_s"),
                    stage.msg_rate_per_s,
                    "must be 0 when the stage ends with 0 devices: nobody could offer it",
                )
            )
            continue
        base = plan.base_rate(min(stage.devices, fleet_devices))
        if base > 0 and stage.msg_rate_per_s / base > MAX_MESSAGES_PER_FIRING:
            problems.append(
                (
                    (*where, "msg_rate_per_s"),
                    stage.msg_rate_per_s,
                    f"asks {stage.msg_rate_per_s / base:,.1f} times the {base:,.1f} msg/s its "
                    f"{stage.devices:,} devices offer at their publish interval; at most "
                    f"{MAX_MESSAGES_PER_FIRING} (shorten publish_interval_s)",
                )
            )
    return problems
