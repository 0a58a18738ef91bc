"""The secure profile against a real Mosquitto, with paho-mqtt as an independent client.

Pins down what Mosquitto 2.0.11 really answers when it refuses something, because the
simulator must count refusals rather than mistake them for success: CONNACK codes for bad
credentials, PUBACK for a publish outside the device's topics, SUBACK for a subscription
outside them.
"""

from __future__ import annotations

import queue
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from simulator.broker import INGEST_USER, Pki, SecureBroker, make_pki

pytestmark = pytest.mark.broker

TIMEOUT_S = 5.0
# How long to wait for a message that must NOT arrive; a message that is delivered arrives
# within milliseconds on loopback, and the positive control in each test proves the path.
ABSENCE_S = 0.5

DEVICE = "ms-000001"
OTHER = "ms-000002"
PASSWORDS = {DEVICE: "pw-1", OTHER: "pw-2", INGEST_USER: "ingest-pw"}
OWN_TOPIC = f"factory/site-01/line-01/{DEVICE}/telemetry"
OTHER_TOPIC = f"factory/site-01/line-01/{OTHER}/telemetry"

NOT_AUTHORIZED = 0x87
GRANTED_QOS_1 = 0x01
NO_MATCHING_SUBSCRIBERS = 0x10


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), clients=[DEVICE])


@pytest.fixture(scope="module")
def broker(pki: Pki) -> Iterator[SecureBroker]:
    broker = SecureBroker(pki, users=PASSWORDS)
    broker.start(timeout_s=TIMEOUT_S)
    try:
        yield broker
    finally:
        broker.stop(timeout_s=TIMEOUT_S)


Event = tuple[object, ...]


