"""The few lines a person reads at the end of a run, drawn from the JSON report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _num(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.1f}{unit}"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return f"{value}{unit}"


def summary_lines(report: Mapping[str, Any]) -> list[str]:
    """A short human summary of ``report``."""
    devices = report["devices"]
    onboarding = report["onboarding"]
    messages = report["messages"]
    throughput = report["throughput"]
    latency = report["latency_ms"]
    process = report["process"]
    broker = report["broker"]
    more = len(broker.get("urls", ())) - 1
    lines = [
        f"scenario {report['scenario']} against {broker['url']}"
        + (f" and {more} more broker{'s' if more > 1 else ''}" if more > 0 else "")
        + f" (MQTT {broker['mqtt_version']})",
        f"  devices     {devices['connected']:,}/{devices['target']:,} connected, "
        f"{devices['failed']:,} failed, {devices['dropped_after_connect']:,} dropped",
        f"  onboarding  {_num(onboarding['connect_rate_per_s'], '/s')}, "
        f"connect p50 {_num(onboarding['connect_ms']['p50'], ' ms')}, "
        f"p99 {_num(onboarding['connect_ms']['p99'], ' ms')}",
        f"  messages    {messages['published']:,} published, "
        f"{_num(messages['ingested'])} ingested, "
        f"{_num(messages['lost'])} lost, {_num(messages['duplicated'])} duplicated, "
        f"{_num(messages['out_of_order'])} out of order, {_num(messages['malformed'])} malformed",
        f"  throughput  {_num(throughput['published_per_s'], ' msg/s')} published, "
        f"{_num(throughput['ingested_per_s'], ' msg/s')} ingested",
        f"  latency     p50 {_num(latency['p50'], ' ms')}, p90 {_num(latency['p90'], ' ms')}, "
        f"p99 {_num(latency['p99'], ' ms')}, max {_num(latency['max'], ' ms')}",
        _sink_line(report),
        f"  memory      {_num(process['rss_bytes_per_device'], ' B')} RSS per connected device, "
        f"peak {process['peak_rss_bytes'] / 2**20:,.1f} MiB",
    ]
    for plan in (onboarding.get("plan"), throughput.get("plan")):
        if plan is not None and plan["kept"] is False:
            lines.append(f"  plan        behind: {plan['behind']}")
    lines.extend(_funnel_lines(onboarding))
    connections = report.get("connections", {})
    handshakes = connections.get("tls_handshakes")
    if handshakes:
        lines.append(
            f"  tls         {handshakes:,} handshakes, {connections['tls_resumed']:,} resumed "
            f"a session"
        )
    ingest = report.get("ingest") or {}
    if ingest.get("restarts"):
        why = "; ".join(
            f"{d['client_id']} {d['reason']}" for d in ingest.get("restart_reasons", [])
        )
        lines.append(
            f"  ingest      ingest worker restarted {ingest['restarts']:,} time(s)"
            + (f" ({why})" if why else "")
        )
    lines.extend(_fault_line(fault) for fault in report.get("faults", []))
    lines.extend(
        f"  control     at {event['t_s']:,.1f} s: {event['detail']}"
        + ("" if event["ok"] else " (refused)")
        for event in report.get("control", [])
    )
    lines.extend(_stage_line(stage) for stage in report.get("stages", []))
    groups = report.get("groups", [])
    if len(groups) > 1:
        lines.extend(_group_line(group) for group in groups)
    if messages["overrun"]:
        lines.append(
            f"  scheduler   {messages['overrun']:,} sends ran late (the simulator fell behind: "
            f"latency includes it)"
        )
    lines.extend(f"  note: {note}" for note in report.get("notes", []))
    return lines


def _fault_line(fault: Mapping[str, Any]) -> str:
    """One fault: when, what it did, how long until every device was back, what it cost."""
    head = f"  fault       {fault['kind']} at {fault['at_s']:g} s"
    if fault["started_s"] is None:
        return head + ": not reached (the run ended first)"
    if fault["error"] is not None:
        return head + f": FAILED: {fault['error']}"
    back = fault["back_s"]
    lost = fault["devices_lost"]
    if fault.get("duration_s") is not None and not lost and back is not None:
        # A window that cost no connection: what it lasted says more than a return.
        ended = fault["ended_s"] if fault["ended_s"] is not None else fault["started_s"]
        return _costs(
            f"{head}: {fault['detail']}; in force {ended - fault['started_s']:,.1f} s, "
            f"no device lost",
            fault,
        )
    line = f"{head}: {fault['detail']}; {lost:,} of {fault['devices_before']:,} devices lost, " + (
        f"all back in {back:,.1f} s" if back is not None else "NOT all back by the end"
    )
    return _costs(line, fault)


def _costs(line: str, fault: Mapping[str, Any]) -> str:
    """What the fault's window of the time series saw, after its line."""
    if fault["duplicated"] is not None:
        lost = fault.get("lost")
        line += f"; at QoS {fault['qos']}: {lost or 0:,} lost, {fault['duplicated']:,} duplicated"
    if fault["latency_ms_p99_peak"] is not None:
        line += f", latency p99 up to {fault['latency_ms_p99_peak']:,.0f} ms"
    if fault.get("backlog_peak"):
        line += f", up to {fault['backlog_peak']:,} messages waiting for the sink"
    return line


