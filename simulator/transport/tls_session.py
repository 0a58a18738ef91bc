"""Offering a kept TLS session to a new ``ssl.SSLObject`` without CPython's copy of it.

CPython's session setter (``PySSL_set_session`` in ``Modules/_ssl.c``) does not hand the
session to OpenSSL: it serializes it to DER and parses it back (``i2d_SSL_SESSION`` then
``d2i_SSL_SESSION``, the server certificate included), a workaround kept since an OpenSSL
1.1.0 bug (openssl/openssl#1550). That copy costs about 0.19 ms per connect here, as much as
resumption saves, and gives every resumed connection a parsed certificate of its own
(docs/PERFORMANCE.md: 1,138 against 2,408 connects/s, 22.5 against 17.7 KB per device).

:func:`offer` calls OpenSSL's ``SSL_set_session`` itself, through ``ctypes``, with the two
pointers CPython keeps right after its objects' headers: ``SSL *`` in the ``SSLObject``'s
socket object, ``SSL_SESSION *`` in the ``SSLSession``. Before it uses them it checks, with
reads that stay inside both objects, that the fields around them are what CPython puts
there: the socket object's ``ctx`` field is the ``SSLContext`` and its socket field is empty
(a memory-BIO object has none), the session's ``ctx`` field is that same context. Anything
else (another layout, another implementation, a session of another context) makes it return
False, and the caller uses the public setter.

Sharing one ``SSL_SESSION`` has one known effect, the OpenSSL behaviour that bug was about:
a connection freed without a TLS shutdown while it still holds the shared session marks it
not resumable. Connections then get full handshakes, and the :class:`TlsClient` replaces a
session the broker did not resume, so it heals with the next connection.
"""

from __future__ import annotations

import ctypes
import platform
import ssl

_POINTER = ctypes.sizeof(ctypes.c_void_p)
_HEADER = ctypes.sizeof(ctypes.c_ssize_t) + _POINTER
"""``PyObject_HEAD``: reference count and type."""


def _load() -> ctypes.CDLL | None:
    if platform.python_implementation() != "CPython":
        return None
    try:
        # dlsym on the _ssl extension's handle also searches the libssl it was linked with.
        library = ctypes.CDLL(ssl._ssl.__file__)  # type: ignore[attr-defined]
        function = library.SSL_set_session
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    function.restype = ctypes.c_int
    return library


_LIBRARY = _load()


def _field(obj: object, index: int) -> int:
    """The ``index``-th pointer-sized field after ``obj``'s object header (0 for NULL)."""
    return ctypes.c_void_p.from_address(id(obj) + _HEADER + index * _POINTER).value or 0


def offer(sslobj: ssl.SSLObject, context: ssl.SSLContext, session: ssl.SSLSession) -> bool:
    """Offer ``session`` in ``sslobj``'s handshake without copying it; False if not done.

    ``sslobj`` must come from ``context.wrap_bio`` and not have started its handshake.
    """
    if _LIBRARY is None:
        return False
    inner = sslobj._sslobj  # type: ignore[attr-defined]  # the _ssl._SSLSocket
    # PySSLSocket: Socket, ssl, ctx, ...; PySSLSession: session, ctx.
    if (
        _field(inner, 0) != 0
        or _field(inner, 2) != id(context)
        or _field(session, 1) != id(context)
    ):
        return False
    ssl_pointer, session_pointer = _field(inner, 1), _field(session, 0)
    if not ssl_pointer or not session_pointer:
        return False
    return int(_LIBRARY.SSL_set_session(ssl_pointer, session_pointer)) == 1
