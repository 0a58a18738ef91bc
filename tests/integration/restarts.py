"""A whole run through a broker restart: the one way the restart tests stop and start Mosquitto.

The restart is caused by the run's progress, not by a clock: a paho-mqtt subscriber counts
each device's telemetry as the broker delivers it, and the broker is restarted once every
device has published a few messages (so every device is onboarded, and admitted when the
scenario registers its devices). On a slow machine the restart comes later; it never comes
before the phase the test's counts assume.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from simulator.broker import LocalBroker, free_port
from simulator.scenario import Scenario, validate_scenario
from tests.runs import run_here

WAIT_S = 60.0
"""Upper bound on the wait for the run to reach the restart; a healthy run needs seconds."""

QUICK_RETURN: dict[str, Any] = {
    "rate_per_s": 1000.0,
    "connect_timeout_s": 2.0,
    "reconnect_min_s": 0.2,
    "reconnect_max_s": 1.0,
}
"""Onboarding that connects every device at once and, after a restart, tries again within a
second of the broker's return (so a test's wait is for the restart, not for backoff)."""


def restart_scenario(
    name: str,
    port: int,
    *,
    duration_s: float,
    fleet: dict[str, Any],
    ingest: dict[str, Any],
    broker: dict[str, Any] | None = None,
    onboarding: dict[str, Any] | None = None,
) -> Scenario:
    """A scenario against the broker on ``port``, the one port the restarted broker takes
    again, onboarding with ``QUICK_RETURN``; ``broker`` and ``onboarding`` add keys to (or
    change keys of) those tables."""
    return validate_scenario(
        {
            "name": name,
            "duration_s": duration_s,
            "broker": {"url": f"mqtt://127.0.0.1:{port}", **(broker or {})},
            "fleet": fleet,
            "onboarding": QUICK_RETURN | (onboarding or {}),
            "ingest": ingest,
        },
        "<test>",
    )


class TelemetryWatch:
    """How many telemetry messages of each device the broker has delivered to an observer."""

    def __init__(self, broker: LocalBroker, topic_template: str) -> None:
        segments = topic_template.split("/")
        self._device_at = segments.index("{device}")
        topic_filter = "/".join("+" if re.fullmatch(r"\{\w+\}", s) else s for s in segments)
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id="restart-watch")
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_: subscribed.set()
        self._client.connect(broker.host, broker.port)
        self._client.subscribe(topic_filter, qos=0)
        self._client.loop_start()
        assert subscribed.wait(10), "no SUBACK for the restart watch"

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        device = message.topic.split("/")[self._device_at]
        with self._lock:
            self._counts[device] += 1

    def devices_with(self, at_least: int) -> int:
        """How many devices have published at least ``at_least`` messages so far."""
        with self._lock:
            return sum(n >= at_least for n in self._counts.values())

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def run_through_restart(
    scenario: Scenario,
    new_broker: Callable[[], LocalBroker],
    *,
    messages_per_device: int = 2,
    down_s: float = 0.5,
) -> dict[str, Any]:
    """Run ``scenario``; once every device has published ``messages_per_device`` messages,
    stop its broker (SIGTERM), leave it down ``down_s`` (the fault), start a fresh one.

    ``new_broker`` makes a broker on the scenario's port (with whatever persistence the test
    wants); it is called once before the run and once for the restart. Returns the report;
    fails if the run ended before the restart.
    """
    holder = [new_broker()]
    holder[0].start()
    finished = threading.Event()
    restarted = threading.Event()
    errors: list[BaseException] = []
    devices = scenario.fleet.devices

    def restart() -> None:
        try:
            watch = TelemetryWatch(holder[0], scenario.fleet.topic)
            deadline = time.monotonic() + WAIT_S
            try:
                while watch.devices_with(messages_per_device) < devices:
                    if finished.is_set() or time.monotonic() > deadline:
                        return
                    time.sleep(0.01)
            finally:
                watch.stop()  # before the broker goes: paho would try to reconnect
            holder[0].stop()
            time.sleep(down_s)  # the fault itself: how long nothing listens
            holder[0] = new_broker()
            holder[0].start()
            restarted.set()
        except BaseException as exc:  # handed to the test's thread below
            errors.append(exc)

    thread = threading.Thread(target=restart)
    thread.start()
    try:
        report, _ = run_here(scenario)
    finally:
        finished.set()
        thread.join()
        holder[0].stop()
    if errors:
        raise errors[0]
    assert restarted.is_set(), (
        f"no restart: the run ended before each of its {devices} devices had published "
        f"{messages_per_device} messages"
    )
    return report


def whole_run_through_restart(
    name: str,
    sqlite_path: Path,
    *,
    duration_s: float,
    fleet: dict[str, Any],
    broker: dict[str, Any] | None = None,
    onboarding: dict[str, Any] | None = None,
    drain_timeout_s: float = 5.0,
    persistence_dir: Path | None = None,
) -> dict[str, Any]:
    """:func:`restart_scenario` on a free port, ingest storing into ``sqlite_path``, run by
    :func:`run_through_restart` with a Mosquitto on that port (its database kept in
    ``persistence_dir``, if given, across the restart); the report."""
    port = free_port()
    scenario = restart_scenario(
        name,
        port,
        duration_s=duration_s,
        fleet=fleet,
        ingest={"sqlite_path": str(sqlite_path), "drain_timeout_s": drain_timeout_s},
        broker=broker,
        onboarding=onboarding,
    )
    return run_through_restart(
        scenario, lambda: LocalBroker(port=port, persistence_dir=persistence_dir)
    )
