"""A real run serving its live page: Chromium, watching it twice, sees the charts move on."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from simulator.broker import free_port
from tests.background_run import poll_run, quickstart_in_background
from tests.e2e.test_html_browser import CHART, SERIES, browser_args

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("chromium")]


def samples(url: str) -> int | None:
    """How many samples the run's /data has, or None while it does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return len(json.loads(response.read()).get("timeseries") or [])
    except (urllib.error.URLError, ConnectionError):
        return None


def wait_for_samples(run: subprocess.Popen[bytes], log: Path, url: str, at_least: int) -> None:
    """Wait until the run's ``url`` (its /data) has ``at_least`` samples."""
    poll_run(
        run,
        log,
        lambda: samples(url),
        lambda found: found >= at_least,
        what=f"{url} had {at_least} samples",
    )


def watch(profile: Path, url: str) -> tuple[int, list[str]]:
    """The charts the live page drew after a second of polling, and their series."""
    result = subprocess.run(
        browser_args(profile, "--virtual-time-budget=2000", "--dump-dom", url),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return len(re.findall(CHART, result.stdout)), re.findall(SERIES, result.stdout)


@pytest.mark.broker
@pytest.mark.slow
def test_the_live_page_follows_a_real_run(tmp_path: Path) -> None:
    port = free_port()
    page = f"http://127.0.0.1:{port}/"
    with quickstart_in_background(
        tmp_path, "--devices", "100", "--duration", "6", "--web", str(port)
    ) as (run, log_path):
        wait_for_samples(run, log_path, page + "data", 1)
        charts1, first = watch(tmp_path / "profile-1", page)
        # The run goes on between the two looks: two more samples at least.
        wait_for_samples(run, log_path, page + "data", (samples(page + "data") or 0) + 2)
        charts2, second = watch(tmp_path / "profile-2", page)
        assert charts1 == charts2 == 7
        assert first != second, "the run went on between the two looks"
        assert run.wait(timeout=120) == 0, log_path.read_text()
