"""Threshold results as JUnit XML, the test report format CI systems read.

One ``<testsuite>`` per run, one ``<testcase>`` per threshold; a failed threshold carries a
``<failure>`` whose message says what was measured, so a CI page shows why the gate closed
without anyone opening the JSON report. The XML is built with :mod:`xml.etree.ElementTree`,
which escapes whatever a key or a scenario name holds.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from simulator.errors import JUnitWriteError
from simulator.report.thresholds import ThresholdResult, describe_result


def _suite_element(results: Sequence[ThresholdResult], suite: str) -> ET.Element:
    failures = sum(1 for r in results if not r.passed)
    counts = {"tests": str(len(results)), "failures": str(failures), "errors": "0"}
    root = ET.Element("testsuites", {"name": suite, **counts})
    testsuite = ET.SubElement(root, "testsuite", {"name": suite, **counts, "skipped": "0"})
    for result in results:
        threshold = result.threshold
        case = ET.SubElement(
            testsuite,
            "testcase",
            {"classname": f"{suite}.thresholds", "name": threshold.expr},
        )
        if not result.passed:
            failure = ET.SubElement(
                case,
                "failure",
                {
                    "message": f"{threshold.expr}: {describe_result(result)}",
                    "type": "ThresholdFailed",
                },
            )
            failure.text = (
                f"threshold {threshold.expr} (from {threshold.source}) failed: "
                f"{describe_result(result)}"
            )
        ET.SubElement(case, "system-out").text = describe_result(result)
    return root


def junit_xml(results: Sequence[ThresholdResult], suite: str) -> str:
    """The JUnit XML document for ``results``, named ``suite`` (e.g. the scenario's name)."""
    root = _suite_element(results, suite)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


def write_junit(results: Sequence[ThresholdResult], path: Path, suite: str) -> None:
    """Write :func:`junit_xml` to ``path`` as UTF-8.

    Raises:
        JUnitWriteError: naming ``path`` when it cannot be written.
    """
    try:
        path.write_text(junit_xml(results, suite), encoding="utf-8")
    except OSError as exc:
        raise JUnitWriteError(f"{path}: cannot write the JUnit report: {exc.strerror}") from None
