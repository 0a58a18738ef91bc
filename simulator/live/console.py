"""The live terminal view of a run: redrawn in place on a TTY, plain lines elsewhere.

All views read the sample the time series just computed (once per interval) and the latest
cumulative totals; none of them touches a message. :func:`make_view` picks the view: ``rich``
redrawn in place when the output is a terminal, one plain line per interval when it is not (CI
logs stay readable and grep-able), nothing with ``quiet``.
"""

from __future__ import annotations

from typing import Any, Protocol, TextIO

from simulator.metrics.timeseries import Totals


class View(Protocol):
    """Something that shows a run while it goes."""

    def say(self, text: str) -> None:
        """Show a one-off message (broker started, ingest ready, a warning)."""

    def update(self, sample: dict[str, Any], totals: Totals) -> None:
        """Show the newest sample."""

    def close(self) -> None:
        """Stop drawing; leave the last state on screen."""


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} ms"


def plain_line(sample: dict[str, Any], totals: Totals) -> str:
    """One self-contained line per interval for logs."""
    stage = sample.get("stage")
    line = (
        f"[{sample['t_s']:7.1f}s] {sample['phase']:<10} "
        + (f"stage {stage}  " if stage is not None else "")
        + f"connected {sample['connected']:,}/{totals.devices_target:,} "
        f"(failed {totals.connect_failed:,})  "
        f"published {sample['published_per_s']:,.0f} msg/s (total {sample['published_total']:,})"
    )
    if totals.received or sample["phase"] != "onboarding":
        line += (
            f"  ingested {sample['ingested_per_s']:,.0f} msg/s (total {totals.received:,})"
            f"  p99 {_ms(sample['latency_ms_p99'])}  lost {sample['lost_so_far']:,}"
        )
    return line


class PlainView:
    """One line per interval, for output that is not a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def say(self, text: str) -> None:
        """Print ``text`` on its own line."""
        self._stream.write(text + "\n")
        self._stream.flush()

    def update(self, sample: dict[str, Any], totals: Totals) -> None:
        """Print the sample as one line."""
        self.say(plain_line(sample, totals))

    def close(self) -> None:
        """Nothing to tear down."""


class QuietView:
    """Shows nothing (``--quiet``); errors and the verdict are printed by the command."""

    def say(self, text: str) -> None:
        """Say nothing."""

    def update(self, sample: dict[str, Any], totals: Totals) -> None:
        """Show nothing."""

    def close(self) -> None:
        """Nothing to tear down."""


class RichView:
    """A panel redrawn in place: onboarding bar with ETA, rates, latency, loss, stages."""

    def __init__(self, stream: TextIO, title: str) -> None:
        from rich.console import Console
        from rich.live import Live

        self._console = Console(file=stream)
        self._title = title
        self._live = Live(console=self._console, refresh_per_second=4, transient=False)
        self._live.start()

    def say(self, text: str) -> None:
        """Print above the live panel."""
        self._live.console.print(text, markup=False, highlight=False)

    def update(self, sample: dict[str, Any], totals: Totals) -> None:
        """Redraw the panel from the newest sample."""
        self._live.update(self._render(sample, totals))

    def close(self) -> None:
        """Stop redrawing; the last panel stays on screen."""
        self._live.stop()

    def _render(self, sample: dict[str, Any], totals: Totals) -> Any:
        from rich.console import Group
        from rich.panel import Panel
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        target = max(totals.devices_target, 1)
        done = totals.onboarded + totals.connect_failed
        rate = sample["onboarding_rate_per_s"]
        if done >= totals.devices_target:
            eta = "done"
        elif rate > 0:
            eta = f"ETA {(totals.devices_target - done) / rate:,.1f} s"
        else:
            eta = "ETA -"
        bar = Table.grid(padding=(0, 1))
        bar.add_row(
            Text("onboarding"),
            ProgressBar(total=target, completed=min(done, target), width=40),
            Text(f"{totals.onboarded:,}/{totals.devices_target:,}  {rate:,.0f}/s  {eta}"),
        )
        figures = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
        for column in ("", "now", "so far"):
            figures.add_column(column, justify="right" if column else "left")
        figures.add_row(
            "published", f"{sample['published_per_s']:,.0f} msg/s", f"{totals.published:,}"
        )
        figures.add_row(
            "ingested", f"{sample['ingested_per_s']:,.0f} msg/s", f"{totals.received:,}"
        )
        figures.add_row(
            "latency p50 / p99",
            f"{_ms(sample['latency_ms_p50'])} / {_ms(sample['latency_ms_p99'])}",
            "",
        )
        figures.add_row(
            "lost / dup / late / bad",
            "",
            f"{totals.missing:,} / {totals.duplicated:,} / {totals.out_of_order:,} / "
            f"{totals.malformed:,}",
        )
        figures.add_row(
            "devices connected / failed",
            f"{totals.connected:,}",
            f"{totals.connect_failed:,} failed",
        )
        figures.add_row(
            "simulator",
            f"{sample['cpu_percent']:,.0f} % CPU",
            f"{sample['rss_bytes'] / 2**20:,.1f} MiB RSS",
        )
        stage = f"  stage {sample['stage']}" if sample.get("stage") is not None else ""
        heading = Text(
            f"{self._title}  {sample['phase']}{stage}  t={sample['t_s']:,.1f}s", style="bold"
        )
        return Panel(Group(heading, bar, figures), expand=False)


def make_view(stream: TextIO, *, quiet: bool, title: str) -> View:
    """The right view for ``stream``: quiet, redrawn in place on a TTY, or plain lines."""
    if quiet:
        return QuietView()
    if stream.isatty():
        return RichView(stream, title)
    return PlainView(stream)
