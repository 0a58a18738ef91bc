"""Reading a scenario file, applying command-line overrides, and validating it all at once.

Overrides are written into the raw TOML data *before* validation, so an overridden value
passes the same checks as one from the file, and its problems name the flag
(``--devices``) as their source instead of the file. Everything that can be wrong (the file is
missing, is not TOML, or breaks the schema in any number of places) surfaces as one
:class:`~simulator.errors.ScenarioError` listing every problem.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from simulator.errors import ScenarioError, ScenarioProblem
from simulator.scenario.problems import problems_from_validation_error
from simulator.scenario.schema import Scenario

FILE_PATH = "<file>"
"""The ``path`` of a problem that concerns the whole file rather than one key."""

OVERRIDE_TARGETS: Mapping[str, tuple[str, str]] = {
    "devices": ("--devices", "fleet.devices"),
    "interval_s": ("--interval", "fleet.publish_interval_s"),
    "duration_s": ("--duration", "duration_s"),
    "broker_url": ("--broker", "broker.url"),
    "mqtt_version": ("--mqtt", "broker.mqtt_version"),
    "qos": ("--qos", "fleet.qos"),
    "sink": ("--sink", "ingest.sink"),
    "ingest_workers": ("--ingest-workers", "ingest.workers"),
}
"""For each :class:`Overrides` field: the command-line flag that sets it and the key it replaces."""

_TOML_POSITION = re.compile(
    r"^(?P<what>.*) \(at (?P<where>line \d+, column \d+|end of document)\)$"
)


@dataclass(frozen=True, slots=True)
class Overrides:
    """Values given on the command line that replace the scenario file's; ``None`` keeps it."""

    devices: int | None = None
    """Replaces ``fleet.devices``."""
    interval_s: float | None = None
    """Replaces ``fleet.publish_interval_s``."""
    duration_s: float | None = None
    """Replaces ``duration_s``."""
    broker_url: str | None = None
    """Replaces ``broker.url``."""
    mqtt_version: str | None = None
    """Replaces ``broker.mqtt_version``."""
    qos: int | None = None
    """Replaces ``fleet.qos``."""
    sink: str | None = None
    """Replaces ``ingest.sink``."""
    ingest_workers: int | None = None
    """Replaces ``ingest.workers``."""


def load_scenario(path: Path, overrides: Overrides | None = None) -> Scenario:
    """Read, override and validate the scenario at ``path``.

    ``name`` defaults to the file's stem. Problems name ``path`` as given (or the flag of an
    override) as their source.

    Raises:
        ScenarioError: listing every problem found: an unreadable file, a TOML syntax error
            (with line and column), or every schema violation at once.
    """
    source = str(path)
    data = _read_toml(path, source)
    return validate_scenario(data, source, overrides, default_name=path.stem)


def validate_scenario(
    data: Mapping[str, Any],
    source: str,
    overrides: Overrides | None = None,
    default_name: str | None = None,
) -> Scenario:
    """Validate already-parsed scenario ``data`` that came from ``source``.

    ``default_name`` is used when ``data`` has no ``name``.

    Raises:
        ScenarioError: listing every schema violation at once.
    """
    raw = _copy_tables(data)
    name_defaulted = "name" not in raw and default_name is not None
    if name_defaulted:
        raw["name"] = default_name
    sources_by_path = _apply(overrides, raw) if overrides is not None else {}
    try:
        return Scenario.model_validate(raw, context={"source": source})
    except ValidationError as exc:
        problems = problems_from_validation_error(exc, Scenario, source, sources_by_path)
    if name_defaulted:
        problems = [_explain_default_name(problem) for problem in problems]
    raise ScenarioError(problems)


def _read_toml(path: Path, source: str) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise _file_problem(source, FILE_PATH, "no such file") from None
    except IsADirectoryError:
        raise _file_problem(source, FILE_PATH, "is a directory, not a scenario file") from None
    except OSError as exc:
        raise _file_problem(source, FILE_PATH, f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise _file_problem(
            source, FILE_PATH, f"not UTF-8 text (TOML must be): byte {exc.start} is invalid"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib puts the position at the end of its message; lift it into the problem's path.
        message = str(exc)
        match = _TOML_POSITION.match(message)
        if match is None:
            raise _file_problem(source, FILE_PATH, f"invalid TOML: {message}") from None
        raise _file_problem(
            source, match.group("where"), f"invalid TOML: {match.group('what')}"
        ) from None


def _file_problem(source: str, path: str, message: str) -> ScenarioError:
    return ScenarioError([ScenarioProblem(source, path, message)])


def _copy_tables(data: Mapping[str, Any]) -> dict[str, Any]:
    # Overrides write into nested tables; copying them keeps the caller's data untouched.
    return {
        key: _copy_tables(value) if isinstance(value, Mapping) else value
        for key, value in data.items()
    }


def _apply(overrides: Overrides, raw: dict[str, Any]) -> dict[str, str]:
    """Write every set override into ``raw``; return the flag for each key path overridden."""
    sources_by_path = {}
    for field in fields(overrides):
        value = getattr(overrides, field.name)
        if value is None:
            continue
        flag, key_path = OVERRIDE_TARGETS[field.name]
        *tables, key = key_path.split(".")
        table = raw
        for name in tables:
            table = table.setdefault(name, {})
            if not isinstance(table, dict):
                break  # the file's own value here is not a table; that problem is reported
        else:
            table[key] = value
            sources_by_path[key_path] = flag
            if key_path == "broker.url":
                # One broker named on the command line replaces the file's pool too.
                for pool_key in _BROKER_POOL_KEYS:
                    table.pop(pool_key, None)
    return sources_by_path


_BROKER_POOL_KEYS = ("urls", "cluster", "instances")
"""``[broker]`` keys that name other brokers than ``--broker``'s one."""


def _explain_default_name(problem: ScenarioProblem) -> ScenarioProblem:
    if problem.path != "name":
        return problem
    return ScenarioProblem(
        problem.source,
        problem.path,
        f'{problem.message} (taken from the file name; set name = "..." in the file)',
    )
