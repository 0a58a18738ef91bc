"""The provisioning responder's pure parts: its subscription filter and who it answers how."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.fleet import DeviceIdentity, TopicTemplate
from simulator.mqtt import ClientSession, MQTTVersion, Publish, decode
from simulator.mqtt.topics import matches
from simulator.payloads.registration import (
    Answer,
    Registration,
    correlation_for,
    decode_answer,
    encode_answer,
)
from simulator.provisioning import Policy, Provisioner, topic_filter, verdict
from simulator.provisioning.provisioner import ACCEPT, IGNORE, REJECT
from simulator.transport.connection import MqttLink

IDS = [f"ms-{i:06d}" for i in range(20_000)]


# topic_filter


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("onboarding/{device}/register", "onboarding/+/register"),
        ("{enterprise}/{site}/{line}/{device}/register", "+/+/+/+/register"),
        ("factory/{site}/dev-{device}/reg", "factory/+/+/reg"),
        ("factory/{site}-{line}/{device}", "factory/+/+"),
        ("plant/{model}/x{cell}y/register", "plant/+/+/register"),
        ("onboarding/all/register", "onboarding/all/register"),
        ("/{device}", "/+"),
    ],
)
def test_each_placeholder_level_becomes_a_single_level_wildcard(
    template: str, expected: str
) -> None:
    assert topic_filter(template) == expected


identities = st.builds(
    DeviceIdentity,
    device_id=st.from_regex(r"[a-z]{1,3}-[0-9]{1,6}", fullmatch=True),
    site=st.from_regex(r"site-[0-9]{2}", fullmatch=True),
    line=st.from_regex(r"line-[0-9]{2}", fullmatch=True),
    enterprise=st.sampled_from(["acme", "globex"]),
    area=st.from_regex(r"area-[0-9]{2}", fullmatch=True),
    cell=st.from_regex(r"cell-[0-9]{2}", fullmatch=True),
)


@given(
    template=st.sampled_from(
        [
            "onboarding/{device}/register",
            "{enterprise}/{site}/{area}/{line}/{cell}/{device}/register",
            "factory/{site}/dev-{device}/reg",
            "f/{model}/{site}-{line}/{device}",
        ]
    ),
    identity=identities,
    model=st.sampled_from(["machine-sensor", "robot"]),
)
def test_every_rendered_topic_matches_the_filter(
    template: str, identity: DeviceIdentity, model: str
) -> None:
    assert matches(topic_filter(template), TopicTemplate(template).render(identity, model))


def test_the_filter_does_not_match_other_topics() -> None:
    wanted = topic_filter("onboarding/{device}/register")
    assert not matches(wanted, "onboarding/ms-1/config")
    assert not matches(wanted, "onboarding/ms-1/register/extra")
    assert not matches(wanted, "factory/ms-1/register")


# verdict


def test_verdict_is_deterministic() -> None:
    first = [verdict(7, device, 0.3, 0.2) for device in IDS[:2000]]
    again = [verdict(7, device, 0.3, 0.2) for device in IDS[:2000]]
    assert first == again
    assert {ACCEPT, REJECT, IGNORE} == set(first)


def test_everyone_is_accepted_when_both_shares_are_zero() -> None:
    assert {verdict(seed, device, 0.0, 0.0) for seed in (0, 1, 99) for device in IDS[:500]} == {
        ACCEPT
    }


def test_a_share_of_one_takes_everyone() -> None:
    assert {verdict(3, device, 1.0, 0.0) for device in IDS[:500]} == {REJECT}
    assert {verdict(3, device, 0.0, 1.0) for device in IDS[:500]} == {IGNORE}
    assert {verdict(3, device, 0.5, 0.5) for device in IDS[:500]} == {REJECT, IGNORE}


@pytest.mark.parametrize(("reject", "silent"), [(0.1, 0.05), (0.5, 0.0), (0.0, 0.25), (0.3, 0.6)])
def test_shares_are_respected(reject: float, silent: float) -> None:
    n = len(IDS)
    outcomes = [verdict(1, device, reject, silent) for device in IDS]
    for share, kind in ((reject, REJECT), (silent, IGNORE), (1 - reject - silent, ACCEPT)):
        sd = math.sqrt(n * share * (1 - share))
        assert abs(outcomes.count(kind) - n * share) <= 5 * sd + 1e-9, kind


def test_the_seed_chooses_different_devices() -> None:
    refused = {
        seed: {d for d in IDS[:4000] if verdict(seed, d, 0.2, 0.0) == REJECT} for seed in (1, 2)
    }
    overlap = len(refused[1] & refused[2])
    # Independent choices of 20 % share about 4 % of the devices, not 20 %.
    assert overlap < 0.5 * len(refused[1])


def test_rejected_and_silent_devices_are_disjoint_and_stable_as_shares_grow() -> None:
    rejected = {d for d in IDS[:5000] if verdict(5, d, 0.1, 0.2) == REJECT}
    silent = {d for d in IDS[:5000] if verdict(5, d, 0.1, 0.2) == IGNORE}
    assert rejected
    assert silent
    assert not rejected & silent
    # Adding a silent share does not change who is refused; growing a share only adds devices.
    assert rejected == {d for d in IDS[:5000] if verdict(5, d, 0.1, 0.0) == REJECT}
    assert rejected <= {d for d in IDS[:5000] if verdict(5, d, 0.3, 0.0) == REJECT}


def test_a_devices_verdict_does_not_depend_on_the_other_devices() -> None:
    alone = {device: verdict(11, device, 0.3, 0.3) for device in IDS[:1000]}
    crowd = IDS[:1000] + [f"robot-{i}" for i in range(1000)]
    random.Random(4).shuffle(crowd)
    in_a_crowd = {device: verdict(11, device, 0.3, 0.3) for device in crowd}
    assert all(in_a_crowd[device] == outcome for device, outcome in alone.items())


# answering -------------------------------------------------------------------------------------


class Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


def connected_link(version: MQTTVersion) -> tuple[MqttLink, Transport]:
    session = ClientSession("provisioning-0", version, 60)
    session.connect()
    session.receive_data(
        b"\x20\x03\x00\x00\x00" if version is MQTTVersion.V5 else b"\x20\x02\x00\x00"
    )
    link = MqttLink(session, listener=None, owner=None)  # type: ignore[arg-type]
    transport = Transport()
    link.transport = transport  # type: ignore[assignment]
    return link, transport


def registration(device_id: str, index: int) -> Registration:
    return Registration(
        device_id,
        "cnc-machine",
        "1.0",
        ("spindle_rpm",),
        1,
        f"onboarding/{device_id}/config",
        correlation_for(index),
    )


@given(st.text(max_size=30).filter(bool), st.integers(0, 2**32 - 1))
def test_an_acceptance_is_encode_answer_byte_for_byte(device_id: str, index: int) -> None:
    config = {"qos": 1, "name": 'a "quoted" value'}
    provisioner = Provisioner(Policy(config=config), MQTTVersion.V5)
    correlation = correlation_for(index)
    assert provisioner._accepted(device_id, correlation) == encode_answer(
        Answer(device_id, "accepted", correlation, config=config)
    )


@pytest.mark.parametrize("version", [MQTTVersion.V5, MQTTVersion.V311], ids=["5.0", "3.1.1"])
def test_answers_wait_for_flush_then_leave_in_one_write(version: MQTTVersion) -> None:
    provisioner = Provisioner(Policy(seed=3, reject_share=0.5), version)
    link, transport = connected_link(version)
    regs = [registration(f"cnc-{i:06d}", i) for i in range(6)]
    for reg in regs:
        provisioner.answer(link, Publish("onboarding/x/register", b"", 1, False, False, 1), reg)
    provisioner.answer(link, Publish("onboarding/x/register", b"", 1, False, False, 2), None)
    assert transport.written == []
    provisioner.flush(link)
    assert len(transport.written) == 1
    packets = []
    data = transport.written[0]
    while data:
        decoded = decode(data, version)
        assert decoded is not None
        packets.append(decoded[0])
        data = data[decoded[1] :]
    answers = [decode_answer(p.payload) for p in packets if isinstance(p, Publish)]
    assert [a.device_id for a in answers] == [r.device_id for r in regs]
    expected = [verdict(3, r.device_id, 0.5, 0.0) for r in regs]
    assert [a.accepted for a in answers] == [v == ACCEPT for v in expected]
    assert all(a.correlation == r.correlation for a, r in zip(answers, regs, strict=True))
    counters = provisioner.counters
    assert counters.registrations == 7
    assert counters.malformed == 1
    assert counters.accepted + counters.rejected == 6
