"""The parent's handle on the OPC UA servers' own process (:mod:`.opcua_process`).

:class:`OpcuaChild` has the face of :class:`~simulator.southbound.opcua_fleet.OpcuaFleet` that
:class:`~simulator.southbound.service.Southbound` uses (build, listen at an epoch, the halves
of a restart, close, counters, hint, announcements), each step a command to the process and
its answer awaited. It keeps the last counters the process said, so a process that dies still
leaves its figures; :attr:`OpcuaChild.died` then says how it ended (the signal or exit status,
what it said, the end of its standard error), and :meth:`OpcuaChild.ended` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from simulator.errors import OpcuaProcessError, exit_reason
from simulator.scenario.schema import Scenario
from simulator.southbound.opcua_process import LINE_LIMIT, Command, OpcuaProcessSettings
from simulator.southbound.opcua_server import OpcuaCounters

COMMAND = (sys.executable, "-m", "simulator.southbound.opcua_process")
"""How the process is started; everything else it needs comes on its standard input."""

STDERR_TAIL_LINES = 20

STOP_TIMEOUT_S = 30.0
"""How long a stopping process may take to close its servers before it is killed."""


def child_environment() -> dict[str, str]:
    """This process's environment, with the package it runs first on the path, so the child
    runs the same code whatever its working directory or installed copies."""
    package_root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (package_root, path)))}


class OpcuaChild:
    """The OPC UA servers of a scenario, served by a child process."""

    def __init__(self, scenario: Scenario) -> None:
        self.settings = OpcuaProcessSettings(scenario)
        self.latest = OpcuaCounters()
        """The last counters the process said (its final ones once stopped)."""
        self.died: str | None = None
        """How the process ended when nobody asked it to (None while it serves, or after a
        clean stop)."""
        self.pid: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._hint: dict[str, Any] = {}
        self._announcements: list[str] = []
        self._stderr: list[str] = []
        self._readers: list[asyncio.Task[None]] = []
        self._ended = asyncio.Event()
        self._stopping = False
        self._said_final = False

    async def build(self) -> None:
        """Start the process and wait until its servers' nodes are built."""
        self._proc = await asyncio.create_subprocess_exec(
            *COMMAND,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=LINE_LIMIT,
            env=child_environment(),
        )
        self.pid = self._proc.pid
        self._readers = [
            asyncio.create_task(self._read_stdout()),
            asyncio.create_task(self._read_stderr()),
        ]
        assert self._proc.stdin is not None
        self._proc.stdin.write(self.settings.to_json().encode() + b"\n")
        await self._answer("built", "building the OPC UA nodes")

    async def listen(self, epoch: float | None = None) -> None:
        """Listen everywhere with step 0 at ``epoch`` (Unix seconds, required here: the
        process has no epoch of its own)."""
        if epoch is None:
            raise OpcuaProcessError("the OPC UA process listens at an epoch the parent gives")
        answer = await self._ask(Command("listen", epoch), "listening")
        self._hint = answer["hint"]
        self._announcements = list(answer["announcements"])

    async def stop_listening(self) -> None:
        """Drop every connection and stop listening (a restart's first half)."""
        await self._ask(Command("down"), "down")

    async def listen_again(self) -> None:
        """Listen again at the ports first bound (a restart's second half)."""
        await self._ask(Command("up"), "up")

    async def close(self) -> None:
        """Stop the process (its servers closed, its final counters kept); kill it if it
        does not stop within :data:`STOP_TIMEOUT_S`. Nothing to do once it has ended."""
        proc = self._proc
        if proc is None:
            return
        self._stopping = True
        if proc.stdin is not None and not proc.stdin.is_closing():
            with contextlib.suppress(ConnectionError):
                proc.stdin.write(Command("stop").to_line())
            proc.stdin.close()
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await proc.wait()
                await asyncio.gather(*self._readers)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            for task in self._readers:
                task.cancel()
            await asyncio.gather(*self._readers, return_exceptions=True)
            raise OpcuaProcessError(
                f"the OPC UA process did not stop within {STOP_TIMEOUT_S:g} s{self._tail()}"
            ) from None

    async def ended(self) -> str:
        """Wait until the process has ended; how (see :attr:`died`)."""
        await self._ended.wait()
        return self.died or "stopped"

    def counters(self) -> OpcuaCounters:
        """What the servers' updaters did, as the process last said."""
        return self.latest

    def hint(self) -> dict[str, Any]:
        """The OPC UA part of the gateway hint, as the process said once listening."""
        return self._hint

    def announcements(self) -> list[str]:
        """A line per server: where it listens and which devices it shows."""
        return list(self._announcements)

    async def _ask(self, command: Command, expected: str) -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdin.is_closing() or self._ended.is_set():
            raise OpcuaProcessError(f"the OPC UA process is not running{self._why()}")
        proc.stdin.write(command.to_line())
        return await self._answer(expected, f"{command.kind!r}")

    async def _answer(self, expected: str, doing: str) -> dict[str, Any]:
        answer = await self._answers.get()
        event = answer.pop("event")
        if event == "error":
            raise OpcuaProcessError(f"OPC UA process, {doing}: {answer.get('message')}")
        if event == "ended":
            raise OpcuaProcessError(f"the OPC UA process ended while {doing}{self._why()}")
        if event != expected:
            raise OpcuaProcessError(f"the OPC UA process said {event!r}, not {expected!r}")
        return answer

    def _why(self) -> str:
        return f": {self.died}" if self.died else self._tail()

    def _tail(self) -> str:
        if not self._stderr:
            return ""
        return "; its last output:\n  " + "\n  ".join(self._stderr[-STDERR_TAIL_LINES:])

    async def _read_stdout(self) -> None:
        proc = self._proc
        assert proc is not None
        assert proc.stdout is not None
        async for raw in proc.stdout:
            try:
                message: dict[str, Any] = json.loads(raw)
            except ValueError:
                continue
            event = message.get("event")
            if event in ("counters", "final"):
                self.latest = OpcuaCounters(**message["counters"])
                self._said_final = self._said_final or event == "final"
            else:
                self._answers.put_nowait(message)
        status = await proc.wait()
        if stderr := [t for t in self._readers if t is not asyncio.current_task()]:
            await asyncio.gather(*stderr, return_exceptions=True)
        if not (self._stopping and self._said_final):
            said = self._tail() if status else ""
            self.died = f"the OPC UA server process {exit_reason(status)}{said}"
        self._answers.put_nowait({"event": "ended"})
        self._ended.set()

    async def _read_stderr(self) -> None:
        proc = self._proc
        assert proc is not None
        assert proc.stderr is not None
        async for raw in proc.stderr:
            self._stderr.append(raw.decode(errors="replace").rstrip())
            del self._stderr[:-STDERR_TAIL_LINES]
