"""Where a TLS connection's memory goes: bare connections, no MQTT, one setting at a time.

    python -m clients.tls_memory --connections 2000 --variant tls   # from bench/; own broker
    python -m clients.tls_memory --connections 2000 --variant tls --trace   # Python allocations

Starts a secure broker (:class:`simulator.broker.SecureBroker`, TLS listener, throwaway CA),
then opens ``--connections`` connections to it on uvloop with a protocol that does nothing, and
reads the process's RSS before and after. One variant per process: the allocator keeps what a
previous variant freed, and the next one would grow into it without any RSS showing. Variants:

- ``tcp``: plain TCP to the profile's plain listener (the socket and uvloop's transport);
- ``tls``: TLS with the context the engine uses (:func:`simulator.transport.tls.client_context`);
- ``tls-no-ticket``: the same with ``ssl.OP_NO_TICKET``;
- ``tls1.2``: the same, TLS 1.2 only;
- ``tls-keep-buffers``: TLS with OpenSSL's ``SSL_MODE_RELEASE_BUFFERS`` cleared on the context;
- ``mtls-shared``: mutual TLS, one client certificate every connection shares (one context);
- ``mtls-per-connection``: mutual TLS, a certificate per connection from a ``{device}``
  template, each context built as its connection is made (:func:`context_source`, as the
  engine's connector does);
- ``tls-connect``: ``tls``, but each connection is an MQTT link that sends CONNECT and gets its
  CONNACK (the engine's :class:`MqttLink` and session on uvloop's TLS);
- ``own``: the same MQTT links over the engine's TLS layer
  (:mod:`simulator.transport.tls_link`), every handshake a full one;
- ``own-resume``: ``own`` with session resumption, as the engine connects by default.

CPython sets ``SSL_MODE_RELEASE_BUFFERS`` on every context it makes (``Modules/_ssl.c``), and
the ``ssl`` module has no way to read or clear an OpenSSL mode; this probe reads and clears it
through ``ctypes`` on the ``SSL_CTX`` pointer that is the first field after the object header
of CPython's context object. It prints the mode it read, so a layout that does not hold shows.
It also reports the C heap in use (glibc's ``mallinfo2``, which sees OpenSSL's allocations
and uvloop's per-connection read buffer), the memory mappings added, and, with ``--trace``, the
Python-level allocations (``tracemalloc``, which sees that buffer too: uvloop allocates it with
``PyMem_RawMalloc``). Tracing costs memory itself, so RSS is only meaningful without it.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import ssl
import tempfile
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Protocol

import uvloop

from simulator.broker import FLEET_USER, Pki, SecureBroker, make_pki, write_device_certs
from simulator.metrics.process import rss_bytes
from simulator.mqtt import ClientSession, Connected, Event, MQTTVersion
from simulator.transport.connection import MqttLink
from simulator.transport.limits import raise_open_files_limit
from simulator.transport.tls import ContextSource, TlsOptions, client_context, context_source
from simulator.transport.tls_link import TlsClient

SSL_CTRL_MODE = 33
SSL_CTRL_CLEAR_MODE = 78
SSL_MODE_RELEASE_BUFFERS = 0x10
CONCURRENCY = 100


class Abortable(Protocol):
    """What the probe closes at the end: a transport or an MQTT link."""

    def abort(self) -> None:
        """Close at once."""


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
            "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def c_heap_in_use() -> int:
    """Bytes glibc's allocator has handed out and not had back (small chunks plus mmapped)."""
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


def memory_mappings() -> int:
    """How many memory mappings the process has (Linux caps them at ``vm.max_map_count``)."""
    return len(Path("/proc/self/maps").read_text().splitlines())


def _ssl_ctx_ctrl() -> Callable[[int, int, int], int]:
    # dlsym on the _ssl extension's handle also searches the libssl it was linked with.
    library = ctypes.CDLL(ssl._ssl.__file__)  # type: ignore[attr-defined]
    function = library.SSL_CTX_ctrl
    function.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    function.restype = ctypes.c_long

    def ctrl(ctx: int, command: int, value: int) -> int:
        return int(function(ctx, command, value, None))

    return ctrl


