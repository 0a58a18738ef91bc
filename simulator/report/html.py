"""The HTML report: one self-contained page that is both the archived report and the live view.

:func:`render_html` fills ``assets/report.html`` with the run's summary and settings as
tables (rendered here, so they read without scripts), the report itself as JSON in a
``<script type="application/json" id="run-data">`` block, and ``assets/report.js``, a small
hand-written script that draws the time series as SVG line charts. Nothing is loaded from
anywhere else: plants are often air-gapped, and the page's content security policy forbids it.

With ``live=True`` the same page is what :class:`simulator.live.web.LiveDashboard` serves: the
script then fetches ``data`` every second and redraws, and swaps in freshly rendered tables when
the figures outside the time series change. What a user watched and what they archive are
drawn by the same code.

Everything taken from the report is escaped; inside the JSON block ``<``, ``>`` and ``&`` are
written as ``\\u003c``-style escapes, so a scenario name such as ``</script>`` cannot end it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from html import escape
from importlib.resources import files
from pathlib import Path
from typing import Any

Formatter = Callable[[Any], str]

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_URL_PASSWORD = re.compile(r"(://[^/:@\s\"]*:)[^@/\s\"]*@")
_JSON_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}
_MISSING = object()


@cache
def asset(name: str) -> str:
    """The text of one of the page's files in ``assets/`` (read once)."""
    return (files("simulator.report") / "assets" / name).read_text(encoding="utf-8")


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def _decimal(value: Any) -> str:
    return f"{value:,.1f}"


def _ms(value: Any) -> str:
    return f"{value:,.2f} ms"


def _seconds(value: Any) -> str:
    return f"{value:,.1f} s"


def _mib(value: Any) -> str:
    return f"{value / 2**20:,.1f} MiB"


def _bytes(value: Any) -> str:
    return f"{value:,} B"


def _text(value: Any) -> str:
    return mask_password(str(value))


SUMMARY: tuple[tuple[tuple[str, tuple[tuple[str, str, Formatter], ...]], ...], ...] = (
    (
        (
            "Devices",
            (
                ("target", "devices.target", _count),
                ("connected", "devices.connected", _count),
                ("failed", "devices.failed", _count),
                ("dropped after connect", "devices.dropped_after_connect", _count),
            ),
        ),
        (
            "Onboarding",
            (
                ("duration", "onboarding.duration_s", _seconds),
                ("connect rate (devices/s)", "onboarding.connect_rate_per_s", _decimal),
                ("connect p50", "onboarding.connect_ms.p50", _ms),
                ("connect p99", "onboarding.connect_ms.p99", _ms),
                ("connect max", "onboarding.connect_ms.max", _ms),
            ),
        ),
        (
            "Memory",
            (
                ("RSS per connected device", "process.rss_bytes_per_device", _bytes),
                ("baseline RSS", "process.baseline_rss_bytes", _mib),
                ("peak RSS", "process.peak_rss_bytes", _mib),
            ),
        ),
    ),
    (
        (
            "Messages",
            (
                ("published", "messages.published", _count),
                ("ingested", "messages.ingested", _count),
                ("lost", "messages.lost", _count),
                ("duplicated", "messages.duplicated", _count),
                ("out of order", "messages.out_of_order", _count),
                ("malformed", "messages.malformed", _count),
                ("sent late (overrun)", "messages.overrun", _count),
            ),
        ),
        (
            "Sink",
            (
                ("kind", "sink.kind", _text),
                ("rows", "sink.rows", _count),
                ("drain", "drain_s", _seconds),
            ),
        ),
    ),
    (
        (
            "Throughput",
            (
                ("publish window", "duration_s", _seconds),
                ("published (msg/s)", "throughput.published_per_s", _decimal),
                ("ingested (msg/s)", "throughput.ingested_per_s", _decimal),
            ),
        ),
        (
            "Latency (end to end)",
            (
                ("p50", "latency_ms.p50", _ms),
                ("p90", "latency_ms.p90", _ms),
                ("p99", "latency_ms.p99", _ms),
                ("max", "latency_ms.max", _ms),
            ),
        ),
    ),
)
"""The summary: columns of sections, each with rows of (label, dotted report path, format)."""


