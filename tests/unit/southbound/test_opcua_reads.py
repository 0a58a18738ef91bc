"""The table of decoded Read requests: equal bytes give the kept parameters, other bytes are
decoded by asyncua, the request's bytes are consumed either way, and the table stays bounded."""

from __future__ import annotations

from asyncua import ua
from asyncua.common.utils import Buffer
from asyncua.server import uaprocessor
from asyncua.ua.ua_binary import struct_from_binary, struct_to_binary

from simulator.southbound import opcua_reads
from simulator.southbound.opcua_reads import MAX_REQUESTS, ReadRequests


def request(*names: str, max_age: float = 0.0) -> bytes:
    params = ua.ReadParameters()
    params.MaxAge = max_age
    params.NodesToRead = [
        ua.ReadValueId(NodeId=ua.NodeId(name, 2), AttributeId=ua.AttributeIds.Value)
        for name in names
    ]
    data: bytes = struct_to_binary(params)
    return data


def test_equal_bytes_give_the_kept_parameters_and_consume_the_request() -> None:
    reads = ReadRequests()
    data = request("cnc-000001.spindle_speed", "cnc-000001.state")
    first = reads.parameters(Buffer(data))
    buffer = Buffer(data)
    again = reads.parameters(buffer)
    assert again is first
    assert len(buffer) == 0  # consumed, as asyncua's decoder leaves it
    assert (reads.decoded, reads.hits) == (1, 1)
    assert again == struct_from_binary(ua.ReadParameters, Buffer(data))
    assert [rv.NodeId.Identifier for rv in again.NodesToRead] == [
        "cnc-000001.spindle_speed",
        "cnc-000001.state",
    ]


def test_other_bytes_are_decoded_not_confused_with_a_kept_request() -> None:
    reads = ReadRequests()
    one = reads.parameters(Buffer(request("a.x", "a.y")))
    other_order = reads.parameters(Buffer(request("a.y", "a.x")))
    other_age = reads.parameters(Buffer(request("a.x", "a.y", max_age=500.0)))
    assert (reads.decoded, reads.hits) == (3, 0)
    assert [rv.NodeId.Identifier for rv in other_order.NodesToRead] == ["a.y", "a.x"]
    assert other_age.MaxAge == 500.0
    assert one.MaxAge == 0.0


def test_the_table_keeps_the_newest_requests_only() -> None:
    reads = ReadRequests()
    for n in range(MAX_REQUESTS + 5):
        reads.parameters(Buffer(request(f"d{n}.x")))
    assert len(reads.table) == MAX_REQUESTS
    reads.parameters(Buffer(request("d0.x")))  # the oldest went first
    reads.parameters(Buffer(request(f"d{MAX_REQUESTS + 4}.x")))  # the newest is kept
    assert (reads.decoded, reads.hits) == (MAX_REQUESTS + 6, 1)


def test_asyncuas_request_processor_decodes_through_the_table() -> None:
    # An asyncua that moved its hook would leave servers serving, only slower: fail here.
    assert opcua_reads.install()
    assert opcua_reads.install()  # harmless twice
    assert uaprocessor.struct_from_binary is opcua_reads._struct_from_binary
    # Everything but a Read request still goes to asyncua's own decoder.
    header = ua.RequestHeader()
    header.RequestHandle = 7
    decoded = uaprocessor.struct_from_binary(ua.RequestHeader, Buffer(struct_to_binary(header)))
    assert decoded.RequestHandle == 7
