"""Whether onboarding and publishing kept to their plan, and if not, what held them back.

The plan starts connect ``i`` at ``OnboardingPlan.start_s(i)``; the last is due ``planned_s``
after the first. Onboarding kept to it when the last connection was up within 5 % of that
(plus the connect time itself, p99: the last connect takes as long as any). A plan shorter than
:data:`JUDGED_FROM_S` is not judged: a few milliseconds of scheduling decide it.

When it fell behind, the likeliest reason is named, in the order they are checked:

1. the in-flight bound: at most ``max_in_flight`` connects are pending at once, so connects
   that take ``t`` seconds (p50) cap the rate at ``max_in_flight / t``;
2. retries: failed connects tried again after their backoff;
3. otherwise the simulator itself: its event loop could not start the connects on time
   (publishing and registrations share the core with it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

TOLERANCE = 0.05
"""How far behind plan onboarding may end and still count as kept."""

JUDGED_FROM_S = 1.0
"""Plans shorter than this are not judged."""


class PlanSection(TypedDict):
    """``onboarding.plan`` in the report."""

    connections: int
    planned_s: float
    planned_rate_per_s: float | None
    achieved_s: float
    achieved_rate_per_s: float | None
    max_in_flight: int
    """Connects that could be pending at once (summed over a merged run's slices)."""
    retries: int
    """Connect tries that failed and were tried again."""
    kept: bool | None
    """None: too short a plan to judge, or nothing connected."""
    behind: str | None
    """Why it fell behind, in a sentence (None when kept or not judged)."""


def onboarding_plan(
    *,
    connections: int,
    connected: int,
    planned_s: float,
    achieved_s: float,
    max_in_flight: int,
    connect_p50_ms: float | None,
    connect_p99_ms: float | None,
    retries: int,
) -> PlanSection:
    """The plan and what was achieved: ``connections`` planned to start over ``planned_s``,
    ``connected`` of them up ``achieved_s`` after the first started."""
    planned_rate = round(connections / planned_s, 1) if planned_s > 0 else None
    achieved_rate = round(connected / achieved_s, 1) if achieved_s > 0 else None
    section: PlanSection = {
        "connections": connections,
        "planned_s": round(planned_s, 3),
        "planned_rate_per_s": planned_rate,
        "achieved_s": round(achieved_s, 3),
        "achieved_rate_per_s": achieved_rate,
        "max_in_flight": max_in_flight,
        "retries": retries,
        "kept": None,
        "behind": None,
    }
    if planned_s < JUDGED_FROM_S or not connected or connect_p99_ms is None:
        return section
    allowed_s = planned_s * (1 + TOLERANCE) + connect_p99_ms / 1000
    section["kept"] = achieved_s <= allowed_s
    if section["kept"]:
        return section
    lag = f"{achieved_s:,.1f} s instead of {planned_s:,.1f} s"
    if planned_rate is not None and connect_p50_ms:
        bound = max_in_flight / (connect_p50_ms / 1000)
        if bound < planned_rate * (1 - TOLERANCE):
            section["behind"] = (
                f"onboarding took {lag}: at most [onboarding] max_in_flight = {max_in_flight} "
                f"connects are pending at once and each took {connect_p50_ms:,.0f} ms (p50), "
                f"so at most {bound:,.0f} of the planned {planned_rate:,.0f} connects/s; raise "
                "max_in_flight, or find why the broker answers CONNECT slowly"
            )
            return section
    if retries:
        section["behind"] = (
            f"onboarding took {lag}: {retries:,} connects failed and were tried again after "
            "their backoff"
        )
        return section
    section["behind"] = (
        f"onboarding took {lag}: the simulator could not start connects on time (its event "
        "loop was busy; see cpu_percent in the time series)"
    )
    return section


class PublishingPlan(TypedDict):
    """``throughput.plan`` in the report: the steady publishing rate planned and achieved."""

    planned_per_s: float
    achieved_per_s: float | None
    """The mean of the publishing phase's samples (None: no sample in that phase)."""
    kept: bool | None
    behind: str | None


def publishing_plan(
    planned_per_s: float, samples: Sequence[Mapping[str, Any]], *, overrun: int
) -> PublishingPlan:
    """The rate the connected fleet should publish at, against the publishing phase's samples
    (onboarding and draining left out). When it fell short by more than :data:`TOLERANCE`,
    one sentence says whether the simulator fell behind its own schedule (``overrun``: sends
    that ran late) or kept it while the messages still did not go out as fast."""
    steady = [s["published_per_s"] for s in samples if s.get("phase") == "publishing"]
    achieved = round(sum(steady) / len(steady), 1) if steady else None
    section: PublishingPlan = {
        "planned_per_s": round(planned_per_s, 1),
        "achieved_per_s": achieved,
        "kept": None,
        "behind": None,
    }
    if achieved is None or planned_per_s <= 0:
        return section
    section["kept"] = achieved >= planned_per_s * (1 - TOLERANCE)
    if section["kept"]:
        return section
    cpu = [s["cpu_percent"] for s in samples if s.get("phase") == "publishing"]
    lag = f"published {achieved:,.0f} of the planned {planned_per_s:,.0f} msg/s"
    if overrun:
        section["behind"] = (
            f"{lag}: the simulator fell behind its own schedule ({overrun:,} sends ran late; "
            f"its CPU was up to {max(cpu):.0f} % of a core), so this is the simulator's limit, "
            "not the platform's: use more worker processes (--workers)"
        )
    else:
        section["behind"] = (
            f"{lag} although the simulator kept its schedule: the connections did not take "
            "the messages as fast (the broker, the network, or QoS 1/2 in-flight windows)"
        )
    return section
