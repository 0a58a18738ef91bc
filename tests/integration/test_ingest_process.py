"""The ingest worker as its own process against a real Mosquitto, fed by paho-mqtt."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path

import msgpack
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulator.broker import LocalBroker
from simulator.errors import IngestChildError
from simulator.ingest.child import IngestChild
from simulator.ingest.settings import WorkerSettings
from simulator.metrics.ingest import IngestSnapshot
from simulator.mqtt import MQTTVersion
from simulator.payloads.registration import LEFT, LOST, Death, encode_death
from simulator.sinks.url import parse_sink_url
from tests.unit.ingest.test_settings import EVERY_FIELD_SET
from tests.waiting import wait_until

pytestmark = pytest.mark.broker


def telemetry(device: str, seq: int, ts_ns: int) -> bytes:
    return msgpack.packb({"id": device, "seq": seq, "ts": ts_ns, "v": {"temperature_c": 21.5}})


def publish_all(broker: LocalBroker, messages: list[tuple[str, bytes]]) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="paho-publisher")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()


async def fed_child(
    settings: WorkerSettings,
    broker: LocalBroker,
    messages: list[tuple[str, bytes]],
    done: Callable[[IngestChild], bool],
    what: str,
) -> IngestSnapshot:
    """An ingest child process on ``settings``, fed ``messages`` through ``broker`` once it
    has started, stopped once ``done`` holds for it (``what`` says what is awaited); its
    final figures."""
    child = IngestChild(settings)
    await child.start()
    try:
        await asyncio.to_thread(publish_all, broker, messages)
        await wait_until(lambda: done(child), what, 10)
        return await child.stop()
    finally:
        await child.kill()


async def ingest_messages(
    broker: LocalBroker, sqlite_path: Path, messages: list[tuple[str, bytes]], version: MQTTVersion
) -> IngestSnapshot:
    settings = WorkerSettings(
        host=broker.host,
        port=broker.port,
        mqtt_version=version,
        batch_size=3,
        batch_max_age_s=0.05,
        sink=f"sqlite:///{sqlite_path}",
        run_id="process-test",
    )
    # 7 of the messages decode: 6 new ones and a duplicate, all to be committed.
    return await fed_child(
        settings, broker, messages, lambda c: c.resolved >= 6, "6 distinct messages resolved"
    )


@pytest.mark.parametrize("version", [MQTTVersion.V5, MQTTVersion.V311])
def test_worker_classifies_every_message_and_keeps_malformed_ones(
    mosquitto: LocalBroker, tmp_path: Path, version: MQTTVersion
) -> None:
    topic = "factory/site-01/line-01/{}/telemetry"
    now = 1_700_000_000_000_000_000
    messages = [
        (topic.format("a"), telemetry("a", 0, now)),
        (topic.format("a"), telemetry("a", 1, now)),
        (topic.format("a"), telemetry("a", 3, now)),  # 2 missing for now
        (topic.format("a"), telemetry("a", 2, now)),  # late: out of order, no longer missing
        (topic.format("a"), telemetry("a", 3, now)),  # seen before: duplicated
        (topic.format("b"), telemetry("b", 0, now)),
        (topic.format("b"), telemetry("b", 2, now)),  # 1 never arrives
        (topic.format("c"), b"\xc1 not msgpack"),
        (topic.format("c"), msgpack.packb({"id": "c"})),  # decodes, but is no telemetry
    ]
    sqlite_path = tmp_path / "ingest.sqlite"
    final = asyncio.run(ingest_messages(mosquitto, sqlite_path, messages, version))

    assert final.received == 7
    assert final.unique == 6
    assert final.duplicated == 1
    assert final.out_of_order == 1
    assert final.missing == 1
    assert final.malformed == 2
    assert final.committed_rows == 7
    assert final.committed_unique == 6
    assert final.failed_rows == 0
    assert final.latency_us.count == 7
    with sqlite3.connect(sqlite_path) as db:
        assert db.execute(
            "SELECT count(*) FROM telemetry WHERE run_id = 'process-test'"
        ).fetchone() == (7,)
        kept = db.execute("SELECT topic, payload FROM malformed ORDER BY recv_ns").fetchall()
    assert [t for t, _ in kept] == [topic.format("c")] * 2
    assert kept[0][1] == b"\xc1 not msgpack"


def test_a_worker_given_the_broker_s_unix_socket_reads_over_it(tmp_path: Path) -> None:
    """The TCP port the settings name refuses connections: every row stored came over the
    socket, from messages the devices published over TCP to the same broker."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening
    topic = "factory/site-01/line-01/{}/telemetry"
    now = 1_700_000_000_000_000_000
    messages = [(topic.format(d), telemetry(d, seq, now)) for d in "abc" for seq in range(4)]
    with LocalBroker(unix_socket=True) as broker:
        assert broker.socket_path is not None
        settings = WorkerSettings(
            host="127.0.0.1",
            port=closed.getsockname()[1],
            socket_path=str(broker.socket_path),
            batch_size=5,
            batch_max_age_s=0.05,
            sink=f"sqlite:///{tmp_path / 'unix.sqlite'}",
            run_id="unix-test",
        )
        try:
            final = asyncio.run(
                fed_child(
                    settings,
                    broker,
                    messages,
                    lambda c: c.committed >= 12,
                    "12 messages committed",
                )
            )
        finally:
            closed.close()
    assert (final.unique, final.committed_rows, final.missing) == (12, 12, 0)


def test_worker_counts_the_devices_each_death_names(mosquitto: LocalBroker, tmp_path: Path) -> None:
    deaths = [
        ("onboarding/gw-00000/death", encode_death(Death(("ms-000000",), "gw-00000", LEFT, 1))),
        ("onboarding/gw-00000/death", encode_death(Death(("ms-000001",), "gw-00000", LEFT, 1))),
        ("onboarding/gw-00001/death", encode_death(Death(("a", "b", "c"), "gw-00001", LOST, 1))),
        ("onboarding/gw-00002/death", b"offline"),
    ]

    async def run() -> IngestSnapshot:
        settings = WorkerSettings(
            host=mosquitto.host,
            port=mosquitto.port,
            death_filter="onboarding/+/death",
            sink=f"sqlite:///{tmp_path / 'ingest.sqlite'}",
        )
        return await fed_child(
            settings, mosquitto, deaths, lambda c: c.deaths_left >= 2, "2 deaths heard"
        )

    final = asyncio.run(run())
    assert final.deaths == {"left": 2, "lost": 3, "invalid": 1}
    assert final.received == 0  # deaths are not telemetry
    assert final.malformed == 0


def test_every_setting_reaches_the_worker_process(tmp_path: Path) -> None:
    """The worker echoes what it read from its standard input before it connects anywhere."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: the worker's connect is refused
    port = closed.getsockname()[1]
    settings = dataclasses.replace(
        EVERY_FIELD_SET,
        host="127.0.0.1",
        port=port,
        tls=False,
        connect_timeout_s=1.0,
        sink=f"sqlite:///{tmp_path / 'echo.sqlite'}",
    )

    async def attempt() -> IngestChild:
        child = IngestChild(settings)
        with pytest.raises(IngestChildError):
            await child.start(timeout_s=30)
        await child.kill()
        return child

    try:
        child = asyncio.run(attempt())
    finally:
        closed.close()
    sent = json.loads(settings.to_json())
    sent["password"] = "***"
    sent["sink"] = parse_sink_url(settings.sink).display()
    assert child.echoed == sent
