"""Device deaths as the platform hears them (the ``register`` workflow's death topics).

With a death topic the ingest worker also subscribes to it and counts the devices each death
names, by reason: those that left on purpose (one death per device before its connection's
DISCONNECT) and those named in a will the broker published for a connection that vanished. A
run compares the first with what its fleet sent, so a death lost on the way is seen, not
assumed delivered. A payload that is not a death is counted, never a crash.
"""

from __future__ import annotations

from simulator.errors import PayloadError
from simulator.payloads.registration import LEFT, decode_death


class DeathsHeard:
    """Counts the devices named in the deaths heard."""

    __slots__ = ("invalid", "left", "lost")

    def __init__(self) -> None:
        self.left = 0
        """Devices whose death said they left on purpose."""
        self.lost = 0
        """Devices named in wills: their connection vanished."""
        self.invalid = 0
        """Messages on a death topic that were not a death."""

    def heard(self, payload: bytes) -> None:
        """Count one message from a death topic."""
        try:
            death = decode_death(payload)
        except PayloadError:
            self.invalid += 1
            return
        if death.reason == LEFT:
            self.left += len(death.devices)
        else:
            self.lost += len(death.devices)

    def snapshot(self) -> dict[str, int]:
        """The counts, for the worker's progress and final lines."""
        return {"left": self.left, "lost": self.lost, "invalid": self.invalid}
