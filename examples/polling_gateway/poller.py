"""A small polling gateway: Modbus TCP and OPC UA in, MQTT JSON out, the kind of system to test.

It reads the gateway hint that ``factory-sim southbound`` writes and polls every ``poll_s``
seconds each device it lists: over Modbus TCP (endpoint, unit id and register map), reading
the whole map in one request and decoding it (scale, 16/32-bit, word order, state codes); and
over OPC UA (each server's URL and every device's node ids), reading all the nodes of a server
with one Read service call per batch of ``read_batch`` nodes, not one per tag. It publishes
one JSON message per device and poll to ``plant/<device id>/data``::

    {"ts": 1733555000123, "quality": "good", "values": {"spindle_speed_rpm": 8123.4, ...}}

A read that fails (a timeout, an exception response, a lost connection, an OPC UA value whose
status is not Good) is published with ``"quality": "bad"`` and every value ``null``, as plant
gateways flag a tag they could not read (with ``flag_failures=False`` nothing is published:
the device's data just stops). Deliberate mistakes, which its test proves the check catches:
``swap_words`` decodes the named Modbus (device, signal) pairs with the wrong word order,
``scale`` multiplies a signal's value by a factor (a unit mistake), ``remap`` reads a signal
from another signal's node (a wrong node mapping).

Run it against a broker, next to ``factory-sim southbound``::

    python examples/polling_gateway/poller.py runs/NAME.southbound.json mqtt://127.0.0.1:1883

Polling uses pymodbus's asyncio client, one connection per Modbus device (as gateways are
configured per device, and so a silent device delays no other), and asyncua's client, one
session per OPC UA server, on one asyncio loop in a thread of its own; publishing uses
paho-mqtt 2.x in its network thread.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import struct
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from asyncua import Client, ua
from paho.mqtt.enums import CallbackAPIVersion
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

TOPIC = "plant/{device}/data"
"""Where each device's values go."""

_FORMATS = {"uint16": "H", "int16": "h", "uint32": "I", "int32": "i", "float32": "f"}


@dataclass(frozen=True, slots=True)
class Field:
    """One signal's place in a device's registers, as the hint lists it."""

    signal: str
    address: int
    registers: int
    type: str
    scale: int
    codes: Mapping[int, str]


@dataclass(frozen=True, slots=True)
class Device:
    """One device to poll."""

    device_id: str
    host: str
    port: int
    unit_id: int
    fields: tuple[Field, ...]
    size: int


@dataclass(frozen=True, slots=True)
class NodeDevice:
    """One device's variables on an OPC UA server."""

    device_id: str
    signals: tuple[str, ...]
    node_ids: tuple[str, ...]
    """Per signal, the node it is read from."""


@dataclass(frozen=True, slots=True)
class NodeServer:
    """One OPC UA server to poll, and its devices."""

    url: str
    devices: tuple[NodeDevice, ...]


@dataclass(frozen=True, slots=True)
class Hint:
    """What a hint file says to poll."""

    devices: list[Device]
    """Modbus TCP devices."""
    word_order: str
    servers: list[NodeServer]
    """OPC UA servers."""


def load_hint(path: Path, remap: Mapping[tuple[str, str], str] | None = None) -> Hint:
    """The devices and servers of a hint file; ``remap``: (device, signal) pairs read from
    another signal's node (a deliberate mistake)."""
    hint = json.loads(path.read_text(encoding="utf-8"))
    maps = {
        model: tuple(
            Field(
                row["signal"],
                row["address"],
                row["registers"],
                row["type"],
                row["scale"],
                {int(code): name for code, name in row.get("codes", {}).items()},
            )
            for row in rows
        )
        for model, rows in hint.get("register_maps", {}).items()
    }
    devices = []
    for entry in hint.get("devices", []):
        fields = maps[entry["model"]]
        last = fields[-1]
        devices.append(
            Device(
                entry["device_id"],
                entry["host"],
                entry["port"],
                entry["unit_id"],
                fields,
                last.address + last.registers,
            )
        )
    remap = remap or {}
    by_url: dict[str, list[NodeDevice]] = {}
    for entry in hint.get("opcua", {}).get("devices", []):
        nodes: dict[str, str] = entry["nodes"]
        device_id = entry["device_id"]
        by_url.setdefault(entry["url"], []).append(
            NodeDevice(
                device_id,
                tuple(nodes),
                tuple(nodes[remap.get((device_id, signal), signal)] for signal in nodes),
            )
        )
    servers = [NodeServer(url, tuple(devices)) for url, devices in by_url.items()]
    return Hint(devices, hint.get("word_order", "big"), servers)


