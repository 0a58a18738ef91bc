"""One exception tree, in one module, drawn in its docstring: every class the package raises."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from simulator import errors
from tests.unit.test_rooms import PACKAGE, SOURCES

CLASSES = [
    obj
    for _, obj in inspect.getmembers(errors, inspect.isclass)
    if issubclass(obj, BaseException) and obj.__module__ == errors.__name__
]


OTHERS = [p for p in SOURCES if p != PACKAGE / "errors.py"]


@pytest.mark.parametrize("path", OTHERS, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_other_module_defines_an_exception(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    defined = [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(
            (isinstance(base, ast.Name) and base.id.endswith(("Error", "Exception")))
            for base in node.bases
        )
    ]
    assert defined == [], "exception classes belong in simulator/errors.py"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_class_is_under_the_root_and_drawn_in_the_tree(cls: type) -> None:
    assert issubclass(cls, errors.SimulatorError)
    assert errors.__doc__ is not None
    assert f" {cls.__name__} " in errors.__doc__ or cls is errors.SimulatorError


def test_a_bad_argument_is_a_value_error_of_ours() -> None:
    assert issubclass(errors.InvalidArgumentError, ValueError)
    assert not issubclass(errors.InvalidArgumentError, errors.ProtocolError)
