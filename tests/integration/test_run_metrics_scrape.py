"""A real run serving /metrics: scraped while it publishes, its published count grows.

It listens on ``--metrics-host 127.0.0.2``, a loopback address that is not the default, so the
scrape reaching it also shows the flag reaches the server (as ``0.0.0.0`` does in a pod)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from simulator.broker import free_port
from tests.background_run import poll_run, quickstart_in_background
from tests.scraping import scraped

PUBLISHED = "factory_sim_messages_published_total"


def published(url: str) -> float | None:
    """The run's published count, or None while the endpoint is not up or has no figures yet."""
    return scraped(url, PUBLISHED, role="simulator")


def poll_until(
    run: subprocess.Popen[bytes], log: Path, url: str, above: float, timeout_s: float
) -> float:
    """Scrape until the published count exceeds ``above``; fail if the run ends or time is up."""
    return poll_run(
        run,
        log,
        lambda: published(url),
        lambda value: value > above,
        what=f"{PUBLISHED} passed {above}",
        timeout_s=timeout_s,
    )


@pytest.mark.broker
@pytest.mark.slow
def test_a_run_serves_growing_figures(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.2:{port}/metrics"
    with quickstart_in_background(
        tmp_path,
        *("--devices", "100", "--duration", "6"),
        *("--metrics-port", str(port), "--metrics-host", "127.0.0.2"),
    ) as (run, log_path):
        first = poll_until(run, log_path, url, 0, timeout_s=60)
        # The monitor refreshes the totals once a second, so a later scrape sees more.
        second = poll_until(run, log_path, url, first, timeout_s=30)
        assert second > first
        assert run.wait(timeout=120) == 0, log_path.read_text()
