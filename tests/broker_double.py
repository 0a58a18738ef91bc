"""A broker double: a small asyncio MQTT 5 server, speaking through our own codec.

It plays a real broker that lacks something, which Mosquitto cannot be configured to do:
its CONNACK carries the properties a test gives it (Shared Subscription Available 0,
Wildcard Subscription Available 0, a Server Keep Alive), it can disconnect with reason 0x9E
when it is sent a ``$share/`` subscription, and it records what the clients sent
(connections, subscriptions, PINGREQs) for the test to wait on. Every other SUBSCRIBE is
granted as asked, every PINGREQ answered; nothing is ever published.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from simulator.mqtt import (
    NO_PROPERTIES,
    ConnAck,
    Connect,
    Decoder,
    Disconnect,
    MQTTVersion,
    PingReq,
    PingResp,
    Properties,
    ReasonCode,
    SubAck,
    Subscribe,
    encode,
)

V5 = MQTTVersion.V5


@dataclass
class BrokerDouble:
    """Serves on 127.0.0.1 (``port`` once started); counts and records what clients send."""

    connack: Properties = NO_PROPERTIES
    """The CONNACK's properties (what the broker says it can do)."""
    refuse_shared: bool = False
    """Disconnect with 0x9E (shared subscriptions not supported) on a ``$share/`` SUBSCRIBE."""
    connects: list[str] = field(default_factory=list)
    """Client id of every CONNECT, in order."""
    filters: list[str] = field(default_factory=list)
    """Every topic filter subscribed to, in order (refused ones included)."""
    pings: int = 0
    """PINGREQs received."""
    _server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the double first"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = Decoder(V5)
        try:
            while data := await reader.read(65536):
                decoder.feed(data)
                for packet in decoder:
                    if not self._answer(packet, writer):
                        await writer.drain()
                        return
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def _answer(self, packet: object, writer: asyncio.StreamWriter) -> bool:
        """Answer one packet; False once the connection is to end."""
        if isinstance(packet, Connect):
            self.connects.append(packet.client_id)
            writer.write(encode(ConnAck(properties=self.connack), V5))
        elif isinstance(packet, Subscribe):
            wanted = [s.topic_filter for s in packet.subscriptions]
            self.filters.extend(wanted)
            if self.refuse_shared and any(f.startswith("$share/") for f in wanted):
                reason = ReasonCode.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED
                writer.write(encode(Disconnect(reason), V5))
                return False
            granted = tuple(s.qos for s in packet.subscriptions)
            writer.write(encode(SubAck(packet.packet_id, granted), V5))
        elif isinstance(packet, PingReq):
            self.pings += 1
            writer.write(encode(PingResp(), V5))
        elif isinstance(packet, Disconnect):
            return False
        return True
