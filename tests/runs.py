"""A run's configuration, and the run itself, for tests that drive the runner directly."""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any

from simulator.config import RunConfig, resolve_run_config
from simulator.report.json_report import as_dict
from simulator.runner import Runner
from simulator.scenario import Scenario


def run_config(scenario: Scenario, *, quiet: bool = False) -> RunConfig:
    """``scenario`` resolved as the command line would, without thresholds or options."""
    return resolve_run_config(scenario, "<test>", now_ns=time.time_ns(), quiet=quiet)


def run_here(scenario: Scenario) -> tuple[dict[str, Any], str]:
    """``scenario`` run in this process on :func:`run_config`, as ``factory-sim run`` runs it;
    its report as JSON data, and what its live view printed."""
    out = io.StringIO()
    report = as_dict(asyncio.run(Runner(run_config(scenario), out=out).run()))
    return report, out.getvalue()
