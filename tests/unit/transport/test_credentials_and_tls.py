"""Per-device credentials and the TLS client context (no network)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from simulator.errors import TlsConfigError
from simulator.transport.credentials import Credentials
from simulator.transport.tls import TlsOptions, client_context


def test_credentials_render_the_device_id_into_both_parts() -> None:
    creds = Credentials("{device}", "{device}-secret")
    assert creds.for_device("ms-000042") == ("ms-000042", b"ms-000042-secret")


def test_shared_credentials_and_a_user_without_password() -> None:
    assert Credentials("plant", "pw").for_device("x") == ("plant", b"pw")
    assert Credentials("plant").for_device("x") == ("plant", None)


def test_the_default_context_checks_certificates_and_names() -> None:
    context = client_context(TlsOptions())
    assert context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_verification_can_be_switched_off_for_lab_brokers() -> None:
    context = client_context(TlsOptions(verify=False))
    assert not context.check_hostname
    assert context.verify_mode == ssl.CERT_NONE


def test_bad_files_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(TlsConfigError, match=r"CA file .*nope\.pem"):
        client_context(TlsOptions(ca_file=missing))
    garbage = tmp_path / "cert.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(TlsConfigError, match=r"client certificate .*cert\.pem"):
        client_context(TlsOptions(cert_file=garbage))
    with pytest.raises(TlsConfigError, match="needs a client certificate"):
        client_context(TlsOptions(key_file=garbage))
