"""Per-connection client certificates: templates, the up-front file check, the contexts.

The contexts are checked with a real TLS handshake through memory buffers (no sockets): the
server side reports which certificate each client presented.
"""

from __future__ import annotations

import ssl
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.broker import KeyPair, Pki, make_pki, write_device_certs
from simulator.errors import MissingClientFilesError, PkiError, TlsConfigError
from simulator.transport.connector import _reason
from simulator.transport.tls import (
    TlsOptions,
    check_client_files,
    check_templates,
    client_context,
    context_source,
)
from tests.memory_tls import handshake

DEVICES = ("ms-000000", "ms-000001", "gw-00000")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), clients=["fleet"])


@pytest.fixture(scope="module")
def templates(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return write_device_certs(pki, DEVICES, tmp_path_factory.mktemp("certs"))


def _peer_common_name(client: ssl.SSLContext, pki: Pki) -> str:
    """Handshake ``client`` with a server that requires a client certificate; return its CN."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(pki.server.cert), str(pki.server.key))
    server.load_verify_locations(cafile=str(pki.ca_path))
    server.verify_mode = ssl.CERT_REQUIRED
    peer = handshake(client, server, "localhost").getpeercert()
    assert peer is not None
    subject = peer["subject"]
    assert isinstance(subject, tuple)
    names = [pair[1] for rdn in subject for pair in rdn if pair[0] == "commonName"]
    return str(names[0])


def test_a_template_is_rendered_per_client_id_and_a_shared_path_is_not() -> None:
    options = TlsOptions(Path("ca.pem"), Path("certs/{device}.pem"), Path("keys/{device}.key"))
    assert options.per_connection
    rendered = options.for_client("gw-00001")
    assert rendered.cert_file == Path("certs/gw-00001.pem")
    assert rendered.key_file == Path("keys/gw-00001.key")
    assert rendered.ca_file == Path("ca.pem")
    assert not rendered.per_connection

    shared = TlsOptions(cert_file=Path("fleet.pem"), key_file=Path("fleet.key"))
    assert not shared.per_connection
    assert shared.for_client("ms-000001") is shared


def test_templates_that_no_connection_could_use_are_refused() -> None:
    with pytest.raises(TlsConfigError, match=r"\{device_id\}: the only placeholder is \{device\}"):
        check_templates(TlsOptions(cert_file=Path("certs/{device_id}.pem")))
    with pytest.raises(TlsConfigError, match=r"\{id\}"):
        check_templates(TlsOptions(cert_file=Path("c/{device}.pem"), key_file=Path("k/{id}.key")))
    with pytest.raises(TlsConfigError, match="per connection but the certificate"):
        check_templates(TlsOptions(cert_file=Path("fleet.pem"), key_file=Path("{device}.key")))
    # A certificate per device with one key they all share is a legitimate set-up.
    check_templates(TlsOptions(cert_file=Path("{device}.pem"), key_file=Path("shared.key")))


def test_every_missing_file_is_counted_and_the_first_is_named(tmp_path: Path) -> None:
    for name in ("a.pem", "a.key", "b.pem", "d.key"):
        (tmp_path / name).write_text("x")
    options = TlsOptions(cert_file=tmp_path / "{device}.pem", key_file=tmp_path / "{device}.key")
    with pytest.raises(MissingClientFilesError) as caught:
        check_client_files(options, ["a", "b", "c", "d"])
    error = caught.value
    assert error.first == tmp_path / "b.key"
    assert error.missing == 4  # b.key, c.pem, c.key, d.pem
    assert str(error).startswith(
        f"4 of 8 client certificate and key files are missing, the first: {error.first} "
    )
    assert "{device}.pem" in str(error)


def test_present_files_pass(templates: KeyPair) -> None:
    options = TlsOptions(cert_file=templates.cert, key_file=templates.key)
    check_client_files(options, DEVICES)


def test_a_shared_certificate_is_checked_once_without_reading_the_ids(tmp_path: Path) -> None:
    def ids() -> Iterator[str]:
        raise AssertionError("a shared certificate needs no client ids")
        yield ""  # pragma: no cover - makes this a generator

    missing = tmp_path / "fleet.pem"
    with pytest.raises(MissingClientFilesError, match=r"1 of 1 client certificates .*fleet\.pem"):
        check_client_files(TlsOptions(cert_file=missing), ids())
    missing.write_text("x")
    check_client_files(TlsOptions(cert_file=missing), ids())
    check_client_files(TlsOptions(), ids())


def test_the_shared_path_builds_one_context_up_front(pki: Pki) -> None:
    fleet = pki.client("fleet")
    source = context_source(TlsOptions(pki.ca_path, fleet.cert, fleet.key))
    assert isinstance(source, ssl.SSLContext)
    assert _peer_common_name(source, pki) == "fleet"


def test_each_connection_gets_a_context_with_its_own_certificate(
    pki: Pki, templates: KeyPair
) -> None:
    source = context_source(TlsOptions(pki.ca_path, templates.cert, templates.key))
    assert not isinstance(source, ssl.SSLContext)
    contexts = [source(client_id) for client_id in DEVICES]
    assert len({id(context) for context in contexts}) == len(DEVICES)
    assert [_peer_common_name(context, pki) for context in contexts] == list(DEVICES)
    assert all(context.check_hostname for context in contexts)
    with pytest.raises(TlsConfigError, match=r"client certificate .*ms-999999\.pem"):
        source("ms-999999")


def test_a_bad_ca_file_fails_at_once_even_with_per_connection_certificates(
    tmp_path: Path, templates: KeyPair
) -> None:
    with pytest.raises(TlsConfigError, match=r"CA file .*nope\.pem"):
        context_source(TlsOptions(tmp_path / "nope.pem", templates.cert, templates.key))


def test_a_ca_file_is_the_only_trust_a_context_loads(pki: Pki) -> None:
    # Each per-connection context would otherwise parse the whole system store as well.
    assert len(client_context(TlsOptions(ca_file=pki.ca_path)).get_ca_certs()) == 1


def test_an_unusable_certificate_is_a_failure_reason_of_its_own() -> None:
    assert _reason(TlsConfigError("cannot load")) == "client certificate unusable"


def test_device_certificates_carry_their_id_and_private_keys(pki: Pki, templates: KeyPair) -> None:
    assert str(templates.cert).endswith("{device}.pem")
    for device in DEVICES:
        key = Path(str(templates.key).replace("{device}", device))
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    with pytest.raises(PkiError, match="unique"):
        write_device_certs(pki, ["a", "a"], templates.cert.parent)
    with pytest.raises(PkiError, match="cannot be a client certificate name"):
        write_device_certs(pki, ["ms/1"], templates.cert.parent)
