"""A quickstart run in a child process, for tests that watch it from outside while it goes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from tests.commands import CHILD_ENV
from tests.quickstart import quickstart_without_thresholds

T = TypeVar("T")

READ_EVERY_S = 0.2
"""A reading is a request to the run's own server, which serves the run too: a few a second."""


@contextmanager
def quickstart_in_background(
    tmp_path: Path, *args: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """Run ``scenarios/quickstart.toml`` (without its thresholds: see :mod:`tests.quickstart`)
    with ``args``; yield the process and its log file.

    The run's stderr (its progress lines) goes to the log. On leaving, a run still going gets
    SIGINT, which lets it stop the Mosquitto and ingest child it started.
    """
    log_path = tmp_path / "run.log"
    with (
        log_path.open("w") as log,
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "simulator",
                "run",
                str(quickstart_without_thresholds(tmp_path)),
                *args,
            ],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=CHILD_ENV,
        ) as run,
    ):
        try:
            yield run, log_path
        finally:
            if run.poll() is None:
                run.send_signal(signal.SIGINT)
                try:
                    run.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    run.kill()
                    run.wait()


def poll_run(
    run: subprocess.Popen[bytes],
    log: Path,
    read: Callable[[], T | None],
    passed: Callable[[T], bool],
    *,
    what: str,
    timeout_s: float = 60.0,
) -> T:
    """Read the running ``run`` with ``read`` (None: nothing to read yet) until ``passed`` holds
    of the reading, and return that reading.

    Fails at once, with the run's ``log``, if the run ends first, and after ``timeout_s``;
    both failures say ``what`` was awaited.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if run.poll() is not None:
            pytest.fail(f"the run ended (exit {run.returncode}) before {what}:\n{log.read_text()}")
        value = read()
        if value is not None and passed(value):
            return value
        time.sleep(READ_EVERY_S)
    pytest.fail(f"timed out after {timeout_s:g} s waiting until {what}")
