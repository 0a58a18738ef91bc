"""The live web dashboard: the HTML report page, served while the run goes.

:class:`LiveDashboard` answers three things over HTTP/1.1 on the run's own event loop, with
stdlib asyncio streams (no thread, no dependency):

=================  ===================================================================
``GET /``          :func:`simulator.report.html.render_html` of ``provider()``, live mode
``GET /data``      ``provider()`` as JSON; ``?since=N`` leaves out the first N samples of
                   ``timeseries`` and says so in ``timeseries_from``
``POST /control``  a JSON request handed to ``control`` (:mod:`simulator.control`): change
                   the offered rate, pause, resume, trigger a fault; answered with
                   ``{"ok": ..., "message": ...}``
anything else      404 (405 for another method)
=================  ===================================================================

A control request must say ``Content-Type: application/json`` (a browser sends that across
origins only after a preflight this server never allows) and, when it has an ``Origin``, come
from this dashboard's own host and port: another site the user has open cannot drive the run.

Bound to a loopback address (the default), it answers only requests whose ``Host`` names a
loopback host (``localhost``, ``127.0.0.1``, ``[::1]``, any port): a web page the user opens
elsewhere could otherwise point a name of its own at 127.0.0.1 (DNS rebinding) and read the
run's figures through the browser. Others get 421. Bound to another address, the user chose
to expose it, and any ``Host`` is answered.

``provider`` is called once per request, never per message, and the page asks once a second
for the samples it lacks, so a watcher costs the run the same at second 10 and at hour 10.
Each connection answers one request and closes. A client that sends its request slowly, or
does not read the answer, is cut off after a timeout; its bytes wait in its own transport's
buffer meanwhile, so it cannot block the loop, and beyond :data:`MAX_CLIENTS` connections new
ones are closed at once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from simulator.errors import DashboardPortError
from simulator.report.html import embed_json, public_data, render_html

Provider = Callable[[], Mapping[str, Any]]
"""Returns the run's report as it stands (partial while the run goes)."""

Controller = Callable[[Mapping[str, Any]], tuple[int, str]]
"""Carries out one control request: an HTTP status and a sentence saying what happened."""

MAX_BODY_BYTES = 65_536
"""The largest control request body read; a longer one is answered 413."""

MAX_CLIENTS = 32
"""Connections served at once; more are closed without an answer."""

REQUEST_TIMEOUT_S = 5.0
"""How long a client may take to send its request head."""

WRITE_TIMEOUT_S = 10.0
"""How long a client may take to read the answer."""

MAX_HEAD_BYTES = 8192
"""The largest request head read; a longer one is answered 431."""

_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    421: "Misdirected Request",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}