class Client:
    """A paho client whose callbacks land in one queue, so a test reads them in order."""

    def __init__(
        self,
        client_id: str,
        protocol: MQTTProtocolVersion = mqtt.MQTTv5,
        credentials: tuple[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        self.paho = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
        if credentials is not None:
            self.paho.username_pw_set(*credentials)
        if tls is not None:
            self.paho.tls_set_context(tls)
        self.paho.on_connect = self._on_connect
        self.paho.on_subscribe = self._on_subscribe
        self.paho.on_publish = self._on_publish
        self.paho.on_message = self._on_message
        self.paho.on_disconnect = self._on_disconnect

    def _on_connect(self, c: mqtt.Client, u: object, f: object, rc: ReasonCode, p: object) -> None:
        self.events.put(("connack", rc.value))

    def _on_subscribe(
        self, c: mqtt.Client, u: object, mid: int, rcs: list[ReasonCode], p: object
    ) -> None:
        self.events.put(("suback", [rc.value for rc in rcs]))

    def _on_publish(self, c: mqtt.Client, u: object, mid: int, rc: ReasonCode, p: object) -> None:
        self.events.put(("puback", rc.value))

    def _on_message(self, c: mqtt.Client, u: object, message: mqtt.MQTTMessage) -> None:
        self.events.put(("message", message.topic, bytes(message.payload)))

    def _on_disconnect(
        self, c: mqtt.Client, u: object, f: object, rc: ReasonCode, p: object
    ) -> None:
        self.events.put(("disconnect",))

    def connect(self, host: str, port: int) -> int:
        """Connect and return the CONNACK reason code (paho maps 3.1.1 return codes to v5)."""
        self.paho.connect(host, port, keepalive=10)
        self.paho.loop_start()
        return self.expect("connack")

    def expect(self, kind: str) -> int:
        event = self.events.get(timeout=TIMEOUT_S)
        assert event[0] == kind, event
        value = event[1]
        assert isinstance(value, int)
        return value

    def suback(self, topic: str) -> list[int]:
        self.paho.subscribe(topic, qos=1)
        event = self.events.get(timeout=TIMEOUT_S)
        assert event[0] == "suback", event
        assert isinstance(event[1], list)
        return event[1]

    def messages(self, wait_s: float) -> list[tuple[str, bytes]]:
        found: list[tuple[str, bytes]] = []
        try:
            while True:
                event = self.events.get(timeout=wait_s)
                if event[0] == "message":
                    payload = event[2]
                    assert isinstance(payload, bytes)
                    found.append((str(event[1]), payload))
        except queue.Empty:
            return found

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        client.close()


def _tls_context(pki: Pki, client_cert: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_path))
    if client_cert:
        pair = pki.client(DEVICE)
        context.load_cert_chain(str(pair.cert), str(pair.key))
    return context


def _handshake(pki: Pki, port: int, server_name: str, client_cert: bool = False) -> None:
    """Complete a TLS handshake and one read, so a refused client certificate surfaces."""
    context = _tls_context(pki, client_cert)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        # MQTT CONNECT 3.1.1, client id "probe", no credentials: under TLS 1.3 the server
        # checks the client certificate after the client's handshake has finished, so a
        # refusal only shows on the next read.
        tls.sendall(b"\x10\x11\x00\x04MQTT\x04\x02\x00\x0a\x00\x05probe")
        tls.recv(4)


# --- Connecting ------------------------------------------------------------------------


def test_urls_name_each_listener(broker: SecureBroker) -> None:
    ports = {broker.port, broker.tls_port, broker.mtls_port}

    assert len(ports) == 3
    assert broker.url == f"mqtt://127.0.0.1:{broker.port}"
    assert broker.tls_url == f"mqtts://127.0.0.1:{broker.tls_port}"
    assert broker.mtls_url == f"mqtts://127.0.0.1:{broker.mtls_port}"
    assert broker.ca_path.read_text(encoding="ascii").startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_tls_with_the_server_name_checked_and_a_password_connects(
    broker: SecureBroker, pki: Pki, clients: list[Client], host: str
) -> None:
    client = Client(DEVICE, credentials=(DEVICE, PASSWORDS[DEVICE]), tls=_tls_context(pki))
    clients.append(client)

    assert client.connect(host, broker.tls_port) == 0


def test_tls_to_a_name_the_certificate_does_not_carry_is_refused_by_the_client(
    broker: SecureBroker, pki: Pki
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        _handshake(pki, broker.tls_port, "broker.plant.invalid")


def test_tls_against_an_untrusted_ca_is_refused_by_the_client(
    broker: SecureBroker, tmp_path: Path
) -> None:
    stranger = make_pki(tmp_path / "other-ca")

    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(stranger, broker.tls_port, "localhost")


def test_mutual_tls_with_a_client_certificate_connects_as_its_common_name(
    broker: SecureBroker, pki: Pki, clients: list[Client]
) -> None:
    # No user name or password: the certificate's CN is the user, so the ACL pattern
    # lets this client write its own topic and not another device's.
    client = Client(DEVICE, tls=_tls_context(pki, client_cert=True))
    clients.append(client)

    assert client.connect("localhost", broker.mtls_port) == 0
    client.paho.publish(OWN_TOPIC, b"own", qos=1)
    assert client.expect("puback") in {0, NO_MATCHING_SUBSCRIBERS}
    client.paho.publish(OTHER_TOPIC, b"foreign", qos=1)
    assert client.expect("puback") == NOT_AUTHORIZED


def test_mutual_tls_without_a_client_certificate_is_refused(broker: SecureBroker, pki: Pki) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _handshake(pki, broker.mtls_port, "localhost")


def test_mutual_tls_handshake_with_a_certificate_succeeds(broker: SecureBroker, pki: Pki) -> None:
    # The control for the test above: the same probe with a certificate gets a CONNACK.
    _handshake(pki, broker.mtls_port, "localhost", client_cert=True)


# --- Credentials -----------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5], ids=["3.1.1", "5.0"])
def test_right_password_connects_on_the_plain_listener(
    broker: SecureBroker, clients: list[Client], protocol: MQTTProtocolVersion
) -> None:
    client = Client(DEVICE, protocol, credentials=(DEVICE, PASSWORDS[DEVICE]))
    clients.append(client)

    assert client.connect(broker.host, broker.port) == 0


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5], ids=["3.1.1", "5.0"])
@pytest.mark.parametrize(
    "credentials",
    [(DEVICE, "wrong"), ("nobody-here", "pw-1"), None],
    ids=["wrong-password", "unknown-user", "anonymous"],
)
def test_bad_credentials_are_refused_as_not_authorized(
    broker: SecureBroker,
    clients: list[Client],
    protocol: MQTTProtocolVersion,
    credentials: tuple[str, str] | None,
) -> None:
    # Mosquitto 2.0.11 says "not authorized" (v5 0x87, 3.1.1 return code 5, which paho
    # reports as 0x87) for all three, never "bad user name or password" (0x86 / 4).
    client = Client(DEVICE, protocol, credentials=credentials)
    clients.append(client)

    assert client.connect(broker.host, broker.port) == NOT_AUTHORIZED


