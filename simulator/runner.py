"""One run of a scenario: broker, ingest and fleet started, watched, drained and stopped.

The order matters and is the same every time:

1. refuse early what cannot work (open-file limits for us and for a local Mosquitto);
2. start a local Mosquitto from ``broker_config/`` unless the scenario names a broker, and
   check the broker answers TCP at all (an unreachable broker is an error within seconds);
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
import socket
import sys
import time
from typing import TextIO

from simulator.broker import LocalBroker, max_connections_hint
from simulator.config import RunConfig
from simulator.engine.fleet import Fleet
from simulator.errors import BrokerUnreachableError, IngestChildError, ResourceLimitError
from simulator.figures import RunState, public_settings, run_figures
from simulator.ingest.pool import IngestPool
from simulator.ingest.settings import WorkerSettings
from simulator.live.console import make_view
from simulator.live.web import LiveDashboard
from simulator.metrics.histogram import Histogram
from simulator.metrics.ingest import IngestSnapshot
from simulator.metrics.process import rss_bytes
from simulator.metrics.prometheus import MetricsServer
from simulator.monitor import Monitor
from simulator.mqtt import MQTTVersion
from simulator.payloads.detect import AUTO
from simulator.provisioning import Policy, Responder, ResponderSettings, topic_filter
from simulator.report.json_report import RunFigures, build_report
from simulator.report.schema import RunReport
from simulator.scenario import Scenario
from simulator.scenario.broker_url import BrokerAddress
from simulator.scenario.partition import ingest_partitions
from simulator.scenario.plan import OnboardingPlan
from simulator.sinks.url import parse_sink_url
from simulator.transport.credentials import Credentials
from simulator.transport.endpoint import Endpoint
from simulator.transport.limits import check_descriptors, raise_open_files_limit, source_addresses
from simulator.transport.tls import (
    check_client_files,
    client_context,
    context_source,
)

PREFLIGHT_TIMEOUT_S = 5.0


def ingest_payload(scenario: Scenario) -> str:
    """The payload format ingest decodes: the fleet's one, or detected per message if mixed."""
    formats = {group.payload for group in scenario.fleet.groups}
    return formats.pop() if len(formats) == 1 else AUTO


def connections_needed(scenario: Scenario) -> int:
    """Connections the fleet opens: one per device, or one per gateway."""
    return sum(group.connections for group in scenario.fleet.groups)


def platform_connections(scenario: Scenario) -> int:
    """Connections our platform side opens to the broker: one per ingest worker, or the
    provisioning responder's one without ingest."""
    return scenario.ingest.workers if scenario.ingest.enabled else 1


def sparkplug_group_of(scenario: Scenario) -> str | None:
    """The Sparkplug group the fleet's edge nodes publish in (None: no Sparkplug devices)."""
    fleet = scenario.fleet
    if all(group.payload != "sparkplug" for group in fleet.groups):
        return None
    return fleet.sparkplug_group or fleet.enterprise


def topic_filter_for(template: str) -> str:
    """The narrowest ``#`` filter covering every topic the template can render.

    ``factory/{site}/{line}/{device}/telemetry`` gives ``factory/#``; a template whose first
    level is a placeholder gives ``#``.
    """
    fixed: list[str] = []
    for level in template.split("/"):
        if "{" in level:
            break
        fixed.append(level)
    return "/".join([*fixed, "#"])


