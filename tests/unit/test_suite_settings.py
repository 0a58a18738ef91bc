"""The test suite's own settings hold: CI runs hypothesis derandomized, without deadlines."""

from __future__ import annotations

import os

from hypothesis import settings


def test_hypothesis_runs_the_ci_profile_exactly_when_ci_is_set() -> None:
    in_ci = os.environ.get("CI", "").lower() not in ("", "0", "false")
    current = settings()  # what a test's examples run with: the loaded profile
    assert current.derandomize is in_ci
    assert current.deadline is None
