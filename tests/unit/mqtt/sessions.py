"""Sessions for the MQTT core's unit tests, already past their CONNACK."""

from __future__ import annotations

from simulator.mqtt import (
    ClientSession,
    ConnAck,
    ConnectOptions,
    MQTTVersion,
    SessionState,
    encode,
)


def connected(
    version: MQTTVersion = MQTTVersion.V5,
    options: ConnectOptions | None = None,
    connack: ConnAck | None = None,
    *,
    keepalive: int = 60,
) -> ClientSession:
    """A session of client ``dev-1`` that sent CONNECT and read ``connack`` (default: success,
    no properties), so it is connected."""
    session = ClientSession("dev-1", version, keepalive, options=options)
    session.connect()
    session.receive_data(encode(connack or ConnAck(), version))
    assert session.state is SessionState.CONNECTED
    return session
