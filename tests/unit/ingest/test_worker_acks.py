"""On a kept session the worker acknowledges a QoS 1 message only once its row is committed
(or given up), in the order the messages arrived, and forgets what a lost connection held.

Driven through a real ``MqttLink`` and session fed the broker's bytes, with a memory sink; the
link's transport records what the worker sends, and at each PUBACK what the sink had
committed by then."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.ingest.settings import WorkerSettings
from simulator.ingest.worker import IngestWorker
from simulator.mqtt import ConnAck, MQTTVersion, PubAck, Publish, decode, encode
from simulator.payloads import get_codec
from simulator.payloads.registration import Registration, encode_registration
from simulator.sinks.memory import MemorySink
from simulator.transport.connection import MqttLink

T0 = 1_800_000_000_000_000_000
CODEC = get_codec("msgpack")
V5 = MQTTVersion.V5
DEVICE = "ms-000001"
TOPIC = f"factory/s/l/{DEVICE}/telemetry"


@dataclass
class Wire:
    """The link's transport: every PUBACK the worker sends, with the sequences the sink had
    committed when it went out."""

    sink: MemorySink
    acked: list[int] = field(default_factory=list)
    committed_then: list[set[int]] = field(default_factory=list)
    rows_then: list[int] = field(default_factory=list)

    def write(self, data: bytes) -> None:
        while data:
            result = decode(data, V5)
            assert result is not None
            packet, used = result
            data = data[used:]
            if isinstance(packet, PubAck):
                self.acked.append(packet.packet_id)
                self.committed_then.append({row.seq for row in self.sink.rows})
                self.rows_then.append(len(self.sink.rows))


def telemetry(packet_id: int, seq: int | None = None) -> bytes:
    """A QoS 1 telemetry PUBLISH; its sequence is its packet id unless said otherwise."""
    payload = CODEC.encode(DEVICE, packet_id if seq is None else seq, T0, {"t": 1.5})
    return encode(Publish(TOPIC, payload, qos=1, packet_id=packet_id), V5)


def registration(packet_id: int) -> bytes:
    body = Registration("ms-000002", "machine-sensor", "1.0", (), T0, "reply", b"\x01")
    payload = encode_registration(body)
    return encode(Publish("onboarding/ms-000002/register", payload, qos=1, packet_id=packet_id), V5)


def make(
    sink: MemorySink, batch_size: int = 100, *, group_commit_s: float = 0.0
) -> tuple[IngestWorker, MqttLink, Wire]:
    """A worker on a kept QoS 1 session; an idle writer takes the open batch at once unless
    ``group_commit_s`` says to let it gather rows."""
    worker = IngestWorker(
        WorkerSettings(
            host="127.0.0.1",
            port=1,
            qos=1,
            session_expiry_s=300,
            batch_size=batch_size,
            sink_retry_s=0.0,
            register_filter="onboarding/+/register",
        ),
        sink,
        loop=asyncio.get_running_loop(),
        wall_ns=lambda: T0 + 1_000_000,
        group_commit_s=group_commit_s,
    )
    wire = Wire(sink)
    link = connect(worker, wire)
    return worker, link, wire


def connect(worker: IngestWorker, wire: Wire, *, present: bool = False) -> MqttLink:
    link = MqttLink(worker.session, worker)
    link.transport = wire  # type: ignore[assignment]
    worker.session.connect()
    link.data_received(encode(ConnAck(session_present=present), V5))
    return link


async def test_a_message_is_acknowledged_once_its_row_is_committed() -> None:
    sink = MemorySink()
    worker, link, wire = make(sink)
    link.data_received(telemetry(1) + telemetry(2) + telemetry(3))
    assert wire.acked == []  # stored nowhere yet
    await worker.writer.drain()
    assert wire.acked == [1, 2, 3]
    assert all({1, 2, 3} <= committed for committed in wire.committed_then)
    await worker.stop()


async def test_an_idle_writer_takes_the_open_batch_only_once_it_has_gathered_rows() -> None:
    sink = MemorySink()
    worker, link, wire = make(sink, group_commit_s=3600.0)
    link.data_received(telemetry(1) + telemetry(2))
    await asyncio.sleep(0)
    assert (worker.writer.pending_rows, sink.rows, wire.acked) == (0, [], [])
    await worker.stop()  # stopping flushes it, and acknowledges it once committed
    assert wire.acked == [1, 2]


async def test_a_batch_given_up_is_acknowledged_all_the_same() -> None:
    sink = MemorySink()
    worker, link, wire = make(sink)
    sink.fail_next_batch("disk gone", "disk_full")
    link.data_received(telemetry(1) + telemetry(2))
    await worker.writer.drain()
    assert wire.acked == [1, 2]
    assert worker.writer.failed_unique == 2
    await worker.stop()


async def test_what_makes_no_row_is_acknowledged_at_once_when_nothing_waits() -> None:
    sink = MemorySink()
    worker, link, wire = make(sink)
    garbage = encode(Publish(TOPIC, b"\xc1", qos=1, packet_id=8), V5)
    link.data_received(registration(7) + garbage)
    assert wire.acked == [7, 8]
    await worker.stop()


async def test_what_makes_no_row_waits_for_the_rows_that_came_before_it() -> None:
    sink = MemorySink()
    worker, link, wire = make(sink)
    link.data_received(telemetry(1) + registration(2))
    assert wire.acked == []  # 2 may not overtake 1
    await worker.writer.drain()
    assert wire.acked == [1, 2]
    await worker.stop()


async def test_a_lost_connection_takes_its_unacknowledged_messages_along() -> None:
    sink = MemorySink()
    worker, link, wire = make(sink)
    link.data_received(telemetry(1) + telemetry(2))  # handed to the writer at once
    link.connection_lost(None)
    # The broker resumes the session and sends both again, then a new one, before the first
    # batch's commit is back: its completion must not acknowledge these.
    link = connect(worker, wire, present=True)
    link.data_received(telemetry(1) + telemetry(2) + telemetry(3))
    await worker.writer.drain()
    assert wire.acked == [1, 2, 3]
    assert wire.rows_then == [5, 5, 5]  # after their own rows, the 3rd to the 5th
    assert worker.accounting.duplicated == 2
    await worker.stop()


async def test_what_a_lost_connection_held_is_not_acknowledged_on_the_next() -> None:
    sink = MemorySink()
    worker, link, wire = make(sink)
    link.data_received(telemetry(1) + telemetry(2))
    link.connection_lost(None)
    await worker.writer.drain()
    assert wire.acked == []  # the rows are stored, but that connection is gone
    connect(worker, wire, present=True)
    await worker.stop()
    assert wire.acked == []


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=15),
    st.integers(min_value=1, max_value=9),
    st.sets(st.integers(min_value=0, max_value=14), max_size=4),
)
def test_every_message_is_acknowledged_once_in_order_and_only_after_its_commit(
    reads: list[int], batch_size: int, rowless_reads: set[int]
) -> None:
    """Whatever the reads, the batch size and the messages without rows among them."""

    async def run() -> None:
        sink = MemorySink()
        worker, link, wire = make(sink, batch_size)
        packet_id = 0
        seqs: dict[int, int] = {}
        for turn, size in enumerate(reads):
            data = b""
            for _ in range(size):
                packet_id += 1
                if turn in rowless_reads and packet_id % 2:
                    data += registration(packet_id)
                else:
                    seqs[packet_id] = len(seqs)
                    data += telemetry(packet_id, seqs[packet_id])
            link.data_received(data)
            await asyncio.sleep(0)  # let a commit or two come back between reads
        await worker.stop()
        assert wire.acked == list(range(1, packet_id + 1))
        for acked, committed in zip(wire.acked, wire.committed_then, strict=True):
            if acked in seqs:
                assert seqs[acked] in committed

    asyncio.run(run())
