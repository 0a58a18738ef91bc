"""The independent counter: ``mosquitto_sub`` writing one timestamped line per message.

Delivered messages are counted by Mosquitto's own C client, not by any of the stacks under
test, so no stack can flatter itself. ``-F '%U %t'`` prints the Unix time of arrival with
nanoseconds and the topic; the topic is there only so the readiness probes (published to
:data:`PROBE_TOPIC` until one comes back, proving the subscription is in place) can be told
apart from the stack's messages. mosquitto_sub flushes each line, and exits cleanly on SIGTERM.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from simulator.errors import SimulatorError

PROBE_TOPIC = "bench/_probe"
PROBE_LINE_END = b" " + PROBE_TOPIC.encode() + b"\n"
PROBE_INTERVAL_S = 0.05
POLL_S = 0.05


class SubscriberError(SimulatorError):
    """mosquitto_sub could not be started or did not see its own probe in time."""


@dataclass(frozen=True, slots=True)
class Delivered:
    """What the subscriber saw: how many messages and when the first and last arrived."""

    count: int
    first_ns: int | None
    last_ns: int | None
    since_count: int
    """How many of them arrived at or after ``since_ns`` (see :func:`parse_lines`)."""

    def rate(self) -> float | None:
        """Messages per second from the first arrival to the last (None below two messages)."""
        if self.first_ns is None or self.last_ns is None or self.last_ns <= self.first_ns:
            return None
        return self.count / ((self.last_ns - self.first_ns) / 1e9)


def parse_lines(data: bytes, since_ns: int = 0) -> Delivered:
    """Count the non-probe lines of mosquitto_sub's output ``<sec>.<nsec> <topic>``."""
    count = after = 0
    first: int | None = None
    last: int | None = None
    for line in data.splitlines():
        stamp, _, topic = line.partition(b" ")
        if topic == PROBE_TOPIC.encode() or not stamp:
            continue
        seconds, _, fraction = stamp.partition(b".")
        ns = int(seconds) * 1_000_000_000 + int(fraction.ljust(9, b"0")[:9])
        count += 1
        first = ns if first is None else min(first, ns)
        last = ns if last is None else max(last, ns)
        if ns >= since_ns:
            after += 1
    return Delivered(count, first, last, after)


class Subscriber:
    """One mosquitto_sub process on ``bench/#`` and the file it writes."""

    def __init__(self, host: str, port: int, topic_filter: str, output: Path) -> None:
        self.host = host
        self.port = port
        self.topic_filter = topic_filter
        self.output = output
        self._file: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._read_offset = 0
        self._tail = b""
        self._seen = 0

    def start(self, timeout_s: float = 10.0) -> None:
        """Start mosquitto_sub and return once it has received one of our probes."""
        executable = shutil.which("mosquitto_sub")
        publisher = shutil.which("mosquitto_pub")
        if executable is None or publisher is None:
            raise SubscriberError("mosquitto_sub and mosquitto_pub must be on PATH")
        self._file = self.output.open("wb")
        command = [executable, "-h", self.host, "-p", str(self.port), "-t", self.topic_filter]
        command += ["-q", "0", "-F", "%U %t"]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._file,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        probe = [publisher, "-h", self.host, "-p", str(self.port), "-t", PROBE_TOPIC, "-m", "1"]
        while PROBE_LINE_END not in self.output.read_bytes():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SubscriberError(
                    f"mosquitto_sub on {self.host}:{self.port} did not receive its probe "
                    f"within {timeout_s:g} s"
                )
            subprocess.run(probe, check=False, timeout=timeout_s, stdin=subprocess.DEVNULL)
            time.sleep(PROBE_INTERVAL_S)
        self._read_offset = 0

    def seen(self) -> int:
        """Messages (not probes) written so far; reads only what is new since the last call."""
        with self.output.open("rb") as stream:
            stream.seek(self._read_offset)
            chunk = stream.read()
        self._read_offset += len(chunk)
        data = self._tail + chunk
        complete, _, self._tail = data.rpartition(b"\n")
        if complete:
            complete += b"\n"
            self._seen += complete.count(b"\n") - complete.count(PROBE_LINE_END)
        return self._seen

    def wait_for(self, expected: int, quiet_s: float, timeout_s: float) -> int:
        """Wait until ``expected`` messages arrived, nothing arrived for ``quiet_s``, or
        ``timeout_s`` passed; return how many arrived."""
        deadline = time.monotonic() + timeout_s
        last_count, last_change = self.seen(), time.monotonic()
        while last_count < expected:
            now = time.monotonic()
            if now > deadline or now - last_change > quiet_s:
                break
            time.sleep(POLL_S)
            count = self.seen()
            if count != last_count:
                last_count, last_change = count, time.monotonic()
        return last_count

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop mosquitto_sub (SIGTERM, then SIGKILL) by its own pid and close the file."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._file is not None:
            self._file.close()
            self._file = None

    def result(self, since_ns: int = 0) -> Delivered:
        """Everything the subscriber wrote, counted (call after :meth:`stop`)."""
        return parse_lines(self.output.read_bytes(), since_ns)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
