"""Thresholds: parsing every operator and every kind of bad expression, and evaluation."""

from __future__ import annotations

import json

import pytest

from simulator.errors import ScenarioError, ScenarioProblem
from simulator.metrics.funnel import FIRST_TELEMETRY, REGISTER_STAGES, Funnel, Reannouncements
from simulator.provisioning import ResponderCounters
from simulator.report.json_report import CONTRACT_KEYS, get_path
from simulator.report.schema import ResponderSection
from simulator.report.thresholds import (
    Threshold,
    ThresholdResult,
    evaluate,
    format_results,
    numeric_keys,
    parse_threshold,
    parse_thresholds,
    results_as_json,
)
from tests.unit.report.conftest import MakeReport


def _problems(expr: str) -> list[ScenarioProblem]:
    with pytest.raises(ScenarioError) as caught:
        parse_threshold(expr, "--threshold")
    return list(caught.value.problems)


def _one_problem(expr: str) -> ScenarioProblem:
    problems = _problems(expr)
    assert len(problems) == 1, problems
    assert problems[0].source == "--threshold"
    return problems[0]


# numeric_keys ---------------------------------------------------------------------------------


def test_numeric_keys_hold_every_numeric_contract_key() -> None:
    keys = numeric_keys()
    non_numeric = {"scenario", "sink.kind"}
    assert set(CONTRACT_KEYS) - non_numeric <= set(keys)
    assert not non_numeric & set(keys)


def test_numeric_keys_leave_out_free_form_and_list_entries() -> None:
    keys = numeric_keys()
    assert not [k for k in keys if k.startswith(("devices.failures_by_reason", "settings"))]
    assert not [k for k in keys if k.startswith(("timeseries", "notes", "broker"))]
    assert "process.connected_rss_bytes" in keys  # a key beyond the contract is found too
    assert len(keys) == len(set(keys))


def test_numeric_keys_are_numbers_in_a_real_report(make_report: MakeReport) -> None:
    funnel = Funnel((*REGISTER_STAGES, FIRST_TELEMETRY))
    for stage in funnel.stages:
        stage.reach(1000)
    report = make_report(
        workflow="register",
        funnel=funnel.to_dict(),
        registered_s=1.0,
        onboarding_planned_s=2.0,
        planned_msg_per_s=100.0,
        reannounced=Reannouncements().to_dict(),
        responder=ResponderCounters().to_dict(),
        answers={"late": 0, "invalid": 0},
        deaths={
            "topic": "onboarding/{device}/death",
            "sent": 2,
            "wills": 1,
            "heard": 2,
            "heard_in_wills": 0,
            "heard_invalid": 0,
        },
        sparkplug={"group_id": "acme", "births": 3, "rebirths": 0, "deaths": 3},
    )
    for key in numeric_keys():
        if key.startswith("gateway."):
            continue  # a gateway check's section: tests/unit/northbound checks its keys
        value = get_path(report, key)
        assert value is None or isinstance(value, int | float), key


def test_numeric_keys_are_computed_once() -> None:
    assert numeric_keys() is numeric_keys()


# parsing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "key", "op", "limit"),
    [
        ("latency_ms.p99 < 50", "latency_ms.p99", "<", 50.0),
        ("latency_ms.p99 <= 50", "latency_ms.p99", "<=", 50.0),
        ("onboarding.connect_rate_per_s >= 5000", "onboarding.connect_rate_per_s", ">=", 5000.0),
        ("throughput.ingested_per_s>=1e4", "throughput.ingested_per_s", ">=", 10_000.0),
        ("messages.lost == 0", "messages.lost", "==", 0.0),
        ("messages.duplicated != 3", "messages.duplicated", "!=", 3.0),
        ("messages.overrun > -1", "messages.overrun", ">", -1.0),
        ("  latency_ms.p50<0.5  ", "latency_ms.p50", "<", 0.5),
        ("devices.failed\t<=\t1_000", "devices.failed", "<=", 1000.0),
    ],
)
def test_parse_reads_key_operator_and_limit(expr: str, key: str, op: str, limit: float) -> None:
    threshold = parse_threshold(expr, "scenario.toml")
    assert (threshold.key, threshold.op, threshold.limit) == (key, op, limit)
    assert threshold.source == "scenario.toml"


def test_parse_spaces_the_expression_and_keeps_the_limit_as_written() -> None:
    threshold = parse_threshold("throughput.ingested_per_s>=1e4", "--threshold")
    assert threshold.expr == "throughput.ingested_per_s >= 1e4"


