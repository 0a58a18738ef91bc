"""One run of a scenario: broker, ingest and fleet started, watched, drained and stopped.

The order matters and is the same every time:

1. the preflight: refuse early what cannot fit this machine (open files for us and for each
   local Mosquitto, ephemeral ports per source and broker address, memory, source addresses
   that are not ours: ``transport/limits.py``);
2. start the local Mosquittos (``[broker] instances``) from ``broker_config/`` unless the
   scenario names brokers, and check each broker answers TCP at all (an unreachable broker is
   an error within seconds);
3. start the ingest worker process and wait until it has subscribed, so no message is
   published before someone listens (one that dies later is started again: ingest/pool.py);
4. measure the baseline RSS, build the fleet, onboard it on the plan, publish for
   ``duration_s`` after the last device onboarded, printing one progress line per second;
5. stop publishing, wait until ingest has everything (or the drain timeout), disconnect the
   devices, stop ingest and then the broker: everything this run started, and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
import random
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO, cast

from simulator.broker import BrokerPool, LocalBroker, max_connections_hint
from simulator.config import RunConfig
from simulator.control import RunControl
from simulator.coordinator.control import WorkersFaults, WorkersPace
from simulator.coordinator.control import follow as follow_control
from simulator.coordinator.metrics import WorkersCollector
from simulator.coordinator.split import WorkerSplit, split_fleet
from simulator.coordinator.workers import Worker, Workers, worker_argv, worker_scenario
from simulator.engine.fleet import Fleet, FleetOptions
from simulator.engine.pacing import Pace
from simulator.engine.staging import StageDriver
from simulator.errors import (
    BrokerUnreachableError,
    IngestChildError,
    ReportInputError,
    ScenarioError,
    ScenarioProblem,
)
from simulator.faults import FaultTimeline, RunFaults, active_kinds, fault_line
from simulator.figures import RunState, public_settings, run_figures
from simulator.ingest.pool import IngestPool
from simulator.ingest.settings import BrokerEndpoint, on_each_broker
from simulator.live.console import View, make_view
from simulator.live.jsonl import JsonLinesView
from simulator.live.web import LiveDashboard
from simulator.metrics.faults import FaultRecord, fault_figures
from simulator.metrics.funnel import FIRST_TELEMETRY, Stage
from simulator.metrics.histogram import Histogram
from simulator.metrics.ingest import IngestSnapshot
from simulator.metrics.process import cpu_seconds, peak_rss_bytes, rss_bytes
from simulator.metrics.prometheus import MetricsServer
from simulator.metrics.stages import LoadStageFigures, stage_figures, stage_latency_ms
from simulator.metrics.timeseries import TimeSeries
from simulator.monitor import Monitor
from simulator.platform_side import (
    ingest_settings,
    ingest_workers,
    our_responder,
    platform_connections,
    responder_settings,
)
from simulator.provisioning import Responder, topic_filter
from simulator.report.json_report import RunFigures, build_report, format_utc, run_section
from simulator.report.merge import Input, merge_reports
from simulator.report.schema import ResponderSection, RunReport, RunSection
from simulator.report.timeline import ingest_samples
from simulator.scenario import Scenario
from simulator.scenario.broker_url import BrokerAddress
from simulator.scenario.composition import connection_starts
from simulator.scenario.faults import BrokerRestartFault, needs_relay, platform_side
from simulator.scenario.plan import OnboardingPlan
from simulator.scenario.segment import WHOLE, Segment, SegmentSchedule
from simulator.scenario.stages import StagePlan, StageSchedule
from simulator.sinks.url import parse_sink_url
from simulator.transport.credentials import Credentials
from simulator.transport.endpoint import Endpoint
from simulator.transport.limits import (
    DESCRIPTOR_MARGIN,
    Demand,
    check_source_addresses,
    preflight,
    raise_open_files_limit,
    source_addresses,
    this_machine,
)
from simulator.transport.relay import Relay
from simulator.transport.tls import (
    TlsOptions,
    check_client_files,
    client_context,
    context_source,
)

PREFLIGHT_TIMEOUT_S = 5.0


STOPPED_EARLY = "stopped early by "
"""How the report's note on a run that :meth:`Runner.stop` ended early begins."""


def connections_needed(scenario: Scenario) -> int:
    """Connections the fleet opens: one per device, or one per gateway."""
    return sum(group.connections for group in scenario.fleet.groups)


