"""The rooms keep their rules (docs/ARCHITECTURE.md): pure rooms import no I/O, threads or
clock, and every room and top-level module imports only what the documented "Rooms" table
says it may. The table is read from the docs, so the test enforces what they say, and every
import is resolved to an absolute module name, relative ones included."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import simulator

PACKAGE = Path(simulator.__file__).parent
ARCHITECTURE = PACKAGE.parent / "docs" / "ARCHITECTURE.md"

IO = {"asyncio", "socket", "time", "threading", "selectors", "ssl", "subprocess", "trio", "anyio"}
"""What a pure room may not import: time is passed in, I/O is the transport's job."""

PURE = {"mqtt", "fleet", "payloads", "scenario"}
"""Rooms that must stay pure."""

NO_CLOCK = {"asyncio", "socket", "time"}
"""What `metrics/` may not import either (the docs' "Never" rule): its Prometheus server
module runs on a thread of its own, but nothing in it reads a clock or does asyncio I/O."""

ALL_ROOMS = "the rooms above"
"""What the runner's row says it may import: every room."""

_NAME = re.compile(r"[A-Za-z_][\w.]*")


def room_table(text: str) -> dict[str, set[str]]:
    """The "Rooms" table of ``text``: each room or top-level module -> what it may import.

    A room is named by its first column (``mqtt/``, ``errors.py``; ``cli.py``, ``__main__.py``
    share a row and may import each other); what it may import is every backquoted room in the
    "may import" column (``report.thresholds`` allows that module only; other backquoted words,
    such as a type's name, describe), ``nothing`` none, and "the rooms above" every room.
    """
    section = text.split("\n## Rooms\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    column = next(i for i, cell in enumerate(header) if cell.startswith("may import"))
    table: dict[str, set[str]] = {}
    for row in rows[2:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        rooms = [
            name.removesuffix(".py").rstrip("/") for name in re.findall(r"`([^`]+)`", cells[0])
        ]
        may = cells[column]
        allowed = {
            name
            for name in re.findall(r"`([^`]+)`", may)
            if _NAME.fullmatch(name) and name.split(".")[0] in ROOMS
        }
        if ALL_ROOMS in may:
            allowed.add(ALL_ROOMS)
        for room in rooms:
            table[room] = allowed | set(rooms)
    return table


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def room_of(module: str) -> str:
    return module.split(".")[1] if "." in module else module


SOURCES = sorted(PACKAGE.rglob("*.py"))
ROOMS = {room_of(module_name(p)) for p in SOURCES} - {"simulator"}
"""The rooms and top-level modules of the package, as the source tree has them."""
ALLOWED = room_table(ARCHITECTURE.read_text(encoding="utf-8"))


def imports(path: Path, module: str) -> set[str]:
    """Every module ``path`` (the module ``module``) imports, at any depth, by absolute name.

    ``from a import b`` names ``a.b`` too (b may be a module); a relative import is resolved
    against the module's package.
    """
    is_package = path.name == "__init__.py"
    package = module.split(".") if is_package else module.split(".")[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                assert node.level <= len(package), f"{path}: relative import beyond the package"
                base = package[: len(package) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                assert node.module is not None
                source = node.module
            if node.module:
                names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return names


def test_the_docs_table_has_a_row_for_every_room_and_only_for_rooms() -> None:
    assert set(ALLOWED) == ROOMS


def allowed_import(name: str, room: str) -> bool:
    """May ``room`` import the module ``name`` (absolute, inside the package)?"""
    target = name.split(".")[1:]
    if not target or target[0] == room or target[0] not in ROOMS:
        return True  # the package itself, or a name its __init__ defines (the version)
    allowed = ALLOWED[room]
    if ALL_ROOMS in allowed:
        return True
    return any(target[: len(a.split("."))] == a.split(".") for a in allowed)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_keeps_its_rooms_rules(path: Path) -> None:
    module = module_name(path)
    if module == "simulator":  # the package's own __init__: it names the version only
        return
    room = room_of(module)
    names = imports(path, module)
    if room in PURE:
        assert {name.split(".")[0] for name in names} & IO == set()
    if room == "metrics":
        assert {name.split(".")[0] for name in names} & NO_CLOCK == set()
    ours = {name for name in names if name == "simulator" or name.startswith("simulator.")}
    refused = sorted(name for name in ours if not allowed_import(name, room))
    assert refused == [], f"{room} may import only {sorted(ALLOWED[room])}"
    if ALL_ROOMS not in ALLOWED[room] and room not in {"cli", "__main__", "harness", "capacity"}:
        # Nothing below the runner imports it or the CLI (the harness and the capacity search,
        # which run runs, are above it, like the CLI).
        assert not {room_of(name) for name in ours} & {"runner", "cli"}


def test_relative_imports_are_resolved_and_caught(tmp_path: Path) -> None:
    package = tmp_path / "simulator" / "fleet"
    package.mkdir(parents=True)
    bad = package / "bad.py"
    bad.write_text(
        "import os\n"
        "def f():\n    from time import monotonic\n"
        "from ..engine import fleet\n"
        "from .. import runner\n"
        "from . import noise\n"
        "from simulator import cli\n",
        encoding="utf-8",
    )
    names = imports(bad, "simulator.fleet.bad")
    assert {name.split(".")[0] for name in names} & IO == {"time"}
    assert {"simulator.engine", "simulator.engine.fleet", "simulator.runner"} <= names
    assert {"simulator.fleet.noise", "simulator.cli"} <= names
    refused = {name for name in names if name.startswith("simulator.")}
    refused = {name for name in refused if not allowed_import(name, "fleet")}
    assert refused == {
        "simulator.engine",
        "simulator.engine.fleet",
        "simulator.runner",
        "simulator.cli",
    }


def test_the_table_is_read_as_written() -> None:
    assert ALLOWED["errors"] == {"errors"}
    assert ALLOWED["mqtt"] == {"mqtt", "errors"}
    assert "report.thresholds" in ALLOWED["scenario"]
    assert "Value" not in ALLOWED["sinks"]
    assert ALLOWED["runner"] == {"runner", ALL_ROOMS}
    assert ALLOWED["cli"] == ALLOWED["__main__"] >= {"cli", "__main__"}
