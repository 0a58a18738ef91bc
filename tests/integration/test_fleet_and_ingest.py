"""Devices onboard and publish to a real Mosquitto; ingest accounts for every message."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import msgpack
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulator.broker import LocalBroker
from simulator.errors import BrokerUnreachableError
from simulator.report.json_report import CONTRACT_KEYS, get_path
from simulator.scenario import Scenario, validate_scenario
from tests.runs import run_here

pytestmark = pytest.mark.broker


def small_scenario(tmp_path: Path, url: str, **fleet: Any) -> Scenario:
    data: dict[str, Any] = {
        "name": "itest",
        "duration_s": 2.0,
        "broker": {"url": url, "mqtt_version": fleet.pop("mqtt_version", "5")},
        "fleet": {"devices": 200, "publish_interval_s": 0.25, **fleet},
        "onboarding": {"rate_per_s": 2000.0, "max_in_flight": 50},
        "ingest": {"sqlite_path": str(tmp_path / "itest.sqlite"), "drain_timeout_s": 10.0},
    }
    return validate_scenario(data, "<test>")


def run(scenario: Scenario) -> dict[str, Any]:
    report, said = run_here(scenario)
    assert "publishing" in said  # the live view printed at least one line
    return report


@pytest.mark.parametrize("version", ["5", "3.1.1"])
def test_every_published_message_is_ingested_and_stored(
    mosquitto: LocalBroker, tmp_path: Path, version: str
) -> None:
    scenario = small_scenario(tmp_path, mosquitto.url, mqtt_version=version)
    report = run(scenario)

    for key in CONTRACT_KEYS:
        get_path(report, key)  # raises KeyError if the contract is broken
    assert report["devices"] == {
        "target": 200,
        "connected": 200,
        "failed": 0,
        "failures_by_reason": {},
        "dropped_after_connect": 0,
        "drops_by_reason": {},
    }
    messages = report["messages"]
    # 200 devices every 0.25 s for at least 2 s after onboarding: at least 1,600 messages.
    assert messages["published"] >= 1600
    assert messages["ingested"] == messages["published"]
    assert messages["lost"] == 0
    assert messages["duplicated"] == 0
    assert messages["malformed"] == 0
    sink = report["sink"]
    assert (sink["kind"], sink["rows"]) == ("sqlite", messages["published"])
    assert (sink["committed_rows"], sink["failed_rows"], sink["errors"]) == (
        messages["published"],
        0,
        {},
    )
    assert report["latency_ms"]["p50"] is not None
    assert report["latency_ms"]["p50"] <= report["latency_ms"]["p99"] <= report["latency_ms"]["max"]
    assert report["process"]["rss_bytes_per_device"] is not None

    with sqlite3.connect(tmp_path / "itest.sqlite") as db:
        rows, devices, max_seq = db.execute(
            "SELECT count(*), count(DISTINCT device_id), max(seq) FROM telemetry"
        ).fetchone()
    assert rows == messages["published"]
    assert devices == 200
    assert max_seq >= 7


def test_an_independent_paho_subscriber_decodes_the_payloads(
    mosquitto: LocalBroker, tmp_path: Path
) -> None:
    received: list[tuple[str, dict[str, Any]]] = []
    subscribed = threading.Event()

    def on_connect(client: paho.Client, *_: Any) -> None:
        client.subscribe("factory/#", qos=0)

    def on_subscribe(*_: Any) -> None:
        subscribed.set()

    def on_message(_c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        received.append((message.topic, msgpack.unpackb(message.payload)))

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="paho-observer")
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    try:
        assert subscribed.wait(10)
        report = run(small_scenario(tmp_path, mosquitto.url, devices=20))
        deadline = time.monotonic() + 10
        while len(received) < report["messages"]["published"] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        client.loop_stop()
        client.disconnect()

    assert len(received) == report["messages"]["published"]
    by_device: dict[str, list[int]] = {}
    for topic, body in received:
        assert set(body) >= {"id", "seq", "ts", "v"}
        assert topic.startswith("factory/")
        assert topic.endswith(f"/{body['id']}/telemetry")
        assert {"temperature_c", "vibration_mm_s", "power_kw", "state"} <= set(body["v"])
        assert abs(body["ts"] - time.time_ns()) < 120 * 10**9
        by_device.setdefault(body["id"], []).append(body["seq"])
    assert len(by_device) == 20
    for seqs in by_device.values():
        assert sorted(seqs) == list(range(len(seqs)))


def test_an_unreachable_broker_is_a_clear_error_within_seconds(tmp_path: Path) -> None:
    from simulator.broker import free_port

    port = free_port("127.0.0.1")
    scenario = small_scenario(tmp_path, f"mqtt://127.0.0.1:{port}")
    with pytest.raises(BrokerUnreachableError, match=f"127.0.0.1:{port}"):
        run_here(scenario)


@pytest.mark.parametrize(("qos", "version"), [(1, "5"), (2, "5"), (2, "3.1.1")])
def test_acknowledged_qos_loses_and_duplicates_nothing(
    mosquitto: LocalBroker, tmp_path: Path, qos: int, version: str
) -> None:
    report = run(small_scenario(tmp_path, mosquitto.url, qos=qos, mqtt_version=version))
    messages = report["messages"]
    assert messages["published"] >= 1600
    assert messages["acked"] == messages["published"]
    assert messages["refused"] == 0
    assert messages["lost"] == 0
    assert messages["duplicated"] == 0


def test_devices_behind_gateways_are_counted_apart_from_connections(
    mosquitto: LocalBroker, tmp_path: Path
) -> None:
    report = run(small_scenario(tmp_path, mosquitto.url, devices_per_connection=25))
    assert report["devices"]["connected"] == 200
    assert report["connections"] == {
        "target": 8,
        "connected": 8,
        "failed": 0,
        "reconnects": 0,
        "dead": 0,
        "ingest_reconnects": 0,
        "tls_handshakes": None,  # plain TCP: nothing to count
        "tls_resumed": None,
    }
    assert report["messages"]["lost"] == 0
    assert report["messages"]["ingested"] == report["messages"]["published"]
