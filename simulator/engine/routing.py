"""What happens to a fleet's connections once they are made: CONNACK, events, loss, return.

The connector reports each connect; the :class:`LinkRouter` counts it into the funnel and the
connect histograms, refuses (at the first CONNACK) a broker that lacks what the run relies
on, starts the ping wheel, gives the connection's devices their link and hands the connection
to the workflows' hooks, one of which admits its devices to their publish wheels. A link's
events are counted (PUBACK, PUBCOMP, refusals) or routed to the hooks (SUBACKs, received
messages, the PUBACKs of a workflow's own messages); a lost link takes its devices off their
wheels and is handed to the reconnects, which bring it back through :meth:`LinkRouter.back`.
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.engine.devices import Device, FleetCounters, drop_reason
from simulator.engine.hooks import ConnectionHook
from simulator.engine.onboarding import Member
from simulator.engine.pings import PingWheel
from simulator.engine.reconnects import Reconnects
from simulator.engine.sessions import SessionFactory
from simulator.engine.topology import Topology
from simulator.errors import BrokerCapabilityError, BrokerRefusedError
from simulator.metrics.funnel import CONNACK, TCP_CONNECT, Funnel
from simulator.metrics.histogram import Histogram
from simulator.mqtt import (
    Event,
    MessageReceived,
    PubAckReceived,
    PubCompReceived,
    PubRecReceived,
    Subscribed,
)
from simulator.mqtt.session import ClientSession
from simulator.transport.connection import MqttLink
from simulator.transport.connector import ConnectOutcome

HISTOGRAM_MAX_US = 3_600_000_000
"""Largest duration the connect histograms hold: one hour, in microseconds."""


class LinkRouter:
    """Counts a fleet's connections in and out and routes their events to the hooks."""

    def __init__(
        self,
        topology: Topology,
        sessions: SessionFactory,
        hooks: Sequence[ConnectionHook],
        *,
        funnel: Funnel,
        counters: FleetCounters,
        pings: PingWheel,
        where: str,
    ) -> None:
        self._topology = topology
        self._sessions = sessions
        self.hooks = tuple(hooks)
        """The workflows, in the order they are called at every moment of a connection."""
        self._ack_claimers = tuple(hook for hook in self.hooks if hook.claims_acks)
        self.funnel = funnel
        self.counters = counters
        self.pings = pings
        self._interval_s = max(group.interval_s for group in topology.groups)
        """The longest publish interval: a link is kept alive by pings if it is longer."""
        self._where = where
        """The broker's ``host:port``, for a capability error's message."""
        self.reconnects: Reconnects | None = None
        """Brings dropped connections back (None: they stay down); set by the fleet."""
        self.epoch = 0.0
        """Loop time the fleet's onboarding began (the ping wheel's epoch)."""
        self.connect_us = Histogram(HISTOGRAM_MAX_US)
        self.tcp_us = Histogram(HISTOGRAM_MAX_US)
        self.onboarded = 0
        """Devices whose connection reached CONNACK (whether or not it is still up)."""
        self.dropped = 0
        """Devices whose connection is down after a CONNACK (back ones no longer counted)."""
        self.failed = 0
        """Devices whose connection failed to onboard."""
        self.admitted = 0
        """Devices on their publish wheels now."""
        self.left = 0
        """Devices whose connection left on purpose (a stage lowered the devices)."""
        self.fewest = 0
        """The fewest devices connected since :meth:`Fleet.fewest_connected` last asked."""

    @property
    def pending(self) -> int:
        """Devices the workflows still hold back from publishing."""
        return sum(hook.pending for hook in self.hooks)

    def arm(self, connection: int, session: ClientSession) -> None:
        """Before each connect attempt: let every hook set what it needs (a will)."""
        for hook in self.hooks:
            hook.arm(connection, session)

    def rearm(self, connection: int, link: MqttLink) -> None:
        """Before a reconnect attempt: the session's will, numbered or stamped anew."""
        self.arm(connection, link.session)

    # the connector's outcomes

    def onboarded_one(self, outcome: ConnectOutcome) -> None:
        """A try of a first connect finished: count it, and hand a connected link to the
        workflows (a failed try that will be tried again counts as a retry)."""
        link = outcome.link
        count = len(self._topology.members(outcome.index))
        if link is None:
            if outcome.retrying:
                # Not out of the funnel yet: counted where it failed, tried again later.
                self.funnel[TCP_CONNECT if outcome.tcp_s == 0 else CONNACK].retries += count
                return
            self.failed += count
            self._count_failure(outcome, count)
            return
        if not self.onboarded:
            self._check_capabilities(link)
            ping_interval = link.session.ping_interval
            self.pings.start(
                ping_interval,
                self.epoch,
                needed=self._interval_s > ping_interval or self._topology.has_gateways,
            )
        self.tcp_us.record(int(outcome.tcp_s * 1e6))
        self.connect_us.record(int(outcome.total_s * 1e6))
        self.funnel[TCP_CONNECT].reach(int(outcome.tcp_s * 1e6), count)
        self.funnel[CONNACK].reach(int(outcome.total_s * 1e6), count)
        self.onboarded += self._attach(outcome.index, link)
        for hook in self.hooks:
            hook.connected(outcome.index, link, outcome.total_s, reannounce=False)

    def back(self, connection: int, link: MqttLink, outcome: ConnectOutcome) -> None:
        """A dropped connection is back: its devices onboard again (announcing themselves)."""
        self.counters.reconnects += 1
        if outcome.connected is not None:
            # The broker had no session for us: our unacknowledged messages are gone.
            self.counters.discarded += len(outcome.connected.discarded)
        self.dropped -= self._attach(connection, link)
        for hook in self.hooks:
            hook.connected(connection, link, outcome.total_s, reannounce=True)

    def _count_failure(self, outcome: ConnectOutcome, count: int) -> None:
        """Count a connection's devices out of the funnel at the stage where it failed."""
        error = outcome.error
        stage = self.funnel[TCP_CONNECT if outcome.tcp_s == 0 else CONNACK]
        if stage.name == CONNACK:
            self.funnel[TCP_CONNECT].reach(int(outcome.tcp_s * 1e6), count)
        if isinstance(error, TimeoutError):
            stage.timeouts += count
        elif isinstance(error, BrokerRefusedError):
            stage.rejected += count
        else:
            stage.failed += count

    def _check_capabilities(self, link: MqttLink) -> None:
        """Refuse, on the first CONNACK, a broker that cannot do what this run relies on."""
        problem = self._sessions.capability_problem(link.session.limits)
        if problem is not None:
            link.abort()
            raise BrokerCapabilityError(f"the broker at {self._where} {problem}")

    def _attach(self, connection: int, link: MqttLink) -> int:
        """Give the connection's devices ``link`` and keep it alive; return how many."""
        members = self._topology.members(connection)
        for device in members:
            device.link = link
        self.pings.add(link, members[0].phase_s)
        return len(members)

    def admit(self, device: Member, link: MqttLink) -> None:
        """Put ``device`` on its publish wheel (it is connected over ``link`` and accepted)."""
        assert isinstance(device, Device)
        if device.admitted or device.link is not link:
            return
        wheel = self._topology.groups[device.group].wheel
        assert wheel is not None
        wheel.add(device, device.phase_s)
        device.admitted = True
        self.admitted += 1
        for hook in self.hooks:
            hook.admitted(device, link)

    # the links' listener (through the fleet)

    def on_events(self, link: MqttLink, events: list[Event]) -> None:
        """Count acknowledgements and refusals; route onboarding and Sparkplug traffic.

        A QoS 1 message is done at its PUBACK, a QoS 2 message at its PUBCOMP; a reason code
        of 0x80 or above on either (or on a PUBREC) is the broker refusing it, for example
        because the ACL does not let this device publish there: counted, never hidden. A
        PUBACK a hook claims (a registration's) is the hook's; SUBACKs and received messages
        go to the hooks in order (an NCMD to the edge nodes, an answer to the registrar);
        anything else a device receives is ignored.
        """
        counters = self.counters
        claimers = self._ack_claimers
        hooks = self.hooks
        for event in events:
            # Nearly every event of a QoS 1 fleet is a PUBACK: it is settled first.
            if type(event) is PubAckReceived or type(event) is PubCompReceived:
                if claimers and type(event) is PubAckReceived:
                    claimed = False
                    for hook in claimers:
                        if hook.owns_ack(link, event):
                            claimed = True
                            break
                    if claimed:
                        continue
                if event.reason_code >= 0x80:
                    counters.refused += 1
                else:
                    counters.acked += 1
                continue
            if isinstance(event, MessageReceived):
                for hook in hooks:
                    if hook.on_message(link, event.publish):
                        break
            elif isinstance(event, Subscribed):
                for hook in hooks:
                    hook.on_subscribed(link, event)
            elif isinstance(event, PubRecReceived) and event.reason_code >= 0x80:
                counters.refused += 1

    def on_lost(self, link: MqttLink, exc: BaseException | None = None) -> None:
        """A connection went away: stop publishing its devices and count the drop and why."""
        connection = link.owner
        if not isinstance(connection, int):
            return
        members = [d for d in self._topology.members(connection) if d.link is link]
        if not members:
            return
        self.counters.dropped_links += 1
        reasons = self.counters.drop_reasons
        reason = drop_reason(exc)
        reasons[reason] = reasons.get(reason, 0) + 1
        self.dropped += len(members)
        self.fewest = min(self.fewest, self.onboarded - self.dropped - self.left)
        self._detach(connection, link, members)
        if self.reconnects is not None:
            self.reconnects.schedule(connection, link)

    def leave(self, connection: int, link: MqttLink) -> int:
        """Take ``connection`` away on purpose: its deaths said (the hooks' goodbye), its
        devices off their wheels, then DISCONNECT. Not a drop: nothing reconnects it.
        Returns how many devices left."""
        members = [d for d in self._topology.members(connection) if d.link is link]
        if not members:
            return 0
        for hook in self.hooks:
            hook.goodbye(connection, link)
        self._detach(connection, link, members)
        self.left += len(members)
        self.fewest = min(self.fewest, self.onboarded - self.dropped - self.left)
        link.close()
        return len(members)

    def _detach(self, connection: int, link: MqttLink, members: list[Device]) -> None:
        """Stop publishing ``members`` over ``link`` and tell the hooks it is gone."""
        groups = self._topology.groups
        for device in members:
            device.link = None
            if device.admitted:
                device.admitted = False
                self.admitted -= 1
                wheel = groups[device.group].wheel
                if wheel is not None:
                    wheel.remove(device, device.phase_s)
        self.pings.remove(link, members[0].phase_s)
        for hook in self.hooks:
            hook.lost(connection, link)
