"""environment-sensor: occupancy, ventilation faults, and weather shared by a run."""

from __future__ import annotations

import statistics

from simulator.fleet import get_model
from simulator.fleet.environment_sensor import OUTDOOR_CO2_PPM, STATE_NAMES
from simulator.fleet.shift import TWO_SHIFTS, calendar_for
from tests.unit.fleet.runs import SEED, in_state, long_run, settled

RUN = long_run("environment-sensor", index=3, weeks=8, interval_s=300.0)


def test_reaches_every_state_and_follows_the_shifts() -> None:
    assert {s["state"] for s in RUN} == set(STATE_NAMES)
    calendar = calendar_for(SEED, TWO_SHIFTS)
    for s in RUN:
        assert (s["state"] == "unoccupied") == (not calendar.on_shift(s["t"]))


def test_co2_rises_with_people_and_more_without_ventilation() -> None:
    empty = settled(RUN, "unoccupied", 24)  # two hours in
    busy = settled(RUN, "occupied", 24)
    fault = settled(RUN, "ventilation_fault", 12)
    assert empty
    assert busy
    assert fault
    assert max(s["co2_ppm"] for s in empty) < OUTDOOR_CO2_PPM + 100.0
    assert min(s["co2_ppm"] for s in busy) > max(s["co2_ppm"] for s in empty)
    assert statistics.fmean(s["co2_ppm"] for s in fault) > max(s["co2_ppm"] for s in busy)


def test_humidity_falls_as_the_air_warms() -> None:
    empty = in_state(RUN, "unoccupied")
    correlation = statistics.correlation(
        [s["temperature_c"] for s in empty], [s["humidity_pct"] for s in empty]
    )
    assert correlation < -0.8


def test_pressure_is_weather_shared_by_the_run() -> None:
    model = get_model("environment-sensor")

    def pressures(index: int, seed: int) -> list[float]:
        state = model.new_state(index, seed)
        return [float(model.sample(state, seq, seq * 3600.0)["pressure_hpa"]) for seq in range(200)]

    a, b, other_run = pressures(1, SEED), pressures(2, SEED), pressures(1, SEED + 1)
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1.5  # calibration offsets and noise
    assert max(a) - min(a) > 10.0  # weather moves
    assert max(abs(x - y) for x, y in zip(a, other_run, strict=True)) > 3.0
