"""``factory-sim southbound`` in a child process, as a user runs it: started on a scenario,
awaited until it has written its gateway hint, stopped with SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.commands import CHILD_ENV


@dataclass
class Serving:
    """A running ``factory-sim southbound`` and what it said before serving."""

    proc: subprocess.Popen[str]
    lines: list[str]
    """What it printed up to and including the line naming the hint file."""
    hint: dict[str, Any]
    out: str = ""
    """The rest of its standard output, once stopped."""
    err: str = ""
    """Its standard error, once stopped."""
    returncode: int | None = field(default=None)


@contextmanager
def southbound(scenario: Path, *options: str, timeout_s: float = 60) -> Iterator[Serving]:
    """Serve the ``scenario`` file from its directory with the command's ``options`` until the
    block ends, then SIGTERM it (unless it has ended) and wait; the block sees the hint as
    written."""
    directory = scenario.parent
    hint_path = directory / "gateway.json"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "simulator", "southbound", str(scenario)),
            *("--hint", str(hint_path), *options),
        ],
        cwd=directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=CHILD_ENV,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + timeout_s
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("gateway hint written"):
                break
            assert time.monotonic() < deadline, lines
        assert lines, f"no output; exit code {proc.poll()}"
        assert lines[-1].startswith("gateway hint written"), (lines, proc.poll())
        serving = Serving(proc, lines, json.loads(hint_path.read_text()))
        yield serving
        proc.send_signal(signal.SIGTERM)
        serving.out, serving.err = proc.communicate(timeout=timeout_s)
        serving.returncode = proc.returncode
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
