"""The workload every stack carries: the engine's scenario, devices, topics and payloads.

The third-party stacks build their devices from the same validated scenario the engine gets,
with the same plant layout, topic template, device model and payload codec, so every stack
publishes the same topics and encodes each message the same way (a fresh sample of the model,
packed with msgpack, about 110 bytes). Only the MQTT client differs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulator.fleet import PlantLayout, TopicTemplate, get_model
from simulator.payloads import get_codec
from simulator.scenario import Scenario, validate_scenario

TOPIC_TEMPLATE = "bench/{site}/{line}/{device}/telemetry"
"""Every stack publishes under ``bench/``, which the independent subscriber counts."""

TOPIC_FILTER = "bench/#"

PUBLISH_INTERVAL_S = 0.01
"""The engine's per-device interval: small, so each device's messages go out as a burst."""

ONBOARDING_RATE_PER_S = 100_000.0
"""The scenario's largest allowed rate: connects are limited by concurrency, not by the plan."""


def bench_scenario(host: str, port: int, devices: int, concurrency: int) -> Scenario:
    """The scenario of one benchmark run against ``host:port``."""
    return validate_scenario(
        {
            "name": "bench",
            "duration_s": 1,
            "broker": {"url": f"mqtt://{host}:{port}", "mqtt_version": "5"},
            "fleet": {
                "devices": devices,
                "publish_interval_s": PUBLISH_INTERVAL_S,
                "topic": TOPIC_TEMPLATE,
            },
            "onboarding": {"rate_per_s": ONBOARDING_RATE_PER_S, "max_in_flight": concurrency},
            "ingest": {"enabled": False},
        },
        "<bench>",
    )


@dataclass(slots=True)
class BenchDevice:
    """One device of a third-party stack: identity, topic and model state."""

    device_id: str
    topic: str
    state: Any


class Workload:
    """The devices of a scenario and the per-message payload encoder, without any MQTT."""

    def __init__(self, scenario: Scenario) -> None:
        fleet = scenario.fleet
        self._layout = PlantLayout(fleet.sites, fleet.lines_per_site)
        self._template = TopicTemplate(fleet.topic)
        self._model = get_model(fleet.model)
        self._codec = get_codec(fleet.payload)
        self._seed = scenario.seed
        self.count = fleet.devices

    def build(self) -> list[BenchDevice]:
        """Every device's identity, topic and model state (measured as per-device memory)."""
        devices = []
        for index in range(self.count):
            identity = self._layout.identity(index)
            devices.append(
                BenchDevice(
                    identity.device_id,
                    self._template.render(identity, self._model.name),
                    self._model.new_state(index, self._seed),
                )
            )
        return devices

    def encoder(self) -> Callable[[BenchDevice, int, int, float], bytes]:
        """``encode(device, seq, ts_ns, t_s)``: one fresh payload, as the engine makes it."""
        encode = self._codec.encode
        sample = self._model.sample

        def payload(device: BenchDevice, seq: int, ts_ns: int, t_s: float) -> bytes:
            return encode(device.device_id, seq, ts_ns, sample(device.state, seq, t_s))

        return payload
