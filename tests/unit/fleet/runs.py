"""Long seeded runs of one device, shared by the per-model tests."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from itertools import pairwise
from typing import Any

from simulator.fleet import get_model

Sample = dict[str, Any]
SEED = 2024
WEEK_S = 7 * 86_400


@cache
def long_run(name: str, index: int = 5, weeks: int = 4, interval_s: float = 60.0) -> list[Sample]:
    """Device ``index`` of model ``name`` sampled every ``interval_s`` for ``weeks`` weeks.

    Each sample also carries its run time as ``"t"``. Cached: tests must not change it.
    """
    model = get_model(name)
    state = model.new_state(index, SEED)
    samples = []
    for seq in range(int(weeks * WEEK_S / interval_s)):
        t_s = seq * interval_s
        values = model.sample(state, seq, t_s)
        values["t"] = t_s
        samples.append(values)
    return samples


def in_state(samples: list[Sample], state: str) -> list[Sample]:
    """The samples taken in ``state``."""
    return [s for s in samples if s["state"] == state]


def changes(samples: list[Sample], test: Callable[[Sample, Sample], bool]) -> list[Sample]:
    """Each sample ``b`` for which ``test(a, b)`` holds, ``a`` being the sample before it."""
    return [b for a, b in pairwise(samples) if test(a, b)]


def settled(samples: list[Sample], state: str, after: int) -> list[Sample]:
    """Samples in ``state`` whose ``after`` samples before were all in ``state`` too."""
    found = []
    streak = 0
    for values in samples:
        streak = streak + 1 if values["state"] == state else 0
        if streak > after:
            found.append(values)
    return found
