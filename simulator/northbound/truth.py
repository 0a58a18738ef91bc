"""The ground truth a gateway's published values are checked against, and what "equal" means.

Pure: time comes in as seconds since the southbound server's epoch.

**Where the truth comes from.** The very code that serves the values, with cursors of its own
(same scenario, same seed): for a device served over Modbus TCP, a
:class:`~simulator.southbound.fleet_values.ServedFleet` gives its register bytes for a step
and the device's :class:`~simulator.southbound.register_map.RegisterEncoder` reads them back
the way a correct gateway does (:class:`RegisterValues`); for a device served over OPC UA only,
:class:`~simulator.southbound.node_values.NodeValues` gives the values its nodes hold. What a
gateway could have seen and what is expected cannot drift apart. A device served both ways is
checked by its registers: they quantise, so every value its nodes show also names the
register's number.

**Equal means the same register number** (Modbus). Registers quantise: a scaled 16-bit
register holds ``round(value * scale)``, a float32 has 24 bits of mantissa. A published value
is equal to the truth when it names the same register number: a scaled value re-quantised
(``round(got * scale)``) gives the register's integer, so ``21.37`` and ``21.370000000000001``
both match register 2137 at scale 100; a float32 value rounded to float32 is the register's
float; a counter or integer is that integer; a state is its name (``"running"``) or its code.

**Equal means the same node value** (OPC UA only, :mod:`~simulator.southbound.node_values`):
the ``Double`` exactly, the ``Int64``, the state's name.

**Which instants count.** Register values change at steps ``k * update_s``. A value arriving at
``t`` is *correct* when it equals the truth of a step shown at some instant in
``[t - max_staleness, t]``, *stale* when it equals only an older step's (kept for a while back),
*wrong* otherwise.

A device's recent steps are kept as tuples of numbers, with the step at which each
field took its value (bounded deques per device checked so far, filled as time goes on; the
cursor behind them walks the model forward only). A published value is converted once into
the number it names (:func:`register_number`, :func:`~simulator.southbound.node_values.node_number`)
and compared with those tuples.
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Sequence
from functools import partial
from typing import Literal, NamedTuple, Protocol

from simulator.errors import InvalidArgumentError
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


def register_number(field: RegisterField, got: object) -> int | float | None:
    """The register number a published ``got`` names for ``field``, or None if it names none
    (a string for a number, a bool, NaN, a fraction for an integer)."""
    if isinstance(got, bool):
        return None
    if field.codes:
        if isinstance(got, str):
            return field.codes.index(got) if got in field.codes else None
        return got if isinstance(got, int) else None
    if not isinstance(got, int | float) or not math.isfinite(got):
        return None
    if field.type is RegisterType.FLOAT32:
        return as_float32(float(got))
    if field.scale != 1:
        return round(got * field.scale)
    if isinstance(got, float):
        return int(got) if got.is_integer() else None
    return got


def same_value(field: RegisterField, got: object, number: int | float) -> bool:
    """Whether a published ``got`` names the register number ``number`` of ``field``."""
    return register_number(field, got) == number


def expected_value(field: RegisterField, number: int | float) -> SampleValue:
    """The value a correct gateway publishes for register number ``number`` (for reports)."""
    return field.value(number)


class Match(NamedTuple):
    """How one published value compares with the truth (a named tuple: one per value)."""

    verdict: Verdict
    step: int
    """The step it matched (the newest such); for a wrong value, the step shown at arrival."""
    changed_step: int | None
    """For a correct value: the step at which the truth took this value, when the history
    reaches back to it (else None: it changed before the device was first checked)."""


class _History:
    __slots__ = ("first", "length", "numbers", "starts")

    def __init__(self, first: int, length: int) -> None:
        self.length = length
        self.first = first
        """The step of ``numbers[0]``."""
        self.numbers: deque[tuple[int | float, ...]] = deque(maxlen=length)
        self.starts: deque[tuple[int, ...]] = deque(maxlen=length)
        """For each step and field, the step at which the field took its value (-1: before
        the history began), so a match's change is a lookup, not a walk back."""

    @property
    def last(self) -> int:
        return self.first + len(self.numbers) - 1

    def append(self, step: int, numbers: tuple[int | float, ...]) -> None:
        if self.numbers:
            before, began = self.numbers[-1], self.starts[-1]
            starts = tuple(
                began[p] if before[p] == number else step for p, number in enumerate(numbers)
            )
        else:
            starts = (-1,) * len(numbers)
        if len(self.numbers) == self.length:
            self.first += 1
        self.numbers.append(numbers)
        self.starts.append(starts)


