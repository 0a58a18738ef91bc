"""The command line: argument parsing and exit codes, nothing else.

Exit codes:

* 0: the run finished and every device onboarded and every message was accounted for;
* 1: the run finished but devices failed, links dropped, or messages were lost or malformed;
* 2: bad input: an invalid scenario (every problem listed) or bad arguments (TLS files too);
* 3: the environment stopped the run: broker unreachable, Mosquitto missing, limits too low;
* 4: the run finished cleanly but a threshold failed (a run with problems exits 1 even then);
* 130: interrupted: SIGTERM or Ctrl-C. While the fleet onboards or publishes, the first one
  ends the run early and it still drains, stops and writes its report; a second one, or one
  before onboarding, stops it at once, without a report.

``compare`` exits 0 when NEW is no worse than BASE beyond the tolerance, 1 when it is, 2 on bad
input.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from simulator import __version__
from simulator.errors import ScenarioError, ScenarioProblem, SimulatorError

if TYPE_CHECKING:
    from simulator.runner import Runner

EXIT_OK = 0
EXIT_RUN_PROBLEMS = 1
EXIT_BAD_INPUT = 2
EXIT_ENVIRONMENT = 3
EXIT_THRESHOLDS = 4
EXIT_INTERRUPTED = 130

T = TypeVar("T")


def _run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when it is installed (it is a dependency on Linux), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def _whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    return value


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction from 0 to 1, got {text!r}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _read_interval_ms(text: str) -> float:
    value = _number(text)
    if not 0.0 <= value <= 100.0:
        raise argparse.ArgumentTypeError(f"expected milliseconds from 0 to 100, got {text!r}")
    return value


def _segment(text: str) -> Any:
    from simulator.scenario.segment import Segment

    try:
        return Segment.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _workers(text: str) -> int:
    """``--workers``: a number of processes, or ``auto`` (0: as many as the fleet needs)."""
    if text == "auto":
        return 0
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a number of processes >= 1 or auto, got {text!r}"
        )
    return value


def _start_at(text: str) -> int:
    from simulator.scenario.segment import parse_start_at

    try:
        return parse_start_at(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _tls_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("TLS (with an mqtts:// broker URL)")
    group.add_argument("--ca-file", metavar="PEM", help="CA to trust (default: the system's)")
    group.add_argument(
        "--client-cert",
        metavar="PEM",
        help="client certificate for mutual TLS; {device} in the path gives each connection "
        "its own (its client id is put in), e.g. certs/{device}.pem",
    )
    group.add_argument(
        "--client-key", metavar="PEM", help="key of --client-cert (may use {device} the same way)"
    )
    group.add_argument(
        "--insecure",
        action="store_true",
        help="do not check the broker's certificate and name (lab brokers only)",
    )


def write_report(path: Path, report: Any) -> None:
    """Write ``report`` as JSON to ``path`` whole or not at all: into a hidden file beside it,
    then renamed over it. Whoever waits for the file on a shared volume (the merge of a run's
    slices) never reads half a report, and a crash leaves the previous one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(partial, path)


def _metrics_host_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="address --metrics-port listens on (default 127.0.0.1; 0.0.0.0 in a container "
        "that Prometheus scrapes from outside)",
    )


