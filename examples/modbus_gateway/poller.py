"""A small polling gateway: Modbus TCP in, MQTT JSON out, the kind of system to test.

It reads the gateway hint that ``factory-sim southbound`` writes (every device's endpoint,
unit id and register map), polls each device's registers every ``poll_s`` seconds, decodes
them with the map (scale, 16/32-bit, word order, state codes) and publishes one JSON message
per device and poll to ``plant/<device id>/data``::

    {"ts": 1733555000123, "quality": "good", "values": {"spindle_speed_rpm": 8123.4, ...}}

A read that fails (a timeout, an exception response, a lost connection) is published with
``"quality": "bad"`` and every value ``null``, as plant gateways flag a tag they could not
read (with ``flag_failures=False`` nothing is published: the device's data just stops).
``swap_words`` decodes the named (device, signal) pairs with the wrong word order: the
deliberate mistake its test proves the check catches.

Run it against a broker, next to ``factory-sim southbound``::

    python examples/modbus_gateway/poller.py runs/NAME.southbound.json mqtt://127.0.0.1:1883

Polling uses pymodbus's asyncio client, one connection per device (as gateways are configured
per device, and so a silent device delays no other), on one asyncio loop in a thread of its
own; publishing uses paho-mqtt 2.x in its network thread.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import struct
import threading
import time
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
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


def load_hint(path: Path) -> tuple[list[Device], str]:
    """The devices of a hint file, and its word order."""
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
        for model, rows in hint["register_maps"].items()
    }
    devices = []
    for entry in hint["devices"]:
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
    return devices, hint["word_order"]


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
        flag_failures: bool = True,
        client_id: str = "example-modbus-gateway",
    ) -> None:
        """``timeout_s``: how long a read may take (default: half the poll interval, so a
        silent device is flagged at its next poll)."""
        self.devices, self.word_order = load_hint(hint_path)
        self.poll_s = poll_s
        self.timeout_s = timeout_s if timeout_s is not None else poll_s / 2
        self.swap_words = frozenset(swap_words)
        self.flag_failures = flag_failures
        self.published = 0
        """Messages handed to the MQTT client."""
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
        self._thread = threading.Thread(target=self._run, name="modbus-poller", daemon=True)
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
        # pymodbus logs every timeout at error level; the published quality says it instead.
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
        self._loop.run_until_complete(self._poll_all())
        self._loop.close()

    async def _poll_all(self) -> None:
        self._stop = asyncio.Event()
        tasks = [asyncio.create_task(self._poll(device)) for device in self.devices]
        await self._stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _poll(self, device: Device) -> None:
        client = AsyncModbusTcpClient(
            device.host, port=device.port, timeout=self.timeout_s, retries=0, reconnect_delay=0
        )  # no reconnecting of its own: the next poll connects again
        start = time.monotonic()
        n = 0
        try:
            while True:
                await self._read_and_publish(client, device)
                n += 1
                due = start + n * self.poll_s
                late = time.monotonic() - due
                if late > 0:
                    self.overruns += 1
                    n += int(late // self.poll_s) + 1
                    due = start + n * self.poll_s
                await asyncio.sleep(due - time.monotonic())
        finally:
            client.close()

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
            self.failed_reads += 1
            self.reads[device.device_id, "failed"] += 1
            if self.flag_failures:
                self._publish(device, {field.signal: None for field in device.fields}, "bad")
            return
        words = list(response.registers)
        values = {}
        for field in device.fields:
            order = self.word_order
            if (device.device_id, field.signal) in self.swap_words:
                order = "big" if order == "little" else "little"
            values[field.signal] = decode(field, words, order)
        self.reads[device.device_id, "good"] += 1
        self._publish(device, values, "good")

    def _publish(self, device: Device, values: dict[str, object], quality: str) -> None:
        body = {"ts": int(time.time() * 1000), "quality": quality, "values": values}
        self._mqtt.publish(TOPIC.format(device=device.device_id), json.dumps(body))
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
    parser = argparse.ArgumentParser(description="Poll Modbus TCP devices, publish MQTT JSON.")
    parser.add_argument("hint", type=Path, help="the hint file factory-sim southbound wrote")
    parser.add_argument("broker", help="mqtt://HOST:PORT")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between polls")
    parser.add_argument(
        "--swap-words",
        action="append",
        default=[],
        metavar="DEVICE:SIGNAL",
        help="decode this 32-bit signal with the wrong word order (a deliberate mistake)",
    )
    args = parser.parse_args()
    swaps = [tuple(item.split(":", 1)) for item in args.swap_words]
    poller = Poller(args.hint, args.broker, poll_s=args.poll, swap_words=swaps)
    with poller:
        try:
            while True:
                time.sleep(5)
                print(f"published {poller.published:,}, failed reads {poller.failed_reads:,}")
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
