"""Comparing two runs' JSON reports: which headline figures got worse, and by how much.

Each figure in :data:`HEADLINE` has a better direction. A figure is *worse* when it moved in
its bad direction by more than the tolerance (a fraction of the base value). A figure whose base
is 0 has no ratio; for a lower-is-better figure there (lost, duplicated, failed devices) any
increase is worse, since those must stay 0 and no tolerance of nothing allows one. A figure
that either run did not measure (``null``) is shown but judged neither way: there is nothing to
compare.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from simulator.errors import ReportInputError
from simulator.report.json_report import CONTRACT_KEYS, get_path


class Better(Enum):
    """Which way a figure should move."""

    HIGHER = "higher"
    LOWER = "lower"


HEADLINE: tuple[tuple[str, Better], ...] = (
    ("onboarding.connect_rate_per_s", Better.HIGHER),
    ("onboarding.connect_ms.p50", Better.LOWER),
    ("onboarding.connect_ms.p99", Better.LOWER),
    ("throughput.published_per_s", Better.HIGHER),
    ("throughput.ingested_per_s", Better.HIGHER),
    ("latency_ms.p50", Better.LOWER),
    ("latency_ms.p90", Better.LOWER),
    ("latency_ms.p99", Better.LOWER),
    ("latency_ms.max", Better.LOWER),
    ("messages.lost", Better.LOWER),
    ("messages.duplicated", Better.LOWER),
    ("messages.out_of_order", Better.LOWER),
    ("messages.malformed", Better.LOWER),
    ("devices.failed", Better.LOWER),
    ("process.rss_bytes_per_device", Better.LOWER),
)
"""The figures compared, in the order shown, each with its better direction."""


@dataclass(frozen=True, slots=True)
class Row:
    """One figure of both runs."""

    key: str
    better: Better
    base: float | None
    new: float | None
    ratio: float | None
    """``new / base``; ``None`` when either is not measured or the base is 0."""
    change_pct: float | None
    """``(new - base) / base`` in percent; 0 when both are 0, ``None`` when it has no value."""
    worse: bool
    """Moved in the bad direction by more than the tolerance."""
    better_by_tolerance: bool
    """Moved in the good direction by more than the tolerance."""


@dataclass(frozen=True, slots=True)
class Comparison:
    """Every headline figure of two reports, and the tolerance they were judged with."""

    rows: tuple[Row, ...]
    tolerance: float
    """Allowed relative change in the bad direction, e.g. 0.10 for 10 %."""

    @property
    def regressed(self) -> bool:
        """Whether any figure got worse by more than the tolerance."""
        return any(row.worse for row in self.rows)

    @property
    def regressions(self) -> tuple[Row, ...]:
        """The rows that got worse."""
        return tuple(row for row in self.rows if row.worse)


def _moved_beyond(base: float, new: float, tolerance: float, towards: Better) -> bool:
    """Whether ``new`` lies beyond ``base`` in direction ``towards`` by more than the tolerance."""
    if base == 0:
        return new > 0 if towards is Better.HIGHER else new < 0
    allowed = abs(base) * tolerance
    return new > base + allowed if towards is Better.HIGHER else new < base - allowed


def _opposite(better: Better) -> Better:
    return Better.LOWER if better is Better.HIGHER else Better.HIGHER


def _row(key: str, better: Better, base: float | None, new: float | None, tol: float) -> Row:
    if base is None or new is None:
        return Row(key, better, base, new, None, None, worse=False, better_by_tolerance=False)
    if base == 0:
        ratio = None
        change_pct = 0.0 if new == 0 else None
    else:
        ratio = new / base
        change_pct = (new - base) / abs(base) * 100.0
    return Row(
        key,
        better,
        base,
        new,
        ratio,
        change_pct,
        worse=_moved_beyond(base, new, tol, _opposite(better)),
        better_by_tolerance=_moved_beyond(base, new, tol, better),
    )


def _figure(report: Mapping[str, Any], key: str) -> float | None:
    value = get_path(report, key)
    return None if value is None else float(value)


def compare_reports(
    base: Mapping[str, Any], new: Mapping[str, Any], tolerance: float
) -> Comparison:
    """Compare the headline figures of ``new`` with those of ``base``.

    Both must be valid reports (see :func:`load_report`).

    Raises:
        ReportInputError: if ``tolerance`` is not a finite number >= 0.
    """
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ReportInputError(f"tolerance must be a finite number >= 0, got {tolerance}")
    rows = tuple(
        _row(key, better, _figure(base, key), _figure(new, key), tolerance)
        for key, better in HEADLINE
    )
    return Comparison(rows, tolerance)


def _check_report(data: object, name: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ReportInputError(f"{name}: not a run report: expected a JSON object at the top")
    missing = []
    for key in CONTRACT_KEYS:
        try:
            get_path(data, key)
        except (KeyError, TypeError):
            missing.append(key)
    if missing:
        raise ReportInputError(
            f"{name}: not a run report: missing {len(missing)} of its keys ({', '.join(missing)})"
        )
    for key, _ in HEADLINE:
        value = get_path(data, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ReportInputError(
                f"{name}: not a run report: {key} must be a number or null, got {value!r}"
            )
    return data


def load_report(path: Path) -> dict[str, Any]:
    """Read the JSON report at ``path`` and check that it is one.

    Raises:
        ReportInputError: naming ``path``: missing or unreadable file, not JSON (with the line
            and column), or not a report (contract keys missing, a headline figure not a
            number).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportInputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ReportInputError(f"{path}: is a directory, not a report file") from None
    except UnicodeDecodeError:
        raise ReportInputError(f"{path}: not a JSON report: not UTF-8 text") from None
    except OSError as exc:
        raise ReportInputError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportInputError(
            f"{path}: not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    return _check_report(data, str(path))


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if value.is_integer():
        return f"{int(value):,}"
    return f"{value:,.3f}".rstrip("0").rstrip(".")


def _change(row: Row) -> str:
    if row.base is None or row.new is None:
        return "n/a"
    if row.change_pct is None:
        return "from 0"
    return f"{row.change_pct:+.1f}%"


def _verdict(row: Row) -> str:
    if row.base is None or row.new is None:
        return "not measured"
    if row.worse:
        return "WORSE"
    if row.better_by_tolerance:
        return "better"
    return "same"


def format_comparison(c: Comparison) -> str:
    """An aligned table of every row, then one line naming the regressions (or saying none)."""
    header = ("figure", "better", "base", "new", "change", "verdict")
    lines = [header] + [
        (
            row.key,
            row.better.value,
            _number(row.base),
            _number(row.new),
            _change(row),
            _verdict(row),
        )
        for row in c.rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    # Names and words read left-aligned, numbers right-aligned so their digits line up.
    right = {2, 3, 4}
    table = [
        "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(line)
        ).rstrip()
        for line in lines
    ]
    tolerance = f"{c.tolerance * 100:g}%"
    regressions = c.regressions
    if regressions:
        names = ", ".join(row.key for row in regressions)
        table.append(
            f"{len(regressions)} of {len(c.rows)} figures worse than base by more than "
            f"{tolerance}: {names}"
        )
    else:
        table.append(f"no figure worse than base by more than {tolerance}")
    return "\n".join(table)


def compare_files(base: Path, new: Path, tolerance: float) -> Comparison:
    """Load two report files and compare them; see :func:`load_report` for the errors."""
    return compare_reports(load_report(base), load_report(new), tolerance)
