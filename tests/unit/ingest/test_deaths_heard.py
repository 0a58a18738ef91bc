"""The platform side of device deaths: devices counted by reason, anything else counted apart."""

from __future__ import annotations

from simulator.ingest.deaths import DeathsHeard
from simulator.payloads.registration import LEFT, LOST, Death, encode_death


def test_devices_are_counted_by_reason() -> None:
    heard = DeathsHeard()
    heard.heard(encode_death(Death(("ms-000001",), "gw-00000", LEFT, 1)))
    heard.heard(encode_death(Death(("ms-000002",), None, LEFT, 2)))
    heard.heard(encode_death(Death(("ms-000003", "ms-000004", "ms-000005"), "gw-00001", LOST, 3)))
    assert heard.snapshot() == {"left": 2, "lost": 3, "invalid": 0}


def test_a_message_that_is_not_a_death_is_counted_and_changes_nothing_else() -> None:
    heard = DeathsHeard()
    for payload in (b"offline", b"{}", b'{"devices": [], "reason": "disconnect", "ts_ms": 1}'):
        heard.heard(payload)
    assert heard.snapshot() == {"left": 0, "lost": 0, "invalid": 3}
