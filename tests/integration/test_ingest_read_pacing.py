"""A busy worker reads its connection once an interval and still takes every message.

A real Mosquitto, paho publishing a burst faster than one read an interval could take alone,
the worker in this process with a memory sink: it rests between reads (the kernel's socket
buffer gathers the burst) and accounts for every message, none missing, none twice.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from simulator.broker import LocalBroker
from simulator.ingest.settings import WorkerSettings
from simulator.ingest.worker import IngestWorker
from simulator.sinks.memory import MemorySink
from tests.integration.test_ingest_process import publish_all, telemetry
from tests.waiting import wait_until

pytestmark = pytest.mark.broker

MESSAGES = 2_000
T0 = 1_700_000_000_000_000_000


def burst() -> list[tuple[str, bytes]]:
    """Ten devices, 200 messages each, interleaved."""
    return [
        (f"factory/s/l/d{k % 10}/telemetry", telemetry(f"d{k % 10}", k // 10, T0))
        for k in range(MESSAGES)
    ]


@pytest.mark.parametrize("interval_s", [0.0, 0.02])
async def test_a_busy_worker_rests_between_reads_and_takes_every_message(
    mosquitto: LocalBroker, interval_s: float
) -> None:
    sink = MemorySink()
    worker = IngestWorker(
        WorkerSettings(
            host=mosquitto.host,
            port=mosquitto.port,
            share_group=None,
            batch_size=100,
            batch_max_age_s=0.05,
            read_interval_s=interval_s,
        ),
        sink,
        loop=asyncio.get_running_loop(),
        wall_ns=time.time_ns,
    )
    await worker.start()
    try:
        await asyncio.to_thread(publish_all, mosquitto, burst())
        await wait_until(lambda: worker.accounting.unique == MESSAGES, "every message taken")
    finally:
        await worker.stop()
    acc = worker.accounting
    assert (acc.received, acc.duplicated, acc.missing, acc.devices_seen) == (MESSAGES, 0, 0, 10)
    assert len(sink.rows) == MESSAGES
    if interval_s:
        assert worker.read_pacing.rests > 0
    else:
        assert worker.read_pacing.rests == 0
