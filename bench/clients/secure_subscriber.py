"""The independent counter for the secure broker: ``mosquitto_sub`` with a user name and password.

The same counter as :class:`clients.subscriber.Subscriber`, with what the secure profile asks
for: both ``mosquitto_sub`` and the ``mosquitto_pub`` readiness probes authenticate, and the
probe topic lies under ``factory/`` (:data:`clients.secure.TLS_PROBE_TOPIC`), where the ACL
lets the probing user write and the counting user read. It connects to the profile's plain
listener, so the counter spends no CPU on TLS that the stack under test would miss.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from .secure import TLS_PROBE_TOPIC
from .subscriber import PROBE_INTERVAL_S, Delivered, Subscriber, SubscriberError, parse_lines


class SecureSubscriber(Subscriber):
    """One authenticated mosquitto_sub and the file it writes; probes come from another user."""

    def __init__(  # noqa: PLR0917 - the parent's four, then the two accounts
        self,
        host: str,
        port: int,
        topic_filter: str,
        output: Path,
        reader: tuple[str, str],
        prober: tuple[str, str],
    ) -> None:
        super().__init__(host, port, topic_filter, output)
        self.reader = reader
        """User name and password of the counting subscriber."""
        self.prober = prober
        """User name and password the readiness probes are published with."""
        self._probe_suffix = b" " + TLS_PROBE_TOPIC.encode()
        self._probe_end = self._probe_suffix + b"\n"

    def start(self, timeout_s: float = 10.0) -> None:
        """Start mosquitto_sub and return once it has received one of our probes."""
        executable = shutil.which("mosquitto_sub")
        publisher = shutil.which("mosquitto_pub")
        if executable is None or publisher is None:
            raise SubscriberError("mosquitto_sub and mosquitto_pub must be on PATH")
        address = ["-h", self.host, "-p", str(self.port)]
        self._file = self.output.open("wb")
        command = [executable, *address, "-u", self.reader[0], "-P", self.reader[1]]
        command += ["-t", self.topic_filter, "-q", "0", "-F", "%U %t"]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._file,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        probe = [publisher, *address, "-u", self.prober[0], "-P", self.prober[1]]
        probe += ["-t", TLS_PROBE_TOPIC, "-m", "1"]
        while self._probe_end not in self.output.read_bytes():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SubscriberError(
                    f"mosquitto_sub on {self.host}:{self.port} did not receive its probe "
                    f"within {timeout_s:g} s"
                )
            subprocess.run(probe, check=False, timeout=timeout_s, stdin=subprocess.DEVNULL)
            time.sleep(PROBE_INTERVAL_S)

    def seen(self) -> int:
        """Messages (not probes) written so far; reads only what is new since the last call."""
        with self.output.open("rb") as stream:
            stream.seek(self._read_offset)
            chunk = stream.read()
        self._read_offset += len(chunk)
        complete, _, self._tail = (self._tail + chunk).rpartition(b"\n")
        if complete:
            complete += b"\n"
            self._seen += complete.count(b"\n") - complete.count(self._probe_end)
        return self._seen

    def result(self, since_ns: int = 0) -> Delivered:
        """Everything the subscriber wrote, probes left out, counted (call after stop)."""
        lines = self.output.read_bytes().splitlines()
        kept = [line for line in lines if not line.endswith(self._probe_suffix)]
        return parse_lines(b"\n".join(kept), since_ns)