def test_missing_limit_is_named() -> None:
    problem = _one_problem("latency_ms.p99 <")
    assert problem.path == "latency_ms.p99"
    assert "no limit after '<'" in problem.message


def test_missing_key_is_named() -> None:
    problem = _one_problem("< 50")
    assert problem.path == "thresholds"
    assert "no report key before '<'" in problem.message


def test_doubled_operator_is_named_with_the_allowed_ones() -> None:
    problem = _one_problem("latency_ms.p99 << 5")
    assert problem.path == "latency_ms.p99"
    assert "'<<'" in problem.message
    assert "<, <=, >, >=, ==, !=" in problem.message


@pytest.mark.parametrize("op", ["=", "=<", "=>", "!", "<>", "==="])
def test_other_non_operators_are_rejected(op: str) -> None:
    problem = _one_problem(f"latency_ms.p99 {op} 5")
    assert f"{op!r}" in problem.message
    assert "is not an operator" in problem.message


def test_missing_operator_is_named() -> None:
    problem = _one_problem("latency_ms.p99 50")
    assert "no operator" in problem.message


def test_empty_expression_is_named() -> None:
    assert "empty threshold" in _one_problem("   ").message


def test_non_numeric_limit_is_named() -> None:
    problem = _one_problem("latency_ms.p99 < abc")
    assert "'abc' is not a number" in problem.message


@pytest.mark.parametrize("limit", ["nan", "inf", "-inf", "infinity", "1e999"])
def test_non_finite_limit_is_rejected(limit: str) -> None:
    problem = _one_problem(f"latency_ms.p99 < {limit}")
    assert "finite number" in problem.message
    assert repr(limit) in problem.message


def test_unknown_key_suggests_the_closest_known_keys() -> None:
    problem = _one_problem("latency_ms.p999 < 5")
    assert problem.path == "latency_ms.p999"
    assert "unknown report key 'latency_ms.p999'" in problem.message
    assert "did you mean latency_ms.p99" in problem.message


def test_unknown_key_with_nothing_close_lists_the_numeric_keys() -> None:
    problem = _one_problem("zzz < 5")
    assert "unknown report key 'zzz'" in problem.message
    assert "messages.lost" in problem.message
    assert "latency_ms.p99" in problem.message


@pytest.mark.parametrize(
    "key", ["scenario", "sink.kind", "latency_ms", "devices.failures_by_reason"]
)
def test_non_numeric_report_keys_are_rejected(key: str) -> None:
    problem = _one_problem(f"{key} == 1")
    assert f"report key {key!r} is not a number" in problem.message


def test_one_expression_reports_all_its_problems() -> None:
    problems = _problems("latency_ms.p999 << abc")
    messages = " | ".join(p.message for p in problems)
    assert len(problems) == 3
    assert "unknown report key" in messages
    assert "is not an operator" in messages
    assert "is not a number" in messages


def test_parse_thresholds_raises_one_error_with_every_problem() -> None:
    items = [
        ("latency_ms.p99 < 50", "a.toml"),
        ("latency_ms.p99 <", "a.toml"),
        ("messages.lost == 0", "--threshold"),
        ("scenario == 1", "--threshold"),
        ("latency_ms.p99 < nan", "--threshold"),
    ]
    with pytest.raises(ScenarioError) as caught:
        parse_thresholds(items)
    problems = caught.value.problems
    assert [(p.source, p.path) for p in problems] == [
        ("a.toml", "latency_ms.p99"),
        ("--threshold", "scenario"),
        ("--threshold", "latency_ms.p99"),
    ]
    assert str(caught.value).startswith("3 problems")


def test_parse_thresholds_keeps_the_order() -> None:
    parsed = parse_thresholds([("messages.lost == 0", "x"), ("latency_ms.p99 < 50", "y")])
    assert [t.key for t in parsed] == ["messages.lost", "latency_ms.p99"]
    assert parse_thresholds([]) == []


# evaluation -----------------------------------------------------------------------------------


def _measured_p99(make_report: MakeReport) -> float:
    value = get_path(make_report(), "latency_ms.p99")
    assert isinstance(value, float)
    return value


