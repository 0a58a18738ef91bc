"""The run's TCP relay over real sockets: bytes pass both ways in order, latency is a lower
bound, a partition holds everything and lets it go in order, a held sender is pushed back on
(the relay stops reading past its high-water mark) instead of filling memory, and a broker
that refuses the onward connection resets the device's."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from simulator.transport.link import Impairment
from simulator.transport.relay import HIGH_WATER, Relay
from tests.waiting import wait_until


class Upstream:
    """A TCP server standing in for the broker: it keeps what it reads, and echoes it when
    told to."""

    def __init__(self, echo: bool) -> None:
        self.echo = echo
        self.got = bytearray()
        self.ended = False
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                self.got += data
                if self.echo:
                    writer.write(data)
                    await writer.drain()
            self.ended = True
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def largest_buffer(name: str) -> int:
    """The most a TCP socket buffer may grow to (``/proc/sys/net/ipv4/<name>``'s third value)."""
    return int(Path(f"/proc/sys/net/ipv4/{name}").read_text().split()[2])


async def closed(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


@contextlib.asynccontextmanager
async def relayed(echo: bool = False) -> AsyncIterator[tuple[Relay, Upstream, int]]:
    upstream = Upstream(echo)
    server = await asyncio.start_server(upstream.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    relay = Relay([("127.0.0.1", port)], loop=loop, rng=random.Random(3))
    ((_, relay_port),) = await relay.start()
    try:
        yield relay, upstream, relay_port
    finally:
        await relay.close()
        server.close()
        await server.wait_closed()


async def test_bytes_pass_both_ways_in_order_on_many_connections() -> None:
    async with relayed(echo=True) as (relay, _, port):
        messages = [bytes([n % 256]) * (1 + n * 37 % 5000) for n in range(50)]

        async def round_trip(message: bytes) -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(message)
            back = await reader.readexactly(len(message))
            await closed(writer)
            return back

        assert await asyncio.gather(*map(round_trip, messages)) == messages
        assert relay.accepted == 50


async def test_a_round_trip_takes_at_least_twice_the_added_latency() -> None:
    async with relayed(echo=True) as (relay, _, port):
        relay.impair(Impairment(latency_s=0.1, jitter_s=0.02))
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for n in range(5):
            sent = loop.time()
            writer.write(b"ping %d" % n)
            assert await reader.readexactly(6) == b"ping %d" % n
            # Each way at least 100 - 20 ms: the relay holds every chunk until it is due.
            assert loop.time() - sent >= 2 * 0.08
        await closed(writer)


async def test_a_partition_holds_both_ways_and_lets_everything_go_in_order() -> None:
    async with relayed() as (relay, upstream, port):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"before ")
        await wait_until(lambda: bytes(upstream.got) == b"before ", "the first bytes")
        relay.hold()
        for n in range(100):
            writer.write(b"%d," % n)
        expected = b"".join(b"%d," % n for n in range(100))
        await wait_until(lambda: relay.queued_bytes == len(expected), "the relay holding them")
        assert bytes(upstream.got) == b"before "
        writer.close()  # the end waits behind the bytes too
        relay.unhold()
        await closed(writer)
        await wait_until(lambda: upstream.ended, "the end passed on")
        assert bytes(upstream.got) == b"before " + expected
        assert relay.queued_bytes == 0


async def test_a_held_sender_is_pushed_back_instead_of_filling_the_relay() -> None:
    async with relayed() as (relay, upstream, port):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        relay.hold()
        # More than the kernel's socket buffers can hold between sender and relay (they grow
        # up to the largest of net.ipv4.tcp_wmem and tcp_rmem), so some of it must stay in
        # the sender's transport once the relay stops reading.
        kernel = largest_buffer("tcp_wmem") + largest_buffer("tcp_rmem")
        payload = bytes(range(256)) * ((kernel + 4 * 2**20) // 256)
        writer.write(payload)
        transport = writer.transport
        # The relay reads up to its high-water mark, then stops: the rest stays with the
        # sender (the kernel's buffers, then its own transport's).
        await wait_until(
            lambda: relay.queued_bytes >= HIGH_WATER and transport.get_write_buffer_size() > 0,
            "the relay full and the sender holding the rest",
        )
        assert relay.queued_bytes < HIGH_WATER + 512 * 1024  # at most one more read's worth
        relay.unhold()
        await wait_until(lambda: len(upstream.got) == len(payload), "everything passed on")
        assert bytes(upstream.got) == payload
        await closed(writer)


async def test_a_refused_onward_connection_resets_the_device_s() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    relay = Relay([("127.0.0.1", port)], loop=asyncio.get_running_loop(), rng=random.Random(1))
    ((_, relay_port),) = await relay.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", relay_port)
        writer.write(b"CONNECT")
        with pytest.raises(ConnectionResetError):
            await reader.read(10)
        assert relay.refused == 1
        assert relay.open == 0
        await closed(writer)
    finally:
        await relay.close()
