"""The worker processes of ``run --workers N``: started, read, added up, waited for, stopped.

Each worker is ``python -m simulator run - --segment k/N ... --jsonl``: it reads the resolved
scenario as JSON on its standard input (never a command line rebuilt from it), and prints one
JSON line per second, its fleet's :class:`~simulator.metrics.progress.FleetProgress`, and its
messages. :class:`Workers` adds the latest progress of every worker into what the
coordinator's monitor reads, in the shape of a fleet (``counters``, ``connected``...).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import signal
import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from simulator.coordinator.control import control_line
from simulator.engine.devices import FleetCounters
from simulator.metrics.histogram import Histogram
from simulator.metrics.progress import FleetProgress
from simulator.scenario.faults import FLEET_SIDE_KINDS

EXIT_STOPPED = 130
"""What a worker stopped early (:meth:`Worker.terminate`) exits with, its report written."""

STOP_GRACE_S = 30.0
"""How long a worker told to stop (SIGTERM) has to stop what it started before it is killed."""


class Worker:
    """One worker process: slice ``index`` of ``count``."""

    def __init__(
        self,
        index: int,
        count: int,
        argv: Sequence[str],
        scenario_json: str,
        report: Path,
        *,
        say: Callable[[str], None],
        clock: Callable[[], float],
    ) -> None:
        self.index = index
        self.count = count
        self.report = report
        """Where the worker writes its report."""
        self.progress = FleetProgress()
        """The worker's latest progress line (zeros until the first)."""
        self.progress_at = -math.inf
        """When it came, on ``clock``."""
        self._clock = clock
        self._argv = [sys.executable, "-m", "simulator", *argv]
        self._stdin = scenario_json.encode()
        self._say = say
        self._process: asyncio.subprocess.Process | None = None
        self._errors: deque[str] = deque(maxlen=20)
        """The last lines the worker wrote on its standard error, for saying why it failed."""
        self._readers: list[asyncio.Task[None]] = []
        self._ready = asyncio.Event()
        """Set once the worker said it is ready, or ended."""
        self._terminated = False
        """Whether :meth:`terminate` asked it to stop."""

    @property
    def label(self) -> str:
        """How the worker is named in messages: ``worker 1/4``."""
        return f"worker {self.index}/{self.count}"

    async def start(self) -> None:
        """Start the process and hand it the scenario."""
        process = self._process = await asyncio.create_subprocess_exec(
            *self._argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdin.write(self._stdin + b"\n")
        await process.stdin.drain()
        self._readers = [
            asyncio.create_task(self._read_lines(process.stdout)),
            asyncio.create_task(self._read_errors(process.stderr)),
        ]

    async def wait_ready(self) -> None:
        """Wait until the worker has built its fleet and waits for the start (or ended)."""
        await self._ready.wait()

    async def go(self, start_at_ns: int) -> None:
        """Tell the worker when to start: the barrier every worker waits for. Its standard
        input stays open for :meth:`send`."""
        assert self._process is not None
        stdin = self._process.stdin
        assert stdin is not None
        with contextlib.suppress(ConnectionError):
            stdin.write(f"{start_at_ns}\n".encode())
            await stdin.drain()

    def send(self, request: Mapping[str, Any]) -> None:
        """Hand the worker a live control request (one line on its standard input; a worker
        that has ended is passed over)."""
        process = self._process
        if process is None or process.returncode is not None or process.stdin is None:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            process.stdin.write(control_line(request).encode())

    def terminate(self) -> None:
        """Ask the worker to end its publishing now (SIGTERM): it drains, stops what it
        started and writes its report, then exits with 130 (``Runner.stop``)."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        self._terminated = True
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)

    async def wait(self) -> int:
        """Wait for the worker to end; its exit status (said with its last errors if not 0 or
        1, the statuses that leave a report, or 130 after :meth:`terminate`)."""
        assert self._process is not None
        code = await self._process.wait()
        if self._process.stdin is not None:
            self._process.stdin.close()
        await asyncio.gather(*self._readers)
        if code not in (0, 1) and not (self._terminated and code == EXIT_STOPPED):
            said = " | ".join(self._errors) or "nothing"
            self._say(f"{self.label} exited with status {code}; it said: {said}")
        return code

    async def stop(self) -> None:
        """Stop a worker still running: SIGTERM (it stops what it started), then SIGKILL."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_GRACE_S):
                await process.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        for reader in self._readers:
            reader.cancel()

    def read_report(self) -> dict[str, Any] | None:
        """The worker's report, or None if it wrote none."""
        try:
            data: dict[str, Any] = json.loads(self.report.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data

    async def _read_lines(self, stream: asyncio.StreamReader) -> None:
        try:
            await self._read(stream)
        finally:
            self._ready.set()  # a worker that ended is waited for no longer

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if "ready" in data:
                self._ready.set()
            elif "progress" in data:
                self.progress = FleetProgress.from_dict(data["progress"])
                self.progress_at = self._clock()
            elif "say" in data:
                self._say(f"{self.label}: {data['say']}")

    async def _read_errors(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            text = line.decode(errors="replace").rstrip()
            if text:
                self._errors.append(text)


class Workers:
    """Every worker's latest progress added up, in the shape of a fleet for the monitor."""

    def __init__(self, workers: Sequence[Worker]) -> None:
        self.workers = list(workers)

    def total(self) -> FleetProgress:
        """The workers' latest progress, added up."""
        total = FleetProgress(phase="done")
        for worker in self.workers:
            total.add(worker.progress)
        return total

    @property
    def devices(self) -> range:
        """As many entries as the workers' fleets have devices."""
        return range(self.total().devices_target)

    @property
    def counters(self) -> FleetCounters:
        """The workers' published and acknowledged messages."""
        total = self.total()
        return FleetCounters(published=total.published, acked=total.acked)

    @property
    def connected(self) -> int:
        """Devices connected now, over every worker."""
        return self.total().connected

    def fewest_connected(self) -> int:
        """The fewest devices connected in the interval of each worker's latest line, added
        up: at most the fleet's fewest at any one moment of those intervals."""
        return self.total().connected_low

    def fewest_connected_since(self, since: float) -> int:
        """As :meth:`fewest_connected`, from the lines that came at or after ``since`` (on the
        workers' clock): a worker whose latest line is older counts as connected as it said
        then. A line's interval may begin before ``since`` (by up to the interval)."""
        return sum(
            worker.progress.connected_low
            if worker.progress_at >= since
            else worker.progress.connected
            for worker in self.workers
        )

    @property
    def onboarded(self) -> int:
        """Devices onboarded so far, over every worker."""
        return self.total().onboarded

    @property
    def failed(self) -> int:
        """Devices that failed to onboard, over every worker."""
        return self.total().connect_failed

    @property
    def overrun(self) -> int:
        """Late firings, over every worker."""
        return self.total().overrun

    @property
    def connect_us(self) -> Histogram:
        """Every worker's connect times, merged."""
        return self.total().connect_us


def worker_argv(
    index: int,
    count: int,
    *,
    run_id: str,
    report: Path,
    extra: Sequence[str],
    controlled: bool = False,
) -> list[str]:
    """The ``run`` arguments of worker ``index`` of ``count``: slice ``index/count`` of the
    scenario on its standard input, fleet only, started when the coordinator says (the time
    on its next line of input), its report to ``report``; ``controlled``, following the live
    control requests on its later lines (:mod:`.control`)."""
    return [
        "run",
        "-",
        "--segment",
        f"{index}/{count}",
        "--run-id",
        run_id,
        "--await-start",
        "--no-ingest",
        "--jsonl",
        "--quiet",
        "--report",
        str(report),
        *(("--await-control",) if controlled else ()),
        *extra,
    ]


def worker_scenario(settings: dict[str, Any], broker_urls: Sequence[str]) -> str:
    """The scenario every worker reads, as JSON: the resolved one (``model_dump``), pointed at
    ``broker_urls`` when the coordinator started the brokers, its thresholds left to the
    coordinator (they hold for the whole run, not a slice), and of its ``[[faults]]`` only
    those a worker carries out on its own connections (the coordinator carries out those on
    the broker and ingest). A staged scenario's onboarding rate is left out: its stages say
    when devices connect, and it refuses one given."""
    data = json.loads(json.dumps(settings))
    data["faults"] = [f for f in data.get("faults") or () if f["kind"] in FLEET_SIDE_KINDS]
    if data.get("stages"):
        data["onboarding"].pop("rate_per_s", None)
    broker = data["broker"]
    if broker_urls:
        broker["url"], broker["urls"] = (
            (broker_urls[0], None) if len(broker_urls) == 1 else (None, list(broker_urls))
        )
        broker["instances"] = 1
    data["thresholds"] = {}
    return json.dumps(data)
