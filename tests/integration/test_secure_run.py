"""A whole run against the secure Mosquitto profile: TLS, per-device passwords, the ACL."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.broker import INGEST_USER, SecureBroker, make_pki
from simulator.errors import BrokerUnreachableError
from simulator.mqtt import ClientSession, MQTTVersion
from simulator.report.json_report import as_dict
from simulator.runner import Runner
from simulator.scenario import validate_scenario
from simulator.transport.connection import MqttLink
from simulator.transport.connector import Connector
from simulator.transport.tls import TlsOptions, client_context
from simulator.transport.tls_link import TlsLayer
from tests.link_listener import RecordingListener
from tests.runs import run_config

pytestmark = pytest.mark.broker

DEVICES = 20


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    users = {f"ms-{i:06d}": f"ms-{i:06d}-pw" for i in range(DEVICES)}
    users[INGEST_USER] = "ingest-pw"
    with SecureBroker(pki, users) as broker:
        yield broker


def run(
    broker: SecureBroker,
    tmp_path: Path,
    url: str,
    faults: list[dict[str, Any]] | None = None,
    **fleet: Any,
) -> dict[str, Any]:
    scenario = validate_scenario(
        {
            "name": "secure",
            "duration_s": 1.5,
            "broker": {"url": url},
            "fleet": {"devices": DEVICES, "publish_interval_s": 0.25, "qos": 1, **fleet},
            "onboarding": {"rate_per_s": 500.0, "max_in_flight": 10, "connect_timeout_s": 5.0},
            "ingest": {
                "sqlite_path": str(tmp_path / "secure.sqlite"),
                "username": INGEST_USER,
                "password": "ingest-pw",
                "drain_timeout_s": 5.0,
            },
            "faults": faults or [],
        },
        "<test>",
    )
    config = dataclasses.replace(run_config(scenario), tls=TlsOptions(ca_file=broker.ca_path))
    runner = Runner(config, out=io.StringIO())
    return as_dict(asyncio.run(runner.run()))


def tls_url(broker: SecureBroker, credentials: str) -> str:
    return f"mqtts://{credentials}@localhost:{broker.tls_port}"


def test_tls_with_per_device_passwords_delivers_everything(
    secure: SecureBroker, tmp_path: Path
) -> None:
    report = run(secure, tmp_path, tls_url(secure, "{device}:{device}-pw"))
    assert report["devices"]["connected"] == DEVICES
    assert report["broker"]["url"].startswith("mqtts://{device}:***@localhost:")
    messages = report["messages"]
    assert messages["published"] > 0
    assert messages["acked"] == messages["published"]
    assert messages["lost"] == 0


def test_through_the_fault_relay_the_certificate_is_checked_against_the_broker_s_name(
    tmp_path: Path,
) -> None:
    # A certificate for "localhost" alone: the fleet connects to the relay at 127.0.0.1, and
    # must still check the broker's own name, not the address it connected to.
    pki = make_pki(tmp_path / "pki", server_names=("localhost",))
    users = {f"ms-{i:06d}": f"ms-{i:06d}-pw" for i in range(DEVICES)}
    users[INGEST_USER] = "ingest-pw"
    network = {"kind": "network", "at_s": 0.0, "duration_s": 60.0, "latency_ms": 20.0}
    with SecureBroker(pki, users) as broker:
        report = run(broker, tmp_path, tls_url(broker, "{device}:{device}-pw"), [network])
    assert report["devices"]["connected"] == DEVICES
    assert report["faults"][0]["detail"] == "+20 ms for 60 s"
    messages = report["messages"]
    assert messages["published"] > 0
    assert messages["lost"] == 0
    assert report["latency_ms"]["p50"] >= 20


def test_wrong_passwords_fail_every_device_with_the_brokers_reason(
    secure: SecureBroker, tmp_path: Path
) -> None:
    from simulator.errors import BrokerRefusedError

    with pytest.raises(BrokerRefusedError, match="refused the first 20 connects") as caught:
        run(secure, tmp_path, tls_url(secure, "{device}:wrong"))
    assert caught.value.reason_code == 0x87
    assert "ms-0000" in str(caught.value)  # names the device whose connect was refused


def test_publishing_outside_its_own_topics_is_refused_and_counted(
    secure: SecureBroker, tmp_path: Path
) -> None:
    report = run(
        secure,
        tmp_path,
        tls_url(secure, "{device}:{device}-pw"),
        topic="factory/{site}/{line}/someone-else/telemetry",
    )
    messages = report["messages"]
    assert messages["published"] > 0
    assert messages["refused"] == messages["published"]
    assert messages["acked"] == 0
    assert messages["lost"] == messages["published"]


def test_connections_after_the_first_resume_its_tls_session(
    secure: SecureBroker, tmp_path: Path
) -> None:
    report = run(secure, tmp_path, tls_url(secure, "{device}:{device}-pw"))
    connections = report["connections"]
    assert report["devices"]["connected"] == DEVICES
    assert connections["tls_handshakes"] == DEVICES
    # Only the connects that start before the first CONNACK (at most max_in_flight, 10) have
    # no session to offer; every later one resumes the latest connection's.
    assert connections["tls_resumed"] >= DEVICES - 10
    assert report["messages"]["lost"] == 0


class _Now:
    def start_s(self, index: int) -> float:
        return 0.0


def connect_once(host: str, port: int, ca_file: Path, tls_layer: TlsLayer) -> None:
    """One connect through the engine's connector; raises why it failed."""
    connector = Connector(
        host,
        port,
        max_in_flight=1,
        timeout_s=5.0,
        ssl_context=client_context(TlsOptions(ca_file=ca_file)),
        tls_layer=tls_layer,
    )
    session = ClientSession("ms-000000", MQTTVersion.V5, 60, username="ms-000000")

    async def main() -> None:
        await connector.run(
            1, _Now(), lambda _: MqttLink(session, RecordingListener()), lambda _: None
        )

    asyncio.run(main())


# The same failure labels whichever layer does TLS.
LAYERS = pytest.mark.parametrize("tls_layer", ["resume", "asyncio"])


@LAYERS
def test_a_broker_certificate_from_another_ca_is_a_clear_error(
    secure: SecureBroker, tmp_path: Path, tls_layer: TlsLayer
) -> None:
    stranger = make_pki(tmp_path / "other-pki")
    with pytest.raises(BrokerUnreachableError) as caught:
        connect_once("localhost", secure.tls_port, stranger.ca_path, tls_layer)
    assert "TLS certificate rejected (unable to get local issuer certificate)" in str(caught.value)


@LAYERS
def test_a_name_the_broker_certificate_does_not_carry_is_a_clear_error(
    secure: SecureBroker, tls_layer: TlsLayer
) -> None:
    # "127.1" reaches the broker's loopback listener, but is not a name its certificate has.
    with pytest.raises(BrokerUnreachableError) as caught:
        connect_once("127.1", secure.tls_port, secure.ca_path, tls_layer)
    assert "TLS certificate rejected (Hostname mismatch" in str(caught.value)