class LiveDashboard:
    """Serves the live report page and its data on ``host:port`` (port 0: pick a free one).

    ``await start()`` listens (then :attr:`port` is the real port); ``await stop()`` closes
    the listener and every open connection. Also an async context manager.
    """

    def __init__(
        self,
        provider: Provider,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        control: Controller | None = None,
    ) -> None:
        """``control`` takes ``POST /control`` requests (None: 404 for them)."""
        self._provider = provider
        self._control = control
        self._host = host
        self._port = port
        self._loopback_only = _is_loopback(host)
        """Answer only requests addressed to a loopback host (see the module docstring)."""
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        # Samples are appended, never changed: each is encoded once, so a page opened an
        # hour into a run costs a join, not an hour of JSON encoding on the run's loop.
        self._encoded: list[str] = []

    @property
    def port(self) -> int:
        """The port listened on: the one asked for, or the one picked once started."""
        return self._port

    @property
    def url(self) -> str:
        """The page's address (meaningful once started)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}/"

    async def start(self) -> None:
        """Listen; raises :class:`DashboardPortError` if the port cannot be bound."""
        if self._server is not None:
            raise RuntimeError(f"the dashboard is already serving on {self.url}")
        try:
            self._server = await asyncio.start_server(
                self._serve, self._host, self._port, limit=MAX_HEAD_BYTES
            )
        except OSError as exc:
            raise DashboardPortError.from_os_error(self._host, self._port, exc) from exc
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop open connections; does nothing if not serving."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._clients):
            writer.transport.abort()
        await server.wait_closed()

    async def __aenter__(self) -> LiveDashboard:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._clients) >= MAX_CLIENTS:
            writer.transport.abort()
            return
        self._clients.add(writer)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT_S)
            if head.startswith(b"POST "):
                status, content_type, body = await self._post(head, reader)
            else:
                status, content_type, body = self._answer(head)
            method = head.split(b" ", 1)[0]
            writer.write(_response(status, content_type, body, with_body=method != b"HEAD"))
            await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT_S)
            writer.close()
        except asyncio.LimitOverrunError:
            writer.write(_response(431, "text/plain; charset=utf-8", b"request head too large\n"))
            writer.close()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            # The client went away or is too slow: nothing to tell it, nothing to keep.
            writer.transport.abort()
        finally:
            self._clients.discard(writer)

    async def _post(self, head: bytes, reader: asyncio.StreamReader) -> tuple[int, str, bytes]:
        """``POST /control``: checked, read, handed to the controller, answered as JSON."""
        target = head.split(b" ", 2)[1].decode("latin-1")
        if urlsplit(target).path != "/control":
            return 405, "text/plain; charset=utf-8", b"only GET, HEAD and POST /control\n"
        if self._control is None:
            return 404, "text/plain; charset=utf-8", b"this dashboard takes no control\n"
        headers = _headers(head)
        if self._loopback_only and not _is_loopback(_host_of(headers.get("host", ""))):
            return 421, "text/plain; charset=utf-8", b"this dashboard answers to localhost\n"
        if headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return 415, "text/plain; charset=utf-8", b"send the request as application/json\n"
        origin = headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != headers.get("host"):
            return 403, "text/plain; charset=utf-8", b"control only from this dashboard's page\n"
        try:
            length = int(headers.get("content-length", ""))
        except ValueError:
            return 400, "text/plain; charset=utf-8", b"a Content-Length is needed\n"
        if not 0 <= length <= MAX_BODY_BYTES:
            return 413, "text/plain; charset=utf-8", b"request body too large\n"
        raw = await asyncio.wait_for(reader.readexactly(length), REQUEST_TIMEOUT_S)
        try:
            request = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return 400, "text/plain; charset=utf-8", f"not JSON: {exc}\n".encode()
        if not isinstance(request, dict):
            return 400, "text/plain; charset=utf-8", b"send a JSON object\n"
        status, message = self._control(request)
        answer = json.dumps({"ok": status == 200, "message": message})
        return status, "application/json", answer.encode()

    def _answer(self, head: bytes) -> tuple[int, str, bytes]:
        try:
            method, target, _version = head.split(b"\r\n", 1)[0].decode("ascii").split(" ")
        except (UnicodeDecodeError, ValueError):
            return 400, "text/plain; charset=utf-8", b"bad request line\n"
        if method not in ("GET", "HEAD"):
            return 405, "text/plain; charset=utf-8", b"only GET, HEAD and POST /control\n"
        if self._loopback_only:
            host = _host_header(head)
            if host is not None and not _is_loopback(host):
                return 421, "text/plain; charset=utf-8", b"this dashboard answers to localhost\n"
        url = urlsplit(target)
        if url.path not in ("/", "/data"):
            return 404, "text/plain; charset=utf-8", b"not found: try / or /data\n"
        try:
            report = self._provider()
            if url.path == "/":
                page = render_html(report, live=True)
                return 200, "text/html; charset=utf-8", page.encode()
            return 200, "application/json", self._data(report, url.query).encode()
        except Exception as exc:  # a provider bug must not end the run: say it, go on
            return 500, "text/plain; charset=utf-8", f"{type(exc).__name__}: {exc}\n".encode()

    def _data(self, report: Mapping[str, Any], query: str) -> str:
        """``report`` as JSON, the first ``since`` samples left out (``timeseries_from``)."""
        samples = report.get("timeseries") or []
        if len(samples) < len(self._encoded):
            self._encoded.clear()  # a new series (another run): start over
        self._encoded.extend(embed_json(sample) for sample in samples[len(self._encoded) :])
        try:
            since = max(0, int(parse_qs(query).get("since", ["0"])[0]))
        except ValueError:
            since = 0
        since = min(since, len(samples))
        rest = public_data({k: v for k, v in report.items() if k != "timeseries"})
        rest["timeseries_from"] = since
        head = embed_json(rest)[:-1]
        return f'{head},"timeseries":[{",".join(self._encoded[since:])}]}}'


def _host_header(head: bytes) -> str | None:
    """The host name of a request head's ``Host`` header, without its port (None: no header)."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"host":
            host = value.strip().decode("latin-1")
            if host.startswith("["):
                return host[1 : host.find("]")] if "]" in host else host
            return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return None


def _headers(head: bytes) -> dict[str, str]:
    """A request head's headers by lower-case name (the last of a repeated one)."""
    found = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if value:
            found[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return found


def _host_of(host: str) -> str:
    """A ``Host`` header's host name, without its port or IPv6 brackets."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) can only mean this machine."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _response(status: int, content_type: str, body: bytes, *, with_body: bool = True) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + (body if with_body else b"")
