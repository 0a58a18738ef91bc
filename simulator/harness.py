"""Running a fleet from Python and asserting on its report: the API behind the pytest plugin.

A platform team tests its own system (a gateway, a bridge, an ingest pipeline) by pointing a
simulated fleet at the broker that system listens to, then asserting on what the run measured::

    report = run_fleet("mqtt://127.0.0.1:1883", devices=50, duration_s=2.0)
    assert report.devices.connected == 50
    assert report.messages.lost == 0
    assert report["latency_ms.p99"] < 250

:func:`run_fleet` builds a scenario with :func:`~simulator.scenario.validate_scenario` (so bad
arguments raise the usual :class:`~simulator.errors.ScenarioError` listing every problem) and
runs it with :class:`~simulator.runner.Runner` in a fresh event loop; :func:`run_fleet_async`
is the same for code that already runs in a loop. :class:`Report` wraps the JSON report (see
:mod:`simulator.report.json_report` for its keys) for attribute and dotted-path access.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TextIO, TypeVar

from simulator.errors import HarnessError, ReportKeyError

T = TypeVar("T")
P = ParamSpec("P")

DEFAULT_NAME = "harness"
"""The scenario name of a run that is given none."""

DEFAULT_SOURCE = "run_fleet()"
"""Where a harness run's settings come from, as its problems and its report name it."""


class ReportSection:
    """One table of a report: its keys read as attributes or as dotted paths.

    A nested table comes back as another :class:`ReportSection`; any other value (numbers,
    strings, ``None`` for a figure that was not measured, lists) comes back as stored.
    A section compares equal to the plain dict it wraps.
    """

    __slots__ = ("_data", "_path")

    def __init__(self, data: Mapping[str, Any], path: str = "") -> None:
        self._data = data
        self._path = path

    @property
    def raw(self) -> Mapping[str, Any]:
        """The wrapped dict itself, not a copy."""
        return self._data

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails, so slots and methods are never shadowed;
        # private and dunder names are refused so copy, pickle and friends see a plain miss.
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, dotted: str) -> Any:
        """The value at ``dotted`` (``"latency_ms.p99"``) below this section.

        A path part that is a whole number indexes a list (``"timeseries.0.t"``).

        Raises:
            ReportKeyError: naming the path that is missing and the keys that exist there.
        """
        value: Any = self._data
        walked = self._path
        for part in dotted.split("."):
            here = walked or "the report"
            if isinstance(value, dict):
                if part not in value:
                    keys = ", ".join(sorted(map(str, value))) or "(none)"
                    raise ReportKeyError(f"{here} has no key {part!r}; it has: {keys}")
                value = value[part]
            elif isinstance(value, list) and part.isdigit():
                if int(part) >= len(value):
                    raise ReportKeyError(f"{here} has {len(value)} items, no item {part}")
                value = value[int(part)]
            else:
                raise ReportKeyError(f"{here} is {value!r}, which has no key {part!r}")
            walked = f"{walked}.{part}" if walked else part
        if isinstance(value, dict):
            return ReportSection(value, walked)
        return value

    def get(self, dotted: str, default: Any = None) -> Any:
        """The value at ``dotted``, or ``default`` when the report has none there."""
        try:
            return self[dotted]
        except ReportKeyError:
            return default

    def __contains__(self, dotted: object) -> bool:
        if not isinstance(dotted, str):
            return False
        try:
            self[dotted]
        except ReportKeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __dir__(self) -> list[str]:
        identifiers = [key for key in self._data if isinstance(key, str) and key.isidentifier()]
        return sorted({*super().__dir__(), *identifiers})

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ReportSection):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to a dict, so unhashable like one

    def __repr__(self) -> str:
        return f"<report {self._path}: {self._data!r}>"


class Report(ReportSection):
    """A run's JSON report as an object to assert on.

    ``report.messages.lost``, ``report["latency_ms.p99"]`` and ``report.raw`` (the dict) all
    read the same report; :attr:`problems` says why the command line would exit non-zero.
    """

    __slots__ = ()

    def __init__(self, raw: Mapping[str, Any]) -> None:
        super().__init__(raw)

    @classmethod
    def load(cls, path: str | Path) -> Report:
        """Read a report that ``factory-sim run --report PATH`` wrote.

        Raises:
            HarnessError: when the file cannot be read or is not a JSON object.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise HarnessError(f"cannot read a report from {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise HarnessError(f"{path} holds a JSON {type(data).__name__}, not a report object")
        return cls(data)

    @property
    def problems(self) -> list[str]:
        """Failed or dropped devices, lost or malformed messages: one sentence each."""
        from simulator.report.json_report import problems

        return problems(self.raw)

    @property
    def ok(self) -> bool:
        """Whether every device onboarded and every message is accounted for."""
        return not self.problems

    def summary(self) -> str:
        """The human summary the command line prints at the end of a run."""
        from simulator.report.summary import summary_lines

        return "\n".join(summary_lines(self.raw))

    def __repr__(self) -> str:
        # The whole report holds settings and a time series; the repr shows what a failed
        # assertion needs to be read, and ``raw`` has the rest.
        data = self._data
        try:
            devices, messages, latency = data["devices"], data["messages"], data["latency_ms"]
            return (
                f"<Report {data['scenario']}: devices {devices['connected']}/{devices['target']} "
                f"connected, {devices['failed']} failed; messages {messages['published']} "
                f"published, {messages['ingested']} ingested, {messages['lost']} lost, "
                f"{messages['duplicated']} duplicated; latency p99 {latency['p99']} ms>"
            )
        except (KeyError, TypeError):
            return f"<Report {data!r}>"


@dataclass(frozen=True, slots=True)
class BrokerEndpoint:
    """Where a broker listens, as the ``factory_broker`` fixture hands it out."""

    url: str
    """``mqtt://host:port``, ready for :func:`run_fleet`."""
    host: str
    """Host name or IP address, without IPv6 brackets."""
    port: int
    """TCP port."""
    started: bool
    """Whether this test session started the broker (``False`` when it was given)."""


