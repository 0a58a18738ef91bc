"""The pool starts a dead worker again on its kept session, and leaves alone one that stopped
on purpose. Real worker processes, a real Mosquitto fed by paho, a real SQLite file."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from simulator.broker import LocalBroker
from simulator.ingest.child import IngestChild
from simulator.ingest.pool import IngestPool
from simulator.ingest.settings import BrokerEndpoint, WorkerSettings, on_each_broker
from tests.integration.test_ingest_process import publish_all, telemetry
from tests.waiting import wait_until

pytestmark = pytest.mark.broker

T0 = 1_700_000_000_000_000_000


def settings(broker: LocalBroker, tmp_path: Path) -> WorkerSettings:
    return WorkerSettings(
        host=broker.host,
        port=broker.port,
        share_group=None,
        client_id="ingest-pool-test",
        qos=1,
        session_expiry_s=60,
        batch_size=5,
        batch_max_age_s=0.05,
        sink=f"sqlite:///{tmp_path / 'rows.sqlite'}",
        run_id="pool-restart",
    )


def signalled(pool: IngestPool, sig: signal.Signals, worker: int = 0) -> IngestChild:
    """Send ``sig`` to the pool's ``worker``-th worker process; that worker."""
    child = pool.children[worker]
    assert child.pid is not None
    os.kill(child.pid, sig)
    return child


def messages(start: int, stop: int) -> list[tuple[str, bytes]]:
    """Two devices taking turns, sequences ``start .. stop - 1`` between them."""
    return [
        (f"factory/s/l/d{k % 2}/telemetry", telemetry(f"d{k % 2}", k // 2, T0))
        for k in range(start, stop)
    ]


async def test_a_killed_worker_is_restarted_and_the_figures_stay_the_runs(
    mosquitto: LocalBroker, tmp_path: Path
) -> None:
    said: list[str] = []
    pool = IngestPool([settings(mosquitto, tmp_path)], say=said.append)
    await pool.start()
    try:
        await asyncio.to_thread(publish_all, mosquitto, messages(0, 20))
        await wait_until(lambda: pool.committed >= 20, "the first 20 messages committed")
        first = signalled(pool, signal.SIGKILL)
        await wait_until(lambda: bool(pool.restarts), "the pool to start the worker again")
        # Published while the new worker starts, or after: its kept session has them either way.
        await asyncio.to_thread(publish_all, mosquitto, messages(20, 40))
        assert await pool.wait_for_resolved(40, timeout_s=30)
        final = await pool.stop()
    finally:
        await pool.kill()
    assert pool.children[0] is not first
    assert pool.restarts == [
        {
            "client_id": "ingest-pool-test",
            "exit_status": -signal.SIGKILL,
            "reason": "killed by signal 9 (SIGKILL)",
        }
    ]
    assert said == [
        "ingest worker ingest-pool-test killed by signal 9 (SIGKILL); restarted it on its kept "
        "session (1 of 3 restarts)"
    ]
    # The run's figures, not the new process's: its first 20 were stored by the dead one.
    assert final.unique == final.committed_unique == 40
    assert final.devices_seen == 2
    assert final.missing == 0
    assert final.received == final.unique + final.duplicated
    assert pool.per_worker()[0]["restarts"] == 1


async def test_a_worker_that_stopped_on_purpose_is_not_restarted(
    mosquitto: LocalBroker, tmp_path: Path
) -> None:
    """A worker told to stop by someone else (SIGTERM: ``kill``, a supervisor) stops, says its
    final word, and is left stopped; starting another would only be stopped again."""
    pool = IngestPool([settings(mosquitto, tmp_path)])
    await pool.start()
    try:
        child = signalled(pool, signal.SIGTERM)
        assert await child.exited() == 0
        for _ in range(3):
            await asyncio.sleep(0)  # a yield: the pool's watcher has seen the exit by now
        assert pool.restarts == []
        assert pool.children[0] is child
        assert not pool.gone
        final = await pool.stop()
    finally:
        await pool.kill()
    assert final is not None


async def test_a_run_s_worker_ignores_ctrl_c_and_goes_on_storing(
    mosquitto: LocalBroker, tmp_path: Path
) -> None:
    """Ctrl-C in a terminal reaches the whole process group; the run hears it too, drains,
    and stops its workers itself once they have stored what was published."""
    pool = IngestPool([settings(mosquitto, tmp_path)])
    await pool.start()
    try:
        child = signalled(pool, signal.SIGINT)
        await asyncio.to_thread(publish_all, mosquitto, messages(0, 20))
        assert await pool.wait_for_resolved(20, timeout_s=30)
        assert child.returncode is None
        assert pool.children[0] is child
        final = await pool.stop()
    finally:
        await pool.kill()
    assert final is not None
    assert final.committed_unique == 20


def pooled(start: int, stop: int, broker: int) -> list[tuple[str, bytes]]:
    """Sequences ``start .. stop - 1`` of the two devices a pool of two deals to ``broker``:
    ms-000000 and ms-000002 to broker 0, ms-000001 and ms-000003 to broker 1."""
    devices = [f"ms-{index:06d}" for index in range(broker, 4, 2)]
    return [
        (f"factory/s/l/{device}/telemetry", telemetry(device, seq, T0))
        for seq in range(start, stop)
        for device in devices
    ]


async def test_a_worker_of_a_broker_pool_that_dies_is_restarted_and_counts_its_brokers_devices(
    tmp_path: Path,
) -> None:
    """Two Mosquittos, one worker each, one SQLite file for both under one run id. The second
    broker's worker is killed; the new one reads back what the run stored of its own broker's
    devices only, so the merged figures count each device once. The workers read over each
    broker's Unix socket, as a run's own brokers' do; the devices publish over TCP."""
    with LocalBroker(unix_socket=True) as first, LocalBroker(unix_socket=True) as second:
        brokers = [
            BrokerEndpoint(broker.host, broker.port, str(broker.socket_path))
            for broker in (first, second)
        ]
        workers = on_each_broker([settings(first, tmp_path)], brokers)
        said: list[str] = []
        pool = IngestPool(workers, say=said.append)
        await pool.start()
        try:
            for number, broker in enumerate((first, second)):
                await asyncio.to_thread(publish_all, broker, pooled(0, 10, number))
            await wait_until(lambda: pool.committed >= 40, "the first 40 messages committed")
            dying = signalled(pool, signal.SIGKILL, worker=1)
            await wait_until(lambda: bool(pool.restarts), "the pool to start the worker again")
            for number, broker in enumerate((first, second)):
                await asyncio.to_thread(publish_all, broker, pooled(10, 20, number))
            assert await pool.wait_for_resolved(80, timeout_s=30)
            final = await pool.stop()
        finally:
            await pool.kill()
    assert [r["client_id"] for r in pool.restarts] == ["ingest-pool-test-b1"]
    assert pool.children[1] is not dying
    [note] = said
    assert "ingest-pool-test-b1 killed by signal 9" in note
    assert "restarted it on its kept session" in note
    # Read back with every device of the run, the new worker would have counted the first
    # broker's two devices again: 6 devices and 100 unique messages.
    assert final.devices_seen == 4
    assert final.unique == final.committed_unique == 80
    assert final.missing == 0
    assert final.received == final.unique + final.duplicated
