"""The throwaway PKI: what make_pki writes, checked with Python's own TLS stack."""

from __future__ import annotations

import ssl
import stat
import subprocess
from pathlib import Path

import pytest

from simulator.broker import DEFAULT_SERVER_NAMES, Pki, make_pki
from simulator.broker.pki import find_openssl
from simulator.errors import PkiError
from tests.memory_tls import handshake


def _text(cert: Path) -> str:
    result = subprocess.run(
        [str(find_openssl()), "x509", "-in", str(cert), "-noout", "-text"],
        capture_output=True,
        check=True,
        text=True,
    )
    return result.stdout


def _server_context(pki: Pki) -> ssl.SSLContext:
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(pki.server.cert), str(pki.server.key))
    return server


def test_server_certificate_names_and_chain(tmp_path: Path) -> None:
    pki = make_pki(tmp_path, server_names=("127.0.0.1", "localhost", "broker.plant.local"))

    text = _text(pki.server.cert)
    assert "IP Address:127.0.0.1, DNS:localhost, DNS:broker.plant.local" in text
    assert "TLS Web Server Authentication" in text
    assert "ASN1 OID: prime256v1" in text
    # Python's verifier, with the server name checked, accepts every name and no other.
    client = ssl.create_default_context(cafile=str(pki.ca_path))
    for name in pki.server_names:
        handshake(client, _server_context(pki), name)
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        handshake(client, _server_context(pki), "other.plant.local")


def test_client_certificates_carry_the_device_id_as_common_name(tmp_path: Path) -> None:
    pki = make_pki(tmp_path, clients=["ms-000001", "ms-000002"])

    assert pki.server_names == DEFAULT_SERVER_NAMES
    assert set(pki.clients) == {"ms-000001", "ms-000002"}
    text = _text(pki.client("ms-000002").cert)
    assert "Subject: CN = ms-000002" in text
    assert "TLS Web Client Authentication" in text
    verify = subprocess.run(
        [
            str(find_openssl()),
            "verify",
            "-CAfile",
            str(pki.ca_path),
            str(pki.client("ms-000001").cert),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stderr


def test_private_keys_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    pki = make_pki(tmp_path, clients=["ms-000001"])

    for key in (pki.ca.key, pki.server.key, pki.client("ms-000001").key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_asking_for_a_certificate_not_made_names_those_made(tmp_path: Path) -> None:
    pki = make_pki(tmp_path, clients=["ms-000001"])

    with pytest.raises(PkiError, match="ms-000001"):
        pki.client("ms-000009")


@pytest.mark.parametrize("name", ["a/b", "a+b", "#", "", "-lead", "x" * 65, "dev ice"])
def test_client_names_that_break_subjects_or_acl_patterns_are_refused(
    tmp_path: Path, name: str
) -> None:
    with pytest.raises(PkiError, match="cannot be a client certificate name"):
        make_pki(tmp_path, clients=[name])

    assert not (tmp_path / "ca.pem").exists()  # checked before anything was written


@pytest.mark.parametrize("server_name", ["bad name", "-x.example", "a..b"])
def test_server_names_must_be_addresses_or_dns_names(tmp_path: Path, server_name: str) -> None:
    with pytest.raises(PkiError, match="neither an IP address nor a DNS name"):
        make_pki(tmp_path, server_names=(server_name,))


def test_duplicate_client_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match="unique"):
        make_pki(tmp_path, clients=["ms-1", "ms-1"])
