"""Compare this project's engine with gmqtt and aiomqtt, and measure ingest, in one run.

    .venv/bin/python bench/run.py [--devices 10000] [--messages 10]
                                  [--stacks engine,gmqtt,aiomqtt,ingest] [--repeat 1] [--out PATH]
    .venv/bin/python bench/run.py --stacks engine_qos1,gmqtt_qos1     # QoS 1, acknowledged
    .venv/bin/python bench/run.py --stacks engine_tls,gmqtt_tls       # TLS, secure broker

Every stack runs in a process of its own (so its memory is its own) against a fresh Mosquitto
started from ``broker_config/`` (so every stack meets the same broker state), does the same
work (see ``bench/clients/workload.py``) and reports its own figures; the delivered messages
are counted by an independent ``mosquitto_sub`` (see ``bench/clients/subscriber.py``). With
``--repeat K`` the stacks take turns in each of K rounds and the table shows the medians.

The TLS stacks meet the secure profile instead (``simulator.broker.SecureBroker``: TLS with a
throwaway CA made for the run, user names and passwords, an ACL), publish under ``factory/``
and are counted by an authenticated ``mosquitto_sub`` on the profile's plain listener.

Everything started here is stopped here, by its own pid, and every wait has a timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
# Run as a script, this directory (holding ``clients``) is on the path but the repository root
# (holding ``simulator``) is not.
sys.path.insert(1, str(REPO))

from clients.secure import TLS_TOPIC_FILTER  # noqa: E402
from clients.secure_subscriber import SecureSubscriber  # noqa: E402
from clients.subscriber import Subscriber  # noqa: E402
from clients.workload import TOPIC_FILTER  # noqa: E402

from simulator.broker import (  # noqa: E402
    FLEET_USER,
    INGEST_USER,
    LocalBroker,
    SecureBroker,
    find_mosquitto,
    make_pki,
)
from simulator.errors import SimulatorError  # noqa: E402

STACKS = (
    "engine",
    "gmqtt",
    "aiomqtt",
    "ingest",
    "engine_watched",
    "engine_unmerged",
    "engine_qos1",
    "gmqtt_qos1",
    "engine_tls",
    "gmqtt_tls",
    "engine_tls_noticket",
    "engine_tls_full",
    "engine_tls_uvloop",
    "engine_tls12",
    "engine_tls_copy",
)
DEFAULT_STACKS = ("engine", "gmqtt", "aiomqtt", "ingest")
QOS_STACKS = ("engine_qos1", "gmqtt_qos1")
TLS_STACKS = (
    "engine_tls",
    "engine_tls_full",
    "engine_tls_uvloop",
    "engine_tls12",
    "engine_tls_copy",
    "engine_tls_noticket",
    "gmqtt_tls",
)
"""The TLS stacks; gmqtt's last, every other one is compared with it."""
MQTT_STACKS = (
    "engine",
    "engine_watched",
    "engine_unmerged",
    "gmqtt",
    "aiomqtt",
    *QOS_STACKS,
    *TLS_STACKS,
)
"""The stacks of the main table, in its order."""
VARIANTS = {
    "engine_tls_noticket": ("engine_tls", ("--no-ticket",)),
    "engine_tls_full": ("engine_tls", ("--tls-layer", "full")),
    "engine_tls_uvloop": ("engine_tls", ("--tls-layer", "asyncio")),
    "engine_tls12": ("engine_tls", ("--tls12",)),
    "engine_tls_copy": ("engine_tls", ("--copy-session",)),
}
"""Stacks that are another stack's module run with extra options: module, options."""
STACK_HELP = (
    "engine_watched: the engine with the live view and a scraped Prometheus endpoint on; "
    "engine_unmerged: the engine sending one message per write even when behind schedule; "
    "*_qos1: QoS 1, acknowledged; *_tls: TLS against the secure broker profile; "
    "engine_tls: the engine's own TLS layer, resuming sessions; "
    "engine_tls_full: the same without resumption; "
    "engine_tls_uvloop: the event loop's TLS, as gmqtt uses it; "
    "engine_tls12: engine_tls capped at TLS 1.2; "
    "engine_tls_copy: engine_tls offering its session through CPython's copying setter; "
    "engine_tls_noticket: the engine's layer with ssl.OP_NO_TICKET"
)
TLS_PASSWORDS = {FLEET_USER: "fleet-bench-pw", INGEST_USER: "ingest-bench-pw"}
"""The secure broker's accounts: the devices connect as the fleet user (which the ACL lets
write under ``factory/``), the counting subscriber reads as the ingest user."""
QUIET_S = 3.0
"""The subscriber is done when nothing has arrived for this long after the stack finished."""

