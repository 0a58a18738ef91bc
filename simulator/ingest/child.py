"""Starting an ingest worker as a child process and reading its JSON lines.

``run`` keeps ingest in a process of its own, so decoding and SQLite writes use the second
core instead of competing with the devices for the first. The child speaks the line protocol
of :mod:`simulator.ingest.service`; this side keeps the latest progress for the live view and
returns the final snapshot after a graceful stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from simulator.errors import SimulatorError
from simulator.ingest.worker import WorkerSettings
from simulator.mqtt import MQTTVersion

STDERR_TAIL_LINES = 20


class IngestChildError(SimulatorError):
    """The ingest child process failed to start, or stopped without a final snapshot."""


PASSWORD_ENV = "FACTORY_SIM_BROKER_PASSWORD"
"""Where the child finds the broker password, so it never shows on a command line."""


def command_line(settings: WorkerSettings, sqlite_path: Path) -> list[str]:
    """The ``python -m simulator ingest`` command that runs a worker with ``settings``.

    The password is not on it: :class:`IngestChild` passes it in :data:`PASSWORD_ENV`.
    """
    version = "5" if settings.mqtt_version is MQTTVersion.V5 else "3.1.1"
    scheme = "mqtts" if settings.tls else "mqtt"
    user = f"{quote(settings.username, safe='')}@" if settings.username else ""
    args = [
        sys.executable,
        "-m",
        "simulator",
        "ingest",
        "--broker",
        f"{scheme}://{user}{settings.host}:{settings.port}",
        "--topic",
        settings.topic_filter,
        "--mqtt",
        version,
        "--client-id",
        settings.client_id,
        "--payload",
        settings.payload,
        "--qos",
        str(settings.qos),
        "--batch-size",
        str(settings.batch_size),
        "--batch-max-age-ms",
        str(round(settings.batch_max_age_s * 1000)),
        "--sqlite",
        str(sqlite_path),
        "--jsonl",
    ]
    # Always given: left out, the command's default group would turn a plain subscription
    # into a shared one.
    args += ["--share-group", settings.share_group or ""]
    if settings.register_filter:
        args += ["--register-topic", settings.register_filter]
    if settings.death_filter:
        args += ["--death-topic", settings.death_filter]
    if settings.respond is not None:
        policy = settings.respond
        args += [
            "--respond",
            "--respond-seed",
            str(policy.seed),
            "--reject-share",
            repr(policy.reject_share),
            "--silent-share",
            repr(policy.silent_share),
        ]
    if settings.sparkplug_group:
        args += ["--sparkplug-group", settings.sparkplug_group]
    if settings.session_expiry_s:
        args += ["--session-expiry", str(settings.session_expiry_s)]
    for flag, value in (
        ("--ca-file", settings.ca_file),
        ("--client-cert", settings.cert_file),
        ("--client-key", settings.key_file),
    ):
        if value:
            args += [flag, value]
    if not settings.verify:
        args.append("--insecure")
    return args


class IngestChild:
    """One ingest worker process and the latest thing it said."""

    def __init__(self, settings: WorkerSettings, sqlite_path: Path) -> None:
        self.args = command_line(settings, sqlite_path)
        self._env = dict(os.environ)
        if settings.password is not None:
            self._env[PASSWORD_ENV] = settings.password
        self.progress: dict[str, Any] = {}
        self.final: dict[str, Any] | None = None
        self.error: str | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._ready: asyncio.Future[list[str]] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._stderr: list[str] = []
        self._stderr_reader: asyncio.Task[None] | None = None
        self._progressed = asyncio.Event()

    async def start(self, timeout_s: float = 20.0) -> list[str]:
        """Start the child and wait until it has subscribed; return its notes."""
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._proc = await asyncio.create_subprocess_exec(
            *self.args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._env,
        )
        self._reader = asyncio.create_task(self._read_stdout())
        self._stderr_reader = asyncio.create_task(self._read_stderr())
        try:
            async with asyncio.timeout(timeout_s):
                return await self._ready
        except TimeoutError:
            await self.kill()
            raise IngestChildError(
                f"ingest worker did not subscribe within {timeout_s:.0f} s{self._stderr_tail()}"
            ) from None

    @property
    def received(self) -> int:
        """Messages the child has received so far (0 before its first progress line)."""
        return int(self.progress.get("received", 0))

    @property
    def unique(self) -> int:
        """Distinct messages the child has received so far."""
        return int(self.progress.get("unique", 0))

    @property
    def deaths_left(self) -> int:
        """Devices the child has heard leave on purpose (with a death topic)."""
        return int(self.progress.get("deaths", {}).get("left", 0))

    async def wait_for_unique(self, count: int, timeout_s: float) -> bool:
        """Wait until the child has ``count`` distinct messages; False if ``timeout_s`` passed."""
        return await self._wait_until(lambda: self.unique >= count, timeout_s)

    async def wait_for_deaths(self, count: int, timeout_s: float) -> bool:
        """Wait until the child has heard ``count`` devices leave; False if ``timeout_s`` passed."""
        return await self._wait_until(lambda: self.deaths_left >= count, timeout_s)

    async def _wait_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not done():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._progressed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._progressed.wait()
        return True

    async def stop(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """Ask the child to stop (SIGTERM), wait for its final snapshot and its exit."""
        proc = self._proc
        if proc is None:
            raise IngestChildError("ingest worker was never started")
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(timeout_s):
                await proc.wait()
                if self._reader is not None:
                    await self._reader
                if self._stderr_reader is not None:
                    await self._stderr_reader
        except TimeoutError:
            await self.kill()
            raise IngestChildError(
                f"ingest worker did not stop within {timeout_s:.0f} s{self._stderr_tail()}"
            ) from None
        if self.final is None:
            raise IngestChildError(
                f"ingest worker exited with status {proc.returncode} without a final report"
                f"{': ' + self.error if self.error else ''}{self._stderr_tail()}"
            )
        return self.final

    async def kill(self) -> None:
        """Stop the child at once (our own pid only) and reap it."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        for task in (self._reader, self._stderr_reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _stderr_tail(self) -> str:
        if not self._stderr:
            return ""
        return "; its last output:\n  " + "\n  ".join(self._stderr[-STDERR_TAIL_LINES:])

    async def _read_stdout(self) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        async for raw in self._proc.stdout:
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            kind = message.pop("event", None)
            if kind == "progress":
                self.progress = message
                self._progressed.set()
            elif kind == "ready":
                self._resolve_ready(list(message.get("notes", [])))
            elif kind == "final":
                self.final = message
                self.progress = message
            elif kind == "error":
                self.error = str(message.get("message"))
                self._fail_ready(self.error)
        self._fail_ready(f"ingest worker exited before subscribing{self._stderr_tail()}")

    async def _read_stderr(self) -> None:
        assert self._proc is not None
        assert self._proc.stderr is not None
        async for raw in self._proc.stderr:
            self._stderr.append(raw.decode(errors="replace").rstrip())
            del self._stderr[:-STDERR_TAIL_LINES]

    def _resolve_ready(self, notes: list[str]) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(notes)

    def _fail_ready(self, message: str) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(IngestChildError(message))
