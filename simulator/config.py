"""One run's configuration, resolved once and handed down whole.

A run is configured from three places: the scenario file (with the command line's overrides
already applied by :mod:`simulator.scenario.loader`), the command line's own options (TLS files,
thresholds, where to serve metrics or the dashboard) and the clock (the run id). They are
resolved into one :class:`RunConfig` before anything starts, every problem reported at once,
and the runner hands its parts down as typed values (the ingest workers get their
:class:`~simulator.ingest.settings.WorkerSettings` whole); nothing below re-reads a flag or
re-parses a setting.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from simulator.errors import ScenarioError, ScenarioProblem
from simulator.report.thresholds import Threshold, parse_thresholds
from simulator.scenario import Scenario
from simulator.scenario.segment import WHOLE, Segment
from simulator.sinks import check_run_id
from simulator.sinks.url import new_run_id
from simulator.transport.tls import TlsOptions

IngestMode = Literal["own", "off", "only"]
"""What a run does about ingest: ``own`` starts the scenario's ingest workers (and answers
registrations) as a whole run does; ``off`` runs the fleet only, leaving ingest and the
provisioning responder to a run elsewhere; ``only`` runs the platform side only (ingest and
responder, no fleet), for slices run with ``off``."""

CLIENT_ID_TAG_LENGTH = 6
"""Characters of the run's tag before every client id (then a ``-``): short, so an id stays
within the 23 characters MQTT 3.1.1 servers must accept (``k3f9a2-imm-000042`` is 17)."""


def client_id_prefix(run_id: str) -> str:
    """The prefix a run puts before every client id: a tag of ``run_id`` (6 letters and digits
    from its hash, then ``-``), the same in every slice and worker of the run and different
    between runs, so two runs on one broker never take over each other's sessions."""
    digest = hashlib.sha256(run_id.encode()).digest()
    tag = base64.b32encode(digest).decode().lower()[:CLIENT_ID_TAG_LENGTH]
    return f"{tag}-"


def derived_run_id(scenario_name: str, start_at_ns: int) -> str:
    """The run id every slice of a run started with ``--start-at`` (and no ``--run-id``)
    derives alike: the scenario's name, the start time and a hash of both."""
    seed = hashlib.sha256(f"{scenario_name}/{start_at_ns}".encode()).digest()
    return new_run_id(scenario_name, start_at_ns, seed_bytes=seed)


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything one run needs to know, resolved."""

    scenario: Scenario
    scenario_path: str
    """Where the scenario came from, as the report names it."""
    run_id: str
    """Marks every row this run stores and names the run in its report."""
    thresholds: tuple[Threshold, ...] = ()
    """The scenario's ``[thresholds]``, then the command line's."""
    tls: TlsOptions = field(default_factory=TlsOptions)
    """Trust and client certificates for an ``mqtts://`` broker."""
    metrics_port: int | None = None
    """Serve Prometheus metrics on this port while the run goes (None: don't)."""
    web_port: int | None = None
    """Serve the live dashboard on this port while the run goes (None: don't)."""
    quiet: bool = False
    sample_interval_s: float = 1.0
    segment: Segment = WHOLE
    """Which slice of the run this process runs (``--segment I/N``; ``0/1``: all of it)."""
    start_at_ns: int | None = None
    """Wall-clock time (ns since the epoch) to start onboarding at (``--start-at``): the
    barrier every slice of a run waits for. None starts at once."""
    ingest: IngestMode = "own"
    """Whether this process runs the fleet, the platform side (ingest, responder), or both."""
    idle_stop_s: float = 10.0
    """``ingest = "only"``: stop once messages have come and none came for this long."""
    workers: int | None = None
    """``--workers``: run the fleet as this many worker processes under this one (0: as many
    as the open-file limit needs); None runs it here."""
    jsonl: bool = False
    """Show progress as JSON lines on stdout (a worker of ``--workers``), not to a person."""
    await_start: bool = False
    """Once ready, read the start time from standard input (a worker of ``--workers``)."""
    await_control: bool = False
    """Then follow live control requests on standard input (a worker of ``--workers --web``)."""

    @property
    def client_id_prefix(self) -> str:
        """What every MQTT client id of the run starts with (see :func:`client_id_prefix`)."""
        return client_id_prefix(self.run_id)

    metrics_host: str = "127.0.0.1"
    """The address the metrics server listens on (0.0.0.0: every interface, for a pod)."""


