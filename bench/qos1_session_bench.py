"""What one QoS 1 message costs the sans-I/O session: the PUBLISH out and its PUBACK in.

One MQTT 5 session publishes from a pre-encoded prefix (a 40-byte topic, a 110-byte
payload), then reads the short PUBACKs Mosquitto writes (``40 02 id id``), either one per
read (one message in flight per device, the benchmark's case) or five per read (a gateway
whose messages went out in one write). No socket and no event loop: the protocol work
alone. Each figure is the best of several repeats.

Run from the repository root: ``python -m bench.qos1_session_bench``; prints a markdown table.
"""

from __future__ import annotations

import argparse
import platform
import time

from simulator.mqtt import ClientSession, ConnAck, MQTTVersion, PubAckReceived, encode

V5 = MQTTVersion.V5
TOPIC = "plant-01/line-03/cell-07/press-00123/tel"
PAYLOAD = bytes(110)


def round_trips(messages: int, per_read: int) -> tuple[float, float]:
    """Nanoseconds per message spent publishing and spent on the acknowledgements."""
    session = ClientSession("dev-1", V5, 60)
    session.connect()
    session.receive_data(encode(ConnAck(), V5))
    prefix = session.topic_prefix(TOPIC)
    publish = session.publish_prefixed
    receive = session.receive_data
    clock = time.perf_counter
    publishing = acknowledging = 0.0
    acked = 0
    for _ in range(messages // per_read):
        start = clock()
        sent = [publish(prefix, PAYLOAD, 1) for _ in range(per_read)]
        middle = clock()
        # The packet id sits just before the payload and the one-byte property block.
        acks = b"".join(b"\x40\x02" + packet[-113:-111] for packet in sent)
        again = clock()
        for event in receive(acks):
            if type(event) is PubAckReceived and event.reason_code < 0x80:
                acked += 1
        acknowledging += clock() - again
        publishing += middle - start
    assert acked == messages // per_read * per_read
    return publishing / acked * 1e9, acknowledging / acked * 1e9


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000, help="messages per run")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"Python {platform.python_version()} on {platform.machine()}, ", end="")
    print(f"{args.messages} messages per run, best of {args.repeats}\n")
    print("| PUBACKs per read | publish ns/message | PUBACK ns/message |")
    print("|--:|--:|--:|")
    for per_read in (1, 5):
        runs = [round_trips(args.messages, per_read) for _ in range(args.repeats)]
        publish = min(run[0] for run in runs)
        ack = min(run[1] for run in runs)
        print(f"| {per_read} | {publish:,.0f} | {ack:,.0f} |")


if __name__ == "__main__":
    main()
