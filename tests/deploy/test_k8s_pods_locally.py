"""The pods of ``deploy/k8s/``, run as processes on this machine against a real Mosquitto:
what a cluster would run, short of the cluster.

Each pod's command is taken from the rendered manifests and expanded with the values a pod
would have, as the tests of the command lines do; then the volumes become folders (the
scenario's ConfigMap, the reports claim, each pod's ``runs`` emptyDir), the metrics listen on
loopback ports of their own, and the fleet is made small (the mounted scenario with fewer
devices, a shorter run and a faster interval). The ingest run, two slices and the merge Job's
two containers run side by side, the barrier and the reports on the shared folder ordering
them as on a cluster; only the slices wait for the ingest run to be listening, which a start
minutes ahead gives on a cluster and a loaded machine may not.
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from simulator.broker import LocalBroker, free_port
from tests.deploy.kustomize import Rendered, containers, render
from tests.deploy.pod_commands import INDEXED_JOB_INDEX, commands, shell_script
from tests.processes import Processes
from tests.quickstart import ROOT

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SEGMENTS = 2
DEVICES = 60
LEAD_S = 8
"""How far ahead the start is set: time for every process to start and connect first."""


def small(scenario: str) -> str:
    """The mounted scenario with a small, short fleet; everything else as shipped."""
    replaced = scenario
    for key, value in (("devices", DEVICES), ("duration_s", 4.0), ("publish_interval_s", 1.0)):
        replaced, count = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", replaced)
        assert count == 1, key
    return replaced


def localise(text: str, volumes: Path, metrics_port: int) -> str:
    """A pod's command with its volumes as folders and its metrics on a loopback port."""
    return (
        text.replace("/scenario/", f"{volumes / 'scenario'}/")
        .replace("/reports/", f"{volumes / 'reports'}/")
        .replace("9100", str(metrics_port))
        .replace("0.0.0.0", "127.0.0.1")
    )


def pod_programs(
    rendered: Rendered, job: str, volumes: Path, env: dict[str, str]
) -> list[tuple[str, list[str]]]:
    """(container, argv) of each container of the Job's pod, init containers first, as this
    machine runs them: the image's entrypoint is this checkout's ``simulator``, the volumes are
    folders and the metrics listen on free loopback ports."""
    spec = rendered.one("Job", job)["spec"]["template"]["spec"]
    programs = []
    for container in containers(spec):
        script = shell_script(container)
        if script is None:
            [command] = commands(container, env)
            argv = [localise(arg, volumes, free_port()) for arg in command.argv]
            programs.append((container["name"], [sys.executable, "-m", "simulator", *argv]))
        else:
            programs.append(
                (container["name"], ["/bin/sh", "-c", localise(script, volumes, free_port())])
            )
    return programs


def start_pod(
    pods: Processes,
    rendered: Rendered,
    job: str,
    volumes: Path,
    env: dict[str, str],
    *,
    index: int | None = None,
) -> list[str]:
    """Start every container of the Job's pod (pod ``index`` of an Indexed Job), each in its
    pod's folder with a ``runs`` folder for its emptyDir; their names."""
    env = dict(env) if index is None else {**env, INDEXED_JOB_INDEX: str(index)}
    pod = job if index is None else f"{job}-{index}"
    (volumes / "pods" / pod / "runs").mkdir(parents=True)
    names = []
    for container, argv in pod_programs(rendered, job, volumes, env):
        names.append(f"{pod}/{container}")
        pods.start(names[-1], argv, f"pods/{pod}", env)
    return names


def test_the_pods_run_a_fleet_and_merge_its_reports(mosquitto: LocalBroker, tmp_path: Path) -> None:
    rendered = render(ROOT / "deploy" / "k8s")
    scenario = rendered.one("ConfigMap", "factory-sim-scenario")["data"]["scenario.toml"]
    (tmp_path / "scenario").mkdir()
    (tmp_path / "scenario" / "scenario.toml").write_text(small(scenario))
    start = (datetime.now(UTC) + timedelta(seconds=LEAD_S)).strftime("%Y-%m-%dT%H:%M:%SZ")
    env = {
        **rendered.one("ConfigMap", "factory-sim-run")["data"],
        "SEGMENTS": str(SEGMENTS),
        "BROKER_URL": f"mqtt://{mosquitto.host}:{mosquitto.port}",
        "START_AT": start,
        "IDLE_STOP_S": "5",
        # The merge Job's containers run factory-sim from the PATH, as in the image.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    merge = rendered.one("Job", "factory-sim-merge")["spec"]["template"]["spec"]
    assert [c["name"] for c in merge["initContainers"]] == ["wait-for-reports"]
    with Processes(tmp_path) as pods:
        [ingest] = start_pod(pods, rendered, "factory-sim-ingest", tmp_path, env)
        # On a cluster the start is minutes ahead; here a loaded machine may start the
        # ingest run after it, and it must be listening before the slices publish.
        pods.wait_for_output(ingest, "the start at")
        for index in range(SEGMENTS):
            start_pod(pods, rendered, "factory-sim-slices", tmp_path, env, index=index)
        # The merge Job's pod: its init container waits for the reports, then its main one runs.
        [waiting, merging] = pod_programs(rendered, "factory-sim-merge", tmp_path, env)
        (tmp_path / "pods" / "factory-sim-merge" / "runs").mkdir(parents=True)
        pods.start("merge/wait-for-reports", waiting[1], "pods/factory-sim-merge", env)
        outputs = pods.finish()
        assert f"{SEGMENTS} of {SEGMENTS} slice reports" in outputs["merge/wait-for-reports"]
        pods.start("merge/merge", merging[1], "pods/factory-sim-merge", env)
        pods.finish()
    reports = tmp_path / "reports" / env["RUN_ID"]
    assert sorted(p.name for p in reports.iterdir()) == [
        "ingest.json",
        "merged.html",
        "merged.json",
        *(f"slice-{i}.json" for i in range(SEGMENTS)),
    ]
    merged = json.loads((reports / "merged.json").read_text())
    assert merged["run"]["id"] == env["RUN_ID"]
    assert merged["run"]["missing_segments"] == []
    assert len(merged["run"]["segments"]) == SEGMENTS + 1
    assert merged["devices"]["connected"] == DEVICES
    messages = merged["messages"]
    assert messages["published"] > 0
    assert messages["ingested"] == messages["published"]
    assert messages["lost"] == 0
    # The ingest run answered every slice's registrations.
    assert merged["onboarding"]["funnel"]["registered"]["reached"] == DEVICES