def _check_reachable(host: str, port: int) -> None:
    try:
        with socket.create_connection((host, port), timeout=PREFLIGHT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise BrokerUnreachableError(
            f"broker mqtt://{host}:{port} is unreachable: {exc.strerror or exc}. Check the "
            f"address, or leave out --broker to start a local Mosquitto."
        ) from exc


class Runner:
    """Runs one scenario and returns its report (see :mod:`simulator.report.json_report`)."""

    def __init__(self, config: RunConfig, *, out: TextIO = sys.stderr) -> None:
        self.config = config
        self.scenario = config.scenario
        self.tls = config.tls
        """Trust and client certificate for an ``mqtts://`` broker."""
        self.final_report: RunReport | None = None
        self.scenario_path = config.scenario_path
        self.view: View = (
            JsonLinesView(sys.stdout)
            if config.jsonl
            else make_view(out, quiet=config.quiet, title=f"factory-sim: {self.scenario.name}")
        )
        self.monitor: Monitor | None = None
        """The run's monitor once the fleet exists: its time series is what watchers read."""
        self.started_at_ns: int | None = None
        """Wall clock when onboarding (or ingest only) really began, after the barrier."""
        self.start_at_ns = config.start_at_ns
        """The barrier: when onboarding starts (None: at once)."""
        self.metrics_server: MetricsServer | None = None
        """The Prometheus server, while ``--metrics-port`` serves one."""
        self.split: WorkerSplit | None = None
        """``--workers``: how the fleet is split over worker processes (None: run here)."""
        self._state: RunState | None = None
        self.brokers: tuple[BrokerAddress, ...] = ()
        """The run's brokers once started or reached: the fleet's connections are dealt over
        them (see ``transport.dealing``)."""
        self.local_brokers: list[LocalBroker] = []
        """The brokers this run started (none against an external broker)."""
        self.faults: FaultTimeline | None = None
        """The run's ``[[faults]]`` on its timeline, once the fleet exists (None: none)."""
        self.control: RunControl | None = None
        """Live control of the fleet (``--web``), once it exists."""
        self.stages: StageDriver | None = None
        """The run's ``[[stages]]`` being carried out, once the fleet exists (None: none)."""
        self.relay: Relay | None = None
        """The relay between fleet and broker, for ``network`` and ``partition`` faults."""
        self.stopped_by: str | None = None
        """Why the run ended early (:meth:`stop`), e.g. ``SIGTERM``; None: it did not."""
        self._stoppable: Callable[[], bool] = lambda: False
        """Whether the fleet (or every worker's) onboards or publishes now: when :meth:`stop`
        can end the run early."""
        self._stop = asyncio.Event()
        self._stopped_at = 0.0
        """Loop time of :meth:`stop`."""

    def stop(self, why: str) -> bool:
        """End the run early, as if its time were up: no more devices connect, publishing
        ends, and the run drains, stops what it started and reports as at its end, noting
        ``why``. Returns False, doing nothing, before onboarding (while the broker and ingest
        start), after publishing (draining, stopping), or if already asked: the caller then
        stops the run at once."""
        if not self._stoppable() or self.stopped_by is not None:
            return False
        self.stopped_by = why
        self._stopped_at = asyncio.get_running_loop().time()
        self._stop.set()
        return True

    async def _until_stopped(self, work: Awaitable[object]) -> None:
        """Wait for ``work`` to finish, or for :meth:`stop`, whichever comes first (``work``
        is then cancelled)."""
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait((task, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if not task.cancelled():
            task.result()  # what went wrong in it goes on up

    def _steered(self, request: Mapping[str, Any]) -> None:
        """A worker's live control request from its coordinator (already checked there: a
        refusal here is said, to be seen in the coordinator's view)."""
        assert self.control is not None
        answer = self.control.apply(request)
        if answer.status != 200:
            self.say(f"control refused: {answer.message}")

    def _stopped_note(self, start: float) -> str | None:
        """The report's note for a run :meth:`stop` ended early, the run having started at
        loop time ``start``."""
        if self.stopped_by is None:
            return None
        return (
            f"{STOPPED_EARLY}{self.stopped_by} {self._stopped_at - start:.1f} s into the run: "
            "onboarding and publishing ended then, and the run drained, stopped and reported as "
            "at its end"
        )

    def say(self, text: str) -> None:
        """Tell the user what is happening."""
        self.view.say(text)

    async def run(self) -> RunReport:
        """Run the scenario end to end; everything started here is stopped here."""
        dashboard: LiveDashboard | None = None
        if self.config.web_port is not None:
            dashboard = LiveDashboard(
                self.live_report, port=self.config.web_port, control=self._control_request
            )
            await dashboard.start()
            self.say(f"live dashboard on {dashboard.url}")
        try:
            self.final_report = await self._run()
            return self.final_report
        finally:
            if dashboard is not None:
                await dashboard.stop()

    def _control_request(self, request: Mapping[str, Any]) -> tuple[int, str]:
        """A live control request from the dashboard (see :mod:`simulator.control`)."""
        if self.control is None:
            return 409, "the fleet is not running yet"
        answer = self.control.apply(request)
        self.say(f"control: {answer.message}")
        return answer.status, answer.message

    def live_report(self) -> RunReport:
        """What the live dashboard shows now: the run's figures so far, built as the final
        report is (the same schema, ``live`` set), or the final report once there is one."""
        if self.final_report is not None:
            return self.final_report
        if self.split is not None and self.monitor is not None:
            return self._workers_live_report(self.monitor)
        state = self._state
        if state is None:
            return self._empty_report()
        ingest = state.ingest
        figures = run_figures(
            state,
            ingest.progress if ingest is not None else None,
            None,
            publish_window_s=asyncio.get_running_loop().time() - state.start,
            drain_s=0.0,
            connected_rss=rss_bytes(),
        )
        figures.run = self.run_section()
        self._timeline_figures(figures, state.monitor, ingest=ingest is not None)
        report = build_report(figures)
        report["live"] = True
        return report

    def _workers_live_report(self, monitor: Monitor) -> RunReport:
        """The live report of a run over workers: their progress added up, with the
        coordinator's ingest, and the one time series its monitor keeps."""
        totals = monitor.series.latest
        figures = self._empty_figures()
        if totals is not None:
            figures.devices_target = totals.devices_target
            figures.devices_connected = totals.onboarded
            figures.devices_failed = totals.connect_failed
            figures.published = totals.published
            figures.acked = totals.acked
            figures.connect_us = totals.connect_us
            figures.publish_window_s = totals.t_s
        ingest = monitor.ingest
        figures.ingest = ingest.progress if ingest is not None else None
        figures.timeseries = list(monitor.series.samples)
        figures.control = list(self.control.events) if self.control is not None else []
        report = build_report(figures)
        report["live"] = True
        return report

    def _empty_report(self) -> RunReport:
        """The live view before the fleet exists: the scenario, nothing measured yet."""
        report = build_report(self._empty_figures())
        report["live"] = True
        return report

    def _empty_figures(self) -> RunFigures:
        """The run's figures with nothing measured: the scenario alone."""
        scenario = self.scenario
        # The brokers once known (those the run started, too), else the scenario's.
        brokers = self.brokers or scenario.broker.addresses
        return RunFigures(
            scenario=scenario.name,
            scenario_path=self.scenario_path,
            broker_url=brokers[0].url() if brokers else "local",
            broker_urls=[broker.url() for broker in brokers],
            mqtt_version=scenario.broker.mqtt_version,
            devices_target=scenario.fleet.devices,
            devices_connected=0,
            devices_failed=0,
            failures={},
            dropped_links=0,
            onboarding_s=0.0,
            connect_us=Histogram(),
            tcp_us=Histogram(),
            published=0,
            acked=0,
            publish_window_s=0.0,
            overrun=0,
            baseline_rss_bytes=0,
            connected_rss_bytes=0,
            peak_rss_bytes=0,
            ingest=None,
            drain_s=0.0,
            settings=public_settings(scenario),
            run=self.run_section(),
        )

    async def _run(self) -> RunReport:
        scenario = self.scenario
        if self.config.workers is not None:
            requested = self.config.workers or None
            self.split = split_fleet(
                connections_needed(scenario),
                requested=requested,
                open_files=raise_open_files_limit(),
                margin=DESCRIPTOR_MARGIN,
            )
        self._preflight()
        with contextlib.ExitStack() as stack:
            if self.config.metrics_port is not None:
                stack.callback(self._metrics_server().stop)
            brokers = scenario.broker.addresses
            if not brokers:
                pool = BrokerPool(scenario.broker.instances, make=self._broker_maker(stack))
                self.local_brokers = pool.brokers
                self.say(f"starting {_local_brokers(len(pool.brokers))} from broker_config/ ...")
                stack.callback(pool.stop)
                await asyncio.to_thread(pool.start)
                brokers = tuple(BrokerAddress(host, port, "mqtt") for host, port in pool.addresses)
                urls = ", ".join(broker.url for broker in pool.brokers)
                pids = ", ".join(map(str, pool.pids))
                self.say(f"Mosquitto is listening on {urls} (pid {pids})")
                if pool.brokers[0].socket_path is not None:
                    self.say("ingest connects over the broker's Unix socket, the fleet over TCP")
            for broker in brokers:
                await asyncio.to_thread(_check_reachable, broker.host, broker.port)
            self.brokers = brokers
            return await self._run_against(brokers[0])
        raise AssertionError("unreachable")  # pragma: no cover - ExitStack never swallows

    def _broker_maker(
        self, stack: contextlib.ExitStack
    ) -> Callable[[Path | None, str], LocalBroker]:
        """How the run makes its local brokers: with a database each when ``[[faults]]``
        restart them (kept sessions and their queued messages survive, as on a production
        broker), and with a Unix socket for the run's ingest (``[ingest] unix_socket``)."""
        ingest = self.scenario.ingest
        unix_socket = ingest.enabled and ingest.unix_socket and self.config.ingest != "off"
        if not any(isinstance(fault, BrokerRestartFault) for fault in self.scenario.faults):
            return functools.partial(LocalBroker, unix_socket=unix_socket)
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="factory-sim-db-")))
        root.chmod(0o711)  # Mosquitto may run as its own user: it must enter, not list
        numbers = itertools.count()

        def make(config_dir: Path | None, host: str) -> LocalBroker:
            return LocalBroker(
                config_dir,
                host,
                persistence_dir=root / str(next(numbers)),
                unix_socket=unix_socket,
            )

        return make

    def _fleet_connections(self) -> int:
        """Connections this process's fleet opens: its slice of the fleet's (none when it runs
        the platform side only)."""
        if self.config.ingest == "only":
            return 0
        return self.config.segment.connections(connections_needed(self.scenario))

    def _metrics_server(self) -> MetricsServer:
        scenario = self.scenario
        address = scenario.broker.address
        server = MetricsServer(
            lambda: self.monitor.series.latest if self.monitor is not None else None,
            self.config.metrics_port or 0,
            self.config.metrics_host,
            role="simulator",
            info={"scenario": scenario.name, "broker": address.url() if address else "local"},
            ingest=scenario.ingest.enabled,
        )
        server.start()
        self.metrics_server = server
        self.say(f"Prometheus metrics on {server.url}")
        return server  # started here so the URL can be said; the ExitStack only stops it

    def _preflight(self) -> None:
        """Refuse a run that cannot fit this machine before anything starts: open files here
        and per local Mosquitto, ephemeral ports per (source, broker) pair, memory, and
        source addresses that are not this machine's."""
        scenario = self.scenario
        broker = scenario.broker
        brokers = broker.addresses
        host = brokers[0].host if brokers else "127.0.0.1"
        connections = self._fleet_connections()
        sources = fleet_sources(scenario, host, connections)
        check_source_addresses(sources)
        count = len(brokers) or broker.instances
        demand = Demand(
            connections + platform_connections(scenario),
            brokers=count,
            sources=len(sources),
            platform_per_broker=platform_connections(scenario),
            local_brokers=not brokers,
            tls=bool(brokers) and brokers[0].tls,
        )
        machine = this_machine(max_connections_hint())
        if self.split is not None:
            # Each worker process holds its share of the connections, with a limit of its own.
            machine = dataclasses.replace(
                machine, open_files=machine.open_files * self.split.workers
            )
        preflight(demand, machine)

    def _ingest_brokers(self) -> list[BrokerEndpoint]:
        """Where ingest subscribes: on each broker of a pool, each hearing its own devices
        only; on the first node of a cluster, which hears every node. A broker this run
        started is reached over its Unix socket, if it has one."""
        brokers = self.brokers[:1] if self.scenario.broker.cluster else self.brokers
        sockets = {
            (local.host, local.port): str(local.socket_path)
            for local in self.local_brokers
            if local.socket_path is not None
        }
        return [
            BrokerEndpoint(broker.host, broker.port, sockets.get((broker.host, broker.port)))
            for broker in brokers
        ]

    async def _run_against(self, address: BrokerAddress) -> RunReport:
        scenario = self.scenario
        loop = asyncio.get_running_loop()
        ingest: IngestPool | None = None
        if scenario.ingest.enabled:
            settings = ingest_settings(
                scenario,
                address,
                self.tls,
                prefix=self.config.client_id_prefix,
                run_id=self.config.run_id,
            )
            workers = on_each_broker(
                ingest_workers(scenario, settings, self.config.client_id_prefix),
                self._ingest_brokers(),
            )
            if len(workers) < scenario.ingest.workers:
                self.say(
                    f"note: the topic template {scenario.fleet.topic!r} splits into "
                    f"{len(workers)} part(s) only: running {len(workers)} ingest worker(s), "
                    f"not {scenario.ingest.workers}"
                )
            ingest = IngestPool(workers, say=self.say)
            self.say(
                f"starting {len(workers)} ingest worker(s) into "
                f"{parse_sink_url(settings.sink).display()} (run id {settings.run_id})"
            )
            for note in await ingest.start():
                self.say(f"note: {note}")
        responder: Responder | None = None
        try:
            if ingest is None:
                responder = await self._start_responder(loop, address)
            elif our_responder(scenario):
                self.say(self._answering("the ingest worker"))
            if self.config.ingest == "only":
                return await self._ingest_only(loop, ingest)
            if self.split is not None:
                return await self._coordinate(loop, ingest)
            return await self._drive(loop, address, ingest, responder)
        finally:
            if self.relay is not None:
                await self.relay.close()
            if responder is not None:
                await responder.stop()
            if ingest is not None and ingest.final is None:
                await ingest.kill()

    async def _start_responder(
        self, loop: asyncio.AbstractEventLoop, address: BrokerAddress
    ) -> Responder | None:
        """Start the provisioning responder, if the scenario registers and wants ours."""
        scenario = self.scenario
        if not our_responder(scenario):
            return None
        settings, identity = responder_settings(
            scenario, address, prefix=self.config.client_id_prefix
        )
        responder = Responder(
            settings,
            loop=loop,
            wall_ns=time.time_ns,
            ssl_context=client_context(self.tls.for_client(identity)) if address.tls else None,
        )
        await responder.start()
        self.say(self._answering("a provisioning responder"))
        return responder

    def _answering(self, who: str) -> str:
        onboarding = self.scenario.onboarding
        return (
            f"{who} answers registrations on {topic_filter(onboarding.register_topic)} "
            f"(refusing {onboarding.responder.reject_share:.0%}, "
            f"ignoring {onboarding.responder.silent_share:.0%})"
        )

    async def _drive(
        self,
        loop: asyncio.AbstractEventLoop,
        address: BrokerAddress,
        ingest: IngestPool | None,
        responder: Responder | None,
    ) -> RunReport:
        scenario = self.scenario
        baseline_rss = rss_bytes()
        credentials = None
        if address.username is not None:
            credentials = Credentials(address.username, address.password)
        segment = self.config.segment
        brokers = [(broker.host, broker.port) for broker in self.brokers] or [
            (address.host, address.port)
        ]
        sources = fleet_sources(scenario, address.host, self._fleet_connections())
        tls_names: tuple[str, ...] = ()
        if needs_relay(scenario.faults):
            tls_names = tuple(host for host, _ in brokers)
            # The fleet's uplink goes through the relay; ingest reaches the broker directly.
            relay = self.relay = Relay(
                brokers, loop=loop, rng=random.Random(scenario.seed), source_addresses=sources
            )
            brokers = await relay.start()
            sources = fleet_sources(scenario, brokers[0][0], self._fleet_connections())
            self.say(f"the fleet connects through a relay on {brokers[0][0]}:{brokers[0][1]}")
        endpoint = Endpoint(
            brokers[0][0],
            brokers[0][1],
            source_addresses=sources,
            more_brokers=tuple(brokers[1:]),
            tls_names=tls_names,
            tls=context_source(self.tls) if address.tls else None,
            credentials=credentials,
        )
        options = FleetOptions(segment=segment, client_id_prefix=self.config.client_id_prefix)
        fleet = Fleet(scenario, endpoint, loop=loop, wall_ns=time.time_ns, options=options)
        fleet.build()
        if address.tls:
            ids = map(fleet.client_id, range(fleet.connection_count))
            await asyncio.to_thread(check_client_files, self.tls, ids)
        plan = OnboardingPlan(connections_needed(scenario), scenario.onboarding.rate_per_s)
        schedule: OnboardingPlan | SegmentSchedule | StageSchedule = (
            plan if segment.whole else SegmentSchedule(plan, segment)
        )
        staged = staged_plan(scenario, segment)
        if staged is not None:
            schedule = staged[1]
            part = f" (slice {segment}: {len(fleet.devices):,} devices)"
            self.say(
                f"{len(scenario.stages)} stages over {staged[0].total_s:g} s"
                + (part if not segment.whole else "")
            )
        else:
            rate = scenario.onboarding.rate_per_s / segment.count
            self.say(
                f"onboarding {len(fleet.devices):,} devices "
                + (f"(slice {segment} of {scenario.fleet.devices:,}) " if not segment.whole else "")
                + f"at {rate:,.0f}/s (about {schedule.eta_s():.1f} s), then publishing for "
                f"{scenario.duration_s:g} s every {scenario.fleet.publish_interval_s:g} s per "
                "device"
            )
        await self._barrier()
        self.started_at_ns = time.time_ns()
        monitor = self.monitor = Monitor(fleet, ingest, self.view, time.perf_counter)
        monitor_task = asyncio.create_task(monitor.run(self.config.sample_interval_s))
        state = self._state = RunState(
            self.scenario,
            self.scenario_path,
            monitor,
            fleet,
            ingest,
            responder,
            address,
            baseline_rss,
            start=loop.time(),
            brokers=tuple(self.brokers),
        )
        staging: asyncio.Task[None] | None = None
        if staged is not None:
            stages = self.stages = StageDriver(
                staged[0],
                fleet,
                clock=loop.time,
                start=state.start,
                connections=staged[1].connections,
                segment=segment,
            )
            monitor.stage_of = stages.stage_at
            staging = asyncio.create_task(stages.run())
        timeline: asyncio.Task[None] | None = None
        # Steered live: from the dashboard, or (a worker of ``--workers --web``) by requests
        # its coordinator writes on its standard input.
        controlled = self.config.web_port is not None or self.config.await_control
        if scenario.faults or controlled:
            target = RunFaults(
                lambda: fleet.connected,
                self.local_brokers,
                seed=scenario.seed,
                fleet=fleet,
                relay=self.relay,
                sink=ingest,
            )
            self.faults = FaultTimeline(
                scenario.faults,
                target,
                clock=loop.time,
                start=state.start,
                on_change=lambda record: self._fault_changed(monitor, record),
            )
            self.faults.open = controlled  # the dashboard may trigger faults until the end
            timeline = asyncio.create_task(self.faults.run())
        if controlled:
            self.control = _live_control(fleet, self.faults, loop, state.start, staged=staged)
        if self.config.web_port is not None and self.control is not None:
            monitor.control = self.control.events
        if self.config.await_control:
            follow_control(sys.stdin, loop, self._steered, self.say)
        try:
            monitor.phase = "onboarding"
            self._stoppable = lambda: True  # devices publish from their CONNACK on
            try:
                await self._until_stopped(
                    fleet.onboard(
                        schedule,
                        connections=staged[1].connections if staged is not None else None,
                    )
                )
            except BaseException:
                fleet.stop_publishing()
                await fleet.disconnect_all()
                raise
            if self.stopped_by is None:  # stopped: no more to wait for
                await fleet.wait_registered()
            connected_rss = rss_bytes()
            monitor.phase = "publishing"
            if fleet.messages_per_device is not None:
                await self._until_stopped(_finished(fleet, scenario.duration_s))
            elif staging is not None:
                await self._until_stopped(staging)
            else:
                await self._until_stopped(asyncio.sleep(scenario.duration_s))
            self._stoppable = lambda: False
            fleet.stop_publishing()
            publish_window_s = loop.time() - state.start
            await _ended(timeline)  # what a fault left undone by now, the drain need not wait for
            monitor.phase = "draining"
            drain_s = await self._drain(loop, fleet, ingest)
            monitor.phase = "stopping"
            await fleet.disconnect_all()
            await self._hear_deaths(fleet, ingest)
        finally:
            await _ended(staging)
            await _ended(timeline)
            monitor_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor_task
        final, ingest_error = await self._stop_ingest(ingest)
        monitor.phase = "done"
        monitor.sample()
        self.view.close()
        figures = run_figures(
            state,
            final,
            ingest_error,
            publish_window_s=publish_window_s,
            drain_s=drain_s,
            connected_rss=connected_rss,
        )
        figures.run = self.run_section()
        figures.onboarding_planned_s = schedule.eta_s()
        if staged is None and fleet.messages_per_device is None:
            # The whole fleet's rate, as far as it connected (those that failed cannot publish).
            full = sum(group.count / group.interval_s for group in fleet.groups)
            share = fleet.onboarded / len(fleet.devices) if fleet.devices else 0.0
            figures.planned_msg_per_s = full * share
        self._timeline_figures(figures, monitor, ingest=ingest is not None)
        report = build_report(figures)
        if (note := self._stopped_note(state.start)) is not None:
            report["notes"].append(note)
        return report

    def _timeline_figures(self, figures: RunFigures, monitor: Monitor, *, ingest: bool) -> None:
        """What happened on the run's timeline so far: each fault, each stage, each live
        control request (live, or at the end)."""
        if self.faults is not None:
            figures.faults = fault_figures(
                self.faults.records,
                monitor.series.samples,
                qos=self.scenario.fleet.qos,
                ingest=ingest,
            )
        figures.stages = self._stage_figures(monitor)
        figures.control = list(self.control.events) if self.control is not None else []

    def _stage_figures(self, monitor: Monitor) -> list[LoadStageFigures]:
        """What each stage that has ended achieved (live: the one running is judged once it
        ends; none without stages)."""
        if self.stages is None:
            return []
        series = monitor.series
        latest = series.latest.latency_us if series.latest is not None else None
        return stage_figures(self.stages.ended, series.samples, series.stage_latency, latest)

    def _fault_changed(self, monitor: Monitor, record: FaultRecord) -> None:
        """A fault began or ended: say so, and show which are in force in the metrics."""
        self.say(fault_line(record))
        if self.faults is not None:
            monitor.faults_active = active_kinds(self.scenario.faults, self.faults.active)

    def run_section(self) -> RunSection:
        """The report's ``run``: its id, client id prefix, slice and when it really started."""
        config = self.config
        segment = config.segment
        return run_section(
            config.run_id,
            config.client_id_prefix,
            role="ingest" if config.ingest == "only" else "fleet",
            ingest=config.ingest,
            segment=(segment.index, segment.count),
            start_at_ns=self.start_at_ns,
            started_at_ns=self.started_at_ns,
        )

    async def _barrier(self) -> None:
        """Wait for ``--start-at``, the moment every slice of the run starts at."""
        if self.config.await_start and isinstance(self.view, JsonLinesView):
            # A worker of --workers: ready; the coordinator answers with the start time once
            # every worker is.
            self.view.ready()
            line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            self.start_at_ns = int(line) if line.strip() else time.time_ns()
        start_at_ns = self.start_at_ns
        if start_at_ns is None:
            return
        wait_s = (start_at_ns - time.time_ns()) / 1e9
        if wait_s > 0:
            self.say(f"waiting {wait_s:,.1f} s for the start at {format_utc(start_at_ns)}")
            await asyncio.sleep(wait_s)
        else:
            self.say(
                f"the start at {format_utc(start_at_ns)} was {-wait_s:,.1f} s ago: starting now"
            )

    async def _ingest_only(
        self, loop: asyncio.AbstractEventLoop, ingest: IngestPool | None
    ) -> RunReport:
        """The platform side of a run whose fleet runs elsewhere (``--ingest-only``): ingest
        (and the responder) until SIGTERM or Ctrl-C, or until messages came and then none
        for ``idle_stop_s``; then its report, which ``factory-sim merge`` adds to the
        slices'."""
        if ingest is None:
            raise ScenarioError(
                [
                    ScenarioProblem(
                        self.scenario_path,
                        "ingest.enabled",
                        "--ingest-only needs ingest: the scenario switches it off",
                    )
                ]
            )
        await self._barrier()
        self.started_at_ns = time.time_ns()
        idle_s = self.config.idle_stop_s
        self.say(
            f"ingest only (run id {self.config.run_id}): until SIGTERM, or {idle_s:g} s "
            f"without a message once messages came"
        )
        start = loop.time()
        stopped = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopped.set)
        try:
            seen, quiet_since, said = -1, loop.time(), loop.time()
            while not stopped.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.25):
                        await stopped.wait()
                progress = ingest.progress
                heard = _activity(progress)
                now = loop.time()
                if heard != seen:
                    seen, quiet_since = heard, now
                elif heard > 0 and now - quiet_since >= idle_s:
                    self.say(f"no message for {idle_s:g} s: stopping")
                    break
                if now - said >= 5.0 and progress is not None:
                    said = now
                    self.say(
                        f"ingest: {progress.received:,} received, "
                        f"{progress.committed_unique:,} committed"
                    )
                if ingest.gone:
                    break
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        window_s = loop.time() - start
        final, ingest_error = await self._stop_ingest(ingest)
        self.view.close()
        return self._platform_report(ingest, final, ingest_error, window_s)

    def _platform_report(
        self,
        ingest: IngestPool | None,
        final: IngestSnapshot | None,
        ingest_error: str | None,
        window_s: float,
    ) -> RunReport:
        """The report of the platform side alone (ingest, responder; no fleet): an ingest
        run's, or the coordinator's part of a run over workers."""
        figures = self._empty_figures()
        figures.devices_target = 0
        figures.ingest = final
        figures.ingest_error = ingest_error
        figures.publish_window_s = window_s
        if ingest is not None:
            figures.ingest_workers = ingest.per_worker()
            figures.ingest_restarts = len(ingest.restarts)
            figures.ingest_restart_reasons = list(ingest.restarts)
        if final is not None and final.responder is not None:
            figures.responder = cast(ResponderSection, final.responder)
        if final is not None:
            self._ingest_only_onboarding(figures, final)
        figures.peak_rss_bytes = peak_rss_bytes()
        figures.run = run_section(
            self.config.run_id,
            self.config.client_id_prefix,
            role="ingest",
            ingest="only",
            start_at_ns=self.start_at_ns,
            started_at_ns=self.started_at_ns,
        )
        report = build_report(figures)
        # Nothing was published here: what was lost is known only with the slices' reports.
        report["messages"]["lost"] = None
        return report

    async def _coordinate(
        self, loop: asyncio.AbstractEventLoop, ingest: IngestPool | None
    ) -> RunReport:
        """``--workers``: the fleet as worker processes, one slice each, started at one
        barrier and watched as one fleet; ingest drained to what they published; one merged
        report (see :mod:`simulator.coordinator`)."""
        split = self.split
        assert split is not None
        count = split.workers
        staged = staged_plan(self.scenario)
        self.say(f"workers: {split.said()}")
        start = loop.time()
        cpu_at_start = cpu_seconds()
        local = not self.scenario.broker.addresses
        urls = [b.url(with_password=True) for b in self.brokers] if local else []
        scenario_json = worker_scenario(self.scenario.model_dump(mode="json"), urls)
        with tempfile.TemporaryDirectory(prefix="factory-sim-workers-") as directory:
            workers = [
                Worker(
                    k,
                    count,
                    worker_argv(
                        k,
                        count,
                        run_id=self.config.run_id,
                        report=Path(directory) / f"slice-{k}.json",
                        extra=_tls_flags(self.tls),
                        controlled=self.config.web_port is not None,
                    ),
                    scenario_json,
                    Path(directory) / f"slice-{k}.json",
                    say=self.say,
                    clock=loop.time,
                )
                for k in range(count)
            ]
            fleets = Workers(workers)
            timeline: asyncio.Task[None] | None = None
            if self.metrics_server is not None:
                self.metrics_server.registry.register(WorkersCollector(fleets))
            # The monitor's clock starts now: its samples go into the platform's report.
            self.started_at_ns = time.time_ns()
            monitor = self.monitor = Monitor(fleets, ingest, self.view, time.perf_counter)
            monitor.fleet_faults = lambda: fleets.total().faults_active
            monitor.phase = "starting"
            monitor_task = asyncio.create_task(monitor.run(self.config.sample_interval_s))
            try:
                for worker in workers:
                    await worker.start()
                await asyncio.gather(*(worker.wait_ready() for worker in workers))
                start_at_ns = time.time_ns() + round(WORKER_GO_S * 1e9)
                # The workers' start on this loop's clock: their fault and stop times count
                # from it.
                began = loop.time() + (start_at_ns - time.time_ns()) / 1e9
                if staged is not None:
                    monitor.stage_of = _stage_of(staged[0], start_at_ns - self.started_at_ns)
                for worker in workers:
                    await worker.go(start_at_ns)
                timeline = self._platform_faults(loop, fleets, ingest, monitor, began)
                if self.config.web_port is not None:
                    self._steer_workers(loop, workers, monitor, began, staged=staged is not None)
                monitor.phase = "running"
                self._stoppable = lambda: fleets.total().phase in ("onboarding", "publishing")
                waiting = asyncio.gather(*(worker.wait() for worker in workers))
                await self._until_stopped(asyncio.shield(waiting))
                self._stoppable = lambda: False
                if self.stopped_by is not None:
                    for worker in workers:
                        worker.terminate()  # each ends publishing, drains, stops, reports
                codes = await waiting
                reports = [(worker, worker.read_report()) for worker in workers]
            except BaseException:
                await asyncio.gather(*(worker.stop() for worker in workers))
                raise
            finally:
                await _ended(timeline)
                monitor_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await monitor_task
        written = [(worker, report) for worker, report in reports if report is not None]
        if not written:
            raise ReportInputError("no worker wrote a report: see what they said above")
        monitor.phase = "draining"
        if ingest is not None:
            published = sum(int(report["messages"]["published"]) for _, report in written)
            timeout_s = self.scenario.ingest.drain_timeout_s
            if not await ingest.wait_for_resolved(published, timeout_s):
                self.say(
                    f"drain timeout: ingest has committed {ingest.committed:,} of "
                    f"{published:,} messages after {timeout_s:g} s"
                )
            sent = sum(
                (report["onboarding"].get("deaths") or {}).get("sent", 0) for _, report in written
            )
            if sent:
                await ingest.wait_for_deaths(sent, timeout_s)
        final, ingest_error = await self._stop_ingest(ingest)
        monitor.phase = "done"
        monitor.sample()
        self.view.close()
        platform = self._platform_report(ingest, final, ingest_error, loop.time() - start)
        platform["timeseries"] = ingest_samples(monitor.series.samples, keep=("control",))
        if self.faults is not None:
            # On the platform report's clock, from its start; the merge judges each fault
            # again on the whole run's time series.
            began_s = (start_at_ns - self.started_at_ns) / 1e9
            platform["faults"] = fault_figures(
                [record.moved(began_s) for record in self.faults.records],
                [],
                qos=self.scenario.fleet.qos,
            )
        merged = merge_reports(
            [Input(worker.label, report) for worker, report in written]
            + [Input("the coordinator's ingest", platform)]
        )
        if ingest is not None:
            _stage_latency(merged["stages"], monitor.series)
        merged["scenario_path"] = self.scenario_path
        merged["settings"] = public_settings(self.scenario)
        merged["run"]["ingest"] = self.config.ingest
        merged["notes"].append(f"workers: {split.said()}")
        origin = merged["run"].get("started_at_ns")
        if self.control is not None and self.started_at_ns is not None and origin is not None:
            # The dashboard's requests, from the coordinator's clock onto the merged one.
            moved_s = (self.started_at_ns - origin) / 1e9
            merged["control"] = [
                {**event, "t_s": round(event["t_s"] + moved_s, 3)} for event in self.control.events
            ]
        if (note := self._stopped_note(began)) is not None:
            # Said once for the run, not again by each worker it stopped.
            merged["notes"] = [n for n in merged["notes"] if not n.startswith(STOPPED_EARLY)]
            merged["notes"].append(note)
        merged["notes"].extend(
            f"{worker.label} exited with status {code} and wrote no report: its slice's "
            "figures are missing"
            for (worker, report), code in zip(reports, codes, strict=True)
            if report is None
        )
        busy_s = cpu_seconds() - cpu_at_start
        merged["notes"].append(
            f"the coordinator used {100 * busy_s / max(loop.time() - start, 1e-9):.1f} % of a core "
            f"(its ingest workers and the brokers apart)"
        )
        return cast(RunReport, merged)

    def _platform_faults(
        self,
        loop: asyncio.AbstractEventLoop,
        fleets: Workers,
        ingest: IngestPool | None,
        monitor: Monitor,
        began: float,
    ) -> asyncio.Task[None] | None:
        """``--workers``: carry out the faults on the broker and ingest (each worker carries
        out those on its own connections), on the workers' clock, which started at loop time
        ``began``; the fleet is back when the workers' latest progress says so."""
        faults = platform_side(self.scenario.faults)
        controlled = self.config.web_port is not None  # the dashboard may trigger faults
        if not faults and not controlled:
            return None
        target = RunFaults(
            lambda: fleets.connected,
            self.local_brokers,
            seed=self.scenario.seed,
            fewest=fleets.fewest_connected_since,
            sink=ingest,
        )
        self.faults = FaultTimeline(
            faults,
            target,
            clock=loop.time,
            start=began,
            on_change=lambda record: self._fault_changed(monitor, record),
        )
        self.faults.open = controlled
        return asyncio.create_task(self.faults.run())

    def _steer_workers(
        self,
        loop: asyncio.AbstractEventLoop,
        workers: Sequence[Worker],
        monitor: Monitor,
        began: float,
        *,
        staged: bool,
    ) -> None:
        """``--workers --web``: the dashboard's requests checked and kept here, and carried
        to the workers (see :mod:`simulator.coordinator.control`)."""
        assert self.faults is not None
        groups = self.scenario.fleet.groups
        self.control = RunControl(
            [] if staged else [WorkersPace(workers)],
            sum(group.count / group.interval_s for group in groups),
            WorkersFaults(workers, self.faults, lambda: loop.time() - began),
            run_time_s=monitor.elapsed_s,
            fleet_time_s=lambda: loop.time() - began,
            staged=staged,
        )
        monitor.control = self.control.events

    def _ingest_only_onboarding(self, figures: RunFigures, final: IngestSnapshot) -> None:
        """What an ingest-only run saw of onboarding: the devices' first telemetry (the
        funnel's last stage) and the deaths it heard, for the merge to add to the slices'."""
        onboarding = self.scenario.onboarding
        if onboarding.workflow != "register":
            return
        figures.workflow = "register"
        if final.first_telemetry_us is not None:
            stage = Stage(FIRST_TELEMETRY, reached=final.first_telemetry_reached or 0)
            stage.elapsed_us = final.first_telemetry_us
            figures.funnel = {FIRST_TELEMETRY: stage.to_dict()}
            figures.funnel_us = {FIRST_TELEMETRY: final.first_telemetry_us}
        if onboarding.death_topic and final.deaths is not None:
            figures.deaths = {
                "topic": onboarding.death_topic,
                "sent": 0,
                "wills": 0,
                "heard": final.deaths.get("left", 0),
                "heard_in_wills": final.deaths.get("lost", 0),
                "heard_invalid": final.deaths.get("invalid", 0),
            }

    async def _stop_ingest(
        self, ingest: IngestPool | None
    ) -> tuple[IngestSnapshot | None, str | None]:
        """Ingest's final figures, or why they are unknown: a dead worker still gets a report.

        The worker needs up to its sink's retry time to settle a failing sink before it can
        report, so it is given that long and some.
        """
        if ingest is None:
            return None, None
        try:
            return await ingest.stop(self.scenario.ingest.sink_retry_s + 30.0), None
        except IngestChildError as exc:
            self.say(f"ingest: {exc}")
            return None, str(exc).split("; its last output")[0]

    async def _hear_deaths(self, fleet: Fleet, ingest: IngestPool | None) -> None:
        """Give ingest the time to hear the deaths sent on leaving (bounded; they are counted)."""
        deaths = fleet.deaths
        if ingest is None or deaths is None or not deaths.sent:
            return
        timeout_s = self.scenario.ingest.drain_timeout_s
        if not await ingest.wait_for_deaths(deaths.sent, timeout_s):
            self.say(
                f"ingest heard {ingest.deaths_left:,} of the {deaths.sent:,} device deaths sent "
                f"within {timeout_s:g} s"
            )

    async def _drain(
        self, loop: asyncio.AbstractEventLoop, fleet: Fleet, ingest: IngestPool | None
    ) -> float:
        """Wait until ingest has every published message, or the drain timeout passes."""
        start = loop.time()
        if ingest is None:
            return 0.0
        published = fleet.counters.published
        timeout_s = self.scenario.ingest.drain_timeout_s
        if not await ingest.wait_for_resolved(published, timeout_s):
            if ingest.gone:
                for child in ingest.dead():
                    self.say(
                        f"ingest worker {child.settings.client_id} {child.exit_reason} before "
                        f"draining, past its restarts"
                    )
            else:
                self.say(
                    f"drain timeout: ingest has committed {ingest.committed:,} of "
                    f"{published:,} messages after {timeout_s:g} s"
                )
        return loop.time() - start


