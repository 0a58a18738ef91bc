"""A broker restart with persistence on loses no QoS 1 message: duplicates counted, none lost.

The fleet and the ingest worker keep their sessions (MQTT 5: clean start off after the first
connect and a session expiry; 3.1.1: clean session 0); Mosquitto is stopped with SIGTERM, so
it writes its database, and started again on the same port and database while devices are
publishing. Devices resend what the broker had not acknowledged; the broker resends what it
had not seen acknowledged by ingest and delivers what it queued for ingest meanwhile.

Mosquitto 2.0.11 does not write *shared* subscriptions to its database (pinned below with
paho-mqtt alone): after a restart a subscriber's kept session comes back without its
``$share/...`` subscription until it subscribes again, and what devices publish in between
is acknowledged to them with 0x10 *No matching subscribers* and dropped. So the guarantee
holds for a plain subscription, which is what one ingest worker needs.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties as PahoProperties

from simulator.broker import LocalBroker, free_port
from simulator.engine.fleet import Fleet
from simulator.errors import BrokerLaunchError
from simulator.ingest.child import IngestChild
from simulator.ingest.settings import WorkerSettings
from simulator.metrics.ingest import IngestSnapshot
from simulator.mqtt import MQTTVersion
from simulator.scenario import OnboardingPlan
from tests.fleets import live_fleet
from tests.integration.restarts import restart_scenario, whole_run_through_restart
from tests.waiting import wait_until

pytestmark = pytest.mark.broker

DEVICES = 12
INTERVAL_S = 0.2
WAIT_S = 15.0
"""Upper bound on any wait below; a healthy loopback run needs well under a second."""
NO_MATCHING_SUBSCRIBERS = 0x10
V311, V5 = MQTTVersion.V311, MQTTVersion.V5


@pytest.fixture
def broker_db() -> Iterator[Path]:
    """A directory for Mosquitto's database that the user it drops root to can reach.

    Not ``tmp_path``: run as root, pytest puts that under a directory only root may enter.
    """
    directory = Path(tempfile.mkdtemp(prefix="factory-sim-test-db-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Outcome:
    published_before_stop: int
    published: int
    acked: int
    discarded: int
    reconnects: int
    ingest: IngestSnapshot
    seqs: dict[str, list[int]]
    published_by_device: dict[str, int]


async def _until(check: Any, timeout_s: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def run_through_restart(tmp_path: Path, broker_db: Path, version: MQTTVersion) -> Outcome:
    port = free_port()
    database = broker_db
    broker = LocalBroker(port=port, persistence_dir=database)
    await asyncio.to_thread(broker.start)
    kept = {"clean_start": False} | ({"session_expiry_s": 300} if version is V5 else {})
    scenario = restart_scenario(
        "restart-persist",
        port,
        duration_s=1.0,
        broker={"mqtt_version": "5" if version is V5 else "3.1.1", **kept},
        fleet={"devices": DEVICES, "publish_interval_s": INTERVAL_S, "qos": 1},
        onboarding={"max_in_flight": 10},
        ingest={"enabled": False},
    )
    settings = WorkerSettings(
        host="127.0.0.1",
        port=port,
        share_group=None,
        mqtt_version=version,
        client_id="ingest-restart",
        qos=1,
        session_expiry_s=300,
        batch_max_age_s=0.05,
        sink=f"sqlite:///{tmp_path / 'ingest.sqlite'}",
    )
    ingest = IngestChild(settings)
    fleet: Fleet | None = None
    try:
        await ingest.start()
        fleet = live_fleet(scenario)
        fleet.build()
        await fleet.onboard(OnboardingPlan(DEVICES, 1000.0))
        published = fleet.published_by_device
        # Mid-run: every device has published a few messages.
        assert await _until(lambda: len(published()) == DEVICES and min(published().values()) >= 3)
        published_before_stop = fleet.counters.published
        await asyncio.to_thread(broker.stop)  # SIGTERM: Mosquitto writes its database
        await asyncio.sleep(0.5)  # the fault itself: nothing listens for half a second
        broker = LocalBroker(port=port, persistence_dir=database)
        await asyncio.to_thread(broker.start)
        assert await _until(lambda: fleet is not None and fleet.connected == DEVICES)
        resumed = fleet.counters.published
        # Publishing goes on after the restart: a few more messages per device.
        assert await _until(lambda: fleet.counters.published >= resumed + 3 * DEVICES)
        fleet.stop_publishing()
        assert await _until(
            lambda: fleet is not None and fleet.counters.acked >= fleet.counters.published
        )
        published_all = fleet.counters.published
        await wait_until(lambda: ingest.resolved >= published_all, "every message resolved", WAIT_S)
        counters = fleet.counters
        by_device = fleet.published_by_device()
        await fleet.disconnect_all()
        final = await ingest.stop()
    finally:
        if fleet is not None:
            fleet.stop_publishing()
            await fleet.disconnect_all()
        if ingest.final is None:
            await ingest.kill()
        await asyncio.to_thread(broker.stop)
    with sqlite3.connect(tmp_path / "ingest.sqlite") as db:
        seqs: dict[str, list[int]] = {}
        for device_id, seq in db.execute("SELECT device_id, seq FROM telemetry ORDER BY seq"):
            seqs.setdefault(device_id, []).append(seq)
    return Outcome(
        published_before_stop,
        counters.published,
        counters.acked,
        counters.discarded,
        counters.reconnects,
        final,
        seqs,
        by_device,
    )


@pytest.mark.parametrize("version", [V5, V311], ids=["5.0", "3.1.1"])
def test_a_broker_restart_with_persistence_loses_no_qos1_message(
    tmp_path: Path, broker_db: Path, version: MQTTVersion
) -> None:
    out = asyncio.run(run_through_restart(tmp_path, broker_db, version))

    # The restart really happened mid-run, to every connection.
    assert 0 < out.published_before_stop < out.published
    assert out.reconnects == DEVICES
    assert out.ingest.reconnects == 1
    # Every device's session was resumed and every message acknowledged by the broker ...
    assert out.discarded == 0
    assert out.acked == out.published
    # ... and every message reached ingest: each device's sequence is complete.
    assert out.ingest.unique == out.published
    assert out.ingest.missing == 0
    for device_id, count in out.published_by_device.items():
        assert sorted(set(out.seqs[device_id])) == list(range(count)), device_id
    # Redelivery is allowed and counted, never hidden.
    rows = sum(len(seqs) for seqs in out.seqs.values())
    assert out.ingest.duplicated == rows - out.published


def test_a_whole_run_through_a_persistent_broker_restart_loses_nothing(
    tmp_path: Path, broker_db: Path
) -> None:
    """The same through ``run`` (the Runner): it keeps the ingest session and subscribes it
    plainly when the scenario keeps sessions, so the report says 0 lost."""
    # The stop is a SIGTERM, so Mosquitto writes its database before it exits.
    report = whole_run_through_restart(
        "run-restart-persist",
        tmp_path / "r.sqlite",
        duration_s=4.0,
        broker={"clean_start": False, "session_expiry_s": 300},
        fleet={"devices": DEVICES, "publish_interval_s": INTERVAL_S, "qos": 1},
        drain_timeout_s=WAIT_S,
        persistence_dir=broker_db,
    )
    assert report["connections"]["reconnects"] == DEVICES
    assert report["connections"]["ingest_reconnects"] == 1
    messages = report["messages"]
    assert messages["discarded"] == 0
    assert messages["acked"] == messages["published"] > 0
    assert messages["ingested"] == messages["published"]
    assert messages["lost"] == 0


# What Mosquitto itself keeps: paho-mqtt alone on both ends, no code of ours but the launcher.


def _paho(client_id: str, port: int, *, resume: bool, expiry_s: int = 0) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    properties = PahoProperties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = expiry_s
    client.connect("127.0.0.1", port, clean_start=not resume, properties=properties)
    return client


def _subscribe_and_leave(port: int, topic_filter: str, *, resume: bool) -> None:
    subscribed = threading.Event()
    client = _paho("keeper", port, resume=resume, expiry_s=300)
    client.on_subscribe = lambda *_: subscribed.set()
    client.loop_start()
    client.subscribe(topic_filter, qos=1)
    assert subscribed.wait(WAIT_S)
    client.disconnect()
    client.loop_stop()


def _publish(port: int) -> int:
    acked: list[int] = []
    done = threading.Event()

    def on_publish(_c: Any, _u: Any, _mid: int, reason: Any, _p: Any) -> None:
        acked.append(reason.value)
        done.set()

    client = _paho("publisher", port, resume=False)
    client.on_publish = on_publish
    client.loop_start()
    client.publish("factory/s/l/d/telemetry", b"while away", qos=1)
    assert done.wait(WAIT_S)
    client.disconnect()
    client.loop_stop()
    return acked[0]


def _come_back(port: int, wait_s: float) -> list[bytes]:
    received: list[bytes] = []
    client = _paho("keeper", port, resume=True, expiry_s=300)
    client.on_message = lambda _c, _u, message: received.append(bytes(message.payload))
    client.loop_start()
    deadline = time.monotonic() + wait_s
    while not received and time.monotonic() < deadline:
        time.sleep(0.05)
    client.disconnect()
    client.loop_stop()
    return received


@pytest.mark.parametrize(
    ("topic_filter", "begun_resuming", "kept"),
    [
        ("factory/#", True, True),
        ("$share/ingest/factory/#", True, False),
        ("factory/#", False, False),
    ],
    ids=["plain", "shared", "begun-with-clean-start"],
)
def test_what_mosquitto_keeps_of_a_session_across_a_restart(
    broker_db: Path, topic_filter: str, begun_resuming: bool, kept: bool
) -> None:
    """A kept 5.0 session (expiry 300 s) subscribes, leaves; the broker restarts; a message
    is published; the session comes back. Mosquitto 2.0.11 delivers it only for a plain
    subscription made on a connection that asked for clean start 0: it writes neither
    shared subscriptions nor sessions begun with clean start 1 to its database."""
    port = free_port()
    broker = LocalBroker(port=port, persistence_dir=broker_db)
    broker.start()
    try:
        _subscribe_and_leave(port, topic_filter, resume=begun_resuming)
        broker.stop()
        broker = LocalBroker(port=port, persistence_dir=broker_db)
        broker.start()
        reason = _publish(port)
        # A lost subscription cannot be told from a slow one by waiting; the PUBACK's reason
        # code says at once whether the broker had anyone to deliver to.
        received = _come_back(port, WAIT_S if kept else 1.0)
    finally:
        broker.stop()
    if kept:
        assert reason == 0
        assert received == [b"while away"]
    else:
        assert reason == NO_MATCHING_SUBSCRIBERS
        assert received == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root-started Mosquitto drops to a user")
def test_a_database_directory_the_broker_user_cannot_reach_is_refused(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)  # as pytest's own base directory for root is
    with pytest.raises(BrokerLaunchError, match="cannot enter"):
        LocalBroker(persistence_dir=tmp_path / "db").start()
