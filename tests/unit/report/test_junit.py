"""JUnit XML from threshold results, checked by parsing it back."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from simulator.errors import JUnitWriteError
from simulator.report.junit import junit_xml, write_junit
from simulator.report.thresholds import ThresholdResult, evaluate, parse_thresholds
from tests.unit.report.conftest import MakeReport


def _results(make_report: MakeReport) -> list[ThresholdResult]:
    report = make_report(unique=988)  # 12 of 1,000 lost
    thresholds = parse_thresholds(
        [
            ("latency_ms.p99 < 1000", "quickstart.toml"),
            ("messages.lost == 0", "quickstart.toml"),
            ("onboarding.connect_rate_per_s >= 1", "--threshold"),
        ]
    )
    return evaluate(thresholds, report)


def test_junit_parses_back_with_counts_and_one_failure(make_report: MakeReport) -> None:
    root = ET.fromstring(junit_xml(_results(make_report), "quickstart"))
    assert root.tag == "testsuites"
    [suite] = root.findall("testsuite")
    for element in (root, suite):
        assert (element.get("tests"), element.get("failures"), element.get("errors")) == (
            "3",
            "1",
            "0",
        )
    assert suite.get("name") == "quickstart"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "latency_ms.p99 < 1000",
        "messages.lost == 0",
        "onboarding.connect_rate_per_s >= 1",
    ]
    failed = [c for c in cases if c.find("failure") is not None]
    assert failed == [cases[1]]
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("message") == "messages.lost == 0: measured 12"
    assert "quickstart.toml" in (failure.text or "")


def test_junit_escapes_markup_in_names(make_report: MakeReport) -> None:
    # '<' is in every expression and the suite name is the user's; both must survive a parse.
    suite = 'a<b & "c"'
    root = ET.fromstring(junit_xml(_results(make_report), suite))
    assert root.get("name") == suite
    case = root.find("testsuite/testcase")
    assert case is not None
    assert case.get("name") == "latency_ms.p99 < 1000"


def test_junit_of_no_thresholds_is_an_empty_passing_suite() -> None:
    root = ET.fromstring(junit_xml([], "empty"))
    assert (root.get("tests"), root.get("failures")) == ("0", "0")
    assert root.findall("testsuite/testcase") == []


def test_not_measured_figure_fails_in_junit(make_report: MakeReport) -> None:
    results = evaluate(parse_thresholds([("latency_ms.p99 < 5", "t")]), make_report(ingest=False))
    failure = ET.fromstring(junit_xml(results, "s")).find("testsuite/testcase/failure")
    assert failure is not None
    assert "not measured" in (failure.get("message") or "")


def test_write_junit_writes_the_document(tmp_path: Path, make_report: MakeReport) -> None:
    results = _results(make_report)
    path = tmp_path / "thresholds.xml"
    write_junit(results, path, "quickstart")
    assert path.read_text(encoding="utf-8") == junit_xml(results, "quickstart")
    assert path.read_text(encoding="utf-8").startswith('<?xml version="1.0" encoding="UTF-8"?>')


def test_write_junit_names_a_path_it_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "missing-dir" / "out.xml"
    with pytest.raises(JUnitWriteError, match="missing-dir"):
        write_junit([], path, "s")