def staged_plan(
    scenario: Scenario, segment: Segment = WHOLE
) -> tuple[StagePlan, StageSchedule] | None:
    """The scenario's stage plan and slice ``segment``'s connect schedule on it (None: no
    ``[[stages]]``)."""
    if not scenario.stages:
        return None
    plan = StagePlan(scenario.stages, scenario.fleet.groups)
    return plan, StageSchedule(plan, connection_starts(scenario.fleet.groups), segment)


def _stage_of(plan: StagePlan, start_ns: int) -> Callable[[float], int | None]:
    """The stage running ``t_s`` after a clock that started ``start_ns`` before the plan's 0
    (the coordinator's monitor: it starts before its workers do)."""
    offset_s = start_ns / 1e9

    def stage_of(t_s: float) -> int | None:
        stage = plan.stage_at(t_s - offset_s)
        return stage.number if stage is not None else None

    return stage_of


def _stage_latency(stages: Sequence[LoadStageFigures], series: TimeSeries) -> None:
    """Each stage's latency from the one ingest's histograms, as one process reads them."""
    latest = series.latest.latency_us if series.latest is not None else None
    for stage in stages:
        p50, p99 = stage_latency_ms(stage["number"], series.stage_latency, latest)
        stage["latency_ms_p50"], stage["latency_ms_p99"] = p50, p99


