"""Live control of a running run: the offered rate, pause and resume, faults on demand.

The live dashboard (``--web``) takes a change as ``POST /control`` with a JSON body
(:mod:`simulator.live.web`) and hands it to :meth:`RunControl.apply`:

==============================================  ==============================================
``{"action": "rate", "msg_rate_per_s": 5000}``  the fleet offers this many messages per second
``{"action": "rate", "factor": 0.5}``           the scenario's own rate times this
``{"action": "pause"}``                         no messages until resumed (connections stay up)
``{"action": "resume"}``                        the rate in force before the pause again
``{"action": "fault", "fault": {...}}``         a ``[[faults]]`` entry, carried out now
==============================================  ==============================================

A fault request may say when the report plans it (``"at_s"``, seconds into the run): how a
coordinator of ``run --workers`` hands its workers one fault (see
:mod:`simulator.coordinator.control`), which paces and triggers here are its workers'.

The rate is the scenario's own scaled by one factor on every group's
:class:`~simulator.engine.pacing.Pace` (the mechanism ``[[stages]]`` use), so a run that has
stages follows them and refuses rate changes; faults go to the run's
:class:`~simulator.faults.FaultTimeline`. Every change, and every refusal, is kept as a
:class:`ControlEvent` for the report's ``control`` list, at ``t_s`` on the time series' clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import TypeAdapter, ValidationError

from simulator.metrics.faults import FaultRecord
from simulator.report.schema import ControlEvent
from simulator.scenario.faults import FaultSettings

ACTIONS = ("rate", "pause", "resume", "fault")
"""What a control request may ask for."""

_FAULT: TypeAdapter[FaultSettings] = TypeAdapter(FaultSettings)


class Paced(Protocol):
    """What sets a rate factor: a group's :class:`~simulator.engine.pacing.Pace`, or a
    coordinator's workers."""

    def set(self, t_s: float, factor: float) -> None:
        """From fleet time ``t_s`` on, offer ``factor`` times the scenario's rate."""


class Triggers(Protocol):
    """What carries out a fault now: a :class:`~simulator.faults.FaultTimeline`, or a
    coordinator's workers and its own timeline."""

    def trigger(self, fault: FaultSettings, at_s: float | None = None) -> FaultRecord:
        """Carry ``fault`` out now; its record, planned at ``at_s`` (None: now)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What a control request got: HTTP-like ``status`` and a sentence."""

    status: int
    message: str


class RunControl:
    """Applies control requests to a running fleet and its fault timeline."""

    def __init__(
        self,
        paces: Sequence[Paced],
        full_rate_per_s: float,
        timeline: Triggers | None,
        *,
        run_time_s: Callable[[], float],
        fleet_time_s: Callable[[], float],
        staged: bool = False,
    ) -> None:
        """``paces`` are the fleet's groups' (empty: the rate cannot be changed); at factor 1
        the fleet offers ``full_rate_per_s``. ``run_time_s`` is the time series' clock,
        ``fleet_time_s`` the paces'. A ``staged`` run's rate is its stages'."""
        self._paces = paces
        self._full_rate = full_rate_per_s
        self._timeline = timeline
        self._run_time_s = run_time_s
        self._fleet_time_s = fleet_time_s
        self._staged = staged
        self._factor = 1.0
        self._paused = False
        self.events: list[ControlEvent] = []
        """Every request, in order."""

    def apply(self, request: Mapping[str, Any]) -> Answer:
        """Carry out one request (see the module docstring); the answer says what happened."""
        action = request.get("action")
        if action == "fault":
            answer = self._fault(request.get("fault"), request.get("at_s"))
        elif action in ("rate", "pause", "resume"):
            answer = self._pace(str(action), request)
        else:
            answer = Answer(400, f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
        self.events.append(
            {
                "t_s": round(self._run_time_s(), 3),
                "action": str(action),
                "detail": answer.message,
                "ok": answer.status == 200,
            }
        )
        return answer

    def _pace(self, action: str, request: Mapping[str, Any]) -> Answer:
        if self._staged:
            return Answer(409, "this run's rate follows its [[stages]]; it cannot be changed")
        if not self._paces:
            return Answer(409, "this run's rate cannot be changed (no fleet publishing here)")
        if action == "pause":
            self._paused = True
            self._set(0.0)
            return Answer(200, "publishing paused")
        if action == "resume":
            self._paused = False
            self._set(self._factor)
            return Answer(200, f"publishing resumed at {self._factor * self._full_rate:,.0f} msg/s")
        key = "factor" if "factor" in request else "msg_rate_per_s"
        value = _number(request.get(key))
        if value is None:
            return Answer(400, f"{key} must be a number >= 0, got {request.get(key)!r}")
        if key == "factor":
            self._factor = value
            rate = value * self._full_rate
        else:
            rate = value
            self._factor = rate / self._full_rate if self._full_rate > 0 else 0.0
        if not self._paused:
            self._set(self._factor)
        said = " (applies on resume)" if self._paused else ""
        return Answer(200, f"offered rate set to {rate:,.0f} msg/s{said}")

    def _set(self, factor: float) -> None:
        now = self._fleet_time_s()
        for pace in self._paces:
            pace.set(now, factor)

    def _fault(self, table: object, at_s: object) -> Answer:
        planned = _number(at_s)
        if at_s is not None and planned is None:
            return Answer(400, f"at_s must be a number >= 0, got {at_s!r}")
        if self._timeline is None:
            return Answer(409, "this run has no fault timeline (a slice without the fleet?)")
        if not isinstance(table, Mapping):
            return Answer(400, "fault must be a table, as a [[faults]] entry")
        try:
            fault = _FAULT.validate_python({"at_s": 0.0, **table})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, error['loc'])) or 'fault'}: {error['msg']}"
                for error in exc.errors()
            )
            return Answer(400, f"not a fault: {problems}")
        record = self._timeline.trigger(fault, planned)
        return Answer(200, f"{fault.kind} triggered at {record.at_s:g} s")


def _number(value: object) -> float | None:
    """``value`` if it is a number >= 0 (not a bool), else None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None
