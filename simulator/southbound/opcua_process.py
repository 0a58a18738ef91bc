"""The OPC UA servers in a process of their own (``[southbound.opcua] process = "own"``).

Serving a Read costs asyncua tens of µs per value; in the one loop of ``factory-sim
southbound`` that competed with the Modbus servers, the gateway check and the updater, and a
gateway's whole-server read of 20,000 values missed its 1 s poll (docs/PERFORMANCE.md). So the
OPC UA servers run here, on a core of their own: ``python -m simulator.southbound.opcua_process``,
started by :class:`~simulator.southbound.opcua_child.OpcuaChild`.

What crosses the boundary, one JSON object a line:

* in, on standard input: first the :class:`OpcuaProcessSettings` whole (the resolved scenario:
  the servers, the devices, the seed and the fault plan all follow from it, as pure functions),
  then :class:`Command` lines: ``listen`` at the epoch the parent took (step 0 of every device,
  when serving starts; a silent fault's ``at_s`` counts from it), ``down`` and ``up`` (the
  halves of a restart, on the parent's schedule), ``stop``;
* out, on standard output: ``built`` once the nodes exist (the slow part: seconds for tens of
  thousands of tags), ``listening`` with the OPC UA part of the gateway hint and a line per
  server, ``down``/``up`` once done, ``counters`` once a second and ``final`` at the end
  (:class:`~simulator.southbound.opcua_server.OpcuaCounters`), ``error`` with what went wrong.

The end of standard input stops the process as ``stop`` does: a parent that dies, even
killed, closes the pipe, so no server is left behind it. SIGINT is ignored (Ctrl-C in a
terminal reaches the whole process group; the parent stops this process in order).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from simulator.errors import ScenarioError, SimulatorError
from simulator.periodic import every
from simulator.scenario import validate_scenario
from simulator.scenario.schema import Scenario
from simulator.southbound.faults import FaultPlan

if TYPE_CHECKING:
    from simulator.southbound.opcua_fleet import OpcuaFleet

CommandKind = Literal["listen", "down", "up", "stop"]
COMMANDS: tuple[CommandKind, ...] = ("listen", "down", "up", "stop")

COUNTERS_INTERVAL_S = 1.0
"""How often the process says its counters (the parent keeps the last it heard)."""

LINE_LIMIT = 256 * 2**20
"""Longest line either side reads: the ``listening`` line carries the hint, about 1 KB per
device (20,000 tags: 3 MB)."""


@dataclass(frozen=True, slots=True)
class OpcuaProcessSettings:
    """Everything the process needs, resolved once by the parent."""

    scenario: Scenario
    """The validated scenario: which devices the servers show, where, the seed, the faults."""

    def to_json(self) -> str:
        """This object as one line of JSON (no newline), for the process's standard input."""
        return json.dumps({"scenario": self.scenario.model_dump(mode="json")})

    @classmethod
    def from_json(cls, text: str) -> OpcuaProcessSettings:
        """The object :meth:`to_json` wrote; ValueError naming what is wrong otherwise."""
        try:
            data = json.loads(text)
            scenario = validate_scenario(data["scenario"], "<stdin>")
        except (TypeError, KeyError, ValueError, ScenarioError) as exc:
            raise ValueError(
                f"OPC UA process settings on standard input are not valid: {exc}"
            ) from None
        return cls(scenario)


@dataclass(frozen=True, slots=True)
class Command:
    """One instruction from the parent."""

    kind: CommandKind
    epoch: float | None = None
    """With ``listen``: step 0 of every device on the wall clock (Unix seconds)."""

    def to_line(self) -> bytes:
        """This instruction as one line of JSON, newline included."""
        data: dict[str, Any] = {"command": self.kind}
        if self.epoch is not None:
            data["epoch"] = self.epoch
        return json.dumps(data).encode() + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> Command:
        """The instruction :meth:`to_line` wrote; ValueError naming what is wrong otherwise."""
        try:
            data = json.loads(line)
            kind = data["command"]
        except (TypeError, KeyError, ValueError) as exc:
            raise ValueError(f"not a command line ({exc}): {line[:200]!r}") from None
        if kind not in COMMANDS:
            raise ValueError(f"command must be one of {', '.join(COMMANDS)}, got {kind!r}")
        epoch = data.get("epoch")
        if kind == "listen" and (not isinstance(epoch, int | float) or isinstance(epoch, bool)):
            raise ValueError(f"listen needs the epoch as a number, got {epoch!r}")
        return cls(kind, float(epoch) if kind == "listen" else None)


class _Lines:
    """The process's JSON lines to its parent, never blocking the loop on a slow reader."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    def emit(self, event: str, **data: Any) -> None:
        line = json.dumps({"event": event, **data}, separators=(",", ":"))
        self._writer.write(line.encode() + b"\n")


async def serve(
    commands: asyncio.StreamReader,
    lines: _Lines,
    *,
    clock: Callable[[], float] = time.time,
) -> int:
    """Read the settings, build the servers, follow the commands until ``stop`` or the end of
    input; the exit status (0, or 1 after saying an ``error``)."""
    from simulator.southbound.opcua_fleet import OpcuaFleet

    try:
        settings = OpcuaProcessSettings.from_json((await commands.readline()).decode())
    except ValueError as exc:
        lines.emit("error", message=str(exc))
        return 1
    scenario = settings.scenario
    south = scenario.southbound
    devices = scenario.fleet.devices
    faults = FaultPlan.from_settings(
        south.faults, devices, scenario.seed, modbus_devices=len(south.modbus_range(devices))
    )
    fleet = OpcuaFleet(scenario, clock=clock, epoch=clock(), faults=faults)
    counting: asyncio.Task[None] | None = None
    try:
        await fleet.build()
        # The nodes live as long as the process: out of the collector's sight, or a full
        # collection walks them all (4.5 million objects for 20,007 tags: 0.73 s, a missed
        # 1 s poll; docs/DECISIONS.md).
        gc.freeze()
        lines.emit("built")
        counting = asyncio.create_task(_say_counters(fleet, lines))
        while line := await commands.readline():
            command = Command.from_line(line)
            if command.kind == "stop":
                break
            if command.kind == "listen":
                assert command.epoch is not None
                await fleet.listen(command.epoch)
                lines.emit("counters", counters=asdict(fleet.counters()))  # the first values'
                lines.emit("listening", hint=fleet.hint(), announcements=fleet.announcements())
            elif command.kind == "down":
                await fleet.stop_listening()
                lines.emit("down")
            else:
                await fleet.listen_again()
                lines.emit("up")
    except (SimulatorError, ValueError) as exc:
        lines.emit("error", message=str(exc))
        return 1
    finally:
        if counting is not None:
            counting.cancel()
            await asyncio.gather(counting, return_exceptions=True)
        await fleet.close()
    lines.emit("final", counters=asdict(fleet.counters()))
    return 0


async def _say_counters(fleet: OpcuaFleet, lines: _Lines) -> None:
    """The counters once a second, on a drift-free schedule."""
    async for _ in every(COUNTERS_INTERVAL_S):
        lines.emit("counters", counters=asdict(fleet.counters()))


async def _main() -> int:
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, sys.stdout
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    try:
        return await serve(commands, _Lines(writer))
    finally:
        with contextlib.suppress(ConnectionError):  # the parent has gone: nobody to tell
            await writer.drain()
        writer.close()


def main() -> int:
    """The process's entry point; its exit status."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # asyncua warns on every start that a server without security has no signing policy:
    # true, and said once in the docs, not on every run.
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_main())
    return uvloop.run(_main())


if __name__ == "__main__":
    sys.exit(main())
