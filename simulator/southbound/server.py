"""The Modbus TCP server: one asyncio server per endpoint, one protocol object per connection.

Nothing runs per device: a connection's :class:`ModbusLink` feeds the bytes it receives to its
:class:`~simulator.southbound.modbus.ModbusServerConnection` and writes back, in one write per
read of the socket, the answers the :class:`SouthboundServer` computes from the one shared
:class:`~simulator.southbound.fleet_values.ServedFleet`. The clock is injected: the time a
read is answered at is ``clock() - epoch``, so a test fixes it and knows the exact step.

Faults (:mod:`~simulator.southbound.faults`) are asked per read, only when the plan has any
for single devices: a silent device's request is read and never answered, a slow one's answer
is written ``delay_s`` later (one loop timer per late answer, while the fault lasts), an
exception answers its code. A restart is :meth:`SouthboundServer.close` then
:meth:`SouthboundServer.start` again, which listens at the ports first bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

from simulator.errors import InvalidArgumentError, PortError, RemoteProtocolError
from simulator.southbound.faults import FaultPlan
from simulator.southbound.fleet_values import ServedFleet
from simulator.southbound.modbus import (
    ExceptionCode,
    ModbusServerConnection,
    NeedData,
    ReadRegisters,
    Request,
)


async def run_restarts(
    faults: FaultPlan,
    clock: Callable[[], float],
    epoch: float,
    down: Callable[[], Awaitable[None]],
    up: Callable[[], Awaitable[None]],
) -> None:
    """Carry out a plan's restarts on ``clock``: ``down()`` at each one's start, ``up()`` once
    it has lasted its duration. Cancel it to stop."""
    for fault in faults.restarts:
        await asyncio.sleep(max(0.0, epoch + fault.start_s - clock()))
        await down()
        await asyncio.sleep(fault.end_s - fault.start_s)
        await up()


@dataclass(slots=True)
class ServerCounters:
    """What the server has done since it started."""

    connections: int = 0
    reads: int = 0
    """Reads answered with registers."""
    registers: int = 0
    """Registers those reads returned."""
    exceptions: dict[int, int] = field(default_factory=dict)
    """Exception responses by code."""
    protocol_errors: int = 0
    """Connections closed because their bytes were not Modbus TCP."""
    device_failures: int = 0
    """Reads answered 04 because computing a device's registers raised (a bug of ours)."""
    unanswered: int = 0
    """Requests a silent device (a fault) read and never answered."""
    late: int = 0
    """Answers a slow device (a fault) sent late."""
    restarts: int = 0
    """Times the server closed and listened again (a fault)."""


@dataclass(frozen=True, slots=True)
class Late:
    """An answer to write ``delay_s`` from now (a slow device)."""

    data: bytes
    delay_s: float


class ModbusLink(asyncio.Protocol):
    """One client connection to one endpoint."""

    __slots__ = ("_connection", "_endpoint", "_server", "_transport")

    def __init__(self, server: SouthboundServer, endpoint: int) -> None:
        self._server = server
        self._endpoint = endpoint
        self._connection = ModbusServerConnection()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, so no isinstance check here.
        self._transport = cast(asyncio.Transport, transport)
        self._server.counters.connections += 1
        self._server.links.add(self)

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None:
            return
        connection = self._connection
        connection.receive_data(data)
        answers: list[bytes] = []
        try:
            while not isinstance(request := connection.next_request(), NeedData):
                answer = self._server.answer(connection, self._endpoint, request)
                if type(answer) is bytes:
                    answers.append(answer)
                elif type(answer) is Late:
                    asyncio.get_running_loop().call_later(
                        answer.delay_s, self._write_late, answer.data
                    )
        except RemoteProtocolError:
            # The stream cannot be framed any more: answer what came before and hang up.
            self._server.counters.protocol_errors += 1
            if answers:
                transport.write(b"".join(answers))
            transport.close()
            return
        if answers:
            transport.write(b"".join(answers))

    def _write_late(self, data: bytes) -> None:
        if self._transport is not None:  # None once the connection is gone
            self._transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._server.links.discard(self)

    def abort(self) -> None:
        """Drop the connection at once (the server is closing)."""
        if self._transport is not None:
            self._transport.abort()


