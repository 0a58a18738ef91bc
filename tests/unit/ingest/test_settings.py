"""The worker's settings cross to its process whole: every field, as JSON on standard input."""

from __future__ import annotations

import dataclasses

import pytest

from simulator.cli import _ingest_settings, build_parser
from simulator.ingest.settings import BrokerEndpoint, WorkerSettings, on_each_broker
from simulator.mqtt import MQTTVersion
from simulator.platform_side import ingest_settings
from simulator.provisioning import Policy
from simulator.scenario import validate_scenario
from simulator.scenario.broker_url import parse_broker_url
from simulator.transport.tls import TlsOptions

EVERY_FIELD_SET = WorkerSettings(
    host="broker.plant",
    port=8883,
    socket_path="/run/broker.sock",
    topic_filter="plant/#",
    share_group=None,
    mqtt_version=MQTTVersion.V311,
    client_id="ingest-x-3",
    keepalive_s=17,
    qos=2,
    payload="json",
    batch_size=77,
    batch_max_age_s=0.125,
    max_pending_batches=3,
    read_interval_s=0.005,
    connect_timeout_s=4.5,
    username="ingest",
    password="s3cret",
    session_expiry_s=900,
    tls=True,
    ca_file="ca.pem",
    cert_file="ingest.pem",
    key_file="ingest.key",
    verify=False,
    register_filter="onboarding/+/register",
    death_filter="onboarding/+/death",
    respond=Policy(7, 0.25, 0.125, {"qos": 2}),
    sparkplug_group="plant",
    partition=("factory/site-01/line-01/+/telemetry", "factory/site-02/line-01/+/telemetry"),
    worker_index=2,
    sink="postgresql://u:p@127.0.0.1:5432/db",
    run_id="q-20261207T000000Z-abc123",
    sink_retry_s=2.5,
    sink_busy_timeout_s=0.5,
    store_payloads=True,
    resume_from_sink=True,
    broker_number=1,
    broker_count=3,
    connection_blocks=((0, 1), (250, 4), (750, 7)),
    group_starts=(0, 250, 750),
)


def test_every_field_differs_from_its_default() -> None:
    # So the round trip below proves each field travels, not that defaults match defaults.
    defaults = WorkerSettings(host="h", port=1)
    for field in dataclasses.fields(WorkerSettings):
        if field.name in ("host", "port"):
            continue
        assert getattr(EVERY_FIELD_SET, field.name) != getattr(defaults, field.name), field.name


def test_settings_survive_json_whole() -> None:
    assert WorkerSettings.from_json(EVERY_FIELD_SET.to_json()) == EVERY_FIELD_SET


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "not valid"),
        ('{"host": "h", "mqtt_version": "V5"}', "port"),
        ('{"host": "h", "port": 1}', "mqtt_version"),
        ('{"host": "h", "port": 1, "mqtt_version": "V9"}', "V9"),
        ('{"host": "h", "port": 1, "mqtt_version": "V5", "colour": 1}', "colour"),
    ],
)
def test_bad_settings_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        WorkerSettings.from_json(text)


def test_workers_go_once_to_each_broker_of_a_pool() -> None:
    parts = [
        WorkerSettings(host="first", port=1, client_id="run-ingest-0", worker_index=0),
        WorkerSettings(host="first", port=1, client_id="run-ingest-1", worker_index=1),
    ]
    pooled = on_each_broker(
        parts, [BrokerEndpoint("a", 1001, "/run/a.sock"), BrokerEndpoint("b", 1002)]
    )
    assert [(w.host, w.port, w.socket_path, w.client_id, w.worker_index) for w in pooled] == [
        ("a", 1001, "/run/a.sock", "run-ingest-0", 0),
        ("a", 1001, "/run/a.sock", "run-ingest-1", 1),
        ("b", 1002, None, "run-ingest-0-b1", 0),
        ("b", 1002, None, "run-ingest-1-b1", 1),
    ]
    assert [(w.broker_number, w.broker_count) for w in pooled] == [(0, 2), (0, 2), (1, 2), (1, 2)]
    alone = on_each_broker(parts, [BrokerEndpoint("a", 1001)])
    assert [(w.host, w.client_id, w.broker_number, w.broker_count) for w in alone] == [
        ("a", "run-ingest-0", 0, 1),
        ("a", "run-ingest-1", 0, 1),
    ]


def test_a_scenarios_ingest_keys_reach_the_workers_settings() -> None:
    scenario = validate_scenario(
        {
            "name": "keys",
            "duration_s": 1.0,
            "fleet": {
                "devices": 30,
                "publish_interval_s": 1.0,
                "mix": [
                    {"model": "machine-sensor", "count": 10},
                    {"model": "cnc-machine", "count": 20, "devices_per_connection": 4},
                ],
            },
            "ingest": {"read_interval_ms": 7.5, "batch_max_age_ms": 40},
        },
        "<test>",
    )
    settings = ingest_settings(
        scenario,
        parse_broker_url("mqtt://127.0.0.1:1883"),
        TlsOptions(),
        prefix="q-",
        run_id="r",
    )
    assert settings.read_interval_s == pytest.approx(0.0075)
    assert settings.batch_max_age_s == pytest.approx(0.04)
    assert settings.connection_blocks == ((0, 1), (10, 4))
    assert settings.group_starts == (0, 10)


def test_the_read_interval_defaults_to_two_milliseconds() -> None:
    scenario = validate_scenario(
        {"name": "default", "duration_s": 1.0, "fleet": {"devices": 1, "publish_interval_s": 1.0}},
        "<test>",
    )
    assert scenario.ingest.read_interval_ms == 2.0
    assert WorkerSettings(host="h", port=1).read_interval_s == 0.002


def test_the_ingest_command_s_unix_socket_reaches_the_settings() -> None:
    def settings(*flags: str) -> WorkerSettings:
        args = build_parser().parse_args(["ingest", "--broker", "mqtt://b.plant:1884", *flags])
        built = _ingest_settings(args)
        assert isinstance(built, WorkerSettings)
        return built

    over_socket = settings("--unix-socket", "/run/mosquitto/ingest.sock")
    assert (over_socket.host, over_socket.port) == ("b.plant", 1884)
    assert over_socket.socket_path == "/run/mosquitto/ingest.sock"
    assert settings().socket_path is None
