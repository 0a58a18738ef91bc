"""Tools the test suite needs. Missing, they fail the tests that use them: a skip would let CI
go green without ever running those tests."""

from __future__ import annotations

import importlib
import shutil
from typing import Any

import pytest

SETUP = "scripts/setup test installs it"

PYSPARKPLUG = "pysparkplug"
"""The independent Sparkplug B implementation the interop tests check our bytes against."""
PYSPARKPLUG_INSTALL = "pip install --no-deps pysparkplug==0.6.1 (it pins paho-mqtt<2, not needed)"


def required_module(name: str, install: str) -> Any:
    """Import ``name``, or fail the importing test module saying how to install it.

    Typed ``Any``: the modules imported this way (pysparkplug) ship no type information.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        pytest.fail(f"{name} is required and missing ({exc}): {SETUP}, or {install}", pytrace=False)


def pysparkplug() -> Any:
    """The pysparkplug package (see :data:`PYSPARKPLUG`)."""
    return required_module(PYSPARKPLUG, PYSPARKPLUG_INSTALL)


def chromium() -> str:
    """The path of a Chromium for the browser tests, or the test fails saying how to get one."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found is not None:
            return found
    pytest.fail(
        f"Chromium is required and missing from PATH: {SETUP} (Debian: apt-get install "
        'chromium); to leave the browser tests out on purpose, run pytest -m "not browser"',
        pytrace=False,
    )
