"""``factory-sim capacity``: the highest load a platform holds within its service levels.

The search raises the load in steps, one run each: the offered message rate (``by = "rate"``:
every device's publish interval scaled) or the connected devices (``by = "devices"``). Each
step holds for the scenario's ``duration_s`` and is judged by the SLOs (``KEY OP LIMIT``, as
thresholds) and by the run's own verdict (nothing lost, every device onboarded). While steps
hold, the load grows by :data:`GROWTH`; once one breaks, the search bisects between the highest
that held and the lowest that broke until they are within :data:`PRECISION` of each other, in
at most ``max_steps`` runs. A first step that breaks makes it shrink instead.

:class:`CapacitySearch` is the pure part (which load next, given what held); :func:`run_capacity`
runs the steps, each a whole :class:`~simulator.runner.Runner` run against its own local broker
(or the scenario's), so a step starts from a rested platform.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from simulator.config import resolve_run_config
from simulator.report.capacity import CapacityStep
from simulator.report.json_report import problems
from simulator.report.thresholds import Threshold, evaluate
from simulator.runner import Runner
from simulator.scenario import Scenario, validate_scenario

GROWTH = 2.0
"""How much each step raises the load while steps hold."""

PRECISION = 0.10
"""The search ends once the highest load that held is within this share of the lowest that
broke."""

MAX_STEPS = 8
"""Runs the search may take by default."""

By = Literal["rate", "devices"]


@dataclass(slots=True)
class CapacitySearch:
    """Which load to try next, from the loads tried and whether each held."""

    start: float
    """The first load: the scenario's own."""
    whole: bool = False
    """Loads are whole numbers (devices)."""
    growth: float = GROWTH
    precision: float = PRECISION
    max_steps: int = MAX_STEPS
    held: float | None = None
    """The highest load that held so far."""
    broke: float | None = None
    """The lowest load that broke so far."""
    tried: list[float] = field(default_factory=list)

    def next(self) -> float | None:
        """The next load to try, or None when the search is over."""
        if len(self.tried) >= self.max_steps:
            return None
        if not self.tried:
            return self._round(self.start)
        held, broke = self.held, self.broke
        if broke is None:
            assert held is not None
            return self._round(held * self.growth)
        if held is None:
            low = broke / self.growth
            return None if self._round(low) <= 0 or self._round(low) == broke else self._round(low)
        if (broke - held) <= self.precision * broke:
            return None
        middle = self._round((held + broke) / 2)
        return None if middle in (held, broke) else middle

    def record(self, load: float, held: bool) -> None:
        """Whether ``load`` held its SLOs."""
        self.tried.append(load)
        if held:
            self.held = load if self.held is None else max(self.held, load)
        else:
            self.broke = load if self.broke is None else min(self.broke, load)

    def _round(self, load: float) -> float:
        if self.whole:
            return float(max(1, math.floor(load)))
        return float(f"{load:.4g}")


def offered_rate(scenario: Scenario) -> float:
    """Messages per second the scenario's fleet offers once every device publishes."""
    return sum(group.count / group.interval_s for group in scenario.fleet.groups)


def step_scenario(scenario: Scenario, by: By, load: float, source: str) -> Scenario:
    """``scenario`` at ``load``: every publish interval scaled so the fleet offers ``load``
    messages per second, or ``load`` devices."""
    data = scenario.model_dump(mode="json")
    fleet = data["fleet"]
    if by == "devices":
        fleet["devices"] = int(load)
    else:
        factor = offered_rate(scenario) / load
        fleet["publish_interval_s"] = fleet["publish_interval_s"] * factor
        for entry in fleet.get("mix") or []:
            if entry.get("publish_interval_s") is not None:
                entry["publish_interval_s"] = entry["publish_interval_s"] * factor
    return validate_scenario(data, source)


RunStep = Callable[[Scenario], Awaitable[Mapping[str, Any]]]
"""Runs one step's scenario and returns its report."""


async def run_capacity(
    scenario: Scenario,
    *,
    by: By,
    slos: Sequence[Threshold],
    run_step: RunStep,
    source: str,
    max_steps: int = MAX_STEPS,
    say: Callable[[str], None] = lambda _: None,
) -> list[CapacityStep]:
    """Run the search: each step's scenario through ``run_step``; every step, in order."""
    start = float(scenario.fleet.devices) if by == "devices" else offered_rate(scenario)
    search = CapacitySearch(start, whole=by == "devices", max_steps=max_steps)
    steps: list[CapacityStep] = []
    while (load := search.next()) is not None:
        step = await try_load(
            scenario, by, load, len(steps) + 1, slos=slos, run_step=run_step, source=source, say=say
        )
        search.record(load, step.held)
        steps.append(step)
    return steps


async def try_load(
    scenario: Scenario,
    by: By,
    load: float,
    number: int,
    *,
    slos: Sequence[Threshold],
    run_step: RunStep,
    source: str,
    say: Callable[[str], None] = lambda _: None,
) -> CapacityStep:
    """One step: ``scenario`` at ``load``, run, and judged by ``slos`` and its own problems."""
    unit = "devices" if by == "devices" else "msg/s offered"
    say(f"capacity step {number}: {load:,.0f} {unit}, held for {scenario.duration_s:g} s")
    report = await run_step(step_scenario(scenario, by, load, source))
    broken = [_said(result.threshold) for result in evaluate(slos, report) if not result.passed]
    broken.extend(problems(report))
    say(f"capacity step {number}: " + ("broke: " + "; ".join(broken) if broken else "held"))
    return CapacityStep(number, load, not broken, tuple(broken), report)


def run_locally(source: str) -> RunStep:
    """Steps run as ``factory-sim run`` runs a scenario, in this process, quietly."""

    async def run_step(step: Scenario) -> Mapping[str, Any]:
        config = resolve_run_config(step, source, now_ns=time.time_ns(), quiet=True)
        return await Runner(config).run()

    return run_step


def _said(threshold: Threshold) -> str:
    return f"{threshold.key} {threshold.op} {threshold.limit:g}"
