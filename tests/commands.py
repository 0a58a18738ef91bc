"""The simulator's command line in a child process, as a user runs it from a checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.quickstart import ROOT, quickstart_without_thresholds

CHILD_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
"""A child's environment: this one, with the checkout importable from any working directory."""


def python(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run this Python with ``args`` in ``cwd`` and wait; its output captured as text, its
    exit code left for the test to check."""
    argv = [sys.executable, *args]
    return subprocess.run(
        argv, cwd=cwd, env=CHILD_ENV, timeout=timeout, capture_output=True, text=True, check=False
    )


def simulator(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m simulator`` with ``args``, as :func:`python` runs it."""
    return python("-m", "simulator", *args, cwd=cwd, timeout=timeout)


def quickstart(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``simulator run`` of ``scenarios/quickstart.toml`` without its thresholds (see
    :mod:`tests.quickstart`) with ``args``, in ``cwd``."""
    return simulator("run", str(quickstart_without_thresholds(cwd)), *args, cwd=cwd)


def run_reported(
    *args: str,
    cwd: Path,
    report: str = "report.json",
    command: Callable[..., subprocess.CompletedProcess[str]] = simulator,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``command`` (:func:`simulator` unless said) with ``args`` and ``--report report`` in
    ``cwd``, which must exit 0 (its output is the failure message otherwise); what it did, and
    the JSON report it wrote."""
    done = command(*args, "--report", report, cwd=cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    written: dict[str, Any] = json.loads((cwd / report).read_text())
    return done, written