@pytest.mark.parametrize(
    ("op", "offset", "passed"),
    [
        ("<", 0.001, True),
        ("<", 0.0, False),
        ("<=", 0.0, True),
        ("<=", -0.001, False),
        (">", -0.001, True),
        (">", 0.0, False),
        (">=", 0.0, True),
        (">=", 0.001, False),
        ("==", 0.0, True),
        ("==", 0.001, False),
        ("!=", 0.001, True),
        ("!=", 0.0, False),
    ],
)
def test_every_operator_at_its_boundary(
    make_report: MakeReport, op: str, offset: float, passed: bool
) -> None:
    p99 = _measured_p99(make_report)
    threshold = parse_threshold(f"latency_ms.p99 {op} {p99 + offset!r}", "t")
    [result] = evaluate([threshold], make_report())
    assert result.value == p99
    assert result.passed is passed


def test_float_equality_holds_for_the_value_as_the_report_prints_it(
    make_report: MakeReport,
) -> None:
    report = make_report(latency_us=[4700])
    printed = str(get_path(report, "latency_ms.p99"))
    [result] = evaluate([parse_threshold(f"latency_ms.p99 == {printed}", "t")], report)
    assert result.passed


def test_integer_figures_compare_with_float_limits(make_report: MakeReport) -> None:
    report = make_report(unique=990)  # 1,000 published, 10 lost
    results = evaluate(
        parse_thresholds(
            [
                ("messages.lost == 0", "t"),
                ("messages.lost <= 10", "t"),
                ("messages.lost < 1e1", "t"),
                ("throughput.published_per_s >= 1e2", "t"),
            ]
        ),
        report,
    )
    assert [r.passed for r in results] == [False, True, False, True]
    assert results[0].value == 10


def test_a_figure_not_measured_fails(make_report: MakeReport) -> None:
    report = make_report(ingest=False)
    results = evaluate(
        parse_thresholds([("latency_ms.p99 < 1e9", "t"), ("messages.lost == 0", "t")]), report
    )
    assert [(r.value, r.passed) for r in results] == [(None, False), (None, False)]
    assert format_results(results)[0] == (
        "FAIL  latency_ms.p99 < 1e9  (not measured (null in the report))"
    )


def test_a_key_absent_from_an_older_report_fails_as_not_measured(make_report: MakeReport) -> None:
    report = make_report()
    del report["process"]["connected_rss_bytes"]
    [result] = evaluate([parse_threshold("process.connected_rss_bytes > 0", "t")], report)
    assert (result.value, result.passed) == (None, False)


def test_format_results_says_pass_or_fail_and_what_was_measured() -> None:
    lat = Threshold("latency_ms.p99", "<", 50.0, "latency_ms.p99 < 50", "t")
    lost = Threshold("messages.lost", "==", 0.0, "messages.lost == 0", "t")
    rate = Threshold("onboarding.connect_rate_per_s", ">=", 5.0, "x >= 5", "t")
    lines = format_results(
        [
            ThresholdResult(lat, 4.7, passed=True),
            ThresholdResult(lost, 12, passed=False),
            ThresholdResult(rate, 5000.0, passed=True),
        ]
    )
    assert lines == [
        "PASS  latency_ms.p99 < 50  (measured 4.7)",
        "FAIL  messages.lost == 0  (measured 12)",
        "PASS  x >= 5  (measured 5000)",
    ]


def test_results_as_json_round_trips_through_json(make_report: MakeReport) -> None:
    results = evaluate(
        parse_thresholds([("messages.lost == 0", "q.toml"), ("devices.connected >= 1", "--t")]),
        make_report(ingest=False),
    )
    items = json.loads(json.dumps(results_as_json(results)))
    assert items == [
        {
            "expr": "messages.lost == 0",
            "key": "messages.lost",
            "op": "==",
            "limit": 0.0,
            "source": "q.toml",
            "value": None,
            "passed": False,
        },
        {
            "expr": "devices.connected >= 1",
            "key": "devices.connected",
            "op": ">=",
            "limit": 1.0,
            "source": "--t",
            "value": 100,
            "passed": True,
        },
    ]


def test_the_report_schema_knows_every_responder_counter() -> None:
    assert set(ResponderCounters().to_dict()) == set(ResponderSection.__annotations__)


def test_a_stage_key_names_a_stage_from_1_and_a_numeric_figure() -> None:
    assert parse_thresholds([("stages.2.lost == 0", "t")])[0].key == "stages.2.lost"
    with pytest.raises(ScenarioError) as caught:
        parse_thresholds([("stages.0.lost == 0", "t"), ("stages.1.behind == 0", "t")])
    said = str(caught.value)
    assert "stage numbers start at 1, got 0" in said
    assert "'behind' in 'stages.1.behind' is not a stage's numeric figure" in said