def _stage_line(stage: Mapping[str, Any]) -> str:
    """One stage: its span, devices and message rate achieved of planned, and whether it kept
    to its plan or which part fell behind and why."""
    line = (
        f"  stage {stage['number']:<5} {stage['start_s']:,.1f}-{stage['end_s']:,.1f} s: "
        f"{stage['devices_achieved']:,}/{stage['devices_planned']:,} devices, "
        f"{stage['msg_rate_achieved_per_s']:,.1f}/{stage['msg_rate_planned_per_s']:,.1f} msg/s "
        f"(achieved/planned), p99 {_num(stage['latency_ms_p99'], ' ms')}, "
        f"{_num(stage['lost'])} lost"
    )
    return line + (", kept to plan" if stage["kept"] else f"; behind: {stage['behind']}")


def _group_line(group: Mapping[str, Any]) -> str:
    """One fleet group: what it is, what it published and what of it arrived, how fast."""
    return (
        f"  group       {group['model']} {group['payload']} {group['connection']} every "
        f"{group['interval_s']:g} s: {group['devices']:,} devices, {group['published']:,} "
        f"published, {_num(group['ingested'])} ingested, {_num(group['lost'])} lost, "
        f"p50 {_num(group['latency_ms_p50'], ' ms')}, p99 {_num(group['latency_ms_p99'], ' ms')}"
    )


def _sink_line(report: Mapping[str, Any]) -> str:
    """One line: where rows went, how many committed, and what could not be stored and why."""
    sink = report["sink"]
    ingest = report.get("ingest") or {}
    if ingest.get("status") == "failed":
        return f"  sink        unknown: {ingest.get('error')}"
    if sink["kind"] is None:
        return "  sink        none (ingest off)"
    line = f"  sink        {sink['url']}, {sink['committed_rows']:,} rows committed"
    if sink["failed_rows"]:
        reasons = ", ".join(f"{why} {n:,}" for why, n in sink["errors"].items())
        line += f", {sink['failed_rows']:,} NOT stored ({reasons})"
    return line + f" (run id {sink['run_id']})"


def _funnel_lines(onboarding: Mapping[str, Any]) -> list[str]:
    """The onboarding funnel, one stage a line, for the ``register`` workflow."""
    if onboarding.get("workflow") != "register":
        return []
    lines = ["  funnel      (devices; times from the start of each connection attempt)"]
    for stage in onboarding.get("funnel", {}).values():
        out = [f"{stage[k]:,} {k}" for k in ("rejected", "timeouts", "failed") if stage[k]]
        out.extend(f"{stage[k]:,} {k}" for k in ("retries", "pending") if stage.get(k))
        lines.append(
            f"    {stage['stage']:<25} {stage['reached']:>9,}  "
            f"p50 {_num(stage['p50_ms'], ' ms')}, p99 {_num(stage['p99_ms'], ' ms')}"
            + (f"  ({', '.join(out)})" if out else "")
        )
    again = onboarding.get("reannounced")
    if again and again["sent"]:
        lines.append(
            f"    re-announced after reconnects: {again['sent']:,} sent, "
            f"{again['accepted']:,} accepted, {again['rejected']:,} rejected, "
            f"{again['timeouts']:,} timed out"
        )
    deaths = onboarding.get("deaths")
    if deaths and (deaths["sent"] or deaths["wills"]):
        lines.append(
            f"    deaths on {deaths['topic']}: {deaths['sent']:,} sent on leaving"
            + (f" ({deaths['heard']:,} heard by ingest)" if deaths.get("heard") is not None else "")
            + f", {deaths['wills']:,} connect attempts carried a death will"
        )
    if onboarding.get("registered_s") is not None:
        lines.append(
            f"    all accepted {onboarding['registered_s']:,.1f} s after the first connect"
        )
    return lines
