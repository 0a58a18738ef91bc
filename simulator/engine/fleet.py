"""The fleet driver: compact devices, onboarded by the connector, published by the scheduler.

Per device there is one :class:`Device` (a few slots), the model's compact state, one
:class:`~simulator.transport.connection.MqttLink` and its sans-I/O session. There is no task,
timer or buffer per device: the connector's bounded worker pool connects them, and one
scheduler tick publishes every device whose slot has come due.

Each device's n-th message is due at ``epoch + phase + n * interval`` exactly. The emit
timestamp in the payload is that *intended* time, not the moment the bytes were written, so a
sender that falls behind shows up as latency instead of hiding it (coordinated omission is
corrected at the source); the wheel also counts such late firings as overruns.

This module is the fleet's life: build, onboard, publish, wait, stop, disconnect. Its parts
live beside it, one job each: :mod:`.topology` (who is on which connection, and their names),
:mod:`.sessions` (CONNECT options, wills, credentials, what the broker must support),
:mod:`.routing` (CONNACKs, events and losses), :mod:`.workflows` and :mod:`.hooks` (the
registrar, deaths and edge nodes, called in one shape), :mod:`.pings` (keepalive),
:mod:`.reconnects` and :mod:`.publishing` (the hot path).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass, replace

from simulator.engine.deaths import Deaths
from simulator.engine.devices import Device, DeviceGroup, FleetCounters
from simulator.engine.edge_node import EdgeNodes
from simulator.engine.onboarding import Member, Registrar
from simulator.engine.pings import PingWheel
from simulator.engine.publishing import CATCH_UP_REPEATS, Publisher
from simulator.engine.reconnects import ReconnectPolicy, Reconnects
from simulator.engine.routing import LinkRouter
from simulator.engine.scheduler import Scheduler
from simulator.engine.sessions import SessionFactory
from simulator.engine.topology import Topology
from simulator.engine.wheel import TimingWheel
from simulator.engine.workflows import build_workflows
from simulator.errors import ConnectionCutError, InvalidArgumentError
from simulator.metrics.funnel import Funnel
from simulator.metrics.histogram import Histogram
from simulator.mqtt import Event, MQTTVersion
from simulator.scenario import Scenario
from simulator.scenario.segment import WHOLE, Segment
from simulator.transport.connection import MqttLink
from simulator.transport.connector import (
    Connector,
    ConnectorStats,
    ConnectRetries,
    StartSchedule,
)
from simulator.transport.endpoint import Endpoint
from simulator.transport.tls import ContextSource

SLOT_WIDTH_S = 0.005
"""Phase resolution of the publish wheels: devices due within 5 ms are sent in one batch."""


@dataclass(frozen=True, slots=True)
class FleetOptions:
    """What benchmarks and tests change about a fleet that a scenario does not say."""

    messages_per_device: int | None = None
    """Stop each device after this many messages; None publishes until stopped."""
    devices_per_connection: int | None = None
    """Put this many devices on every connection, whatever the scenario says (None: its)."""
    segment: Segment = WHOLE
    """Which slice of the run this fleet is (see :mod:`simulator.scenario.segment`): its
    connections are every ``count``-th of the whole fleet's, connected on the whole plan."""
    client_id_prefix: str = ""
    """Put before every connection's client id at CONNECT (the run's tag: ``run``'s fleets
    connect as ``k3f9a2-ms-000042``); names, topics, credentials and certificates use the id
    without it."""
    merge_overdue: bool = True
    """Whether a publish wheel a whole interval behind sends each device's overdue messages
    (up to :data:`CATCH_UP_REPEATS` of them) in one write; False sends them one firing at a
    time, to measure what merging saves."""

    def __post_init__(self) -> None:
        for name in ("messages_per_device", "devices_per_connection"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InvalidArgumentError(f"{name} must be >= 1, got {value}")


DEFAULT_OPTIONS = FleetOptions()
"""A fleet as its scenario says, publishing until stopped."""


class Fleet:
    """Builds the devices of a scenario, onboards them, and publishes on the shared scheduler."""

    def __init__(
        self,
        scenario: Scenario,
        endpoint: Endpoint,
        *,
        loop: asyncio.AbstractEventLoop,
        wall_ns: Callable[[], int],
        options: FleetOptions = DEFAULT_OPTIONS,
    ) -> None:
        self.scenario = scenario
        self.options = options
        fleet = scenario.fleet
        specs = fleet.groups
        if options.devices_per_connection is not None:
            per = options.devices_per_connection
            specs = tuple(replace(spec, per_connection=per) for spec in specs)
        layout = fleet.plant
        self.messages_per_device = (
            options.messages_per_device
            if options.messages_per_device is not None
            else fleet.messages_per_device
        )
        """Messages each device sends before it stops (None: until stopped)."""
        self.topology = Topology(specs, layout, fleet.topic, options.segment)
        """Which devices each connection carries, and their names."""
        self.version = MQTTVersion.named(scenario.broker.mqtt_version)
        self.sessions = SessionFactory(
            scenario, self.topology, self.version, endpoint.credentials, options.client_id_prefix
        )
        self.qos = fleet.qos
        self._loop = loop
        self._wall_ns = wall_ns
        self.counters = FleetCounters()
        self.connector = Connector(
            endpoint.host,
            endpoint.port,
            max_in_flight=scenario.onboarding.max_in_flight,
            timeout_s=scenario.onboarding.connect_timeout_s,
            source_addresses=endpoint.source_addresses,
            more_brokers=endpoint.more_brokers,
            numbering=(options.segment.index, options.segment.count),
            ssl_context=_unprefixed(endpoint.tls, options.client_id_prefix),
            tls_layer=endpoint.tls_layer,
            tls_names=endpoint.tls_names,
            retries=ConnectRetries(
                scenario.onboarding.connect_attempts,
                scenario.onboarding.reconnect_min_s,
                scenario.onboarding.reconnect_max_s,
                scenario.seed,
            ),
        )
        self._scheduler = Scheduler(loop)
        self.pings = PingWheel(self._scheduler, loop, self.counters)
        self._finished = asyncio.Event()
        self._finished_devices = 0
        self._cut: set[int] = set()
        """The links :meth:`drop_connections` cut and that have not yet been reported lost."""
        self._onboarding_done = False
        workflows = build_workflows(
            scenario,
            self.topology,
            self.version,
            admit=self._admit,
            loop=loop,
            wall_ns=wall_ns,
            run_time_s=lambda: loop.time() - self.links.epoch,
        )
        self.registrar: Registrar | None = workflows.registrar
        self.edges: EdgeNodes | None = workflows.edges
        self.deaths: Deaths | None = workflows.deaths
        self.funnel: Funnel = workflows.funnel
        self.links = LinkRouter(
            self.topology,
            self.sessions,
            workflows.hooks,
            funnel=self.funnel,
            counters=self.counters,
            pings=self.pings,
            where=f"{endpoint.host}:{endpoint.port}",
        )
        """CONNACKs, events and losses of the fleet's connections."""
        onboarding = scenario.onboarding
        if onboarding.reconnect:
            self.links.reconnects = Reconnects(
                ReconnectPolicy(onboarding.reconnect_min_s, onboarding.reconnect_max_s),
                seed=scenario.seed,
                limit=onboarding.max_in_flight,
                loop=loop,
                prepare=self.links.rearm,
                attempt=self.connector.reconnect,
                back=self.links.back,
                # A slice's share of the onboarding rate, as its first connects have.
                rate_per_s=onboarding.rate_per_s / options.segment.count,
            )
        self.publisher = Publisher(
            self.counters,
            qos=self.qos,
            limit=self.messages_per_device,
            coalesce=self.topology.has_gateways,
            edges=self.edges,
            finished=self._devices_finished,
        )
        """The publish wheels' action: due devices in, PUBLISH writes out."""

    @property
    def devices(self) -> list[Device]:
        """Every device, by fleet index (empty before :meth:`build`)."""
        return self.topology.devices

    @property
    def groups(self) -> list[DeviceGroup]:
        """The fleet by model, interval and payload format (one group without a mix)."""
        return self.topology.groups

    @property
    def connection_count(self) -> int:
        """Connections the fleet needs: one per device, or one per gateway."""
        return self.topology.connection_count

    def members(self, connection: int) -> list[Device]:
        """The devices connection ``connection`` carries."""
        return self.topology.members(connection)

    def client_id(self, connection: int) -> str:
        """The MQTT client id of a connection: the device's id, or the gateway's."""
        return self.topology.client_id(connection)

    @property
    def connector_stats(self) -> ConnectorStats:
        """Onboarding totals so far, counted in connections."""
        return self.connector.stats

    @property
    def connect_us(self) -> Histogram:
        """Time from a connect attempt's start to its CONNACK, first connects only."""
        return self.links.connect_us

    @property
    def tcp_us(self) -> Histogram:
        """Time from a connect attempt's start to its TCP connection, first connects only."""
        return self.links.tcp_us

    @property
    def onboarded(self) -> int:
        """Devices whose connection reached CONNACK (whether or not it is still up)."""
        return self.links.onboarded

    @property
    def failed(self) -> int:
        """Devices whose connection failed to onboard."""
        return self.links.failed

    @property
    def connected(self) -> int:
        """Devices whose connection is up now."""
        links = self.links
        return links.onboarded - links.dropped - links.left

    def fewest_connected(self) -> int:
        """The fewest devices connected since the previous call (or the start), now included:
        a dip between two samples, which the count now no longer shows."""
        links = self.links
        now = self.connected
        fewest = min(links.fewest, now)
        links.fewest = now
        return fewest

    @property
    def overrun(self) -> int:
        """Firings the scheduler ran more than a slot late."""
        return self._scheduler.overrun

    def build(self) -> None:
        """Create every device's compact state (before onboarding, so RSS can be measured)."""
        self.topology.build(self.scenario.seed, self.version)
        for hook in self.links.hooks:
            hook.built(self.topology.devices, self.version)

    async def onboard(
        self,
        schedule: StartSchedule,
        *,
        publish_while_onboarding: bool = True,
        connections: int | None = None,
    ) -> ConnectorStats:
        """Connect every device on ``schedule`` (the first ``connections`` connections only,
        when given: a stage plan that never asks for the rest).

        By default each device starts publishing at its CONNACK, as a plant coming online does.
        With ``publish_while_onboarding=False`` nothing is published until
        :meth:`start_publishing`, so onboarding can be measured on its own.
        """
        epoch = self.links.epoch = self._loop.time()
        self.publisher.start(epoch, self._wall_ns())
        repeats = CATCH_UP_REPEATS if self.options.merge_overdue else 1
        for group in self.groups:
            group.wheel = TimingWheel(group.interval_s, SLOT_WIDTH_S, epoch, max_repeats=repeats)
            self._scheduler.add_wheel(group.wheel, self.publisher.action(group))
        if publish_while_onboarding:
            self.start_publishing()
        count = self.connection_count if connections is None else connections
        stats = await self.connector.run(count, schedule, self._make_link, self.links.onboarded_one)
        self._onboarding_done = True
        self._check_finished()
        return stats

    def start_publishing(self) -> None:
        """Start the scheduler from now on (firings due earlier are skipped, not caught up)."""
        now = self._loop.time()
        for wheel in (*(group.wheel for group in self.groups), self.pings.wheel):
            if wheel is not None:
                wheel.skip_to(now)
        self._scheduler.start()

    def stop_publishing(self) -> None:
        """Stop the scheduler; no further messages are sent."""
        self._scheduler.stop()

    async def wait_finished(self) -> None:
        """Wait until every admitted device has sent ``messages_per_device`` messages."""
        if self.messages_per_device is None:
            raise InvalidArgumentError("wait_finished() needs a fleet with messages_per_device")
        while not self._finished.is_set():
            # A registration that times out admits nobody and publishes nothing, so nothing
            # else would look again: check on a slow beat too.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.1):
                    await self._finished.wait()
            self._check_finished()

    async def wait_registered(self) -> None:
        """Wait until no device is between CONNACK and its registration's answer (or timeout)."""
        # A poll: pending falls to zero in several places (answers, timeouts, drops).
        while self.links.pending:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    def published_by_device(self) -> dict[str, int]:
        """How many messages each device has published (its next sequence number)."""
        return {device.device_id: device.seq for device in self.devices if device.seq}

    async def disconnect_all(self, timeout_s: float = 5.0) -> None:
        """Send DISCONNECT on every open link and wait (bounded) for the sockets to close."""
        if self.links.reconnects is not None:
            self.links.reconnects.stop()
        links = list({id(d.link): d.link for d in self.devices if d.link is not None}.values())
        hooks = self.links.hooks
        for link in links:
            connection = link.owner
            if isinstance(connection, int) and link.transport is not None:
                for hook in hooks:
                    hook.goodbye(connection, link)
        for device in self.devices:
            device.link = None
        for link in links:
            link.close()
        deadline = self._loop.time() + timeout_s
        while any(link.transport is not None for link in links):
            if self._loop.time() > deadline:
                for link in links:
                    link.abort()
                break
            await asyncio.sleep(0.05)

    def drop_connections(self, share: float, rng: random.Random) -> tuple[int, int]:
        """Cut ``share`` of the open connections at once, chosen with ``rng``, as a lost uplink
        would: no DISCONNECT, so the broker publishes their wills, and reconnects follow when
        they are on. Returns the connections and the devices cut."""
        carried: dict[int, int] = {}
        links: dict[int, MqttLink] = {}
        for device in self.devices:
            link = device.link
            if link is not None and link.transport is not None and isinstance(link.owner, int):
                carried[link.owner] = carried.get(link.owner, 0) + 1
                links[link.owner] = link
        # By connection index, so that one seed cuts the same connections in every run.
        chosen = rng.sample(sorted(links), round(len(links) * share))
        for connection in chosen:
            self._cut.add(id(links[connection]))
            links[connection].abort()
        return len(chosen), sum(carried[connection] for connection in chosen)

    def leave(self, connection: int) -> int:
        """Disconnect ``connection`` cleanly if it is up (deaths said, no reconnect); returns
        how many devices left."""
        link = self.topology.members(connection)[0].link
        if link is None or link.transport is None:
            return 0
        return self.links.leave(connection, link)

    # the links' listener: a benchmark may watch the events here

    def on_events(self, link: MqttLink, events: list[Event]) -> None:
        """A link's events, counted and routed (see :meth:`LinkRouter.on_events`)."""
        self.links.on_events(link, events)

    def on_lost(self, link: MqttLink, exc: BaseException | None) -> None:
        """A connection went away: stop publishing its devices and count the drop (one this
        fleet cut on purpose by that reason)."""
        if self._cut and id(link) in self._cut:
            self._cut.discard(id(link))
            exc = ConnectionCutError("cut by a drop_connections fault")
        self.links.on_lost(link, exc)

    # connector and workflow callbacks

    def _make_link(self, connection: int) -> MqttLink:
        session = self.sessions.session(connection)
        self.links.arm(connection, session)
        return MqttLink(session, self, connection)

    def _admit(self, device: Member, link: MqttLink) -> None:
        # The workflows are built before the router that admits (it calls them): a late bind.
        self.links.admit(device, link)

    # wheel actions

    def _devices_finished(self, count: int) -> None:
        self._finished_devices += count
        self._check_finished()

    def _check_finished(self) -> None:
        links = self.links
        if self._onboarding_done and not links.pending and self._finished_devices >= links.admitted:
            self._finished.set()


def _unprefixed(tls: ContextSource | None, prefix: str) -> ContextSource | None:
    """A per-connection TLS context source that names certificates by the client id without
    the run's prefix (``certs/{device}.pem`` is the device's, whatever run it is in)."""
    if tls is None or isinstance(tls, ssl.SSLContext) or not prefix:
        return tls
    source = tls
    return lambda client_id: source(client_id.removeprefix(prefix))
