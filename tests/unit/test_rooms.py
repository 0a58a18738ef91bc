"""The rooms keep their rules (docs/ARCHITECTURE.md): pure rooms import no I/O, threads or
clock, and every room imports only the rooms it may. One scan for all rooms, over the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import simulator

PACKAGE = Path(simulator.__file__).parent

IO = {"asyncio", "socket", "time", "threading", "selectors", "ssl", "subprocess", "trio", "anyio"}
"""What a pure room may not import: time is passed in, I/O is the transport's job."""

PURE = {"mqtt", "fleet", "payloads", "scenario"}
"""Rooms that must stay pure. (`metrics` is pure but for the Prometheus server module.)"""

ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "mqtt": {"errors"},
    "payloads": {"errors"},
    "fleet": {"errors", "payloads"},
    "scenario": {"errors", "fleet", "payloads", "report", "sinks"},
    "metrics": {"errors"},
    "transport": {"errors", "mqtt"},
    "broker": {"errors"},
    "sinks": {"errors", "payloads"},
    "engine": {"errors", "transport", "fleet", "scenario", "payloads", "metrics", "mqtt"},
    "ingest": {"errors", "transport", "payloads", "sinks", "metrics", "mqtt", "provisioning"},
    "provisioning": {"errors", "transport", "payloads", "mqtt"},
    "report": {"errors", "metrics", "report"},
    "live": {"errors", "metrics", "report"},
}
"""For each room, the other rooms it may import (a plan: see docs/ARCHITECTURE.md)."""

TOP = {"runner", "cli", "__main__", "monitor", "harness", "pytest_plugin", "__init__"}
"""Top-level modules: they assemble the rooms and may import any of them."""


def imports(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports, at any depth."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def room_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if room_of(p) not in TOP)


def test_every_room_is_known() -> None:
    assert {room_of(p) for p in SOURCES} == set(ALLOWED)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_keeps_its_rooms_rules(path: Path) -> None:
    room = room_of(path)
    names = imports(path)
    if room in PURE:
        assert {name.split(".")[0] for name in names} & IO == set()
    used = {name.split(".")[1] for name in names if name.startswith("simulator.")}
    assert used - {room} <= ALLOWED[room]
    assert not used & {"runner", "cli"}  # nothing below the runner imports it or the CLI


def test_the_scan_would_catch_a_bad_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import os\ndef f():\n    from time import monotonic\nfrom simulator.engine import fleet\n",
        encoding="utf-8",
    )
    names = imports(bad)
    assert {name.split(".")[0] for name in names} & IO == {"time"}
    assert "simulator.engine" in names
