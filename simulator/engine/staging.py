"""A run's ``[[stages]]``, carried out: the offered rate moved, connections made to leave.

The connects follow the plan through the connector's schedule
(:class:`~simulator.scenario.stages.StageSchedule`); everything else a stage changes is done
here, by one task per run that wakes every :data:`TICK_S` (and at each stage's end):

- every group's :class:`~simulator.engine.pacing.Pace` gets the factor the plan asks for now,
  so the connected devices offer the planned rate (no wheel is rebuilt, no device has a timer);
- connections whose devices the plan no longer wants leave cleanly, the last first (their
  deaths said, then DISCONNECT), from a cursor, so a tick costs the connections that change;
- at each stage's end the fleet's counters are read into that stage's
  :class:`~simulator.metrics.stages.StageMark`.

A slice of a run (``--segment``, ``--workers``) follows the whole plan the same way: the factor
is every device's wherever it runs, its connections leave when the target falls below their
first device's global index, and its marks plan the slice's share of each stage
(:func:`~simulator.scenario.stages.stage_shares`), so the slices' marks add up to the plan's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from simulator.engine.fleet import Fleet
from simulator.engine.pacing import Pace
from simulator.metrics.stages import StageMark
from simulator.scenario.segment import WHOLE, Segment
from simulator.scenario.stages import StagePlan, stage_shares

TICK_S = 0.05
"""How often the driver moves the rate factor and lets connections leave."""


class StageDriver:
    """Moves a fleet along its stage plan and keeps a mark per stage."""

    def __init__(
        self,
        plan: StagePlan,
        fleet: Fleet,
        *,
        clock: Callable[[], float],
        start: float,
        connections: int,
        segment: Segment = WHOLE,
        tick_s: float = TICK_S,
    ) -> None:
        """``start`` is the ``clock()`` reading the run began at (the plan's 0);
        ``connections`` how many (of the fleet's, which is slice ``segment``) the plan connects
        at all. Give the fleet's groups their pace: call before the fleet onboards, so its
        wheels publish by it."""
        self._plan = plan
        self._fleet = fleet
        self._clock = clock
        self._start = start
        self._tick_s = tick_s
        self._paces: list[Pace] = []
        for group in fleet.groups:
            group.pace = Pace(group.interval_s)
            self._paces.append(group.pace)
        self._top = connections
        """Connections at and above this index have left (or were never asked for)."""
        self._falling_s = plan.first_reaching(plan.peak_devices)
        """From when on the device target only falls (before: connects only)."""
        slack = max(group.per_connection for group in fleet.groups) - 1
        self.marks = [
            StageMark(
                stage.number,
                stage.start_s,
                stage.end_s,
                share.devices_planned,
                slack if stage.devices_to else 0,
                share.messages_planned,
                rising=stage.devices_to > stage.devices_from,
            )
            for stage, share in zip(plan.stages, stage_shares(plan, segment), strict=True)
        ]
        """One per stage, in order; filled in as each ends (or the run stops)."""
        self._done = 0
        """Stages whose mark is filled in."""
        self._at_start = self._counters()

    @property
    def ended(self) -> list[StageMark]:
        """The marks of the stages that have ended (or were cut short), in order."""
        return self.marks[: self._done]

    def stage_at(self, t_s: float) -> int | None:
        """The number of the stage running ``t_s`` after the run began (None: none)."""
        stage = self._plan.stage_at(t_s)
        return stage.number if stage is not None else None

    async def run(self) -> None:
        """Follow the plan until its last stage ends; cancel it to stop early (the stage
        running then is marked as cut short)."""
        try:
            ends = [stage.end_s for stage in self._plan.stages]
            self.step()
            while self._done < len(ends):
                now = self._clock() - self._start
                wake = min(now + self._tick_s, ends[self._done])
                await asyncio.sleep(max(0.0, wake - now))
                self.step()
        finally:
            self.stop()

    def step(self) -> None:
        """Do what the plan asks now: the stage ends (each read once what its own plan asks
        is done, before anything of the next), the leaving, the rate factor."""
        clock = self._clock()
        t_s = clock - self._start
        marks = self.marks
        while self._done < len(marks) and marks[self._done].end_s <= t_s:
            self._leave(marks[self._done].end_s)
            self._close(marks[self._done], ended=True)
        self._leave(t_s)
        factor = self._plan.factor(t_s)
        fleet_t = clock - self._fleet.publisher.epoch
        for pace in self._paces:
            pace.set(fleet_t, factor)

    def _leave(self, t_s: float) -> None:
        """Let the connections whose devices the plan no longer wants at ``t_s`` leave."""
        if t_s < self._falling_s:
            return
        devices, _ = self._plan.at(t_s)
        fleet = self._fleet
        while self._top > 0 and fleet.members(self._top - 1)[0].index >= devices:
            self._top -= 1
            fleet.leave(self._top)

    def stop(self) -> None:
        """The run is over: mark the stage running now as cut short there, with what its plan
        asked for until then."""
        if self._done < len(self.marks):
            mark = self.marks[self._done]
            mark.end_s = max(mark.start_s, self._clock() - self._start)
            stage = self._plan.stages[mark.number - 1]
            if stage.planned_messages > 0:
                # The slice's part of the plan, in the share it has of the whole stage.
                mark.messages_planned *= stage.messages_until(mark.end_s) / stage.planned_messages
            self._close(mark, ended=False)
        self.marks = self.marks[: self._done]

    def _close(self, mark: StageMark, *, ended: bool) -> None:
        now = self._counters()
        before = self._at_start
        mark.devices_achieved = self._fleet.connected
        mark.published = now[0] - before[0]
        mark.overrun = now[1] - before[1]
        mark.inflight_blocked = now[2] - before[2]
        mark.connect_failed = now[3] - before[3]
        mark.ended = ended
        self._at_start = now
        self._done += 1

    def _counters(self) -> tuple[int, int, int, int]:
        fleet = self._fleet
        counters = fleet.counters
        return counters.published, fleet.overrun, counters.inflight_blocked, fleet.failed
