"""TLS driven by the engine: one ``ssl.SSLObject`` per connection over shared memory buffers.

A :class:`TlsLink` sits between a plain TCP transport and an :class:`MqttLink`: it is the TCP
transport's protocol on one side and the link's transport on the other, so the link reads and
writes plaintext exactly as it does over TCP. Compared with the event loop's own TLS (uvloop's
``SSLProtocol``) it saves, per connection, a 256 KiB read buffer, a second transport object
and two memory BIOs, and it can resume TLS sessions, which ``loop.create_connection`` cannot.

**Shared buffers.** Every connection of one :class:`TlsClient` uses the same pair of
``ssl.MemoryBIO``: everything here runs on the event loop's thread, and each step consumes
what it was given (OpenSSL reads an incoming BIO until it needs more, keeping a partial record
in its own buffer) and flushes what it produced before returning. A memory BIO never gives
back the capacity it grew to, so one pair per connection would keep the size of the largest
handshake flight per connection for its whole life.

**Sessions.** With a shared context every connection presents the same identity (no client
certificate, or one the whole fleet shares), so one session serves them all: the client keeps
one session with a ticket (TLS 1.3 tickets arrive after the handshake, so it is taken when a
connection reads its first application data) and offers it to every later connection, whose
handshake then skips the certificate chain and its verification. It is replaced only when it
is half way through its ticket's lifetime or the broker no longer resumes it: reading
``SSLObject.session`` makes a copy (CPython serializes and parses it again, server certificate
included). It is offered without such a copy (:mod:`simulator.transport.tls_session`), so the
connections that resumed it share its certificate too.
Per-connection contexts (a certificate per device) resume nothing: a session carries the
identity it was made with, so it must not pass to another client id, and keeping one per
device for its reconnects would cost about a kilobyte per device.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from typing import Any, Literal, cast

from simulator.errors import TlsCertificateError, TlsError
from simulator.transport.connection import MqttLink
from simulator.transport.tls_session import offer

TlsLayer = Literal["resume", "full", "asyncio"]
"""Who does TLS for a connector: this module with session resumption (the default), this
module with a full handshake every time, or the event loop (uvloop's ``SSLProtocol``)."""

READ_SIZE = 16_384
"""Plaintext asked for per ``SSLObject.read``: one TLS record holds at most this much."""

_HANDSHAKE, _FRESH, _OPEN, _CLOSING, _CLOSED = range(5)
# _FRESH: handshake done, no application data read yet (the session tickets come before it);
# _CLOSING: close() or abort() was called; _CLOSED: the link was told the connection is gone.


class TlsClient:
    """What the TLS connections of one connector share: buffers, the session to offer, counts."""

    __slots__ = (
        "_clock",
        "copy_sessions",
        "handshakes",
        "incoming",
        "outgoing",
        "resume",
        "resumed",
        "server_hostname",
        "session",
    )

    def __init__(
        self,
        server_hostname: str | None,
        *,
        resume: bool = True,
        copy_sessions: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.server_hostname = server_hostname
        """The name the broker's certificate must carry (and the SNI); None sends no name."""
        self.resume = resume
        """Offer the kept session to connections with the shared context."""
        self.copy_sessions = copy_sessions
        """Offer it through CPython's setter, which copies it (for comparison only)."""
        self.incoming = ssl.MemoryBIO()
        """Received bytes on their way into a connection's ``SSLObject``; empty between steps."""
        self.outgoing = ssl.MemoryBIO()
        """Bytes a connection's ``SSLObject`` produced, until flushed to its TCP transport."""
        self.session: ssl.SSLSession | None = None
        """The session offered to shared-context connections (None until one has a ticket)."""
        self._clock = clock
        """Wall-clock seconds, the clock of a session's ``time``."""
        self.handshakes = 0
        """TLS handshakes completed, resumed ones included."""
        self.resumed = 0
        """Handshakes that resumed a session (no certificate sent or checked)."""

    def link(
        self,
        app: MqttLink,
        context: ssl.SSLContext,
        *,
        shared: bool,
        server_hostname: str | None = None,
    ) -> TlsLink:
        """A TLS layer for ``app``; pass it to ``loop.create_connection`` as the protocol.

        ``shared`` says ``context`` is the one every connection uses; only then is a session
        offered and kept (see the module's docstring). ``server_hostname`` is this link's broker
        when a pool has several (default :attr:`server_hostname`).
        """
        reuse = shared and self.resume
        offered = self.session if reuse else None
        sslobj = context.wrap_bio(
            self.incoming, self.outgoing, server_hostname=server_hostname or self.server_hostname
        )
        if offered is not None and (self.copy_sessions or not offer(sslobj, context, offered)):
            sslobj.session = offered
        return TlsLink(self, app, sslobj, keep_session=reuse, offered=offered)

    def wants_session(self) -> bool:
        """Whether a connection's session should replace the kept one (none, or aging)."""
        session = self.session
        return session is None or (self._clock() - session.time > session.ticket_lifetime_hint / 2)

    def remember(self, session: ssl.SSLSession | None) -> None:
        """Keep ``session`` to offer to later connections, if it can be resumed."""
        if session is not None and session.has_ticket:
            self.session = session

    def forget(self, session: ssl.SSLSession) -> None:
        """The broker would not resume ``session``: stop offering it (a fresh one follows)."""
        if self.session is session:
            self.session = None


class TlsLink(asyncio.Protocol, asyncio.Transport):
    """One TLS connection: the TCP transport's protocol, and the MQTT link's transport."""

    __slots__ = ("_app", "_client", "_keep", "_offered", "_ssl", "_state", "_tcp")

    def __init__(
        self,
        client: TlsClient,
        app: MqttLink,
        sslobj: ssl.SSLObject,
        *,
        keep_session: bool,
        offered: ssl.SSLSession | None = None,
    ) -> None:
        self._client = client
        self._app = app
        self._ssl = sslobj
        self._keep = keep_session
        """Whether this connection may supply the session its client keeps."""
        self._offered = offered
        """The session offered in the handshake, until the handshake says if it resumed."""
        self._tcp: asyncio.Transport | None = None
        self._state = _HANDSHAKE

    # the TCP transport's protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the handshake as soon as TCP is up."""
        # uvloop's transports do not subclass asyncio.Transport, so no isinstance check here.
        self._tcp = cast(asyncio.Transport, transport)
        self._handshake()

    def data_received(self, data: bytes) -> None:
        """Decrypt what arrived: handshake records, or plaintext for the MQTT link."""
        state = self._state
        if state >= _CLOSING:
            return
        self._client.incoming.write(data)
        if state == _HANDSHAKE:
            self._handshake()
        else:
            self._read()

    def eof_received(self) -> bool | None:
        """The broker closed its side: let the transport close ours."""
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """Tell the MQTT link, unless a TLS failure already did."""
        self._tcp = None
        if self._state != _CLOSED:
            self._state = _CLOSED
            self._app.connection_lost(exc)

    # the MQTT link's transport

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt ``data`` and send it (dropped once closing, as a closed transport does)."""
        tcp = self._tcp
        if tcp is None or self._state > _OPEN or not data:
            return
        try:
            self._ssl.write(data)
        except ssl.SSLError as exc:
            self._fail(exc)
            return
        tcp.write(self._client.outgoing.read())

    def close(self) -> None:
        """Send close_notify, then close TCP once what is queued has gone out."""
        state = self._state
        if state >= _CLOSING:
            return
        self._state = _CLOSING
        if state != _HANDSHAKE:
            # Raises SSLWantReadError while the broker's close_notify is due; not waited for.
            with contextlib.suppress(ssl.SSLError):
                self._ssl.unwrap()
            self._flush()
        if self._tcp is not None:
            self._tcp.close()

    def abort(self) -> None:
        """Close TCP at once, dropping anything unsent."""
        self._state = max(self._state, _CLOSING)
        if self._tcp is not None:
            self._tcp.abort()

    def is_closing(self) -> bool:
        """Whether the connection is closing or closed."""
        return self._state >= _CLOSING or self._tcp is None

    def pause_reading(self) -> None:
        """Stop reading from the socket (backpressure from the MQTT side)."""
        if self._tcp is not None:
            self._tcp.pause_reading()

    def resume_reading(self) -> None:
        """Read from the socket again."""
        if self._tcp is not None:
            self._tcp.resume_reading()

    def get_write_buffer_size(self) -> int:
        """Bytes queued in the TCP transport (the TLS layer itself queues none)."""
        return self._tcp.get_write_buffer_size() if self._tcp is not None else 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``ssl_object`` is this connection's ``SSLObject``; anything else the TCP transport's."""
        if name == "ssl_object":
            return self._ssl
        return self._tcp.get_extra_info(name, default) if self._tcp is not None else default

    @property
    def session_reused(self) -> bool:
        """Whether the handshake resumed a session."""
        return self._ssl.session_reused

    # TLS

    def _handshake(self) -> None:
        sslobj = self._ssl
        try:
            sslobj.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return
        except ssl.SSLError as exc:
            self._fail(exc)
            return
        self._flush()
        client = self._client
        client.handshakes += 1
        reused = sslobj.session_reused
        if reused:
            client.resumed += 1
        offered = self._offered
        if offered is not None:
            self._offered = None
            if not reused:
                client.forget(offered)
        self._state = _FRESH
        self._app.connection_made(self)
        # The server's flight may have carried more (TLS 1.3 session tickets, even CONNACK).
        if self._state <= _OPEN:
            self._read()

    def _read(self) -> None:
        sslobj = self._ssl
        chunks: list[bytes] = []
        closed = False
        try:
            while True:
                chunk = sslobj.read(READ_SIZE)
                if not chunk:  # the broker's close_notify
                    closed = True
                    break
                chunks.append(chunk)
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError as exc:
            self._fail(exc)
            return
        if not closed and (not chunks or self._state == _FRESH):
            # OpenSSL 3.0 sets up a 16 KB record write buffer when it reads a post-handshake
            # message (the TLS 1.3 session tickets) and releases it only after a write: an
            # idle device would hold it until its first publish. An empty write sends nothing
            # and releases it (measured: 36 KB -> 20 KB per connection). Should it fail, the
            # next real write fails the same way and is handled there.
            with contextlib.suppress(ssl.SSLError):
                sslobj.write(b"")
        # A read can produce records too (a TLS 1.3 key update answered).
        self._flush()
        if chunks:
            if self._state == _FRESH:
                self._state = _OPEN
                client = self._client
                if self._keep and client.wants_session():
                    client.remember(sslobj.session)
            self._app.data_received(chunks[0] if len(chunks) == 1 else b"".join(chunks))
        if closed and self._tcp is not None and self._state <= _OPEN:
            self._state = _CLOSING
            self._tcp.close()

    def _flush(self) -> None:
        out = self._client.outgoing.read()
        if out and self._tcp is not None:
            self._tcp.write(out)

    def _fail(self, exc: ssl.SSLError) -> None:
        client = self._client
        # Whatever this connection left in the shared buffers is its own: the alert it owes
        # the broker goes out, unread input must not reach the next connection.
        client.incoming.read()
        self._flush()
        error = self._error(exc)
        self._state = _CLOSED
        if self._tcp is not None:
            self._tcp.close()
        self._app.connection_lost(error)

    def _error(self, exc: ssl.SSLError) -> TlsError:
        client_id = self._app.session.client_id
        host = self._client.server_hostname or "the broker"
        reason = exc.reason or type(exc).__name__
        if isinstance(exc, ssl.SSLCertVerificationError):
            verdict = exc.verify_message or reason
            error: TlsError = TlsCertificateError(
                f"{client_id}: the TLS certificate of {host} was rejected: {verdict}",
                reason,
                verdict,
            )
        elif self._state == _HANDSHAKE:
            error = TlsError(f"{client_id}: TLS handshake with {host} failed: {exc}", reason)
        else:
            error = TlsError(f"{client_id}: TLS connection to {host} failed: {exc}", reason)
        error.__cause__ = exc
        return error