def mask_password(text: str) -> str:
    """``text`` with the password of any ``scheme://user:password@`` URL replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\1***@", text)


def public_data(report: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``report`` fit to show: URL passwords masked everywhere but in the time series.

    The time series holds numbers and phase names only, so it is passed through uncopied: this
    runs once per dashboard request and must not cost more as the run grows.
    """
    return {k: v if k == "timeseries" else _masked(v) for k, v in report.items()}


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_password(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


def _lookup(report: Mapping[str, Any], dotted: str) -> Any:
    value: Any = report
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _cell(value: Any, formatter: Formatter) -> str:
    # A figure the run could not measure is null in the report; one it has not reached yet
    # (a live run still onboarding) is absent.
    if value is _MISSING:
        return "&ndash;"
    if value is None:
        return "not measured"
    try:
        return escape(formatter(value))
    except (TypeError, ValueError):
        return escape(_text(value))


def _summary_html(report: Mapping[str, Any]) -> str:
    tables = []
    for column in SUMMARY:
        rows: list[str] = []
        for section, entries in column:
            rows.append(f'<tr><th colspan="2">{section}</th></tr>')
            rows.extend(
                f'<tr><td>{label}</td><td class="v">{_cell(_lookup(report, path), fmt)}</td></tr>'
                for label, path, fmt in entries
            )
        tables.append(f"<table>{''.join(rows)}</table>")
    parts = ['<section id="summary" data-swap>', "<h2>Summary</h2>"]
    parts.append(f'<div class="grid">{"".join(tables)}</div>')
    parts.extend(_funnel_html(report.get("onboarding")))
    stages = report.get("stages")
    if isinstance(stages, list):
        stages = [{**s, "behind": s.get("behind") or "kept to plan"} for s in stages]
    parts.extend(_rows_html("Stages", STAGE_COLUMNS, stages))
    groups = report.get("groups")
    if isinstance(groups, list) and len(groups) > 1:
        parts.extend(_rows_html("Fleet groups", GROUP_COLUMNS, groups))
    parts.extend(_thresholds_html(report.get("thresholds")))
    notes = report.get("notes") or []
    if notes:
        items = "".join(f"<li>{escape(_text(note))}</li>" for note in notes)
        parts.append(f"<h2>Notes</h2><ul>{items}</ul>")
    parts.append("</section>")
    return "\n".join(parts)


FUNNEL_COLUMNS = ("reached", "rejected", "timeouts", "failed", "pending", "retries")


def _funnel_html(onboarding: Any) -> Iterator[str]:
    """The onboarding funnel, a row per stage, for the ``register`` workflow."""
    if not isinstance(onboarding, dict) or onboarding.get("workflow") != "register":
        return
    funnel = onboarding.get("funnel")
    if not isinstance(funnel, dict) or not funnel:
        return
    yield "<h2>Onboarding funnel</h2>"
    head = "".join(f"<th>{name}</th>" for name in (*FUNNEL_COLUMNS, "p50", "p99"))
    rows = [f"<table><tr><th>stage (devices; time from the connection attempt)</th>{head}</tr>"]
    for name, stage in funnel.items():
        if not isinstance(stage, dict):
            continue
        cells = "".join(
            f'<td class="v">{_cell(stage.get(column), _count)}</td>' for column in FUNNEL_COLUMNS
        )
        times = "".join(
            f'<td class="v">{_cell(stage.get(key), _ms)}</td>' for key in ("p50_ms", "p99_ms")
        )
        rows.append(f"<tr><td>{escape(_text(name))}</td>{cells}{times}</tr>")
    rows.append("</table>")
    yield "".join(rows)


STAGE_COLUMNS: tuple[tuple[str, str, Formatter], ...] = (
    ("stage", "number", _count),
    ("from", "start_s", _seconds),
    ("to", "end_s", _seconds),
    ("devices planned", "devices_planned", _count),
    ("devices", "devices_achieved", _count),
    ("msg/s planned", "msg_rate_planned_per_s", _decimal),
    ("msg/s", "msg_rate_achieved_per_s", _decimal),
    ("ingested", "ingested", _count),
    ("lost", "lost", _count),
    ("p50", "latency_ms_p50", _ms),
    ("p99", "latency_ms_p99", _ms),
    ("behind plan", "behind", _text),
)
"""The stages table: per ``[[stages]]`` entry, planned against achieved."""

GROUP_COLUMNS: tuple[tuple[str, str, Formatter], ...] = (
    ("model", "model", _text),
    ("payload", "payload", _text),
    ("connection", "connection", _text),
    ("interval", "interval_s", _seconds),
    ("devices", "devices", _count),
    ("published", "published", _count),
    ("ingested", "ingested", _count),
    ("lost", "lost", _count),
    ("p50", "latency_ms_p50", _ms),
    ("p99", "latency_ms_p99", _ms),
)
"""The fleet groups table, for a fleet of several."""


def _rows_html(
    title: str, columns: tuple[tuple[str, str, Formatter], ...], rows: Any
) -> Iterator[str]:
    """A table of report entries (stages, groups), one row each; nothing when there are none."""
    if not isinstance(rows, list) or not rows:
        return
    head = "".join(f"<th>{label}</th>" for label, _, _ in columns)
    out = [f"<h2>{title}</h2><table><tr>{head}</tr>"]
    for row in rows:
        if isinstance(row, dict):
            cells = "".join(
                f'<td class="v">{_cell(row.get(key, _MISSING), fmt)}</td>'
                for _, key, fmt in columns
            )
            out.append(f"<tr>{cells}</tr>")
    out.append("</table>")
    yield "".join(out)


def _thresholds_html(thresholds: Any) -> Iterator[str]:
    if not thresholds:
        return
    yield "<h2>Thresholds</h2>"
    rows = ["<table><tr><th>expression</th><th>value</th><th>result</th></tr>"]
    for item in thresholds:
        passed = bool(item.get("passed"))
        value = item.get("value")
        shown = "not measured" if value is None else escape(_text(value))
        verdict = '<td class="pass">pass</td>' if passed else '<td class="fail">FAIL</td>'
        rows.append(
            f"<tr><td><code>{escape(_text(item.get('expr', '')))}</code></td>"
            f'<td class="v">{shown}</td>{verdict}</tr>'
        )
    rows.append("</table>")
    yield "".join(rows)


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def _settings_html(settings: Any) -> str:
    if not isinstance(settings, dict) or not settings:
        return '<section id="settings" data-swap></section>'
    rows = "".join(
        f'<tr><td>{escape(key)}</td><td class="v">'
        f"{'not set' if value is None else escape(_text(_plain(value)))}</td></tr>"
        for key, value in _flatten(settings)
    )
    return (
        '<section id="settings" data-swap><h2>Settings</h2>'
        f'<table class="settings">{rows}</table></section>'
    )


def _plain(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, bool | list | dict) else value


def embed_json(data: Any) -> str:
    """``data`` as JSON safe to place inside ``<script type="application/json">``."""
    return json.dumps(data, separators=(",", ":"), default=str).translate(_JSON_ESCAPES)


_CONTROL = """<section id="control" class="control"><h2>Control</h2>
<p><button type="button" data-action="pause">Pause</button>
<button type="button" data-action="resume">Resume</button>
<label>offered msg/s <input id="control-rate" type="number" min="0" step="any"></label>
<button type="button" data-action="rate">Set rate</button></p>
<p><label>fault <select id="control-kind">
<option>drop_connections</option><option>broker_restart</option><option>network</option>
<option>partition</option><option>slow_sink</option></select></label>
<label>with <input id="control-params" size="36" placeholder="share=0.5, duration_s=10"></label>
<button type="button" data-action="fault">Trigger</button></p>
<p id="control-said" class="note"></p></section>"""
"""Live mode only: buttons that ``POST`` to ``control`` (see :mod:`simulator.live.web`)."""


def render_html(report: Mapping[str, Any], *, live: bool = False) -> str:
    """The report page for ``report`` (the JSON report dict, partial while a run goes).

    ``live`` makes the page fetch ``data`` beside it every second instead of keeping the
    embedded figures; the time series is then left out of the page, the first fetch brings it.
    """
    name = report.get("scenario")
    title = f"{name} run report" if name else "run report"
    found = report.get("broker")
    broker: dict[str, Any] = found if isinstance(found, dict) else {}
    subtitle = " · ".join(
        part
        for part in (
            f"broker {broker['url']}" if broker.get("url") else "",
            f"MQTT {broker['mqtt_version']}" if broker.get("mqtt_version") else "",
            f"scenario file {report['scenario_path']}" if report.get("scenario_path") else "",
        )
        if part
    )
    shown = public_data(report)
    data = {k: v for k, v in shown.items() if k != "timeseries"} if live else shown
    values = {
        "title": escape(title),
        "heading": escape(title),
        "subtitle": escape(mask_password(subtitle)),
        "mode": "live" if live else "report",
        "css": asset("report.css"),
        "js": asset("report.js"),
        "control": _CONTROL if live else "",
        "summary": _summary_html(report),
        "settings": _settings_html(report.get("settings")),
        "data": embed_json(data),
    }
    # One pass over the template: text put in cannot be taken for a placeholder.
    return _PLACEHOLDER.sub(lambda m: values[m[1]], asset("report.html"))


def write_html(report: Mapping[str, Any], path: Path) -> None:
    """Write :func:`render_html` of ``report`` to ``path`` (UTF-8), creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
