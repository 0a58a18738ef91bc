"""Helpers for scenario tests: the smallest valid scenario, writing a TOML file and collecting
the problems it has."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from simulator.errors import ScenarioError, ScenarioProblem
from simulator.scenario import Overrides, load_scenario

MINIMAL = """\
duration_s = 5.0

[fleet]
devices = 10
publish_interval_s = 1.0
"""
"""The smallest valid scenario: only the keys without a default."""

WriteScenario = Callable[..., Path]
Problems = Callable[..., list[ScenarioProblem]]


@pytest.fixture
def write_scenario(tmp_path: Path) -> WriteScenario:
    """Write TOML text to ``<tmp>/<stem>.toml`` and return the path."""

    def write(text: str, stem: str = "trial") -> Path:
        path = tmp_path / f"{stem}.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def problems(write_scenario: WriteScenario) -> Problems:
    """Load TOML text that must be invalid and return every problem it was rejected for."""

    def collect(text: str, overrides: Overrides | None = None) -> list[ScenarioProblem]:
        with pytest.raises(ScenarioError) as caught:
            load_scenario(write_scenario(text), overrides)
        return list(caught.value.problems)

    return collect
