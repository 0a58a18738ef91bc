"""The end-of-run summary: the funnel appears for the register workflow and names who fell out."""

from __future__ import annotations

from simulator.metrics.faults import FaultRecord, fault_figures
from simulator.metrics.funnel import REGISTER_STAGES, Funnel, StageFigures
from simulator.report.json_report import problems
from simulator.report.summary import summary_lines
from tests.unit.report.conftest import MakeReport


def registered_funnel() -> dict[str, StageFigures]:
    funnel = Funnel(REGISTER_STAGES)
    for stage, ms in zip(REGISTER_STAGES, (1, 2, 3, 5), strict=True):
        funnel[stage].reach(ms * 1000, 10)
    funnel["registered"].rejected = 2
    funnel["registered"].reached = 8
    funnel["registered"].retries = 4
    return funnel.to_dict()


def test_the_connect_workflow_prints_no_funnel(make_report: MakeReport) -> None:
    lines = summary_lines(make_report())
    assert not any("funnel" in line for line in lines)


def test_the_register_workflow_prints_each_stage_and_who_fell_out(make_report: MakeReport) -> None:
    report = make_report(workflow="register", funnel=registered_funnel(), registered_s=1.5)
    lines = summary_lines(report)
    start = next(i for i, line in enumerate(lines) if line.startswith("  funnel"))
    stages = lines[start + 1 : start + 5]
    assert [line.split()[0] for line in stages] == list(REGISTER_STAGES)
    assert "p50 5.0 ms" in stages[3]
    assert "(2 rejected, 4 retries)" in stages[3]
    assert lines[start + 5] == "    all accepted 1.5 s after the first connect"
    assert problems(report) == ["onboarding stage registered: 2 rejected"]


def test_tls_handshakes_and_resumptions_are_shown_when_the_engine_did_tls(
    make_report: MakeReport,
) -> None:
    assert not any(line.startswith("  tls") for line in summary_lines(make_report()))
    report = make_report(tls_handshakes=20, tls_resumed=19)
    assert report["connections"]["tls_resumed"] == 19
    assert "  tls         20 handshakes, 19 resumed a session" in summary_lines(report)


def test_a_restarted_ingest_worker_is_said_and_is_no_problem(make_report: MakeReport) -> None:
    death = {"client_id": "ingest-trial-0", "exit_status": -9, "reason": "killed by signal 9"}
    report = make_report(ingest_restarts=1, ingest_restart_reasons=[death])
    assert report["ingest"]["status"] == "ok"
    assert report["ingest"]["restart_reasons"] == [death]
    lines = summary_lines(report)
    assert (
        "  ingest      ingest worker restarted 1 time(s) (ingest-trial-0 killed by signal 9)"
        in (lines)
    )
    assert any(line.startswith("  note: ingest worker ingest-trial-0 killed") for line in lines)
    assert problems(report) == []  # what it lost, if anything, is in messages.lost


def test_a_run_without_restarts_says_nothing_of_them(make_report: MakeReport) -> None:
    report = make_report()
    assert report["ingest"]["restarts"] == 0
    assert not any("restarted" in line for line in summary_lines(report))


def test_a_fault_window_that_cost_no_connection_says_how_long_it_lasted(
    make_report: MakeReport,
) -> None:
    network = FaultRecord("network", 2.0, 10.0, started_s=2.0, ended_s=12.0, detail="+200 ms")
    network.devices_before = network.devices_lowest = 40
    network.back_s = 10.0
    partition = FaultRecord("partition", 20.0, 6.0, started_s=20.0, ended_s=26.0, detail="held")
    partition.devices_before, partition.devices_lowest, partition.back_s = 40, 12, 9.5
    report = make_report(faults=fault_figures([network, partition], [], qos=0))
    lines = summary_lines(report)
    assert "  fault       network at 2 s: +200 ms; in force 10.0 s, no device lost" in lines
    assert (
        "  fault       partition at 20 s: held; 28 of 40 devices lost, all back in 9.5 s" in lines
    )
    assert report["faults"][0]["duration_s"] == 10.0


def test_the_first_line_names_the_first_broker_and_counts_the_others(
    make_report: MakeReport,
) -> None:
    one = make_report(broker_url="mqtt://a:1883")
    assert one["broker"]["urls"] == ["mqtt://a:1883"]
    assert summary_lines(one)[0].endswith(" against mqtt://a:1883 (MQTT 5)")
    urls = ["mqtt://a:1883", "mqtt://b:1883", "mqtt://c:1883"]
    three = make_report(broker_url=urls[0], broker_urls=urls)
    assert three["broker"]["urls"] == urls
    assert "against mqtt://a:1883 and 2 more brokers (MQTT" in summary_lines(three)[0]