def resolve_run_config(
    scenario: Scenario | None,
    scenario_path: str,
    *,
    now_ns: int,
    found: Sequence[ScenarioProblem] = (),
    threshold_flags: Sequence[str] = (),
    tls: TlsOptions | None = None,
    metrics_port: int | None = None,
    web_port: int | None = None,
    quiet: bool = False,
    metrics_host: str = "127.0.0.1",
    run_id: str | None = None,
    segment: Segment = WHOLE,
    start_at_ns: int | None = None,
    ingest: IngestMode | None = None,
    idle_stop_s: float = 10.0,
    workers: int | None = None,
    jsonl: bool = False,
    await_start: bool = False,
    await_control: bool = False,
) -> RunConfig:
    """The run's configuration; ScenarioError with every problem (``found`` while loading the
    scenario, and those of the ``--threshold`` flags) if there are any.

    The run id is ``run_id`` if given, else derived from the scenario and ``start_at_ns`` when
    there is one (so every slice started at one moment agrees), else a fresh one. A slice of
    several (``segment.count > 1``) or an ingest-only run must be able to agree with the rest
    of its run: it needs ``run_id`` or ``start_at_ns``. ``ingest`` None chooses: ``own`` for
    a whole run, ``off`` for a slice of several (their platform side runs once, elsewhere).
    """
    problems = list(found)
    flagged: list[Threshold] = []
    try:
        flagged = parse_thresholds([(expr, "--threshold") for expr in threshold_flags])
    except ScenarioError as exc:
        problems.extend(exc.problems)
    if run_id is not None:
        try:
            check_run_id(run_id)
        except ValueError as exc:
            problems.append(ScenarioProblem("<command line>", "--run-id", str(exc)))
    mode: IngestMode = ingest if ingest is not None else "own" if segment.whole else "off"
    shared = not segment.whole or mode == "only"
    if shared and run_id is None and start_at_ns is None:
        what = f"--segment {segment}" if not segment.whole else "--ingest-only"
        problems.append(
            ScenarioProblem(
                "<command line>",
                what,
                "needs --run-id ID or --start-at TIME, so every slice and the ingest run of "
                "one run share its run id (it marks the rows and prefixes the client ids)",
            )
        )
    if mode == "only" and not segment.whole:
        problems.append(
            ScenarioProblem(
                "<command line>", "--ingest-only", "takes no --segment: it is one per run"
            )
        )
    if shared and mode != "own" and scenario is not None and _local_broker(scenario):
        problems.append(
            ScenarioProblem(
                "<command line>",
                "--broker",
                "the slices and the ingest run of one run must reach one broker: give "
                "--broker mqtt://HOST:PORT (or [broker] url or urls); each would otherwise "
                "start a Mosquitto of its own",
            )
        )
    if workers is not None and (shared or mode == "only"):
        problems.append(
            ScenarioProblem(
                "<command line>",
                "--workers",
                "starts the slices itself: it takes no --segment and no --ingest-only",
            )
        )
    if mode == "only" and scenario is not None and not scenario.ingest.enabled:
        problems.append(
            ScenarioProblem(
                scenario_path, "ingest.enabled", "--ingest-only needs ingest: it is false here"
            )
        )
    if problems or scenario is None:
        raise ScenarioError(problems)
    if run_id is None:
        run_id = (
            derived_run_id(scenario.name, start_at_ns)
            if start_at_ns is not None
            else new_run_id(scenario.name, now_ns)
        )
    if mode == "off":
        scenario = _without_platform(scenario)
    return RunConfig(
        scenario,
        scenario_path,
        run_id,
        (*scenario.thresholds, *flagged),
        tls or TlsOptions(),
        metrics_port,
        web_port,
        quiet,
        segment=segment,
        start_at_ns=start_at_ns,
        ingest=mode,
        idle_stop_s=idle_stop_s,
        metrics_host=metrics_host,
        workers=workers,
        jsonl=jsonl,
        await_start=await_start,
        await_control=await_control,
    )


def _local_broker(scenario: Scenario) -> bool:
    """Whether the run starts its own Mosquitto (no broker named)."""
    broker = scenario.broker
    return broker.url is None and broker.urls is None


def _without_platform(scenario: Scenario) -> Scenario:
    """The scenario with its platform side (ingest and our provisioning responder) left to a
    run elsewhere: a fleet-only slice."""
    onboarding = scenario.onboarding
    responder = onboarding.responder.model_copy(update={"enabled": False})
    return scenario.model_copy(
        update={
            "ingest": scenario.ingest.model_copy(update={"enabled": False}),
            "onboarding": onboarding.model_copy(update={"responder": responder}),
        }
    )
