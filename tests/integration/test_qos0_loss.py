"""Messages really lost at QoS 0 are counted exactly in the report.

The broker is given a tiny per-client queue (``max_queued_messages``), and the ingest worker
is stopped (SIGSTOP) mid-run: once its socket buffers are full, Mosquitto drops what it
cannot queue for it, as it would for any subscriber that falls behind. The truth is read
from what ingest stored: each device numbers its messages 0, 1, 2, ..., and publishing goes
on after ingest resumes, so a device's last number stored tells how many it published, and
the numbers missing below it are the messages lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulator.broker import LocalBroker
from simulator.broker.locate import default_config_dir
from simulator.report.json_report import as_dict
from simulator.runner import Runner
from simulator.scenario import validate_scenario
from tests.processes import children_running
from tests.runs import run_config
from tests.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

DEVICES = 100
DROPPED = 2000
"""Messages the broker must have dropped for ingest before it resumes."""


def small_queue_config(directory: Path) -> Path:
    """broker_config/ with a queue of 10 messages per client and $SYS figures every second."""
    text = (default_config_dir() / "mosquitto.conf").read_text(encoding="utf-8")
    replaced = {"max_queued_messages": "10", "sys_interval": "1"}
    lines = []
    for line in text.splitlines():
        words = line.split()
        changed = words and words[0] in replaced
        lines.append(f"{words[0]} {replaced.pop(words[0])}" if changed else line)
    assert not replaced, f"broker_config/mosquitto.conf no longer sets {sorted(replaced)}"
    directory.mkdir()
    (directory / "mosquitto.conf").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


class Dropped:
    """The broker's count of dropped messages, from ``$SYS/broker/publish/messages/dropped``."""

    def __init__(self, broker: LocalBroker) -> None:
        self.value = 0
        self._lock = threading.Lock()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id="dropped-watch")
        self._client.on_message = self._on_message
        self._client.connect(broker.host, broker.port)
        self._client.subscribe("$SYS/broker/publish/messages/dropped")
        self._client.loop_start()

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        with self._lock:
            self.value = int(message.payload)

    def get(self) -> int:
        with self._lock:
            return self.value

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def ingest_child_pid() -> int | None:
    """The run's ingest worker: this process's child that runs ``simulator ingest``."""
    found = children_running(os.getpid(), "simulator", "ingest")
    return found[0] if found else None


@contextmanager
def stopped(pid: int) -> Iterator[None]:
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def stored(path: Path) -> dict[str, set[int]]:
    """Every device's sequence numbers that ingest stored (only device_id and seq are read)."""
    seqs: dict[str, set[int]] = {}
    with sqlite3.connect(path) as db:
        for device_id, seq in db.execute("SELECT device_id, seq FROM telemetry"):
            seqs.setdefault(device_id, set()).add(seq)
    return seqs


def rows(sqlite: Path) -> int:
    """How many rows ingest has stored so far (0 before its table exists)."""
    try:
        with sqlite3.connect(sqlite) as db:
            return int(db.execute("SELECT count(*) FROM telemetry").fetchone()[0])
    except sqlite3.OperationalError:  # the table is not there yet
        return 0


async def run_with_a_stalled_subscriber(broker: LocalBroker, sqlite: Path) -> dict[str, Any]:
    scenario = validate_scenario(
        {
            "name": "loss",
            "duration_s": 15.0,
            "broker": {"url": broker.url},
            "fleet": {"devices": DEVICES, "publish_interval_s": 0.01, "qos": 0},
            "onboarding": {"rate_per_s": 1000.0},
            "ingest": {"sqlite_path": str(sqlite), "drain_timeout_s": 2.0},
        },
        "<test>",
    )
    run = asyncio.create_task(Runner(run_config(scenario, quiet=True), out=io.StringIO()).run())
    dropped = Dropped(broker)
    try:
        await wait_until(lambda: ingest_child_pid() is not None, "the ingest child")
        pid = ingest_child_pid()
        assert pid is not None
        # Publishing has begun once ingest has stored something.
        await wait_until(lambda: sqlite.exists() and bool(rows(sqlite)), "the first stored rows")
        with stopped(pid):
            await wait_until(
                lambda: dropped.get() >= DROPPED or run.done(),
                f"the broker to drop {DROPPED} messages for the stopped ingest",
            )
            assert not run.done(), "the run ended before the broker dropped anything"
        return as_dict(await run)
    finally:
        dropped.stop()
        if not run.done():  # a failed wait: stop the run and what it started
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run


def test_messages_a_stalled_subscriber_loses_are_counted_exactly(tmp_path: Path) -> None:
    sqlite = tmp_path / "loss.sqlite"
    with LocalBroker(config_dir=small_queue_config(tmp_path / "broker")) as broker:
        report = asyncio.run(run_with_a_stalled_subscriber(broker, sqlite))
    seqs = stored(sqlite)
    # Every device's last messages, sent after ingest resumed, were stored: the last number
    # stored is the device's count.
    published = {device: max(numbers) + 1 for device, numbers in seqs.items()}
    assert len(published) == DEVICES
    assert sum(published.values()) == report["messages"]["published"]
    lost = sum(published[device] - len(numbers) for device, numbers in seqs.items())
    assert lost >= DROPPED  # the broker really dropped them
    assert report["messages"]["lost"] == lost
    assert report["messages"]["ingested"] == sum(len(numbers) for numbers in seqs.values())
