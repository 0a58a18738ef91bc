"""The terminal views: which one is chosen, and what they show for a sample."""

from __future__ import annotations

import io

from simulator.live.console import PlainView, QuietView, RichView, make_view, plain_line
from simulator.metrics.histogram import Histogram
from simulator.metrics.timeseries import TimeSeries, Totals


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def a_sample(phase: str = "publishing") -> tuple[dict[str, object], Totals]:
    latency = Histogram()
    latency.record(4_000)
    totals = Totals(
        t_s=3.0,
        phase=phase,
        devices_target=1000,
        connected=990,
        onboarded=900,
        connect_failed=5,
        published=2500,
        received=2400,
        ingested=2400,
        missing=2,
        duplicated=1,
        rss_bytes=50 * 2**20,
        cpu_s=0.6,
        latency_us=latency,
    )
    return TimeSeries().add(totals), totals


def test_plain_line_has_devices_rates_latency_and_loss() -> None:
    sample, totals = a_sample()
    line = plain_line(sample, totals)
    assert "[    3.0s] publishing" in line
    assert "connected 990/1,000 (failed 5)" in line
    assert "published 833 msg/s (total 2,500)" in line
    assert "ingested 800 msg/s (total 2,400)" in line
    assert "p99 4.0 ms" in line
    assert "lost 2" in line


def test_a_staged_run_s_lines_name_the_stage() -> None:
    sample, totals = a_sample()
    assert "stage" not in plain_line(sample, totals)
    sample["stage"] = 3

    assert "[    3.0s] publishing stage 3  connected 990/1,000" in plain_line(sample, totals)


def test_views_are_chosen_by_quiet_and_tty() -> None:
    assert isinstance(make_view(io.StringIO(), quiet=True, title="t"), QuietView)
    assert isinstance(make_view(io.StringIO(), quiet=False, title="t"), PlainView)
    view = make_view(FakeTty(), quiet=False, title="t")
    assert isinstance(view, RichView)
    view.close()


def test_plain_view_prints_one_line_per_update_and_messages() -> None:
    out = io.StringIO()
    view = PlainView(out)
    sample, totals = a_sample()
    view.say("broker started")
    view.update(sample, totals)
    view.update(sample, totals)
    lines = out.getvalue().splitlines()
    assert lines[0] == "broker started"
    assert len(lines) == 3


def test_rich_view_draws_the_onboarding_bar_eta_and_figures() -> None:
    out = FakeTty()
    view = RichView(out, "factory-sim: quickstart")
    sample, totals = a_sample("onboarding")
    view.update(sample, totals)
    view.close()
    screen = out.getvalue()
    assert "factory-sim: quickstart" in screen
    assert "1,000" in screen
    assert "ETA" in screen
    assert "latency p50 / p99" in screen
    assert "2 / 1 / 0 / 0" in screen


def test_quiet_view_writes_nothing() -> None:
    sample, totals = a_sample()
    view = QuietView()
    view.say("x")
    view.update(sample, totals)
    view.close()
