"""Comparing two reports: improvements, regressions within and beyond tolerance, zero bases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from simulator.errors import ReportInputError
from simulator.report.compare import (
    HEADLINE,
    Better,
    Comparison,
    Row,
    compare_files,
    compare_reports,
    format_comparison,
    load_report,
)
from simulator.report.json_report import CONTRACT_KEYS
from tests.unit.report.conftest import MakeReport


def _row(c: Comparison, key: str) -> Row:
    [row] = [r for r in c.rows if r.key == key]
    return row


def _set(report: dict[str, Any], key: str, value: float | None) -> dict[str, Any]:
    *tables, last = key.split(".")
    node = report
    for name in tables:
        node = node[name]
    node[last] = value
    return report


def test_headline_figures_are_contract_keys_with_the_stated_directions() -> None:
    keys = [key for key, _ in HEADLINE]
    assert set(keys) <= set(CONTRACT_KEYS)
    higher = {key for key, better in HEADLINE if better is Better.HIGHER}
    assert higher == {
        "onboarding.connect_rate_per_s",
        "throughput.published_per_s",
        "throughput.ingested_per_s",
    }
    assert "process.rss_bytes_per_device" in keys
    assert "messages.malformed" in keys


def test_same_report_has_no_regression(make_report: MakeReport) -> None:
    c = compare_reports(make_report(), make_report(), 0.10)
    assert not c.regressed
    assert len(c.rows) == len(HEADLINE)
    assert all(r.change_pct == 0.0 for r in c.rows)
    assert _row(c, "latency_ms.p99").ratio == 1.0


def test_improvements_are_not_regressions(make_report: MakeReport) -> None:
    base = make_report()
    new = _set(make_report(), "latency_ms.p99", base["latency_ms"]["p99"] / 2)
    _set(new, "onboarding.connect_rate_per_s", base["onboarding"]["connect_rate_per_s"] * 2)
    c = compare_reports(base, new, 0.10)
    assert not c.regressed
    latency = _row(c, "latency_ms.p99")
    assert latency.better_by_tolerance
    assert not latency.worse
    assert latency.ratio == pytest.approx(0.5)
    assert latency.change_pct == pytest.approx(-50.0)
    assert _row(c, "onboarding.connect_rate_per_s").better_by_tolerance


@pytest.mark.parametrize(
    ("key", "new_value", "worse"),
    [
        ("latency_ms.p99", 105.0, False),  # lower is better: 5 % up is within 10 %
        ("latency_ms.p99", 110.0, False),  # exactly at the tolerance is still allowed
        ("latency_ms.p99", 120.0, True),
        ("latency_ms.p99", 50.0, False),
        ("throughput.published_per_s", 95.0, False),  # higher is better: 5 % down is within
        ("throughput.published_per_s", 80.0, True),
        ("throughput.published_per_s", 300.0, False),
        ("process.rss_bytes_per_device", 150.0, True),
    ],
)
def test_regression_within_and_beyond_tolerance(
    make_report: MakeReport, key: str, new_value: float, worse: bool
) -> None:
    base = _set(make_report(), key, 100.0)
    new = _set(make_report(), key, new_value)
    c = compare_reports(base, new, 0.10)
    assert _row(c, key).worse is worse
    assert c.regressed is worse
    assert c.regressions == ((_row(c, key),) if worse else ())


def test_zero_tolerance_makes_any_bad_move_a_regression(make_report: MakeReport) -> None:
    base = _set(make_report(), "latency_ms.p50", 10.0)
    new = _set(make_report(), "latency_ms.p50", 10.001)
    assert compare_reports(base, new, 0.0).regressed
    assert not compare_reports(base, new, 0.01).regressed


def test_zero_base_that_must_stay_zero_regresses_on_any_increase(make_report: MakeReport) -> None:
    base = make_report()  # nothing lost
    new = make_report(unique=999)  # one lost
    c = compare_reports(base, new, 0.50)
    lost = _row(c, "messages.lost")
    assert (lost.base, lost.new, lost.ratio, lost.change_pct) == (0.0, 1.0, None, None)
    assert lost.worse
    assert c.regressed


def test_zero_base_and_zero_new_is_unchanged(make_report: MakeReport) -> None:
    c = compare_reports(make_report(), make_report(), 0.1)
    duplicated = _row(c, "messages.duplicated")
    assert (duplicated.base, duplicated.ratio, duplicated.change_pct) == (0.0, None, 0.0)
    assert not duplicated.worse


def test_zero_base_going_down_to_a_count_is_fine(make_report: MakeReport) -> None:
    c = compare_reports(make_report(duplicated=5), make_report(), 0.1)
    duplicated = _row(c, "messages.duplicated")
    assert duplicated.better_by_tolerance
    assert not duplicated.worse


def test_higher_is_better_from_a_zero_base_is_not_worse(make_report: MakeReport) -> None:
    base = _set(make_report(), "throughput.ingested_per_s", 0.0)
    c = compare_reports(base, make_report(), 0.1)
    assert not _row(c, "throughput.ingested_per_s").worse


def test_figures_not_measured_are_judged_neither_way(make_report: MakeReport) -> None:
    c = compare_reports(make_report(), make_report(ingest=False), 0.1)
    latency = _row(c, "latency_ms.p99")
    assert latency.new is None
    assert latency.ratio is None
    assert not latency.worse
    assert not latency.better_by_tolerance
    assert "not measured" in format_comparison(c)


@pytest.mark.parametrize("tolerance", [-0.1, float("nan"), float("inf")])
def test_bad_tolerance_is_rejected(make_report: MakeReport, tolerance: float) -> None:
    with pytest.raises(ReportInputError, match="tolerance"):
        compare_reports(make_report(), make_report(), tolerance)


def test_format_comparison_is_an_aligned_table_with_a_verdict(make_report: MakeReport) -> None:
    base = _set(make_report(), "latency_ms.p99", 10.0)
    new = _set(make_report(unique=990), "latency_ms.p99", 12.5)
    text = format_comparison(compare_reports(base, new, 0.10))
    lines = text.splitlines()
    assert lines[0].split() == ["figure", "better", "base", "new", "change", "verdict"]
    assert len(lines) == len(HEADLINE) + 2
    # Every row's "better" column starts where the header's does.
    column = lines[0].index("better")
    assert all(line[column - 2 : column] == "  " for line in lines[1:-1])
    [latency] = [line for line in lines if line.startswith("latency_ms.p99 ")]
    assert latency.split()[1:] == ["lower", "10", "12.5", "+25.0%", "WORSE"]
    [lost] = [line for line in lines if line.startswith("messages.lost ")]
    assert lost.split()[1:] == ["lower", "0", "10", "from", "0", "WORSE"]
    assert lines[-1] == (
        f"2 of {len(HEADLINE)} figures worse than base by more than 10%: "
        "latency_ms.p99, messages.lost"
    )


def test_format_comparison_says_when_nothing_regressed(make_report: MakeReport) -> None:
    text = format_comparison(compare_reports(make_report(), make_report(), 0.05))
    assert text.splitlines()[-1] == "no figure worse than base by more than 5%"


# reading files --------------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_report_round_trips_a_report(tmp_path: Path, make_report: MakeReport) -> None:
    report = make_report()
    path = _write(tmp_path, "base.json", json.dumps(report))
    assert load_report(path) == report


def test_compare_files_reads_both(tmp_path: Path, make_report: MakeReport) -> None:
    base = _write(tmp_path, "base.json", json.dumps(make_report()))
    new = _write(tmp_path, "new.json", json.dumps(make_report(unique=900)))
    assert compare_files(base, new, 0.1).regressed
    assert not compare_files(base, base, 0.1).regressed


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ReportInputError, match=r"nope\.json: no such file"):
        load_report(tmp_path / "nope.json")


def test_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(ReportInputError, match="is a directory"):
        load_report(tmp_path)


def test_not_json_is_named_with_its_position(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.json", '{"scenario": "x",\n oops}')
    with pytest.raises(ReportInputError, match=r"bad\.json: not JSON: .* line 2, column 2"):
        load_report(path)


def test_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin.json"
    path.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(ReportInputError, match=r"latin\.json: .*not UTF-8"):
        load_report(path)


def test_json_that_is_not_an_object_is_not_a_report(tmp_path: Path) -> None:
    with pytest.raises(ReportInputError, match=r"list\.json: not a run report"):
        load_report(_write(tmp_path, "list.json", "[1, 2]"))


def test_missing_contract_keys_are_listed(tmp_path: Path, make_report: MakeReport) -> None:
    report = make_report()
    del report["latency_ms"]
    del report["messages"]["lost"]
    path = _write(tmp_path, "old.json", json.dumps(report))
    with pytest.raises(ReportInputError) as caught:
        load_report(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not a run report: missing 5 of its keys")
    assert "messages.lost" in message
    assert "latency_ms.p99" in message


def test_a_headline_figure_that_is_not_a_number_is_named(
    tmp_path: Path, make_report: MakeReport
) -> None:
    report = _set(make_report(), "devices.failed", "three")  # type: ignore[arg-type]
    path = _write(tmp_path, "odd.json", json.dumps(report))
    with pytest.raises(ReportInputError, match=r"devices\.failed must be a number or null"):
        load_report(path)
