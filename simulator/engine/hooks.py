"""What a workflow hooks into a connection's life, as one shape the fleet calls in order.

A connection is armed before each connect attempt, connected at its CONNACK, receives
SUBACKs, messages and PUBACKs, may be lost, and says goodbye before an intentional
DISCONNECT. Each workflow that acts at some of these moments (the registrar, the deaths of
registered devices, the Sparkplug edge nodes, and the default admission at CONNACK) is a
:class:`ConnectionHook`; the fleet builds its list once from the scenario and calls every
hook at every moment, so a new workflow is one more hook, not another ``if`` at each moment.

Every method does nothing by default: a hook overrides the moments it acts at. The calls are
per connection event (a CONNACK, a SUBACK, a received message, a loss), never per published
message; the only per-message one, :meth:`ConnectionHook.owns_ack`, is asked only of hooks
that set :attr:`ConnectionHook.claims_acks`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from simulator.engine.devices import Device
from simulator.mqtt import MQTTVersion, PubAckReceived, Publish, Subscribed
from simulator.mqtt.session import ClientSession
from simulator.transport.connection import MqttLink


class ConnectionHook:
    """A workflow acting at some moments of every connection's life (the rest do nothing)."""

    __slots__ = ()

    claims_acks: ClassVar[bool] = False
    """Whether :meth:`owns_ack` may claim a PUBACK (asked per PUBACK only if so)."""

    @property
    def pending(self) -> int:
        """Devices this workflow still holds back from publishing (the run waits for them)."""
        return 0

    def built(self, devices: Sequence[Device], version: MQTTVersion) -> None:
        """Every device's compact state exists, before the first connect."""

    def arm(self, connection: int, session: ClientSession) -> None:
        """Before each connect attempt (reconnects included) of ``session``: set its will."""

    def connected(
        self, connection: int, link: MqttLink, elapsed_s: float, *, reannounce: bool
    ) -> None:
        """``link`` has its CONNACK, ``elapsed_s`` after its attempt began; ``reannounce`` is
        True when it came back after a drop."""

    def admitted(self, device: Device, link: MqttLink) -> None:
        """``device`` joined its publish wheel over ``link``."""

    def on_subscribed(self, link: MqttLink, event: Subscribed) -> None:
        """A SUBACK arrived on ``link``."""

    def on_message(self, link: MqttLink, publish: Publish) -> bool:
        """A message arrived on ``link``; True if it was this workflow's (no later hook sees it)."""
        return False

    def owns_ack(self, link: MqttLink, event: PubAckReceived) -> bool:
        """Whether a PUBACK on ``link`` acknowledges this workflow's message, not telemetry."""
        return False

    def lost(self, connection: int, link: MqttLink) -> None:
        """``link`` dropped (the fleet has taken its devices off their wheels)."""

    def goodbye(self, connection: int, link: MqttLink) -> None:
        """Before an intentional DISCONNECT of ``link``: say what the will would have said."""


class AdmitAtConnack(ConnectionHook):
    """The ``connect`` workflow: every device of a connection publishes from its CONNACK on."""

    __slots__ = ("_admit", "_members")

    def __init__(
        self,
        members: Callable[[int], Sequence[Device]],
        admit: Callable[[Device, MqttLink], None],
    ) -> None:
        self._members = members
        self._admit = admit

    def connected(
        self, connection: int, link: MqttLink, elapsed_s: float, *, reannounce: bool
    ) -> None:
        """Admit every device of the connection at once."""
        admit = self._admit
        for device in self._members(connection):
            admit(device, link)