TARGETS = {
    "connect_ratio": 1.5,
    "rss_ratio": 5.0,
    "delivered_ratio": 1.4,
    "connect_rate": 8_000.0,
    "rss_per_device": 4_000.0,
    "delivered_rate": 100_000.0,
    "ingest_rate": 60_000.0,
}
"""The foundation issue's targets for 10,000 devices (RSS in bytes; 4 KB read as 4,000 B)."""

PROTOCOL_TARGETS = {
    "acked_ratio": 1.4,
    "acked_rate": 50_000.0,
    "tls_connect_ratio": 2.0,
    "tls_rss_ratio": 0.5,
}
"""The "MQTT protocol" issue's targets: QoS 1 acknowledged msg/s against gmqtt's (and the aim
for the engine alone), TLS connect rate against gmqtt's and RSS per device as a fraction of it."""


class BenchError(SimulatorError):
    """A stack process failed, timed out or printed no figures."""


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    try:
        banner = subprocess.run(
            [str(find_mosquitto()), "-h"], capture_output=True, timeout=5, check=False
        ).stdout.decode(errors="replace")
        mosquitto = banner.splitlines()[0].strip() if banner else "unknown"
    except (OSError, SimulatorError, subprocess.TimeoutExpired):
        mosquitto = "unknown"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "mosquitto": mosquitto,
    }