class ShownValues(Protocol):
    """What one protocol shows of a block of the fleet's devices, as the numbers a published
    value is compared with: :class:`RegisterValues` (Modbus) or
    :class:`~simulator.southbound.node_values.NodeValues` (OPC UA)."""

    @property
    def devices(self) -> range:
        """The fleet indexes it shows."""
        ...

    def device_id(self, index: int) -> str: ...

    def signals(self, index: int) -> tuple[str, ...]: ...

    def update_s_of(self, index: int) -> float: ...

    def converters(self, index: int) -> tuple[Callable[[object], int | float | None], ...]:
        """Per signal: a published value to the number it names (None: it names none)."""
        ...

    def numbers(self, index: int, step: int) -> tuple[int | float, ...]:
        """The device's numbers at ``step``."""
        ...

    def expected(self, index: int, position: int, number: int | float) -> SampleValue:
        """What a correct gateway publishes for signal ``position`` showing ``number``."""
        ...


class RegisterValues:
    """The Modbus side: a :class:`ServedFleet`'s registers, read back as register numbers."""

    __slots__ = ("_converters", "devices", "fleet")

    def __init__(self, fleet: ServedFleet) -> None:
        """``fleet``: a fleet of the checker's own, built as the server's is."""
        self.fleet = fleet
        self.devices = range(fleet.devices)
        self._converters: dict[str, tuple[Callable[[object], int | float | None], ...]] = {}
        """By model: a map is a pure function of its model."""

    def device_id(self, index: int) -> str:
        """The id of device ``index``."""
        return self.fleet.served(index).device_id

    def signals(self, index: int) -> tuple[str, ...]:
        """Device ``index``'s signals, in the register map's order."""
        return tuple(field.signal for field in self.fleet.map_of(index).fields)

    def update_s_of(self, index: int) -> float:
        """How often device ``index``'s registers change."""
        return self.fleet.update_s_of(index)

    def converters(self, index: int) -> tuple[Callable[[object], int | float | None], ...]:
        """Per field of device ``index``'s map: :func:`register_number`."""
        register_map = self.fleet.map_of(index)
        converters = self._converters.get(register_map.model)
        if converters is None:
            converters = tuple(partial(register_number, field) for field in register_map.fields)
            self._converters[register_map.model] = converters
        return converters

    def numbers(self, index: int, step: int) -> tuple[int | float, ...]:
        """Device ``index``'s register numbers at ``step``."""
        words = self.fleet.registers(index, step * self.fleet.update_s_of(index))
        return self.fleet.encoder_of(index).numbers(words)

    def expected(self, index: int, position: int, number: int | float) -> SampleValue:
        """The value register number ``number`` of field ``position`` stands for."""
        return expected_value(self.fleet.map_of(index).fields[position], number)


