"""The ingest Job's script, run as its pod would run it, against a real Mosquitto.

It is the one piece of ``deploy/k8s/`` with logic of its own: start the worker, wait for every
slice's report, drain, stop the worker so it writes its report, then mark it done for the merge
Job. Here the pod's volume is a temporary folder and its metrics listen on loopback; the
slices' reports are files the test writes, as the slices' pods would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from simulator.broker import LocalBroker, free_port
from tests.commands import CHILD_ENV
from tests.deploy.kustomize import render
from tests.deploy.pod_commands import shell_script
from tests.e2e.test_ingest_metrics_host import scrape
from tests.integration.test_ingest_process import publish_all, telemetry
from tests.quickstart import ROOT
from tests.waiting import wait_until_sync

pytestmark = pytest.mark.broker

RUN_ID = "script-test"
SEGMENTS = 2


def pod_script(reports: Path, metrics_port: int) -> str:
    """The ingest container's script, with the volume at ``reports`` and metrics on loopback."""
    ingest = render(ROOT / "deploy" / "k8s").one("Job", "factory-sim-ingest")
    script = shell_script(ingest["spec"]["template"]["spec"]["containers"][0])
    assert script is not None
    assert script.count("/reports/") == 1
    assert script.count("--metrics-port 9100") == script.count("--metrics-host 0.0.0.0") == 1
    return (
        script.replace("/reports/", f"{reports}/")
        .replace("--metrics-port 9100", f"--metrics-port {metrics_port}")
        .replace("--metrics-host 0.0.0.0", "--metrics-host 127.0.0.1")
    )


@contextmanager
def ingest_pod(
    broker: LocalBroker, workdir: Path, metrics_port: int
) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """The script running in ``workdir`` (its /app), with the run's settings in its env."""
    (workdir / "runs").mkdir()
    env = {
        **CHILD_ENV,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "RUN_ID": RUN_ID,
        "BROKER_URL": f"mqtt://{broker.host}:{broker.port}",
        "SEGMENTS": str(SEGMENTS),
        "DRAIN_S": "1",
        "INGEST_SINK": "sqlite:///runs/ingest.sqlite",
    }
    script = pod_script(workdir / "reports", metrics_port)
    with subprocess.Popen(
        ["/bin/sh", "-c", script],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as pod:
        try:
            yield pod, workdir / "reports" / RUN_ID
        finally:
            if pod.poll() is None:
                pod.kill()
                pod.wait()


def subscribed(pod: subprocess.Popen[str], port: int) -> None:
    """Wait until the worker serves its metrics, which it does once it has subscribed."""
    wait_until_sync(
        lambda: scrape(f"http://127.0.0.1:{port}/metrics") is not None or pod.poll() is not None,
        "the ingest worker's metrics",
    )
    assert pod.poll() is None, pod.communicate()[0]


def test_the_worker_reports_once_every_slice_has(mosquitto: LocalBroker, tmp_path: Path) -> None:
    port = free_port()
    with ingest_pod(mosquitto, tmp_path, port) as (pod, reports):
        subscribed(pod, port)
        topic = "factory/site-01/line-01/{}/telemetry"
        now = 1_700_000_000_000_000_000
        publish_all(
            mosquitto,
            [(topic.format(d), telemetry(d, seq, now)) for d in ("a", "b") for seq in range(3)],
        )
        for index in range(SEGMENTS):
            (reports / f"slice-{index}.json").write_text("{}\n")
        output, _ = pod.communicate(timeout=60)
    assert pod.returncode == 0, output
    assert f"{SEGMENTS} of {SEGMENTS} slice reports; draining for 1 s" in output
    assert (reports / "ingest-0.done").read_text() == "0\n"
    report = json.loads((reports / "ingest-0.json").read_text())
    assert report["received"] == 6
    assert report["run_id"] == RUN_ID


def test_a_pod_stopped_early_still_writes_the_workers_report(
    mosquitto: LocalBroker, tmp_path: Path
) -> None:
    port = free_port()
    with ingest_pod(mosquitto, tmp_path, port) as (pod, reports):
        subscribed(pod, port)
        pod.send_signal(signal.SIGTERM)
        output, _ = pod.communicate(timeout=60)
    assert pod.returncode == 0, output
    assert "draining" not in output
    assert (reports / "ingest-0.done").read_text() == "0\n"
    assert json.loads((reports / "ingest-0.json").read_text())["received"] == 0
