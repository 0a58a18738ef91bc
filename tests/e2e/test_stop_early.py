"""SIGTERM or Ctrl-C while the fleet onboards or publishes ends the run early: no more devices
connect, publishing ends, the run drains, stops what it started and writes its report as at
its end, says so, and exits 130. Before onboarding (or a second time) the run stops at once,
without a report."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.e2e.test_sink_faults import finish, run_in_background, sqlite_rows, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def long_run(tmp_path: Path, *, devices: int = 100, rate_per_s: float = 1000.0) -> Path:
    """A run of a minute, which the tests stop long before its end."""
    path = tmp_path / "long.toml"
    path.write_text(
        'name = "long"\nduration_s = 60.0\n'
        f"[fleet]\ndevices = {devices}\npublish_interval_s = 0.25\n"
        f"[onboarding]\nrate_per_s = {rate_per_s}\n"
        f'[ingest]\nsink = "sqlite:///{tmp_path / "rows.sqlite"}"\nbatch_size = 100\n'
    )
    return path


@pytest.mark.parametrize(
    ("args", "sig"),
    [
        ((), signal.SIGTERM),  # a CI job's timeout, to the run alone
        ((), signal.SIGINT),  # Ctrl-C: to the terminal's whole process group
        (("--workers", "2"), signal.SIGINT),
        (("--workers", "2"), signal.SIGTERM),
    ],
)
def test_a_run_stopped_while_publishing_reports_everything_it_published(
    tmp_path: Path, args: tuple[str, ...], sig: signal.Signals
) -> None:
    group = sig == signal.SIGINT
    with run_in_background(tmp_path, long_run(tmp_path), *args, new_session=group) as run:
        wait_for(lambda: sqlite_rows(tmp_path / "rows.sqlite") > 400, "rows to be stored")
        if group:
            os.killpg(run.pid, sig)  # the run, its workers and its ingest worker alike
        else:
            run.send_signal(sig)
        code, output = finish(run)

    assert code == 130, output
    report = json.loads((tmp_path / "report.json").read_text())
    messages = report["messages"]
    assert messages["published"] > 400
    assert messages["ingested"] == messages["published"]
    assert messages["lost"] == 0
    assert report["duration_s"] < 30.0
    stopped = [note for note in report["notes"] if note.startswith("stopped early by")]
    assert len(stopped) == 1, report["notes"]  # once, not again by each worker
    assert stopped[0].startswith(f"stopped early by {sig.name} ")
    assert f"{sig.name}: onboarding and publishing end now" in output
    assert f"interrupted by {sig.name}: the report covers the run so far" in output


def test_stopped_while_onboarding_the_run_reports_the_devices_connected_so_far(
    tmp_path: Path,
) -> None:
    database = tmp_path / "rows.sqlite"
    scenario = long_run(tmp_path, devices=2000, rate_per_s=100.0)  # 20 s of onboarding
    with run_in_background(tmp_path, scenario) as run:
        wait_for(lambda: sqlite_rows(database) > 50, "the first devices' messages stored")
        run.send_signal(signal.SIGTERM)
        code, output = finish(run)

    assert code == 130, output
    report = json.loads((tmp_path / "report.json").read_text())
    connected = report["devices"]["connected"]
    assert 0 < connected < 2000  # no more connected once stopped
    assert report["devices"]["failed"] == 0
    messages = report["messages"]
    assert messages["ingested"] == messages["published"] > 50
    assert messages["lost"] == 0
    assert any(note.startswith("stopped early by SIGTERM ") for note in report["notes"])


def test_stopped_before_onboarding_the_run_ends_at_once_without_a_report(
    tmp_path: Path,
) -> None:
    with run_in_background(tmp_path, long_run(tmp_path)) as run:
        assert run.stdout is not None
        for line in run.stdout:
            if "starting a local Mosquitto" in line:  # ingest starts next, then onboarding
                break
        run.send_signal(signal.SIGTERM)
        code, output = finish(run)

    assert code == 130, output
    assert "interrupted" in output
    assert "Traceback" not in output
    assert not (tmp_path / "report.json").exists()