class GroundTruth:
    """Each served device's numbers over its recent steps, computed as needed."""

    __slots__ = ("_histories", "_last", "_length", "_sources", "_staleness_s", "_starts")

    def __init__(
        self,
        shown: ShownValues | Sequence[ShownValues],
        *,
        max_staleness_s: float,
        lookback_s: float,
    ) -> None:
        """``shown``: what the servers show, one source per block of consecutive devices
        (Modbus first, then OPC UA, when the fleet is split between them). Steps older than
        ``lookback_s`` before an arrival are forgotten: a value matching only those is
        wrong."""
        sources = sorted(
            [shown] if not isinstance(shown, Sequence) else shown, key=lambda s: s.devices.start
        )
        expected_start = 0
        for source in sources:
            if source.devices.start != expected_start:
                raise InvalidArgumentError(
                    f"the sources must cover devices 0.. without a gap; one starts at "
                    f"{source.devices.start}, not {expected_start}"
                )
            expected_start = source.devices.stop
        if not sources:
            raise InvalidArgumentError("the ground truth needs at least one source")
        self._sources = tuple(sources)
        self._starts = [source.devices.start for source in sources]
        self._staleness_s = max_staleness_s
        self._length = lookback_s
        self._histories: dict[int, _History] = {}
        self._last: tuple[int, float, _History, int, float] | None = None
        """The latest device and time looked up: a message's values share them."""

    @property
    def devices(self) -> int:
        """How many devices the fleet has."""
        return self._sources[-1].devices.stop

    def source(self, index: int) -> ShownValues:
        """What shows device ``index``."""
        sources = self._sources
        if len(sources) == 1:
            return sources[0]
        return sources[bisect_right(self._starts, index) - 1]

    def device_id(self, index: int) -> str:
        """The id of device ``index``."""
        return self.source(index).device_id(index)

    def signals(self, index: int) -> tuple[str, ...]:
        """Device ``index``'s signals, in the order its numbers list them."""
        return self.source(index).signals(index)

    def update_s_of(self, index: int) -> float:
        """How often device ``index``'s values change."""
        return self.source(index).update_s_of(index)

    def expected(self, index: int, position: int, number: int | float) -> SampleValue:
        """What a correct gateway publishes for signal ``position`` of device ``index``
        showing ``number`` (for reports)."""
        return self.source(index).expected(index, position, number)

    def _history(self, index: int, t_s: float) -> tuple[_History, int, float]:
        last = self._last
        if last is not None and last[0] == index and last[1] == t_s:
            return last[2], last[3], last[4]
        source = self.source(index)
        update_s = source.update_s_of(index)
        now = step_at(t_s, update_s)
        history = self._histories.get(index)
        if history is None:
            length = min(MAX_HISTORY_STEPS, max(2, math.ceil(self._length / update_s) + 1))
            first = max(0, now - length + 1)
            history = _History(first, length)
            self._histories[index] = history
        if now > history.last:
            start = max(history.last + 1, now - history.length + 1)
            if start > history.last + 1:
                history.numbers.clear()
                history.starts.clear()
                history.first = start
            for step in range(start, now + 1):
                history.append(step, source.numbers(index, step))
        self._last = (index, t_s, history, now, update_s)
        return history, now, update_s

    def numbers_at(self, index: int, t_s: float) -> tuple[int | float, ...]:
        """Device ``index``'s register numbers shown at ``t_s`` (a time not yet forgotten)."""
        history, now, _ = self._history(index, t_s)
        return history.numbers[now - history.first]

    def match(self, index: int, position: int, got: object, t_s: float) -> Match:
        """Compare ``got``, published for field ``position`` of device ``index``, arriving at
        ``t_s``, with the truth."""
        return self.match_many(index, [(position, got)], t_s)[0]

    def match_many(self, index: int, values: list[tuple[int, object]], t_s: float) -> list[Match]:
        """:meth:`match` for several ``(position, got)`` of one device arriving together."""
        history, now, update_s = self._history(index, t_s)
        converters = self.source(index).converters(index)
        numbers = history.numbers
        starts = history.starts
        first = history.first
        newest = min(now, history.last)
        oldest_fresh = max(first, step_at(t_s - self._staleness_s, update_s))
        matches = []
        for position, got in values:
            number = converters[position](got)
            step = newest if number is not None else first - 1
            while step >= first and numbers[step - first][position] != number:
                step -= 1
            if step < first:
                matches.append(Match("wrong", now, None))
            elif step >= oldest_fresh:
                changed = starts[step - first][position]
                matches.append(Match("correct", step, changed if changed >= 0 else None))
            else:
                matches.append(Match("stale", step, None))
        return matches
