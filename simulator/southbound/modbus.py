"""A sans-I/O Modbus TCP codec: MBAP framing, register reads, exception responses.

No sockets, no clock, no asyncio: bytes in, events out, bytes back. The server side is one
object, :class:`ModbusServerConnection` (``receive_data(bytes)``, ``next_request()`` until it
says :data:`NEED_DATA`, then ``read_response`` or ``exception_response`` for each request), so
every byte a connection receives or sends goes through it. The client side (encoding a request,
reading a response) exists so the codec can be tested in round trips and driven by a benchmark
without a second implementation; our server never uses it.

What it follows, from the MODBUS Application Protocol Specification V1.1b3 and the MODBUS
Messaging on TCP/IP Implementation Guide V1.0b:

* An ADU is the 7-byte MBAP header (transaction id, protocol id 0, length, unit id) and a PDU
  (function code and data). The length counts the unit id and the PDU: 2 to 254.
* Function codes 3 (read holding registers) and 4 (read input registers) are understood. Any
  other function is answered with exception 01 (illegal function).
* A read asks for 1 to 125 registers, and its PDU is exactly 5 bytes; otherwise exception 03
  (illegal data value: a wrong quantity or a wrong implied length).
* Registers the server does not have give exception 02 (illegal data address), a failure while
  computing them 04 (server device failure); deciding that is the caller's, which knows its
  registers. A unit id with no device behind it: 0x0B (gateway target device failed to
  respond), see docs/DECISIONS.md.
* A header with a protocol id other than 0, or a length out of range, is not Modbus at all:
  :class:`~simulator.errors.RemoteProtocolError`, and the caller closes the connection, since
  the stream can no longer be framed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from simulator.errors import InvalidArgumentError, LocalProtocolError, RemoteProtocolError

MBAP_SIZE: Final = 7
"""Bytes of the MBAP header: transaction id, protocol id, length (2 each), unit id."""

MAX_PDU_SIZE: Final = 253
"""The largest PDU (function code and data) Modbus allows."""

MAX_READ_REGISTERS: Final = 125
"""The most registers one read may ask for (0x7D): 250 bytes of values fit a PDU."""

READ_HOLDING_REGISTERS: Final = 3
READ_INPUT_REGISTERS: Final = 4
READ_FUNCTIONS: Final = frozenset({READ_HOLDING_REGISTERS, READ_INPUT_REGISTERS})

_EXCEPTION_FLAG = 0x80
_MBAP = struct.Struct(">HHHB")
_READ = struct.Struct(">HH")


class ExceptionCode(IntEnum):
    """The exception codes this server answers with (specification section 7)."""

    ILLEGAL_FUNCTION = 0x01
    ILLEGAL_DATA_ADDRESS = 0x02
    ILLEGAL_DATA_VALUE = 0x03
    SERVER_DEVICE_FAILURE = 0x04
    SERVER_DEVICE_BUSY = 0x06
    GATEWAY_PATH_UNAVAILABLE = 0x0A
    GATEWAY_TARGET_FAILED = 0x0B


class NeedData:
    """The type of :data:`NEED_DATA`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData()
"""What the decoder returns while the bytes it holds are not yet a whole frame."""


@dataclass(frozen=True, slots=True)
class ReadRegisters:
    """A well-formed read of ``count`` registers from ``address`` (function 3 or 4)."""

    transaction_id: int
    unit_id: int
    function: int
    address: int
    count: int


@dataclass(frozen=True, slots=True)
class RefusedRequest:
    """A framed request the protocol itself refuses, and the exception code to answer with."""

    transaction_id: int
    unit_id: int
    function: int
    code: ExceptionCode


Request = ReadRegisters | RefusedRequest


@dataclass(frozen=True, slots=True)
class RegistersRead:
    """A read's answer as a client sees it: the registers' bytes, two per register."""

    transaction_id: int
    unit_id: int
    function: int
    values: bytes


@dataclass(frozen=True, slots=True)
class ExceptionResponse:
    """An exception answer as a client sees it."""

    transaction_id: int
    unit_id: int
    function: int
    """The function of the request (the response's code without its 0x80 flag)."""
    code: int


Response = RegistersRead | ExceptionResponse