def _preflight(host: str, port: int) -> None:
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
        self.view = make_view(out, quiet=config.quiet, title=f"factory-sim: {self.scenario.name}")
        self.monitor: Monitor | None = None
        """The run's monitor once the fleet exists: its time series is what watchers read."""
        self._state: RunState | None = None

    def say(self, text: str) -> None:
        """Tell the user what is happening."""
        self.view.say(text)

    async def run(self) -> RunReport:
        """Run the scenario end to end; everything started here is stopped here."""
        dashboard: LiveDashboard | None = None
        if self.config.web_port is not None:
            dashboard = LiveDashboard(self.live_report, port=self.config.web_port)
            await dashboard.start()
            self.say(f"live dashboard on {dashboard.url}")
        try:
            self.final_report = await self._run()
            return self.final_report
        finally:
            if dashboard is not None:
                await dashboard.stop()

    def live_report(self) -> RunReport:
        """What the live dashboard shows now: the run's figures so far, built as the final
        report is (the same schema, ``live`` set), or the final report once there is one."""
        if self.final_report is not None:
            return self.final_report
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
        report = build_report(figures)
        report["live"] = True
        return report

    def _empty_report(self) -> RunReport:
        """The live view before the fleet exists: the scenario, nothing measured yet."""
        scenario = self.scenario
        empty = RunFigures(
            scenario=scenario.name,
            scenario_path=self.scenario_path,
            broker_url=scenario.broker.address.url() if scenario.broker.address else "local",
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
        )
        report = build_report(empty)
        report["live"] = True
        return report

    async def _run(self) -> RunReport:
        scenario = self.scenario
        connections = connections_needed(scenario) + platform_connections(scenario)
        check_descriptors(connections, raise_open_files_limit())
        with contextlib.ExitStack() as stack:
            if self.config.metrics_port is not None:
                stack.callback(self._metrics_server().stop)
            address = scenario.broker.address
            if address is None:
                self._check_local_broker_capacity(connections)
                broker = LocalBroker()
                self.say("starting a local Mosquitto from broker_config/ ...")
                await asyncio.to_thread(broker.start)
                stack.callback(broker.stop)
                address = BrokerAddress(broker.host, broker.port, "mqtt")
                self.say(f"Mosquitto is listening on {broker.url} (pid {broker.pid})")
            await asyncio.to_thread(_preflight, address.host, address.port)
            return await self._run_against(address)
        raise AssertionError("unreachable")  # pragma: no cover - ExitStack never swallows

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
        self.say(f"Prometheus metrics on {server.url}")
        return server  # started here so the URL can be said; the ExitStack only stops it

    def _check_local_broker_capacity(self, connections: int) -> None:
        capacity = max_connections_hint()
        if connections > capacity:
            raise ResourceLimitError(
                f"a local Mosquitto on this machine can hold about {capacity:,} connections "
                f"(its open-files limit), but the run needs {connections:,}. "
                f"Put devices behind gateways (fleet.devices_per_connection), use fewer devices "
                f"per run, or start several brokers and simulator processes and point each at "
                f"its own broker with --broker."
            )

    async def _run_against(self, address: BrokerAddress) -> RunReport:
        scenario = self.scenario
        loop = asyncio.get_running_loop()
        version = MQTTVersion.V5 if scenario.broker.mqtt_version == "5" else MQTTVersion.V311
        ingest: IngestPool | None = None
        if scenario.ingest.enabled:
            client_id = f"ingest-{scenario.name}-0"
            username, password = scenario.ingest.username, scenario.ingest.password
            if username is None and address.username is not None:
                username, secret = Credentials(address.username, address.password).for_device(
                    client_id
                )
                password = secret.decode() if secret is not None else None
            # The worker's {device} in certificate paths is the name the ACL knows it by.
            identity = username if username is not None else client_id
            if address.tls:
                check_client_files(self.tls, (identity,))
            tls = self.tls.for_client(identity)
            settings = WorkerSettings(
                host=address.host,
                port=address.port,
                username=username,
                password=password,
                tls=address.tls,
                ca_file=str(tls.ca_file) if tls.ca_file else None,
                cert_file=str(tls.cert_file) if tls.cert_file else None,
                key_file=str(tls.key_file) if tls.key_file else None,
                verify=tls.verify,
                topic_filter=topic_filter_for(scenario.fleet.topic),
                # Mosquitto 2.0.11 writes no shared subscription to its database: a run that
                # keeps sessions across a restart subscribes plainly (one worker needs no share).
                share_group=scenario.ingest.share_group if scenario.broker.clean_start else None,
                mqtt_version=version,
                client_id=client_id,
                keepalive_s=scenario.broker.keepalive_s,
                payload=ingest_payload(scenario),
                qos=scenario.fleet.qos,
                session_expiry_s=_ingest_session_expiry(scenario),
                batch_size=scenario.ingest.batch_size,
                batch_max_age_s=scenario.ingest.batch_max_age_ms / 1000,
                register_filter=topic_filter(scenario.onboarding.register_topic)
                if scenario.onboarding.workflow == "register"
                else None,
                death_filter=topic_filter(scenario.onboarding.death_topic)
                if scenario.onboarding.workflow == "register" and scenario.onboarding.death_topic
                else None,
                # The worker hears every registration anyway: it answers them too, on the
                # second core, instead of a responder competing with the devices for the first.
                respond=_policy(scenario) if _our_responder(scenario) else None,
                sparkplug_group=sparkplug_group_of(scenario),
                sink=scenario.ingest.sink_url,
                run_id=self.config.run_id,
                sink_retry_s=scenario.ingest.sink_retry_s,
                sink_busy_timeout_s=scenario.ingest.sqlite_busy_timeout_s,
                store_payloads=scenario.ingest.store_payloads,
            )
            workers = _ingest_workers(scenario, settings)
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
            elif _our_responder(scenario):
                self.say(self._answering("the ingest worker"))
            return await self._drive(loop, address, ingest, responder)
        finally:
            if responder is not None:
                await responder.stop()
            if ingest is not None and ingest.final is None:
                await ingest.kill()

    async def _start_responder(
        self, loop: asyncio.AbstractEventLoop, address: BrokerAddress
    ) -> Responder | None:
        """Start the provisioning responder, if the scenario registers and wants ours."""
        scenario = self.scenario
        onboarding = scenario.onboarding
        if not _our_responder(scenario):
            return None
        client_id = f"provisioning-{scenario.name}-0"
        username, password = None, None
        if address.username is not None:
            username, secret = Credentials(address.username, address.password).for_device(client_id)
            password = secret.decode() if secret is not None else None
        responder = Responder(
            ResponderSettings(
                address.host,
                address.port,
                onboarding.register_topic,
                mqtt_version=MQTTVersion.V5
                if scenario.broker.mqtt_version == "5"
                else MQTTVersion.V311,
                client_id=client_id,
                policy=_policy(scenario),
                keepalive_s=scenario.broker.keepalive_s,
                connect_timeout_s=onboarding.connect_timeout_s,
                username=username,
                password=password,
            ),
            loop=loop,
            wall_ns=time.time_ns,
            ssl_context=client_context(self.tls.for_client(username or client_id))
            if address.tls
            else None,
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
        endpoint = Endpoint(
            address.host,
            address.port,
            source_addresses=source_addresses(address.host, connections_needed(scenario)),
            tls=context_source(self.tls) if address.tls else None,
            credentials=credentials,
        )
        fleet = Fleet(scenario, endpoint, loop=loop, wall_ns=time.time_ns)
        fleet.build()
        if address.tls:
            ids = map(fleet.client_id, range(fleet.connection_count))
            await asyncio.to_thread(check_client_files, self.tls, ids)
        plan = OnboardingPlan(fleet.connection_count, scenario.onboarding.rate_per_s)
        self.say(
            f"onboarding {scenario.fleet.devices:,} devices "
            f"at {scenario.onboarding.rate_per_s:,.0f}/s "
            f"(about {plan.eta_s():.1f} s), then publishing for {scenario.duration_s:g} s "
            f"every {scenario.fleet.publish_interval_s:g} s per device"
        )
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
        )
        try:
            monitor.phase = "onboarding"
            try:
                await fleet.onboard(plan)
            except BaseException:
                fleet.stop_publishing()
                await fleet.disconnect_all()
                raise
            await fleet.wait_registered()
            connected_rss = rss_bytes()
            monitor.phase = "publishing"
            await asyncio.sleep(scenario.duration_s)
            fleet.stop_publishing()
            publish_window_s = loop.time() - state.start
            monitor.phase = "draining"
            drain_s = await self._drain(loop, fleet, ingest)
            monitor.phase = "stopping"
            await fleet.disconnect_all()
            await self._hear_deaths(fleet, ingest)
        finally:
            monitor_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor_task
        final, ingest_error = await self._stop_ingest(ingest)
        monitor.phase = "done"
        monitor.sample()
        self.view.close()
        return build_report(
            run_figures(
                state,
                final,
                ingest_error,
                publish_window_s=publish_window_s,
                drain_s=drain_s,
                connected_rss=connected_rss,
            )
        )

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


