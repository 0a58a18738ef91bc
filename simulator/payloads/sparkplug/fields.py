"""Field numbers of ``sparkplug_b.proto`` that the encoder and the decoder share.

Every value-carrying message has a ``oneof value`` with the same choice of members but its own
field numbers; these tables give them per message, by :class:`ValueKind`.
"""

from __future__ import annotations

from simulator.payloads.sparkplug.datatype import ValueKind
from simulator.payloads.sparkplug.wire import WireType

METRIC_VALUES = {
    ValueKind.INT: 10,
    ValueKind.LONG: 11,
    ValueKind.FLOAT: 12,
    ValueKind.DOUBLE: 13,
    ValueKind.BOOLEAN: 14,
    ValueKind.STRING: 15,
    ValueKind.BYTES: 16,
    ValueKind.DATASET: 17,
    ValueKind.TEMPLATE: 18,
}
PARAMETER_VALUES = {
    ValueKind.INT: 3,
    ValueKind.LONG: 4,
    ValueKind.FLOAT: 5,
    ValueKind.DOUBLE: 6,
    ValueKind.BOOLEAN: 7,
    ValueKind.STRING: 8,
}
# PropertyValue numbers its scalars as Template.Parameter does, then adds its property sets.
PROPERTY_VALUES = {
    **PARAMETER_VALUES,
    ValueKind.PROPERTY_SET: 9,
    ValueKind.PROPERTY_SET_LIST: 10,
}
CELL_VALUES = {
    ValueKind.INT: 1,
    ValueKind.LONG: 2,
    ValueKind.FLOAT: 3,
    ValueKind.DOUBLE: 4,
    ValueKind.BOOLEAN: 5,
    ValueKind.STRING: 6,
}
WIRE_TYPE_OF_KIND = {
    ValueKind.INT: WireType.VARINT,
    ValueKind.LONG: WireType.VARINT,
    ValueKind.BOOLEAN: WireType.VARINT,
    ValueKind.FLOAT: WireType.I32,
    ValueKind.DOUBLE: WireType.I64,
}
