"""``factory-sim capacity`` through the command line, each step a real run against the local
Mosquitto it starts: the search finds the highest load that keeps an SLO, and says so in JSON,
HTML and the summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.commands import run_reported, simulator
from tests.scenario_files import scenario_file

pytestmark = pytest.mark.broker


def capacity_scenario(tmp_path: Path) -> Path:
    """The step the search starts at: 40 devices for a second."""
    return scenario_file(
        tmp_path, "capacity", duration_s=1.0, fleet={"devices": 40, "publish_interval_s": 0.5}
    )


def test_the_search_finds_the_highest_load_that_holds(tmp_path: Path) -> None:
    # An SLO on a count, so the knee is exact: at most 100 devices connected.
    done, capacity = run_reported(
        "capacity",
        str(capacity_scenario(tmp_path)),
        *("--by", "devices", "--slo", "devices.connected <= 100", "--html", "capacity.html"),
        cwd=tmp_path,
        report="capacity.json",
    )
    assert [step["load"] for step in capacity["steps"]] == [40, 80, 160, 120, 100, 110]
    assert [step["held"] for step in capacity["steps"]] == [True, True, False, False, True, False]
    assert (capacity["highest_held"], capacity["lowest_broken"]) == (100, 110)
    assert capacity["steps"][2]["broken"] == ["devices.connected <= 100"]
    assert all(step["lost"] == 0 for step in capacity["steps"])
    assert "highest that held: 100 devices; lowest that broke: 110 devices" in done.stderr
    page = (tmp_path / "capacity.html").read_text()
    assert "<svg" in page
    assert "highest that held: <b>100 devices</b>" in page


def test_a_bad_slo_is_named_before_any_step_runs(tmp_path: Path) -> None:
    scenario = capacity_scenario(tmp_path)
    done = simulator("capacity", str(scenario), "--slo", "latency_ms.p77 < 5", cwd=tmp_path)
    assert done.returncode == 2
    assert "--slo" in done.stderr
    assert "latency_ms.p77" in done.stderr
    assert "capacity step" not in done.stdout
