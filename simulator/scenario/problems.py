"""Turning pydantic validation errors into :class:`~simulator.errors.ScenarioProblem` lines.

pydantic's messages ("Input should be a valid integer") name neither the key nor the range,
and speak Python rather than TOML. Each problem here carries the dotted key path, what is
allowed and what was given, in TOML terms ("table", "string", "true"), and the source the value
came from: the file, or the command-line flag that overrode it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from simulator.errors import ScenarioProblem

_TYPE_NAMES: Mapping[str, str] = {
    "int_type": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "model_type": "a table",
    "dict_type": "a table",
}

_BOUNDS: Mapping[str, str] = {
    "greater_than": "gt",
    "greater_than_equal": "ge",
    "less_than": "lt",
    "less_than_equal": "le",
}
_BOUND_SIGNS: Mapping[str, str] = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def problems_from_validation_error(
    error: ValidationError,
    model: type[BaseModel],
    source: str,
    sources_by_path: Mapping[str, str] | None = None,
) -> list[ScenarioProblem]:
    """Translate every error in ``error`` (raised validating ``model``) into a problem.

    ``source`` is where the values came from; ``sources_by_path`` maps dotted key paths whose
    values came from somewhere else (``"fleet.devices": "--devices"``) to that source.
    """
    overridden = sources_by_path or {}
    problems = []
    for details in error.errors(include_url=False):
        path = ".".join(str(part) for part in details["loc"])
        problems.append(
            ScenarioProblem(
                source=overridden.get(path, source),
                path=path,
                message=_message(details, model),
            )
        )
    return problems


def describe_value(value: object) -> str:
    """Name ``value`` the way a TOML author would, e.g. ``string '10'`` or ``a table``."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"float {format_number(value)}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return f"date/time {value.isoformat()}"
    return type(value).__name__


def format_number(value: float) -> str:
    """Format a limit or a given number without a spurious ``.0`` (``86400``, ``0.001``)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


def _message(details: ErrorDetails, model: type[BaseModel]) -> str:
    kind = details["type"]
    given = details["input"]
    ctx = details.get("ctx", {})
    loc = details["loc"]
    if kind == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        allowed = ", ".join(owner.model_fields) if owner is not None else "none"
        return f"unknown key; allowed keys here: {allowed}"
    if kind == "missing":
        return f"required key is missing; expected {_expected(model, loc)}"
    if kind in _BOUNDS:
        bound = _BOUNDS[kind]
        return f"must be {_BOUND_SIGNS[bound]} {format_number(ctx[bound])}, got {_plain(given)}"
    if kind == "finite_number":
        return f"must be a finite number, got {_plain(given)}"
    if kind == "literal_error":
        return f"must be {ctx['expected']}, got {describe_value(given)}"
    if kind == "value_error":
        return str(ctx["error"])
    if kind in _TYPE_NAMES:
        return f"must be {_expected(model, loc)}, got {describe_value(given)}"
    return f"{details['msg']}, got {describe_value(given)}"


def _plain(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_number(value)
    return describe_value(value)


def _expected(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """Describe what the field at ``loc`` accepts: its type and its range."""
    owner = _model_at(model, loc[:-1])
    field = owner.model_fields.get(str(loc[-1])) if owner is not None and loc else None
    if field is None:
        return "a valid value"
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "a table"
    if annotation is bool:
        return "true or false"
    if annotation is int:
        kind = "an integer"
    elif annotation is float:
        kind = "a number"
    else:
        kind = "a string"
    bounds = [
        f"{_BOUND_SIGNS[name]} {format_number(getattr(constraint, name))}"
        for constraint in field.metadata
        if isinstance(constraint, annotated_types.BaseMetadata)
        for name in _BOUND_SIGNS
        if hasattr(constraint, name)
    ]
    return f"{kind} {' and '.join(bounds)}" if bounds else kind


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """Follow ``loc`` through nested tables and return the model found there, if any."""
    current: Any = model
    for part in loc:
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        current = field.annotation
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
    return current  # type: ignore[no-any-return]
