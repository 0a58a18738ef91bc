"""Live control of a real run through its dashboard: pause (nothing published until resumed),
resume, a new rate, a fault triggered now; every request in the report's control list. The
same over worker processes (``--workers 2``): the coordinator carries each to its workers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from simulator.broker import free_port
from tests.background_run import poll_run, quickstart_in_background
from tests.e2e.test_live_run_browser import wait_for_samples

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def post(url: str, request: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(request).encode()
    sent = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(sent, timeout=10) as answer:
            said: dict[str, Any] = json.loads(answer.read())
    except urllib.error.HTTPError as refused:  # 4xx: the refusal says why, as JSON
        said = json.loads(refused.read())
    return said


def latest(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as answer:
        samples: list[dict[str, Any]] = json.loads(answer.read())["timeseries"]
    return samples[-1]


@pytest.mark.parametrize("workers", [(), ("--workers", "2")], ids=["one process", "workers"])
def test_a_run_is_paused_resumed_paced_and_faulted_from_its_dashboard(
    tmp_path: Path, workers: tuple[str, ...]
) -> None:
    port = free_port()
    page = f"http://127.0.0.1:{port}/"
    args = ("--devices", "40", "--interval", "0.2", "--duration", "10", "--web", str(port))
    with quickstart_in_background(tmp_path, *args, *workers, "--report", "report.json") as (
        run,
        log,
    ):
        wait_for_samples(run, log, page + "data", 2)
        poll_run(  # workers start after a handshake
            run,
            log,
            lambda: latest(page + "data"),
            lambda sample: sample["published_per_s"] != 0.0,
            what="something was published",
        )
        assert post(page + "control", {"action": "pause"}) == {
            "ok": True,
            "message": "publishing paused",
        }
        # A whole sample interval with nothing published, while every device stays connected.
        sample = poll_run(
            run,
            log,
            lambda: latest(page + "data"),
            lambda sample: sample["published_per_s"] == 0.0,
            what="publishing paused",
            timeout_s=30,
        )
        assert sample["connected"] == 40
        assert post(page + "control", {"action": "resume"})["ok"]
        assert post(page + "control", {"action": "rate", "msg_rate_per_s": 100})["message"] == (
            "offered rate set to 100 msg/s"
        )
        fault = {"kind": "drop_connections", "share": 0.5}
        assert post(page + "control", {"action": "fault", "fault": fault})["ok"]
        refused = post(page + "control", {"action": "fault", "fault": {"kind": "meteor"}})
        assert refused["ok"] is False
        assert run.wait(timeout=120) == 0, log.read_text()
    report = json.loads((tmp_path / "report.json").read_text())
    assert [(event["action"], event["ok"]) for event in report["control"]] == [
        ("pause", True),
        ("resume", True),
        ("rate", True),
        ("fault", True),
        ("fault", False),
    ]
    # The time series logs each request in the sample of the interval it came in.
    samples = report["timeseries"]
    logged = [
        (previous["t_s"], sample["t_s"], event)
        for previous, sample in zip([{"t_s": 0.0}, *samples], samples, strict=False)
        for event in sample["control"] or ()
    ]
    assert [event for _, _, event in logged] == report["control"]
    assert all(start < event["t_s"] <= end for start, end, event in logged), logged
    (triggered,) = report["faults"]
    assert triggered["kind"] == "drop_connections"
    assert triggered["devices_cut"] == 20
    if workers:  # each worker cut half of its own 20, the two shares one fault
        assert triggered["detail"] == "cut 10 connections (10 devices), in each of 2"
    assert triggered["back_s"] is not None
    assert report["messages"]["lost"] == 0
    assert "control: publishing paused" in log.read_text()
