"""The last stage of the onboarding funnel, seen from the platform: first telemetry ingested.

With the ``register`` workflow the ingest worker also subscribes to the registration topics.
A registration carries the wall-clock moment its device's connection attempt began (``t0_ns``);
the device's first telemetry message that reaches ingest afterwards closes its onboarding, and
the time between the two is recorded. Only devices not seen before count: a re-announcement
after a reconnect is not a new onboarding.

Both ends are wall-clock times taken on possibly different hosts, so across machines the figure
includes their clock offset (on one host it is exact). State lives only while a device is
between its registration and its first message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simulator.metrics.funnel import FIRST_TELEMETRY, Stage
from simulator.payloads.registration import Registration


class FirstTelemetry:
    """Times each newly registered device's first ingested message."""

    __slots__ = ("_known", "_waiting", "malformed", "stage")

    def __init__(self, known: Callable[[str], bool]) -> None:
        self._known = known
        """Whether ingest has already had telemetry from a device."""
        self._waiting: dict[str, int] = {}
        self.stage = Stage(FIRST_TELEMETRY)
        self.malformed = 0
        """Registrations ingest could not read."""

    @property
    def waiting(self) -> int:
        """Registered devices whose first telemetry has not arrived yet."""
        return len(self._waiting)

    def registered(self, registration: Registration | None) -> None:
        """A registration went by (None: one that did not decode): start its device's clock,
        unless the device is known already."""
        if registration is None:
            self.malformed += 1
            return
        device_id = registration.device_id
        if not self._known(device_id) and device_id not in self._waiting:
            self._waiting[device_id] = registration.t0_ns

    def seen(self, device_id: str, recv_ns: int) -> None:
        """Telemetry from ``device_id`` arrived at ``recv_ns`` (call only while :attr:`waiting`)."""
        t0 = self._waiting.pop(device_id, None)
        if t0 is not None:
            self.stage.reach((recv_ns - t0) // 1000)

    def snapshot(self) -> dict[str, Any]:
        """The stage's count and times (histogram in microseconds), JSON-able."""
        return {
            "reached": self.stage.reached,
            "waiting": len(self._waiting),
            "malformed": self.malformed,
            "elapsed_us": self.stage.elapsed_us.to_dict(),
        }
