"""A run's configuration for tests that drive the runner directly."""

from __future__ import annotations

import time

from simulator.config import RunConfig, resolve_run_config
from simulator.scenario import Scenario


def run_config(scenario: Scenario, *, quiet: bool = False) -> RunConfig:
    """``scenario`` resolved as the command line would, without thresholds or options."""
    return resolve_run_config(scenario, "<test>", now_ns=time.time_ns(), quiet=quiet)
