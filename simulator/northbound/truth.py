"""The ground truth a gateway's published values are checked against, and what "equal" means.

Pure: time comes in as seconds since the southbound server's epoch.

**Where the truth comes from.** The very code that serves the registers: a
:class:`~simulator.southbound.fleet_values.ServedFleet` of its own (same scenario, same seed,
its own cursors) gives a device's register bytes for a step, and the device's
:class:`~simulator.southbound.register_map.RegisterEncoder` reads them back the way a correct
gateway does. What a gateway could have seen and what is expected cannot drift apart.

**Equal means the same register number.** Registers quantise: a scaled 16-bit register holds
``round(value * scale)``, a float32 has 24 bits of mantissa. A published value is equal to the
truth when it names the same register number: a scaled value re-quantised
(``round(got * scale)``) gives the register's integer, so ``21.37`` and ``21.370000000000001``
both match register 2137 at scale 100; a float32 value rounded to float32 is the register's
float; a counter or integer is that integer; a state is its name (``"running"``) or its code.

**Which instants count.** Register values change at steps ``k * update_s``. A value arriving at
``t`` is *correct* when it equals the truth of a step shown at some instant in
``[t - max_staleness, t]``, *stale* when it equals only an older step's (kept for a while back),
*wrong* otherwise.

A device's recent steps are kept as tuples of register numbers (a bounded deque per device
read so far, filled as time goes on; the cursor behind it walks the model forward only).
"""

from __future__ import annotations

import math
import struct
from collections import deque
from dataclasses import dataclass
from typing import Literal

from simulator.fleet import SampleValue
from simulator.southbound.fleet_values import ServedFleet, step_at
from simulator.southbound.register_map import RegisterField, RegisterType

Verdict = Literal["correct", "stale", "wrong"]

MAX_HISTORY_STEPS = 1024
"""The most steps a device's history keeps, whatever the staleness and update interval."""

_FLOAT32 = struct.Struct(">f")


def as_float32(value: float) -> float:
    """``value`` as a float32 register holds it."""
    try:
        return float(_FLOAT32.unpack(_FLOAT32.pack(value))[0])
    except OverflowError:
        return math.copysign(math.inf, value)


def same_value(field: RegisterField, got: object, number: int | float) -> bool:
    """Whether a published ``got`` names the register number ``number`` of ``field``."""
    if isinstance(got, bool):
        return False
    if field.codes:
        if isinstance(got, str):
            return got == field.codes[int(number)]
        return isinstance(got, int) and got == number
    if not isinstance(got, int | float) or not math.isfinite(got):
        return False
    if field.type is RegisterType.FLOAT32:
        return as_float32(float(got)) == number
    if field.scale != 1:
        return round(got * field.scale) == number
    return got == number


def expected_value(field: RegisterField, number: int | float) -> SampleValue:
    """The value a correct gateway publishes for register number ``number`` (for reports)."""
    return field.value(number)


@dataclass(frozen=True, slots=True)
class Match:
    """How one published value compares with the truth."""

    verdict: Verdict
    step: int
    """The step it matched (the newest such); for a wrong value, the step shown at arrival."""
    changed_step: int | None
    """For a correct value: the step at which the truth took this value, when the history
    reaches back to it (else None: it changed before the device was first checked)."""


class _History:
    __slots__ = ("first", "length", "numbers")

    def __init__(self, first: int, length: int) -> None:
        self.length = length
        self.first = first
        """The step of ``numbers[0]``."""
        self.numbers: deque[tuple[int | float, ...]] = deque(maxlen=length)

    @property
    def last(self) -> int:
        return self.first + len(self.numbers) - 1


class GroundTruth:
    """Each served device's register numbers over its recent steps, computed as needed."""

    __slots__ = ("_fleet", "_histories", "_length", "_staleness_s")

    def __init__(self, fleet: ServedFleet, *, max_staleness_s: float, lookback_s: float) -> None:
        """``fleet``: a fleet of the checker's own, built as the server's is. Steps older than
        ``lookback_s`` before an arrival are forgotten: a value matching only those is wrong."""
        self._fleet = fleet
        self._staleness_s = max_staleness_s
        self._length = lookback_s
        self._histories: dict[int, _History] = {}

    @property
    def fleet(self) -> ServedFleet:
        """The served fleet the truth is computed from."""
        return self._fleet

    def _history(self, index: int, t_s: float) -> tuple[_History, int, float]:
        update_s = self._fleet.update_s_of(index)
        now = step_at(t_s, update_s)
        history = self._histories.get(index)
        if history is None:
            length = min(MAX_HISTORY_STEPS, max(2, math.ceil(self._length / update_s) + 1))
            first = max(0, now - length + 1)
            history = _History(first, length)
            self._histories[index] = history
        if now > history.last:
            encoder = self._fleet.encoder_of(index)
            start = max(history.last + 1, now - history.length + 1)
            if start > history.last + 1:
                history.numbers.clear()
                history.first = start
            for step in range(start, now + 1):
                words = self._fleet.registers(index, step * update_s)
                if len(history.numbers) == history.length:
                    history.first += 1
                history.numbers.append(encoder.numbers(words))
        return history, now, update_s

    def numbers_at(self, index: int, t_s: float) -> tuple[int | float, ...]:
        """Device ``index``'s register numbers shown at ``t_s`` (a time not yet forgotten)."""
        history, now, _ = self._history(index, t_s)
        return history.numbers[now - history.first]

    def match(self, index: int, position: int, got: object, t_s: float) -> Match:
        """Compare ``got``, published for field ``position`` of device ``index``, arriving at
        ``t_s``, with the truth."""
        history, now, update_s = self._history(index, t_s)
        field = self._fleet.map_of(index).fields[position]
        numbers = history.numbers
        first = history.first
        oldest_fresh = max(first, step_at(t_s - self._staleness_s, update_s))
        step = min(now, history.last)
        while step >= first:
            if same_value(field, got, numbers[step - first][position]):
                if step >= oldest_fresh:
                    changed = step
                    while changed > first and same_value(
                        field, got, numbers[changed - 1 - first][position]
                    ):
                        changed -= 1
                    return Match("correct", step, changed if changed > first else None)
                return Match("stale", step, None)
            step -= 1
        return Match("wrong", now, None)
