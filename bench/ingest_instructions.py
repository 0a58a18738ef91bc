"""Instructions a stored message costs the ingest worker, counted by valgrind's callgrind.

The worker's own work on a message once its read has arrived: the session framing the
PUBLISH packets of a 64 KB read into runs of messages, ``IngestWorker.on_events`` on them
(decoding, accounting, rows, batching) and the SQLite sink's writes on the writer thread, in
one process, as the worker process runs them. The socket's read and the event loop are not
included.

CPU time on this shared machine moves by a fifth from one run of the same code to the next;
an instruction count does not, so two trees can be compared when timing them cannot. Each
tree runs twice, with ``--base`` and ``--base + --messages`` messages, and the difference
is divided by ``--messages``, which takes off the start-up; what loading the prepared
messages costs is measured the same way without the worker and taken off too.

Machine-sensor messages of 10,000 devices, msgpack, MQTT 5, batches of 1,000 rows. Run from
the repository root (valgrind installed)::

    .venv/bin/python bench/ingest_instructions.py --code before=/tmp/wt-before --code after=.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import pickle
import re
import subprocess
import sys
import tempfile
from pathlib import Path

DEVICES = 10_000
READ = 65_536
BATCH = 1_000
T0 = 1_800_000_000_000_000_000


def prepare(count: int, path: Path) -> None:
    """Write ``count`` machine-sensor PUBLISH packets (msgpack, MQTT 5) to ``path``, each
    packet's bytes apart."""
    from simulator.fleet import get_model
    from simulator.mqtt import MQTTVersion, Publish, encode
    from simulator.payloads import get_codec

    codec, model = get_codec("msgpack"), get_model("machine-sensor")
    states = [model.new_state(index, 1) for index in range(min(count, DEVICES))]
    packets = []
    for k in range(count):
        index, seq = k % DEVICES, k // DEVICES
        device = f"ms-{index:06d}"
        values = model.sample(states[index], seq, k * 1e-3)
        payload = codec.encode(device, seq, T0 + k * 1000, values)
        topic = f"factory/site-01/line-01/{device}/telemetry"
        packets.append(encode(Publish(topic, payload), MQTTVersion.V5))
    path.write_bytes(pickle.dumps(packets))


def child(mode: str, path: Path, count: int) -> None:
    """Load ``count`` prepared packets and, with ``mode`` ``store``, store them."""
    gc.set_threshold(50_000)  # as the worker process (cli.INGEST_GC_THRESHOLD)
    stream = b"".join(pickle.loads(path.read_bytes())[:count])
    if mode == "store":
        asyncio.run(_store(stream, count))


async def _store(stream: bytes, count: int) -> None:
    from simulator.ingest.settings import WorkerSettings, subscriber_options
    from simulator.ingest.worker import IngestWorker
    from simulator.mqtt import ClientSession, ConnAck, MQTTVersion, encode
    from simulator.sinks.sqlite import SqliteSink
    from simulator.transport.connection import MqttLink

    with tempfile.TemporaryDirectory() as tmp:
        sink = SqliteSink(Path(tmp) / "bench.sqlite", "r-instructions")
        settings = WorkerSettings(host="127.0.0.1", port=1, batch_size=BATCH, sink_retry_s=0.0)
        loop = asyncio.get_running_loop()
        worker = IngestWorker(settings, sink, loop=loop, wall_ns=lambda: T0 + 5_000_000)
        v5 = MQTTVersion.V5
        session = ClientSession("ingest-bench", v5, 60, options=subscriber_options(settings))
        session.connect()
        session.receive_data(encode(ConnAck(False, 0), v5))
        link = MqttLink(session, worker)
        view = memoryview(stream)
        for reads, start in enumerate(range(0, len(stream), READ)):
            link.data_received(bytes(view[start : start + READ]))
            if reads % 10 == 0:
                await asyncio.sleep(0)  # let finished batches be counted, as the loop does
        await worker.stop()
        if worker.writer.committed_rows != count:
            raise SystemExit(f"stored {worker.writer.committed_rows} of {count} rows")


def instructions(code: Path, mode: str, path: Path, count: int) -> int:
    """Instructions callgrind counts for one child run of the tree at ``code``."""
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, str(Path(__file__).resolve()), "--child", mode, str(path), str(count),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run(command, cwd=code, env=env, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode or found is None:
        raise SystemExit(f"{code}: callgrind run failed:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    """Parse the options, count, print a line per tree."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000, help="messages counted")
    parser.add_argument("--base", type=int, default=2_000, help="messages of the shorter run")
    parser.add_argument(
        "--code", action="append", default=[], metavar="LABEL=DIR",
        help="a tree to count (repeatable; default: this one)",
    )  # fmt: skip
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, path, count = args.child
        child(mode, Path(path), int(count))
        return
    trees = [item.split("=", 1) for item in args.code] or [["this", "."]]
    low, high = args.base, args.base + args.messages
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "messages.pickle"
        prepare(high, path)
        here = Path.cwd()
        loading = instructions(here, "load", path, high) - instructions(here, "load", path, low)
        for label, code in trees:
            root = Path(code).resolve()
            store = instructions(root, "store", path, high) - instructions(root, "store", path, low)
            per_message = (store - loading) / args.messages
            print(f"{label}: {per_message:,.0f} instructions per stored message ({root})")


if __name__ == "__main__":
    main()
