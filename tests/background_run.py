"""A quickstart run in a child process, for tests that watch it from outside while it goes."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.commands import CHILD_ENV
from tests.quickstart import quickstart_without_thresholds


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
