"""A listener for tests that drive a ``MqttLink`` themselves, in place of a fleet."""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.mqtt import Event
from simulator.transport.connection import MqttLink


@dataclass
class RecordingListener:
    """Keeps every event and every loss its links report, in order, for a test to look at
    (or not: a test that only needs a link to exist ignores them)."""

    events: list[Event] = field(default_factory=list)
    lost: list[BaseException | None] = field(default_factory=list)

    def on_events(self, link: MqttLink, events: list[Event]) -> None:
        self.events.extend(events)

    def on_lost(self, link: MqttLink, exc: BaseException | None) -> None:
        self.lost.append(exc)