def run_client(
    stack: str, host: str, port: int, args: argparse.Namespace, options: Sequence[str] = ()
) -> dict[str, Any]:
    """Run one stack's process to the end and return the figures it printed."""
    module, variant_options = VARIANTS.get(stack, (stack, ()))
    command = [
        sys.executable,
        "-m",
        f"clients.{module}_stack",
        *variant_options,
        *options,
        "--host",
        host,
        "--port",
        str(port),
        "--devices",
        str(args.devices),
        "--messages",
        str(args.messages),
        "--phase-timeout",
        str(args.phase_timeout),
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    process = subprocess.Popen(
        command, cwd=BENCH, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
    )
    # Connect, publish, disconnect (and for ingest: drain) are each bounded by the phase timeout.
    limit_s = 5 * args.phase_timeout + 60
    try:
        stdout, _ = process.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise BenchError(
            f"{stack}: the stack process did not finish within {limit_s:g} s"
        ) from None
    lines = stdout.decode(errors="replace").strip().splitlines()
    if process.returncode != 0 or not lines:
        raise BenchError(f"{stack}: the stack process exited with status {process.returncode}")
    figures: dict[str, Any] = json.loads(lines[-1])
    return figures


def run_stack(stack: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """One stack against a fresh broker: its own figures plus what the subscriber counted."""
    if stack in TLS_STACKS:
        return run_secure_stack(stack, args, workdir)
    with LocalBroker() as broker:
        if stack == "ingest":
            return run_client(stack, broker.host, broker.port, args)
        with Subscriber(broker.host, broker.port, TOPIC_FILTER, workdir / f"{stack}.txt") as sub:
            figures = run_client(stack, broker.host, broker.port, args)
            sub.wait_for(int(figures["sent"]), QUIET_S, args.phase_timeout)
        figures["delivered"] = delivered_figures(sub, figures)
        return figures


def run_secure_stack(stack: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """One TLS stack against a fresh secure broker, counted by an authenticated subscriber."""
    # A throwaway CA and server certificate (EC P-256, a few openssl calls) for this broker.
    pki = make_pki(workdir / f"pki-{stack}")
    with SecureBroker(pki, TLS_PASSWORDS) as broker:
        reader = (INGEST_USER, TLS_PASSWORDS[INGEST_USER])
        prober = (FLEET_USER, TLS_PASSWORDS[FLEET_USER])
        output = workdir / f"{stack}.txt"
        # The counter reads on the plain listener: its CPU goes to counting, not to TLS.
        subscriber = SecureSubscriber(
            broker.host, broker.port, TLS_TOPIC_FILTER, output, reader, prober
        )
        options = ["--ca-file", str(broker.ca_path), "--username", FLEET_USER]
        options += ["--password", TLS_PASSWORDS[FLEET_USER]]
        with subscriber as sub:
            cpu0 = broker_cpu_s(broker.pid)
            figures = run_client(stack, broker.host, broker.tls_port, args, options)
            # The broker does its half of every handshake on one core; this says whether it
            # or the client is what limits the connect rate.
            figures["broker_cpu_s"] = broker_cpu_s(broker.pid) - cpu0
            sub.wait_for(int(figures["sent"]), QUIET_S, args.phase_timeout)
        figures["delivered"] = delivered_figures(sub, figures)
        return figures


def broker_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the broker process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def delivered_figures(sub: Subscriber, figures: dict[str, Any]) -> dict[str, Any]:
    """What the subscriber counted, for the raw figures of one stack run."""
    delivered = sub.result(since_ns=int(figures["connected_wall_ns"]))
    return {
        "count": delivered.count,
        "first_ns": delivered.first_ns,
        "last_ns": delivered.last_ns,
        "after_connected": delivered.since_count,
        "rate": delivered.rate(),
    }


def derive(figures: dict[str, Any]) -> dict[str, float | None]:
    """The figures the table shows, computed from one stack's raw figures."""
    connected = figures["connected"]
    derived: dict[str, float | None] = {
        "connected": connected,
        "failed": figures["failed"],
        "connect_s": figures["connect_s"],
        "connect_rate": connected / figures["connect_s"] if figures["connect_s"] > 0 else None,
        "rss_per_device": (
            (figures["connected_rss_bytes"] - figures["baseline_rss_bytes"]) / connected
            if connected
            else None
        ),
        "sent": figures["sent"],
        "sent_rate": figures["sent"] / figures["publish_s"] if figures["publish_s"] > 0 else None,
        "cpu_s": figures["cpu_s"],
    }
    delivered = figures.get("delivered")
    if delivered is not None:
        derived["delivered"] = delivered["count"]
        derived["lost"] = figures["sent"] - delivered["count"]
        derived["delivered_rate"] = delivered["rate"]
        first, last = delivered["first_ns"], delivered["last_ns"]
        derived["delivery_window_s"] = (last - first) / 1e9 if first and last else None
        derived["delivered_before_connected"] = delivered["count"] - delivered["after_connected"]
    extra = figures.get("extra", {})
    if extra.get("qos"):
        ack_s = extra.get("ack_s")
        derived["acked"] = extra["acked"]
        derived["refused"] = extra.get("refused")
        derived["unacked"] = figures["sent"] - extra["acked"] - (extra.get("refused") or 0)
        derived["ack_window_s"] = ack_s
        derived["acked_rate"] = extra["acked"] / ack_s if ack_s else None
    if "broker_cpu_s" in figures:
        derived["broker_cpu_s"] = figures["broker_cpu_s"]
    if "tls_handshakes" in extra:
        derived["tls_handshakes"] = extra["tls_handshakes"]
        derived["tls_resumed"] = extra["tls_resumed"]
    ingest = extra.get("ingest")
    if ingest is not None:
        expected = figures["devices"] * figures["messages"]
        first, last = ingest.get("first_recv_ns"), ingest.get("last_recv_ns")
        span_s = (last - first) / 1e9 if first is not None and last is not None else 0.0
        derived["received"] = ingest["received"]
        derived["ingest_rate"] = ingest["received"] / span_s if span_s > 0 else None
        derived["ingest_lost"] = expected - ingest["unique"]
        derived["ingest_duplicated"] = ingest["duplicated"]
        derived["rows_written"] = ingest["committed_rows"]
        latency = ingest.get("latency_us") or {}
        derived["latency_p50_ms"] = latency["p50"] / 1000 if "p50" in latency else None
        derived["latency_p99_ms"] = latency["p99"] / 1000 if "p99" in latency else None
    return derived


def median(rounds: Sequence[dict[str, float | None]]) -> dict[str, float | None]:
    """Per figure, the median over the rounds that have it."""
    keys = {key for derived in rounds for key in derived}
    result: dict[str, float | None] = {}
    for key in sorted(keys):
        values = [d[key] for d in rounds if d.get(key) is not None]
        result[key] = statistics.median(v for v in values if v is not None) if values else None
    return result


def _num(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return top / bottom if top is not None and bottom else None


def _met(value: float | None, target: float, *, at_most: bool = False) -> str:
    if value is None:
        return "not measured"
    return "met" if (value <= target if at_most else value >= target) else "**missed**"


def _stack_table(
    medians: dict[str, dict[str, float | None]],
    stacks: Sequence[str],
    header: str,
    cells: Callable[[dict[str, float | None]], str],
) -> list[str]:
    """A markdown table of ``stacks`` that ran: ``header``, then a row per stack, then a gap.

    ``cells`` gives a stack's row after its name, from ``| `` on.
    """
    ran = [stack for stack in stacks if stack in medians]
    if not ran:
        return []
    align = "|---" + "|--:" * (header.count("|") - 2) + "|"
    return [header, align, *(f"| {stack} {cells(medians[stack])}" for stack in ran), ""]


def render(results: dict[str, Any]) -> str:
    """The markdown the run prints: machine, command, tables, ratios and targets."""
    medians: dict[str, dict[str, float | None]] = results["medians"]
    rounds = results["repeat"]
    out = [
        f"## Benchmark: {results['devices']:,} devices x {results['messages']} messages"
        + (f" (median of {rounds} rounds)" if rounds > 1 else ""),
        "",
        f"Command: `{results['command']}`  ",
        f"Started: {results['started']}  ",
        "Machine: {nproc} cores, {cpu}, Linux {kernel}, Python {python}, {mosquitto}".format(
            **results["machine"]
        ),
        "",
    ]
    out += _stack_table(
        medians,
        MQTT_STACKS,
        "| stack | connected | failed | connect s | connect rate (dev/s) | RSS per device (B) "
        "| sent | delivered | lost | delivery window s | delivered msg/s | CPU s |",
        lambda m: (
            f"| {_num(m['connected'])} | {_num(m['failed'])} "
            f"| {_num(m['connect_s'], 2)} | {_num(m['connect_rate'])} "
            f"| {_num(m['rss_per_device'])} | {_num(m['sent'])} "
            f"| {_num(m.get('delivered'))} | {_num(m.get('lost'))} "
            f"| {_num(m.get('delivery_window_s'), 2)} | {_num(m.get('delivered_rate'))} "
            f"| {_num(m['cpu_s'], 1)} |"
        ),
    )
    out += _stack_table(
        medians,
        QOS_STACKS,
        "| QoS 1 stack | sent | acked | refused | unacked | ack window s (first publish "
        "to last PUBACK) | acked msg/s | delivered | CPU s |",
        lambda m: (
            f"| {_num(m['sent'])} | {_num(m.get('acked'))} "
            f"| {_num(m.get('refused'))} | {_num(m.get('unacked'))} "
            f"| {_num(m.get('ack_window_s'), 2)} | {_num(m.get('acked_rate'))} "
            f"| {_num(m.get('delivered'))} | {_num(m['cpu_s'], 1)} |"
        ),
    )
    out += _stack_table(
        medians,
        TLS_STACKS,
        "| TLS stack | handshakes by our layer | resumed | stack CPU s | broker CPU s "
        "(whole run) |",
        lambda m: (
            f"| {_num(m.get('tls_handshakes'))} | {_num(m.get('tls_resumed'))} "
            f"| {_num(m['cpu_s'], 1)} | {_num(m.get('broker_cpu_s'), 1)} |"
        ),
    )
    if "ingest" in medians:
        m = medians["ingest"]
        out += [
            "| ingest | published | received | ingested msg/s | lost | duplicated | rows written "
            "| latency p50 / p99 (ms) |",
            "|---|--:|--:|--:|--:|--:|--:|--:|",
            f"| SQLite | {_num(m['sent'])} | {_num(m.get('received'))} "
            f"| {_num(m.get('ingest_rate'))} | {_num(m.get('ingest_lost'))} "
            f"| {_num(m.get('ingest_duplicated'))} | {_num(m.get('rows_written'))} "
            f"| {_num(m.get('latency_p50_ms'), 1)} / {_num(m.get('latency_p99_ms'), 1)} |",
            "",
        ]
    out += targets_table(medians)
    return "\n".join(out)


def protocol_rows(medians: dict[str, dict[str, float | None]]) -> list[tuple[str, str, str, str]]:
    """The "MQTT protocol" issue's targets, for the stacks of this run that measure them."""
    t = PROTOCOL_TARGETS
    rows = []
    engine_qos1 = medians.get("engine_qos1")
    if engine_qos1 is not None:
        gmqtt_qos1 = medians.get("gmqtt_qos1", {})
        ratio = _ratio(engine_qos1.get("acked_rate"), gmqtt_qos1.get("acked_rate"))
        rows += [
            ("QoS 1 acked msg/s, engine / gmqtt", _num(ratio, 2), f">= {t['acked_ratio']}",
             _met(ratio, t["acked_ratio"])),
            ("engine QoS 1 acked msg/s", _num(engine_qos1.get("acked_rate")), ">= 50,000",
             _met(engine_qos1.get("acked_rate"), t["acked_rate"])),
        ]  # fmt: skip
    gmqtt_tls = medians.get("gmqtt_tls", {})
    for stack in TLS_STACKS[:-1]:
        engine_tls = medians.get(stack)
        if engine_tls is None:
            continue
        connect = _ratio(engine_tls.get("connect_rate"), gmqtt_tls.get("connect_rate"))
        rss = _ratio(engine_tls.get("rss_per_device"), gmqtt_tls.get("rss_per_device"))
        rows += [
            (f"TLS connect rate, {stack} / gmqtt", _num(connect, 2),
             f">= {t['tls_connect_ratio']:g}", _met(connect, t["tls_connect_ratio"])),
            (f"TLS RSS per device, {stack} / gmqtt", _num(rss, 2), f"<= {t['tls_rss_ratio']}",
             _met(rss, t["tls_rss_ratio"], at_most=True)),
        ]  # fmt: skip
    return rows


def targets_table(medians: dict[str, dict[str, float | None]]) -> list[str]:
    """The ratios and the foundation issue's targets, each with whether this run met it."""
    engine = medians.get("engine", {})
    gmqtt = medians.get("gmqtt", {})
    ingest = medians.get("ingest", {})
    connect_ratio = _ratio(engine.get("connect_rate"), gmqtt.get("connect_rate"))
    rss_ratio = _ratio(gmqtt.get("rss_per_device"), engine.get("rss_per_device"))
    delivered_ratio = _ratio(engine.get("delivered_rate"), gmqtt.get("delivered_rate"))
    ingest_clean = (
        None
        if ingest.get("ingest_lost") is None
        else float(ingest["ingest_lost"] == 0 and ingest.get("ingest_duplicated") == 0)
    )
    t = TARGETS
    rows = [
        ("connect rate, engine / gmqtt", _num(connect_ratio, 2), f">= {t['connect_ratio']}",
         _met(connect_ratio, t["connect_ratio"])),
        ("RSS per device, gmqtt / engine", _num(rss_ratio, 2), f">= {t['rss_ratio']:g}",
         _met(rss_ratio, t["rss_ratio"])),
        ("delivered msg/s, engine / gmqtt", _num(delivered_ratio, 2),
         f">= {t['delivered_ratio']}", _met(delivered_ratio, t["delivered_ratio"])),
        ("engine connect rate (dev/s)", _num(engine.get("connect_rate")), ">= 8,000",
         _met(engine.get("connect_rate"), t["connect_rate"])),
        ("engine RSS per device (B)", _num(engine.get("rss_per_device")), "<= 4,000",
         _met(engine.get("rss_per_device"), t["rss_per_device"], at_most=True)),
        ("engine delivered msg/s", _num(engine.get("delivered_rate")), ">= 100,000",
         _met(engine.get("delivered_rate"), t["delivered_rate"])),
        ("ingest msg/s into SQLite", _num(ingest.get("ingest_rate")), ">= 60,000",
         _met(ingest.get("ingest_rate"), t["ingest_rate"])),
        ("ingest lost and duplicated", "n/a" if ingest_clean is None else
         f"{_num(ingest.get('ingest_lost'))} / {_num(ingest.get('ingest_duplicated'))}", "0 / 0",
         _met(ingest_clean, 1.0)),
    ]  # fmt: skip
    if not any(stack in medians for stack in (*DEFAULT_STACKS, "engine_watched")):
        rows = []
    watched = medians.get("engine_watched")
    if watched:
        ratio = _ratio(watched.get("sent_rate"), engine.get("sent_rate"))
        rows.append(
            ("published msg/s, watched / plain engine", _num(ratio, 3), ">= 0.95",
             _met(ratio, 0.95))
        )  # fmt: skip
    unmerged = medians.get("engine_unmerged")
    if unmerged:
        ratio = _ratio(unmerged.get("delivered_rate"), gmqtt.get("delivered_rate"))
        rows.append(
            ("delivered msg/s, engine one write per message / gmqtt", _num(ratio, 2),
             "(no target)", "")
        )  # fmt: skip
    rows += protocol_rows(medians)
    lines = ["| figure | this run | target | |", "|---|--:|--:|---|"]
    lines += [
        f"| {name} | {value} | {target} | {verdict} |" for name, value, target, verdict in rows
    ]
    return [*lines, ""]


def _interpreter() -> str:
    """How the interpreter was named, relative to the repository when it is the project's venv."""
    executable = Path(sys.executable)
    if executable.is_relative_to(REPO):
        return str(executable.relative_to(REPO))
    return executable.name


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument(
        "--stacks",
        default=",".join(DEFAULT_STACKS),
        help=f"comma-separated, from {', '.join(STACKS)} ({STACK_HELP})",
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the table shows medians")
    parser.add_argument("--out", type=Path, help="JSON file (default bench/results/<time>.json)")
    parser.add_argument(
        "--phase-timeout",
        type=float,
        default=120.0,
        help="upper bound in seconds on each phase of a stack (connect, publish, drain)",
    )
    args = parser.parse_args(argv)
    args.stacks = [s.strip() for s in args.stacks.split(",") if s.strip()]
    unknown = [s for s in args.stacks if s not in STACKS]
    if unknown or not args.stacks:
        parser.error(f"--stacks: unknown {unknown}; choose from {', '.join(STACKS)}")
    if args.devices < 1 or args.messages < 1 or args.repeat < 1:
        parser.error("--devices, --messages and --repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run every round, print the markdown, write the JSON; 1 if any stack failed."""
    args = parse_args(argv)
    started = datetime.now(UTC)
    out_path: Path = args.out or REPO / "bench" / "results" / f"{started:%Y%m%dT%H%M%SZ}.json"
    raw: dict[str, list[dict[str, Any]]] = {stack: [] for stack in args.stacks}
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for round_index in range(args.repeat):
            # Rotate the order so that no stack always runs first on a cold machine.
            shift = round_index % len(args.stacks)
            for stack in args.stacks[shift:] + args.stacks[:shift]:
                print(f"round {round_index + 1}/{args.repeat}: {stack}", file=sys.stderr)
                begin = time.monotonic()
                try:
                    raw[stack].append(run_stack(stack, args, Path(tmp)))
                except (SimulatorError, OSError, ValueError, KeyError) as exc:
                    errors.append(f"round {round_index + 1}, {stack}: {exc}")
                    print(f"  failed: {exc}", file=sys.stderr)
                    continue
                print(f"  done in {time.monotonic() - begin:.1f} s", file=sys.stderr)
    derived = {stack: [derive(f) for f in figures] for stack, figures in raw.items()}
    results: dict[str, Any] = {
        "command": shlex.join([_interpreter(), "bench/run.py", *sys.argv[1:]]),
        "started": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "devices": args.devices,
        "messages": args.messages,
        "repeat": args.repeat,
        "raw": raw,
        "derived": derived,
        "medians": {stack: median(rounds) for stack, rounds in derived.items() if rounds},
        "errors": errors,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))
    for error in errors:
        print(f"- failed: {error}")
    print(f"\nRaw figures: {out_path}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
