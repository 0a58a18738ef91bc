"""Round trip, truncation and streaming properties of the codec, for every packet and version."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.errors import RemoteProtocolError
from simulator.mqtt import (
    ConnectOptions,
    Decoder,
    MQTTVersion,
    Packet,
    SessionState,
    decode,
    encode,
)
from tests.unit.mqtt import sessions
from tests.unit.mqtt.mqtt_strategies import packets
from tests.unit.mqtt.versions import VERSIONS

_OPTIONS = {
    MQTTVersion.V311: ConnectOptions(),
    MQTTVersion.V5: ConnectOptions(topic_alias_maximum=3, receive_maximum=2),
}


@pytest.mark.parametrize("version", VERSIONS)
@given(data=st.data())
def test_encode_then_decode_gives_the_same_packet(
    version: MQTTVersion, data: st.DataObject
) -> None:
    packet = data.draw(packets(version))
    wire = encode(packet, version)
    assert decode(wire, version) == (packet, len(wire))


@pytest.mark.parametrize("version", VERSIONS)
@given(data=st.data())
def test_decode_reads_at_an_offset_and_ignores_what_follows(
    version: MQTTVersion, data: st.DataObject
) -> None:
    packet = data.draw(packets(version))
    junk = data.draw(st.binary(max_size=8))
    wire = encode(packet, version)
    assert decode(junk + wire + junk, version, offset=len(junk)) == (packet, len(wire))


@pytest.mark.parametrize("version", VERSIONS)
@given(data=st.data())
def test_every_truncation_needs_more_data(version: MQTTVersion, data: st.DataObject) -> None:
    wire = encode(data.draw(packets(version)), version)
    for cut in range(len(wire)):
        assert decode(wire[:cut], version) is None, cut


def decoded_in_pieces(stream: bytes, cuts: Iterable[int], version: MQTTVersion) -> list[Packet]:
    """What one Decoder yields fed ``stream`` cut at ``cuts`` (ascending), piece by piece; it
    must hold nothing back at the end."""
    decoder = Decoder(version)
    received: list[Packet] = []
    for start, stop in pairwise([0, *cuts, len(stream)]):
        decoder.feed(stream[start:stop])
        received.extend(decoder)
    assert decoder.buffered == 0
    return received


@pytest.mark.parametrize("version", VERSIONS)
@given(data=st.data())
def test_byte_by_byte_feeding_yields_the_same_packets(
    version: MQTTVersion, data: st.DataObject
) -> None:
    sent: list[Packet] = data.draw(st.lists(packets(version), min_size=1, max_size=5))
    stream = b"".join(encode(p, version) for p in sent)
    assert decoded_in_pieces(stream, range(1, len(stream)), version) == sent


@pytest.mark.parametrize("version", VERSIONS)
@given(data=st.data())
def test_arbitrary_chunking_yields_the_same_packets(
    version: MQTTVersion, data: st.DataObject
) -> None:
    sent: list[Packet] = data.draw(st.lists(packets(version), min_size=1, max_size=8))
    stream = b"".join(encode(p, version) for p in sent)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    assert decoded_in_pieces(stream, cuts, version) == sent


@pytest.mark.parametrize("version", VERSIONS)
@settings(max_examples=500)
@given(junk=st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_raise_remote_protocol_error(
    version: MQTTVersion, junk: bytes
) -> None:
    try:
        result = decode(junk, version)
    except RemoteProtocolError:
        return
    if result is not None:
        packet, used = result
        assert 2 <= used <= len(junk)
        # Whatever decoded must be a packet we can faithfully write back.
        assert decode(encode(packet, version), version) == (packet, len(encode(packet, version)))


@pytest.mark.parametrize("version", VERSIONS)
@given(
    prefix=st.sampled_from(
        [bytes((first,)) for first in (0x30, 0x32, 0x34, 0x82, 0x90, 0x20, 0x10, 0xE0)]
        + [bytes((first,)) for first in (0x40, 0x50, 0x62, 0x70, 0xA2, 0xB0, 0xF0)]
    ),
    junk=st.binary(max_size=48),
)
def test_fuzzing_behind_a_valid_first_byte_raises_only_remote_errors(
    version: MQTTVersion, prefix: bytes, junk: bytes
) -> None:
    decoder = Decoder(version)
    decoder.feed(prefix + junk)
    # Anything but RemoteProtocolError escaping here fails the test.
    with contextlib.suppress(RemoteProtocolError):
        list(decoder)


@pytest.mark.parametrize("version", VERSIONS)
@settings(max_examples=300)
@given(junk=st.binary(max_size=64))
def test_a_connected_session_fed_junk_raises_only_remote_errors(
    version: MQTTVersion, junk: bytes
) -> None:
    session = sessions.connected(version, _OPTIONS[version])
    session.publish("t", b"", qos=1)
    session.publish("t", b"", qos=2)
    # Anything but RemoteProtocolError escaping here fails the test.
    with contextlib.suppress(RemoteProtocolError):
        session.receive_data(junk)
        return
    assert session.state is SessionState.CLOSED
