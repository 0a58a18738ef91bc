"""Just enough of an event loop for the scheduler and the fleet's publishing: a clock set by
hand; timers are never run, and ``call_soon`` is counted."""

from __future__ import annotations


class FakeHandle:
    def cancel(self) -> None:
        pass


class FakeLoop:
    def __init__(self) -> None:
        self.now = 0.0
        self.soon = 0
        """How many times something asked to run again soon."""

    def time(self) -> float:
        return self.now

    def call_soon(self, callback: object) -> FakeHandle:
        self.soon += 1
        return FakeHandle()

    def call_at(self, when: float, callback: object) -> FakeHandle:
        return FakeHandle()