class FrameReader:
    """Cuts a byte stream into MBAP frames, incrementally."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        """Add bytes received from the peer."""
        self._buffer += data

    def next_frame(self) -> tuple[int, int, bytes] | NeedData:
        """The next ``(transaction_id, unit_id, pdu)``, or :data:`NEED_DATA`.

        Raises :class:`RemoteProtocolError` when the header cannot be Modbus TCP.
        """
        buffer = self._buffer
        if len(buffer) < MBAP_SIZE:
            return NEED_DATA
        transaction_id, protocol_id, length, unit_id = _MBAP.unpack_from(buffer)
        if protocol_id != 0:
            raise RemoteProtocolError(f"MBAP protocol id {protocol_id}, Modbus is 0")
        if not 2 <= length <= MAX_PDU_SIZE + 1:
            raise RemoteProtocolError(f"MBAP length {length} out of 2..{MAX_PDU_SIZE + 1}")
        end = MBAP_SIZE - 1 + length
        if len(buffer) < end:
            return NEED_DATA
        pdu = bytes(buffer[MBAP_SIZE:end])
        del buffer[:end]
        return transaction_id, unit_id, pdu

    @property
    def buffered(self) -> int:
        """Bytes held that are not yet a whole frame."""
        return len(self._buffer)


def parse_request(transaction_id: int, unit_id: int, pdu: bytes) -> Request:
    """What a request PDU asks, or the exception the protocol answers it with."""
    function = pdu[0]
    if function not in READ_FUNCTIONS:
        return RefusedRequest(transaction_id, unit_id, function, ExceptionCode.ILLEGAL_FUNCTION)
    if len(pdu) != 1 + _READ.size:
        return RefusedRequest(transaction_id, unit_id, function, ExceptionCode.ILLEGAL_DATA_VALUE)
    address, count = _READ.unpack_from(pdu, 1)
    if not 1 <= count <= MAX_READ_REGISTERS:
        return RefusedRequest(transaction_id, unit_id, function, ExceptionCode.ILLEGAL_DATA_VALUE)
    if address + count > 0x10000:
        return RefusedRequest(transaction_id, unit_id, function, ExceptionCode.ILLEGAL_DATA_ADDRESS)
    return ReadRegisters(transaction_id, unit_id, function, address, count)


def parse_response(transaction_id: int, unit_id: int, pdu: bytes) -> Response:
    """A response PDU as a client reads it; raises :class:`RemoteProtocolError` if malformed."""
    function = pdu[0]
    if function & _EXCEPTION_FLAG:
        if len(pdu) != 2:
            raise RemoteProtocolError(f"exception response of {len(pdu)} bytes, expected 2")
        return ExceptionResponse(transaction_id, unit_id, function & 0x7F, pdu[1])
    if function not in READ_FUNCTIONS:
        raise RemoteProtocolError(f"response to function {function}, only reads are understood")
    if len(pdu) < 2 or pdu[1] != len(pdu) - 2 or pdu[1] % 2:
        raise RemoteProtocolError(f"read response whose byte count does not match: {pdu.hex()}")
    return RegistersRead(transaction_id, unit_id, function, pdu[2:])


def _frame(transaction_id: int, unit_id: int, pdu: bytes) -> bytes:
    return _MBAP.pack(transaction_id, 0, len(pdu) + 1, unit_id) + pdu


def _check_ids(transaction_id: int, unit_id: int) -> None:
    if not 0 <= transaction_id <= 0xFFFF:
        raise InvalidArgumentError(f"transaction id must be 0..65535, got {transaction_id}")
    if not 0 <= unit_id <= 0xFF:
        raise InvalidArgumentError(f"unit id must be 0..255, got {unit_id}")


def encode_read_request(
    transaction_id: int, unit_id: int, function: int, address: int, count: int
) -> bytes:
    """The ADU of a register read (a client's request)."""
    _check_ids(transaction_id, unit_id)
    if function not in READ_FUNCTIONS:
        raise InvalidArgumentError(f"function must be 3 or 4, got {function}")
    if not 0 <= address <= 0xFFFF or not 1 <= count <= MAX_READ_REGISTERS:
        raise InvalidArgumentError(
            f"address must be 0..65535 and count 1..{MAX_READ_REGISTERS}, got {address}, {count}"
        )
    return _frame(transaction_id, unit_id, bytes((function,)) + _READ.pack(address, count))


def encode_read_response(transaction_id: int, unit_id: int, function: int, values: bytes) -> bytes:
    """The ADU answering a read with ``values``: two bytes per register, big-endian."""
    _check_ids(transaction_id, unit_id)
    if len(values) % 2 or not 2 <= len(values) <= 2 * MAX_READ_REGISTERS:
        raise LocalProtocolError(f"a read answers 1 to 125 registers, not {len(values)} bytes")
    return _frame(transaction_id, unit_id, bytes((function, len(values))) + values)


def encode_exception(transaction_id: int, unit_id: int, function: int, code: int) -> bytes:
    """The ADU of an exception response to ``function``."""
    _check_ids(transaction_id, unit_id)
    if not 0 <= function < _EXCEPTION_FLAG or not 0 < code <= 0xFF:
        raise LocalProtocolError(f"no exception response for function {function}, code {code}")
    return _frame(transaction_id, unit_id, bytes((function | _EXCEPTION_FLAG, code)))


class _Connection:
    """What both ends of a Modbus TCP connection share: the bytes the other end sent, framed."""

    __slots__ = ("_reader",)

    def __init__(self) -> None:
        self._reader = FrameReader()

    def receive_data(self, data: bytes) -> None:
        """Hand over bytes the other end sent (the client's to a server, and so on)."""
        self._reader.feed(data)


class ModbusServerConnection(_Connection):
    """One Modbus TCP connection, server side: requests in, responses out.

    Requests are answered in the order they came (a client may send several before the first
    answer; Modbus TCP lets it pipeline with distinct transaction ids).
    """

    __slots__ = ()

    def next_request(self) -> Request | NeedData:
        """The next request, or :data:`NEED_DATA`; raises :class:`RemoteProtocolError`."""
        frame = self._reader.next_frame()
        if isinstance(frame, NeedData):
            return frame
        return parse_request(*frame)

    def read_response(self, request: ReadRegisters, values: bytes) -> bytes:
        """The bytes answering ``request`` with its registers' ``values``."""
        if len(values) != 2 * request.count:
            raise LocalProtocolError(f"{request.count} registers asked, {len(values)} bytes given")
        return encode_read_response(
            request.transaction_id, request.unit_id, request.function, values
        )

    def exception_response(self, request: Request, code: ExceptionCode) -> bytes:
        """The bytes answering ``request`` with exception ``code``."""
        return encode_exception(request.transaction_id, request.unit_id, request.function, code)


class ModbusClientConnection(_Connection):
    """One Modbus TCP connection, client side: responses decoded from a byte stream."""

    __slots__ = ()

    def next_response(self) -> Response | NeedData:
        """The next response, or :data:`NEED_DATA`; raises :class:`RemoteProtocolError`."""
        frame = self._reader.next_frame()
        if isinstance(frame, NeedData):
            return frame
        return parse_response(*frame)
