"""A tiny protocol gateway: the kind of plant-side system the simulator exists to test.

It subscribes to the plant's telemetry (``factory/<site>/<line>/<device>/telemetry``) and
republishes every message, payload untouched, to the platform's topic for that device
(``platform/ingest/<device>``), as an edge gateway forwarding a plant to a central platform
would. It counts what it received and what the broker acknowledged as forwarded, so a test
can check that nothing fell through.

Run it on its own against a broker::

    python examples/gateway/bridge.py 127.0.0.1 1883

It uses paho-mqtt 2.x in its own network thread, as many real gateways do.
"""

from __future__ import annotations

import argparse
import threading
import time
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

SOURCE_FILTER = "factory/+/+/+/telemetry"
"""Plant telemetry: site, line and device are the three wildcard levels."""

TARGET_PREFIX = "platform/ingest"
"""Where forwarded messages go: ``<prefix>/<device>``."""

_DEVICE_LEVEL = 3


class Bridge:
    """Forwards plant telemetry to the platform's per-device topics.

    ``forward_qos`` 1 makes the broker acknowledge every forwarded message, which is what
    :attr:`forwarded` counts.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str = "plant-gateway",
        forward_qos: int = 1,
    ) -> None:
        self.host = host
        self.port = port
        self.forward_qos = forward_qos
        self.received = 0
        """Plant messages that arrived."""
        self.forwarded = 0
        """Messages republished and acknowledged by the broker (sent, for QoS 0)."""
        self._changed = threading.Condition()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.on_publish = self._on_publish

    def start(self, timeout_s: float = 10.0) -> None:
        """Connect and return once the plant subscription is in place.

        Raises:
            TimeoutError: when the broker has not confirmed the subscription in time.
        """
        self._client.connect(self.host, self.port)
        self._client.loop_start()
        if not self._subscribed.wait(timeout_s):
            self.stop()
            raise TimeoutError(f"no SUBACK from {self.host}:{self.port} within {timeout_s} s")

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()

    def wait_forwarded(self, count: int, timeout_s: float) -> bool:
        """Wait until at least ``count`` messages were forwarded; ``False`` on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self.forwarded >= count, timeout_s)

    def _on_connect(self, client: mqtt.Client, _userdata: Any, *_: Any) -> None:
        # Subscribing on every connect restores the subscription after a reconnect.
        client.subscribe(SOURCE_FILTER, qos=1)

    def _on_subscribe(
        self, _client: mqtt.Client, _userdata: Any, _mid: int, codes: list[ReasonCode], *_: Any
    ) -> None:
        if all(not code.is_failure for code in codes):
            self._subscribed.set()

    def _on_message(self, client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        device = message.topic.split("/")[_DEVICE_LEVEL]
        with self._changed:
            self.received += 1
        client.publish(f"{TARGET_PREFIX}/{device}", message.payload, qos=self.forward_qos)

    def _on_publish(self, *_: Any) -> None:
        with self._changed:
            self.forwarded += 1
            self._changed.notify_all()

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
    """Forward until interrupted, printing the counts every few seconds."""
    parser = argparse.ArgumentParser(description="Forward plant telemetry to the platform.")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    args = parser.parse_args()
    with Bridge(args.host, args.port) as bridge:
        try:
            while True:
                time.sleep(5)
                print(f"received {bridge.received:,}, forwarded {bridge.forwarded:,}")
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
