"""Sparkplug B, written from the Eclipse Sparkplug specification and its ``sparkplug_b.proto``.

- :mod:`~.wire`: the protobuf primitives (varints, fixed and length-delimited fields).
- :mod:`~.datatype`: the data types and which protobuf field carries each one's value.
- :mod:`~.model`: the payload records; :mod:`~.payload` and :mod:`~.decoding`:
  ``encode_payload`` and ``decode_payload``, over the field tables in :mod:`~.fields`.
- :mod:`~.topics`: the ``spBv1.0/...`` topic namespace.
- :mod:`~.slotted_node`: the engine's edge node (bdSeq, seq, births, aliases from a device's
  slot, rebirth), keeping nothing per device.
- :mod:`~.codec`: the ``sparkplug`` payload codec that ingest can account over.

No protobuf library is used: the wire format is small and this keeps the package's runtime
dependencies unchanged. Everything here is pure (no I/O, no clock).
"""

from simulator.errors import TopicError
from simulator.payloads.sparkplug.codec import SparkplugCodec
from simulator.payloads.sparkplug.datatype import DataType
from simulator.payloads.sparkplug.decoding import decode_payload
from simulator.payloads.sparkplug.model import (
    DataSet,
    MetaData,
    Metric,
    PropertySet,
    PropertyValue,
    SparkplugPayload,
    Template,
    TemplateParameter,
)
from simulator.payloads.sparkplug.payload import encode_payload
from simulator.payloads.sparkplug.topics import (
    MessageType,
    SparkplugTopic,
    build_topic,
    parse_topic,
    state_topic,
)

__all__ = [
    "DataSet",
    "DataType",
    "MessageType",
    "MetaData",
    "Metric",
    "PropertySet",
    "PropertyValue",
    "SparkplugCodec",
    "SparkplugPayload",
    "SparkplugTopic",
    "Template",
    "TemplateParameter",
    "TopicError",
    "build_topic",
    "decode_payload",
    "encode_payload",
    "parse_topic",
    "state_topic",
]
