"""The pods of ``deploy/k8s/``, run as processes on this machine against a real Mosquitto:
what a cluster would run, short of the cluster.

Each pod's command is taken from the rendered manifests and expanded with the values a pod
would have, as the tests of the command lines do; then the volumes become folders (the
scenario's ConfigMap, the reports claim, each pod's ``runs`` emptyDir), the metrics listen on
loopback ports of their own, and the fleet is made small (the mounted scenario with fewer
devices, a shorter run and a faster interval). Two slices, the ingest run and the merge Job's
two containers run as Kubernetes would start them: all at once, the barrier and the reports
on the shared folder ordering them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from simulator.broker import LocalBroker, free_port
from tests.commands import CHILD_ENV
from tests.deploy.kustomize import Rendered, containers, render
from tests.deploy.pod_commands import INDEXED_JOB_INDEX, commands, shell_script
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


class LocalCluster:
    """Starts the manifests' pods as processes, each in a working folder of its own."""

    def __init__(self, rendered: Rendered, volumes: Path, env: dict[str, str]) -> None:
        self.rendered = rendered
        self.volumes = volumes
        self.env = env
        self.pods: dict[str, subprocess.Popen[str]] = {}

    def start(self, job: str, index: int | None = None) -> None:
        spec = self.rendered.one("Job", job)["spec"]["template"]["spec"]
        env = dict(self.env)
        if index is not None:
            env[INDEXED_JOB_INDEX] = str(index)
        name = job if index is None else f"{job}-{index}"
        workdir = self.volumes / "pods" / name
        (workdir / "runs").mkdir(parents=True)
        for container in containers(spec):
            script = shell_script(container)
            if script is None:
                [command] = commands(container, env)
                argv = [localise(arg, self.volumes, free_port()) for arg in command.argv]
                program = [sys.executable, "-m", "simulator", *argv]
            else:
                program = ["/bin/sh", "-c", localise(script, self.volumes, free_port())]
            self.pods[f"{name}/{container['name']}"] = subprocess.Popen(
                program,
                cwd=workdir,
                env={**CHILD_ENV, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )

    def wait(self, timeout_s: float) -> dict[str, tuple[int, str]]:
        """Every pod's exit status and output."""
        return {
            name: (pod.wait(timeout=timeout_s), pod.communicate()[0])
            for name, pod in self.pods.items()
        }

    def stop(self) -> None:
        for pod in self.pods.values():
            if pod.poll() is None:
                pod.kill()
            pod.wait()


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
        "IDLE_STOP_S": "3",
        # The merge Job's containers run factory-sim from the PATH, as in the image.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    cluster = LocalCluster(rendered, tmp_path, env)
    try:
        cluster.start("factory-sim-ingest")
        for index in range(SEGMENTS):
            cluster.start("factory-sim-slices", index)
        # The merge Job's init container first (it waits for the reports), then its main one.
        merge = rendered.one("Job", "factory-sim-merge")["spec"]["template"]["spec"]
        [init] = merge["initContainers"]
        init_script = shell_script(init)
        assert init_script is not None
        waited = subprocess.run(
            ["/bin/sh", "-c", localise(init_script, tmp_path, 0)],
            env={**CHILD_ENV, **env},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert waited.returncode == 0, waited.stdout + waited.stderr
        assert f"{SEGMENTS} of {SEGMENTS} slice reports" in waited.stdout
        cluster.start("factory-sim-merge")
        results = cluster.wait(timeout_s=120)
    finally:
        cluster.stop()
    for name, (status, output) in results.items():
        assert status == 0, f"{name} exited {status}:\n{output}"
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
