"""Every pytest run in the environment loads the plugin, so loading it must stay cheap."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
import pytest
before = set(sys.modules)
import simulator.pytest_plugin
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_importing_the_plugin_loads_only_the_plugin() -> None:
    # A fresh interpreter: this one has long since imported the harness and the runner.
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )

    assert json.loads(done.stdout) == ["simulator", "simulator.pytest_plugin"]
