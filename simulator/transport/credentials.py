"""Per-device MQTT credentials from one template: ``{device}`` is the device's id.

A fleet shares one user name and password (``mqtt://plant:secret@host``) or derives them per
device (``mqtt://{device}:{device}-secret@host``), as brokers with per-device accounts and
ACLs such as ``pattern readwrite factory/+/+/%u/#`` expect. Nothing is stored per device: the
strings are rendered when the device connects.
"""

from __future__ import annotations

from dataclasses import dataclass

PLACEHOLDER = "{device}"


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user name and an optional password, either of which may contain ``{device}``."""

    username: str
    password: str | None = None

    def for_device(self, device_id: str) -> tuple[str, bytes | None]:
        """The user name and password bytes device ``device_id`` connects with."""
        username = self.username.replace(PLACEHOLDER, device_id)
        if self.password is None:
            return username, None
        return username, self.password.replace(PLACEHOLDER, device_id).encode()
