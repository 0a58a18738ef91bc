"""The scenario room stays pure: no module in it imports I/O, threads or a clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import simulator.scenario

FORBIDDEN = {"asyncio", "socket", "time", "threading", "selectors", "ssl", "subprocess"}
MODULES = sorted(Path(simulator.scenario.__file__).parent.rglob("*.py"))


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_scan_sees_the_room() -> None:
    assert {p.stem for p in MODULES} >= {"schema", "loader", "plan", "problems", "broker_url"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_imports_no_io(path: Path) -> None:
    assert _imported_roots(path) & FORBIDDEN == set()


def test_the_scan_would_catch_an_io_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\ndef f():\n    from time import monotonic\n", encoding="utf-8")
    assert _imported_roots(bad) & FORBIDDEN == {"time"}
