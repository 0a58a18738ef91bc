"""First telemetry ingested: the funnel's last stage, timed from the registration's t0."""

from __future__ import annotations

from simulator.ingest.first_telemetry import FirstTelemetry
from simulator.metrics.funnel import FIRST_TELEMETRY
from simulator.metrics.histogram import Histogram
from simulator.payloads.registration import Registration, correlation_for

T0 = 1_716_000_000_000_000_000


def registration(device_id: str, t0_ns: int = T0) -> Registration:
    return Registration(device_id, "machine-sensor", "fsim-1.0.0", ("power_w",), t0_ns, "r", b"\0")


def nobody_known(device_id: str) -> bool:
    return False


def test_first_telemetry_after_a_registration_is_timed_in_microseconds() -> None:
    first = FirstTelemetry(nobody_known)
    first.registered(registration("ms-1"))
    assert first.waiting == 1
    first.seen("ms-1", T0 + 200_000_999)  # 200 ms and 999 ns: floor to whole microseconds
    assert first.waiting == 0
    assert first.stage.name == FIRST_TELEMETRY
    assert first.stage.reached == 1
    assert first.stage.elapsed_us.count == 1
    assert first.stage.elapsed_us.max == 200_000


def test_small_times_are_exact() -> None:
    first = FirstTelemetry(nobody_known)
    first.registered(registration("ms-1", T0))
    first.seen("ms-1", T0 + 123_456)
    assert first.stage.elapsed_us.max == 123


def test_a_second_message_does_not_record_again() -> None:
    first = FirstTelemetry(nobody_known)
    first.registered(registration("ms-1"))
    first.seen("ms-1", T0 + 100_000)
    first.seen("ms-1", T0 + 900_000_000)
    assert first.stage.reached == 1
    assert first.stage.elapsed_us.count == 1
    assert first.stage.elapsed_us.max == 100


def test_telemetry_from_a_device_that_never_registered_is_ignored() -> None:
    first = FirstTelemetry(nobody_known)
    first.registered(registration("ms-1"))
    first.seen("ms-2", T0 + 1_000)
    assert first.stage.reached == 0
    assert first.waiting == 1


def test_each_device_has_its_own_clock() -> None:
    first = FirstTelemetry(nobody_known)
    first.registered(registration("ms-1", T0))
    first.registered(registration("ms-2", T0 + 50_000))
    first.seen("ms-2", T0 + 60_000)
    first.seen("ms-1", T0 + 70_000)
    assert first.stage.reached == 2
    assert first.stage.elapsed_us.min == 10
    assert first.stage.elapsed_us.max == 70


def test_a_re_announcement_of_a_known_device_is_ignored() -> None:
    known = {"ms-1"}
    first = FirstTelemetry(known.__contains__)
    first.registered(registration("ms-1"))
    assert first.waiting == 0
    first.seen("ms-1", T0 + 1_000)
    assert first.stage.reached == 0


def test_a_second_registration_before_telemetry_keeps_the_first_clock() -> None:
    # The device's onboarding began with its first attempt.
    first = FirstTelemetry(nobody_known)
    first.registered(registration("ms-1", T0))
    first.registered(registration("ms-1", T0 + 5_000_000))
    assert first.waiting == 1
    first.seen("ms-1", T0 + 8_000_000)
    assert first.stage.elapsed_us.max == 8_000


def test_telemetry_stamped_before_t0_counts_as_zero() -> None:
    # Another host's clock may lag a little.
    first = FirstTelemetry(nobody_known)
    first.registered(registration("ms-1"))
    first.seen("ms-1", T0 - 3_000)
    assert first.stage.reached == 1
    assert first.stage.elapsed_us.max == 0


def test_a_malformed_registration_is_counted() -> None:
    first = FirstTelemetry(nobody_known)
    first.registered(None)
    first.registered(None)
    assert first.malformed == 2
    assert first.waiting == 0


def test_snapshot() -> None:
    first = FirstTelemetry(nobody_known)
    empty = first.snapshot()
    assert (empty["reached"], empty["waiting"], empty["malformed"]) == (0, 0, 0)
    assert Histogram.from_dict(empty["elapsed_us"]).count == 0
    for i in range(3):
        first.registered(registration(f"ms-{i}", T0 + i))
    first.registered(None)
    first.seen("ms-0", T0 + 42_000)
    snap = first.snapshot()
    assert set(snap) == {"reached", "waiting", "malformed", "elapsed_us"}
    assert snap["reached"] == 1
    assert snap["waiting"] == 2
    assert snap["malformed"] == 1
    hist = Histogram.from_dict(snap["elapsed_us"])
    assert hist.count == 1
    assert hist.max == 42


def test_a_device_behind_a_gateway_is_timed_by_its_own_id() -> None:
    first = FirstTelemetry(nobody_known)
    first.registered(
        Registration("ms-9", "robot", "fsim-1.0.0", (), T0, "r", correlation_for(9), "gw-1")
    )
    first.seen("ms-9", T0 + 1_000)
    assert first.stage.reached == 1