def ssl_ctx_pointer(context: ssl.SSLContext) -> int:
    """The ``SSL_CTX *`` of ``context``: the first field after CPython's object header."""
    header = ctypes.sizeof(ctypes.c_ssize_t) + ctypes.sizeof(ctypes.c_void_p)
    pointer = ctypes.c_void_p.from_address(id(context) + header).value
    if not pointer:
        raise RuntimeError("no SSL_CTX pointer where CPython keeps it")
    return pointer


def context_mode(context: ssl.SSLContext) -> int:
    """OpenSSL's mode bits of ``context`` (``SSL_CTX_get_mode``)."""
    return _ssl_ctx_ctrl()(ssl_ctx_pointer(context), SSL_CTRL_MODE, 0)


def keep_buffers(context: ssl.SSLContext) -> None:
    """Clear ``SSL_MODE_RELEASE_BUFFERS``: each connection keeps its record buffers."""
    _ssl_ctx_ctrl()(ssl_ctx_pointer(context), SSL_CTRL_CLEAR_MODE, SSL_MODE_RELEASE_BUFFERS)


class Quiet:
    """The MQTT links' listener: nothing arrives after CONNACK, and nothing needs doing."""

    def on_events(self, link: MqttLink, events: list[Event]) -> None:
        """Nothing to do."""

    def on_lost(self, link: MqttLink, exc: BaseException | None) -> None:
        """Nothing to do."""


class Idle(asyncio.Protocol):
    """A connection that only stays open (the broker waits for a CONNECT that never comes)."""


def identity(protocol: asyncio.Protocol) -> asyncio.Protocol:
    """``protocol`` itself: with ``partial``, a factory bound to one protocol object."""
    return protocol


def device_id(index: int) -> str:
    """The client id of connection ``index`` (and the name of its certificate)."""
    return f"ms-{index:06d}"


async def open_many(
    host: str, port: int, count: int, source: ContextSource | None
) -> list[asyncio.Transport]:
    """Open ``count`` connections, ``CONCURRENCY`` at a time (the TLS handshake included)."""
    loop = asyncio.get_running_loop()
    transports: list[asyncio.Transport] = []
    indices = iter(range(count))

    async def worker() -> None:
        for index in indices:
            context = source if not callable(source) else source(device_id(index))
            transport, _ = await loop.create_connection(Idle, host, port, ssl=context)
            transports.append(transport)

    await asyncio.gather(*(worker() for _ in range(min(CONCURRENCY, count))))
    return transports


async def open_links(
    host: str, port: int, count: int, context: ssl.SSLContext, tls: TlsClient | None
) -> list[MqttLink]:
    """Open ``count`` MQTT links up to their CONNACK, over ``tls`` or else uvloop's TLS."""
    loop = asyncio.get_running_loop()
    links: list[MqttLink] = []
    indices = iter(range(count))
    quiet = Quiet()

    async def worker() -> None:
        for index in indices:
            session = ClientSession(
                device_id(index), MQTTVersion.V5, 600, username=FLEET_USER, password=b"pw"
            )
            link = MqttLink(session, quiet)
            waiter: asyncio.Future[Connected] = loop.create_future()
            link.waiter = waiter
            if tls is None:
                await loop.create_connection(partial(identity, link), host, port, ssl=context)
            else:
                layer = tls.link(link, context, shared=True)
                await loop.create_connection(partial(identity, layer), host, port)
            await waiter
            links.append(link)

    await asyncio.gather(*(worker() for _ in range(min(CONCURRENCY, count))))
    return links


