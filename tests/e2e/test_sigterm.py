"""SIGTERM (a CI job's timeout) stops a run like Ctrl-C: exit 130, nothing left running."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_cli import ROOT

pytestmark = pytest.mark.broker


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


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
        env={**os.environ, "PYTHONPATH": str(ROOT)},
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
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, "".join(lines) + rest
    assert "interrupted" in rest
    assert "Traceback" not in rest
    for _ in range(50):
        if not alive(broker_pid):
            break
        time.sleep(0.1)
    assert not alive(broker_pid)
