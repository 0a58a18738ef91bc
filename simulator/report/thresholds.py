"""Thresholds: k6-style pass/fail conditions over the numeric figures of the JSON report.

A threshold is written ``KEY OP LIMIT``, e.g. ``latency_ms.p99 < 50`` or
``messages.lost == 0``: ``KEY`` is a dotted path of the report (:func:`numeric_keys`), ``OP``
one of :data:`OPERATORS` and ``LIMIT`` a finite number. Expressions are checked up front, every
problem at once, so a typo in a key fails before a long run starts rather than after it.

A figure that was not measured is ``null`` in the report; a threshold over it fails, because a
gate that passes on missing data gates nothing.

A ``[[stages]]`` entry's figures are keys too, by the stage's number: ``stages.2.lost == 0``
(the ``stages`` entry whose ``number`` is 2; a stage the run did not reach fails, unmeasured).
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, get_type_hints

from simulator.errors import ScenarioError, ScenarioProblem
from simulator.metrics.stages import LoadStageFigures
from simulator.report.json_report import get_path
from simulator.report.schema import numeric_paths

OPERATORS: Mapping[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
"""The comparison operators a threshold may use, and what each computes."""

THRESHOLDS_PATH = "thresholds"
"""The ``path`` of a problem that concerns a whole expression rather than a known key."""

_ALLOWED_OPERATORS = ", ".join(OPERATORS)
_FORM = "write KEY OP LIMIT, e.g. latency_ms.p99 < 50"
# A run of operator characters, so that '<<' or '=<' is reported as one bad operator.
_OPERATOR_RUN = re.compile(r"[<>=!]+")


@dataclass(frozen=True, slots=True)
class Threshold:
    """One parsed condition: the report figure at ``key`` must satisfy ``op limit``."""

    key: str
    """Dotted report path, one of :func:`numeric_keys`."""
    op: str
    """One of :data:`OPERATORS`."""
    limit: float
    """The finite number the figure is compared with."""
    expr: str
    """The expression, spaced as ``key op limit`` with the limit as it was written."""
    source: str
    """Where the expression came from: a scenario file or a command-line flag."""

    def holds(self, value: float) -> bool:
        """Whether a measured ``value`` satisfies this threshold."""
        return OPERATORS[self.op](value, self.limit)


@dataclass(frozen=True, slots=True)
class ThresholdResult:
    """A threshold checked against one report."""

    threshold: Threshold
    value: float | None
    """The measured figure, or ``None`` when the run did not measure it."""
    passed: bool


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@cache
def _report_paths() -> dict[str, bool]:
    """Every dotted path of the report's schema, mapped to whether its value is a number."""
    return numeric_paths()


@cache
def numeric_keys() -> tuple[str, ...]:
    """Every dotted report path whose value is a number (or ``null`` when not measured).

    Read from the report's typed schema (:mod:`simulator.report.schema`), so a figure added to
    the report becomes a threshold key without a change here.
    """
    return tuple(path for path, numeric in _report_paths().items() if numeric)


_STAGE_KEY = re.compile(r"stages\.(\d+)\.(\w+)")


@cache
def stage_keys() -> tuple[str, ...]:
    """The numeric figures of a stage, each a threshold key as ``stages.<number>.<figure>``."""
    return tuple(
        name
        for name, hint in get_type_hints(LoadStageFigures).items()
        if hint in (int, float, int | None, float | None)
    )


def _stage_key_problem(match: re.Match[str]) -> str | None:
    number, figure = int(match.group(1)), match.group(2)
    if number < 1:
        return f"stage numbers start at 1, got {number} in {match.group()!r}"
    if figure not in stage_keys():
        return (
            f"{figure!r} in {match.group()!r} is not a stage's numeric figure; one of "
            f"{', '.join(stage_keys())}"
        )
    return None


def _value(report: Mapping[str, Any], key: str) -> Any:
    """The figure at ``key``: a dotted path, or a stage's by its number (None: absent)."""
    match = _STAGE_KEY.fullmatch(key)
    if match is not None:
        number, figure = int(match.group(1)), match.group(2)
        stage = next((s for s in report.get("stages") or () if s["number"] == number), None)
        return stage.get(figure) if stage is not None else None
    try:
        return get_path(report, key)
    except (KeyError, TypeError):
        return None


