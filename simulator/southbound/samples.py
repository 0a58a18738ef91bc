"""The served fleet's ground truth: which model each device is, and its sample at a step.

Pure: no clock, no I/O. Every southbound protocol shows the same values: a device at time
``t_s`` (seconds since the server's epoch) shows its model's sample number
``k = floor(t_s / update_s)`` taken at ``k * update_s`` seconds, the device having been sampled
at every step before it (:func:`sample_at`, the ground truth a gateway's published values are
checked against). A server keeps at most a cursor per device (the model state at the step it
showed last) and moves it on with :func:`advance`, which rebuilds it from step 0 when the clock
went back, so what a device shows never depends on when it was asked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from simulator.fleet import DeviceModel, PlantLayout, SampleValue, get_model
from simulator.scenario.composition import Group

_STEP_SLACK = 1e-9
"""Added to ``t_s / update_s`` before flooring, so 3.0 / 0.1 is step 30, not 29."""


def step_at(t_s: float, update_s: float) -> int:
    """The model step shown at ``t_s`` seconds (0 before the epoch)."""
    return max(0, math.floor(t_s / update_s + _STEP_SLACK))


def advance(
    model: DeviceModel,
    index: int,
    seed: int,
    update_s: float,
    step: int,
    *,
    state: Any = None,
    at: int = 0,
) -> tuple[Any, dict[str, SampleValue]]:
    """Device ``index``'s state and sample at ``step``, from its ``state`` at step ``at``.

    ``state`` None, or ``step`` not after ``at`` (the clock went back): start again from
    step 0. A caller that is at ``step`` already keeps the sample it has instead.
    """
    if state is None or step <= at:
        state = model.new_state(index, seed)
        sample = model.sample(state, 0, 0.0)
        at = 0
    for seq in range(at + 1, step + 1):
        sample = model.sample(state, seq, seq * update_s)
    return state, sample


def sample_at(
    model: DeviceModel, index: int, seed: int, step: int, update_s: float
) -> dict[str, SampleValue]:
    """Device ``index``'s sample at ``step``: the ground truth it shows then."""
    return advance(model, index, seed, update_s, step)[1]


@dataclass(frozen=True, slots=True)
class ModelBlock:
    """Consecutive devices of one model, as served: ``count`` devices from ``start``."""

    model: DeviceModel
    start: int
    count: int
    update_s: float
    """Seconds between the steps its devices show."""
    layout: PlantLayout
    """The plant, with this model's device id prefix."""

    def device_id(self, index: int) -> str:
        """The id of device ``index`` (of the whole fleet), as its MQTT side names it."""
        return self.layout.identity(index).device_id


def model_blocks(
    groups: Sequence[Group], plant: PlantLayout, update_s: float | None
) -> tuple[ModelBlock, ...]:
    """The fleet's groups as served; ``update_s`` None: each at its publish interval."""
    blocks = []
    for group in groups:
        model = get_model(group.model)
        blocks.append(
            ModelBlock(
                model,
                group.start,
                group.count,
                update_s if update_s is not None else group.interval_s,
                replace(plant, id_prefix=model.id_prefix),
            )
        )
    return tuple(blocks)
