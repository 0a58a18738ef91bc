"""Which Sparkplug messages ingest accounts as telemetry, and the count of the rest."""

from __future__ import annotations

import pytest

from simulator.errors import PayloadError
from simulator.ingest.sparkplug import SparkplugTraffic
from simulator.payloads.sparkplug.slotted_node import data_payload, decode_data


def test_data_messages_are_telemetry_and_the_rest_is_counted_by_type() -> None:
    traffic = SparkplugTraffic("acme")
    assert traffic.filter == "spBv1.0/acme/#"
    assert traffic.decoder("spBv1.0/acme/DDATA/gw-00001/cnc-000004") is decode_data
    assert traffic.decoder("spBv1.0/acme/NDATA/ms-000001") is decode_data
    for topic in (
        "spBv1.0/acme/NBIRTH/gw-00001",
        "spBv1.0/acme/DBIRTH/gw-00001/cnc-000004",
        "spBv1.0/acme/DBIRTH/gw-00001/cnc-000005",
        "spBv1.0/acme/NDEATH/gw-00001",
        "spBv1.0/acme/NCMD/gw-00001",
        "spBv1.0/STATE/scada-1",
    ):
        assert traffic.decoder(topic) is None
    assert traffic.snapshot() == {
        "NBIRTH": 1,
        "DBIRTH": 2,
        "NDEATH": 1,
        "DDEATH": 0,
        "NCMD": 1,
        "DCMD": 0,
        "STATE": 1,
    }


def test_an_unknown_message_type_is_malformed_not_ignored() -> None:
    decoder = SparkplugTraffic("acme").decoder("spBv1.0/acme/NPARTY/gw-1")
    assert decoder is not None
    with pytest.raises(PayloadError, match="message type"):
        decoder(data_payload(1, 2, "dev", 0, 10**18, {}))
