"""``[[faults]]`` in a run over worker processes (``run --workers``): each worker cuts its own
share of the connections, the coordinator restarts the broker it runs; the report has each
fault once, as one process would have reported it, and nothing is lost at QoS 1. While a fault
the workers carry out lasts, the coordinator's /metrics shows it in force."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from simulator.broker import free_port
from tests.background_run import poll_run
from tests.commands import CHILD_ENV, run_reported
from tests.e2e.test_faults import assert_cut_and_restart_reported, cut_and_restart
from tests.scenario_files import scenario_file
from tests.scraping import scraped

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_workers_cut_their_connections_and_the_coordinator_restarts_the_broker(
    tmp_path: Path,
) -> None:
    scenario = cut_and_restart(tmp_path, "worker-faults")
    done, report = run_reported("run", str(scenario), "--workers", "2", cwd=tmp_path)

    assert report["run"]["role"] == "merged"
    # The coordinator's part names the broker it started, as the workers' do.
    assert report["broker"]["urls"] == [report["broker"]["url"]]
    assert_cut_and_restart_reported(tmp_path, report)
    cut, restart = report["faults"]
    # Each worker cut half of its 30 connections; the coordinator restarted its broker.
    assert cut["detail"] == "cut 15 connections (15 devices), in each of 2"
    assert restart["detail"] == "the local broker down 0.5 s"

    said = done.stdout + done.stderr
    assert "worker 0/2: fault: drop_connections at " in said
    assert "worker 1/2: fault: drop_connections at " in said
    assert "fault: broker_restart at " in said
    assert (
        "fault       drop_connections at 2 s: cut 15 connections (15 devices), in each of 2" in said
    )
    assert "fault       broker_restart at 5 s: the local broker down 0.5 s; 60 of 60" in said


def fault_active(url: str, kind: str) -> float | None:
    """The coordinator's ``fault_active`` gauge for ``kind`` (None: not served yet)."""
    return scraped(url, "factory_sim_fault_active", kind=kind)


def test_the_coordinator_shows_a_fault_its_workers_carry_out_while_it_lasts(
    tmp_path: Path,
) -> None:
    """A partition is the workers' to put in force, on their own connections; the coordinator's
    /metrics says it is in force while it lasts, as one process's would."""
    scenario = scenario_file(
        tmp_path,
        "worker-partition",
        duration_s=9.0,
        fleet={"devices": 20, "publish_interval_s": 0.5},
        ingest={"sqlite_path": "rows.sqlite"},
        faults=[{"kind": "partition", "at_s": 2.0, "duration_s": 3.0}],
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    log = tmp_path / "run.log"
    argv = [sys.executable, "-m", "simulator", "run", str(scenario), "--workers", "2"]
    argv += ["--metrics-port", str(port)]
    with (
        log.open("w") as out,
        subprocess.Popen(argv, cwd=tmp_path, stderr=out, stdout=out, env=CHILD_ENV) as run,
    ):
        try:
            poll_run(run, log, lambda: fault_active(url, "partition"), bool, what="in force")
            poll_run(
                run,
                log,
                lambda: fault_active(url, "partition"),
                lambda value: value == 0,
                what="lifted",
            )
            assert run.wait(timeout=60) == 0, log.read_text()
        finally:
            if run.poll() is None:
                run.kill()
