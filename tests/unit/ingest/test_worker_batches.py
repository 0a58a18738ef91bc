"""The worker's hot path: rows reach the batcher a whole read at a time, and every batch still
carries the exact count of its new messages, so a batch the sink gives up on takes exactly its
own new messages with it. Driven through ``on_events`` with a memory sink; no broker."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.ingest.settings import WorkerSettings
from simulator.ingest.worker import IngestWorker
from simulator.mqtt import (
    ClientSession,
    Event,
    MessageReceived,
    MessagesReceived,
    MQTTVersion,
    Publish,
)
from simulator.payloads import get_codec
from simulator.payloads.registration import Registration, encode_registration
from simulator.sinks import Row
from simulator.sinks.memory import MemorySink
from simulator.transport.connection import MqttLink

T0 = 1_800_000_000_000_000_000
CODEC = get_codec("msgpack")


def message(seq: int, device: str = "ms-000001") -> MessageReceived:
    payload = CODEC.encode(device, seq, T0, {"temperature_c": 21.5, "state": "running"})
    return MessageReceived(Publish(f"factory/s/l/{device}/telemetry", payload))


def as_run(events: list[MessageReceived]) -> MessagesReceived:
    """The same messages as one run, as a read of plain QoS 0 packets gives them."""
    return MessagesReceived([e.publish.topic for e in events], [e.publish.payload for e in events])


def make(
    sink: MemorySink,
    batch_size: int,
    *,
    store_payloads: bool = False,
    register_filter: str | None = None,
) -> tuple[IngestWorker, MqttLink]:
    settings = WorkerSettings(
        host="127.0.0.1",
        port=1,
        batch_size=batch_size,
        sink_retry_s=0.0,
        store_payloads=store_payloads,
        register_filter=register_filter,
    )
    worker = IngestWorker(
        settings,
        sink,
        loop=asyncio.get_running_loop(),
        wall_ns=lambda: T0 + 1_000_000,
    )
    return worker, MqttLink(ClientSession("ingest-test", MQTTVersion.V5, 60), worker)


async def test_a_given_up_batch_takes_exactly_its_own_new_messages() -> None:
    sink = MemorySink()
    worker, link = make(sink, batch_size=3)
    # Batch 1: seq 0, 1, 1 again (2 new). Seq 2 waits in the open batch into the next read.
    worker.on_events(link, [message(0), message(1), message(1), message(2)])
    await worker.writer.drain()
    sink.fail_next_batch("disk gone", "disk_full")
    # Batch 2: seq 2 (from the read before), 0 again, 3: 2 new. The garbage is no row at all.
    garbage = MessageReceived(Publish("factory/s/l/ms-000001/telemetry", b"\xc1"))
    worker.on_events(link, [garbage, message(0), message(3)])
    await worker.stop()
    writer = worker.writer
    assert (writer.committed_rows, writer.committed_unique) == (3, 2)
    assert (writer.failed_rows, writer.failed_unique) == (3, 2)
    assert writer.errors == {"disk_full": 3}
    acc = worker.accounting
    assert (acc.unique, acc.duplicated, acc.malformed) == (4, 2, 1)
    assert [row.seq for row in sink.rows] == [0, 1, 1]


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=120),
    st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=40),
    st.integers(min_value=1, max_value=7),
    st.booleans(),
)
def test_whatever_the_reads_and_duplicates_every_new_message_is_committed_once(
    seqs: list[int], reads: list[int], batch_size: int, runs: bool
) -> None:
    async def run() -> None:
        sink = MemorySink()
        worker, link = make(sink, batch_size)
        events = [message(seq) for seq in seqs]
        start, turn = 0, 0
        while start < len(events):
            size = reads[turn % len(reads)]
            read = events[start : start + size]
            worker.on_events(link, [as_run(read)] if runs else list[Event](read))
            start, turn = start + size, turn + 1
        await worker.stop()
        assert worker.writer.committed_unique == worker.accounting.unique == len(set(seqs))
        assert worker.writer.committed_rows == len(seqs)
        assert [row.seq for row in sink.rows] == seqs

    asyncio.run(run())


@pytest.mark.parametrize("store", [False, True])
async def test_payload_bytes_are_stored_only_when_asked(store: bool) -> None:
    sink = MemorySink()
    worker, link = make(sink, batch_size=10, store_payloads=store)
    sent = [message(0), message(1)]
    garbage = MessageReceived(Publish("factory/s/l/ms-000001/telemetry", b"\xc1"))
    worker.on_events(link, [*sent, garbage])
    await worker.stop()
    expected = [m.publish.payload if store else None for m in sent]
    assert [row.payload for row in sink.rows] == expected
    assert [row.values for row in sink.rows] == [{"temperature_c": 21.5, "state": "running"}] * 2
    assert [m.payload for m in sink.malformed] == [b"\xc1"]  # kept whatever the setting


@pytest.mark.parametrize("store", [False, True])
async def test_a_run_is_stored_as_its_messages_one_by_one_bad_ones_apart(store: bool) -> None:
    """A run of messages read together, all good (decoded as one) or with a bad one among
    them (each decoded alone): the same rows as the messages one at a time."""
    good = [message(seq, f"ms-00000{seq % 3}") for seq in range(6)]
    garbage = MessageReceived(Publish("factory/s/l/ms-000001/telemetry", b"\xc1"))
    stored: list[list[Row]] = []
    for reads in (
        [good[:4], [good[4], garbage, good[5]]],
        [[e] for e in [*good[:5], garbage, good[5]]],
    ):
        sink = MemorySink()
        worker, link = make(sink, batch_size=10, store_payloads=store)
        for read in reads:
            worker.on_events(link, [as_run(read)])
        await worker.stop()
        assert [m.payload for m in sink.malformed] == [b"\xc1"]
        assert worker.accounting.malformed == 1
        stored.append(sink.rows)
    assert stored[0] == stored[1]
    assert [(row.device_id, row.seq) for row in stored[0]] == [
        (f"ms-00000{s % 3}", s) for s in range(6)
    ]
    assert {row.payload is None for row in stored[0]} == {not store}


def registration(device: str) -> MessageReceived:
    body = Registration(device, "machine-sensor", "1.0", (), T0 - 5_000_000, "reply", b"\x01")
    return MessageReceived(Publish(f"onboarding/{device}/register", encode_registration(body)))


async def test_telemetry_before_a_registration_in_one_read_makes_it_no_new_onboarding() -> None:
    worker, link = make(MemorySink(), batch_size=10, register_filter="onboarding/+/register")
    # One read: ms-000001 was already sending (a re-announcement after a reconnect); ms-000002
    # registers, then sends its first message.
    worker.on_events(
        link,
        [message(0), registration("ms-000001"), registration("ms-000002"), message(0, "ms-000002")],
    )
    await worker.stop()
    stage = worker.first_telemetry.stage
    assert stage.reached == 1  # ms-000002 only
    assert stage.elapsed_us.max // 1000 == 6  # its registration's t0 to this read (6 ms)
    assert worker.first_telemetry.waiting == 0
    assert worker.accounting.unique == 2


async def test_a_resumed_worker_counts_on_from_what_its_devices_stored() -> None:
    """A worker restarted after its predecessor died: the run's rows of its own devices seed
    its figures (another worker's devices in the same run are not its), so what the broker
    sends again is a duplicate and the counts are the run's."""
    earlier = MemorySink("run-1")
    own = [message(seq).publish for seq in (0, 1, 2, 2, 4)]
    theirs = message(0, "ms-000009").publish
    for publish in [*own, theirs]:
        device, seq, ts, values = CODEC.decode(publish.payload)
        topic = publish.topic if device != "ms-000009" else "factory/s/m/ms-000009/telemetry"
        earlier.rows.append(Row(device, seq, ts, T0, topic, None, values))
    sink = MemorySink("run-1", rows=earlier.rows)
    settings = WorkerSettings(
        host="127.0.0.1", port=1, sink_retry_s=0.0, partition=("factory/s/l/+/telemetry",)
    )
    worker = IngestWorker(
        settings, sink, loop=asyncio.get_running_loop(), wall_ns=lambda: T0 + 1_000_000
    )
    worker.resume(sink.read_stored())
    acc = worker.accounting
    assert (acc.unique, acc.duplicated, acc.missing, acc.devices_seen) == (4, 1, 1, 1)
    link = MqttLink(ClientSession("ingest-test", MQTTVersion.V5, 60), worker)
    worker.on_events(link, [message(2), message(3), message(5)])  # again, late, next
    await worker.stop()
    assert (acc.unique, acc.duplicated, acc.out_of_order, acc.missing) == (6, 2, 1, 0)
    writer = worker.writer
    assert (writer.committed_unique, writer.committed_rows) == (6, 8)


@pytest.mark.parametrize("broker", [0, 1])
async def test_a_resumed_worker_of_a_broker_pool_counts_its_own_brokers_devices_only(
    broker: int,
) -> None:
    """Two brokers, devices dealt by connection: ms-000000 and ms-000002 on broker 0,
    ms-000001 and ms-000003 on broker 1, all on topics every worker takes. The run's rows hold
    all four; a worker restarted for one broker seeds its figures from its own two alone."""
    rows = [
        Row(f"ms-{index:06d}", seq, T0, T0, f"factory/s/l/ms-{index:06d}/telemetry", None, {})
        for index in range(4)
        for seq in range(index + 1)
    ]
    sink = MemorySink("run-1", rows=rows)
    settings = WorkerSettings(
        host="127.0.0.1", port=1, sink_retry_s=0.0, broker_number=broker, broker_count=2
    )
    worker = IngestWorker(
        settings, sink, loop=asyncio.get_running_loop(), wall_ns=lambda: T0 + 1_000_000
    )
    worker.resume(sink.read_stored())
    own = (0, 2) if broker == 0 else (1, 3)
    acc = worker.accounting
    assert acc.devices_seen == 2
    assert acc.unique == sum(index + 1 for index in own)
    assert worker.writer.committed_rows == acc.unique
    await worker.stop()
