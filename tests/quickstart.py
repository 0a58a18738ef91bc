"""scenarios/quickstart.toml for tests, without the pass/fail thresholds it ships with.

The shipped ``[thresholds]`` are a user's (a generous ``latency_ms.p99 < 1000`` among them):
inherited by a test, they would fail it on a busy machine for a reason it does not test. A
test runs this copy and states the thresholds it means with ``--threshold``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "scenarios" / "quickstart.toml"


def quickstart_without_thresholds(directory: Path) -> Path:
    """Write quickstart.toml, less its ``[thresholds]`` table, into ``directory``; return it."""
    kept: list[str] = []
    in_thresholds = False
    for line in QUICKSTART.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.startswith("["):
            in_thresholds = line.strip() == "[thresholds]"
        if not in_thresholds:
            kept.append(line)
    copy = directory / QUICKSTART.name
    copy.write_text("".join(kept), encoding="utf-8")
    # Nothing but the thresholds may differ, whatever the shipped file comes to hold.
    original = tomllib.loads(QUICKSTART.read_text(encoding="utf-8"))
    assert "thresholds" in original, "quickstart.toml has no [thresholds] table any more"
    del original["thresholds"]
    assert tomllib.loads(copy.read_text(encoding="utf-8")) == original
    return copy