def decode(field: Field, words: list[int], word_order: str) -> object:
    """The value of ``field`` from its registers (16-bit words as the device sent them)."""
    mine = words[field.address : field.address + field.registers]
    if field.registers == 2 and word_order == "little":
        mine = [mine[1], mine[0]]
    raw = struct.unpack(">" + _FORMATS[field.type], struct.pack(">" + "H" * len(mine), *mine))[0]
    if field.codes:
        return field.codes[raw]
    if field.type == "float32" or field.scale != 1:
        return raw / field.scale
    return raw


class Poller:
    """Polls every device of a hint file and publishes its values, until stopped."""

    def __init__(
        self,
        hint_path: Path,
        broker_url: str,
        *,
        poll_s: float = 1.0,
        timeout_s: float | None = None,
        swap_words: Collection[tuple[str, str]] = (),
        scale: Mapping[tuple[str, str], float] | None = None,
        remap: Mapping[tuple[str, str], str] | None = None,
        protocols: Collection[str] = ("modbus", "opcua"),
        read_batch: int = 1000,
        flag_failures: bool = True,
        client_id: str = "example-polling-gateway",
    ) -> None:
        """``timeout_s``: how long a Modbus read may take (default: half the poll interval, so
        a silent device is flagged at its next poll); reading a whole OPC UA server may take
        the poll interval. ``protocols``: which of the hint's devices to poll (a device served
        both ways is otherwise polled both ways). ``read_batch``: nodes per OPC UA Read."""
        hint = load_hint(hint_path, remap)
        self.devices = hint.devices if "modbus" in protocols else []
        self.word_order = hint.word_order
        self.servers = hint.servers if "opcua" in protocols else []
        self.device_ids = [d.device_id for d in self.devices] + [
            d.device_id for server in self.servers for d in server.devices
        ]
        """Every device polled, by its id (once per protocol it is polled by)."""
        self.poll_s = poll_s
        self.timeout_s = timeout_s if timeout_s is not None else poll_s / 2
        self.read_batch = read_batch
        self.swap_words = frozenset(swap_words)
        self.scale = dict(scale or {})
        self.flag_failures = flag_failures
        self.published = 0
        """Messages handed to the MQTT client."""
        self.values_read = 0
        """Values read well (and published)."""
        self.failed_reads = 0
        self.reads: Counter[tuple[str, str]] = Counter()
        """Reads per (device id, ``"good"`` or ``"failed"``)."""
        self.overruns = 0
        """Polls that started late because the previous one took longer than ``poll_s``."""
        url = urlsplit(broker_url)
        self._mqtt = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self._broker = (url.hostname or "127.0.0.1", url.port or 1883)
        self._connected = threading.Event()
        self._mqtt.on_connect = lambda *_: self._connected.set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="poller", daemon=True)
        self._stop: asyncio.Event | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        """Connect to the broker and start polling."""
        self._mqtt.connect(*self._broker)
        self._mqtt.loop_start()
        if not self._connected.wait(timeout_s):
            self._mqtt.loop_stop()
            raise TimeoutError(f"no CONNACK from {self._broker} within {timeout_s} s")
        self._thread.start()

    def stop(self) -> None:
        """Stop polling, disconnect from the devices and the broker."""
        stop = self._stop
        if stop is not None:
            self._loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout=30)
        self._mqtt.disconnect()
        self._mqtt.loop_stop()

    def _run(self) -> None:
        # pymodbus logs every timeout at error level, asyncua every lost connection; the
        # published quality says it instead.
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
        logging.getLogger("asyncua").setLevel(logging.CRITICAL)
        self._loop.run_until_complete(self._poll_all())
        self._loop.close()

    async def _poll_all(self) -> None:
        self._stop = asyncio.Event()
        tasks = [asyncio.create_task(self._poll(device)) for device in self.devices]
        tasks += [asyncio.create_task(self._poll_server(server)) for server in self.servers]
        await self._stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _every_poll(self, poll: Callable[[], Awaitable[None]]) -> None:
        """``poll()`` every ``poll_s`` from now, on a fixed schedule; a late one is counted
        and the polls it overran are skipped."""
        start = time.monotonic()
        n = 0
        while True:
            await poll()
            n += 1
            due = start + n * self.poll_s
            late = time.monotonic() - due
            if late > 0:
                self.overruns += 1
                n += int(late // self.poll_s) + 1
                due = start + n * self.poll_s
            await asyncio.sleep(due - time.monotonic())

    async def _poll(self, device: Device) -> None:
        client = AsyncModbusTcpClient(
            device.host, port=device.port, timeout=self.timeout_s, retries=0, reconnect_delay=0
        )  # no reconnecting of its own: the next poll connects again
        try:
            await self._every_poll(lambda: self._read_and_publish(client, device))
        finally:
            client.close()

    async def _poll_server(self, server: NodeServer) -> None:
        ids = [ua.NodeId.from_string(n) for device in server.devices for n in device.node_ids]
        batches = [ids[i : i + self.read_batch] for i in range(0, len(ids), self.read_batch)]
        session: list[Client] = []  # the connected client, if any

        async def read_server() -> None:
            try:
                if not session:
                    session.append(Client(server.url, timeout=self.poll_s))
                    await asyncio.wait_for(session[0].connect(), self.poll_s)
                reads = [
                    session[0].uaclient.read_attributes(batch, ua.AttributeIds.Value)
                    for batch in batches
                ]
                results = await asyncio.wait_for(asyncio.gather(*reads), self.poll_s)
            except (ua.UaError, TimeoutError, OSError, ConnectionError):
                # Start the next poll with a new session: the server may have restarted.
                if session:
                    await self._close(session.pop())
                for device in server.devices:
                    self._failed(device.device_id, device.signals)
                return
            values = [value for batch in results for value in batch]
            first = 0
            for device in server.devices:
                mine = values[first : first + len(device.signals)]
                first += len(device.signals)
                if not all(value.StatusCode.is_good() for value in mine):
                    self._failed(device.device_id, device.signals)
                    continue
                self._publish_values(
                    device.device_id,
                    {
                        signal: value.Value.Value
                        for signal, value in zip(device.signals, mine, strict=True)
                    },
                )

        try:
            await self._every_poll(read_server)
        finally:
            if session:
                await self._close(session.pop())

    async def _close(self, client: Client) -> None:
        """End a session, however its connection fares (asyncua logs what fails)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(client.disconnect(), self.poll_s)

    async def _read_and_publish(self, client: AsyncModbusTcpClient, device: Device) -> None:
        values: dict[str, object]
        try:
            if not client.connected:
                await asyncio.wait_for(client.connect(), self.timeout_s)
            response = await asyncio.wait_for(
                client.read_holding_registers(0, count=device.size, device_id=device.unit_id),
                self.timeout_s,
            )
            if response.isError():
                raise ModbusException(f"exception response {response}")
        except (ModbusException, TimeoutError, OSError, ConnectionError):
            # Start the next poll on a fresh connection: a late answer to this read must not
            # be taken for the next one's.
            client.close()
            self._failed(device.device_id, [field.signal for field in device.fields])
            return
        words = list(response.registers)
        values = {}
        for field in device.fields:
            order = self.word_order
            if (device.device_id, field.signal) in self.swap_words:
                order = "big" if order == "little" else "little"
            values[field.signal] = decode(field, words, order)
        self._publish_values(device.device_id, values)

    def _failed(self, device_id: str, signals: Collection[str]) -> None:
        self.failed_reads += 1
        self.reads[device_id, "failed"] += 1
        if self.flag_failures:
            self._publish(device_id, dict.fromkeys(signals), "bad")

    def _publish_values(self, device_id: str, values: dict[str, object]) -> None:
        for signal, value in values.items():
            factor = self.scale.get((device_id, signal))
            if factor is not None and isinstance(value, int | float):
                values[signal] = value * factor
        self.reads[device_id, "good"] += 1
        self.values_read += len(values)
        self._publish(device_id, values, "good")

    def _publish(self, device_id: str, values: dict[str, object], quality: str) -> None:
        body = {"ts": int(time.time() * 1000), "quality": quality, "values": values}
        self._mqtt.publish(TOPIC.format(device=device_id), json.dumps(body))
        self.published += 1

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main() -> None:
    """Poll and publish until interrupted."""
    parser = argparse.ArgumentParser(
        description="Poll Modbus TCP devices and OPC UA servers, publish MQTT JSON."
    )
    parser.add_argument("hint", type=Path, help="the hint file factory-sim southbound wrote")
    parser.add_argument("broker", help="mqtt://HOST:PORT")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between polls")
    parser.add_argument(
        "--protocol",
        choices=["modbus", "opcua", "both"],
        default="both",
        help="which of the hint's devices to poll (default: every one it lists)",
    )
    parser.add_argument(
        "--swap-words",
        action="append",
        default=[],
        metavar="DEVICE:SIGNAL",
        help="decode this 32-bit signal with the wrong word order (a deliberate mistake)",
    )
    args = parser.parse_args()
    swaps = [tuple(item.split(":", 1)) for item in args.swap_words]
    protocols = ("modbus", "opcua") if args.protocol == "both" else (args.protocol,)
    poller = Poller(args.hint, args.broker, poll_s=args.poll, swap_words=swaps, protocols=protocols)
    with poller:
        try:
            while True:
                time.sleep(5)
                print(f"published {poller.published:,}, failed reads {poller.failed_reads:,}")
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
