"""The engine's TLS layer against an in-memory TLS server: no sockets, no event loop.

The server is a server-side ``SSLObject`` on its own pair of memory BIOs; what the layer writes
to its (fake) TCP transport is fed to the server, and what the server produces is handed to the
layer's ``data_received``, as a socket would.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Any

import pytest

from simulator.broker import Pki, make_pki
from simulator.errors import ConnectError, TlsCertificateError, TlsError
from simulator.mqtt import (
    ClientSession,
    ConnAck,
    Connected,
    MessageReceived,
    MQTTVersion,
    Publish,
    encode,
)
from simulator.transport.connection import MqttLink
from simulator.transport.connector import _reason
from simulator.transport.tls import TlsOptions, client_context
from simulator.transport.tls_link import TlsClient, TlsLink
from simulator.transport.tls_session import offer
from tests.link_listener import RecordingListener

V5 = MQTTVersion.V5


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def server_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(pki.server.cert), str(pki.server.key))
    return context


@pytest.fixture
def context(pki: Pki) -> ssl.SSLContext:
    return client_context(TlsOptions(ca_file=pki.ca_path))


class FakeTcp:
    """The TCP transport under the TLS layer: keeps what was written."""

    def __init__(self) -> None:
        self.sent = bytearray()
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.sent += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def take(self) -> bytes:
        data = bytes(self.sent)
        self.sent.clear()
        return data


class Server:
    """The broker's side of one connection, in memory."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.ssl = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.handshaken = False
        self.error: ssl.SSLError | None = None
        self.received = bytearray()
        self.close_notify = False

    def feed(self, data: bytes) -> bytes:
        """Take what the client sent; return what the server sends back."""
        self.incoming.write(data)
        try:
            if not self.handshaken:
                self.ssl.do_handshake()
                self.handshaken = True
            while chunk := self.ssl.read(65_536):
                self.received += chunk
            self.close_notify = True
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError as exc:
            self.error = exc
        return self.outgoing.read()

    def send(self, data: bytes) -> bytes:
        self.ssl.write(data)
        return self.outgoing.read()


@dataclass
class Connection:
    tls: TlsLink
    link: MqttLink
    tcp: FakeTcp
    server: Server
    listener: RecordingListener

    def pump(self) -> None:
        """Carry bytes both ways until neither side has anything more to say."""
        for _ in range(20):
            out = self.tcp.take()
            if not out:
                return
            back = self.server.feed(out)
            if back:
                self.tls.data_received(back)
        raise AssertionError("the two sides kept talking")


def connect(
    client: TlsClient,
    context: ssl.SSLContext,
    server_context: ssl.SSLContext,
    *,
    shared: bool = True,
    client_id: str = "ms-000001",
) -> Connection:
    """Open a connection through the TLS layer and run the handshake (CONNECT goes out)."""
    listener = RecordingListener()
    link = MqttLink(ClientSession(client_id, V5, 60), listener)
    tls = client.link(link, context, shared=shared)
    tcp = FakeTcp()
    tls.connection_made(tcp)  # type: ignore[arg-type]
    connection = Connection(tls, link, tcp, Server(server_context), listener)
    connection.pump()
    return connection


def connack(connection: Connection) -> None:
    """The server answers CONNECT; the link sees it as a plaintext CONNACK."""
    assert connection.server.received[:1] == b"\x10"  # CONNECT
    connection.tls.data_received(connection.server.send(encode(ConnAck(), V5)))
    connection.pump()
    assert isinstance(connection.listener.events[0], Connected)


def client_with_session(
    context: ssl.SSLContext, server_context: ssl.SSLContext, **options: Any
) -> tuple[TlsClient, ssl.SSLSession]:
    """A client (made with ``options``) that has connected once, and the session it kept."""
    client = TlsClient("localhost", **options)
    connack(connect(client, context, server_context))
    assert client.session is not None
    return client, client.session


def second_connection(
    client: TlsClient, context: ssl.SSLContext, server_context: ssl.SSLContext
) -> Connection:
    """``client``'s second connection, made once its first had its CONNACK (under TLS 1.3,
    the session ticket comes after the handshake): the one that may offer a kept session."""
    connack(connect(client, context, server_context))
    return connect(client, context, server_context)


