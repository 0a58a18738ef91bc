"""The capacity report: every step of a ``factory-sim capacity`` search and what it found.

A step is one run at one load (:class:`CapacityStep`); :func:`capacity_report` turns the steps
into the JSON report (``highest_held`` is the answer: the highest load that held every SLO,
``lowest_broken`` the lowest that did not), :func:`capacity_lines` into the summary, and
:func:`render_capacity_html` into a self-contained page with a table and a chart drawn here as
SVG (latency p99 and achieved rate against the load; held steps green, broken red).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from simulator.report.html import asset, embed_json

CAPACITY_FORMAT = 1
"""Version of the capacity report's layout."""


@dataclass(frozen=True, slots=True)
class CapacityStep:
    """One run of the search, and what it showed."""

    number: int
    load: float
    """Offered messages per second (``rate``) or devices (``devices``)."""
    held: bool
    broken: tuple[str, ...]
    """Why it did not hold: the SLOs that broke, and the run's own problems."""
    report: Mapping[str, Any]
    """The step's run report."""


def capacity_report(
    scenario: str, by: str, slos: Sequence[str], steps: Sequence[CapacityStep]
) -> dict[str, Any]:
    """The search as JSON: its settings, the answer, and each step's main figures."""
    held = [step.load for step in steps if step.held]
    broken = [step.load for step in steps if not step.held]
    return {
        "format": CAPACITY_FORMAT,
        "scenario": scenario,
        "by": by,
        "slos": list(slos),
        "highest_held": max(held) if held else None,
        "lowest_broken": min(broken) if broken else None,
        "steps": [_step(step) for step in steps],
    }


def _step(step: CapacityStep) -> dict[str, Any]:
    report = step.report
    return {
        "number": step.number,
        "load": step.load,
        "held": step.held,
        "broken": list(step.broken),
        "devices_connected": report["devices"]["connected"],
        "published_per_s": report["throughput"]["published_per_s"],
        "ingested_per_s": report["throughput"]["ingested_per_s"],
        "latency_ms_p50": report["latency_ms"]["p50"],
        "latency_ms_p99": report["latency_ms"]["p99"],
        "lost": report["messages"]["lost"],
        "run_id": report.get("run", {}).get("id"),
    }


def _load(value: float | None, by: str) -> str:
    if value is None:
        return "none"
    return f"{value:,.0f} devices" if by == "devices" else f"{value:,.0f} msg/s"


def capacity_lines(capacity: Mapping[str, Any]) -> list[str]:
    """The search in a few lines: each step, then the answer."""
    by = capacity["by"]
    lines = [f"capacity of {capacity['scenario']} by {by}, SLOs: {', '.join(capacity['slos'])}"]
    for step in capacity["steps"]:
        verdict = "held" if step["held"] else "broke: " + "; ".join(step["broken"])
        p99 = step["latency_ms_p99"]
        lines.append(
            f"  step {step['number']}: {_load(step['load'], by)}, published "
            f"{_num(step['published_per_s'])} msg/s, p99 {_num(p99)} ms: {verdict}"
        )
    lines.append(
        f"  highest that held: {_load(capacity['highest_held'], by)}; lowest that broke: "
        f"{_load(capacity['lowest_broken'], by)}"
    )
    return lines


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:,.1f}"


_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 720, 300, 64, 64, 16, 40


