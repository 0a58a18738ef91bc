"""The Sparkplug B payload as plain immutable records, one per message of ``sparkplug_b.proto``.

A field that protobuf may leave out is ``None`` when absent; flags that only matter when set
(``is_historical``, ``is_transient``, ``is_null``) are ``False`` when absent. A value's Python type
follows its data type: ints for the integer types and ``DateTime`` (milliseconds), floats for
``Float``/``Double``, ``bool``, ``str`` for ``String``/``Text``/``UUID``, ``bytes`` for ``Bytes``,
``File`` and the packed array types, :class:`DataSet` and :class:`Template` for those two.
See :mod:`simulator.payloads.sparkplug.payload` for the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.payloads.sparkplug.datatype import DataType

Scalar = int | float | bool | str | bytes
"""A value that fits one scalar wire field."""


@dataclass(frozen=True, slots=True)
class MetaData:
    """Describes binary and file values (``Payload.MetaData``)."""

    is_multi_part: bool | None = None
    content_type: str | None = None
    size: int | None = None
    seq: int | None = None
    file_name: str | None = None
    file_type: str | None = None
    md5: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class PropertyValue:
    """One property's type and value (``Payload.PropertyValue``).

    ``value`` is a scalar, a :class:`PropertySet`, or a tuple of them for ``PropertySetList``.
    """

    type: DataType | None = None
    value: Scalar | PropertySet | tuple[PropertySet, ...] | None = None
    is_null: bool = False


@dataclass(frozen=True, slots=True)
class PropertySet:
    """Custom key/value properties of a metric (``Payload.PropertySet``).

    Kept as pairs in wire order: the protobuf form is two parallel arrays, which must be the same
    length, and pairs cannot be otherwise.
    """

    items: tuple[tuple[str, PropertyValue], ...] = ()


DataSetCell = int | float | bool | str | None
"""One cell of a data set; ``None`` is a cell with no value."""


@dataclass(frozen=True, slots=True)
class DataSet:
    """A table with typed columns (``Payload.DataSet``)."""

    columns: tuple[str, ...] = ()
    types: tuple[DataType, ...] = ()
    rows: tuple[tuple[DataSetCell, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class TemplateParameter:
    """A parameter of a template definition or instance (``Payload.Template.Parameter``)."""

    name: str | None = None
    type: DataType | None = None
    value: int | float | bool | str | None = None


@dataclass(frozen=True, slots=True)
class Template:
    """A user-defined type: its definition or an instance of it (``Payload.Template``)."""

    version: str | None = None
    metrics: tuple[Metric, ...] = ()
    parameters: tuple[TemplateParameter, ...] = ()
    template_ref: str | None = None
    is_definition: bool | None = None


MetricValue = Scalar | DataSet | Template | None
"""What a metric can carry."""


@dataclass(frozen=True, slots=True)
class Metric:
    """One named (or aliased) value with its type and time (``Payload.Metric``).

    With ``datatype`` ``None`` (not on the wire) or ``Unknown`` the value's field is chosen from
    its Python type: ``bool``, non-negative ``int`` (``long_value``), ``float`` (``double_value``),
    ``str``, ``bytes``, :class:`DataSet`, :class:`Template`.
    """

    name: str | None = None
    alias: int | None = None
    timestamp: int | None = None
    datatype: DataType | None = None
    value: MetricValue = None
    is_historical: bool = False
    is_transient: bool = False
    is_null: bool = False
    metadata: MetaData | None = None
    properties: PropertySet | None = None


@dataclass(frozen=True, slots=True)
class SparkplugPayload:
    """One Sparkplug B payload (``Payload``): when, what, and the edge node's sequence number."""

    timestamp: int | None = None
    metrics: tuple[Metric, ...] = ()
    seq: int | None = None
    uuid: str | None = None
    body: bytes | None = None