async def measure(
    name: str, count: int, opener: Callable[[], Awaitable[Sequence[Abortable]]]
) -> dict[str, object]:
    """RSS, Python allocations and C heap per connection for ``count`` connections."""
    gc.collect()
    rss0, heap0, maps0 = rss_bytes(), c_heap_in_use(), memory_mappings()
    traced0 = tracemalloc.get_traced_memory()[0]
    transports = await opener()
    gc.collect()
    per: dict[str, float | None] = {
        "rss": (rss_bytes() - rss0) / count,
        "c_heap_in_use": (c_heap_in_use() - heap0) / count,
        "python_allocated": (
            (tracemalloc.get_traced_memory()[0] - traced0) / count
            if tracemalloc.is_tracing()
            else None
        ),
    }
    maps = memory_mappings() - maps0
    for transport in transports:
        transport.abort()
    await asyncio.sleep(0.5)
    return {"variant": name, "connections": count, "bytes_per_connection": per, "new_maps": maps}


VARIANTS = (
    "tcp", "tls", "tls-no-ticket", "tls1.2", "tls-keep-buffers", "mtls-shared",
    "mtls-per-connection", "tls-connect", "own", "own-resume",
)  # fmt: skip
LINK_VARIANTS = {"tls-connect": None, "own": "full", "own-resume": "resume"}
"""Variants that open MQTT links: no TLS layer of ours (uvloop's), or ours and how."""


def variant_context(name: str, ca_file: Path) -> ssl.SSLContext | None:
    """The client context of variant ``name`` (None: plain TCP)."""
    if name == "tcp":
        return None
    context = client_context(TlsOptions(ca_file=ca_file))
    if name == "tls-no-ticket":
        context.options |= ssl.OP_NO_TICKET
    elif name == "tls1.2":
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    elif name == "tls-keep-buffers":
        keep_buffers(context)
    return context


def mutual_source(name: str, pki: Pki, workdir: Path, count: int) -> ContextSource:
    """The client context source of a mutual-TLS variant."""
    if name == "mtls-shared":
        fleet = pki.client(FLEET_USER)
        return context_source(TlsOptions(pki.ca_path, fleet.cert, fleet.key))
    certs = write_device_certs(pki, [device_id(i) for i in range(count)], workdir / "certs")
    return context_source(TlsOptions(pki.ca_path, certs.cert, certs.key))


async def run(variant: str, count: int, workdir: Path) -> None:
    """One variant against a secure broker: one JSON line."""
    if variant.startswith("mtls"):
        pki = make_pki(workdir / "pki", clients=[FLEET_USER])
        source = mutual_source(variant, pki, workdir, count)
        with SecureBroker(pki) as broker:
            result = await measure(
                variant,
                count,
                partial(open_many, broker.host, broker.mtls_port, count, source),
            )
        print(json.dumps({**result, "openssl": ssl.OPENSSL_VERSION}))
        return
    pki = make_pki(workdir / "pki")
    with SecureBroker(pki, {FLEET_USER: "pw"}) as broker:
        context = variant_context(variant, broker.ca_path)
        port = broker.port if context is None else broker.tls_port
        mode = None if context is None else hex(context_mode(context))
        tls: TlsClient | None = None
        opener: Callable[[], Awaitable[Sequence[Abortable]]]
        if variant in LINK_VARIANTS:
            assert context is not None
            layer = LINK_VARIANTS[variant]
            if layer is not None:
                tls = TlsClient(broker.host, resume=layer == "resume")
            opener = partial(open_links, broker.host, port, count, context, tls)
        else:
            opener = partial(open_many, broker.host, port, count, context)
        result = await measure(variant, count, opener)
        if tls is not None:
            result["tls"] = {"handshakes": tls.handshakes, "resumed": tls.resumed}
        print(json.dumps({**result, "openssl": ssl.OPENSSL_VERSION, "ssl_ctx_mode": mode}))


def main() -> None:
    """Entry point: ``python -m clients.tls_memory [--connections N]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--variant", choices=VARIANTS, default="tls")
    parser.add_argument("--trace", action="store_true", help="trace Python allocations")
    args = parser.parse_args()
    raise_open_files_limit()
    if args.trace:
        tracemalloc.start()
    with tempfile.TemporaryDirectory(prefix="tls-memory-") as tmp:
        uvloop.run(run(args.variant, args.connections, Path(tmp)))


if __name__ == "__main__":
    main()