def scenario_data(
    broker_url: str,
    *,
    name: str = DEFAULT_NAME,
    devices: int = 100,
    model: str = "machine-sensor",
    interval_s: float = 0.5,
    duration_s: float = 3.0,
    mqtt_version: str = "5",
    payload: str = "msgpack",
    topic: str | None = None,
    ingest: bool = True,
    sqlite_path: str | Path | None = None,
    scenario: Mapping[str, Any] | None = None,
    **table_overrides: Any,
) -> dict[str, Any]:
    """The raw scenario :func:`run_fleet` validates, from general to specific.

    The named arguments give the defaults; ``scenario`` (as ``tomllib`` parses a scenario
    file) replaces any of them it sets; ``broker_url`` always names the broker; and each
    keyword in ``table_overrides`` is either a table given as a mapping, whose keys replace
    that table's (``onboarding={"rate_per_s": 500}``), or a top-level key (``seed=7``).
    Unknown keys are left in for validation to report.
    """
    fleet: dict[str, Any] = {
        "devices": devices,
        "model": model,
        "publish_interval_s": interval_s,
        "payload": payload,
    }
    if topic is not None:
        fleet["topic"] = topic
    ingest_table: dict[str, Any] = {"enabled": ingest}
    if sqlite_path is not None:
        ingest_table["sqlite_path"] = str(sqlite_path)
    data: dict[str, Any] = {
        "name": name,
        "duration_s": duration_s,
        "broker": {"mqtt_version": mqtt_version},
        "fleet": fleet,
        "ingest": ingest_table,
    }
    if scenario is not None:
        data = _merged(data, scenario)
    data = _merged(data, {"broker": {"url": broker_url}})
    return _merged(data, table_overrides)


def _merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` laid on top, table by table; neither is changed."""
    merged = dict(base)
    for key, value in over.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[key] = _merged(below, value)
        else:
            merged[key] = value
    return merged


async def run_fleet_async(
    broker_url: str,
    *,
    devices: int = 100,
    model: str = "machine-sensor",
    interval_s: float = 0.5,
    duration_s: float = 3.0,
    mqtt_version: str = "5",
    payload: str = "msgpack",
    topic: str | None = None,
    ingest: bool = True,
    sqlite_path: str | Path | None = None,
    scenario: Mapping[str, Any] | None = None,
    name: str = DEFAULT_NAME,
    source: str = DEFAULT_SOURCE,
    out: TextIO | None = None,
    quiet: bool = False,
    **table_overrides: Any,
) -> Report:
    """Run a fleet against ``broker_url`` in the running event loop; see :func:`run_fleet`."""
    from simulator.config import resolve_run_config
    from simulator.runner import Runner
    from simulator.scenario import validate_scenario

    data = scenario_data(
        broker_url,
        devices=devices,
        model=model,
        interval_s=interval_s,
        duration_s=duration_s,
        mqtt_version=mqtt_version,
        payload=payload,
        topic=topic,
        ingest=ingest,
        sqlite_path=sqlite_path,
        scenario=scenario,
        name=name,
        **table_overrides,
    )
    with tempfile.TemporaryDirectory(prefix="factory-sim-harness-") as scratch:
        table = data.get("ingest")
        if isinstance(table, dict) and table.get("enabled", True) and not table.get("sqlite_path"):
            # The scenario's own default is runs/<name>.sqlite under the working directory,
            # which a test must not litter; rows nobody asked to keep go away with the run.
            data["ingest"] = {**table, "sqlite_path": str(Path(scratch) / "ingest.sqlite")}
        built = validate_scenario(data, source)
        config = resolve_run_config(built, source, now_ns=time.time_ns(), quiet=quiet)
        runner = Runner(config, out=sys.stderr if out is None else out)
        return Report(await runner.run())


def _blocking(run: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """``run`` as a call that blocks until it is done, in a fresh event loop of its own."""

    @functools.wraps(run)  # the signature help() shows is ``run``'s
    def blocking(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise HarnessError(
                f"{blocking.__name__}() blocks, so it cannot run inside a running event loop "
                f"(an async test?); await {run.__name__}(...) there instead"
            )
        return _run_in_fresh_loop(run(*args, **kwargs))

    return blocking


run_fleet = _blocking(run_fleet_async)
run_fleet.__name__ = run_fleet.__qualname__ = "run_fleet"
run_fleet.__doc__ = """Run a fleet against ``broker_url``; return its report once the run is done.

Takes the arguments of :func:`run_fleet_async`. ``devices`` devices of ``model`` onboard,
publish every ``interval_s`` for ``duration_s`` after the last one onboarded, and (with
``ingest``) an ingest worker accounts for every message into ``sqlite_path`` (a temporary
file removed after the run when ``None``). ``scenario`` and ``table_overrides`` set anything
else; see :func:`scenario_data` for which value wins. ``name`` is the scenario's name (it names
the ingest client), ``source`` names the run in problems and in the report's
``scenario_path``. The live view goes to ``out`` (standard error by default) unless ``quiet``.
Everything the run starts is stopped before this returns.

Runs in a fresh event loop (uvloop when installed); inside a running loop, await
:func:`run_fleet_async` instead.

Raises:
    ScenarioError: listing every problem with the arguments at once.
    ConnectError: when the broker cannot be reached.
    ResourceLimitError: when the fleet cannot fit in this process's open-file limit.
    HarnessError: when called from inside a running event loop.
"""


def _run_in_fresh_loop(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)
