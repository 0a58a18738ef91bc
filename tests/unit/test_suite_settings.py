"""The test suite's own settings hold: CI runs hypothesis derandomized, without deadlines."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from tests import required


def test_hypothesis_runs_the_ci_profile_exactly_when_ci_is_set() -> None:
    in_ci = os.environ.get("CI", "").lower() not in ("", "0", "false")
    current = settings()  # what a test's examples run with: the loaded profile
    assert current.derandomize is in_ci
    assert current.deadline is None


def test_a_missing_tool_fails_the_test_that_needs_it_and_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"no_such_tool.*scripts/setup test.*pip i"):
        required.required_module("no_such_tool", "pip install no-such-tool")
    monkeypatch.setenv("PATH", "")
    with pytest.raises(pytest.fail.Exception, match="Chromium is required"):
        required.chromium()
