"""SIGTERM (a CI job's timeout) stops a run like Ctrl-C: exit 130, nothing left running: neither
the Mosquitto nor the ingest worker it started."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest

from tests.commands import CHILD_ENV
from tests.processes import children_running
from tests.waiting import wait_until_sync

pytestmark = pytest.mark.broker


def exited(pid: int) -> bool:
    """``pid`` is gone, or has exited and waits for its parent (a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_sigterm_stops_the_run_and_everything_it_started(tmp_path: Path) -> None:
    scenario = tmp_path / "long.toml"
    scenario.write_text(
        'name = "long"\nduration_s = 600.0\n[fleet]\ndevices = 20\npublish_interval_s = 0.5\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "run", str(scenario)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=CHILD_ENV,
    )
    assert proc.stdout is not None
    broker_pid = None
    lines = []
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        lines.append(line)
        found = re.search(r"Mosquitto is listening on \S+ \(pid (\d+)\)", line)
        if found:
            broker_pid = int(found.group(1))
        if "published" in line and "connected 20/20" in line:
            break
        assert time.monotonic() < deadline, "".join(lines)
    assert broker_pid is not None, "".join(lines)
    ingest = children_running(proc.pid, "simulator", "ingest")
    assert len(ingest) == 1, ingest
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, "".join(lines) + rest
    assert "interrupted" in rest
    assert "Traceback" not in rest
    for pid, what in ((broker_pid, "Mosquitto"), (ingest[0], "the ingest worker")):
        wait_until_sync(partial(exited, pid), f"{what} (pid {pid}) to exit", 5.0)
