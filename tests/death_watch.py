"""A paho subscriber on every death topic, standing for the platform (real broker only)."""

from __future__ import annotations

import threading
import time
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from simulator.broker import LocalBroker
from simulator.payloads.registration import Death, decode_death

DEATH_FILTER = "onboarding/+/death"
"""Matches the default death topic, ``onboarding/{device}/death``."""


class DeathWatch:
    """Collects every death published on :data:`DEATH_FILTER`, with its topic."""

    def __init__(self, broker: LocalBroker) -> None:
        self.deaths: list[tuple[str, Death]] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id="death-watcher")
        client.on_connect = lambda c, *_: c.subscribe(DEATH_FILTER, qos=1)
        client.on_subscribe = lambda *_: subscribed.set()
        client.on_message = self._on_message
        client.connect(broker.host, broker.port)
        client.loop_start()
        self._client = client
        if not subscribed.wait(10):
            self.close()
            raise TimeoutError(f"no SUBACK for {DEATH_FILTER} within 10 s")

    def _on_message(self, _c: Any, _u: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.deaths.append((message.topic, decode_death(bytes(message.payload))))

    def wait_for(self, count: int) -> list[tuple[str, Death]]:
        """Every death so far, once ``count`` have come (or 10 s passed) and 0.3 s more."""
        deadline = time.monotonic() + 10
        while len(self.deaths) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # anything beyond ``count`` would be a death too many
        with self._lock:
            return list(self.deaths)

    def close(self) -> None:
        """Stop the client."""
        self._client.loop_stop()
        self._client.disconnect()