def _chart(capacity: Mapping[str, Any]) -> str:
    """Latency p99 (left axis) and published msg/s (right axis) against the load."""
    steps = sorted(capacity["steps"], key=lambda step: step["load"])
    if not steps:
        return "<p class='note'>No steps ran.</p>"
    loads: list[float] = [step["load"] for step in steps]
    p99s: list[float] = [step["latency_ms_p99"] or 0.0 for step in steps]
    rates: list[float] = [step["published_per_s"] or 0.0 for step in steps]
    x_max, y_max, r_max = max(loads) * 1.05, max(p99s) * 1.1 or 1.0, max(rates) * 1.1 or 1.0
    width, height = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(value: float) -> float:
        return _LEFT + value / x_max * width

    def y(value: float, top: float) -> float:
        return _TOP + height - value / top * height

    parts = [
        f"<svg viewBox='0 0 {_W} {_H}' role='img' aria-label='latency and rate by load'>",
        f"<line class='axis' x1='{_LEFT}' y1='{_TOP + height}' x2='{_LEFT + width}' "
        f"y2='{_TOP + height}'/>",
        f"<text x='{_LEFT + width / 2}' y='{_H - 8}' text-anchor='middle'>"
        f"{escape(capacity['by'])} (load)</text>",
        f"<text x='4' y='{_TOP + 10}'>p99 ms (max {y_max / 1.1:,.0f})</text>",
        f"<text x='{_W - 4}' y='{_TOP + 10}' text-anchor='end'>"
        f"msg/s (max {r_max / 1.1:,.0f})</text>",
    ]
    latency = " ".join(
        f"{x(load):.1f},{y(p99, y_max):.1f}" for load, p99 in zip(loads, p99s, strict=True)
    )
    rate = " ".join(
        f"{x(load):.1f},{y(r, r_max):.1f}" for load, r in zip(loads, rates, strict=True)
    )
    parts.append(f"<polyline class='s' fill='none' stroke='#b3261e' points='{latency}'/>")
    parts.append(
        f"<polyline class='s' fill='none' stroke='#2458a6' stroke-dasharray='4 3' points='{rate}'/>"
    )
    for step, load, p99 in zip(steps, loads, p99s, strict=True):
        colour = "#1e7b34" if step["held"] else "#b3261e"
        parts.append(
            f"<circle cx='{x(load):.1f}' cy='{y(p99, y_max):.1f}' r='4' fill='{colour}'>"
            f"<title>step {step['number']}: {load:,.0f}, p99 {p99:,.1f} ms</title></circle>"
        )
        parts.append(
            f"<text x='{x(load):.1f}' y='{_TOP + height + 14}' text-anchor='middle'>"
            f"{load:,.0f}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def render_capacity_html(capacity: Mapping[str, Any]) -> str:
    """The search as one self-contained page: the answer, the chart, the steps."""
    by = capacity["by"]
    rows = "".join(
        f"<tr><td>{step['number']}</td><td class='v'>{_load(step['load'], by)}</td>"
        f"<td class='v'>{_num(step['published_per_s'])}</td>"
        f"<td class='v'>{_num(step['latency_ms_p99'])}</td>"
        f"<td class='{'pass' if step['held'] else 'fail'}'>"
        f"{'held' if step['held'] else escape('; '.join(step['broken']))}</td></tr>"
        for step in capacity["steps"]
    )
    title = escape(f"capacity of {capacity['scenario']}")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\">"
        f"<title>{title}</title><style>{asset('report.css')}</style></head><body>"
        f"<h1>{title}</h1><p class='sub'>by {escape(by)}; SLOs: "
        f"{escape(', '.join(capacity['slos']))}</p>"
        f"<p class='status'>highest that held: <b>{_load(capacity['highest_held'], by)}</b>; "
        f"lowest that broke: <b>{_load(capacity['lowest_broken'], by)}</b></p>"
        f"<figure><figcaption>latency p99 (red) and published msg/s (blue, dashed) by load"
        f"</figcaption>{_chart(capacity)}</figure>"
        "<h2>Steps</h2><table><tr><th>step</th><th>load</th><th>published msg/s</th>"
        f"<th>p99 ms</th><th>verdict</th></tr>{rows}</table>"
        f"<script type='application/json' id='capacity-data'>{embed_json(capacity)}</script>"
        "</body></html>"
    )


def write_capacity_html(capacity: Mapping[str, Any], path: Path) -> None:
    """Write :func:`render_capacity_html` to ``path``."""
    path.write_text(render_capacity_html(capacity), encoding="utf-8")
