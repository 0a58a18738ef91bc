"""OPC UA node maps: how each signal of a device model is a variable node, and where.

Pure: a map is a function of the model, so a gateway's configuration can be written before a
server starts and checked against it after. The conventions (docs/DECISIONS.md):

* The devices' nodes live in one namespace (``[southbound.opcua] namespace``, index 2 on a
  server of ours, as the first namespace a server registers): a folder ``ns=2;s=devices``
  under Objects, in it a folder per device, ``ns=2;s=<device id>``, and in that a variable per
  signal, ``ns=2;s=<device id>.<signal>``. Browse names are the device id and the signal name.
* A real signal is a ``Double`` (the model's float exactly), an integer one an ``Int64``, a
  state (a signal with named choices) a ``String`` holding the state's name.
* A numeric variable is an ``AnalogItemType`` whose ``EngineeringUnits`` property is an
  ``EUInformation`` with the unit's UNECE code (the namespace OPC UA Part 8 names), and whose
  ``EURange`` is the model's range when it has one; its description says the unit too.
* A value's source timestamp is the instant of the step it shows (epoch + step * update_s), so
  a client sees which sample of the model it read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from simulator.fleet import DeviceModel

UNECE_NAMESPACE: Final = "http://www.opcfoundation.org/UA/units/un/cefact"
"""The namespace of ``EUInformation.UnitId`` codes (OPC UA Part 8, UNECE Recommendation 20)."""

DEVICES_FOLDER: Final = "devices"
"""The string id of the folder holding a folder per device."""

COUNTERS_FOLDER: Final = "simulator"
"""The string id of the folder holding the server's own counters (``simulator.writes``, ...)."""

UNECE_CODES: Final = {
    "°C": ("CEL", "degree Celsius"),
    "mm/s": ("C16", "millimetre per second"),
    "mm/min": ("H81", "millimetre per minute"),
    "kW": ("KWT", "kilowatt"),
    "kWh": ("KWH", "kilowatt hour"),
    "rpm": ("RPM", "revolutions per minute"),
    "%": ("P1", "percent"),
    "s": ("SEC", "second"),
    "bar": ("BAR", "bar"),
    "Nm": ("NU", "newton metre"),
    "V": ("VLT", "volt"),
    "A": ("AMP", "ampere"),
    "Hz": ("HTZ", "hertz"),
    "hPa": ("A97", "hectopascal"),
    "ppm": ("59", "part per million"),
}
"""The models' units with their UNECE common codes; a count ("parts", "cycles") has none."""


def unece_unit_id(code: str) -> int:
    """``EUInformation.UnitId`` of a UNECE code: its characters' bytes, first one highest."""
    unit_id = 0
    for char in code:
        unit_id = unit_id << 8 | ord(char)
    return unit_id


class NodeType(StrEnum):
    """The OPC UA built-in data type of a signal's variable."""

    DOUBLE = "Double"
    INT64 = "Int64"
    STRING = "String"


@dataclass(frozen=True, slots=True)
class NodeField:
    """One signal as a variable node."""

    signal: str
    type: NodeType
    unit: str = ""
    """Engineering unit, as the model names it; empty for a state or a ratio."""
    low: float | None = None
    high: float | None = None
    """The model's range (``EURange``) when both ends are finite."""
    choices: tuple[str, ...] = ()
    """For a state: the names the string may hold."""

    @property
    def unece(self) -> str:
        """The unit's UNECE code, or empty when it has none."""
        return UNECE_CODES.get(self.unit, ("", ""))[0]

    @property
    def description(self) -> str:
        """What the node's Description says."""
        if self.choices:
            return f"{self.signal}: one of {', '.join(self.choices)}"
        return f"{self.signal} in {self.unit}" if self.unit else self.signal


@dataclass(frozen=True, slots=True)
class NodeMap:
    """Every signal of one model, as variables."""

    model: str
    fields: tuple[NodeField, ...]

    def to_json(self) -> list[dict[str, object]]:
        """The map as a gateway's configuration would list it (node ids per device aside)."""
        rows: list[dict[str, object]] = []
        for field in self.fields:
            row: dict[str, object] = {
                "signal": field.signal,
                "type": field.type.value,
                "unit": field.unit,
            }
            if field.unece:
                row["unece"] = field.unece
            if field.low is not None:
                row["range"] = [field.low, field.high]
            if field.choices:
                row["choices"] = list(field.choices)
            rows.append(row)
        return rows


def node_id(device_id: str, signal: str) -> str:
    """The string identifier of a device's signal node (namespace aside)."""
    return f"{device_id}.{signal}"


def node_map(model: DeviceModel) -> NodeMap:
    """The node map of ``model``: a variable per signal, in the order the model lists them.

    Whether a numeric signal is an integer is read from one sample of a fresh device, as the
    register maps do (a model reports each signal with one type).
    """
    sample = model.sample(model.new_state(0, 0), 0, 0.0)
    fields: list[NodeField] = []
    for name, signal in model.signals.items():
        if signal.choices:
            fields.append(NodeField(name, NodeType.STRING, choices=signal.choices))
            continue
        kind = NodeType.INT64 if type(sample[name]) is int else NodeType.DOUBLE
        bounded = math.isfinite(signal.low) and math.isfinite(signal.high)
        fields.append(
            NodeField(
                name,
                kind,
                signal.unit,
                signal.low if bounded else None,
                signal.high if bounded else None,
            )
        )
    return NodeMap(model.name, tuple(fields))
