"""The engine stack again, watched as a user watches a run: live view and Prometheus on.

Everything is as in :mod:`clients.engine_stack`, plus what ``factory-sim run --metrics-port``
adds: the monitor samples the fleet once a second into the time series and prints the plain
live line (standard error, as in a CI log), and a Prometheus endpoint serves the latest totals
while a scraper thread fetches ``/metrics`` once a second (a scrape interval far shorter than
Prometheus's usual 15 s, to be conservative). Comparing its published msg/s with the plain
engine stack's in the same run shows what watching costs the hot path.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import urllib.request

import uvloop

from simulator.engine.fleet import Fleet
from simulator.live.console import PlainView
from simulator.metrics.prometheus import MetricsServer
from simulator.monitor import Monitor

from .common import StackArgs, StackFigures, parse_args, prepare_process, report
from .engine_driver import run_engine
from .workload import bench_scenario

SCRAPE_INTERVAL_S = 1.0


def scrape_until(url: str, stop: threading.Event, counter: list[int]) -> None:
    """Fetch ``url`` every second until ``stop`` is set; count the successful scrapes."""
    while not stop.wait(SCRAPE_INTERVAL_S):
        with urllib.request.urlopen(url, timeout=5) as response:
            response.read()
        counter[0] += 1


async def run(args: StackArgs) -> StackFigures:
    """Connect, publish and disconnect every device, watched; return the figures."""
    figures = StackFigures("engine-watched", args.devices, args.messages)
    scenario = bench_scenario(args.host, args.port, args.devices, args.concurrency)
    scrapes = [0]

    async def watch(fleet: Fleet) -> None:
        monitor = Monitor(fleet, None, PlainView(sys.stderr), time.perf_counter)
        server = MetricsServer(lambda: monitor.series.latest, 0, ingest=False)
        server.start()
        stop = threading.Event()
        scraper = threading.Thread(target=scrape_until, args=(server.url, stop, scrapes))
        scraper.start()
        try:
            await monitor.run(1.0)
        finally:
            stop.set()
            await asyncio.to_thread(scraper.join)
            server.stop()
            figures.extra["samples"] = len(monitor.series.samples)

    await run_engine("engine", args, scenario, figures=figures, watch=watch)
    figures.extra["scrapes"] = scrapes[0]
    return figures


def main() -> None:
    """Entry point: ``python -m clients.engine_watched_stack --port P --devices N --messages M``."""
    args = parse_args(__doc__ or "watched engine stack")
    prepare_process()
    report(uvloop.run(run(args)))


if __name__ == "__main__":
    main()