def _key_problem(key: str) -> str | None:
    if key in numeric_keys():
        return None
    stage = _STAGE_KEY.fullmatch(key)
    if stage is not None:
        return _stage_key_problem(stage)
    if key in _report_paths():
        return (
            f"report key {key!r} is not a number; thresholds apply to numeric keys such as "
            "latency_ms.p99, messages.lost, throughput.ingested_per_s"
        )
    close = difflib.get_close_matches(key, numeric_keys(), n=3, cutoff=0.6)
    if close:
        return f"unknown report key {key!r}; did you mean {', '.join(close)}?"
    return f"unknown report key {key!r}; numeric report keys are: {', '.join(numeric_keys())}"


def _limit_problem(text: str) -> str | None:
    try:
        limit = float(text)
    except ValueError:
        return f"limit {text!r} is not a number; write a finite number such as 50, 0.5 or 1e4"
    if not math.isfinite(limit):
        return f"limit must be a finite number, got {text!r}"
    return None


def _parse(expr: str, source: str) -> Threshold | list[ScenarioProblem]:
    text = expr.strip()
    if not text:
        return [ScenarioProblem(source, THRESHOLDS_PATH, f"empty threshold; {_FORM}")]
    match = _OPERATOR_RUN.search(text)
    if match is None:
        message = f"{text!r} has no operator; use one of {_ALLOWED_OPERATORS} ({_FORM})"
        return [ScenarioProblem(source, THRESHOLDS_PATH, message)]
    key = text[: match.start()].strip()
    op = match.group()
    limit_text = text[match.end() :].strip()
    where = key or THRESHOLDS_PATH
    messages: list[str | None] = []
    if not key:
        messages.append(f"{text!r} names no report key before {op!r}; {_FORM}")
    else:
        messages.append(_key_problem(key))
    if op not in OPERATORS:
        messages.append(f"{op!r} in {text!r} is not an operator; use one of {_ALLOWED_OPERATORS}")
    if not limit_text:
        messages.append(f"{text!r} has no limit after {op!r}; {_FORM}")
    else:
        messages.append(_limit_problem(limit_text))
    problems = [ScenarioProblem(source, where, m) for m in messages if m is not None]
    if problems:
        return problems
    return Threshold(key, op, float(limit_text), f"{key} {op} {limit_text}", source)


def parse_threshold(expr: str, source: str) -> Threshold:
    """Parse one ``KEY OP LIMIT`` expression that came from ``source``.

    Raises:
        ScenarioError: listing every problem of the expression (unknown or non-numeric key,
            bad operator, missing or non-finite limit), each naming what is allowed.
    """
    parsed = _parse(expr, source)
    if isinstance(parsed, list):
        raise ScenarioError(parsed)
    return parsed


def parse_thresholds(items: Sequence[tuple[str, str]]) -> list[Threshold]:
    """Parse many ``(expr, source)`` pairs, in order.

    Raises:
        ScenarioError: one error listing the problems of every bad expression.
    """
    thresholds = []
    problems: list[ScenarioProblem] = []
    for expr, source in items:
        parsed = _parse(expr, source)
        if isinstance(parsed, list):
            problems.extend(parsed)
        else:
            thresholds.append(parsed)
    if problems:
        raise ScenarioError(problems)
    return thresholds


def evaluate(thresholds: Sequence[Threshold], report: Mapping[str, Any]) -> list[ThresholdResult]:
    """Check every threshold against ``report``; a figure that is ``null`` or absent fails."""
    results = []
    for threshold in thresholds:
        value = _value(report, threshold.key)
        if not _is_number(value):
            results.append(ThresholdResult(threshold, None, passed=False))
        else:
            results.append(ThresholdResult(threshold, value, passed=threshold.holds(value)))
    return results


def format_value(value: float | None) -> str:
    """A measured figure as a result line shows it: ``12``, ``4.7``, or ``not measured``."""
    if value is None:
        return "not measured"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def describe_result(result: ThresholdResult) -> str:
    """What was measured, e.g. ``measured 4.7`` or ``not measured (null in the report)``."""
    if result.value is None:
        return "not measured (null in the report)"
    return f"measured {format_value(result.value)}"


def format_results(results: Sequence[ThresholdResult]) -> list[str]:
    """One line per threshold, e.g. ``PASS  latency_ms.p99 < 50  (measured 4.7)``."""
    return [
        f"{'PASS' if r.passed else 'FAIL'}  {r.threshold.expr}  ({describe_result(r)})"
        for r in results
    ]


def results_as_json(results: Sequence[ThresholdResult]) -> list[dict[str, Any]]:
    """The results as the report's ``thresholds`` list: one object per threshold, in order."""
    return [
        {
            "expr": r.threshold.expr,
            "key": r.threshold.key,
            "op": r.threshold.op,
            "limit": r.threshold.limit,
            "source": r.threshold.source,
            "value": r.value,
            "passed": r.passed,
        }
        for r in results
    ]
