"""Encode and decode rates of our MQTT codec against the ``mqtt5`` package (Rust).

Workload: QoS 0 PUBLISH, MQTT 5, a 40-byte topic and a 120-byte payload, the shape a
device sends. Decoding runs over one buffer holding 1,000 packets, as one TCP read at the
ingest subscriber would. Each figure is the best of several repeats on this machine.

Run from the repository root: ``python -m bench.codec_bench``; prints a markdown table.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import mqtt5

from simulator.mqtt import (
    ClientSession,
    ConnAck,
    ConnectOptions,
    Decoder,
    MQTTVersion,
    Properties,
    Publish,
    decode,
    encode,
)

V5 = MQTTVersion.V5
TOPIC = "plant-01/line-03/cell-07/press-00123/tel"
PAYLOAD = bytes(range(120))
BATCH = 1_000


def connected_session(topic_aliases: bool) -> ClientSession:
    """A 5.0 session past its CONNACK, with the broker allowing 10 topic aliases."""
    session = ClientSession("bench", V5, 0, options=ConnectOptions(topic_aliases=topic_aliases))
    session.connect()
    session.receive_data(encode(ConnAck(False, 0, Properties(topic_alias_maximum=10)), V5))
    return session


def best_rate(run: Callable[[], int], repeats: int) -> float:
    """Messages per second of the fastest of ``repeats`` runs; ``run`` returns its count."""
    best = float("inf")
    count = 0
    for _ in range(repeats):
        start = time.perf_counter()
        count = run()
        best = min(best, time.perf_counter() - start)
    return count / best


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000, help="messages per run")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n: int = args.messages
    batches = max(n // BATCH, 1)
    assert len(TOPIC.encode()) == 40

    session = connected_session(topic_aliases=False)
    aliased = connected_session(topic_aliases=True)
    prefix = session.topic_prefix(TOPIC)
    wire = session.publish_prefixed(prefix, PAYLOAD)
    aliased.publish_prefixed(prefix, PAYLOAD)  # the first carries the topic, later ones not
    assert (
        wire == mqtt5.PublishPacket(TOPIC, PAYLOAD).write() == encode(Publish(TOPIC, PAYLOAD), V5)
    )
    stream = wire * BATCH
    view = memoryview(stream)

    def ours_hot_encode() -> int:
        publish = session.publish_prefixed
        for _ in range(n):
            publish(prefix, PAYLOAD)
        return n

    def ours_aliased_encode() -> int:
        publish = aliased.publish_prefixed
        for _ in range(n):
            publish(prefix, PAYLOAD)
        return n

    def ours_general_encode() -> int:
        for _ in range(n):
            encode(Publish(TOPIC, PAYLOAD), V5)
        return n

    def mqtt5_encode() -> int:
        for _ in range(n):
            mqtt5.PublishPacket(TOPIC, PAYLOAD).write()
        return n

    def ours_decode() -> int:
        size = len(stream)
        for _ in range(batches):
            offset = 0
            while offset < size:
                result = decode(stream, V5, offset=offset)
                assert result is not None
                offset += result[1]
        return batches * BATCH

    def ours_decoder() -> int:
        decoder = Decoder(V5)
        count = 0
        for _ in range(batches):
            decoder.feed(stream)
            for _packet in decoder:
                count += 1
        return count

    def mqtt5_decode() -> int:
        size = len(stream)
        for _ in range(batches):
            offset = 0
            while offset < size:
                offset += mqtt5.read(view[offset:])[1]
        return batches * BATCH

    rows = [
        ("encode", "ours: `session.publish_prefixed(prefix, payload)`", ours_hot_encode),
        ("encode", "ours: the same with a topic alias", ours_aliased_encode),
        ("encode", "ours: `encode(Publish(...), V5)`", ours_general_encode),
        ("encode", "mqtt5: `PublishPacket(...).write()`", mqtt5_encode),
        ("decode", "ours: `decode(buf, V5, offset=...)`", ours_decode),
        ("decode", "ours: `Decoder.feed()` + iterate", ours_decoder),
        ("decode", "mqtt5: `read(memoryview[offset:])`", mqtt5_decode),
    ]
    print(f"Python {platform.python_version()} on {platform.machine()}, ", end="")
    print(f"{n} messages per run, best of {args.repeats}\n")
    print("| op | implementation | messages/s | ns/message |")
    print("|---|---|---:|---:|")
    for op, name, run in rows:
        rate = best_rate(run, args.repeats)
        print(f"| {op} | {name} | {rate:,.0f} | {1e9 / rate:,.0f} |")


if __name__ == "__main__":
    main()