def test_wrong_password_connack_bytes_under_3_1_1(broker: SecureBroker) -> None:
    # paho maps 3.1.1 return codes to v5 reason codes; this reads the broker's own bytes.
    user, password = DEVICE.encode(), b"wrong"
    variable = b"\x00\x04MQTT\x04\xc2\x00\x0a"
    payload = b"".join(len(f).to_bytes(2, "big") + f for f in (b"probe", user, password))
    body = variable + payload
    with socket.create_connection((broker.host, broker.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(bytes([0x10, len(body)]) + body)
        connack = sock.recv(4)

    assert connack == b"\x20\x02\x00\x05"  # CONNACK, no session, return code 5: not authorised


# --- Authorisation ---------------------------------------------------------------------


def test_publish_outside_own_topics_gets_puback_not_authorized_under_v5(
    broker: SecureBroker, clients: list[Client]
) -> None:
    ingest = Client("ingest-1", credentials=(INGEST_USER, PASSWORDS[INGEST_USER]))
    device = Client(DEVICE, credentials=(DEVICE, PASSWORDS[DEVICE]))
    clients.extend([ingest, device])
    assert ingest.connect(broker.host, broker.port) == 0
    assert ingest.suback("$share/ingest/factory/#") == [GRANTED_QOS_1]
    assert device.connect(broker.host, broker.port) == 0

    device.paho.publish(OTHER_TOPIC, b"foreign at QoS 0", qos=0)
    assert device.expect("puback") == 0  # paho's own callback for QoS 0: nothing was sent back
    device.paho.publish(OTHER_TOPIC, b"foreign", qos=1)
    refused = device.expect("puback")
    device.paho.publish(OWN_TOPIC, b"own", qos=1)
    accepted = device.expect("puback")

    assert refused == NOT_AUTHORIZED
    assert accepted == 0
    # Both refused messages are dropped; the ingest worker's shared subscription gets the other.
    assert ingest.messages(ABSENCE_S) == [(OWN_TOPIC, b"own")]


def test_publish_outside_own_topics_under_3_1_1_is_acknowledged_and_dropped(
    broker: SecureBroker, clients: list[Client]
) -> None:
    # MQTT 3.1.1 has no reason code in PUBACK: the refusal is invisible to the publisher,
    # and only the subscriber's accounting can see the message never arrived.
    ingest = Client("ingest-2", credentials=(INGEST_USER, PASSWORDS[INGEST_USER]))
    device = Client(DEVICE, mqtt.MQTTv311, credentials=(DEVICE, PASSWORDS[DEVICE]))
    clients.extend([ingest, device])
    assert ingest.connect(broker.host, broker.port) == 0
    assert ingest.suback("factory/#") == [GRANTED_QOS_1]
    assert device.connect(broker.host, broker.port) == 0

    device.paho.publish(OTHER_TOPIC, b"foreign", qos=1)
    assert device.expect("puback") == 0
    device.paho.publish(OWN_TOPIC, b"own", qos=1)
    assert device.expect("puback") == 0

    assert ingest.messages(ABSENCE_S) == [(OWN_TOPIC, b"own")]


def test_subscribe_outside_own_topics_is_granted_but_delivers_nothing_foreign(
    broker: SecureBroker, clients: list[Client]
) -> None:
    # Mosquitto 2.0.11 checks read access per message at delivery, not at SUBSCRIBE: the
    # SUBACK grants any filter, and the subscriber then receives only what it may read.
    snooper = Client(DEVICE, credentials=(DEVICE, PASSWORDS[DEVICE]))
    other = Client(OTHER, credentials=(OTHER, PASSWORDS[OTHER]))
    clients.extend([snooper, other])
    assert snooper.connect(broker.host, broker.port) == 0
    assert other.connect(broker.host, broker.port) == 0

    assert snooper.suback(f"factory/+/+/{OTHER}/#") == [GRANTED_QOS_1]
    assert snooper.suback("factory/#") == [GRANTED_QOS_1]
    other.paho.publish(OTHER_TOPIC, b"not yours", qos=1)
    assert other.expect("puback") in {0, NO_MATCHING_SUBSCRIBERS}
    # The positive control: its own message reaches it through the same "factory/#".
    snooper.paho.publish(OWN_TOPIC, b"yours", qos=1)

    assert snooper.messages(ABSENCE_S) == [(OWN_TOPIC, b"yours")]


def test_ingest_user_reads_the_plant_but_may_not_publish(
    broker: SecureBroker, clients: list[Client]
) -> None:
    ingest = Client("ingest-3", credentials=(INGEST_USER, PASSWORDS[INGEST_USER]))
    clients.append(ingest)
    assert ingest.connect(broker.host, broker.port) == 0

    ingest.paho.publish(OWN_TOPIC, b"forged", qos=1)

    assert ingest.expect("puback") == NOT_AUTHORIZED
