"""The smallest scenario around a ``[southbound]`` table, for tests of what it settles and of
what it rejects."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.errors import ScenarioError
from simulator.scenario.loader import validate_scenario
from simulator.scenario.schema import Scenario


def scenario(devices: int = 10, **southbound: Any) -> Scenario:
    """A scenario of ``devices`` devices whose ``[southbound]`` table holds ``southbound``,
    validated as the loader validates a file (a bad key raises its ScenarioError)."""
    data = {
        "name": "s",
        "duration_s": 5,
        "fleet": {"devices": devices, "publish_interval_s": 1.0},
        "southbound": southbound,
    }
    return validate_scenario(data, "s.toml")


def problems(devices: int = 10, **southbound: Any) -> list[str]:
    """Every problem :func:`scenario` is rejected for, as ``path: message``."""
    with pytest.raises(ScenarioError) as caught:
        scenario(devices, **southbound)
    return [f"{p.path}: {p.message}" for p in caught.value.problems]
