"""How many unacknowledged QoS 1 messages Mosquitto sends one subscriber: the window an ingest
worker that acknowledges at commit works in.

A subscriber on our own session with ``manual_acks`` never acknowledges; a paho publisher
sends more QoS 1 messages than the window and waits until the broker has taken every one.
Then the subscriber pings: Mosquitto is one thread that writes a subscriber's in-flight
messages as it takes them from the publisher, so whatever it will send before an
acknowledgement is ahead of the PINGRESP. Pinned for Mosquitto 2.0.11 with
``broker_config/``: a 3.1.1 subscriber gets ``max_inflight_messages``; a 5.0 one that states
no Receive Maximum gets the same (the specification says 65,535); one that states 65,535 gets
everything. Hence the worker's CONNECT states it (``subscriber_options``). And the window is
not a bound in 2.0.11 once a backlog waits for a resumed session (the last test but one).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulator.broker import LocalBroker
from simulator.broker.locate import default_config_dir
from simulator.ingest.settings import WorkerSettings, subscriber_options
from simulator.mqtt import (
    ClientSession,
    ConnectOptions,
    MessageReceived,
    MQTTVersion,
    PongReceived,
    SessionState,
    Subscribed,
)

pytestmark = [pytest.mark.broker]

SENT = 3000
TIMEOUT_S = 30.0


def configured_window() -> int:
    """``max_inflight_messages`` as broker_config/mosquitto.conf sets it."""
    for line in (default_config_dir() / "mosquitto.conf").read_text().splitlines():
        words = line.split()
        if words[:1] == ["max_inflight_messages"]:
            return int(words[1])
    raise AssertionError("broker_config/mosquitto.conf sets no max_inflight_messages")


@pytest.fixture(scope="module")
def broker() -> Iterator[LocalBroker]:
    with LocalBroker() as started:
        yield started


class Subscriber:
    """A blocking socket on a session that acknowledges nothing."""

    def __init__(
        self,
        broker: LocalBroker,
        version: MQTTVersion,
        options: ConnectOptions,
        client_id: str = "window",
    ) -> None:
        self.session = ClientSession(client_id, version, 60, options=options)
        self.sock = socket.create_connection((broker.host, broker.port), timeout=TIMEOUT_S)
        self.received = 0
        self.subscribed = False
        self.ponged = False
        self.sock.sendall(self.session.connect())
        self.until(lambda: self.session.state is SessionState.CONNECTED)
        self.sock.sendall(self.session.subscribe([("window/#", 1)]))
        self.until(lambda: self.subscribed)

    def until(self, done: Callable[[], bool]) -> None:
        while not done():
            data = self.sock.recv(1 << 20)
            assert data, "the broker closed the connection"
            for event in self.session.receive_data(data):
                if isinstance(event, MessageReceived):
                    self.received += 1
                elif isinstance(event, Subscribed):
                    self.subscribed = True
                elif isinstance(event, PongReceived):
                    self.ponged = True
            assert self.session.data_to_send() == b""  # nothing acknowledged behind our back

    def received_before_a_pong(self) -> int:
        self.ponged = False
        self.sock.sendall(self.session.ping())
        self.until(lambda: self.ponged)
        return self.received


def publish_all(broker: LocalBroker) -> None:
    """``SENT`` QoS 1 messages, returning once the broker has acknowledged every one."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="window-publisher")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        sent = [client.publish("window/t", b"x" * 100, qos=1) for _ in range(SENT)]
        for info in sent:
            info.wait_for_publish(TIMEOUT_S)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def window(broker: LocalBroker, version: MQTTVersion, options: ConnectOptions) -> int:
    subscriber = Subscriber(broker, version, options)
    try:
        publish_all(broker)
        return subscriber.received_before_a_pong()
    finally:
        subscriber.sock.close()


def test_a_311_subscriber_gets_the_configured_window(broker: LocalBroker) -> None:
    options = ConnectOptions(manual_acks=True)
    assert window(broker, MQTTVersion.V311, options) == configured_window()


def test_a_v5_subscriber_stating_no_receive_maximum_gets_the_configured_window_too(
    broker: LocalBroker,
) -> None:
    options = ConnectOptions(manual_acks=True)
    assert window(broker, MQTTVersion.V5, options) == configured_window()


def test_acknowledging_the_oldest_lets_a_resumed_backlog_past_the_window(
    broker: LocalBroker,
) -> None:
    """Mosquitto 2.0.11 overshoots: while messages wait in a session's queue, the PUBACK of the
    oldest one in flight moves up to a whole Receive Maximum of them into flight, not one
    (``db__message_delete_outgoing``; 2.0.13's "Various fixes around inflight quota
    management", eclipse/mosquitto#2306). A worker acknowledges oldest first, as MQTT wants,
    so its session takes what comes rather than refusing the broker. A broker that fixes this
    turns the test red."""
    options = ConnectOptions(
        clean_start=False, session_expiry_interval=60, receive_maximum=100, manual_acks=True
    )
    away = Subscriber(broker, MQTTVersion.V5, options, client_id="window-backlog")
    away.sock.sendall(away.session.disconnect())  # the session stays, with its subscription
    away.sock.close()
    publish_all(broker)
    back = Subscriber(broker, MQTTVersion.V5, options, client_id="window-backlog")
    try:
        assert back.received_before_a_pong() == 100  # the window, on resuming
        back.sock.sendall(back.session.acknowledge(1))
        assert back.received_before_a_pong() - 100 == 100  # MQTT: 1
    finally:
        back.sock.close()


def test_the_workers_kept_session_gets_every_message_unacknowledged(broker: LocalBroker) -> None:
    settings = WorkerSettings(host=broker.host, port=broker.port, qos=1, session_expiry_s=60)
    options = subscriber_options(settings)
    assert options.manual_acks
    assert window(broker, MQTTVersion.V5, options) == SENT > configured_window()