def _ingest_workers(scenario: Scenario, settings: WorkerSettings) -> list[WorkerSettings]:
    """The settings of each ingest worker: one as given, or several splitting the topics.

    Every worker answers the registrations of its own devices; only the first listens to
    deaths and to Sparkplug traffic, which a topic partition cannot split.
    """
    count = scenario.ingest.workers
    if count == 1:
        return [settings]
    parts = ingest_partitions(scenario.fleet, count)
    if len(parts) == 1:
        return [settings]
    name = scenario.name
    return [
        dataclasses.replace(
            settings,
            client_id=f"ingest-{name}-{k}",
            partition=part,
            worker_index=k,
            death_filter=settings.death_filter if k == 0 else None,
            sparkplug_group=settings.sparkplug_group if k == 0 else None,
        )
        for k, part in enumerate(parts)
    ]


def _our_responder(scenario: Scenario) -> bool:
    """Whether this run answers registrations itself (else a real platform does)."""
    onboarding = scenario.onboarding
    return onboarding.workflow == "register" and onboarding.responder.enabled


def _policy(scenario: Scenario) -> Policy:
    responder = scenario.onboarding.responder
    return Policy(
        scenario.seed,
        responder.reject_share,
        responder.silent_share,
        {"qos": scenario.fleet.qos},
    )


def _ingest_session_expiry(scenario: Scenario) -> int:
    """Keep the ingest session when the fleet keeps its own (under 3.1.1 any value keeps it)."""
    if scenario.broker.mqtt_version == "5":
        return scenario.broker.session_expiry_s
    return 0 if scenario.broker.clean_start else 1
