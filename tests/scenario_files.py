"""Scenario files for tests that run the command line, written from Python values.

A test states its scenario's keys where it runs it, as data (a table is a dict, an array of
tables a list of dicts), and :func:`scenario_file` writes the TOML a user would write for them.
The file is read back before it is used: what the command is given is exactly what the test
states, or the test fails there, naming the text.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def scenario_file(directory: Path, name: str, **keys: Any) -> Path:
    """Write the scenario ``name`` with ``keys`` (its top-level keys and tables) to
    ``directory/<name>.toml`` and return the path."""
    data = {"name": name, **keys}
    text = toml(data)
    assert tomllib.loads(text) == data, text
    path = directory / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def halves(first: str | Mapping[str, Any], second: str | Mapping[str, Any]) -> list[dict[str, Any]]:
    """A ``[[fleet.mix]]`` of two groups with half the fleet each; a group is its model's name,
    or its keys."""
    return [
        {"model": group, "share": 0.5} if isinstance(group, str) else {**group, "share": 0.5}
        for group in (first, second)
    ]


def toml(table: Mapping[str, Any], at: tuple[str, ...] = ()) -> str:
    """``table`` (at the dotted path ``at``) as TOML text: its plain keys, then its tables and
    arrays of tables, each under its own header."""
    text = "".join(
        f"{_key(key)} = {_value(value)}\n"
        for key, value in table.items()
        if not isinstance(value, Mapping) and not _array_of_tables(value)
    )
    for key, value in table.items():
        inner = (*at, key)
        header = ".".join(_key(part) for part in inner)
        if isinstance(value, Mapping):
            text += f"\n[{header}]\n{toml(value, inner)}"
        elif _array_of_tables(value):
            text += "".join(f"\n[[{header}]]\n{toml(item, inner)}" for item in value)
    return text


def _array_of_tables(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _value(value: object) -> str:
    # bool before int: True is an int to Python, "true" to TOML.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a TOML basic string: the same quotes and escapes.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"no TOML for {value!r} in a scenario file")
