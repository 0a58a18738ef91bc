"""Reports built the way a run builds them, for threshold, JUnit and compare tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.reports import built_report

MakeReport = Callable[..., dict[str, Any]]


@pytest.fixture
def make_report() -> MakeReport:
    """:func:`tests.reports.built_report`: keyword arguments replace run figures."""
    return built_report
