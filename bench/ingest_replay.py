"""Ingest capacity: how many messages per second one ingest worker process stores in SQLite.

``bench/run.py`` measures ingest end to end, behind the engine and Mosquitto on the same two
cores, so its figure is bounded by how fast they can publish. This script measures the worker
alone: a replay server on loopback answers the worker's CONNECT and SUBSCRIBE like a broker
would, then sends a pre-encoded stream of machine-sensor PUBLISH packets as fast as the socket
takes them. The worker is the real ``python -m simulator ingest`` process, started through
:class:`~simulator.ingest.child.IngestChild`, writing to a real SQLite file; its final snapshot
gives the receive window, the counts and the rows written.

Usage (from the repository root)::

    .venv/bin/python bench/ingest_replay.py --messages 300000 --devices 10000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

from simulator.fleet import PlantLayout, TopicTemplate, get_model
from simulator.ingest.child import IngestChild
from simulator.ingest.settings import WorkerSettings
from simulator.mqtt import MQTTVersion, Publish, encode
from simulator.payloads import get_codec

CHUNK = 1 << 20
"""Bytes the replay server writes at once."""

CONNACK_V5 = b"\x20\x03\x00\x00\x00"


def build_stream(devices: int, messages: int, version: MQTTVersion) -> bytes:
    """``messages`` QoS 0 PUBLISH packets, devices round-robin, sequence numbers in order."""
    model = get_model("machine-sensor")
    codec = get_codec("msgpack")
    layout = PlantLayout(2, 4, model.id_prefix)
    template = TopicTemplate()
    ids, topics, states = [], [], []
    for index in range(devices):
        identity = layout.identity(index)
        ids.append(identity.device_id)
        topics.append(template.render(identity, model.name))
        states.append(model.new_state(index, 1))
    now_ns = time.time_ns()
    parts = []
    for n in range(messages):
        index, seq = n % devices, n // devices
        payload = codec.encode(ids[index], seq, now_ns, model.sample(states[index], seq, seq))
        # The broker's side of the wire: not a client session's to frame.
        parts.append(encode(Publish(topics[index], payload), version))
    return b"".join(parts)


class ReplayServer(asyncio.Protocol):
    """Plays a broker for one subscriber: CONNACK, SUBACK, then the stream."""

    def __init__(self, stream: bytes, done: asyncio.Future[float]) -> None:
        self.stream = stream
        self.done = done
        self.transport: asyncio.Transport | None = None
        self.stage = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Remember the transport; the client speaks first."""
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        """Answer CONNECT, then SUBSCRIBE (reading its packet id), then start replaying."""
        assert self.transport is not None
        if self.stage == 0 and data[0] >> 4 == 1:
            self.transport.write(CONNACK_V5)
            self.stage = 1
        elif self.stage == 1 and data[0] >> 4 == 8:
            # Fixed header (1 byte + 1-byte remaining length for a small SUBSCRIBE), packet id.
            packet_id = data[2:4]
            self.transport.write(b"\x90\x04" + packet_id + b"\x00\x00")
            self.stage = 2
            asyncio.get_running_loop().create_task(self._replay())

    async def _replay(self) -> None:
        assert self.transport is not None
        started = time.perf_counter()
        view = memoryview(self.stream)
        for offset in range(0, len(view), CHUNK):
            self.transport.write(view[offset : offset + CHUNK])
            await asyncio.sleep(0)
        if not self.done.done():
            self.done.set_result(time.perf_counter() - started)


async def measure(devices: int, messages: int, batch_size: int) -> dict[str, object]:
    """Replay ``messages`` to one ingest worker process and return its figures."""
    stream = build_stream(devices, messages, MQTTVersion.V5)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()
    server = await loop.create_server(lambda: ReplayServer(stream, done), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        settings = WorkerSettings(
            host="127.0.0.1",
            port=port,
            topic_filter="factory/#",
            batch_size=batch_size,
            sink=f"sqlite:///{Path(tmp) / 'replay.sqlite'}",
        )
        child = IngestChild(settings)
        try:
            await child.start()
            write_s = await asyncio.wait_for(done, 300)
            await child.wait_for_resolved(messages, 300)
            final = await child.stop()
        finally:
            await child.kill()
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()
    window_s = ((final.last_recv_ns or 0) - (final.first_recv_ns or 0)) / 1e9
    return {
        "messages": messages,
        "devices": devices,
        "stream_bytes": len(stream),
        "server_write_s": round(write_s, 3),
        "received": final.received,
        "unique": final.unique,
        "lost": messages - final.unique,
        "duplicated": final.duplicated,
        "rows_written": final.committed_rows,
        "receive_window_s": round(window_s, 3),
        "ingested_per_s": round(final.received / window_s) if window_s > 0 else None,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the replay once and print its figures as JSON and one summary line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args(argv)
    figures = asyncio.run(measure(args.devices, args.messages, args.batch_size))
    print(json.dumps(figures, indent=2))
    print(
        f"ingest capacity: {figures['ingested_per_s']:,} msg/s into SQLite "
        f"({figures['received']:,} received, {figures['lost']} lost, "
        f"{figures['duplicated']} duplicated, {figures['rows_written']:,} rows)",
        file=sys.stderr,
    )
    return 0 if figures["lost"] == 0 and figures["duplicated"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
