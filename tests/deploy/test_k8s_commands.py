"""Every ``factory-sim`` command line that a pod of ``deploy/k8s/`` runs parses with the CLI's
own parser, with the values a pod has, and says what the run needs of it: every slice of one
run, one start and one id; the ingest run the same; the merge reading what they write."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from simulator.cli import build_parser
from simulator.scenario.segment import Segment, parse_start_at
from tests.deploy.kustomize import Rendered, containers, render
from tests.deploy.pod_commands import INDEXED_JOB_INDEX, PodCommand, commands
from tests.quickstart import ROOT


@pytest.fixture(scope="module")
def rendered() -> Rendered:
    return render(ROOT / "deploy" / "k8s")


def settings(rendered: Rendered) -> dict[str, str]:
    data: dict[str, str] = rendered.one("ConfigMap", "factory-sim-run")["data"]
    return data


def job_commands(rendered: Rendered, name: str, index: int = 0) -> list[PodCommand]:
    """The commands of the Job's pod (pod ``index`` of an Indexed Job)."""
    job = rendered.one("Job", name)
    env = dict(settings(rendered))
    if job["spec"].get("completionMode") == "Indexed":
        env[INDEXED_JOB_INDEX] = str(index)
    found = []
    for container in containers(job["spec"]["template"]["spec"]):
        found.extend(commands(container, env))
    return found


def parse(command: PodCommand) -> argparse.Namespace:
    try:
        return build_parser().parse_args(command.argv)
    except SystemExit as exc:  # argparse has printed why
        pytest.fail(f"{command.container}: factory-sim {' '.join(command.argv)}: exit {exc}")


def test_every_command_line_parses(rendered: Rendered) -> None:
    parsed = [
        parse(command)
        for name in ("factory-sim-slices", "factory-sim-ingest", "factory-sim-merge")
        for command in job_commands(rendered, name)
    ]
    assert [args.command for args in parsed] == ["run", "run", "merge"]


def test_every_slice_runs_its_own_part_of_one_run(rendered: Rendered) -> None:
    run = settings(rendered)
    n = int(run["SEGMENTS"])
    slices = []
    for index in range(n):
        [command] = job_commands(rendered, "factory-sim-slices", index)
        slices.append(parse(command))
    assert [args.segment for args in slices] == [Segment(i, n) for i in range(n)]
    assert {args.start_at for args in slices} == {parse_start_at(run["START_AT"])}
    assert {args.run_id for args in slices} == {run["RUN_ID"]}
    assert {args.broker for args in slices} == {run["BROKER_URL"]}
    assert {args.ingest_mode for args in slices} == {"off"}
    reports = {args.report for args in slices}
    assert len(reports) == n
    assert {r.parent for r in reports} == {Path("/reports") / run["RUN_ID"]}


def test_the_ingest_run_is_the_same_run_and_its_platform_side(rendered: Rendered) -> None:
    run = settings(rendered)
    [command] = job_commands(rendered, "factory-sim-ingest")
    args = parse(command)
    assert args.ingest_mode == "only"
    assert args.segment is None or args.segment == Segment(0, 1)
    assert args.start_at == parse_start_at(run["START_AT"])
    assert args.run_id == run["RUN_ID"]
    assert args.broker == run["BROKER_URL"]
    assert args.sink == run["INGEST_SINK"]
    assert args.idle_stop == float(run["IDLE_STOP_S"])
    assert args.report == Path("/reports") / run["RUN_ID"] / "ingest.json"


def test_the_merge_reads_every_report_of_the_run(rendered: Rendered) -> None:
    run = settings(rendered)
    [command] = job_commands(rendered, "factory-sim-merge")
    args = parse(command)
    folder = Path("/reports") / run["RUN_ID"]
    assert args.reports == [folder / "slice-*.json", folder / "ingest.json"]
    assert args.report == folder / "merged.json"
    assert args.html == folder / "merged.html"
