"""The southbound fleet and its gateway check in a thread of their own, for a test.

A test starts the simulated devices and the check (:meth:`SouthboundCheck.start` returns once
the server listens, the hint file is written and the check has subscribed), starts the gateway
under test against them, and stops them to get the report (:meth:`SouthboundCheck.stop`),
while its own code, which may well block, runs meanwhile. The pytest plugin's
``factory_southbound`` fixture hands these out.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simulator.errors import HarnessError
from simulator.northbound.check import GatewayCheck
from simulator.northbound.service import serve_and_check
from simulator.report.thresholds import Threshold
from simulator.scenario.schema import Scenario


class SouthboundCheck:
    """``factory-sim southbound --broker`` for one scenario, run in a background thread."""

    def __init__(
        self,
        scenario: Scenario,
        broker_url: str,
        hint_path: Path,
        *,
        thresholds: Sequence[Threshold] = (),
    ) -> None:
        self.scenario = scenario
        self.broker_url = broker_url
        self.hint_path = hint_path
        """Where the gateway hint is written (the gateway under test reads it)."""
        self._thresholds = tuple(thresholds)
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._ready = threading.Event()
        self._check: GatewayCheck | None = None
        self._report: dict[str, Any] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="southbound-check", daemon=True)
        self.lines: list[str] = []
        """What the check announced (where it listens, what it subscribed to)."""

    def start(self, timeout_s: float = 30.0) -> None:
        """Serve and subscribe; return once both are up. Raises what stopped them."""
        self._thread.start()
        if not self._ready.wait(timeout_s):
            self.stop()
            raise HarnessError(f"the southbound fleet was not up within {timeout_s:g} s")
        if self._error is not None:
            self._thread.join()
            raise self._error

    def stop(self, timeout_s: float = 60.0) -> dict[str, Any]:
        """Stop serving and checking; the report (``scenario``, ``gateway``, ``southbound``,
        ``thresholds``)."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout_s)
        if self._error is not None:
            raise self._error
        if self._report is None:
            raise HarnessError(f"the southbound fleet did not stop within {timeout_s:g} s")
        return self._report

    @property
    def received(self) -> int:
        """Messages the check has received so far (read from the serving thread's count)."""
        return self._check.received if self._check is not None else 0

    @property
    def running(self) -> bool:
        """Whether it is still serving."""
        return self._thread.is_alive()

    def _up(self, check: GatewayCheck) -> None:
        self._check = check
        self._ready.set()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._report = self._loop.run_until_complete(
                serve_and_check(
                    self.scenario,
                    broker_url=self.broker_url,
                    hint_path=self.hint_path,
                    thresholds=self._thresholds,
                    announce=self.lines.append,
                    ready=self._up,
                    stop=self._stop,
                )
            )
        except BaseException as exc:  # handed to the test's thread by start() or stop()
            self._error = exc
        finally:
            self._ready.set()
            self._loop.close()
