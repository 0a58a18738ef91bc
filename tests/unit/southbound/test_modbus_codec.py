"""The sans-I/O Modbus TCP codec: round trips, every truncation needs more data, exception
codes, and byte for byte against pymodbus's socket framer (an independent implementation)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.framer import FramerSocket
from pymodbus.pdu import DecodePDU
from pymodbus.pdu import ExceptionResponse as PymodbusException
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadHoldingRegistersResponse,
    ReadInputRegistersRequest,
    ReadInputRegistersResponse,
)

from simulator.errors import InvalidArgumentError, LocalProtocolError, RemoteProtocolError
from simulator.southbound.modbus import (
    NEED_DATA,
    ExceptionCode,
    ExceptionResponse,
    ModbusClientConnection,
    ModbusServerConnection,
    ReadRegisters,
    RefusedRequest,
    RegistersRead,
    encode_exception,
    encode_read_request,
    encode_read_response,
)

ids = st.integers(0, 0xFFFF)
units = st.integers(0, 0xFF)
functions = st.sampled_from([3, 4])
reads = st.tuples(ids, units, functions, st.integers(0, 0xFFFF - 125), st.integers(1, 125))


def request_of(data: bytes) -> object:
    server = ModbusServerConnection()
    server.receive_data(data)
    return server.next_request()


@given(reads)
def test_a_read_request_round_trips(read: tuple[int, int, int, int, int]) -> None:
    assert request_of(encode_read_request(*read)) == ReadRegisters(*read)


@given(ids, units, functions, st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=125))
def test_a_read_response_round_trips(tid: int, unit: int, function: int, words: list[int]) -> None:
    values = b"".join(w.to_bytes(2, "big") for w in words)
    client = ModbusClientConnection()
    client.receive_data(encode_read_response(tid, unit, function, values))
    assert client.next_response() == RegistersRead(tid, unit, function, values)
    assert client.next_response() is NEED_DATA


@given(ids, units, functions, st.sampled_from(list(ExceptionCode)))
def test_an_exception_response_round_trips(
    tid: int, unit: int, function: int, code: ExceptionCode
) -> None:
    client = ModbusClientConnection()
    client.receive_data(encode_exception(tid, unit, function, code))
    assert client.next_response() == ExceptionResponse(tid, unit, function, code)


def test_every_truncation_of_a_frame_needs_more_data() -> None:
    frames = [
        encode_read_request(1, 2, 3, 100, 10),
        encode_read_response(7, 9, 4, bytes(range(20))),
        encode_exception(7, 9, 3, ExceptionCode.GATEWAY_TARGET_FAILED),
    ]
    for frame in frames:
        for cut in range(len(frame)):
            client = ModbusClientConnection()
            client.receive_data(frame[:cut])
            assert client.next_response() is NEED_DATA, (frame.hex(), cut)
            server = ModbusServerConnection()
            server.receive_data(frame[:cut])
            assert server.next_request() is NEED_DATA, (frame.hex(), cut)


@given(st.lists(reads, min_size=1, max_size=5), st.data())
def test_pipelined_requests_split_anywhere_come_out_in_order(
    requests: list[tuple[int, int, int, int, int]], data: st.DataObject
) -> None:
    stream = b"".join(encode_read_request(*r) for r in requests)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    server = ModbusServerConnection()
    seen: list[object] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        server.receive_data(stream[start:end])
        while (request := server.next_request()) is not NEED_DATA:
            seen.append(request)
    assert seen == [ReadRegisters(*r) for r in requests]


@pytest.mark.parametrize(
    ("pdu", "code"),
    [
        (bytes([6, 0, 1, 0, 5]), ExceptionCode.ILLEGAL_FUNCTION),  # write single register
        (bytes([0x2B, 0x0E, 1, 0]), ExceptionCode.ILLEGAL_FUNCTION),  # device identification
        (bytes([3, 0, 0, 0, 0]), ExceptionCode.ILLEGAL_DATA_VALUE),  # no registers
        (bytes([4, 0, 0, 0, 126]), ExceptionCode.ILLEGAL_DATA_VALUE),  # one past the most
        (bytes([3, 0, 0, 0]), ExceptionCode.ILLEGAL_DATA_VALUE),  # implied length wrong
        (bytes([3, 0, 0, 0, 1, 0]), ExceptionCode.ILLEGAL_DATA_VALUE),
        (bytes([3, 0xFF, 0xFF, 0, 2]), ExceptionCode.ILLEGAL_DATA_ADDRESS),  # past 65535
    ],
)
def test_requests_the_protocol_refuses_say_which_exception(pdu: bytes, code: ExceptionCode) -> None:
    frame = (5).to_bytes(2, "big") + bytes(2) + (len(pdu) + 1).to_bytes(2, "big") + b"\x11" + pdu
    request = request_of(frame)
    assert request == RefusedRequest(5, 0x11, pdu[0], code)
    assert isinstance(request, RefusedRequest)
    answer = ModbusServerConnection().exception_response(request, code)
    assert answer == bytes.fromhex(f"000500000003 11 {pdu[0] | 0x80:02x} {code:02x}")


def test_the_highest_register_may_be_read() -> None:
    assert request_of(encode_read_request(1, 1, 3, 0xFFFF, 1)) == ReadRegisters(1, 1, 3, 0xFFFF, 1)


@pytest.mark.parametrize(
    "header",
    [
        "0001 0001 0006 01",  # protocol id 1
        "0001 0000 0001 01",  # shorter than a unit id and a function
        "0001 0000 00ff 01",  # longer than the largest PDU
    ],
)
def test_a_header_that_is_not_modbus_is_the_peers_error(header: str) -> None:
    server = ModbusServerConnection()
    server.receive_data(bytes.fromhex(header.replace(" ", "")))
    with pytest.raises(RemoteProtocolError):
        server.next_request()


def test_bad_arguments_and_our_own_mistakes_are_told_apart() -> None:
    with pytest.raises(InvalidArgumentError):
        encode_read_request(0x10000, 1, 3, 0, 1)
    with pytest.raises(InvalidArgumentError):
        encode_read_request(1, 1, 6, 0, 1)
    with pytest.raises(InvalidArgumentError):
        encode_read_request(1, 1, 3, 0, 126)
    request = ReadRegisters(1, 1, 3, 0, 2)
    with pytest.raises(LocalProtocolError):
        ModbusServerConnection().read_response(request, b"\x00\x01")
    with pytest.raises(LocalProtocolError):
        encode_read_response(1, 1, 3, bytes(252))


# Byte for byte against pymodbus's socket framer.

_REQUESTS = {3: ReadHoldingRegistersRequest, 4: ReadInputRegistersRequest}
_RESPONSES = {3: ReadHoldingRegistersResponse, 4: ReadInputRegistersResponse}


@given(reads)
def test_requests_are_the_bytes_pymodbus_frames(read: tuple[int, int, int, int, int]) -> None:
    tid, unit, function, address, count = read
    theirs = _REQUESTS[function](address=address, count=count, dev_id=unit, transaction_id=tid)
    framed = FramerSocket(DecodePDU(False)).buildFrame(theirs)
    assert encode_read_request(*read) == framed
    _, decoded = FramerSocket(DecodePDU(True)).handleFrame(framed, 0, 0)
    assert isinstance(decoded, _REQUESTS[function])
    assert (decoded.address, decoded.count, decoded.dev_id) == (address, count, unit)


@given(ids, units, functions, st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=125))
def test_responses_are_the_bytes_pymodbus_frames_and_reads(
    tid: int, unit: int, function: int, words: list[int]
) -> None:
    values = b"".join(w.to_bytes(2, "big") for w in words)
    ours = encode_read_response(tid, unit, function, values)
    theirs = _RESPONSES[function](registers=words, dev_id=unit, transaction_id=tid)
    assert ours == FramerSocket(DecodePDU(True)).buildFrame(theirs)
    _, decoded = FramerSocket(DecodePDU(False)).handleFrame(ours, 0, 0)
    assert isinstance(decoded, _RESPONSES[function])
    assert decoded.registers == words


@pytest.mark.parametrize("code", list(ExceptionCode))
def test_exceptions_are_read_by_pymodbus(code: ExceptionCode) -> None:
    ours = encode_exception(77, 9, 4, code)
    _, decoded = FramerSocket(DecodePDU(False)).handleFrame(ours, 0, 0)
    assert isinstance(decoded, PymodbusException)
    assert (decoded.function_code, decoded.exception_code) == (0x84, code)
    assert (decoded.dev_id, decoded.transaction_id) == (9, 77)