def test_the_handshake_completes_and_connect_goes_out_encrypted(
    context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    client = TlsClient("localhost")
    connection = connect(client, context, server_context)
    assert connection.server.handshaken
    assert connection.link.transport is connection.tls
    assert client.handshakes == 1
    assert client.resumed == 0
    connack(connection)
    # Nothing is left in the buffers every connection shares.
    assert client.incoming.pending == 0
    assert client.outgoing.pending == 0


def test_data_goes_both_ways_even_across_records(
    context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    connection = connect(TlsClient("localhost"), context, server_context)
    connack(connection)
    received = len(connection.server.received)
    connection.link.send(connection.link.session.ping())
    connection.pump()
    assert connection.server.received[received:] == b"\xc0\x00"  # PINGREQ

    # 40 KB take three TLS records; the server's bytes arrive in 1,000-byte pieces.
    payload = bytes(range(256)) * 160
    wire = connection.server.send(encode(Publish("cmd/ms-000001", payload), V5))
    for start in range(0, len(wire), 1000):
        connection.tls.data_received(wire[start : start + 1000])
    message = connection.listener.events[-1]
    assert isinstance(message, MessageReceived)
    assert message.publish.payload == payload


def test_the_second_connection_resumes_the_first_ones_session(
    context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    client = TlsClient("localhost")
    first = connect(client, context, server_context)
    assert client.session is None  # TLS 1.3: the ticket comes after the handshake
    connack(first)
    assert client.session is not None
    assert client.session.has_ticket

    second = connect(client, context, server_context)
    assert second.tls.session_reused
    assert second.server.ssl.session_reused
    connack(second)
    assert (client.handshakes, client.resumed) == (2, 1)


def test_resumption_can_be_switched_off(
    context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    client = TlsClient("localhost", resume=False)
    assert not second_connection(client, context, server_context).tls.session_reused
    assert client.session is None


def test_per_connection_contexts_neither_offer_nor_keep_a_session(
    pki: Pki, server_context: ssl.SSLContext
) -> None:
    # A per-device certificate means a context per connection: a session made with one
    # device's identity must never be offered by another, so none is kept.
    client = TlsClient("localhost")
    for client_id in ("ms-000001", "ms-000002"):
        own = client_context(TlsOptions(ca_file=pki.ca_path))
        connection = connect(client, own, server_context, shared=False, client_id=client_id)
        connack(connection)
        assert not connection.tls.session_reused
    assert client.session is None
    assert (client.handshakes, client.resumed) == (2, 0)


def test_a_wrong_server_name_fails_with_a_certificate_error_naming_the_connection(
    context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    client = TlsClient("other.plant.local")
    connection = connect(client, context, server_context)
    (error,) = connection.listener.lost
    assert isinstance(error, TlsCertificateError)
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError)
    assert "ms-000001" in str(error)
    assert "other.plant.local" in str(error)
    assert "mismatch" in error.verify_message
    assert _reason(error).startswith("TLS certificate rejected (Hostname mismatch")
    assert connection.tcp.closed
    assert connection.server.error is not None  # the client told the server with an alert
    assert client.incoming.pending == 0
    assert client.handshakes == 0


def test_an_untrusted_ca_fails_with_a_certificate_error(
    tmp_path_factory: pytest.TempPathFactory, server_context: ssl.SSLContext
) -> None:
    stranger = make_pki(tmp_path_factory.mktemp("other-pki"))
    context = client_context(TlsOptions(ca_file=stranger.ca_path))
    connection = connect(TlsClient("localhost"), context, server_context)
    (error,) = connection.listener.lost
    assert isinstance(error, TlsCertificateError)
    assert "unable to get local issuer certificate" in error.verify_message
    assert _reason(error) == ("TLS certificate rejected (unable to get local issuer certificate)")


def test_garbage_from_the_server_fails_the_handshake(context: ssl.SSLContext) -> None:
    client = TlsClient("localhost")
    listener = RecordingListener()
    link = MqttLink(ClientSession("ms-000001", V5, 60), listener)
    tls = client.link(link, context, shared=True)
    tcp = FakeTcp()
    tls.connection_made(tcp)  # type: ignore[arg-type]
    tls.data_received(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    (error,) = listener.lost
    assert isinstance(error, TlsError)
    assert not isinstance(error, TlsCertificateError)
    assert _reason(error) == f"TLS handshake failed ({error.reason})"
    assert client.incoming.pending == 0
    # The TCP connection's own end tells the link nothing more.
    tls.connection_lost(None)
    assert len(listener.lost) == 1


def test_a_pending_connect_gets_the_tls_error_itself() -> None:
    async def scenario() -> BaseException | None:
        link = MqttLink(ClientSession("ms-000001", V5, 60), RecordingListener())
        waiter: asyncio.Future[Connected] = asyncio.get_running_loop().create_future()
        link.waiter = waiter
        error = TlsError("ms-000001: TLS handshake with localhost failed: boom", "BOOM")
        link.connection_lost(error)
        return waiter.exception()

    error = asyncio.run(scenario())
    assert isinstance(error, TlsError)
    assert isinstance(error, ConnectError)


def test_close_sends_close_notify_then_closes_tcp(
    context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    connection = connect(TlsClient("localhost"), context, server_context)
    connack(connection)
    connection.link.close()
    assert connection.tcp.closed
    connection.pump()
    assert connection.server.received.endswith(b"\xe0\x00")  # DISCONNECT, then close_notify
    assert connection.server.close_notify
    connection.tls.write(b"too late")
    assert connection.tcp.take() == b""
    connection.tls.connection_lost(None)
    assert connection.listener.lost == [None]
    assert connection.link.transport is None


def test_the_kept_session_is_replaced_only_once_half_its_lifetime_is_gone(
    context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    now = [0.0]
    client, kept = client_with_session(context, server_context, clock=lambda: now[0])
    half = kept.ticket_lifetime_hint / 2
    connack(connect(client, context, server_context))
    assert client.session is kept  # young: every connection offers the same one

    now[0] = kept.time + half + 1
    connack(connect(client, context, server_context))
    assert client.session is not None
    assert client.session is not kept
    assert (client.handshakes, client.resumed) == (3, 2)


def test_a_session_the_broker_no_longer_resumes_is_dropped_for_a_fresh_one(
    pki: Pki, context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    client, stale = client_with_session(context, server_context)
    # A restarted broker has new ticket keys: the offered session is refused.
    restarted = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    restarted.load_cert_chain(str(pki.server.cert), str(pki.server.key))
    refused = connect(client, context, restarted)
    assert not refused.tls.session_reused
    connack(refused)
    assert client.session is not None
    assert client.session is not stale
    resumed = connect(client, context, restarted)
    assert resumed.tls.session_reused


def test_a_session_is_offered_without_a_copy_and_only_to_its_own_context(
    pki: Pki, context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    _, kept = client_with_session(context, server_context)
    fresh = context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="localhost")
    assert offer(fresh, context, kept)
    other = client_context(TlsOptions(ca_file=pki.ca_path))
    elsewhere = other.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="localhost")
    assert not offer(elsewhere, other, kept)


def test_the_copying_setter_resumes_too(
    context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    client = TlsClient("localhost", copy_sessions=True)
    assert second_connection(client, context, server_context).tls.session_reused
