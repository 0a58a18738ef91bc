"""``[[faults]]`` in a run over worker processes (``run --workers``): each worker cuts its own
share of the connections, the coordinator restarts the broker it runs; the report has each
fault once, as one process would have reported it, and nothing is lost at QoS 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.commands import run_reported
from tests.e2e.test_faults import assert_cut_and_restart_reported, cut_and_restart

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
