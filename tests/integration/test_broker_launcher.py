"""LocalBroker against the real Mosquitto: start, carry a message, stop, fail loudly."""

from __future__ import annotations

import contextlib
import os
import queue
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from simulator.broker import BASE_CONFIG_NAME, LocalBroker, default_config_dir
from simulator.broker.launcher import _reserve_ports
from simulator.errors import BrokerLaunchError
from tests.commands import CHILD_ENV

pytestmark = pytest.mark.broker

TIMEOUT_S = 5.0


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _round_trip(
    broker: LocalBroker, topic: str, payload: bytes, *, over_unix_socket: bool = False
) -> bytes:
    """Subscribe, publish at QoS 1 and return the payload the subscriber received (over the
    broker's TCP listener, or its Unix socket)."""
    events: queue.Queue[str | bytes] = queue.Queue()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id="launcher-test",
        transport="unix" if over_unix_socket else "tcp",
    )

    def on_connect(
        client: mqtt.Client, userdata: object, flags: object, rc: ReasonCode, props: object
    ) -> None:
        events.put(f"connack {rc}")
        client.subscribe(topic, qos=1)

    def on_subscribe(
        client: mqtt.Client, userdata: object, mid: int, rcs: list[ReasonCode], props: object
    ) -> None:
        events.put("suback")

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        events.put(bytes(message.payload))

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    if over_unix_socket:
        assert broker.socket_path is not None
        client.connect(str(broker.socket_path), keepalive=10)
    else:
        client.connect(broker.host, broker.port, keepalive=10)
    client.loop_start()
    try:
        assert events.get(timeout=TIMEOUT_S) == "connack Success"
        assert events.get(timeout=TIMEOUT_S) == "suback"
        client.publish(topic, payload, qos=1).wait_for_publish(timeout=TIMEOUT_S)
        received = events.get(timeout=TIMEOUT_S)
        assert isinstance(received, bytes)
        return received
    finally:
        client.disconnect()
        client.loop_stop()


def test_started_broker_carries_a_message_and_stops_cleanly() -> None:
    broker = LocalBroker()
    broker.start(timeout_s=TIMEOUT_S)
    try:
        assert broker.url == f"mqtt://127.0.0.1:{broker.port}"
        assert _round_trip(broker, "plant/line1/press7/telemetry", b"\x01\x02hello") == (
            b"\x01\x02hello"
        )
        pid, port = broker.pid, broker.port
        workdir = broker.log_path.parent if broker.log_path else None
    finally:
        broker.stop(timeout_s=TIMEOUT_S)

    assert not _pid_alive(pid)
    assert not _port_open("127.0.0.1", port)
    assert workdir is not None
    assert not workdir.exists()
    broker.stop()  # a second stop is a no-op


def test_a_unix_socket_listener_keeps_its_path_across_restarts_and_goes_at_stop() -> None:
    broker = LocalBroker(unix_socket=True)
    broker.start(timeout_s=TIMEOUT_S)
    try:
        path = broker.socket_path
        assert path is not None
        assert _round_trip(broker, "plant/a", b"one", over_unix_socket=True) == b"one"
        # Killed, the broker leaves its socket file behind; Mosquitto will not bind over it.
        os.kill(broker.pid, signal.SIGKILL)
        broker.stop_for_restart(timeout_s=TIMEOUT_S)
        assert path.exists()
        broker.start(timeout_s=TIMEOUT_S)
        assert broker.socket_path == path
        assert _round_trip(broker, "plant/b", b"two", over_unix_socket=True) == b"two"
        assert _round_trip(broker, "plant/c", b"three") == b"three"
    finally:
        broker.stop(timeout_s=TIMEOUT_S)
    assert not path.parent.exists()
    assert broker.socket_path is None


def test_a_temporary_directory_too_deep_for_a_unix_socket_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    broker = LocalBroker(unix_socket=True)
    with pytest.raises(BrokerLaunchError, match="107-byte limit") as raised:
        broker.start(timeout_s=TIMEOUT_S)
    assert str(deep) in str(raised.value)
    assert list(deep.iterdir()) == []  # nothing left behind


def test_a_broker_without_a_unix_socket_has_no_socket_path() -> None:
    with LocalBroker() as broker:
        assert broker.socket_path is None
        assert broker.log_path is not None
        assert "listener 0" not in (broker.log_path.parent / "mosquitto.conf").read_text()


def test_child_may_open_as_many_files_as_the_hard_limit_allows() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    with LocalBroker() as broker:
        limits = Path(f"/proc/{broker.pid}/limits").read_text(encoding="utf-8")
    open_files = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    soft = open_files.split()[3]

    assert soft == ("unlimited" if hard == resource.RLIM_INFINITY else str(hard))


def test_two_brokers_at_once_get_different_ports() -> None:
    with LocalBroker() as first, LocalBroker() as second:
        assert first.port != second.port
        assert first.pid != second.pid
        assert _port_open(first.host, first.port)
        assert _port_open(second.host, second.port)


def test_broken_config_fails_with_mosquitto_exit_code_and_log_tail(tmp_path: Path) -> None:
    base = default_config_dir() / BASE_CONFIG_NAME
    (tmp_path / BASE_CONFIG_NAME).write_text(
        base.read_text(encoding="utf-8") + "\nno_such_option_here 1\n", encoding="utf-8"
    )
    broker = LocalBroker(config_dir=tmp_path)

    with pytest.raises(BrokerLaunchError) as info:
        broker.start(timeout_s=TIMEOUT_S)

    message = str(info.value)
    assert "exited with code" in message
    assert "no_such_option_here" in message  # Mosquitto's own complaint, from its log
    assert broker.log_path is None  # the failed start cleaned up after itself


