"""``factory-sim ingest --metrics-host``: a worker on its own serves /metrics on the address
given, as a pod's worker must for Prometheus to scrape it from outside (``0.0.0.0`` there;
``127.0.0.2`` here, a loopback address that is not the default)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from simulator.broker import LocalBroker, free_port
from tests.commands import CHILD_ENV

pytestmark = pytest.mark.broker


def scrape(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return str(response.read().decode())
    except (urllib.error.URLError, ConnectionError):
        return None


def test_a_worker_serves_metrics_on_the_address_given(
    mosquitto: LocalBroker, tmp_path: Path
) -> None:
    port = free_port()
    argv = [
        *(sys.executable, "-m", "simulator", "ingest"),
        *("--broker", f"mqtt://{mosquitto.host}:{mosquitto.port}"),
        *("--sink", f"sqlite:///{tmp_path / 'ingest.sqlite'}", "--duration", "60"),
        *("--metrics-port", str(port), "--metrics-host", "127.0.0.2"),
        *("--report", str(tmp_path / "ingest.json")),
    ]
    log = tmp_path / "ingest.log"
    with (
        log.open("w") as err,
        subprocess.Popen(argv, cwd=tmp_path, env=CHILD_ENV, stderr=err) as worker,
    ):
        try:
            text = None
            deadline = time.monotonic() + 30
            while text is None and time.monotonic() < deadline:
                assert worker.poll() is None, log.read_text()
                text = scrape(f"http://127.0.0.2:{port}/metrics")
                time.sleep(0.1)
            assert text is not None, f"nothing served on 127.0.0.2:{port}\n{log.read_text()}"
            roles = {
                sample.labels.get("role")
                for family in text_string_to_metric_families(text)
                for sample in family.samples
            }
            assert "ingest" in roles
            assert scrape(f"http://127.0.0.1:{port}/metrics") is None
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=30) == 0, log.read_text()
        finally:
            if worker.poll() is None:
                worker.kill()
    assert (tmp_path / "ingest.json").exists()
    assert f"metrics on http://127.0.0.2:{port}/metrics" in log.read_text()
