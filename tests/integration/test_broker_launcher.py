"""LocalBroker against the real Mosquitto: start, carry a message, stop, fail loudly."""

from __future__ import annotations

import os
import queue
import resource
import socket
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from simulator.broker import BASE_CONFIG_NAME, LocalBroker, default_config_dir
from simulator.broker.launcher import _reserve_ports
from simulator.errors import BrokerLaunchError

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


def _round_trip(broker: LocalBroker, topic: str, payload: bytes) -> bytes:
    """Subscribe, publish at QoS 1 and return the payload the subscriber received."""
    events: queue.Queue[str | bytes] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="launcher-test")

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
