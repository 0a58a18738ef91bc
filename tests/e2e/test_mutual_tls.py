"""Mutual TLS with a certificate per device, through the command line, against a real Mosquitto.

The secure profile's mutual-TLS listener makes each certificate's common name the MQTT user
name, and its ACL lets a user write only under ``factory/+/+/<user>/#``: so a device that
presents its own certificate publishes, and one that presents another device's is refused.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.broker import INGEST_USER, KeyPair, Pki, SecureBroker, make_pki, write_device_certs
from tests.commands import simulator

pytestmark = pytest.mark.broker

DEVICES = [f"ms-{i:06d}" for i in range(5)]
GATEWAYS = ["gw-00000", "gw-00001"]
TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def certs(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """One certificate per device and gateway, and the ingest worker's (CN ``ingest``)."""
    ids = [*DEVICES, *GATEWAYS, INGEST_USER]
    return write_device_certs(pki, ids, tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def broker(pki: Pki) -> Iterator[SecureBroker]:
    with SecureBroker(pki) as broker:
        yield broker


def run(
    tmp_path: Path, broker: SecureBroker, certs: KeyPair, **fleet: Any
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    """``python -m simulator run`` over mutual TLS with ``certs``; the result and its report."""
    settings = {"devices": len(DEVICES), "publish_interval_s": 0.25, "qos": 1, **fleet}
    fleet_lines = "\n".join(f"{key} = {json.dumps(value)}" for key, value in settings.items())
    scenario = tmp_path / "mtls.toml"
    scenario.write_text(
        f"""name = "mtls"
duration_s = 1.5

[broker]
mqtt_version = "5"

[fleet]
{fleet_lines}

[onboarding]
rate_per_s = 500.0
max_in_flight = 10
connect_timeout_s = 5.0

[ingest]
sqlite_path = {json.dumps(str(tmp_path / "mtls.sqlite"))}
username = "{INGEST_USER}"
drain_timeout_s = 5.0
"""
    )
    report = tmp_path / "report.json"
    result = simulator(
        "run",
        str(scenario),
        "--broker",
        f"mqtts://localhost:{broker.mtls_port}",
        "--ca-file",
        str(broker.ca_path),
        "--client-cert",
        str(certs.cert),
        "--client-key",
        str(certs.key),
        "--report",
        str(report),
        cwd=tmp_path,
        timeout=TIMEOUT_S,
    )
    return result, json.loads(report.read_text()) if report.exists() else None


def copy_certs(certs: KeyPair, into: Path, renames: dict[str, str] | None = None) -> KeyPair:
    """Copy every certificate and key; ``renames`` maps an id to whose files it gets instead."""
    into.mkdir()
    renames = renames or {}
    for source in certs.cert.parent.iterdir():
        shutil.copy(source, into / source.name)
    for device, other in renames.items():
        for suffix in (".pem", ".key"):
            shutil.copy(certs.cert.parent / f"{other}{suffix}", into / f"{device}{suffix}")
    return KeyPair(into / certs.cert.name, into / certs.key.name)


def test_every_device_connects_with_its_own_certificate_and_loses_nothing(
    tmp_path: Path, broker: SecureBroker, certs: KeyPair
) -> None:
    result, report = run(tmp_path, broker, certs)
    assert result.returncode == 0, result.stderr
    assert report is not None
    assert report["devices"]["connected"] == len(DEVICES)
    messages = report["messages"]
    assert messages["published"] >= len(DEVICES)
    assert messages["acked"] == messages["published"]
    assert messages["refused"] == 0
    assert messages["lost"] == 0
    assert messages["ingested"] == messages["published"]


def test_a_device_presenting_another_devices_certificate_is_refused_by_the_acl(
    tmp_path: Path, broker: SecureBroker, certs: KeyPair
) -> None:
    # ms-000000 presents ms-000001's certificate: the broker knows it as ms-000001, and
    # ms-000001 may not write under ms-000000's topics.
    swapped = copy_certs(certs, tmp_path / "swapped", {DEVICES[0]: DEVICES[1]})
    result, report = run(tmp_path, broker, swapped)
    assert result.returncode == 1, result.stderr
    assert report is not None
    assert report["devices"]["connected"] == len(DEVICES)
    messages = report["messages"]
    assert messages["refused"] > 0
    assert messages["acked"] > 0
    assert messages["refused"] + messages["acked"] == messages["published"]
    # The broker dropped what it refused; ingest got everything else.
    assert messages["lost"] == messages["refused"]


def test_a_gateway_connects_with_the_gateways_certificate(
    tmp_path: Path, broker: SecureBroker, certs: KeyPair
) -> None:
    # Two gateways of two devices: the certificates are gw-00000's and gw-00001's, so the
    # broker knows each connection by its gateway's name, and the per-device ACL refuses what
    # a gateway publishes under its devices' topics. That proves whose certificate went out.
    result, report = run(tmp_path, broker, certs, devices=4, devices_per_connection=2)
    assert result.returncode == 1, result.stderr
    assert report is not None
    assert report["devices"]["connected"] == 4
    assert report["connections"]["connected"] == len(GATEWAYS)
    messages = report["messages"]
    assert messages["published"] > 0
    assert messages["refused"] == messages["published"]


@pytest.mark.parametrize(
    ("absent", "missing"),
    [(DEVICES[1:3], "2 of 10"), ([INGEST_USER], "1 of 2")],
    ids=["devices", "ingest"],
)
def test_missing_certificates_are_a_clear_error_before_any_device_connects(
    tmp_path: Path, broker: SecureBroker, certs: KeyPair, absent: list[str], missing: str
) -> None:
    partial = copy_certs(certs, tmp_path / "partial")
    for name in absent:
        (partial.cert.parent / f"{name}.pem").unlink()
    result, report = run(tmp_path, broker, partial)
    assert result.returncode == 2, result.stderr
    first = partial.cert.parent / f"{absent[0]}.pem"
    assert (
        f"error: {missing} client certificate and key files are missing, the first: {first} "
        in result.stderr
    )
    assert "onboarding" not in result.stderr
    assert report is None