def test_port_in_use_fails_when_the_port_was_asked_for() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        broker = LocalBroker(port=taken)

        with pytest.raises(BrokerLaunchError, match=f"127.0.0.1:{taken} is already in use"):
            broker.start(timeout_s=TIMEOUT_S)


def test_a_chosen_port_is_held_for_mosquitto_and_no_one_else() -> None:
    # Until Mosquitto listens, the readiness probe cannot tell it from another listener on
    # its port; the launcher holds the port so that no other listener can be there.
    with _reserve_ports("127.0.0.1", (None, None)) as ports:
        assert len(set(ports)) == 2
        for port in ports:
            with socket.socket() as other, pytest.raises(OSError, match="in use"):
                other.bind(("127.0.0.1", port))
        # Mosquitto, binding with SO_REUSEADDR, listens beside the hold.
        with LocalBroker(port=ports[0]) as broker:
            assert _round_trip(broker, "plant/held", b"beside") == b"beside"


def test_missing_config_dir_is_a_launch_error(tmp_path: Path) -> None:
    with pytest.raises(BrokerLaunchError, match=str(tmp_path / "absent")):
        LocalBroker(config_dir=tmp_path / "absent").start(timeout_s=TIMEOUT_S)


def test_a_forgotten_broker_is_stopped_when_collected() -> None:
    broker = LocalBroker()
    broker.start(timeout_s=TIMEOUT_S)
    pid, port = broker.pid, broker.port

    # CPython frees the object at once; no gc.collect(), which would also
    # finalize unrelated garbage left by earlier tests and blame this one.
    del broker

    assert not _pid_alive(pid)
    assert not _port_open("127.0.0.1", port)


# Starts two brokers, each from a thread that has ended by the time it reports (a death signal
# tied to the starting thread would fire here), reports "<broker pid> <guard pid> <port>" for
# each, then waits to be killed.
STARTER = """
import sys, threading
from simulator.broker import LocalBroker

brokers = [LocalBroker(), LocalBroker()]
for broker in brokers:
    starter = threading.Thread(target=broker.start)
    starter.start()
    starter.join()
for broker in brokers:
    print(broker.pid, broker._guard.pid, broker.port, flush=True)
sys.stdin.read()
"""


def _exited_within(pidfd: int, timeout_s: float) -> bool:
    """Whether the process behind ``pidfd`` exits within ``timeout_s`` (a pidfd turns
    readable when its process exits, whoever reaps it)."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(int(timeout_s * 1000)))


def test_brokers_are_stopped_when_the_process_that_started_them_is_killed() -> None:
    pidfds: list[int] = []
    with subprocess.Popen(
        [sys.executable, "-c", STARTER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=CHILD_ENV,
        text=True,
    ) as starter:
        try:
            assert starter.stdout is not None
            started = [tuple(map(int, starter.stdout.readline().split())) for _ in range(2)]
            assert all(len(line) == 3 for line in started), started
            # Opened while the starter, their parent, is alive and has reaped neither: they
            # name these processes even once the pids are free again.
            pidfds = [os.pidfd_open(pid) for broker, guard, _ in started for pid in (broker, guard)]
            assert not any(_exited_within(pidfd, 0) for pidfd in pidfds)

            starter.kill()
            starter.wait()

            for (broker, _, port), pidfd in zip(started, pidfds[::2], strict=True):
                assert _exited_within(pidfd, TIMEOUT_S), f"broker {broker} outlived its starter"
                assert not _port_open("127.0.0.1", port)
            for pidfd in pidfds[1::2]:
                assert _exited_within(pidfd, TIMEOUT_S), "a guard outlived its broker"
        finally:
            starter.kill()
            for pidfd in pidfds:  # whatever is left of a failed run
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                os.close(pidfd)


def _pipes(pid: int) -> set[str]:
    """The pipes ``pid`` has open, as ``pipe:[inode]``."""
    pipes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(FileNotFoundError):  # closed meanwhile (the listing's own)
            link = os.readlink(fd)
            if link.startswith("pipe:"):
                pipes.add(link)
    return pipes


def test_a_guard_pipe_is_held_by_its_broker_s_guard_and_this_process_only() -> None:
    with LocalBroker() as first, LocalBroker() as second:
        guards = {broker.pid: broker._guard for broker in (first, second)}
        assert all(guards.values())
        pipes = {pid: _pipes(guard.pid) for pid, guard in guards.items() if guard is not None}
        assert all(len(held) == 1 for held in pipes.values()), pipes
        mine = _pipes(os.getpid())
        with subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
        ) as other:
            others = _pipes(other.pid)
            assert other.stdin is not None
            other.stdin.close()
        for pid, held in pipes.items():
            (pipe,) = held
            assert pipe in mine  # the write end
            assert pipe not in _pipes(first.pid) | _pipes(second.pid)
            assert pipe not in others
            guard = guards[pid]
            assert guard is not None
            other_guard = next(g for p, g in guards.items() if p != pid)
            assert other_guard is not None
            assert pipe not in _pipes(other_guard.pid)
