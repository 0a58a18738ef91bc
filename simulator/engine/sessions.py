"""What each of a fleet's connections says in its CONNECT, and what it relies on the broker for.

Every connection shares one :class:`~simulator.mqtt.ConnectOptions` (clean start, MQTT 5's
session expiry and topic aliases); a scenario's ``[fleet.will]`` adds a will rendered for each
connection's place in the plant. Credentials come from one template, rendered per client id
as the session is made. The workflows' own wills (a death naming the connection's devices, a
Sparkplug NDEATH) are set later, before each connect attempt, by their hooks.

The same settings decide what the broker must support: the fleet's QoS, and the will's QoS and
retain flag. :meth:`SessionFactory.capability_problem` names the first one a CONNACK refuses,
with the setting to change.
"""

from __future__ import annotations

from dataclasses import replace

from simulator.engine.topology import Topology
from simulator.fleet import TopicTemplate
from simulator.mqtt import (
    NO_PROPERTIES,
    BrokerLimits,
    ClientSession,
    ConnectOptions,
    MQTTVersion,
    Properties,
    Will,
)
from simulator.mqtt.capabilities import qos_missing, retain_missing
from simulator.scenario import Scenario
from simulator.transport.credentials import Credentials


def connect_options(scenario: Scenario, version: MQTTVersion) -> ConnectOptions:
    """The CONNECT options every connection of ``scenario`` shares."""
    broker = scenario.broker
    if version is MQTTVersion.V5:
        return ConnectOptions(
            clean_start=broker.clean_start,
            session_expiry_interval=broker.session_expiry_s,
            topic_aliases=broker.topic_aliases,
        )
    return ConnectOptions(clean_start=broker.clean_start)


class SessionFactory:
    """Makes each connection's :class:`~simulator.mqtt.ClientSession` from the scenario."""

    def __init__(
        self,
        scenario: Scenario,
        topology: Topology,
        version: MQTTVersion,
        credentials: Credentials | None,
        client_id_prefix: str = "",
    ) -> None:
        self._topology = topology
        self.client_id_prefix = client_id_prefix
        """Put before every connection's client id at CONNECT (the run's tag, so two runs
        on one broker never take over each other's sessions); names, topics, credentials and
        certificate paths use the id without it."""
        self.version = version
        self.keepalive_s = scenario.broker.keepalive_s
        self.qos = scenario.fleet.qos
        self.credentials = credentials
        """User name and password template every device connects with (None: anonymous)."""
        self.options = connect_options(scenario, version)
        """Shared by every connection (a will, if any, is added per connection)."""
        self._will = scenario.fleet.will
        self._will_template = TopicTemplate(self._will.topic) if self._will is not None else None

    def session(self, connection: int) -> ClientSession:
        """A new session for ``connection``: its client id, credentials and CONNECT options."""
        client_id = self._topology.client_id(connection)
        username: str | None = None
        password: bytes | None = None
        if self.credentials is not None:
            username, password = self.credentials.for_device(client_id)
        return ClientSession(
            self.client_id_prefix + client_id,
            self.version,
            self.keepalive_s,
            username=username,
            password=password,
            options=self._options_for(connection),
        )

    def _options_for(self, connection: int) -> ConnectOptions:
        will = self._will
        if will is None or self._will_template is None:
            return self.options
        topology = self._topology
        identity = topology.connection_identity(connection)
        model = topology.model_of(topology.members(connection)[0])
        properties = NO_PROPERTIES
        if self.version is MQTTVersion.V5 and will.delay_s:
            properties = Properties(will_delay_interval=will.delay_s)
        return replace(
            self.options,
            will=Will(
                self._will_template.render(identity, model.name),
                will.payload.encode(),
                will.qos,
                will.retain,
                properties,
            ),
        )

    def capability_problem(self, limits: BrokerLimits) -> str | None:
        """What the fleet's settings need that ``limits`` refuse, with the setting to change."""
        problem = qos_missing(limits, self.qos, "fleet.qos")
        if problem is not None:
            return f"{problem}; run with --qos {limits.maximum_qos}"
        will = self._will
        if will is None:
            return None
        if will.retain:
            problem = retain_missing(limits, "fleet.will.retain")
            if problem is not None:
                return f"{problem}; set it to false"
        return qos_missing(limits, will.qos, "fleet.will.qos")