def fleet_sources(scenario: Scenario, host: str, connections: int) -> tuple[str | None, ...]:
    """The local addresses the fleet's connections are dealt over: the scenario's
    ``source_addresses``, else enough 127.0.x.y ones for a large fleet on a loopback broker."""
    return scenario.onboarding.source_pool or source_addresses(host, connections)


def _local_brokers(count: int) -> str:
    return "a local Mosquitto" if count == 1 else f"{count} local Mosquitto processes"


def _live_control(
    fleet: Fleet,
    timeline: FaultTimeline | None,
    loop: asyncio.AbstractEventLoop,
    start: float,
    *,
    staged: object,
) -> RunControl:
    """Live control of ``fleet``: without stages, every group gets a pace at its own rate (a
    staged run's paces are its stages'). Call before the fleet onboards."""
    paces = []
    if staged is None:
        for group in fleet.groups:
            pace = group.pace = Pace(group.interval_s)
            pace.set(0.0, 1.0)
            paces.append(pace)
    full_rate = sum(group.count / group.interval_s for group in fleet.groups)
    return RunControl(
        paces,
        full_rate,
        timeline,
        run_time_s=lambda: loop.time() - start,
        fleet_time_s=lambda: loop.time() - fleet.publisher.epoch,
        staged=staged is not None,
    )


async def _finished(fleet: Fleet, duration_s: float) -> None:
    """Until every device has sent its ``messages_per_device``, or ``duration_s`` is up (a
    device that dropped for good never finishes)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(duration_s):
            await fleet.wait_finished()


async def _ended(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` if it still runs, and wait until it has stopped."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _activity(progress: IngestSnapshot | None) -> int:
    """A count that moves whenever ingest hears anything (telemetry, malformed messages,
    registrations answered, deaths), for telling when it has gone quiet."""
    if progress is None:
        return 0
    extra = sum((progress.responder or {}).values()) + sum((progress.deaths or {}).values())
    return progress.received + progress.malformed + extra


WORKER_GO_S = 0.2
"""From the last worker's ready to the moment they all start: time to tell them all."""


def _tls_flags(tls: TlsOptions) -> list[str]:
    """The TLS files a worker needs, as its flags (file paths, templates kept)."""
    flags: list[str] = []
    for flag, path in (
        ("--ca-file", tls.ca_file),
        ("--client-cert", tls.cert_file),
        ("--client-key", tls.key_file),
    ):
        if path is not None:
            flags += [flag, str(path)]
    if not tls.verify:
        flags.append("--insecure")
    return flags
