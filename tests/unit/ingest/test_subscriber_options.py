"""The ingest subscriber keeps its session exactly when asked, under both MQTT versions."""

from __future__ import annotations

from simulator.ingest.settings import WorkerSettings, subscriber_options
from simulator.mqtt import ClientSession, ConnAck, Connect, MQTTVersion, decode, encode


def _connect_packet(session: ClientSession) -> Connect:
    result = decode(session.connect(), session.version)
    assert result is not None
    packet = result[0]
    assert isinstance(packet, Connect)
    return packet


def _session(version: MQTTVersion, expiry: int) -> ClientSession:
    settings = WorkerSettings(host="b", port=1, mqtt_version=version, session_expiry_s=expiry)
    return ClientSession("ingest-0", version, 60, options=subscriber_options(settings))


def test_no_expiry_means_a_clean_session_every_time() -> None:
    for version in MQTTVersion:
        session = _session(version, 0)
        assert _connect_packet(session).clean_start
        session.receive_data(encode(ConnAck(), version))
        session.connection_lost()
        assert _connect_packet(session).clean_start
        assert not session.persistent


def test_messages_come_in_runs_whatever_the_session() -> None:
    for version in MQTTVersion:
        for expiry in (0, 300):
            assert _session(version, expiry).options.message_runs


def test_v5_asks_to_resume_its_kept_session_from_the_first_connect() -> None:
    session = _session(MQTTVersion.V5, 300)
    first = _connect_packet(session)
    assert not first.clean_start
    assert first.properties.session_expiry_interval == 300
    session.receive_data(b"\x20\x03\x00\x00\x00")  # CONNACK: no session yet, success
    session.connection_lost()
    again = _connect_packet(session)
    assert not again.clean_start
    assert again.properties.session_expiry_interval == 300


def test_v311_asks_for_a_kept_session_from_the_first_connect() -> None:
    session = _session(MQTTVersion.V311, 300)
    assert not _connect_packet(session).clean_start
    session.receive_data(b"\x20\x02\x00\x00")
    session.connection_lost()
    assert not _connect_packet(session).clean_start
    assert session.persistent


def test_a_kept_session_acknowledges_at_commit_and_states_a_wide_window() -> None:
    """What the broker forgets at a PUBACK a restarted worker cannot get again, so a kept
    session leaves its PUBACKs to the worker; under 5.0 it says how many it may hold back,
    since Mosquitto would otherwise allow only its max_inflight_messages."""
    v5 = _session(MQTTVersion.V5, 300)
    assert v5.options.manual_acks
    assert _connect_packet(v5).properties.receive_maximum == 65535
    assert _session(MQTTVersion.V311, 300).options.manual_acks
    for version in MQTTVersion:
        clean = _session(version, 0)
        assert not clean.options.manual_acks  # nobody would get an unacknowledged one again
        assert clean.options.receive_maximum is None