def _threshold_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--threshold EXPR``, repeatable, into ``args.threshold`` (a list, empty by default)."""
    parser.add_argument("--threshold", action="append", default=[], metavar="EXPR", help=help_text)


def _tls_options(args: argparse.Namespace) -> Any:
    from simulator.transport.tls import TlsOptions

    return TlsOptions(
        Path(args.ca_file) if args.ca_file else None,
        Path(args.client_cert) if args.client_cert else None,
        Path(args.client_key) if args.client_key else None,
        verify=not args.insecure,
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``factory-sim`` / ``python -m simulator`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="factory-sim",
        description="Industrial device onboarding and telemetry load simulator for MQTT.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a scenario end to end and report")
    run.add_argument(
        "scenario", type=Path, help="scenario file (TOML), e.g. scenarios/quickstart.toml"
    )
    run.add_argument("--devices", type=_whole_number, metavar="N", help="override fleet.devices")
    run.add_argument(
        "--interval", type=_number, metavar="SECONDS", help="override fleet.publish_interval_s"
    )
    run.add_argument("--duration", type=_number, metavar="SECONDS", help="override duration_s")
    run.add_argument(
        "--broker",
        metavar="mqtt://HOST:PORT",
        help="use this broker instead of starting a local Mosquitto",
    )
    run.add_argument("--mqtt", choices=("3.1.1", "5"), help="override broker.mqtt_version")
    run.add_argument("--qos", type=int, choices=(0, 1, 2), help="override fleet.qos")
    run.add_argument(
        "--sink",
        metavar="URL",
        help="override ingest.sink: sqlite:///PATH or postgresql://USER:PASS@HOST:PORT/DB",
    )
    run.add_argument(
        "--ingest-workers",
        type=_whole_number,
        metavar="N",
        help="override ingest.workers: ingest processes splitting the topics between them",
    )
    run.add_argument("--report", type=Path, metavar="PATH", help="write the JSON report here")
    run.add_argument(
        "--quiet", action="store_true", help="no live view and no summary; only problems"
    )
    run.add_argument(
        "--metrics-port",
        type=_whole_number,
        metavar="PORT",
        help="serve Prometheus metrics on 127.0.0.1:PORT/metrics (see --metrics-host) while "
        "the run goes",
    )
    _metrics_host_argument(run)
    _threshold_argument(
        run,
        "fail the run unless EXPR holds, e.g. 'latency_ms.p99 < 50' (repeatable; adds to "
        "the scenario's [thresholds])",
    )
    run.add_argument(
        "--junit", type=Path, metavar="PATH", help="write the thresholds as JUnit XML here"
    )
    run.add_argument(
        "--html",
        type=Path,
        metavar="PATH",
        help="write a self-contained HTML report (settings, summary, plots) here",
    )
    run.add_argument(
        "--web",
        type=_whole_number,
        metavar="PORT",
        help="serve the live dashboard on http://127.0.0.1:PORT/ while the run goes",
    )
    many = run.add_argument_group(
        "many processes (one run split into slices; see 'factory-sim merge')"
    )
    many.add_argument(
        "--segment",
        type=_segment,
        metavar="I/N",
        help="run slice I of N (I in 0..N-1): every N-th connection of the fleet from the I-th, "
        "on the whole plan's schedule; needs --run-id or --start-at",
    )
    many.add_argument(
        "--start-at",
        type=_start_at,
        metavar="TIME",
        help="wait until TIME (ISO 8601 UTC, e.g. 2026-12-07T08:00:00Z, or epoch seconds) "
        "before onboarding: the barrier every slice of a run starts at",
    )
    many.add_argument(
        "--run-id",
        metavar="ID",
        help="the run's id (1-64 of A-Z a-z 0-9 . _ -): marks its rows and prefixes its "
        "client ids; every slice of one run must share it (default: derived from the "
        "scenario and --start-at, else made from the time)",
    )
    ingest_mode = many.add_mutually_exclusive_group()
    ingest_mode.add_argument(
        "--no-ingest",
        dest="ingest_mode",
        action="store_const",
        const="off",
        help="run the fleet only: no ingest worker and no provisioning responder (the "
        "platform side runs elsewhere; the default for --segment I/N with N > 1)",
    )
    ingest_mode.add_argument(
        "--own-ingest",
        dest="ingest_mode",
        action="store_const",
        const="own",
        help="start this process's own ingest even for a slice of several (exact only when "
        "no other slice publishes to its broker)",
    )
    ingest_mode.add_argument(
        "--ingest-only",
        dest="ingest_mode",
        action="store_const",
        const="only",
        help="run the platform side only (ingest workers, responder) for slices run with "
        "--no-ingest; stops on SIGTERM, or --idle-stop seconds after the last message",
    )
    many.add_argument(
        "--workers",
        type=_workers,
        metavar="N|auto",
        help="run the fleet as N worker processes, one slice each, under this one (one live "
        "view, one merged report); auto: as many as the open-file limit needs (more than N "
        "too, when N processes cannot hold the fleet)",
    )
    many.add_argument(
        "--await-start",
        action="store_true",
        help="with 'run -': once ready, read the start time (ns since the epoch) from the "
        "next line of standard input (how --workers starts its workers together)",
    )
    many.add_argument(
        "--await-control",
        action="store_true",
        help="with --await-start: after the start time, follow the live control requests "
        "on standard input, one JSON object a line (how --workers --web steers its workers)",
    )
    many.add_argument(
        "--jsonl",
        action="store_true",
        help="print progress as JSON lines on stdout (how --workers runs its workers)",
    )
    many.add_argument(
        "--idle-stop",
        type=_number,
        default=10.0,
        metavar="SECONDS",
        help="with --ingest-only: stop once messages came and none came for this long (default 10)",
    )
    _tls_arguments(run)

    compare = commands.add_parser(
        "compare", help="compare two JSON reports; exit 1 if NEW is worse than BASE"
    )
    compare.add_argument("base", type=Path, metavar="BASE.json")
    compare.add_argument("new", type=Path, metavar="NEW.json")
    compare.add_argument(
        "--tolerance",
        type=_number,
        default=0.10,
        help="relative change allowed in the bad direction (default 0.10 = 10%%)",
    )

    capacity = commands.add_parser(
        "capacity",
        help="find the highest load a platform holds within its SLOs, one run per step",
    )
    capacity.add_argument("scenario", type=Path, help="scenario file (TOML): the first step")
    capacity.add_argument(
        "--slo",
        action="append",
        required=True,
        metavar="'KEY OP LIMIT'",
        help="a service level each step must keep, as a threshold ('latency_ms.p99 < 250'); "
        "repeat for several. A step also breaks on the run's own problems (lost messages...)",
    )
    capacity.add_argument(
        "--by",
        choices=("rate", "devices"),
        default="rate",
        help="raise the offered message rate (default) or the connected devices",
    )
    capacity.add_argument(
        "--max-steps", type=_whole_number, default=8, metavar="N", help="runs at most (default 8)"
    )
    capacity.add_argument(
        "--duration", type=_number, metavar="SECONDS", help="hold each step this long"
    )
    capacity.add_argument("--broker", metavar="URL", help="override broker.url")
    capacity.add_argument("--report", type=Path, metavar="PATH", help="write the JSON here")
    capacity.add_argument("--html", type=Path, metavar="PATH", help="write the HTML page here")

    merge = commands.add_parser(
        "merge",
        help="merge the reports of a run's slices (and its ingest run) into one report",
    )
    merge.add_argument(
        "reports", type=Path, nargs="+", metavar="REPORT", help="the slices' JSON reports"
    )
    merge.add_argument(
        "--report", type=Path, required=True, metavar="PATH", help="write the merged report here"
    )
    merge.add_argument("--html", type=Path, metavar="PATH", help="write its HTML page here")
    _threshold_argument(merge, "fail (exit 4) unless EXPR holds on the merged report (repeatable)")
    merge.add_argument(
        "--junit", type=Path, metavar="PATH", help="write the thresholds as JUnit XML here"
    )
    merge.add_argument("--quiet", action="store_true", help="no summary; only problems")

    validate = commands.add_parser("validate", help="check a scenario and print it resolved")
    validate.add_argument("scenario", type=Path)

    southbound = commands.add_parser(
        "southbound",
        help="serve the scenario's fleet as Modbus TCP and/or OPC UA devices for a gateway to poll",
    )
    southbound.add_argument("scenario", type=Path, help="scenario file (TOML); see [southbound]")
    southbound.add_argument(
        "--duration",
        dest="serve_s",
        type=_number,
        metavar="SECONDS",
        help="stop after this long (default: serve until SIGTERM or Ctrl-C)",
    )
    southbound.add_argument(
        "--hint",
        type=Path,
        metavar="FILE.json",
        help="where to write the gateway configuration hint (default: runs/NAME.southbound.json)",
    )
    southbound.add_argument(
        "--broker",
        metavar="mqtt://HOST:PORT",
        help="also check what the gateway publishes there, as [gateway] declares, and report",
    )
    southbound.add_argument(
        "--report",
        type=Path,
        metavar="OUT.json",
        help="with --broker: where to write the report (default: runs/NAME.gateway.json)",
    )
    _threshold_argument(
        southbound, "with --broker: fail unless EXPR holds, e.g. 'gateway.values.wrong == 0'"
    )

    ingest = commands.add_parser("ingest", help="run an ingest worker on its own")
    ingest.add_argument(
        "--broker", metavar="mqtt://HOST:PORT", help="required unless --settings-stdin"
    )
    ingest.add_argument(
        "--unix-socket",
        metavar="PATH",
        help="connect over the broker's Unix socket listener on this host (Mosquitto: "
        "'listener 0 PATH'), not TCP; --broker still names the broker",
    )
    ingest.add_argument("--topic", default="factory/#", help="topic filter (default factory/#)")
    ingest.add_argument(
        "--share-group",
        default="ingest",
        help="MQTT 5 shared subscription group; '' subscribes plainly",
    )
    ingest.add_argument("--mqtt", choices=("3.1.1", "5"), default="5")
    ingest.add_argument(
        "--client-id",
        default=None,
        help="MQTT client id (default: ingest-0, after the run's tag when --run-id is given, "
        "as a run's own workers are named)",
    )
    ingest.add_argument("--payload", default="msgpack", help="payload codec (default msgpack)")
    ingest.add_argument("--qos", type=int, choices=(0, 1, 2), default=0)
    ingest.add_argument(
        "--session-expiry",
        type=_whole_number,
        default=0,
        metavar="SECONDS",
        help="MQTT 5: keep the subscriber's session this long after a drop and resume it",
    )
    ingest.add_argument(
        "--register-topic",
        default=None,
        metavar="FILTER",
        help="also subscribe to registrations (e.g. onboarding/+/register) and time each new "
        "device from its connection attempt to its first ingested message",
    )
    ingest.add_argument(
        "--death-topic",
        default=None,
        metavar="FILTER",
        help="also subscribe to device deaths (e.g. onboarding/+/death) and count the devices "
        "they name",
    )
    ingest.add_argument(
        "--respond",
        action="store_true",
        help="also answer those registrations, as the provisioning responder does",
    )
    ingest.add_argument("--respond-seed", type=_whole_number, default=1, metavar="SEED")
    ingest.add_argument(
        "--reject-share",
        type=_share,
        default=0.0,
        metavar="FRACTION",
        help="with --respond: refuse this share of the devices (chosen from the seed)",
    )
    ingest.add_argument(
        "--silent-share",
        type=_share,
        default=0.0,
        metavar="FRACTION",
        help="with --respond: never answer this share, so their registrations time out",
    )
    ingest.add_argument(
        "--sparkplug-group",
        default=None,
        metavar="GROUP",
        help="also subscribe to spBv1.0/GROUP/# and account for its DDATA and NDATA; "
        "births and deaths are counted apart",
    )
    ingest.add_argument("--batch-size", type=_whole_number, default=1000)
    ingest.add_argument("--batch-max-age-ms", type=_whole_number, default=250)
    ingest.add_argument(
        "--read-interval-ms",
        type=_read_interval_ms,
        default=2.0,
        metavar="MS",
        help="while messages come faster, read the connection at most once this often "
        "(0: whenever data arrives; default 2)",
    )
    ingest.add_argument(
        "--sink",
        default=None,
        metavar="URL",
        help="where rows go: sqlite:///PATH (default sqlite:///runs/ingest.sqlite) or "
        "postgresql://USER:PASS@HOST:PORT/DB",
    )
    ingest.add_argument("--sqlite", type=Path, metavar="PATH", help="same as --sink sqlite:///PATH")
    ingest.add_argument(
        "--run-id",
        default="",
        metavar="ID",
        help="mark every stored row with this run id (default: one made from the time)",
    )
    ingest.add_argument("--keepalive", type=_whole_number, default=60, metavar="SECONDS")
    ingest.add_argument(
        "--store-payloads",
        action="store_true",
        help="store each message's payload bytes too (default: only its decoded values)",
    )
    ingest.add_argument(
        "--sink-retry",
        type=_number,
        default=30.0,
        metavar="SECONDS",
        help="retry a failing sink this long before its rows count as lost (default 30)",
    )
    ingest.add_argument(
        "--settings-stdin",
        action="store_true",
        help="read every setting as one line of JSON from standard input, then follow the "
        "instructions on the lines after it (how 'run' starts a worker)",
    )
    ingest.add_argument(
        "--duration",
        type=_number,
        metavar="SECONDS",
        help="stop after this long (default: until SIGTERM or Ctrl-C)",
    )
    ingest.add_argument("--report", type=Path, metavar="PATH", help="write the final counters here")
    ingest.add_argument(
        "--metrics-port",
        type=_whole_number,
        metavar="PORT",
        help="serve Prometheus metrics on 127.0.0.1:PORT/metrics (see --metrics-host) while "
        "the worker runs",
    )
    _metrics_host_argument(ingest)
    _tls_arguments(ingest)
    ingest.add_argument(
        "--jsonl",
        action="store_true",
        help="print machine-readable JSON lines on stdout (used by 'run')",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "validate":
            return _cmd_validate(args)
        if args.command == "compare":
            return _cmd_compare(args)
        if args.command == "merge":
            return _cmd_merge(args)
        if args.command == "capacity":
            return _cmd_capacity(args)
        if args.command == "southbound":
            return _cmd_southbound(args)
        return _cmd_ingest(args)
    except ScenarioError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
    except SimulatorError as exc:
        from simulator.errors import TlsConfigError

        sys.stderr.write(f"error: {exc}\n")
        # An unusable --ca-file or --client-cert is a bad argument, not the environment's fault.
        return EXIT_BAD_INPUT if isinstance(exc, TlsConfigError) else EXIT_ENVIRONMENT
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED


async def _stopped_by_signals(
    coro: Coroutine[Any, Any, T],
    signals: Sequence[signal.Signals] = (signal.SIGTERM,),
    gently: Callable[[str], bool] | None = None,
) -> T:
    """Run ``coro``; each of ``signals`` (SIGTERM by default: a CI job's timeout, ``kill``)
    cancels it as Ctrl-C would, unless ``gently`` takes it first (returns True, given the
    signal's name).

    Cancelling the task unwinds every ``finally`` of the run, so its Mosquitto and ingest are
    stopped; the caller reports it as interrupted (exit 130).
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    at_once: list[str] = []

    def on_signal(name: str) -> None:
        if gently is not None and gently(name):
            return
        at_once.append(name)
        task.cancel()

    for sig in signals:
        loop.add_signal_handler(sig, on_signal, sig.name)
    try:
        return await coro
    except asyncio.CancelledError:
        if at_once:
            raise KeyboardInterrupt from None
        raise
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


def _stop_gently(runner: Runner) -> Callable[[str], bool]:
    """How ``run`` takes SIGTERM and Ctrl-C: the first while its fleet onboards or publishes
    ends the run early, and it drains, stops and reports as at its end
    (:meth:`~simulator.runner.Runner.stop`); one before that, or a second, is not taken, and
    :func:`_stopped_by_signals` stops the run at once, without a report."""

    def gently(name: str) -> bool:
        if name == "SIGINT" and runner.config.await_start:
            # A worker of ``run --workers``: Ctrl-C reaches the terminal's whole process
            # group, and its coordinator, which hears it too, stops its workers (SIGTERM).
            return True
        if not runner.stop(name):
            return False
        runner.say(
            f"{name}: onboarding and publishing end now; the run drains, stops and reports "
            f"({name} again stops it at once, without a report)"
        )
        return True

    return gently


def _cmd_capacity(args: argparse.Namespace) -> int:

    from simulator.capacity import run_capacity, run_locally
    from simulator.report.capacity import capacity_lines, capacity_report, write_capacity_html
    from simulator.report.thresholds import parse_thresholds

    slos = parse_thresholds([(expr, "--slo") for expr in args.slo])
    scenario = _load(args)
    source = str(args.scenario)
    steps = _run_async(
        _stopped_by_signals(
            run_capacity(
                scenario,
                by=args.by,
                slos=slos,
                run_step=run_locally(source),
                source=source,
                max_steps=args.max_steps,
                say=_announce,
            )
        )
    )
    capacity = capacity_report(scenario.name, args.by, [slo.expr for slo in slos], steps)
    if args.report is not None:
        write_report(args.report, capacity)
    if args.html is not None:
        write_capacity_html(capacity, args.html)
    for line in capacity_lines(capacity):
        sys.stderr.write(line + "\n")
    return EXIT_OK if capacity["highest_held"] is not None else EXIT_THRESHOLDS


def _load(args: argparse.Namespace) -> Any:
    from simulator.scenario.loader import Overrides, load_scenario

    overrides = Overrides(
        devices=getattr(args, "devices", None),
        interval_s=getattr(args, "interval", None),
        duration_s=getattr(args, "duration", None),
        broker_url=getattr(args, "broker", None),
        mqtt_version=getattr(args, "mqtt", None),
        qos=getattr(args, "qos", None) if args.command == "run" else None,
        sink=getattr(args, "sink", None) if args.command == "run" else None,
        ingest_workers=getattr(args, "ingest_workers", None),
    )
    if str(args.scenario) == "-":
        return _scenario_from_stdin(whole=not getattr(args, "await_start", False))
    return load_scenario(args.scenario, overrides)


def _scenario_from_stdin(*, whole: bool) -> Any:
    """A resolved scenario as JSON on standard input: how ``run --workers`` hands each worker
    its scenario whole (overrides already applied), never as flags rebuilt from it. ``whole``
    reads all of the input; else its first line (the start time follows)."""
    from simulator.scenario import validate_scenario

    try:
        data = json.loads(sys.stdin.read() if whole else sys.stdin.readline())
    except ValueError as exc:
        raise ScenarioError([ScenarioProblem("<stdin>", "scenario", f"not JSON: {exc}")]) from None
    return validate_scenario(data, "<stdin>")


def _cmd_validate(args: argparse.Namespace) -> int:
    scenario = _load(args)
    print(json.dumps(scenario.model_dump(), indent=2))
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    from simulator.report.html import write_html
    from simulator.report.json_report import problems
    from simulator.report.junit import write_junit
    from simulator.report.summary import summary_lines
    from simulator.report.thresholds import evaluate, format_results, results_as_json
    from simulator.runner import Runner

    config = _run_config(args)
    runner = Runner(config)
    report = _run_async(
        _stopped_by_signals(
            runner.run(), (signal.SIGINT, signal.SIGTERM), gently=_stop_gently(runner)
        )
    )
    results = evaluate(config.thresholds, report)
    if results:
        report["thresholds"] = results_as_json(results)
    if args.report is not None:
        write_report(args.report, report)
    if not args.quiet:
        for line in summary_lines(report):
            sys.stderr.write(line + "\n")
        if args.report is not None:
            sys.stderr.write(f"report written to {args.report}\n")
    for line in format_results(results):
        sys.stderr.write(line + "\n")
    if args.junit is not None:
        write_junit(results, args.junit, suite=f"factory-sim.{report['scenario']}")
        if not args.quiet:
            sys.stderr.write(f"JUnit XML written to {args.junit}\n")
    if args.html is not None:
        write_html(report, args.html)
        if not args.quiet:
            sys.stderr.write(f"HTML report written to {args.html}\n")
    found = problems(report)
    for problem in found:
        sys.stderr.write(f"FAILED: {problem}\n")
    if runner.stopped_by is not None:
        sys.stderr.write(f"interrupted by {runner.stopped_by}: the report covers the run so far\n")
        return EXIT_INTERRUPTED
    if found:
        return EXIT_RUN_PROBLEMS
    return EXIT_THRESHOLDS if any(not r.passed for r in results) else EXIT_OK


def _run_config(args: argparse.Namespace) -> Any:
    """The run's one configuration: scenario, thresholds and options, all problems at once."""
    import time

    from simulator.config import resolve_run_config
    from simulator.scenario.segment import WHOLE

    found: list[ScenarioProblem] = []
    scenario = None
    try:
        scenario = _load(args)
    except ScenarioError as exc:
        found.extend(exc.problems)
    return resolve_run_config(
        scenario,
        str(args.scenario),
        now_ns=time.time_ns(),
        found=found,
        threshold_flags=args.threshold,
        tls=_tls_options(args),
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        web_port=args.web,
        quiet=args.quiet,
        run_id=args.run_id,
        segment=args.segment if args.segment is not None else WHOLE,
        start_at_ns=args.start_at,
        ingest=args.ingest_mode,
        idle_stop_s=args.idle_stop,
        workers=args.workers,
        jsonl=args.jsonl,
        await_start=args.await_start,
        await_control=args.await_control,
    )


def _cmd_southbound(args: argparse.Namespace) -> int:
    from simulator.southbound.service import serve

    scenario = _load(args)
    hint = args.hint if args.hint is not None else Path(f"runs/{scenario.name}.southbound.json")
    if args.broker is not None:
        return _cmd_gateway_check(args, scenario, hint)
    served = _run_async(
        serve(scenario, hint_path=hint, duration_s=args.serve_s, announce=_announce)
    )
    counters = served.counters
    refused = sum(counters.exceptions.values())
    sys.stderr.write(
        f"southbound: {counters.connections:,} connections, {counters.reads:,} reads "
        f"({counters.registers:,} registers), {refused:,} exception responses, "
        f"{counters.protocol_errors:,} connections closed for bad framing\n"
    )
    if served.died is not None:
        sys.stderr.write(f"FAILED: {served.died}\n")
    failed = counters.device_failures or served.died is not None
    return EXIT_RUN_PROBLEMS if failed else EXIT_OK


def _cmd_gateway_check(args: argparse.Namespace, scenario: Any, hint: Path) -> int:
    from simulator.northbound.service import serve_and_check, summary_lines, write_report
    from simulator.report.thresholds import parse_thresholds

    thresholds = parse_thresholds([(expr, "--threshold") for expr in args.threshold])
    path = args.report if args.report is not None else Path(f"runs/{scenario.name}.gateway.json")
    report = _run_async(
        serve_and_check(
            scenario,
            broker_url=args.broker,
            hint_path=hint,
            duration_s=args.serve_s,
            thresholds=thresholds,
            announce=_announce,
        )
    )
    write_report(report, path)
    for line in summary_lines(report):
        sys.stderr.write(line + "\n")
    sys.stderr.write(f"report written to {path}\n")
    if report["southbound"].get("opcua", {}).get("died"):
        return EXIT_RUN_PROBLEMS
    return EXIT_THRESHOLDS if any(not r["passed"] for r in report["thresholds"]) else EXIT_OK


def _announce(line: str) -> None:
    print(line, flush=True)


def _cmd_compare(args: argparse.Namespace) -> int:
    from simulator.errors import ReportInputError
    from simulator.report.compare import compare_files, format_comparison

    try:
        comparison = compare_files(args.base, args.new, args.tolerance)
    except ReportInputError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
    print(format_comparison(comparison))
    return EXIT_RUN_PROBLEMS if comparison.regressed else EXIT_OK


def _cmd_merge(args: argparse.Namespace) -> int:
    from simulator.errors import ReportInputError
    from simulator.report.compare import load_report
    from simulator.report.html import write_html
    from simulator.report.json_report import problems
    from simulator.report.junit import write_junit
    from simulator.report.merge import Input, merge_reports
    from simulator.report.summary import summary_lines
    from simulator.report.thresholds import (
        evaluate,
        format_results,
        parse_thresholds,
        results_as_json,
    )

    try:
        inputs = [Input(str(path), load_report(path)) for path in args.reports]
        report = merge_reports(inputs)
    except ReportInputError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
    thresholds = parse_thresholds([(expr, "--threshold") for expr in args.threshold])
    results = evaluate(thresholds, cast(Any, report))
    if results:
        report["thresholds"] = results_as_json(results)
    write_report(args.report, report)
    if not args.quiet:
        for line in summary_lines(report):
            sys.stderr.write(line + "\n")
        run = report["run"]
        sys.stderr.write(
            f"merged {len(args.reports)} reports of run {run['id']}: slices started "
            f"{run['start_spread_s']} s apart; written to {args.report}\n"
        )
    for line in format_results(results):
        sys.stderr.write(line + "\n")
    if args.junit is not None:
        write_junit(results, args.junit, suite=f"factory-sim.{report['scenario']}")
    if args.html is not None:
        write_html(cast(Any, report), args.html)
    found = problems(report)
    for problem in found:
        sys.stderr.write(f"FAILED: {problem}\n")
    if found:
        return EXIT_RUN_PROBLEMS
    return EXIT_THRESHOLDS if any(not r.passed for r in results) else EXIT_OK


INGEST_GC_THRESHOLD = 50_000
"""Allocations between two young garbage collections in an ingest worker process (Python's
default: 700). Each message leaves a row and its values alive until the batch is committed,
so at the default the collector walks the pending rows again and again: about a tenth of the
worker's CPU (``bench/ingest_replay.py``). Cycles are still collected, only less often."""


def _cmd_ingest(args: argparse.Namespace) -> int:
    from simulator.ingest.service import serve

    gc.set_threshold(INGEST_GC_THRESHOLD, *gc.get_threshold()[1:])
    settings = _ingest_settings(args)
    final = _run_async(
        serve(
            settings,
            duration_s=args.duration,
            jsonl=args.jsonl,
            progress_interval_s=0.5 if args.jsonl else 1.0,
            metrics_port=args.metrics_port,
            metrics_host=args.metrics_host,
            control=sys.stdin if args.settings_stdin else None,
        )
    )
    if args.report is not None:
        write_report(args.report, final.to_dict())
    if not args.jsonl:
        lost = (
            f", {final.failed_rows:,} rows NOT stored ({final.sink_error})"
            if final.failed_rows
            else ""
        )
        sys.stderr.write(
            f"ingest: received {final.received:,} messages, {final.unique:,} unique, "
            f"{final.duplicated:,} duplicated, {final.out_of_order:,} out of order, "
            f"{final.missing:,} missing by sequence gaps, {final.malformed:,} malformed; "
            f"{final.committed_rows:,} rows committed to {final.sink} "
            f"(run id {final.run_id}){lost}\n"
        )
    return EXIT_OK if not final.failed_rows else EXIT_RUN_PROBLEMS


def _ingest_settings(args: argparse.Namespace) -> Any:
    """The worker's settings: whole from standard input (``run``), or from the flags."""
    from simulator.ingest.settings import WorkerSettings
    from simulator.mqtt import MQTTVersion
    from simulator.provisioning import Policy
    from simulator.scenario.broker_url import parse_broker_url
    from simulator.sinks.url import parse_sink_url

    if args.settings_stdin:
        try:
            return WorkerSettings.from_json(sys.stdin.readline())
        except ValueError as exc:
            raise ScenarioError([ScenarioProblem("<stdin>", "settings", str(exc))]) from None
    if args.broker is None:
        raise ScenarioError(
            [ScenarioProblem("<command line>", "--broker", "required (or --settings-stdin)")]
        )
    sink = (
        args.sink if args.sink is not None else f"sqlite:///{args.sqlite or 'runs/ingest.sqlite'}"
    )
    try:
        parse_sink_url(sink)
    except ValueError as exc:
        raise ScenarioError([ScenarioProblem("<command line>", "--sink", str(exc))]) from None
    address = parse_broker_url(args.broker, "--broker")
    # As in a run, {device} in certificate paths is the worker's user name, else its client id.
    # Certificates know the worker by its client id without a run's tag.
    name = args.client_id or "ingest-0"
    client_id = args.client_id
    if client_id is None:
        from simulator.config import client_id_prefix

        client_id = f"{client_id_prefix(args.run_id) if args.run_id else ''}{name}"
    tls = _tls_options(args).for_client(address.username or name)
    return WorkerSettings(
        host=address.host,
        port=address.port,
        socket_path=args.unix_socket,
        username=address.username,
        password=address.password,
        tls=address.tls,
        ca_file=str(tls.ca_file) if tls.ca_file else None,
        cert_file=str(tls.cert_file) if tls.cert_file else None,
        key_file=str(tls.key_file) if tls.key_file else None,
        verify=tls.verify,
        topic_filter=args.topic,
        share_group=args.share_group or None,
        mqtt_version=MQTTVersion.named(args.mqtt),
        client_id=client_id,
        keepalive_s=args.keepalive,
        qos=args.qos,
        session_expiry_s=args.session_expiry,
        register_filter=args.register_topic,
        death_filter=args.death_topic,
        respond=Policy(args.respond_seed, args.reject_share, args.silent_share, {"qos": args.qos})
        if args.respond
        else None,
        sparkplug_group=args.sparkplug_group,
        payload=args.payload,
        batch_size=args.batch_size,
        batch_max_age_s=args.batch_max_age_ms / 1000,
        read_interval_s=args.read_interval_ms / 1000,
        sink=sink,
        run_id=args.run_id,
        sink_retry_s=args.sink_retry,
        store_payloads=args.store_payloads,
    )
