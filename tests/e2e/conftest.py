"""Fixtures of the end-to-end tests."""

from __future__ import annotations

import pytest

from tests import required


@pytest.fixture
def chromium() -> str:
    """Chromium's path; without one the test fails (``-m "not browser"`` leaves them out)."""
    return required.chromium()
