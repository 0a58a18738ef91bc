"""Register maps: where each signal of a device model sits in a Modbus device, and how.

A map is a pure function of the model (:func:`register_map`), so a gateway's configuration
can be written before a server starts and checked against it after. The conventions, chosen
the way plant equipment commonly does and recorded in docs/DECISIONS.md:

* Signals take consecutive registers from address 0, in the order the model lists them.
* A state (a signal with named choices) is a ``uint16`` code: the index of the name in the
  model's choices, listed in the map's code table.
* An integer signal with a bounded range that fits 16 bits is a ``uint16`` (or ``int16``);
  a counter, or any integer without an upper bound, is a ``uint32`` over two registers that
  wraps at 2**32 as a hardware counter does.
* A bounded real signal is a 16-bit integer scaled by the largest power of ten up to 1,000
  that keeps its range inside 16 bits (``uint16`` from 0 up, ``int16`` when it may go below
  0): the register holds ``round(value * scale)`` and a gateway divides by ``scale``.
* An unbounded real signal (an energy total) is an IEEE 754 ``float32`` over two registers.
* Bytes within a register are big-endian, as the specification says. The two registers of a
  32-bit value come high word first (``word_order = "big"``) or low word first (``"little"``),
  a setting because gateways differ and get it wrong.

The same map is served as holding registers (function 3) and input registers (function 4).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

from simulator.errors import InvalidArgumentError
from simulator.fleet import DeviceModel, SampleValue, Signal

WordOrder = Literal["big", "little"]
"""Which register of a 32-bit value comes first: the high word ("big") or the low one."""

MAX_SCALE: Final = 1000
"""The finest resolution a scaled 16-bit register is given: thousandths."""


class RegisterType(StrEnum):
    """How a value is laid out in registers."""

    UINT16 = "uint16"
    INT16 = "int16"
    UINT32 = "uint32"
    INT32 = "int32"
    FLOAT32 = "float32"

    @property
    def registers(self) -> int:
        """Registers one value takes."""
        return 1 if self in (RegisterType.UINT16, RegisterType.INT16) else 2


_RANGES: Final = {
    RegisterType.UINT16: (0, 0xFFFF),
    RegisterType.INT16: (-0x8000, 0x7FFF),
    RegisterType.UINT32: (0, 0xFFFF_FFFF),
    RegisterType.INT32: (-0x8000_0000, 0x7FFF_FFFF),
}


@dataclass(frozen=True, slots=True)
class RegisterField:
    """One signal's place in the map."""

    signal: str
    """The model's signal name, the key of its samples."""
    address: int
    """The first register, from 0 (a gateway showing 1-based "4x" numbers adds 40001)."""
    type: RegisterType
    scale: int = 1
    """The register holds ``round(value * scale)``; 1 for codes, counters and floats."""
    unit: str = ""
    """Engineering unit of the value (after dividing by ``scale``)."""
    codes: tuple[str, ...] = ()
    """For a state: the name of code 0, 1, 2, ...; empty otherwise."""

    @property
    def count(self) -> int:
        """Registers the field takes."""
        return self.type.registers

    def raw(self, value: SampleValue) -> int | float:
        """The number the register(s) hold for ``value``: a code, a scaled integer, a float.

        Scaled integers are rounded to nearest and kept inside the type's range; a ``uint32``
        counter wraps.
        """
        if self.codes:
            return self.codes.index(str(value))
        if self.type is RegisterType.FLOAT32:
            return float(value)
        number = round(float(value) * self.scale) if self.scale != 1 else round(float(value))
        if self.type is RegisterType.UINT32:
            return number & 0xFFFF_FFFF
        low, high = _RANGES[self.type]
        return min(max(number, low), high)

    def value(self, raw: int | float) -> SampleValue:
        """What a gateway should make of the register's number: the inverse of :meth:`raw`."""
        if self.codes:
            return self.codes[int(raw)]
        if self.type is RegisterType.FLOAT32 or self.scale != 1:
            return raw / self.scale
        return int(raw)


@dataclass(frozen=True, slots=True)
class RegisterMap:
    """Every signal of one model, laid out in registers."""

    model: str
    fields: tuple[RegisterField, ...]

    @property
    def size(self) -> int:
        """Registers the map spans, from address 0."""
        last = self.fields[-1]
        return last.address + last.count

    def to_json(self) -> list[dict[str, object]]:
        """The map as a gateway's configuration would list it."""
        rows: list[dict[str, object]] = []
        for field in self.fields:
            row: dict[str, object] = {
                "signal": field.signal,
                "address": field.address,
                "registers": field.count,
                "type": field.type.value,
                "scale": field.scale,
                "unit": field.unit,
            }
            if field.codes:
                row["codes"] = dict(enumerate(field.codes))
            rows.append(row)
        return rows


