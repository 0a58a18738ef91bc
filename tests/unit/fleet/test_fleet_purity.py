"""The fleet room stays pure: no I/O, clock or random module, and no imports from the engine."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import simulator.fleet

FORBIDDEN = {"asyncio", "socket", "time", "random", "threading", "selectors", "ssl", "subprocess"}
ALLOWED_ROOMS = {"simulator.errors", "simulator.fleet", "simulator.payloads"}
MODULES = sorted(Path(simulator.fleet.__file__).parent.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _room(name: str) -> str:
    return ".".join(name.split(".")[:2])


def test_the_scan_sees_the_room() -> None:
    assert {p.stem for p in MODULES} >= {
        "noise",
        "model",
        "machine_sensor",
        "plant",
        "registry",
        "errors",
    }


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_imports_no_io_and_only_allowed_rooms(path: Path) -> None:
    imports = _imports(path)
    assert {name.split(".")[0] for name in imports} & FORBIDDEN == set()
    assert {_room(name) for name in imports if name.startswith("simulator")} <= ALLOWED_ROOMS


def test_the_scan_would_catch_a_bad_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import os\ndef f():\n    from random import random\nfrom simulator.engine import fleet\n",
        encoding="utf-8",
    )
    imports = _imports(bad)
    assert {name.split(".")[0] for name in imports} & FORBIDDEN == {"random"}
    assert "simulator.engine" in {_room(name) for name in imports}
