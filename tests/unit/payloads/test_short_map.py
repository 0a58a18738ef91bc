"""The shared message map: the decoder's fast check and its slow error wording agree."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import PayloadError
from simulator.payloads.short_map import KEYS, problem, telemetry_from_map

scalar = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(1 << 65), max_value=1 << 65)
    | st.floats()
    | st.text(max_size=5)
    | st.binary(max_size=3)
)
anything = st.recursive(scalar, lambda c: st.lists(c, max_size=3), max_leaves=5)
field = st.one_of(anything, st.dictionaries(st.text(max_size=3) | st.integers(), anything))
maps = st.dictionaries(st.sampled_from([*KEYS, "x"]), field, max_size=5)


@given(obj=maps | anything)
def test_fast_check_and_problem_agree(obj: object) -> None:
    reason = problem(obj)
    if reason is None:
        telemetry = telemetry_from_map(obj)
        assert tuple(telemetry) == tuple(obj[key] for key in KEYS)  # type: ignore[index]
    else:
        with pytest.raises(PayloadError) as info:
            telemetry_from_map(obj)
        assert str(info.value) == reason


def test_problem_names_unknown_and_missing_keys_without_echoing_values() -> None:
    reason = problem({"id": "d", "seq": 1, "ts": 2, "secret": "s3cr3t-value"})
    assert reason is not None
    assert "missing 'v'" in reason
    assert "unknown 'secret'" in reason
    assert "s3cr3t-value" not in reason
