"""The fleet driver: compact devices, onboarded by the connector, published by the scheduler.

Per device there is one :class:`Device` (a few slots), the model's compact state, one
:class:`~simulator.transport.connection.MqttLink` and its sans-I/O session. There is no task,
timer or buffer per device: the connector's bounded worker pool connects them, and one
scheduler tick publishes every device whose slot has come due.

Each device's n-th message is due at ``epoch + phase + n * interval`` exactly. The emit
timestamp in the payload is that *intended* time, not the moment the bytes were written, so a
sender that falls behind shows up as latency instead of hiding it (coordinated omission is
corrected at the source); the wheel also counts such late firings as overruns.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import replace

from simulator.engine.deaths import Deaths
from simulator.engine.devices import Device, DeviceGroup, FleetCounters
from simulator.engine.edge_node import EdgeNodes
from simulator.engine.onboarding import Member, Registrar
from simulator.engine.publishing import CATCH_UP_REPEATS, Publisher
from simulator.engine.reconnects import ReconnectPolicy, Reconnects
from simulator.engine.scheduler import Scheduler
from simulator.engine.wheel import TimingWheel
from simulator.errors import (
    BrokerCapabilityError,
    BrokerRefusedError,
    InvalidArgumentError,
)
from simulator.fleet import DeviceModel, PlantLayout, TopicTemplate, get_model
from simulator.fleet.plant import DeviceIdentity
from simulator.metrics.funnel import CONNACK, CONNECT_STAGES, TCP_CONNECT, Funnel
from simulator.metrics.histogram import Histogram
from simulator.mqtt import (
    NO_PROPERTIES,
    BrokerLimits,
    ClientSession,
    ConnectOptions,
    Event,
    MessageReceived,
    MQTTVersion,
    Properties,
    PubAckReceived,
    PubCompReceived,
    PubRecReceived,
    Subscribed,
    Will,
    publish_prefix,
)
from simulator.mqtt.capabilities import qos_missing, retain_missing
from simulator.scenario import Scenario
from simulator.scenario.composition import connection_starts
from simulator.scenario.plan import publish_phase_s
from simulator.transport.connection import MqttLink
from simulator.transport.connector import (
    Connector,
    ConnectorStats,
    ConnectOutcome,
    StartSchedule,
)
from simulator.transport.credentials import Credentials
from simulator.transport.keepalive import keep_alive
from simulator.transport.tls import ContextSource
from simulator.transport.tls_link import TlsLayer

SLOT_WIDTH_S = 0.005
"""Phase resolution of the publish wheels: devices due within 5 ms are sent in one batch."""

HISTOGRAM_MAX_US = 3_600_000_000
"""Largest duration the connect histograms hold: one hour, in microseconds."""


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


class Fleet:
    """Builds the devices of a scenario, onboards them, and publishes on the shared scheduler."""

    def __init__(
        self,
        scenario: Scenario,
        host: str,
        port: int,
        *,
        loop: asyncio.AbstractEventLoop,
        wall_ns: Callable[[], int],
        source_addresses: tuple[str | None, ...] = (None,),
        messages_per_device: int | None = None,
        ssl_context: ContextSource | None = None,
        tls_layer: TlsLayer = "resume",
        credentials: Credentials | None = None,
        devices_per_connection: int | None = None,
        reconnect: ReconnectPolicy | None = None,
        merge_overdue: bool = True,
    ) -> None:
        self.scenario = scenario
        specs = scenario.fleet.groups
        if devices_per_connection is not None:
            if devices_per_connection < 1:
                raise InvalidArgumentError(
                    f"devices_per_connection must be >= 1, got {devices_per_connection}"
                )
            specs = tuple(replace(spec, per_connection=devices_per_connection) for spec in specs)
        self._starts = connection_starts(specs)
        """First device of each connection (see :func:`connection_starts`)."""
        self._gateway = bytearray(
            spec.per_connection > 1 for spec in specs for _ in range(spec.connections)
        )
        """Per connection: 1 if it is a gateway (its client id is gw-NNNNN), 0 if a device."""
        self.credentials = credentials
        """User name and password template every device connects with (None: anonymous)."""
        if messages_per_device is not None and messages_per_device < 1:
            raise InvalidArgumentError(
                f"messages_per_device must be >= 1, got {messages_per_device}"
            )
        self.messages_per_device = messages_per_device
        """Stop each device after this many messages (benchmarks); None publishes until stopped."""
        self.merge_overdue = merge_overdue
        """Whether a publish wheel a whole interval behind sends each device's overdue messages
        (up to :data:`CATCH_UP_REPEATS` of them) in one write; False sends them one firing at
        a time, to measure what merging saves."""
        fleet = scenario.fleet
        self.version = MQTTVersion.V5 if scenario.broker.mqtt_version == "5" else MQTTVersion.V311
        self.options = connect_options(scenario, self.version)
        """Shared by every connection (a will, if any, is added per connection)."""
        will = fleet.will
        self._will_template = TopicTemplate(will.topic) if will is not None else None
        self._layout = PlantLayout(
            fleet.sites,
            fleet.lines_per_site,
            get_model(fleet.model).id_prefix,
            enterprise=fleet.enterprise,
            areas_per_site=fleet.areas_per_site,
            cells_per_line=fleet.cells_per_line,
        )
        self.keepalive_s = scenario.broker.keepalive_s
        self.qos = fleet.qos
        self.groups = [DeviceGroup(spec, self._layout) for spec in specs]
        """The fleet by model, interval and payload format (one group without a mix)."""
        self.interval_s = max(group.interval_s for group in self.groups)
        self._loop = loop
        self._wall_ns = wall_ns
        self.counters = FleetCounters()
        self.connect_us = Histogram(HISTOGRAM_MAX_US)
        self.tcp_us = Histogram(HISTOGRAM_MAX_US)
        self.devices: list[Device] = []
        self.connector = Connector(
            host,
            port,
            max_in_flight=scenario.onboarding.max_in_flight,
            timeout_s=scenario.onboarding.connect_timeout_s,
            source_addresses=source_addresses,
            ssl_context=ssl_context,
            tls_layer=tls_layer,
        )
        self._scheduler = Scheduler(loop)
        self._epoch = 0.0
        self._ping_wheel: TimingWheel[MqttLink] | None = None
        self._devices_onboarded = 0
        self._devices_dropped = 0
        self._devices_failed = 0
        self.reconnects: Reconnects | None = None
        """Brings dropped connections back (None: they stay down)."""
        if reconnect is not None:
            self.reconnects = Reconnects(
                reconnect,
                seed=scenario.seed,
                limit=scenario.onboarding.max_in_flight,
                loop=loop,
                prepare=self._rearm,
                attempt=self.connector.reconnect,
                back=self._back,
            )
        self._finished = asyncio.Event()
        self._finished_devices = 0
        self._onboarding_done = False
        self._admitted = 0
        self.registrar: Registrar | None = None
        """Drives the register workflow (None: devices publish from their CONNACK on)."""
        if scenario.onboarding.workflow == "register":
            self.registrar = Registrar(
                self, scenario.onboarding, self.version, loop=loop, wall_ns=wall_ns
            )
            self.funnel = self.registrar.funnel
        else:
            self.funnel = Funnel(CONNECT_STAGES)
        """Onboarding stage by stage, in devices (see :mod:`simulator.metrics.funnel`)."""
        self.edges = EdgeNodes.for_fleet(
            self,
            fleet.sparkplug_group or fleet.enterprise,
            wall_ns=wall_ns,
            run_time_s=lambda: loop.time() - self._epoch,
        )
        """The Sparkplug B edge nodes (None: no device uses the Sparkplug payload)."""
        self.deaths: Deaths | None = None
        """Deaths of the devices of plain connections (``register`` workflow with a death
        topic; None otherwise)."""
        death_topic = scenario.onboarding.death_topic
        if self.registrar is not None and death_topic:
            edges = self.edges
            plain = [i for i in range(len(self.groups)) if edges is None or not edges.covers(i)]
            if plain:
                self.deaths = Deaths(
                    self, death_topic, plain, wills=fleet.will is None, wall_ns=wall_ns
                )
        self.publisher = Publisher(
            self.counters,
            qos=self.qos,
            limit=messages_per_device,
            coalesce=any(self._gateway),
            edges=self.edges,
            finished=self._devices_finished,
        )
        """The publish wheels' action: due devices in, PUBLISH writes out."""

    @property
    def connector_stats(self) -> ConnectorStats:
        """Onboarding totals so far, counted in connections."""
        return self.connector.stats

    @property
    def connection_count(self) -> int:
        """Connections the fleet needs: one per device, or one per gateway."""
        return len(self._starts) - 1

    @property
    def onboarded(self) -> int:
        """Devices whose connection reached CONNACK (whether or not it is still up)."""
        return self._devices_onboarded

    @property
    def failed(self) -> int:
        """Devices whose connection failed to onboard."""
        return self._devices_failed

    @property
    def connected(self) -> int:
        """Devices whose connection is up now."""
        return self._devices_onboarded - self._devices_dropped

    def members(self, connection: int) -> list[Device]:
        """The devices connection ``connection`` carries."""
        starts = self._starts
        return self.devices[starts[connection] : starts[connection + 1]]

    def connection_of(self, index: int) -> int:
        """The connection that carries device ``index``."""
        return bisect_right(self._starts, index) - 1

    def first_device(self, connection: int) -> int:
        """The index of a connection's first device."""
        return self._starts[connection]

    def is_gateway(self, connection: int) -> bool:
        """Whether a connection is a gateway (its client id is gw-NNNNN) or a device's own."""
        return bool(self._gateway[connection])

    def connection_identity(self, connection: int) -> DeviceIdentity:
        """The plant identity of a connection: its first device's, named by its client id."""
        index = self._starts[connection]
        return replace(self._layout.identity(index), device_id=self.client_id(connection))

    def model_of(self, device: Member) -> DeviceModel:
        """The equipment model of ``device``."""
        return self.groups[device.group].model

    def telemetry_topic(self, device: Member) -> str | None:
        """The topic ``device`` publishes its telemetry on; None for a Sparkplug device, whose
        topic names its edge node rather than its place in the plant."""
        group = self.groups[device.group]
        if group.codec.name == "sparkplug":
            return None
        return self._topic_template.render(group.layout.identity(device.index), group.model.name)

    @functools.cached_property
    def _topic_template(self) -> TopicTemplate:
        return TopicTemplate(self.scenario.fleet.topic)

    def client_id(self, connection: int) -> str:
        """The MQTT client id of a connection: the device's id, or the gateway's."""
        if not self._gateway[connection]:
            return self.devices[self._starts[connection]].device_id
        return f"gw-{connection:05d}"

    @property
    def overrun(self) -> int:
        """Firings the scheduler ran more than a slot late."""
        return self._scheduler.overrun

    def build(self) -> None:
        """Create every device's compact state (before onboarding, so RSS can be measured)."""
        template = TopicTemplate(self.scenario.fleet.topic)
        seed = self.scenario.seed
        devices = self.devices
        version = self.version
        for number, group in enumerate(self.groups):
            model = group.model
            layout = group.layout
            for local in range(group.count):
                index = group.start + local
                identity = layout.identity(index)
                topic = template.render(identity, model.name)
                devices.append(
                    Device(
                        index,
                        identity.device_id,
                        publish_prefix(topic, version),
                        self._phase_s(group, local),
                        model.new_state(index, seed),
                        number,
                    )
                )
        if self.edges is not None:
            self.edges.retopic(devices, version)

    @staticmethod
    def _phase_s(group: DeviceGroup, local: int) -> float:
        """Device ``local`` of ``group``'s phase: its own, or its gateway's.

        A gateway polls its devices and sends their values in one burst, so its devices share
        the gateway's phase (the gateways are spread over the interval instead): their messages
        then leave in one write.
        """
        per = group.per_connection
        if per == 1:
            return publish_phase_s(local, group.count, group.interval_s)
        return publish_phase_s(local // per, group.connections, group.interval_s)

    async def onboard(
        self, schedule: StartSchedule, *, publish_while_onboarding: bool = True
    ) -> ConnectorStats:
        """Connect every device on ``schedule``.

        By default each device starts publishing at its CONNACK, as a plant coming online does.
        With ``publish_while_onboarding=False`` nothing is published until
        :meth:`start_publishing`, so onboarding can be measured on its own.
        """
        loop = self._loop
        self._epoch = loop.time()
        self.publisher.start(self._epoch, self._wall_ns())
        for group in self.groups:
            group.wheel = TimingWheel(
                group.interval_s,
                SLOT_WIDTH_S,
                self._epoch,
                max_repeats=CATCH_UP_REPEATS if self.merge_overdue else 1,
            )
            self._scheduler.add_wheel(group.wheel, self.publisher.action(group))
        if publish_while_onboarding:
            self.start_publishing()
        stats = await self.connector.run(
            self.connection_count, schedule, self._make_link, self._onboarded
        )
        self._onboarding_done = True
        self._check_finished()
        return stats

    def start_publishing(self) -> None:
        """Start the scheduler from now on (firings due earlier are skipped, not caught up)."""
        now = self._loop.time()
        for wheel in (*(group.wheel for group in self.groups), self._ping_wheel):
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
        while self.registrar is not None and self.registrar.pending:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    def published_by_device(self) -> dict[str, int]:
        """How many messages each device has published (its next sequence number)."""
        return {device.device_id: device.seq for device in self.devices if device.seq}

    async def disconnect_all(self, timeout_s: float = 5.0) -> None:
        """Send DISCONNECT on every open link and wait (bounded) for the sockets to close."""
        if self.reconnects is not None:
            self.reconnects.stop()
        links = list({id(d.link): d.link for d in self.devices if d.link is not None}.values())
        edges = self.edges
        deaths = self.deaths
        for link in links:
            connection = link.owner
            if isinstance(connection, int) and link.transport is not None:
                if edges is not None:
                    edges.goodbye(connection, link)
                if deaths is not None:
                    deaths.goodbye(connection, link)
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

    # connector callbacks

    def _make_link(self, connection: int) -> MqttLink:
        client_id = self.client_id(connection)
        username: str | None = None
        password: bytes | None = None
        if self.credentials is not None:
            username, password = self.credentials.for_device(client_id)
        session = ClientSession(
            client_id,
            self.version,
            self.keepalive_s,
            username=username,
            password=password,
            options=self._options_for(connection, client_id),
        )
        if self.edges is not None:
            self.edges.arm(connection, session)
        if self.deaths is not None:
            self.deaths.arm(connection, session)
        return MqttLink(session, self, connection)

    def _options_for(self, connection: int, client_id: str) -> ConnectOptions:
        will = self.scenario.fleet.will
        if will is None or self._will_template is None:
            return self.options
        index = self._starts[connection]
        identity = self.connection_identity(connection)
        model = self.groups[self.devices[index].group].model
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

    def _onboarded(self, outcome: ConnectOutcome) -> None:
        link = outcome.link
        count = len(self.members(outcome.index))
        if link is None:
            self._devices_failed += count
            self._count_failure(outcome, count)
            return
        if not self._devices_onboarded:
            self._check_capabilities(link)
            self._add_ping_wheel(link.session.ping_interval)
        self.tcp_us.record(int(outcome.tcp_s * 1e6))
        self.connect_us.record(int(outcome.total_s * 1e6))
        self.funnel[TCP_CONNECT].reach(int(outcome.tcp_s * 1e6), count)
        self.funnel[CONNACK].reach(int(outcome.total_s * 1e6), count)
        self._devices_onboarded += self._attach(outcome.index, link)
        if self.registrar is not None:
            self.registrar.start(outcome.index, link, outcome.total_s, reannounce=False)
        else:
            self._admit_all(outcome.index, link)

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
        problem = self._capability_problem(link.session.limits)
        if problem is not None:
            link.abort()
            raise BrokerCapabilityError(
                f"the broker at {self.connector.host}:{self.connector.port} {problem}"
            )

    def _capability_problem(self, limits: BrokerLimits) -> str | None:
        """What the fleet's settings need that ``limits`` refuse, with the setting to change."""
        problem = qos_missing(limits, self.qos, "fleet.qos")
        if problem is not None:
            return f"{problem}; run with --qos {limits.maximum_qos}"
        will = self.scenario.fleet.will
        if will is None:
            return None
        if will.retain:
            problem = retain_missing(limits, "fleet.will.retain")
            if problem is not None:
                return f"{problem}; set it to false"
        return qos_missing(limits, will.qos, "fleet.will.qos")

    def _add_ping_wheel(self, ping_interval: float) -> None:
        """Keep connections alive from one wheel, pinging at the interval the first CONNACK set.

        Every connection goes to the same broker, so its first CONNACK's keepalive (the
        broker's Server Keep Alive if it names one, else ours) holds for all of them. A
        broker that asks for a shorter keepalive than ours thus gets its pings in time. As
        before, the wheel exists when devices publish less often than that interval (more
        often, their messages keep the link alive) or the fleet has gateways.
        """
        if not ping_interval or not (self.interval_s > ping_interval or any(self._gateway)):
            return
        # Merging matters here too: a wheel catching up pings each link once per handover.
        self._ping_wheel = TimingWheel(
            ping_interval, max(SLOT_WIDTH_S, 0.05), self._epoch, max_repeats=CATCH_UP_REPEATS
        )
        self._ping_wheel.skip_to(self._loop.time())
        self._scheduler.add_wheel(self._ping_wheel, self._ping)

    def _attach(self, connection: int, link: MqttLink) -> int:
        """Give the connection's devices ``link`` and keep it alive; return how many."""
        members = self.members(connection)
        for device in members:
            device.link = link
        if self._ping_wheel is not None:
            self._ping_wheel.add(link, members[0].phase_s % self._ping_wheel.interval_s)
        return len(members)

    def _admit_all(self, connection: int, link: MqttLink) -> None:
        for device in self.members(connection):
            self.admit(device, link)

    def admit(self, device: Member, link: MqttLink) -> None:
        """Put ``device`` on its publish wheel (it is connected over ``link`` and accepted)."""
        assert isinstance(device, Device)
        if device.admitted or device.link is not link:
            return
        wheel = self.groups[device.group].wheel
        assert wheel is not None
        wheel.add(device, device.phase_s)
        device.admitted = True
        self._admitted += 1
        if self.edges is not None:
            self.edges.admitted(device, link)

    # link listener

    def on_events(self, link: MqttLink, events: list[Event]) -> None:
        """Count acknowledgements and refusals; route onboarding and Sparkplug traffic.

        A QoS 1 message is done at its PUBACK, a QoS 2 message at its PUBCOMP; a reason code
        of 0x80 or above on either (or on a PUBREC) is the broker refusing it, for example
        because the ACL does not let this device publish there: counted, never hidden. The
        PUBACKs of registrations, the reply topic's SUBACK and answers go to the registrar, an
        NCMD to the edge nodes; anything else a device receives is ignored.
        """
        counters = self.counters
        registrar = self.registrar
        edges = self.edges
        for event in events:
            # Nearly every event of a QoS 1 fleet is a PUBACK: it is settled first.
            if type(event) is PubAckReceived or type(event) is PubCompReceived:
                if (
                    registrar is not None
                    and type(event) is PubAckReceived
                    and registrar.owns_ack(link, event)
                ):
                    continue
                if event.reason_code >= 0x80:
                    counters.refused += 1
                else:
                    counters.acked += 1
                continue
            if (
                edges is not None
                and isinstance(event, MessageReceived)
                and edges.on_message(link, event.publish)
            ):
                continue
            if registrar is not None:
                if isinstance(event, Subscribed):
                    registrar.on_subscribed(link, event)
                    continue
                if isinstance(event, MessageReceived):
                    registrar.on_answer(link, event.publish)
                    continue
            if isinstance(event, PubRecReceived) and event.reason_code >= 0x80:
                counters.refused += 1

    def on_lost(self, link: MqttLink, exc: BaseException | None) -> None:
        """A connection went away: stop publishing its devices and count the drop."""
        connection = link.owner
        if not isinstance(connection, int):
            return
        members = [d for d in self.members(connection) if d.link is link]
        if not members:
            return
        self.counters.dropped_links += 1
        self._devices_dropped += len(members)
        for device in members:
            device.link = None
            if device.admitted:
                device.admitted = False
                self._admitted -= 1
                wheel = self.groups[device.group].wheel
                if wheel is not None:
                    wheel.remove(device, device.phase_s)
        if self._ping_wheel is not None:
            self._ping_wheel.remove(link, members[0].phase_s % self._ping_wheel.interval_s)
        if self.registrar is not None:
            self.registrar.lost(connection, link)
        if self.reconnects is not None:
            self.reconnects.schedule(connection, link)

    # reconnecting (see :mod:`.reconnects`)

    def _rearm(self, connection: int, link: MqttLink) -> None:
        """Before a reconnect attempt: the session's will, numbered or stamped anew."""
        if self.edges is not None:
            self.edges.arm(connection, link.session)
        if self.deaths is not None:
            self.deaths.arm(connection, link.session)

    def _back(self, connection: int, link: MqttLink, outcome: ConnectOutcome) -> None:
        """A dropped connection is back: its devices onboard again (announcing themselves)."""
        self.counters.reconnects += 1
        if outcome.connected is not None:
            # The broker had no session for us: our unacknowledged messages are gone.
            self.counters.discarded += len(outcome.connected.discarded)
        self._devices_dropped -= self._attach(connection, link)
        if self.registrar is not None:
            self.registrar.start(connection, link, outcome.total_s, reannounce=True)
        else:
            self._admit_all(connection, link)

    # wheel actions

    def _devices_finished(self, count: int) -> None:
        self._finished_devices += count
        self._check_finished()

    def _check_finished(self) -> None:
        registering = self.registrar.pending if self.registrar is not None else 0
        if self._onboarding_done and not registering and self._finished_devices >= self._admitted:
            self._finished.set()

    def _ping(self, due: float, links: list[MqttLink], repeats: int) -> None:
        # However many pings are overdue, one per link says the same (``repeats`` is ignored),
        # and silence is measured on the loop's clock, not in due times: a wheel catching up
        # has not given the broker time to answer.
        self.counters.dead_links += keep_alive(links, self._loop.time())