def _fits(low: float, high: float, kind: RegisterType, scale: int) -> bool:
    lowest, highest = _RANGES[kind]
    return lowest <= low * scale and high * scale <= highest


def field_for(name: str, signal: Signal, address: int, *, integer: bool) -> RegisterField:
    """The field of one signal at ``address``; ``integer``: the model reports whole numbers."""
    if signal.choices:
        return RegisterField(name, address, RegisterType.UINT16, codes=signal.choices)
    low, high = signal.low, signal.high
    bounded = math.isfinite(low) and math.isfinite(high)
    kind = RegisterType.UINT16 if low >= 0 else RegisterType.INT16
    if integer:
        if bounded and not signal.monotonic and _fits(low, high, kind, 1):
            return RegisterField(name, address, kind, unit=signal.unit)
        wide = RegisterType.UINT32 if low >= 0 else RegisterType.INT32
        return RegisterField(name, address, wide, unit=signal.unit)
    if not bounded:
        return RegisterField(name, address, RegisterType.FLOAT32, unit=signal.unit)
    scale = MAX_SCALE
    while scale > 1 and not _fits(low, high, kind, scale):
        scale //= 10
    if not _fits(low, high, kind, scale):
        return RegisterField(name, address, RegisterType.FLOAT32, unit=signal.unit)
    return RegisterField(name, address, kind, scale, signal.unit)


def register_map(model: DeviceModel) -> RegisterMap:
    """The register map of ``model``: every signal, consecutive from address 0.

    Whether a numeric signal is an integer is read from one sample of a fresh device (the
    models' signals say ranges, not types; a model reports each signal with one type).
    """
    sample = model.sample(model.new_state(0, 0), 0, 0.0)
    fields: list[RegisterField] = []
    address = 0
    for name, signal in model.signals.items():
        field = field_for(name, signal, address, integer=type(sample[name]) is int)
        fields.append(field)
        address += field.count
    return RegisterMap(model.name, tuple(fields))


_FORMATS: Final = {
    RegisterType.UINT16: "H",
    RegisterType.INT16: "h",
    RegisterType.UINT32: "I",
    RegisterType.INT32: "i",
    RegisterType.FLOAT32: "f",
}


def _converter(field: RegisterField) -> Callable[[SampleValue], int | float]:
    """:meth:`RegisterField.raw` for one field, with its branches taken once, here."""
    if field.codes:
        return {name: code for code, name in enumerate(field.codes)}.__getitem__  # type: ignore[return-value]
    if field.type is RegisterType.FLOAT32:
        return float
    if field.type is RegisterType.UINT32:
        return field.raw
    low, high = _RANGES[field.type]
    scale = field.scale

    def scaled(value: SampleValue) -> int:
        number = round(float(value) * scale)
        return low if number < low else high if number > high else number

    return scaled


class RegisterEncoder:
    """Turns a model's samples into the bytes of its registers, for one word order."""

    __slots__ = ("_converters", "_pack", "_swapped", "_unpack", "map")

    def __init__(self, register_map: RegisterMap, word_order: WordOrder = "big") -> None:
        if word_order not in ("big", "little"):
            raise InvalidArgumentError(f'word_order must be "big" or "little", not {word_order!r}')
        self.map = register_map
        """The map the bytes follow."""
        fields = register_map.fields
        self._converters = tuple((field.signal, _converter(field)) for field in fields)
        layout = struct.Struct(">" + "".join(_FORMATS[field.type] for field in fields))
        self._pack = layout.pack
        self._unpack = layout.unpack
        self._swapped = (
            tuple(2 * field.address for field in fields if field.count == 2)
            if word_order == "little"
            else ()
        )
        """Byte offsets of the 32-bit values whose two registers trade places."""

    def encode(self, sample: Mapping[str, SampleValue]) -> bytes:
        """Every register of the map, two big-endian bytes each, from address 0."""
        packed = self._pack(*[convert(sample[name]) for name, convert in self._converters])
        if not self._swapped:
            return packed
        words = bytearray(packed)
        for at in self._swapped:
            words[at : at + 4] = packed[at + 2 : at + 4] + packed[at : at + 2]
        return bytes(words)

    def numbers(self, words: bytes) -> tuple[int | float, ...]:
        """What a gateway decoding ``words`` (as :meth:`encode` made them) reads: each field's
        register number (a code, a scaled integer, a counter, a float32), in map order."""
        if self._swapped:
            unswapped = bytearray(words)
            for at in self._swapped:
                unswapped[at : at + 4] = words[at + 2 : at + 4] + words[at : at + 2]
            words = bytes(unswapped)
        return self._unpack(words)
