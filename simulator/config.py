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

from collections.abc import Sequence
from dataclasses import dataclass, field

from simulator.errors import ScenarioError, ScenarioProblem
from simulator.report.thresholds import Threshold, parse_thresholds
from simulator.scenario import Scenario
from simulator.sinks.url import new_run_id
from simulator.transport.tls import TlsOptions


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
) -> RunConfig:
    """The run's configuration; ScenarioError with every problem (``found`` while loading the
    scenario, and those of the ``--threshold`` flags) if there are any."""
    problems = list(found)
    flagged: list[Threshold] = []
    try:
        flagged = parse_thresholds([(expr, "--threshold") for expr in threshold_flags])
    except ScenarioError as exc:
        problems.extend(exc.problems)
    if problems or scenario is None:
        raise ScenarioError(problems)
    return RunConfig(
        scenario,
        scenario_path,
        new_run_id(scenario.name, now_ns),
        (*scenario.thresholds, *flagged),
        tls or TlsOptions(),
        metrics_port,
        web_port,
        quiet,
        metrics_host=metrics_host,
    )
