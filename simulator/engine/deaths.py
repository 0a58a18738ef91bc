"""The death of a registered device on a plain connection (one device, or a plain gateway's).

In the ``register`` workflow a device's birth is its registration; its death goes to its
connection's death topic (``onboarding/{device}/death`` by default, ``{device}`` being the
connection's client id) as a :class:`~simulator.payloads.registration.Death`:

- Before an intentional DISCONNECT (which makes the broker drop the will), one death per
  device the platform accepted on this connection, QoS 0, all in one write ahead of the
  DISCONNECT, as a Sparkplug edge node sends a DDEATH per device.
- If the connection vanishes instead, the broker publishes its will: a death naming every
  device the connection carries (QoS 1, not retained), set on each CONNECT. A platform ignores
  the devices it never accepted. A connection has one will, so a scenario's ``[fleet.will]``
  (a gateway status message, say) takes its place when set.

Connections carrying Sparkplug devices are left to :mod:`simulator.engine.edge_node`, whose
NDEATH and DDEATHs are their deaths. Nothing is kept per device: a death is built from the
connection's members when it is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Protocol

from simulator.engine.hooks import ConnectionHook
from simulator.engine.onboarding import Member, TopicHost, connection_topic
from simulator.errors import LocalProtocolError
from simulator.fleet import TopicTemplate
from simulator.mqtt import Will
from simulator.mqtt.session import ClientSession
from simulator.payloads.registration import LEFT, LOST, Death, encode_death
from simulator.transport.connection import MqttLink


class Mortal(Member, Protocol):
    """What a death reads of a device (besides what the registrar reads)."""

    admitted: bool
    link: MqttLink | None


class DeathsHost(TopicHost, Protocol):
    """The fleet's topology, as the deaths see it."""

    def members(self, connection: int) -> Sequence[Mortal]:
        """The devices a connection carries."""

    def client_id(self, connection: int) -> str:
        """The connection's MQTT client id."""

    def is_gateway(self, connection: int) -> bool:
        """Whether the connection is a gateway carrying several devices."""


class Deaths(ConnectionHook):
    """Announces the deaths of the devices of a fleet's plain connections."""

    def __init__(
        self,
        host: DeathsHost,
        topic: str,
        groups: Collection[int],
        *,
        wills: bool,
        wall_ns: Callable[[], int],
    ) -> None:
        self._host = host
        self.topic = topic
        """The death topic's template."""
        self._template = TopicTemplate(topic)
        self._groups = frozenset(groups)
        self._wills = wills
        self._wall_ns = wall_ns
        self.sent = 0
        """Device deaths published before an intentional disconnect."""
        self.wills = 0
        """Connect attempts (first ones and reconnects, failed ones too) armed with a death will."""

    def covers(self, connection: int) -> bool:
        """Whether this connection's devices die here (not through Sparkplug)."""
        return self._host.members(connection)[0].group in self._groups

    def arm(self, connection: int, session: ClientSession) -> None:
        """Before a connect attempt: a death naming every device as the CONNECT's will."""
        if not self._wills or not self.covers(connection):
            return
        ids = tuple(device.device_id for device in self._host.members(connection))
        death = Death(ids, self._gateway(connection), LOST, self._wall_ns() // 1_000_000)
        topic = connection_topic(self._host, self._template, connection)
        session.set_will(Will(topic, encode_death(death), 1))
        self.wills += 1

    def goodbye(self, connection: int, link: MqttLink) -> None:
        """Before an intentional disconnect: a death per device accepted over ``link``."""
        if not self.covers(connection):
            return
        members = self._host.members(connection)
        topic = connection_topic(self._host, self._template, connection)
        gateway = self._gateway(connection)
        now_ms = self._wall_ns() // 1_000_000
        out: list[bytes] = []
        try:
            for device in members:
                if device.admitted and device.link is link:
                    death = Death((device.device_id,), gateway, LEFT, now_ms)
                    out.append(link.session.publish(topic, encode_death(death), 0))
        except LocalProtocolError:
            return  # closing already: its will, if any, speaks for its devices
        if out:
            link.send(b"".join(out))
            self.sent += len(out)

    def to_dict(self) -> dict[str, object]:
        """The report's ``onboarding.deaths``."""
        return {"topic": self.topic, "sent": self.sent, "wills": self.wills}

    def _gateway(self, connection: int) -> str | None:
        host = self._host
        return host.client_id(connection) if host.is_gateway(connection) else None
