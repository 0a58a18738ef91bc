"""A probe, not the engine: offer the kept TLS session without CPython's copy of it.

CPython's ``SSLObject.session`` setter (``Modules/_ssl.c``, ``PySSL_set_session``) copies the
session through DER (``i2d_SSL_SESSION`` then ``d2i_SSL_SESSION``, server certificate
included) before ``SSL_set_session``: a workaround for an OpenSSL 1.1.0 bug
(openssl/openssl#1550) that costs about 0.19 ms per resumed connect here, a third of what
resumption saves. :class:`DirectSessionClient` calls ``SSL_set_session`` itself through
``ctypes`` on the pointers CPython keeps right after its object headers, to measure what
resumption would give without that copy (the ``engine_tls_direct`` stack of ``bench/run.py``).
Every pointer is checked against what the ``ssl`` module reports before it is used.
"""

from __future__ import annotations

import ctypes
import ssl

from simulator.transport.connection import MqttLink
from simulator.transport.tls_link import TlsClient, TlsLink

_HEADER = ctypes.sizeof(ctypes.c_ssize_t) + ctypes.sizeof(ctypes.c_void_p)
_LIB = ctypes.CDLL(ssl._ssl.__file__)  # type: ignore[attr-defined]
_LIB.SSL_set_session.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
_LIB.SSL_set_session.restype = ctypes.c_int
_LIB.SSL_get_SSL_CTX.argtypes = [ctypes.c_void_p]
_LIB.SSL_get_SSL_CTX.restype = ctypes.c_void_p
_LIB.SSL_SESSION_get_time.argtypes = [ctypes.c_void_p]
_LIB.SSL_SESSION_get_time.restype = ctypes.c_long


def _field(obj: object, index: int) -> int:
    """The ``index``-th pointer after ``obj``'s object header."""
    value = ctypes.c_void_p.from_address(id(obj) + _HEADER + index * 8).value
    if not value:
        raise RuntimeError(f"no pointer where CPython keeps it in {type(obj).__name__}")
    return value


def set_session(sslobj: ssl.SSLObject, context: ssl.SSLContext, session: ssl.SSLSession) -> None:
    """``SSL_set_session`` on ``sslobj`` with ``session`` itself, not a copy of it."""
    ssl_pointer = _field(sslobj._sslobj, 1)  # type: ignore[attr-defined]  # PySSLSocket.ssl
    if _LIB.SSL_get_SSL_CTX(ssl_pointer) != _field(context, 0):
        raise RuntimeError("the SSL pointer does not belong to the context")
    session_pointer = _field(session, 0)  # PySSLSession.session
    if _LIB.SSL_SESSION_get_time(session_pointer) != session.time:
        raise RuntimeError("the SSL_SESSION pointer does not match the session")
    if _LIB.SSL_set_session(ssl_pointer, session_pointer) != 1:
        raise RuntimeError("SSL_set_session failed")


class DirectSessionClient(TlsClient):
    """:class:`TlsClient` that offers its session through :func:`set_session`."""

    __slots__ = ()

    def link(self, app: MqttLink, context: ssl.SSLContext, *, shared: bool) -> TlsLink:
        """As :meth:`TlsClient.link`, without CPython's copy of the offered session."""
        reuse = shared and self.resume
        offered = self.session if reuse else None
        sslobj = context.wrap_bio(
            self.incoming, self.outgoing, server_hostname=self.server_hostname
        )
        if offered is not None:
            set_session(sslobj, context, offered)
        return TlsLink(self, app, sslobj, keep_session=reuse, offered=offered)