class SouthboundServer:
    """Serves a :class:`ServedFleet` over Modbus TCP at its endpoints."""

    def __init__(
        self,
        fleet: ServedFleet,
        endpoints: Sequence[tuple[str, int]],
        *,
        clock: Callable[[], float],
        epoch: float,
        faults: FaultPlan | None = None,
    ) -> None:
        """``endpoints``: (host, port) of each of the fleet's endpoints; port 0 lets the
        system choose. ``clock() - epoch`` is the time a read is answered at; ``faults``
        the devices that misbehave, and when."""
        if len(endpoints) < fleet.endpoints:
            raise InvalidArgumentError(
                f"{fleet.endpoints} endpoints needed, {len(endpoints)} given"
            )
        self.fleet = fleet
        self._wanted = tuple(endpoints[: fleet.endpoints])
        self._clock = clock
        self.epoch = epoch
        """The time, on ``clock``, that is step 0 of every device."""
        self.faults = faults if faults is not None else FaultPlan(())
        self._device_faults = self.faults.has_device_faults()
        self.counters = ServerCounters()
        self._servers: list[asyncio.Server] = []
        self.links: set[ModbusLink] = set()
        """The open connections, to drop when the server closes."""
        self.endpoints: list[tuple[str, int]] = []
        """Where each endpoint listens, ports as bound (filled by :meth:`start`)."""

    async def start(self) -> None:
        """Listen at every endpoint; raises :class:`PortError` naming one that cannot.

        Started again after :meth:`close`, it listens at the ports it bound the first time.
        """
        loop = asyncio.get_running_loop()
        wanted, self.endpoints = tuple(self.endpoints) or self._wanted, []
        try:
            for number, (host, port) in enumerate(wanted):
                server = await loop.create_server(
                    lambda number=number: ModbusLink(self, number),  # type: ignore[misc]
                    host,
                    port,
                    reuse_address=True,
                )
                self._servers.append(server)
                bound = server.sockets[0].getsockname()
                self.endpoints.append((host, int(bound[1])))
        except OSError as exc:
            await self.close()
            raise PortError.from_os_error(host, port, exc) from exc

    async def run_restarts(self) -> None:
        """Carry out the plan's restarts on the server's clock: close, stay down for the
        fault's duration, listen again at the same ports. Cancel it to stop."""
        await run_restarts(self.faults, self._clock, self.epoch, self.close, self.restart)

    async def restart(self) -> None:
        """Listen again after :meth:`close`, at the ports first bound; count a restart."""
        await self.start()
        self.counters.restarts += 1

    async def close(self) -> None:
        """Stop listening and drop every connection."""
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        for link in list(self.links):
            link.abort()
        for server in servers:
            await server.wait_closed()

    def answer(
        self, connection: ModbusServerConnection, endpoint: int, request: Request
    ) -> bytes | Late | None:
        """The bytes answering one request at ``endpoint``: now, late, or never (None)."""
        counters = self.counters
        if not isinstance(request, ReadRegisters):
            return self._refuse(connection, request, request.code)
        t_s = self._clock() - self.epoch
        if self._device_faults:
            index = self.fleet.device_at(endpoint, request.unit_id)
            fault = self.faults.device_fault(index, t_s) if index is not None else None
            if fault is not None:
                if fault.kind == "silent":
                    counters.unanswered += 1
                    return None
                if fault.kind == "exception":
                    return self._refuse(connection, request, ExceptionCode(fault.code))
                counters.late += 1
                answer = self._read(connection, endpoint, request, t_s)
                return Late(answer, fault.delay_s)
        return self._read(connection, endpoint, request, t_s)

    def _read(
        self, connection: ModbusServerConnection, endpoint: int, request: ReadRegisters, t_s: float
    ) -> bytes:
        counters = self.counters
        try:
            values = self.fleet.read(endpoint, request.unit_id, request.address, request.count, t_s)
        except Exception:
            # A model that fails is our bug; the client gets the specification's answer for
            # it and the failure is counted, not hidden.
            counters.device_failures += 1
            return self._refuse(connection, request, ExceptionCode.SERVER_DEVICE_FAILURE)
        if isinstance(values, ExceptionCode):
            return self._refuse(connection, request, values)
        counters.reads += 1
        counters.registers += request.count
        return connection.read_response(request, values)

    def _refuse(
        self, connection: ModbusServerConnection, request: Request, code: ExceptionCode
    ) -> bytes:
        exceptions = self.counters.exceptions
        exceptions[code] = exceptions.get(code, 0) + 1
        return connection.exception_response(request, code)
